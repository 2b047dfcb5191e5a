"""The embedded mode's bus: RabbitMQ's contract inside one process, every message kept in `data/bus.db`.

What it guarantees, across a clean stop, a SIGKILL or a power cut alike: a published message reaches every
queue bound to its type (one queue per consuming service) and stays in that queue until the queue's handler
has returned; a handler that raises gets the message again after a delay, up to `max_attempts`, then the
message is moved to the dead letters, which are kept (and counted, and listed) across restarts. Delivery is
at least once per queue; the consumer's inbox makes a repeat harmless.

How: the bus is a small durable broker of its own. `publish_many` writes one row per (message, bound queue)
to its SQLite file and returns once that transaction is committed with `synchronous=FULL` (the broker's
confirm: only then does the outbox relay mark its rows published). Each queue is consumed by its own task
from memory; the row is deleted once the handler returned. On start the rows still there are delivered
again, in their order. The queues' bindings are stored too, so a message published while its consumer is not
yet subscribed (start-up, or a consumer that failed to start) waits in its queue as it would on RabbitMQ.

Why this design and not "the relay marks an outbox row published once every consumer handled it": that
would keep the per-consumer state in every service's outbox (a migration of all five services, and a write
to the producer's database for each consumer's completion), and dead letters would still need a home of
their own. A bus-owned file keeps the bus's promises inside the bus, like RabbitMQ's, and the services'
tables as they are.

Throughput: one writer task commits whatever has accumulated in one transaction (group commit): the
relays' publishes (each relay waits for its batch's commit), and the acks, retries and dead letters, which
nobody waits for. An ack lost in a crash only means one more delivery, which the inbox absorbs.

Batches (`subscribe(..., batching=Batching(...))`): the queue's task takes what is waiting in its queue, up to
`size` (waiting up to `linger` for more), hands the batch to the batch handler and acknowledges every message
once it returned; if it raised, the messages go one by one through the one-message handler (retries, dead
letters). A retry (attempt > 1) is always handled alone.

Without a `path` the messages live in memory only and are lost when the process ends: for tests and tools
that run one service (benchmarks); the embedded system always gives the file.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

from services.common.bus import Batching, DeadLetter, Handler, topic_matches
from services.common.log import bound, get_logger
from services.common.messages import Envelope

log = get_logger(__name__)

T = TypeVar("T")
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE bindings (
    queue TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (queue, key)
);
-- One row per message per bound queue, until that queue's handler has returned (or it is dead-lettered).
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,         -- the order of delivery
    queue TEXT NOT NULL,
    body BLOB NOT NULL,             -- the serialized envelope
    attempt INTEGER NOT NULL,       -- the attempt the next delivery is
    not_before REAL NOT NULL,       -- a retry waits until then (Unix time)
    last_error TEXT
);
CREATE INDEX messages_by_queue ON messages (queue, id);
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    type TEXT NOT NULL,
    body BLOB NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT NOT NULL,
    dead_at TEXT NOT NULL           -- ISO 8601, UTC
);
CREATE INDEX dead_letters_by_queue ON dead_letters (queue, id);
"""


@dataclass(frozen=True)
class _Delivery:
    id: int
    queue: str
    body: bytes
    attempt: int = 1
    not_before: float = 0.0
    last_error: str = ""


@dataclass
class _Writes:
    """What the next journal transaction does."""

    published: list[_Delivery] = field(default_factory=list)
    retried: list[_Delivery] = field(default_factory=list)
    dead: list[tuple[_Delivery, str, str, str, str]] = field(default_factory=list)  # delivery, id, type, error, at
    acked: list[int] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def keep(self, failed: _Writes) -> None:
        """After a failed write: what nobody waits for goes again with the next one (publishes were refused)."""
        self.retried[:0] = failed.retried
        self.dead[:0] = failed.dead
        self.acked[:0] = failed.acked

    def __bool__(self) -> bool:
        return bool(self.published or self.retried or self.dead or self.acked or self.waiters)


