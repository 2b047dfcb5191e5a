"""Tables of the notifier service: every e-mail it writes, client notices with their proof, and what it knows of
clients and contracts (from their events)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    text,
)

from services.common.db import UTCDateTime, new_metadata
from services.common.messaging import add_messaging_tables

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)

# Every e-mail. status: pending (waiting for a sender; `next_attempt_at` delays a retry) → sending (claimed by
# one notifier process until `claimed_until`) → sent (accepted by SMTP: `smtp_reply`) | kept (no SMTP
# configured: kept in the local outbox the UI shows) | failed (a 5xx refusal, or retries spent: `last_error`).
# `raw` is the whole MIME message (text and HTML parts), built once when the mail is written: a retry sends
# the same bytes and the same Message-ID; `body` is its text part, for the outgoing mail page.
mails = Table(
    "mails",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(50), nullable=False),
    Column("related_id", String(36), nullable=True),
    Column("to_address", String(320), nullable=False),
    Column("to_name", String(200), nullable=False, default=""),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(20), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("raw", Text, nullable=True),
    Column("message_id", String(250), nullable=True),
    Column("notice_id", String(36), nullable=True),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("claimed_until", UTCDateTime, nullable=True),
    Column("claimed_by", String(80), nullable=True),
    Column("smtp_reply", Text, nullable=True),
    # Partial indexes: only the few rows waiting or being sent are in them, so the two status updates of a
    # mail's life cost little index work.
    Index("ix_mails_queue", "created_at", postgresql_where=text("status = 'pending'"),
          sqlite_where=text("status = 'pending'")),
    Index("ix_mails_sending", "claimed_until", postgresql_where=text("status = 'sending'"),
          sqlite_where=text("status = 'sending'")),
    Index("ix_mails_to_address", "to_address"),
)

# A claim that one mail of a kind went to one recipient for one key (a day, a case and step): written in the
# same transaction as the mail, so a replay, a restart or a second process never sends it twice.
mail_claims = Table(
    "mail_claims",
    metadata,
    Column("key", String(500), primary_key=True),
    Column("kind", String(50), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("day", Date, nullable=True),
    Column("mail_id", String(36), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_mail_claims_kind_day", "kind", "day"),
)

# Delivery health of an address: failing after a 5xx refusal (`reply`), ok again after a later acceptance.
addresses = Table(
    "addresses",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("reply", Text, nullable=True),
    Column("failed_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# What client.changed said (source "client"); until it arrives, a row made from contract events (source
# "contract": the name and identifiers only; recipients then come from the contracts' contact e-mails).
clients = Table(
    "clients",
    metadata,
    Column("client_id", String(36), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("nip", String(10), nullable=True),
    Column("pesel", String(11), nullable=True),
    Column("language", String(5), nullable=False, default="pl"),
    Column("recipients", JSON, nullable=False, default=list),
    Column("accounts", JSON, nullable=False, default=dict),
    Column("ppk_institution", String(200), nullable=False, default=""),
    Column("notices_enabled", Boolean, nullable=False, default=True),
    Column("source", String(20), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

contracts = Table(
    "contracts",
    metadata,
    Column("contract_id", String(36), primary_key=True),
    Column("client_id", String(36), nullable=False, index=True),
    Column("number", String(100), nullable=False, default=""),
    Column("client_name", String(300), nullable=False, default=""),
    Column("nip", String(10), nullable=True),
    Column("pesel", String(11), nullable=True),
    Column("language", String(5), nullable=False, default="pl"),
    Column("contact_emails", JSON, nullable=False, default=list),
    Column("team", JSON, nullable=False, default=dict),
    Column("version", Integer, nullable=False),
    Column("status", String(20), nullable=False, default="active"),
    Column("updated_at", UTCDateTime, nullable=False),
)

# A client notice. kind: liability (from finished cases) | manual (written by staff) | duty (reminds the client of
# a client task: documents for the month by day N, …; services/notifier/duties.py).
# status: draft (collecting a day's liabilities until `send_after`) | scheduled (manual, until `send_after`)
# → issued (mails written) → confirmed | withdrawn (case reopened, or by staff) | superseded (a correction
# replaced it: `replaced_by_id`) | expired (the cut-off after the due date passed unconfirmed).
notices = Table(
    "notices",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("client_id", String(36), nullable=False, index=True),
    Column("client_name", String(300), nullable=False, default=""),
    Column("contract_id", String(36), nullable=True, index=True),
    Column("period", String(20), nullable=True),
    Column("status", String(20), nullable=False, index=True),
    # Unique while collecting: one draft per client, period and day (NULL once issued).
    Column("draft_key", String(200), nullable=True, unique=True),
    Column("template", String(100), nullable=True),
    Column("subject", String(300), nullable=True),
    Column("body", Text, nullable=True),
    Column("requires_confirmation", Boolean, nullable=False, default=True),
    Column("due", Date, nullable=True, index=True),
    Column("send_after", UTCDateTime, nullable=True),
    Column("issued_at", UTCDateTime, nullable=True),
    Column("confirmed_at", UTCDateTime, nullable=True),
    Column("confirmed_by", String(320), nullable=True),
    Column("withdrawn_at", UTCDateTime, nullable=True),
    Column("withdrawn_reason", Text, nullable=True),
    Column("escalated_at", UTCDateTime, nullable=True),
    Column("expired_at", UTCDateTime, nullable=True),
    Column("replaces_id", String(36), nullable=True),
    Column("replaced_by_id", String(36), nullable=True),
    Column("accountant", JSON, nullable=True),  # {login, name, email}: Reply-To and escalations
    Column("created_by", JSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # notifier_0003_duty: kind duty reminds the client of one client task (a case of party client), one per case.
    # Its rule (with contract and period, the task's natural key): a re-planned task moves its reminders.
    Column("case_id", String(36), nullable=True),
    Column("rule_id", String(100), nullable=True),
    Index("ix_notices_case_id", "case_id", unique=True),
    # notifier_0004_duty_column: what the client is asked for — a client task's duty (documents, payroll_data, …) or
    # `fee` (an overdue fee, kind fee: one notice per contract and month, the partial unique index below).
    Column("duty", String(30), nullable=True),
    Index("ix_notices_fee_month", "contract_id", "period", unique=True,
          sqlite_where=text("kind = 'fee'"), postgresql_where=text("kind = 'fee'")),
    # notifier_0005_fee_amount: an overdue fee's facts, so each language says them in its own format (kind fee; NULL
    # on the fee notices written before, whose amount is only in their Polish body): the amount outstanding, the
    # month's gross fee, their currency, and the office's account the notice named ("" = the one on the invoice).
    Column("amount", Numeric(14, 2), nullable=True),
    Column("gross", Numeric(14, 2), nullable=True),
    Column("currency", String(3), nullable=True),
    Column("account", String(26), nullable=True),
)

# One liability on a notice, with what the client was told exactly: the account, the transfer title and the
# QR payload. status: active | retired (its case was reopened) | replaced (a newer revision of the case).
notice_items = Table(
    "notice_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("notice_id", String(36), ForeignKey("notices.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("case_id", String(36), nullable=True, index=True),
    Column("revision", Integer, nullable=False, default=1),
    Column("kind", String(10), nullable=False),
    Column("amount", Numeric(14, 2), nullable=False),
    Column("due", Date, nullable=False),
    Column("form", String(30), nullable=False, default=""),
    Column("period", String(20), nullable=False, default=""),
    Column("account", String(26), nullable=True),
    Column("account_kind", String(20), nullable=False),
    Column("payee", String(100), nullable=False, default=""),
    Column("transfer_title", String(140), nullable=False, default=""),
    Column("tax_fields", JSON, nullable=True),  # identifier type and number, period code, form symbol
    Column("qr_payload", Text, nullable=True),
    Column("status", String(20), nullable=False, default="active"),
    Column("position", Integer, nullable=False, default=0),
)

# Each completion revision of a case is handled once (a replay with a new message id changes nothing).
case_completions = Table(
    "case_completions",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("notice_id", String(36), nullable=True),
    Column("at", UTCDateTime, nullable=False),
)

# A person a notice goes to, with the unguessable token of their link. status: pending → delivered | kept
# (local outbox) | failing (a 5xx refusal: `reply`) | removed (no longer a recipient of the client).
notice_recipients = Table(
    "notice_recipients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("notice_id", String(36), ForeignKey("notices.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("email", String(320), nullable=False, index=True),
    Column("name", String(200), nullable=False, default=""),
    Column("language", String(5), nullable=False, default="pl"),
    Column("token", String(64), nullable=False, unique=True),
    Column("status", String(20), nullable=False, default="pending"),
    Column("reply", Text, nullable=True),
    Column("first_sent_at", UTCDateTime, nullable=True),
    Column("opened_at", UTCDateTime, nullable=True),
    Column("confirmed_at", UTCDateTime, nullable=True),
)

# Which mail carried which notice to whom (the notice itself, a correction, each day's reminder): with the
# mail's status, time and SMTP reply, the proof of each send.
notice_mails = Table(
    "notice_mails",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("notice_id", String(36), nullable=False, index=True),
    Column("recipient_id", Integer, nullable=False),
    Column("mail_id", String(36), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
)

# The rest of the proof: created, opened (address, user agent), confirmed, withdrawn, superseded, escalated,
# expired, recipient_added, recipient_removed, failed (no recipient).
notice_events = Table(
    "notice_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("notice_id", String(36), nullable=False, index=True),
    Column("recipient_id", Integer, nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(30), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("address", String(200), nullable=True),
    Column("user_agent", String(500), nullable=True),
)
