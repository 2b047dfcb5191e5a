"""In-memory bus for the embedded mode: the same at-least-once contract as RabbitMQ, inside one process.

Messages cross it as bytes (serialized envelopes), so nothing shares objects with the producer; each queue
is consumed by its own task; a failing handler gets the message again after a delay, and after the last
attempt the message is dead-lettered (kept in `dead_letters`, logged).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.common.bus import Handler, topic_matches
from services.common.log import bound, get_logger
from services.common.messages import Envelope

log = get_logger(__name__)


@dataclass
class _Queue:
    name: str
    keys: tuple[str, ...]
    handler: Handler
    items: asyncio.Queue[tuple[bytes, int]] = field(default_factory=asyncio.Queue)
    pending_retries: int = 0
    task: asyncio.Task[None] | None = None


class InMemoryBus:
    def __init__(self, *, max_attempts: int = 5, retry_delay: float = 1.0) -> None:
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self._queues: dict[str, _Queue] = {}
        self.dead_letters: list[tuple[str, Envelope, str]] = []
        self.published: int = 0

    async def start(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def publish(self, envelope: Envelope) -> None:
        body = envelope.to_bytes()
        self.published += 1
        for queue in self._queues.values():
            if any(topic_matches(key, envelope.type) for key in queue.keys):
                queue.items.put_nowait((body, 1))

    async def subscribe(self, queue: str, keys: Sequence[str], handler: Handler) -> None:
        if queue in self._queues:
            raise ValueError(f"queue {queue!r} already has a consumer in this process")
        q = _Queue(name=queue, keys=tuple(keys), handler=handler)
        q.task = asyncio.create_task(self._consume(q), name=f"bus-consumer-{queue}")
        self._queues[queue] = q

    async def _consume(self, queue: _Queue) -> None:
        while True:
            body, attempt = await queue.items.get()
            try:
                await self._deliver(queue, body, attempt)
            finally:
                queue.items.task_done()

    async def _deliver(self, queue: _Queue, body: bytes, attempt: int) -> None:
        envelope = Envelope.from_bytes(body)
        with bound(correlation_id=envelope.correlation_id, queue=queue.name, message_id=str(envelope.id)):
            try:
                await queue.handler(envelope)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt >= self.max_attempts:
                    log.error("bus.dead_lettered", type=envelope.type, attempts=attempt, error=repr(exc))
                    self.dead_letters.append((queue.name, envelope, repr(exc)))
                    return
                log.warning("bus.redeliver", type=envelope.type, attempt=attempt, error=repr(exc), exc_info=True)
                queue.pending_retries += 1
                asyncio.get_running_loop().call_later(self.retry_delay, self._requeue, queue, body, attempt + 1)

    @staticmethod
    def _requeue(queue: _Queue, body: bytes, attempt: int) -> None:
        queue.pending_retries -= 1
        queue.items.put_nowait((body, attempt))

    def idle(self) -> bool:
        """True when no queue holds, is handling or is about to retry a message."""
        return all(q.items._unfinished_tasks == 0 and q.pending_retries == 0 for q in self._queues.values())  # type: ignore[attr-defined]

    async def close(self) -> None:
        for queue in self._queues.values():
            if queue.task is not None:
                queue.task.cancel()
        await asyncio.gather(*(q.task for q in self._queues.values() if q.task), return_exceptions=True)
        self._queues.clear()