class _Journal(Protocol):
    """Where the bus keeps its queues; the methods block (the file's run in the bus's own thread)."""

    def open(self) -> tuple[dict[str, tuple[str, ...]], int]:
        """The stored bindings and the next free message id."""

    def bind(self, queue: str, keys: tuple[str, ...]) -> None: ...

    def write(self, writes: _Writes) -> None:
        """Apply the writes in one transaction, durably."""

    def backlog(self, queue: str) -> list[_Delivery]:
        """The queue's messages, in order."""

    def dead_letters(self, queue: str | None) -> list[DeadLetter]: ...

    def dead_letter_count(self) -> dict[str, int]: ...

    def revive(self, queue: str, message_ids: Sequence[str] | None, ids: Sequence[int]) -> list[_Delivery]:
        """In one transaction: the queue's dead letters (those with these message ids) deleted and stored again
        as messages of the queue, numbered from `ids` (as many as there are ids at most)."""

    def close(self) -> None: ...


class _SqliteJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"the bus file {self.path} is not open")
        return self._conn

    def open(self) -> tuple[dict[str, tuple[str, ...]], int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        # A commit is the publisher's confirm: it must be on disk, not only in the OS cache, when it returns.
        conn.execute("PRAGMA synchronous=FULL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            conn.executescript(f"BEGIN IMMEDIATE; {SCHEMA}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        elif version != SCHEMA_VERSION:
            conn.close()
            raise RuntimeError(f"{self.path} has bus schema {version}; this Terminarz knows {SCHEMA_VERSION}")
        self._conn = conn
        bindings: dict[str, list[str]] = {}
        for queue, key in conn.execute("SELECT queue, key FROM bindings ORDER BY queue, key"):
            bindings.setdefault(queue, []).append(key)
        last = conn.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0]
        return {q: tuple(keys) for q, keys in bindings.items()}, last + 1

    def bind(self, queue: str, keys: tuple[str, ...]) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM bindings WHERE queue = ?", (queue,))
            conn.executemany("INSERT INTO bindings (queue, key) VALUES (?, ?)", [(queue, k) for k in keys])

    def write(self, writes: _Writes) -> None:
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO messages (id, queue, body, attempt, not_before) VALUES (?, ?, ?, ?, ?)",
                [(d.id, d.queue, d.body, d.attempt, d.not_before) for d in writes.published])
            conn.executemany(
                "UPDATE messages SET attempt = ?, not_before = ?, last_error = ? WHERE id = ?",
                [(d.attempt, d.not_before, d.last_error, d.id) for d in writes.retried])
            conn.executemany(
                "INSERT INTO dead_letters (queue, message_id, type, body, attempts, error, dead_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(d.queue, message_id, type_, d.body, d.attempt, error, at)
                 for d, message_id, type_, error, at in writes.dead])
            conn.executemany("DELETE FROM messages WHERE id = ?",
                             [(d.id,) for d, *_ in writes.dead] + [(i,) for i in writes.acked])

    def backlog(self, queue: str) -> list[_Delivery]:
        rows = self.conn.execute(
            "SELECT id, body, attempt, not_before FROM messages WHERE queue = ? ORDER BY id", (queue,))
        return [_Delivery(id_, queue, bytes(body), attempt, not_before) for id_, body, attempt, not_before in rows]

    def dead_letters(self, queue: str | None) -> list[DeadLetter]:
        query = "SELECT queue, message_id, type, body, attempts, error, dead_at FROM dead_letters"
        rows = (self.conn.execute(query + " WHERE queue = ? ORDER BY id", (queue,)) if queue is not None
                else self.conn.execute(query + " ORDER BY id"))
        return [DeadLetter(q, mid, type_, bytes(body), attempts, error, datetime.fromisoformat(at))
                for q, mid, type_, body, attempts, error, at in rows]

    def dead_letter_count(self) -> dict[str, int]:
        counts = dict.fromkeys((q for (q,) in self.conn.execute("SELECT DISTINCT queue FROM bindings")), 0)
        for queue, count in self.conn.execute("SELECT queue, count(*) FROM dead_letters GROUP BY queue"):
            counts[queue] = count
        return counts

    def revive(self, queue: str, message_ids: Sequence[str] | None, ids: Sequence[int]) -> list[_Delivery]:
        with self._transaction() as conn:
            rows = conn.execute("SELECT id, message_id, body FROM dead_letters WHERE queue = ? ORDER BY id",
                                (queue,)).fetchall()
            wanted = set(message_ids) if message_ids is not None else None
            chosen = [r for r in rows if wanted is None or r[1] in wanted][:len(ids)]
            revived = [_Delivery(id_, queue, bytes(body)) for id_, (_, _, body) in zip(ids, chosen, strict=False)]
            conn.executemany("DELETE FROM dead_letters WHERE id = ?", [(r[0],) for r in chosen])
            conn.executemany(
                "INSERT INTO messages (id, queue, body, attempt, not_before) VALUES (?, ?, ?, ?, ?)",
                [(d.id, d.queue, d.body, d.attempt, d.not_before) for d in revived])
        return revived

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _transaction(self) -> _Tx:
        return _Tx(self.conn)


