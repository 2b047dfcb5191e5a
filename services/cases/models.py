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

# Case status (services/cases/lifecycle.py): open → in_progress → done; or not_applicable (with a reason) from open
# or in progress; a manager reopens done or not_applicable to in_progress; withdrawn when the obligation no longer
# applies (readable, never changed again).
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
    # Where the case stands against its due date, set by the morning job (services/cases/watch.py):
    # on_time, due_soon (N business days or fewer left), overdue. Lists filter on it.
    Column("deadline_state", String(10), nullable=False, default="on_time", server_default="on_time"),
    # cases_0003_life: the client (its notice), attachment kinds needed before done, why not applicable, the
    # amounts it was finished with and how many times (the notice's revision), who made a one-off case.
    Column("client_id", String(36), nullable=True),
    Column("requires", JSON, nullable=False, default=list, server_default="[]"),
    Column("status_reason", Text, nullable=True),
    Column("liabilities", JSON, nullable=True),
    Column("completions", Integer, nullable=False, default=0, server_default="0"),
    Column("created_by", String(100), nullable=True),
    # cases_0004_party: whose duty the case is — office, or client (a client task the contract's accountant tracks:
    # rules' `party: client`); the client's `duty` it stands for (documents, payroll_data, …); the client duties an
    # office case needs first (`depends_on`, e.g. ["documents"]: its month's client task shows on it); for a client
    # task, when the office received what was due (and how many documents), and the client's own confirmation
    # through the reminder's link.
    Column("party", String(10), nullable=False, default="office", server_default="office"),
    Column("duty", String(30), nullable=True),
    Column("depends_on", JSON, nullable=False, default=list, server_default="[]"),
    Column("received_on", Date, nullable=True),
    Column("received_count", Integer, nullable=True),
    Column("client_confirmed_at", UTCDateTime, nullable=True),
    Column("client_confirmed_by", String(320), nullable=True),
    # A generated case has a natural key: a replay, a restart or two schedulers never make a second one.
    UniqueConstraint("contract_id", "rule_id", "period", name="uq_cases_natural_key"),
    # "My cases": one person's cases in one status by due date, as assignee or commissioner (bench/my_cases.py
    # prints the plans: a BitmapOr of these two, status in the index condition — without it the planner ANDs in
    # ix_cases_status, 100,000+ open cases at 1M — then a top-N sort of that person's few hundred open cases).
    # Not partial: the status is a bound parameter, which a generic plan cannot match to an index's predicate.
    Index("ix_cases_assignee_status", "assignee_login", "status", "due"),
    Index("ix_cases_commissioner_status", "commissioner_login", "status"),
    Index("ix_cases_deadline_state", "deadline_state", "due"),
    Index("ix_cases_party_contract_period", "party", "contract_id", "period"),
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

case_comments = Table(
    "case_comments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(36), ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("author", String(100), nullable=False),
    Column("author_name", String(200), nullable=False, default=""),
    Column("text", Text, nullable=False),
    Index("ix_case_comments_case", "case_id", "at"),
)

# A file on a case: its bytes live outside the database (services/cases/attachments.py), named by its id.
case_attachments = Table(
    "case_attachments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("case_id", String(36), ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(20), nullable=False),  # upo | statement | other
    Column("filename", String(255), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("uploaded_by", String(100), nullable=False),
    Column("uploaded_at", UTCDateTime, nullable=False),
    Index("ix_case_attachments_case", "case_id", "uploaded_at"),
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
