"""Tables of the cases service: cases and their history, plus its outbox and inbox."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from services.common.db import UTCDateTime, new_metadata
from services.common.messaging import add_messaging_tables

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)

# Case status: open → in_progress → done; or withdrawn when the obligation no longer applies.
cases = Table(
    "cases",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("contract_id", String(36), nullable=True, index=True),
    Column("contract_number", String(100), nullable=False, default=""),
    Column("client_name", String(300), nullable=False, default=""),
    # Why the case exists: the rule, the rules version, the contract version and the period.
    Column("rule_id", String(100), nullable=True),
    Column("code", String(50), nullable=True),
    Column("period", String(20), nullable=True),
    Column("rules_version", String(64), nullable=True),
    Column("contract_version", Integer, nullable=True),
    Column("title", String(300), nullable=False),
    Column("title_en", String(300), nullable=False, default=""),
    Column("due", Date, nullable=False, index=True),
    Column("generate_on", Date, nullable=True),
    Column("status", String(20), nullable=False, default="open", index=True),
    Column("role", String(30), nullable=True),
    Column("assignee_login", String(100), nullable=True, index=True),
    Column("assignee_name", String(200), nullable=False, default=""),
    Column("assignee_email", String(320), nullable=False, default=""),
    Column("commissioner_login", String(100), nullable=True, index=True),
    Column("commissioner_name", String(200), nullable=False, default=""),
    # While the assignee is absent: who stands in (the case is theirs too), and by which absence.
    Column("substitute_login", String(100), nullable=True, index=True),
    Column("substitute_name", String(200), nullable=False, default="", server_default=""),
    Column("absence_id", String(36), nullable=True),
    Column("checklist", JSON, nullable=False, default=list),
    Column("notice", JSON, nullable=False, default=list),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime, nullable=True),
    # Requested after its due date (e.g. a contract entered after a deadline it covers): overdue when created.
    Column("late_on_creation", Boolean, nullable=False, default=False, server_default=false()),
    # A generated case has a natural key: a replay, a restart or two schedulers never make a second one.
    UniqueConstraint("contract_id", "rule_id", "period", name="uq_cases_natural_key"),
)

case_history = Table(
    "case_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(36), ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("event", String(50), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Index("ix_case_history_case", "case_id", "at"),
)

# --- Who works a case: absences, substitutes, team changes (assignment.py) -----------------------------

# An employee's absence: from, to (local dates, both included) and who stands in. Ended early: `ends_on` moved
# back; cancelled: as if never registered (kept for the record).
absences = Table(
    "absences",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("login", String(100), nullable=False, index=True),
    Column("name", String(200), nullable=False, default=""),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("substitute_login", String(100), nullable=True, index=True),
    Column("substitute_name", String(200), nullable=False, default=""),
    Column("substitute_email", String(320), nullable=False, default=""),
    Column("note", Text, nullable=False, default=""),
    Column("cancelled", Boolean, nullable=False, default=False, server_default=false()),
    Column("created_by", String(100), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Contract teams by version (from contract.*), to tell which role an annex changed.
contract_teams = Table(
    "contract_teams",
    metadata,
    Column("contract_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("effective_from", Date, nullable=False),
    Column("team", JSON, nullable=False, default=dict),
)

# A role handed to another person by an annex: applied at once when its date has come, else by the daily step.
team_changes = Table(
    "team_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("contract_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("effective_from", Date, nullable=False, index=True),
    Column("role", String(30), nullable=False),
    Column("old_login", String(100), nullable=True),
    Column("new_login", String(100), nullable=True),
    Column("new_name", String(200), nullable=False, default=""),
    Column("new_email", String(320), nullable=False, default=""),
    Column("applied_at", UTCDateTime, nullable=True),
    UniqueConstraint("contract_id", "version", "role", name="uq_team_changes_version_role"),
)