class _Tx:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on error (the connection is in autocommit mode)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


class _MemoryJournal:
    """No file: the queues of messages no live consumer holds yet, and the dead letters, until the process ends."""

    def __init__(self) -> None:
        self.bindings: dict[str, tuple[str, ...]] = {}
        self.messages: dict[int, _Delivery] = {}
        self.dead: list[DeadLetter] = []

    def open(self) -> tuple[dict[str, tuple[str, ...]], int]:
        return dict(self.bindings), max(self.messages, default=0) + 1

    def bind(self, queue: str, keys: tuple[str, ...]) -> None:
        self.bindings[queue] = keys

    def write(self, writes: _Writes) -> None:
        for d in writes.published:
            self.messages[d.id] = d
        for d in writes.retried:
            if d.id in self.messages:
                self.messages[d.id] = d
        for d, message_id, type_, error, at in writes.dead:
            self.messages.pop(d.id, None)
            self.dead.append(DeadLetter(d.queue, message_id, type_, d.body, d.attempt, error,
                                        datetime.fromisoformat(at)))
        for id_ in writes.acked:
            self.messages.pop(id_, None)

    def backlog(self, queue: str) -> list[_Delivery]:
        return sorted((d for d in self.messages.values() if d.queue == queue), key=lambda d: d.id)

    def dead_letters(self, queue: str | None) -> list[DeadLetter]:
        return [d for d in self.dead if queue is None or d.queue == queue]

    def dead_letter_count(self) -> dict[str, int]:
        counts = dict.fromkeys(self.bindings, 0)
        for d in self.dead:
            counts[d.queue] = counts.get(d.queue, 0) + 1
        return counts

    def revive(self, queue: str, message_ids: Sequence[str] | None, ids: Sequence[int]) -> list[_Delivery]:
        wanted = set(message_ids) if message_ids is not None else None
        chosen = [d for d in self.dead if d.queue == queue and (wanted is None or d.message_id in wanted)]
        chosen = chosen[:len(ids)]
        self.dead = [d for d in self.dead if all(d is not c for c in chosen)]
        revived = [_Delivery(id_, queue, d.body) for id_, d in zip(ids, chosen, strict=False)]
        for d in revived:
            self.messages[d.id] = d
        return revived

    def close(self) -> None:
        return None


@dataclass(eq=False)
class _Queue:
    name: str
    handler: Handler
    batching: Batching | None = None
    items: asyncio.Queue[_Delivery] = field(default_factory=asyncio.Queue)
    unfinished: int = 0  # waiting in `items`, being handled, or waiting for a retry
    busy: bool = False
    loading: bool = True  # reading its backlog: new messages wait in `arrived`
    arrived: list[_Delivery] = field(default_factory=list)
    timers: set[asyncio.TimerHandle] = field(default_factory=set)
    task: asyncio.Task[None] | None = None


