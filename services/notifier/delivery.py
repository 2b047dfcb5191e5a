"""Mail delivery: writing mails in the caller's transaction, and the dispatcher that claims and sends them.

Exactly once where it can be: a mail row is claimed by one process at a time (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, as the outbox relay does), marked `sending` with a lease, and reported `sent` after the server's
250. Results are committed in small groups while the next mails are on the wire, so the only mails a crash
can send twice are those the server accepted in the last few milliseconds before it, whose 250 was not yet
committed (README: "the window"); they go again with the same bytes and Message-ID.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from services.common.db import after_commit
from services.common.log import get_logger
from services.common.messages import NOTICE_FAILED, NOTICE_SENT, NoticeFailed, NoticeSent
from services.common.runtime import ServiceContext
from services.notifier.mailer import OutgoingMail, SendResult, SmtpMailer, build_message
from services.notifier.models import addresses, mails, notice_items, notice_recipients, notices

log = get_logger(__name__)
MAIL_SIGNAL = "mail_signal"
MAIL_CACHE = "mail_cache"
BOOKKEEPING = "delivery_bookkeeping"
MAIL_CACHE_LIMIT = 50_000  # messages this process wrote and has not sent yet, kept to save reading them back
# The mails that deliver a notice (not its reminders): a liability notice, its correction, a manual notice, a
# client task's notice and an overdue fee's — the recipient's first delivery and notice.sent come from these.
FIRST_SEND_KINDS = ("notice", "correction", "manual", "duty", "fee")
RETRY_CAP_SECONDS = 3600.0
# At most this many mails per connection are accepted by the server but not yet committed as sent: what a
# crash can make go twice is bounded by this times the connections (README: "the window").
UNRECORDED_PER_CONNECTION = 8
FLUSHERS = 1
GROUP_SECONDS = 0.02
IDLE_CONNECTION_SECONDS = 10.0  # kept open across short pauses (the morning job writes reminders in chunks)


def real_now() -> datetime:
    """Leases and retry delays follow the wall clock, not the business clock (which tests and demos pin)."""
    return datetime.now(UTC)


def mail_signal(ctx: ServiceContext) -> asyncio.Event:
    signal: asyncio.Event = ctx.extras.setdefault(MAIL_SIGNAL, asyncio.Event())
    return signal


def mail_cache(ctx: ServiceContext) -> dict[str, str]:
    cache: dict[str, str] = ctx.extras.setdefault(MAIL_CACHE, {})
    return cache


def mail_row(ctx: ServiceContext, *, kind: str, mail: OutgoingMail, related_id: str | None = None,
             notice_id: str | None = None, mail_id: str | None = None) -> dict[str, Any]:
    """A mails row with the whole MIME message built now: a retry resends the same bytes and Message-ID."""
    message = build_message(mail, sender=ctx.settings.mail_from)
    return {
        "id": mail_id or str(uuid.uuid4()), "kind": kind, "related_id": related_id, "notice_id": notice_id,
        "to_address": mail.to_address, "to_name": mail.to_name, "subject": mail.subject, "body": mail.body,
        "raw": message.raw, "message_id": message.message_id,
        "status": "pending", "attempts": 0, "created_at": ctx.clock.now(),
    }


async def insert_mails(ctx: ServiceContext, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Write mails in the caller's transaction; after commit this process's dispatcher is woken and finds
    their messages in memory (another process reads them from the database)."""
    if not rows:
        return
    await session.execute(mails.insert(), list(rows))
    cache = mail_cache(ctx)

    def remember() -> None:
        if len(cache) + len(rows) <= MAIL_CACHE_LIMIT:
            cache.update((row["id"], row["raw"]) for row in rows)

    after_commit(session, remember)
    after_commit(session, mail_signal(ctx).set)


async def queue_mail(ctx: ServiceContext, session: AsyncSession, *, kind: str, mail: OutgoingMail,
                     related_id: str | None = None, notice_id: str | None = None) -> str:
    row = mail_row(ctx, kind=kind, mail=mail, related_id=related_id, notice_id=notice_id)
    await insert_mails(ctx, session, [row])
    return str(row["id"])


