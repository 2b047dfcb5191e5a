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
    PrimaryKeyConstraint,
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
    Column("commissioner_email", String(320), nullable=False, default="", server_default=""),
    Column("checklist", JSON, nullable=False, default=list),
    Column("notice", JSON, nullable=False, default=list),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime, nullable=True),
    # Requested after its due date (e.g. a contract entered after a deadline it covers): overdue when created.
    Column("late_on_creation", Boolean, nullable=False, default=False, server_default=false()),
    # Where the case stands against its due date, set by the morning job (services/cases/watch.py):
    # on_time, due_soon (N business days or fewer left), overdue. Lists filter on it.
    Column("deadline_state", String(10), nullable=False, default="on_time", server_default="on_time"),
    # A generated case has a natural key: a replay, a restart or two schedulers never make a second one.
    UniqueConstraint("contract_id", "rule_id", "period", name="uq_cases_natural_key"),
    # "My cases": one person's cases in one status by due date, as assignee or commissioner (bench/my_cases.py
    # prints the plans: a BitmapOr of these two, status in the index condition — without it the planner ANDs in
    # ix_cases_status, 100,000+ open cases at 1M — then a top-N sort of that person's few hundred open cases).
    # Not partial: the status is a bound parameter, which a generic plan cannot match to an index's predicate.
    Index("ix_cases_assignee_status", "assignee_login", "status", "due"),
    Index("ix_cases_commissioner_status", "commissioner_login", "status"),
    Index("ix_cases_deadline_state", "deadline_state", "due"),
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

# --- Deadlines watched (watch.py): one claim row per decision, written with its outbox event ---------------

# A mail-worthy step of one case against one due date: kind due_soon | overdue | escalated (step 1, 2, …) |
# summarized (listed in a born-overdue summary). The primary key admits each once, whatever runs the job.
case_alerts = Table(
    "case_alerts",
    metadata,
    Column("case_id", String(36), ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("step", Integer, nullable=False, default=0),
    Column("due", Date, nullable=False),
    Column("day", Date, nullable=False),  # the business day (Warsaw) it was decided on
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("case_id", "kind", "step", "due", name="pk_case_alerts"),
)

# One morning digest per person per day.
case_digests = Table(
    "case_digests",
    metadata,
    Column("login", String(100), nullable=False),
    Column("day", Date, nullable=False),
    Column("cases", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("login", "day", name="pk_case_digests"),
)

# Once-a-day work that is not per case or per person (the born-overdue summary): who ran it that day.
case_watch_runs = Table(
    "case_watch_runs",
    metadata,
    Column("job", String(40), nullable=False),
    Column("day", Date, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("job", "day", name="pk_case_watch_runs"),
)
