"""Tables of the gateway: users, web sessions, API tokens, login failures, the audit log, and who is on which
contract's team (fed by the contracts and cases services' events) for the visibility rule."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import JSON, Boolean, Column, Date, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from services.common.db import UTCDateTime, new_metadata
from services.common.messaging import add_messaging_tables

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)


class Role(StrEnum):
    """A staff member's role (what each may do is in permissions.py)."""

    admin = "admin"
    manager = "manager"
    accountant = "accountant"
    payroll = "payroll"


ROLES = tuple(role.value for role in Role)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("login", String(100), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(300), nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    # The UI's language: "pl" (default) or "en" (services/gateway/i18n.py LANGUAGES).
    Column("language", String(5), nullable=False, default="pl", server_default="pl"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    # Only a hash is kept: a stolen database gives no usable tokens.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("name", String(100), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("login", String(100), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", String(200), nullable=False, default=""),
    Column("correlation_id", String(64), nullable=True),
    Column("detail", JSON, nullable=True),
    Index("ix_audit_log_login_at", "login", "at"),
    Index("ix_audit_log_action_at", "action", "at"),
)
# audit_log is append-only: the migration adds triggers that refuse UPDATE and DELETE (SQLite and PostgreSQL).

sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # The cookie holds a random id; only its HMAC under the secret key is kept, so the table opens no session.
    Column("id_hash", String(64), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("address", String(64), nullable=True),
)

# Failed (and in-flight) password logins of the last window, counted per login and per client address.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("login", String(100), nullable=False),
    Column("address", String(64), nullable=False),
    Index("ix_login_failures_login_at", "login", "at"),
    Index("ix_login_failures_address_at", "address", "at"),
)

# The team of every version of every contract, one row per role (login NULL: the role is not staffed), from
# contract.created/changed/terminated. A version's rows are replaced whole, so events may arrive in any order.
contract_access = Table(
    "contract_access",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("contract_id", Integer, nullable=False),
    Column("client_id", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("role", String(20), nullable=False),
    Column("login", String(100), nullable=True, index=True),
    UniqueConstraint("contract_id", "version", "role", name="uq_contract_access_version_role"),
    Index("ix_contract_access_contract_from", "contract_id", "effective_from"),
)

# Absences and their substitutes, from absence.changed; the newest message of an absence wins.
absences = Table(
    "absences",
    metadata,
    Column("absence_id", String(64), primary_key=True),
    Column("login", String(100), nullable=False),
    Column("substitute", String(100), nullable=True, index=True),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("cancelled", Boolean, nullable=False, default=False),
    Column("changed_at", UTCDateTime, nullable=False),
)

# Things done once per installation, e.g. filling contract_access from the contracts service after an upgrade.
one_time_steps = Table(
    "one_time_steps",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("done_at", UTCDateTime, nullable=False),
)

# A person's private calendar feed (services/gateway/feed.py): one per user; only the token's hash is kept, so the
# address is shown once, when it is made; making a new one or revoking it makes the old address answer 404.
calendar_feeds = Table(
    "calendar_feeds",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
)
