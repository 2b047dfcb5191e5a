"""Transactional outbox and idempotent inbox, shared by every service.

A service writes its state change and its events in one transaction (`emit`); the relay publishes them and
marks them sent. A consumer records each processed message id in the same transaction as its effect
(`consume_once`), so a redelivered message changes nothing: delivery is at least once, effects exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Integer, MetaData, String, Table, Text, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.bus import Bus
from services.common.clock import Clock, SystemClock
from services.common.db import Database, UTCDateTime, after_commit
from services.common.log import current_correlation_id, get_logger, new_correlation_id
from services.common.messages import Envelope

log = get_logger(__name__)


def add_messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Every service's database carries its own outbox and inbox."""
    outbox = Table(
        "outbox",
        metadata,
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("message_id", String(36), nullable=False, unique=True),
        Column("type", String(100), nullable=False),
        Column("body", Text, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("published_at", UTCDateTime, nullable=True, index=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("message_id", String(36), primary_key=True),
        Column("type", String(100), nullable=False),
        Column("processed_at", UTCDateTime, nullable=False),
        Column("extra", JSON, nullable=True),
    )
    return outbox, inbox


class Messaging:
    """What a service's code needs to emit events and consume them once."""

    def __init__(self, *, producer: str, outbox: Table, inbox: Table, clock: Clock | None = None) -> None:
        self.producer = producer
        self.outbox = outbox
        self.inbox = inbox
        self.clock = clock or SystemClock()
        self.outbox_signal: asyncio.Event | None = None  # set by the runtime: wakes the relay after commit

    async def emit(self, session: AsyncSession, type_: str, payload: dict[str, Any]) -> Envelope:
        """Store an event in the outbox inside the caller's transaction; it is published after commit."""
        envelope = Envelope(
            type=type_,
            producer=self.producer,
            correlation_id=current_correlation_id() or new_correlation_id(),
            occurred_at=self.clock.now(),
            payload=payload,
        )
        await session.execute(
            self.outbox.insert().values(
                message_id=str(envelope.id),
                type=type_,
                body=envelope.model_dump_json(),
                created_at=self.clock.now(),
                attempts=0,
            )
        )
        signal = self.outbox_signal
        if signal is not None:
            after_commit(session, signal.set)
        return envelope

    async def emit_many(self, session: AsyncSession, events: Sequence[tuple[str, dict[str, Any]]], *,
                        correlation_ids: Sequence[str | None] | None = None) -> list[Envelope]:
        """`emit` for several events at once, in their order, with one statement (they are published in order).

        `correlation_ids`: one per event (a batch handler's events each carry their own message's id); else, or
        where one is None, the current one."""
        current = current_correlation_id() or new_correlation_id()
        ids = correlation_ids if correlation_ids is not None else [None] * len(events)
        if len(ids) != len(events):
            raise ValueError(f"{len(ids)} correlation ids for {len(events)} events")
        envelopes = [
            Envelope(
                type=type_,
                producer=self.producer,
                correlation_id=cid or current,
                occurred_at=self.clock.now(),
                payload=payload,
            )
            for (type_, payload), cid in zip(events, ids, strict=True)
        ]
        if not envelopes:
            return []
        await session.execute(
            self.outbox.insert(),
            [
                {"message_id": str(e.id), "type": e.type, "body": e.model_dump_json(), "created_at": self.clock.now(),
                 "attempts": 0}
                for e in envelopes
            ],
        )
        signal = self.outbox_signal
        if signal is not None:
            after_commit(session, signal.set)
        return envelopes

    async def claim(self, session: AsyncSession, envelope: Envelope) -> bool:
        """Record the message as processed; False if it already was (the caller then does nothing)."""
        dialect = session.get_bind().dialect.name
        values = {"message_id": str(envelope.id), "type": envelope.type, "processed_at": self.clock.now()}
        insert_: Any = postgresql.insert(self.inbox) if dialect == "postgresql" else sqlite.insert(self.inbox)
        result = await session.execute(insert_.values(**values).on_conflict_do_nothing())
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def claim_many(self, session: AsyncSession, envelopes: Sequence[Envelope]) -> list[Envelope]:
        """`claim` for a batch in one statement: the messages not processed before, in their order, each once
        (a message twice in the batch counts the first time)."""
        unique: dict[str, Envelope] = {}
        for envelope in envelopes:
            unique.setdefault(str(envelope.id), envelope)
        if not unique:
            return []
        dialect = session.get_bind().dialect.name
        now = self.clock.now()
        insert_: Any = postgresql.insert(self.inbox) if dialect == "postgresql" else sqlite.insert(self.inbox)
        rows = [{"message_id": id_, "type": e.type, "processed_at": now} for id_, e in unique.items()]
        claimed = set((await session.execute(
            insert_.values(rows).on_conflict_do_nothing().returning(self.inbox.c.message_id))).scalars())
        for id_, envelope in unique.items():
            if id_ not in claimed:
                log.info("message.duplicate", message_id=id_, type=envelope.type)
        return [e for id_, e in unique.items() if id_ in claimed]


EventHandler = Callable[[AsyncSession, Envelope], Awaitable[None]]


async def consume_once(db: Database, messaging: Messaging, envelope: Envelope, handler: EventHandler) -> bool:
    """Run a handler and record the message in one transaction. Returns False for a duplicate."""
    async with db.transaction() as session:
        if not await messaging.claim(session, envelope):
            log.info("message.duplicate", message_id=str(envelope.id), type=envelope.type)
            return False
        await handler(session, envelope)
    return True


async def redeliver(db: Database, outbox: Table, *, since: datetime | None = None,
                    types: Sequence[str] = ()) -> int:
    """Mark published events unpublished, so the relay publishes them again; returns how many.

    The repair for events a consumer never got (the embedded bus lost what it held in memory when the
    process ended, before it kept its queues on disk): every consumer skips what its inbox already has."""
    query = update(outbox).where(outbox.c.published_at.is_not(None))
    if since is not None:
        query = query.where(outbox.c.created_at >= since)
    if types:
        query = query.where(outbox.c.type.in_(list(types)))
    async with db.transaction() as session:
        result = await session.execute(query.values(published_at=None))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def prune(db: Database, outbox: Table, inbox: Table, *, now: datetime, kept: timedelta,
                chunk: int = 5000) -> tuple[int, int]:
    """Forget old message records, so the outbox and inbox stay the size of their window, not of the years.

    Deleted: outbox rows published more than `kept` ago (never one still unpublished), and inbox records of
    messages handled more than twice `kept` ago. The inbox keeps its records longer than the outbox keeps the
    events, so an event that can still be published again (`redeliver`, `terminarz republish` after a restore)
    still finds every consumer's record of it and stays harmless. In chunks, each its own short transaction, so
    a first run over years of rows never holds a long write lock. Returns (outbox rows, inbox records) deleted.
    """
    deleted = [0, 0]
    targets = ((0, outbox, outbox.c.seq, outbox.c.published_at, now - kept),
               (1, inbox, inbox.c.message_id, inbox.c.processed_at, now - 2 * kept))
    for slot, table, key, stamp, before in targets:
        while True:
            async with db.transaction() as session:
                batch = select(key).where(stamp.is_not(None), stamp < before).limit(chunk)
                result = await session.execute(delete(table).where(key.in_(batch)))
            count = int(result.rowcount)  # type: ignore[attr-defined]
            deleted[slot] += count
            if count < chunk:
                break
    if any(deleted):
        log.info("messaging.pruned", outbox=deleted[0], inbox=deleted[1], kept_days=kept.days)
    return deleted[0], deleted[1]


class OutboxRelay:
    """Publishes committed outbox rows with broker confirms and marks them sent; one task per service."""

    def __init__(self, *, db: Database, messaging: Messaging, bus: Bus, poll_seconds: float = 2.0,
                 batch: int = 100) -> None:
        self.db = db
        self.messaging = messaging
        self.bus = bus
        self.poll_seconds = poll_seconds
        self.batch = batch
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.messaging.producer}")

    async def stop(self) -> None:
        self._stopping = True
        self.db.outbox_signal.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            # Cleared before reading, not after: a commit that lands while a batch is read wakes the next round.
            self.db.outbox_signal.clear()
            try:
                sent = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox.relay_failed", producer=self.messaging.producer)
                sent = 0
                await asyncio.sleep(min(self.poll_seconds, 1.0))
            if sent >= self.batch:
                continue
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for drops a cancellation that comes with the wake-up
                async with asyncio.timeout(self.poll_seconds):
                    await self.db.outbox_signal.wait()
            except TimeoutError:
                pass

    async def relay_once(self) -> int:
        """Publish one batch of pending events, oldest first. Returns how many were sent.

        A crash between the broker's confirm and marking the rows publishes them again: at least once."""
        outbox = self.messaging.outbox
        query = (
            select(outbox.c.seq, outbox.c.body)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.seq)
            .limit(self.batch)
        )
        if self.db.is_sqlite:
            # One relay per SQLite file (one process): read, publish, mark, without holding the file's only
            # write lock while the bus confirms (the service's consumer writes meanwhile).
            async with self.db.reading() as session:
                rows = (await session.execute(query)).all()
            if rows:
                await self._publish(rows)
                async with self.db.transaction() as session:
                    await self._mark(session, rows)
            return len(rows)
        async with self.db.transaction() as session:
            # Several replicas of a service may relay at once; each row goes out through one of them.
            rows = (await session.execute(query.with_for_update(skip_locked=True))).all()
            if rows:
                await self._publish(rows)
                await self._mark(session, rows)
        return len(rows)

    async def _publish(self, rows: Sequence[Any]) -> None:
        await self.bus.publish_many([Envelope.model_validate_json(body) for _, body in rows])

    async def _mark(self, session: AsyncSession, rows: Sequence[Any]) -> None:
        outbox = self.messaging.outbox
        await session.execute(
            update(outbox).where(outbox.c.seq.in_([seq for seq, _ in rows])).values(published_at=datetime.now(UTC))
        )
