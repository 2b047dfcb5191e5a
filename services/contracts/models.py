"""Tables of the contracts service: clients, contracts and every version of their terms."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Date, ForeignKey, Integer, Numeric, String, Table, Text, UniqueConstraint

from services.common.db import UTCDateTime, new_metadata
from services.common.messaging import add_messaging_tables

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)

clients = Table(
    "clients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(300), nullable=False, index=True),
    Column("nip", String(10), nullable=False, unique=True),
    Column("regon", String(14), nullable=True),
    Column("krs", String(10), nullable=True),
    Column("legal_form", String(40), nullable=False),
    Column("data", JSON, nullable=False),  # the validated ClientIn, as JSON
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # When client.changed last went out for this client; NULL: never (recorded before contracts_0002_clients),
    # announced once at start.
    Column("announced_at", UTCDateTime, nullable=True),
    # Set once the client's personal data was erased after retention (personal.py); the record stays, anonymised.
    Column("erased_at", UTCDateTime, nullable=True),
)

# status: active | terminated. The terms live in contract_versions; `version` is the newest one.
contracts = Table(
    "contracts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("number", String(64), nullable=False, unique=True),
    Column("client_id", Integer, ForeignKey("clients.id"), nullable=False, index=True),
    Column("status", String(20), nullable=False, default="active"),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

contract_versions = Table(
    "contract_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("contract_id", Integer, ForeignKey("contracts.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("kind", String(20), nullable=False),  # signed | annex | termination
    Column("document", JSON, nullable=False),  # the validated contract (ContractDraft) + the team's people
    Column("reason", Text, nullable=True),  # why the contract was terminated (kind termination)
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("contract_id", "version", name="uq_contract_versions_version"),
)

# The newest version's services and team, one row each, so that lists can filter on them in SQL
# (the terms themselves stay in contract_versions.document).
contract_services = Table(
    "contract_services",
    metadata,
    Column("contract_id", Integer, ForeignKey("contracts.id", ondelete="CASCADE"), primary_key=True),
    Column("service", String(40), primary_key=True, index=True),
)

contract_team = Table(
    "contract_team",
    metadata,
    Column("contract_id", Integer, ForeignKey("contracts.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(20), primary_key=True),
    Column("login", String(100), nullable=False, index=True),
)

# A retried POST with the same Idempotency-Key gets the first answer instead of a second record.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("endpoint", String(100), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# The month's real counts the fee depends on (fees.py): documents booked and employees paid, per contract and month
# (the month's first day). NULL: not recorded (yet). `source`: api | case (a finished bookkeeping/payroll case).
billing_inputs = Table(
    "billing_inputs",
    metadata,
    Column("contract_id", Integer, ForeignKey("contracts.id", ondelete="CASCADE"), primary_key=True),
    Column("month", Date, primary_key=True),
    Column("documents", Integer, nullable=True),
    Column("employees", Integer, nullable=True),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("source", String(20), nullable=False),
)

# Powers of attorney a client gave the office (powers.py): kind UPL-1 | PEL | KRS | other, valid from `granted_on`
# to `valid_until` (NULL: indefinite) unless revoked. The signed document's bytes live in the attachments folder
# (`<attachments>/powers/<document_id>`), the row keeps its name, sniffed type, size and sha256.
powers = Table(
    "powers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", Integer, ForeignKey("clients.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("granted_on", Date, nullable=False),
    Column("valid_until", Date, nullable=True),
    Column("scope", Text, nullable=False, default=""),
    Column("document_id", String(36), nullable=True),
    Column("document_name", String(255), nullable=True),
    Column("document_type", String(100), nullable=True),
    Column("document_size", Integer, nullable=True),
    Column("document_sha256", String(64), nullable=True),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_on", Date, nullable=True),
    Column("revoked_by", String(100), nullable=True),
)

# The client's payments of the office's fee (payments.py): recorded by hand (`source` manual) or imported from a
# bank statement CSV (`source` import, `batch` names the import). `client_id` NULL: not matched yet (listed for
# manual assignment).
payments = Table(
    "payments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("paid_on", Date, nullable=False),
    Column("amount", Numeric(12, 2), nullable=False),
    Column("title", String(500), nullable=False, default=""),
    Column("counterparty_nip", String(10), nullable=True),
    Column("client_id", Integer, ForeignKey("clients.id", ondelete="CASCADE"), nullable=True, index=True),
    Column("source", String(20), nullable=False),
    Column("batch", String(36), nullable=True, index=True),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
)

# Which contract's month a payment pays, and how much of it (a payment may pay several months, a month may be
# paid by several payments).
payment_months = Table(
    "payment_months",
    metadata,
    Column("payment_id", Integer, ForeignKey("payments.id", ondelete="CASCADE"), primary_key=True),
    Column("contract_id", Integer, ForeignKey("contracts.id", ondelete="CASCADE"), primary_key=True),
    Column("month", Date, primary_key=True),
    Column("amount", Numeric(12, 2), nullable=False),
)

# The overdue fees the client was told of (fee_reminders.py): one row per contract month, its primary key the claim
# that lets fee.overdue out once whatever the runs or processes; `state` open → settled when a payment covers it
# (fee.settled once: the update that moves it is conditional on `open`).
fee_reminders = Table(
    "fee_reminders",
    metadata,
    Column("contract_id", Integer, ForeignKey("contracts.id", ondelete="CASCADE"), primary_key=True),
    Column("month", Date, primary_key=True),
    Column("client_id", Integer, nullable=False, index=True),
    Column("outstanding", Numeric(12, 2), nullable=False),
    Column("payment_due", Date, nullable=False),
    Column("source", String(10), nullable=False),
    Column("state", String(10), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("settled_at", UTCDateTime, nullable=True),
)