class InMemoryBus:
    def __init__(self, *, path: Path | None = None, max_attempts: int = 5, retry_delay: float = 1.0,
                 close_grace: float = 10.0) -> None:
        self.path = path
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        # How long `close` lets a running handler finish before cancelling it (its transaction then rolls back).
        self.close_grace = close_grace
        self._journal: _Journal = _SqliteJournal(path) if path is not None else _MemoryJournal()
        self._executor: ThreadPoolExecutor | None = None  # the file's own thread, while started
        self._bindings: dict[str, tuple[str, ...]] = {}
        self._queues: dict[str, _Queue] = {}
        self._next_id = 1
        self._writes = _Writes()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()
        self._publishing = 0
        self._writing = False  # a batch of writes (acks, retries, dead letters) is being committed
        self._closing = False

    # --- the Bus protocol ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the file: the stored bindings route from now on; stored messages wait for their consumer."""
        async with self._start_lock:
            if self._writer is not None:
                return
            if self.path is not None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="bus-journal")
            self._bindings, self._next_id = await self._call(self._journal.open)
            self._closing = False
            self._writer = asyncio.create_task(self._write_loop(), name="bus-journal-writer")

    async def ping(self) -> None:
        if self._writer is None or self._writer.done():
            raise ConnectionError(f"the embedded bus is not running ({self.path or 'memory'})")

    async def publish(self, envelope: Envelope) -> None:
        await self.publish_many([envelope])

    async def publish_many(self, envelopes: Sequence[Envelope]) -> None:
        """Store a copy for every bound queue; returns once that is committed. A type no queue is bound to is
        dropped, as a topic exchange drops what no queue is bound to."""
        await self._started()
        rows: list[_Delivery] = []
        for envelope in envelopes:
            body = envelope.to_bytes()
            for queue in self._route(envelope.type):
                rows.append(_Delivery(self._next_id, queue, body))
                self._next_id += 1
        if not rows:
            return
        confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writes.published.extend(rows)
        self._writes.waiters.append(confirmed)
        self._publishing += 1
        self._wake.set()
        try:
            await confirmed
        finally:
            self._publishing -= 1

    async def subscribe(self, queue: str, keys: Sequence[str], handler: Handler,
                        batching: Batching | None = None) -> None:
        """Bind the queue to the keys (stored) and consume it: first what is stored, in order, then new messages
        (in batches, with `batching`)."""
        await self._started()
        if queue in self._queues:
            raise ValueError(f"queue {queue!r} already has a consumer in this process")
        await self.bind(queue, keys)
        q = _Queue(name=queue, handler=handler, batching=batching)
        self._queues[queue] = q
        stored = await self._call(self._journal.backlog, queue)
        seen = {d.id for d in stored}
        backlog = stored + [d for d in q.arrived if d.id not in seen]  # committed while the backlog was read
        q.loading, q.arrived = False, []
        if stored:
            log.info("bus.backlog", queue=queue, messages=len(stored))
        for delivery in sorted(backlog, key=lambda d: d.id):
            self._enqueue(q, delivery)
        q.task = asyncio.create_task(self._consume(q), name=f"bus-consumer-{queue}")

    async def close(self) -> None:
        """Stop consuming: a handler in progress may finish (`close_grace`), then it is cancelled and its
        message stays stored; what was handled is acknowledged in the file before it is closed."""
        self._closing = True
        queues = list(self._queues.values())
        for q in queues:
            for timer in q.timers:
                timer.cancel()
            if q.task is not None and not q.busy:
                q.task.cancel()
        tasks = [q.task for q in queues if q.task is not None]
        if tasks:
            _, running = await asyncio.wait(tasks, timeout=self.close_grace)
            for task in running:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._queues.clear()
        if self._writer is not None:
            try:
                await self._flush()
            except Exception:
                log.exception("bus.final_write_failed", path=str(self.path))
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
            await self._call(self._journal.close)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def dead_letter_count(self) -> dict[str, int]:
        """Dead letters per consumer queue (every bound queue, 0 included)."""
        await self._started()
        return await self._call(self._journal.dead_letter_count)

    # --- embedded only -------------------------------------------------------------------------------

    async def bind(self, queue: str, keys: Sequence[str]) -> None:
        """Declare a queue and its bindings without consuming it: from now on it keeps what it is sent."""
        await self._started()
        wanted = tuple(sorted(set(keys)))
        if self._bindings.get(queue) != wanted:
            await self._call(self._journal.bind, queue, wanted)
            self._bindings[queue] = wanted

    async def dead_letters(self, queue: str | None = None, limit: int | None = None) -> list[DeadLetter]:
        """The dead letters (of one queue; the oldest `limit`), oldest first."""
        await self._started()
        found = await self._call(self._journal.dead_letters, queue)
        return found if limit is None else found[:limit]

    async def retry_dead_letters(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        """The queue's dead letters (those with these ids) become its messages again, attempt 1, in one
        transaction of the file; delivered at once when the queue has its consumer here, else on its start."""
        await self._started()
        candidates = await self._call(self._journal.dead_letters, queue)
        if message_ids is not None:
            candidates = [d for d in candidates if d.message_id in set(message_ids)]
        if not candidates:
            return 0
        # Numbers reserved now, in the loop, so a publish meanwhile cannot take them.
        ids = list(range(self._next_id, self._next_id + len(candidates)))
        self._next_id += len(candidates)
        revived = await self._call(self._journal.revive, queue, message_ids, ids)
        q = self._queues.get(queue)
        if q is not None:
            for delivery in revived:
                self._enqueue(q, delivery)
        log.info("bus.dead_letters_retried", queue=queue, messages=len(revived))
        return len(revived)

    def idle(self) -> bool:
        """True when no publish waits for its commit, no queue holds, is handling or will retry a message, and
        every ack, retry and dead letter is committed (a dead letter is listed once `idle` says so)."""
        return (self._publishing == 0 and not self._writes and not self._writing
                and all(q.unfinished == 0 and not q.loading for q in self._queues.values()))

    # --- inside ---------------------------------------------------------------------------------------

    def _route(self, type_: str) -> list[str]:
        return [queue for queue, keys in self._bindings.items() if any(topic_matches(k, type_) for k in keys)]

    async def _started(self) -> None:
        """Started on first use (tests and tools skip `start`); never silently again after `close`."""
        if self._writer is None:
            if self._closing:
                raise RuntimeError("the embedded bus is closed")
            await self.start()

    async def _call(self, fn: Callable[..., T], *args: object) -> T:
        if self._executor is None:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _flush(self) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writes.waiters.append(done)
        self._wake.set()
        await done

    async def _write_loop(self) -> None:
        """Commit what accumulated, in one transaction, then hand the published messages to their queues."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            writes, self._writes = self._writes, _Writes()
            if not writes:
                continue
            self._writing = True
            try:
                await self._call(self._journal.write, writes)
            except Exception as exc:
                log.exception("bus.write_failed", path=str(self.path), published=len(writes.published))
                for waiter in writes.waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                self._writes.keep(writes)
                self._writing = False
                await asyncio.sleep(1.0)
                self._wake.set()
                continue
            self._writing = False
            for waiter in writes.waiters:
                if not waiter.done():
                    waiter.set_result(None)
            for delivery in writes.published:
                q = self._queues.get(delivery.queue)
                if q is not None:
                    self._enqueue(q, delivery)

    def _enqueue(self, q: _Queue, delivery: _Delivery) -> None:
        if q.loading:
            q.arrived.append(delivery)
            return
        q.unfinished += 1
        delay = delivery.not_before - time.time()
        if delay <= 0:
            q.items.put_nowait(delivery)
            return
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None

        def due() -> None:
            if timer is not None:
                q.timers.discard(timer)
            q.items.put_nowait(delivery)

        timer = loop.call_later(delay, due)
        q.timers.add(timer)

    async def _consume(self, q: _Queue) -> None:
        while not self._closing:
            delivery = await q.items.get()
            taken = [delivery]
            if q.batching is not None and delivery.attempt == 1:
                await self._take_more(q, q.batching, taken)
            q.busy = True
            try:
                if len(taken) == 1:
                    await self._deliver(q, delivery)
                else:
                    # A retry is handled alone: it already failed once, maybe in a batch.
                    await self._deliver_batch(q, [d for d in taken if d.attempt == 1])
                    for retry in (d for d in taken if d.attempt > 1):
                        await self._deliver(q, retry)
            finally:
                q.busy = False
                q.unfinished -= len(taken)

    async def _take_more(self, q: _Queue, batching: Batching, taken: list[_Delivery]) -> None:
        """Add what is waiting in the queue to `taken`, up to the batch size, waiting up to the linger for more."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + batching.linger
        while len(taken) < batching.size:
            try:
                taken.append(q.items.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for drops a cancellation that comes with a message
                async with asyncio.timeout(remaining):
                    taken.append(await q.items.get())
            except TimeoutError:
                return

    async def _deliver_batch(self, q: _Queue, deliveries: list[_Delivery]) -> None:
        """The batch handler for all of them, then every one acknowledged; if it raised, one by one."""
        assert q.batching is not None
        envelopes: list[Envelope] = []
        good: list[_Delivery] = []
        for delivery in deliveries:
            try:
                envelopes.append(Envelope.from_bytes(delivery.body))
                good.append(delivery)
            except ValueError as exc:  # not an envelope: it would fail every time
                self._dead(delivery, "", "", exc)
        if not good:
            return
        with bound(queue=q.name, batch=len(good)):
            try:
                await q.batching.handler(envelopes)
            except asyncio.CancelledError:
                raise  # closing: none of them acknowledged, all delivered again on the next start
            except Exception as exc:
                log.warning("bus.batch_failed", messages=len(good), error=repr(exc), exc_info=True)
                for delivery in good:
                    await self._deliver(q, delivery)
                return
        self._writes.acked.extend(d.id for d in good)
        self._wake.set()

    async def _deliver(self, q: _Queue, delivery: _Delivery) -> None:
        try:
            envelope = Envelope.from_bytes(delivery.body)
        except ValueError as exc:  # not an envelope: it would fail every time
            self._dead(delivery, "", "", exc)
            return
        with bound(correlation_id=envelope.correlation_id, queue=q.name, message_id=str(envelope.id)):
            try:
                await q.handler(envelope)
            except asyncio.CancelledError:
                raise  # closing: not acknowledged, it is delivered again on the next start
            except Exception as exc:
                if delivery.attempt >= self.max_attempts:
                    self._dead(delivery, str(envelope.id), envelope.type, exc)
                    return
                log.warning("bus.redeliver", type=envelope.type, attempt=delivery.attempt, error=repr(exc),
                            delay_s=self.retry_delay, exc_info=True)
                retry = replace(delivery, attempt=delivery.attempt + 1, not_before=time.time() + self.retry_delay,
                                last_error=repr(exc)[:1000])
                self._writes.retried.append(retry)
                self._wake.set()
                self._enqueue(q, retry)
                return
        self._writes.acked.append(delivery.id)
        self._wake.set()

    def _dead(self, delivery: _Delivery, message_id: str, type_: str, exc: Exception) -> None:
        log.error("bus.dead_lettered", queue=delivery.queue, type=type_, message_id=message_id,
                  attempts=delivery.attempt, error=repr(exc))
        self._writes.dead.append((delivery, message_id, type_, repr(exc)[:1000], datetime.now(UTC).isoformat()))
        self._wake.set()
