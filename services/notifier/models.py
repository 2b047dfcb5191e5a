"""Tables of the notifier service: every e-mail it writes (the local outbox and the delivery log)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table, Text

from services.common.db import UTCDateTime, new_metadata
from services.common.messaging import add_messaging_tables

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)

# status: pending (waiting for the dispatcher), sent (accepted by SMTP), kept (no SMTP configured: kept in
# the local outbox the UI shows), failed (gave up after retries; last_error says why).
mails = Table(
    "mails",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(50), nullable=False),
    Column("related_id", String(36), nullable=True, index=True),
    Column("to_address", String(320), nullable=False),
    Column("to_name", String(200), nullable=False, default=""),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(20), nullable=False, default="pending", index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
)