def insert_ignoring_duplicates(session: AsyncSession, table: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING in the session's dialect."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)).on_conflict_do_nothing()


@dataclass
class Claimed:
    id: str
    kind: str
    to_address: str
    raw: str
    attempts: int
    notice_id: str | None
    address_failing: bool = False  # refused before: a 250 now makes the address healthy again


@dataclass
class Result:
    mail: Claimed
    outcome: str  # sent | kept | retry | refused
    reply: str
    connection: int = 0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Bookkeeping:
    """Where delivery writes its claims and outcomes.

    PostgreSQL: a small engine of its own whose sessions commit without waiting for the disk
    (`synchronous_commit = off`): a database crash could lose a fraction of a second of 'sent' marks, i.e. send a
    few mails again; a notifier crash loses nothing. A lone statement runs in autocommit, one round trip. The
    mails themselves are written by the service's own sessions, with full durability. SQLite (embedded, one
    process): the service's database as it is."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.db = ctx.db
        self.engine: AsyncEngine | None = None
        if not ctx.db.is_sqlite:
            self.engine = create_async_engine(ctx.db.url, pool_size=2, max_overflow=4, pool_pre_ping=True,
                                              connect_args={"server_settings": {"synchronous_commit": "off"}})

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        if self.engine is None:
            async with self.db.transaction() as session:
                yield session
            return
        async with AsyncSession(self.engine, expire_on_commit=False) as session, session.begin():
            yield session
        for callback in session.info.pop("after_commit", []):
            callback()

    async def run(self, statement: Any, params: dict[str, Any] | None = None) -> tuple[list[Any], int]:
        """One statement on its own: (its rows, if it returns any; the rows it changed)."""
        if self.engine is None:
            async with self.db.transaction() as session:
                result = await session.execute(statement, params or {})
                return (list(result.all()) if result.returns_rows else []), int(result.rowcount)  # type: ignore[attr-defined]
        async with self.engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            result = await connection.execute(statement, params or {})
            return (list(result.all()) if result.returns_rows else []), int(result.rowcount)

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()


def bookkeeping(ctx: ServiceContext) -> Bookkeeping:
    found = ctx.extras.get(BOOKKEEPING)
    if not isinstance(found, Bookkeeping):
        found = ctx.extras[BOOKKEEPING] = Bookkeeping(ctx)
    return found


async def close_bookkeeping(ctx: ServiceContext) -> None:
    found = ctx.extras.pop(BOOKKEEPING, None)
    if isinstance(found, Bookkeeping):
        await found.close()


async def reap_expired_claims(ctx: ServiceContext) -> int:
    """Mails whose sender stopped (killed, hung) before reporting go back to the queue."""
    _, count = await bookkeeping(ctx).run(
        update(mails).where(mails.c.status == "sending", mails.c.claimed_until < real_now())
        .values(status="pending", claimed_by=None))
    if count:
        log.warning("mail.claims_expired", mails=count)
    return count


CLAIM_PG = text(
    "UPDATE mails SET status = 'sending', claimed_by = :worker, attempts = attempts + 1, claimed_until = :until "
    "WHERE id IN (SELECT id FROM mails WHERE status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= "
    ":now) ORDER BY created_at LIMIT :limit FOR UPDATE SKIP LOCKED) "
    "RETURNING id, kind, to_address, attempts, notice_id"
)


async def failing_addresses(ctx: ServiceContext) -> set[str]:
    rows, _ = await bookkeeping(ctx).run(select(addresses.c.email).where(addresses.c.status == "failing"))
    return {r.email for r in rows}


async def claim(ctx: ServiceContext, *, limit: int, worker: str, failing: set[str] | None = None) -> list[Claimed]:
    """Take up to `limit` due mails for this process, oldest first; another process skips the rows it holds
    (one statement on PostgreSQL: UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING)."""
    now = real_now()
    until = now + timedelta(seconds=ctx.settings.mail_claim_seconds)
    keeper = bookkeeping(ctx)
    if keeper.engine is not None:
        rows, _ = await keeper.run(CLAIM_PG, {"worker": worker, "until": until, "now": now, "limit": limit})
        claimed = [(r.id, r.kind, r.to_address, r.attempts, r.notice_id) for r in rows]
    else:
        async with keeper.transaction() as session:
            found = (await session.execute(
                select(mails.c.id, mails.c.kind, mails.c.to_address, mails.c.attempts, mails.c.notice_id)
                .where(mails.c.status == "pending",
                       or_(mails.c.next_attempt_at.is_(None), mails.c.next_attempt_at <= now))
                .order_by(mails.c.created_at).limit(limit))).all()
            if found:
                await session.execute(update(mails).where(mails.c.id.in_([r.id for r in found])).values(
                    status="sending", claimed_by=worker, attempts=mails.c.attempts + 1, claimed_until=until))
        claimed = [(r.id, r.kind, r.to_address, r.attempts + 1, r.notice_id) for r in found]
    if not claimed:
        return []
    cache = mail_cache(ctx)
    raws = {c[0]: cache.pop(c[0]) for c in claimed if c[0] in cache}
    missing = [c[0] for c in claimed if c[0] not in raws]
    if missing:
        rows, _ = await keeper.run(select(mails.c.id, mails.c.raw, mails.c.kind, mails.c.to_address,
                                          mails.c.to_name, mails.c.subject, mails.c.body)
                                   .where(mails.c.id.in_(missing)))
        for row in rows:
            raws[row.id] = row.raw if row.raw is not None else mail_row(  # written before migration 0002
                ctx, kind=row.kind, mail=OutgoingMail(row.to_address, row.to_name, row.subject, row.body))["raw"]
    failing = failing or set()
    return [Claimed(mail_id, kind, to_address, raws[mail_id], attempts, notice_id, to_address in failing)
            for mail_id, kind, to_address, attempts, notice_id in claimed]


SENT_PG = text(
    "UPDATE mails SET status = outcome.status, smtp_reply = outcome.reply, sent_at = :now, last_error = NULL, "
    "claimed_until = NULL FROM unnest(CAST(:ids AS varchar[]), CAST(:statuses AS varchar[]), "
    "CAST(:replies AS text[])) AS outcome (id, status, reply) WHERE mails.id = outcome.id"
)


def retry_delay(ctx: ServiceContext, attempts: int) -> float:
    return float(min(ctx.settings.mail_retry_seconds * 2 ** max(attempts - 1, 0), RETRY_CAP_SECONDS))


async def record(ctx: ServiceContext, results: Sequence[Result]) -> None:
    """Write a group of outcomes in one transaction: the mails, the recipients' delivery state, and the
    notice.sent / notice.failed events of notices delivered or refused the first time."""
    if not results:
        return
    now, wall = ctx.clock.now(), real_now()
    done: list[Result] = []
    retry: list[Result] = []
    failed: list[Result] = []  # refused (5xx), or a retry with no attempts left
    for r in results:
        if r.outcome in ("sent", "kept"):
            done.append(r)
        elif r.outcome == "retry" and r.mail.attempts < ctx.settings.mail_max_attempts:
            retry.append(r)
        else:
            failed.append(r)
    keeper = bookkeeping(ctx)
    simple = not retry and not failed and keeper.engine is not None and not any(
        r.mail.address_failing or (r.mail.notice_id and r.mail.kind in FIRST_SEND_KINDS) for r in done)
    if simple:  # the usual group: every mail accepted, nothing else to note; one statement, one round trip
        await keeper.run(SENT_PG, {"now": now, "ids": [r.mail.id for r in done],
                                   "statuses": [r.outcome for r in done], "replies": [r.reply for r in done]})
        return
    async with keeper.transaction() as session:
        if done and keeper.engine is not None:
            await session.execute(SENT_PG, {"now": now, "ids": [r.mail.id for r in done],
                                            "statuses": [r.outcome for r in done],
                                            "replies": [r.reply for r in done]})
        elif done:
            await session.execute(
                update(mails).where(mails.c.id == bindparam("mail_id"))
                .values(status=bindparam("new_status"), sent_at=now, smtp_reply=bindparam("reply"), last_error=None,
                        claimed_until=None),
                [{"mail_id": r.mail.id, "new_status": r.outcome, "reply": r.reply} for r in done],
            )
        if retry:
            await session.execute(
                update(mails).where(mails.c.id == bindparam("mail_id"))
                .values(status="pending", last_error=bindparam("reply"), claimed_until=None, claimed_by=None,
                        next_attempt_at=bindparam("at")),
                [{"mail_id": r.mail.id, "reply": r.reply,
                  "at": wall + timedelta(seconds=retry_delay(ctx, r.mail.attempts))} for r in retry],
            )
            for r in retry:
                log.warning("mail.retry", mail_id=r.mail.id, attempts=r.mail.attempts, reply=r.reply)
        if failed:
            await session.execute(
                update(mails).where(mails.c.id == bindparam("mail_id"))
                .values(status="failed", smtp_reply=bindparam("reply"), last_error=bindparam("reply"),
                        claimed_until=None),
                [{"mail_id": r.mail.id, "reply": r.reply} for r in failed],
            )
            for r in failed:
                log.error("mail.failed", mail_id=r.mail.id, to=r.mail.to_address, reply=r.reply)
        await _addresses(session, now, done, failed)
        await _notice_deliveries(ctx, session, now, done, failed)


async def _addresses(session: AsyncSession, now: datetime, done: Sequence[Result], failed: Sequence[Result]) -> None:
    sent_to = sorted({r.mail.to_address for r in done if r.outcome == "sent" and r.mail.address_failing})
    if sent_to:
        await session.execute(
            update(addresses).where(addresses.c.email.in_(sent_to), addresses.c.status == "failing")
            .values(status="ok", updated_at=now)
        )
    for r in failed:
        values = {"status": "failing", "reply": r.reply, "failed_at": now, "updated_at": now}
        await session.execute(insert_ignoring_duplicates(session, addresses).values(email=r.mail.to_address, **values))
        await session.execute(update(addresses).where(addresses.c.email == r.mail.to_address).values(**values))


async def _notice_deliveries(ctx: ServiceContext, session: AsyncSession, now: datetime, done: Sequence[Result],
                             failed: Sequence[Result]) -> None:
    first = [r for r in done if r.mail.notice_id and r.mail.kind in FIRST_SEND_KINDS]
    refused = [r for r in failed if r.mail.notice_id]
    if not first and not refused:
        return
    notice_ids = sorted({r.mail.notice_id for r in (*first, *refused) if r.mail.notice_id})
    info = {row.id: row for row in await session.execute(
        select(notices.c.id, notices.c.client_id, notices.c.contract_id).where(notices.c.id.in_(notice_ids)))}
    case_ids: dict[str, list[str]] = {}
    lines = select(notice_items.c.notice_id, notice_items.c.case_id).where(
        notice_items.c.notice_id.in_(notice_ids), notice_items.c.status == "active")
    for row in await session.execute(lines):
        if row.case_id and row.case_id not in case_ids.setdefault(row.notice_id, []):
            case_ids[row.notice_id].append(row.case_id)
    for r in first:
        assert r.mail.notice_id is not None
        updated = await session.execute(
            update(notice_recipients)
            .where(notice_recipients.c.notice_id == r.mail.notice_id, notice_recipients.c.email == r.mail.to_address,
                   notice_recipients.c.first_sent_at.is_(None))
            .values(first_sent_at=now, status=("delivered" if r.outcome == "sent" else "kept"), reply=r.reply)
        )
        notice = info.get(r.mail.notice_id)
        if updated.rowcount and notice is not None:  # type: ignore[attr-defined]
            await ctx.messaging.emit(session, NOTICE_SENT, NoticeSent(
                notice_id=notice.id, client_id=notice.client_id, contract_id=notice.contract_id,
                case_ids=case_ids.get(notice.id, []), recipient=r.mail.to_address, sent_at=now,
                delivery="smtp" if r.outcome == "sent" else "local").model_dump(mode="json"))
    for r in refused:
        assert r.mail.notice_id is not None
        updated = await session.execute(
            update(notice_recipients)
            .where(notice_recipients.c.notice_id == r.mail.notice_id, notice_recipients.c.email == r.mail.to_address,
                   notice_recipients.c.status != "failing", notice_recipients.c.confirmed_at.is_(None))
            .values(status="failing", reply=r.reply)
        )
        notice = info.get(r.mail.notice_id)
        if updated.rowcount and notice is not None:  # type: ignore[attr-defined]
            await ctx.messaging.emit(session, NOTICE_FAILED, NoticeFailed(
                notice_id=notice.id, client_id=notice.client_id, contract_id=notice.contract_id,
                case_ids=case_ids.get(notice.id, []), recipient=r.mail.to_address, reply=r.reply,
                failed_at=now).model_dump(mode="json"))


class Stopped:
    """Whether any of the recording tasks stopped (while sending, only by failing)."""

    def __init__(self, tasks: list[asyncio.Task[None]]) -> None:
        self.tasks = tasks

    def done(self) -> bool:
        return any(task.done() for task in self.tasks)


class Dispatcher:
    """Claims due mails and sends them over the mailer's connections; results are committed in groups while
    the next mails are on the wire (group commit)."""

    def __init__(self, ctx: ServiceContext, mailer: SmtpMailer) -> None:
        self.ctx = ctx
        self.mailer = mailer
        self.worker = worker_name()
        self.batch = 25 * max(len(mailer.connections), 1)

    async def dispatch_once(self) -> int:
        """Deliver what is due until nothing is left: claims batch after batch while the connections send
        (a batch is claimed as the previous one is taken), outcomes committed in groups meanwhile. Returns how
        many mails were handled (0: nothing was due)."""
        claimed = await claim(self.ctx, limit=self.batch, worker=self.worker)
        if not claimed:
            return 0
        failing = await failing_addresses(self.ctx)  # asked only when there is mail to send
        for mail in claimed:
            mail.address_failing = mail.to_address in failing
        if not self.mailer.configured:
            await record(self.ctx, [Result(m, "kept", "kept in the local outbox (no SMTP server configured)")
                                    for m in claimed])
            return len(claimed)
        settings = self.ctx.settings
        connections = len(self.mailer.connections)
        queue: asyncio.Queue[tuple[Claimed, float] | None] = asyncio.Queue(maxsize=self.batch)
        results: list[Result] = []
        unrecorded = [0] * connections  # accepted by the server, not yet committed as sent
        ready = asyncio.Event()
        recorded = asyncio.Condition()
        handled = 0
        sending = True

        async def feeder(first: list[Claimed]) -> None:
            batch = first
            try:
                while batch:
                    # A mail may be sent only while its claim holds, leaving time for one SMTP exchange.
                    deadline = time.monotonic() + settings.mail_claim_seconds - settings.smtp_timeout
                    for mail in batch:
                        await queue.put((mail, deadline))
                    if flush.done():
                        return
                    batch = await claim(self.ctx, limit=self.batch, worker=self.worker, failing=failing)
            finally:
                for _ in range(connections):
                    await queue.put(None)

        async def sender(index: int) -> None:
            nonlocal handled
            connection = self.mailer.connections[index]
            sender_address = self.mailer.envelope_sender
            while (item := await queue.get()) is not None:
                mail, deadline = item
                # The crash window: a connection goes ahead only while few of its 250s wait for their commit.
                async with recorded:
                    await recorded.wait_for(lambda: unrecorded[index] < UNRECORDED_PER_CONNECTION or flush.done())
                if flush.done() or time.monotonic() > deadline:
                    continue  # left to the reaper: recording failed, or the claim runs out
                try:
                    outcome: SendResult = await connection.send(sender_address, mail.to_address, mail.raw)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # an unexpected error is a reason to retry later, never to stop
                    log.exception("mail.send_crashed", mail_id=mail.id)
                    outcome = SendResult("retry", f"{type(exc).__name__}: {exc}")
                unrecorded[index] += 1
                handled += 1
                results.append(Result(mail, outcome.outcome, outcome.reply, index))
                ready.set()

        async def flusher() -> None:
            while sending or results:
                if not results:
                    ready.clear()
                    await ready.wait()
                    continue
                if sending and len(results) < self.batch:
                    await asyncio.sleep(GROUP_SECONDS)  # gather a group: fewer, larger commits
                group = results[:]
                del results[:len(group)]
                await record(self.ctx, group)
                for result in group:
                    unrecorded[result.connection] -= 1
                async with recorded:
                    recorded.notify_all()

        # A few groups commit at once: the commit's round trips, not its work, set the pace.
        flushers = [asyncio.create_task(flusher()) for _ in range(FLUSHERS)]
        flush = Stopped(flushers)
        try:
            await asyncio.gather(feeder(claimed), *(sender(i) for i in range(connections)))
        finally:
            sending = False
            ready.set()
            await asyncio.gather(*flushers)
        return handled

    async def run(self) -> None:
        """The loop: woken when mail is written (this process) or every few seconds (mail of other processes,
        retries falling due, claims of a dead process expiring)."""
        signal = mail_signal(self.ctx)
        last_reap = last_sent = 0.0
        try:
            while True:
                if time.monotonic() - last_reap > min(self.ctx.settings.mail_claim_seconds / 4, 30.0):
                    await reap_expired_claims(self.ctx)
                    last_reap = time.monotonic()
                if await self.dispatch_once():
                    last_sent = time.monotonic()
                    continue
                if time.monotonic() - last_sent > IDLE_CONNECTION_SECONDS:
                    await self.mailer.close()  # nothing to send for a while: let the server's connections go
                signal.clear()
                try:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for drops a stop's cancellation that comes with
                    # the wake-up (a mail written), and this loop would outlive its stop
                    async with asyncio.timeout(self.ctx.settings.mail_poll_seconds):
                        await signal.wait()
                except TimeoutError:
                    pass
        finally:
            await self.mailer.close()


async def release_own_claims_on_start(ctx: ServiceContext) -> None:
    """Embedded (SQLite: one process), mails left `sending` by a previous run go straight back to the queue."""
    if ctx.db.is_sqlite:
        async with ctx.db.transaction() as session:
            await session.execute(update(mails).where(mails.c.status == "sending").values(status="pending"))


async def mail_dispatcher(ctx: ServiceContext) -> None:
    """Background loop of the notifier service."""
    await release_own_claims_on_start(ctx)
    await Dispatcher(ctx, SmtpMailer(ctx.settings)).run()
