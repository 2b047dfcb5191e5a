"""Tables of the scheduler: rule-set versions, its copy of each contract's terms, and the plan."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Date, Index, Integer, String, Table, Text, UniqueConstraint

from services.common.db import UTCDateTime, new_metadata
from services.common.messaging import add_messaging_tables

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)

# Every rule set the scheduler was asked to load: the one in force, and those rejected (with their errors).
rule_sets = Table(
    "rule_sets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", String(64), nullable=False, index=True),
    Column("status", String(20), nullable=False),  # active | superseded | rejected
    Column("rule_count", Integer, nullable=False, default=0),
    Column("errors", JSON, nullable=True),
    # The files themselves, so that the last good set can be restored when the folder holds a broken one.
    Column("files", JSON, nullable=True),
    Column("loaded_at", UTCDateTime, nullable=False),
)

# The scheduler's own copy of each contract: every version of its terms, as the contract events carried them.
planned_contracts = Table(
    "planned_contracts",
    metadata,
    Column("contract_id", String(36), primary_key=True),
    Column("number", String(100), nullable=False, default=""),
    Column("client_name", String(300), nullable=False, default=""),
    Column("version", Integer, nullable=False),
    Column("versions", JSON, nullable=False),  # [{version, effective_from, terms, team}]
    Column("terminated", Boolean, nullable=False, default=False),
    Column("planned_on", Date, nullable=True),  # the business date of the last (re)plan
    Column("planned_rules_version", String(64), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One row per occurrence of an obligation: natural key (contract, rule, period).
# status: planned (waiting for generate_on) → requested (case.requested emitted) ; or withdrawn.
occurrences = Table(
    "occurrences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("contract_id", String(36), nullable=False),
    Column("rule_id", String(100), nullable=False),
    Column("period", String(20), nullable=False),
    Column("code", String(50), nullable=False),
    Column("due", Date, nullable=False),
    Column("generate_on", Date, nullable=False),
    Column("role", String(30), nullable=False),
    Column("status", String(20), nullable=False),
    Column("rules_version", String(64), nullable=False),
    Column("contract_version", Integer, nullable=False),
    Column("detail", JSON, nullable=False),  # titles, checklist, notice kinds
    Column("requested_at", UTCDateTime, nullable=True),
    Column("withdrawn_at", UTCDateTime, nullable=True),
    Column("withdrawn_reason", Text, nullable=True),
    UniqueConstraint("contract_id", "rule_id", "period", name="uq_occurrences_natural_key"),
    Index("ix_occurrences_due_to_request", "status", "generate_on"),
    Index("ix_occurrences_contract", "contract_id", "status"),
)
