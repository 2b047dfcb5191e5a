"""Outbox and inbox on a real SQLite database: events leave after commit only, effects happen once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.bus.memory import InMemoryBus
from services.common.db import Database, new_metadata
from services.common.messages import Envelope
from services.common.messaging import Messaging, OutboxRelay, add_messaging_tables, consume_once, prune
from tests.conftest import wait_for

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)
effects = Table("effects", metadata, Column("id", Integer, primary_key=True), Column("note", String(50)))


@pytest.fixture
async def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return database


async def test_events_are_published_after_commit_and_not_after_rollback(db: Database) -> None:
    bus = InMemoryBus()
    received: list[Envelope] = []

    async def collect(e: Envelope) -> None:
        received.append(e)

    await bus.subscribe("probe", ["#"], collect)
    messaging = Messaging(producer="svc", outbox=outbox, inbox=inbox)
    messaging.outbox_signal = db.outbox_signal
    relay = OutboxRelay(db=db, messaging=messaging, bus=bus, poll_seconds=30)
    await relay.start()

    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await messaging.emit(session, "thing.rolled_back", {})
            raise RuntimeError("the state change failed")
    async with db.transaction() as session:
        await messaging.emit(session, "thing.done", {"n": 1})

    await wait_for(lambda: received, what="the committed event")  # the commit woke the relay, no polling
    await wait_for(bus.idle)
    assert [e.type for e in received] == ["thing.done"]
    async with db.reading() as session:
        pending = (await session.execute(select(func.count()).where(outbox.c.published_at.is_(None)))).scalar()
    assert pending == 0
    await relay.stop()
    await bus.close()
    await db.dispose()


async def test_a_redelivered_message_has_its_effect_once(db: Database) -> None:
    messaging = Messaging(producer="svc", outbox=outbox, inbox=inbox)
    message = Envelope(type="thing.done", producer="other", correlation_id="c", payload={})

    async def effect(session: AsyncSession, e: Envelope) -> None:
        await session.execute(effects.insert().values(note=str(e.id)))

    assert await consume_once(db, messaging, message, effect) is True
    assert await consume_once(db, messaging, message, effect) is False

    async def failing(session: AsyncSession, e: Envelope) -> None:
        await effect(session, e)
        raise RuntimeError("crash after the effect, before commit")

    other = Envelope(type="thing.done", producer="other", correlation_id="c", payload={})
    with pytest.raises(RuntimeError):
        await consume_once(db, messaging, other, failing)
    assert await consume_once(db, messaging, other, effect) is True  # the retry is not mistaken for a duplicate

    async with db.reading() as session:
        notes = (await session.execute(select(effects.c.note))).scalars().all()
    assert sorted(notes) == sorted([str(message.id), str(other.id)])
    await db.dispose()


async def test_old_published_events_and_older_inbox_records_are_forgotten_unpublished_ones_never(db: Database) -> None:
    now = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    day = timedelta(days=1)
    async with db.transaction() as session:
        for n, (created, published) in enumerate([(now - 40 * day, now - 40 * day),  # old, sent: forgotten
                                                  (now - 40 * day, None),  # old, never sent: kept
                                                  (now - 29 * day, now - 29 * day)]):  # recent: kept
            await session.execute(outbox.insert().values(message_id=f"out-{n}", type="x", body="{}",
                                                         created_at=created, published_at=published, attempts=0))
        for n, processed in enumerate([now - 61 * day, now - 59 * day, now - 40 * day]):
            await session.execute(inbox.insert().values(message_id=f"in-{n}", type="x", processed_at=processed))

    assert await prune(db, outbox, inbox, now=now, kept=30 * day, chunk=1) == (1, 1)
    async with db.reading() as session:
        assert set((await session.execute(select(outbox.c.message_id))).scalars()) == {"out-1", "out-2"}
        # The inbox remembers a message twice as long as the outbox keeps it: a republished event is still known.
        assert set((await session.execute(select(inbox.c.message_id))).scalars()) == {"in-1", "in-2"}
    assert await prune(db, outbox, inbox, now=now, kept=30 * day) == (0, 0)
