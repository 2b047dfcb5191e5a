"""A consumer process for test_crash_redelivery: RabbitBus + PostgreSQL inbox, optionally dying mid-message.

Configured by environment variables (CRASH_AMQP_URL, CRASH_DATABASE_URL, CRASH_EXCHANGE, CRASH_PREFIX,
CRASH_READY_FILE, CRASH_HANDLED_FILE) and CRASH_AT: "before_commit" dies inside the handler after the effect
row was flushed into the open transaction; "after_commit" dies once `consume_once` has committed but before
the bus acks; empty handles normally. SIGTERM closes cleanly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from sqlalchemy import Column, Integer, String, Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.bus.rabbit import RabbitBus
from services.common.db import Database, new_metadata
from services.common.log import configure_logging
from services.common.messages import Envelope
from services.common.messaging import Messaging, add_messaging_tables, consume_once

QUEUE = "ledger"
KEYS = ["contract.created"]

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)
# Deliberately no unique constraint on message_id: only the inbox may keep the effect to one row.
effects = Table(
    "effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False),
    Column("value", String(100), nullable=False),
)


def die() -> None:
    sys.stderr.write(f"crash_consumer: dying on purpose ({os.environ.get('CRASH_AT')})\n")
    sys.stderr.flush()
    os._exit(1)  # no cleanup at all: like a killed process, the socket just goes away


def record(path: str, line: str) -> None:
    """Tell the test something happened (a few bytes to a local file; blocking is harmless here)."""
    with Path(path).open("a") as file:
        file.write(line)


async def main() -> None:
    configure_logging(json=True)
    env = os.environ
    crash_at = env.get("CRASH_AT", "")
    db = Database(env["CRASH_DATABASE_URL"])
    messaging = Messaging(producer="crash-test", outbox=outbox, inbox=inbox)
    bus = RabbitBus(env["CRASH_AMQP_URL"], exchange=env["CRASH_EXCHANGE"], queue_prefix=env["CRASH_PREFIX"],
                    retry_delay_ms=100)

    async def write_effect(session: AsyncSession, envelope: Envelope) -> None:
        value = envelope.payload["value"]
        await session.execute(effects.insert().values(message_id=str(envelope.id), value=value))
        await session.flush()
        if crash_at == "before_commit":
            die()

    async def on_event(envelope: Envelope) -> None:
        fresh = await consume_once(db, messaging, envelope, write_effect)
        if crash_at == "after_commit":
            die()
        record(env["CRASH_HANDLED_FILE"], f"{envelope.id} {'new' if fresh else 'duplicate'}\n")

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await bus.start()
    await bus.subscribe(QUEUE, KEYS, on_event)
    record(env["CRASH_READY_FILE"], str(os.getpid()))
    await stop.wait()
    await bus.close()
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
