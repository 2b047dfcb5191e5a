"""The RabbitMQ bus (distributed mode): a durable topic exchange, quorum queues, delayed retries, a DLX."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from services.common.bus import Batching, DeadLetter, Handler
from services.common.log import bound, get_logger
from services.common.messages import Envelope

log = get_logger(__name__)

ATTEMPT_HEADER = "x-attempt"


class RabbitBus:
    """Topology per subscribed queue Q (P = queue_prefix, E = exchange):

    - E (topic, durable): every event, routing key = envelope type.
    - P.Q (quorum): bound to E with the service's keys; consumed with manual ack.
    - P.Q.retry (quorum, x-message-ttl = retry delay): a failed message is republished here with
      `x-attempt` + 1 and the original acked; on expiry the broker dead-letters it back to P.Q through
      the default exchange. A copy per queue, so a retry never reaches the other services bound to E.
    - E.dlx (direct, durable) -> P.Q.dead (quorum, routing key P.Q): where a message ends after
      max_attempts, and where the broker sends a message P.Q returned more than max_attempts times
      (x-delivery-limit: a message that kills its consumer, or one we could not reroute).

    With `batching`, the consumer callback only queues the delivery; one task per subscription takes what is
    queued (prefetch at least twice the batch size, so the next batch arrives while one is handled), runs the
    batch handler, then acks each message. A batch that fails goes one by one through `_deliver`.
    """

    def __init__(self, url: str, *, exchange: str = "terminarz.events", queue_prefix: str = "terminarz",
                 prefetch: int = 16, max_attempts: int = 5, retry_delay_ms: int = 1000) -> None:
        self.url = url
        self.exchange_name = exchange
        self.dlx_name = f"{exchange}.dlx"
        self.queue_prefix = queue_prefix
        self.prefetch = prefetch
        self.max_attempts = max_attempts
        self.retry_delay_ms = retry_delay_ms
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._dlx: AbstractExchange | None = None
        self._consumers: list[tuple[AbstractChannel, AbstractQueue, str]] = []
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._batchers: list[asyncio.Task[None]] = []  # one per subscription with batching
        self._queues: list[str] = []  # the consumer queues subscribed through this bus, as named to `subscribe`

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(self.url)
        # Confirms make `publish` return only once the broker has the message (the outbox marks it sent then).
        self._channel = await self._connection.channel(publisher_confirms=True)
        declare = self._channel.declare_exchange
        self._exchange = await declare(self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        self._dlx = await declare(self.dlx_name, aio_pika.ExchangeType.DIRECT, durable=True)

    async def publish(self, envelope: Envelope) -> None:
        message = aio_pika.Message(
            body=envelope.to_bytes(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=str(envelope.id),
            type=envelope.type,
            correlation_id=envelope.correlation_id,
            timestamp=envelope.occurred_at,
            app_id=envelope.producer,
        )
        await self._started_exchange().publish(message, routing_key=envelope.type)

    async def publish_many(self, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            with bound(correlation_id=envelope.correlation_id):
                await self.publish(envelope)

    async def subscribe(self, queue: str, keys: Sequence[str], handler: Handler,
                        batching: Batching | None = None) -> None:
        if self._connection is None:
            raise RuntimeError("RabbitBus.subscribe called before start()")
        name = f"{self.queue_prefix}.{queue}"
        channel = await self._connection.channel(publisher_confirms=True)
        prefetch = self.prefetch if batching is None else max(self.prefetch, 2 * batching.size)
        await channel.set_qos(prefetch_count=prefetch)
        dead = await channel.declare_queue(f"{name}.dead", durable=True, arguments={"x-queue-type": "quorum"})
        await dead.bind(self.dlx_name, routing_key=name)
        main = await channel.declare_queue(name, durable=True, arguments={
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": self.dlx_name,
            "x-dead-letter-routing-key": name,
            "x-delivery-limit": self.max_attempts,
        })
        await channel.declare_queue(f"{name}.retry", durable=True, arguments={
            "x-queue-type": "quorum",
            "x-message-ttl": self.retry_delay_ms,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": name,
            # A retried message must not be lost on its way back; at-least-once needs reject-publish.
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        })
        for key in keys:
            await main.bind(self.exchange_name, routing_key=key)

        async def on_message(message: AbstractIncomingMessage) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._in_flight.add(task)
            try:
                await self._deliver(name, message, handler)
            finally:
                if task is not None:
                    self._in_flight.discard(task)

        if batching is not None:
            waiting: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

            async def queue_message(message: AbstractIncomingMessage) -> None:
                waiting.put_nowait(message)  # not acked: the batch task acks it after its batch committed

            self._batchers.append(asyncio.create_task(self._batches(name, waiting, handler, batching),
                                                      name=f"bus-batches-{name}"))
            tag = await main.consume(queue_message, no_ack=False)
        else:
            tag = await main.consume(on_message, no_ack=False)
        self._consumers.append((channel, main, tag))
        self._queues.append(queue)

    async def _batches(self, name: str, waiting: asyncio.Queue[AbstractIncomingMessage], handler: Handler,
                       batching: Batching) -> None:
        """Take batches from what the broker delivered, one batch at a time."""
        loop = asyncio.get_running_loop()
        while True:
            first = await waiting.get()
            taken = [first]
            if _attempt(first) == 1:
                await asyncio.sleep(0)  # let frames already received be dispatched
                deadline = loop.time() + batching.linger
                while len(taken) < batching.size:
                    if not waiting.empty():
                        taken.append(waiting.get_nowait())
                        continue
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        # asyncio.timeout, not wait_for: on 3.11 wait_for drops a cancellation that comes with a
                        # message, and this loop would outlive its close
                        async with asyncio.timeout(remaining):
                            taken.append(await waiting.get())
                    except TimeoutError:
                        break
            try:
                if len(taken) == 1:
                    await self._deliver(name, first, handler)
                else:
                    # A retry is handled alone: it already failed once, maybe in a batch.
                    await self._deliver_batch(name, [m for m in taken if _attempt(m) == 1], handler, batching)
                    for retry in (m for m in taken if _attempt(m) > 1):
                        await self._deliver(name, retry, handler)
            except asyncio.CancelledError:
                raise
            except Exception:  # acking or rerouting failed (connection lost): the broker redelivers them
                log.exception("bus.batch_delivery_failed", queue=name, messages=len(taken))

    async def _deliver_batch(self, name: str, messages: list[AbstractIncomingMessage], handler: Handler,
                             batching: Batching) -> None:
        envelopes: list[Envelope] = []
        good: list[AbstractIncomingMessage] = []
        for message in messages:
            try:
                envelopes.append(Envelope.from_bytes(message.body))
                good.append(message)
            except ValueError as exc:  # not an envelope: no retries
                await self._reroute(message, self._dead_letters(), name, 1, exc, dead=True)
        if not good:
            return
        with bound(queue=name, batch=len(good)):
            try:
                await batching.handler(envelopes)
            except asyncio.CancelledError:
                raise  # closing: no ack, the broker gives the messages to another consumer
            except Exception as exc:
                log.warning("bus.batch_failed", messages=len(good), error=repr(exc), exc_info=True)
                for message in good:
                    await self._deliver(name, message, handler)
                return
            # Only now, as for one message: a consumer that dies before this gets the whole batch redelivered.
            for message in good:
                await message.ack()

    async def _deliver(self, name: str, message: AbstractIncomingMessage, handler: Handler) -> None:
        attempt = _attempt(message)
        with bound(queue=name, message_id=message.message_id, attempt=attempt):
            try:
                envelope = Envelope.from_bytes(message.body)
            except ValueError as exc:
                # A body that is not an envelope will never succeed: no retries.
                await self._reroute(message, self._dead_letters(), name, attempt, exc, dead=True)
                return
            with bound(correlation_id=envelope.correlation_id):
                try:
                    await handler(envelope)
                except asyncio.CancelledError:
                    raise  # closing: no ack, the broker gives the message to another consumer
                except Exception as exc:
                    if attempt >= self.max_attempts:
                        await self._reroute(message, self._dead_letters(), name, attempt, exc, dead=True)
                    else:
                        retry = f"{name}.retry"
                        await self._reroute(message, self._direct(), retry, attempt + 1, exc, dead=False)
                    return
                # Only now: a consumer that dies before this line gets the message redelivered elsewhere.
                await message.ack()

    async def _reroute(self, message: AbstractIncomingMessage, exchange: AbstractExchange, routing_key: str,
                       attempt: int, exc: Exception, *, dead: bool) -> None:
        """Publish a confirmed copy to the retry queue or the dead-letter exchange, then ack the original."""
        if dead:
            log.error("bus.dead_lettered", message_id=message.message_id, type=message.type, attempts=attempt,
                      dead_letter_queue=f"{routing_key}.dead", error=repr(exc))
        else:
            log.warning("bus.retry_scheduled", type=message.type, next_attempt=attempt, error=repr(exc),
                        delay_ms=self.retry_delay_ms, exc_info=exc)
        copy = aio_pika.Message(
            body=message.body,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            type=message.type,
            correlation_id=message.correlation_id,
            timestamp=message.timestamp,
            app_id=message.app_id,
            headers={ATTEMPT_HEADER: attempt, "x-last-error": repr(exc)[:1000],
                     **({"x-dead-at": datetime.now(UTC).isoformat()} if dead else {}),
                     # After the first retry the delivery's routing key is the queue name, not the type.
                     "x-original-routing-key": (message.headers or {}).get("x-original-routing-key")
                     or message.routing_key or ""},
        )
        try:
            await exchange.publish(copy, routing_key=routing_key)
        except Exception:
            # Back to the queue as is; x-delivery-limit bounds how often this can repeat.
            log.exception("bus.reroute_failed", routing_key=routing_key)
            await message.nack(requeue=True)
            return
        await message.ack()

    def _started_exchange(self) -> AbstractExchange:
        if self._exchange is None:
            raise RuntimeError("RabbitBus used before start()")
        return self._exchange

    def _dead_letters(self) -> AbstractExchange:
        if self._dlx is None:
            raise RuntimeError("RabbitBus used before start()")
        return self._dlx

    def _direct(self) -> AbstractExchange:
        """The default exchange of the confirming channel: routes straight to a queue by its name."""
        if self._channel is None:
            raise RuntimeError("RabbitBus used before start()")
        return self._channel.default_exchange

    async def dead_letter_count(self) -> dict[str, int]:
        """Messages in P.Q.dead for each queue Q subscribed through this bus."""
        if self._connection is None:
            raise RuntimeError("RabbitBus used before start()")
        counts: dict[str, int] = {}
        channel = await self._connection.channel()
        try:
            for queue in self._queues:
                dead = await channel.declare_queue(f"{self.queue_prefix}.{queue}.dead", passive=True)
                counts[queue] = dead.declaration_result.message_count or 0
        finally:
            await channel.close()
        return counts

    async def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """The oldest `limit` of P.Q.dead. A queue cannot be read in place without counting a delivery (RabbitMQ 4
        drops a quorum queue's message after 20), so each message is taken and a confirmed copy put back at the
        end, all of them in turn (up to 1,000; beyond that the first 1,000 move behind the rest)."""
        found: list[DeadLetter] = []

        async def keep(message: AbstractIncomingMessage) -> bool:
            if len(found) < limit:
                found.append(_dead_letter(queue, message))
            return False

        await self._pass_over_dead_letters(queue, keep)
        return found

    async def retry_dead_letters(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        """Each chosen message of P.Q.dead goes back to P.Q as attempt 1 (confirmed, then removed from P.Q.dead);
        the others keep their order."""
        wanted = set(message_ids) if message_ids is not None else None

        async def chosen(message: AbstractIncomingMessage) -> bool:
            return wanted is None or (message.message_id or "") in wanted

        retried = await self._pass_over_dead_letters(queue, chosen)
        log.info("bus.dead_letters_retried", queue=queue, messages=retried)
        return retried

    async def _pass_over_dead_letters(self, queue: str,
                                      retry: Callable[[AbstractIncomingMessage], Awaitable[bool]]) -> int:
        if self._connection is None:
            raise RuntimeError("RabbitBus used before start()")
        name = f"{self.queue_prefix}.{queue}"
        channel = await self._connection.channel(publisher_confirms=True)
        retried = 0
        try:
            try:
                dead = await channel.declare_queue(f"{name}.dead", passive=True)
            except aio_pika.exceptions.ChannelClosed:
                return 0  # the queue was never declared: nothing was ever dead-lettered there
            waiting = min(dead.declaration_result.message_count or 0, 1000)
            for _ in range(waiting):
                message = await dead.get(no_ack=False, fail=False)
                if message is None:
                    break
                again = await retry(message)
                headers = dict(message.headers or {})
                if again:
                    headers[ATTEMPT_HEADER] = 1
                    await channel.default_exchange.publish(_copy(message, headers), routing_key=name)
                    retried += 1
                else:
                    await channel.default_exchange.publish(_copy(message, headers), routing_key=f"{name}.dead")
                await message.ack()
        finally:
            if not channel.is_closed:
                await channel.close()
        return retried

    async def ping(self) -> None:
        connection = self._connection
        if connection is None or connection.is_closed or not connection.connected.is_set():
            raise ConnectionError(f"RabbitMQ is not connected ({self.exchange_name})")

    async def close(self) -> None:
        for channel, queue, tag in self._consumers:
            try:
                if not channel.is_closed:
                    await queue.cancel(tag, timeout=5)
            except Exception:  # a broken connection must not keep the service from shutting down
                log.warning("bus.cancel_failed", queue=queue.name, exc_info=True)
        # Unfinished handlers never ack; closing their channel hands the messages back to the queue.
        for task in [*self._in_flight, *self._batchers]:
            task.cancel()
        await asyncio.gather(*self._in_flight, *self._batchers, return_exceptions=True)
        self._batchers.clear()
        for channel, _, _ in self._consumers:
            if not channel.is_closed:
                await channel.close()
        self._consumers.clear()
        self._queues.clear()
        if self._connection is not None:
            await self._connection.close()
        self._connection = self._channel = self._exchange = self._dlx = None


def _copy(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    return aio_pika.Message(
        body=message.body, content_type=message.content_type, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id, type=message.type, correlation_id=message.correlation_id,
        timestamp=message.timestamp, app_id=message.app_id, headers=headers)


def _dead_letter(queue: str, message: AbstractIncomingMessage) -> DeadLetter:
    headers = message.headers or {}
    error = headers.get("x-last-error")
    if not isinstance(error, str):  # dead-lettered by the broker itself (x-delivery-limit): no error of ours
        error = "returned to the queue too many times (the consumer died or could not reroute it)"
    try:
        dead_at: datetime | None = datetime.fromisoformat(str(headers["x-dead-at"]))
    except (KeyError, ValueError):
        dead_at = None
    return DeadLetter(queue=queue, message_id=message.message_id or "", type=message.type or "", body=message.body,
                      attempts=_attempt(message), error=error, dead_at=dead_at)


def _attempt(message: AbstractIncomingMessage) -> int:
    raw = (message.headers or {}).get(ATTEMPT_HEADER, 1)
    return raw if isinstance(raw, int) else 1
