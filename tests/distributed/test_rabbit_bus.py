"""RabbitBus on a real RabbitMQ: routing, competing replicas, delayed retries, dead letters, persistence."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aio_pika
import pytest
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection

from services.common.bus import Batching
from services.common.bus.rabbit import RabbitBus
from services.common.log import current_correlation_id
from services.common.messages import Envelope
from tests.conftest import wait_for

pytestmark = pytest.mark.distributed


class Broker:
    """Buses on one throw-away exchange and queue prefix; everything declared is deleted afterwards."""

    def __init__(self, url: str, channel: AbstractChannel) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.url = url
        self.channel = channel
        self.exchange = f"test.events.{suffix}"
        self.prefix = f"test.{suffix}"
        self.queues: set[str] = set()
        self.buses: list[RabbitBus] = []

    async def bus(self, **options: Any) -> RabbitBus:
        bus = RabbitBus(self.url, exchange=self.exchange, queue_prefix=self.prefix, **options)
        await bus.start()
        self.buses.append(bus)
        return bus

    async def subscribe(self, bus: RabbitBus, queue: str, keys: list[str], handler: Any,
                        batching: Batching | None = None) -> None:
        self.queues.add(queue)
        await bus.subscribe(queue, keys, handler, batching)

    async def count(self, queue: str) -> int:
        """Messages ready in a queue (declared passively, so a typo fails instead of creating one)."""
        declared = await self.channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0

    async def cleanup(self) -> None:
        for bus in self.buses:
            await bus.close()
        for queue in self.queues:
            for suffix in ("", ".retry", ".dead"):
                await self.channel.queue_delete(f"{self.prefix}.{queue}{suffix}")
        await self.channel.exchange_delete(self.exchange)
        await self.channel.exchange_delete(f"{self.exchange}.dlx")


@pytest.fixture
async def admin(amqp_url: str) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(amqp_url)
    yield connection
    await connection.close()


@pytest.fixture
async def broker(amqp_url: str, admin: AbstractRobustConnection) -> AsyncIterator[Broker]:
    helper = Broker(amqp_url, await admin.channel())
    yield helper
    await helper.cleanup()


def envelope(type_: str, **payload: Any) -> Envelope:
    return Envelope(type=type_, producer="tests", correlation_id=uuid.uuid4().hex, payload=payload)


class Recorder:
    def __init__(self) -> None:
        self.received: list[Envelope] = []

    async def __call__(self, message: Envelope) -> None:
        self.received.append(message)

    def types(self) -> list[str]:
        return [m.type for m in self.received]


async def test_an_event_reaches_the_queues_bound_to_its_type_and_no_other(broker: Broker) -> None:
    bus = await broker.bus()
    billing, mail = Recorder(), Recorder()
    await broker.subscribe(bus, "billing", ["contract.created"], billing)
    await broker.subscribe(bus, "mail", ["case.created"], mail)

    created = envelope("contract.created", contract_id="C-1")
    await bus.publish(created)
    # A later event for `mail` only: had contract.created been routed there, it would have arrived first.
    await bus.publish(envelope("case.created", case_id="K-1"))

    await wait_for(lambda: billing.received and mail.received, timeout=10, what="both deliveries")
    assert billing.received == [created]
    assert mail.types() == ["case.created"]


async def test_wildcard_bindings_follow_amqp_topic_rules(broker: Broker) -> None:
    bus = await broker.bus()
    queues = {"everything": ["#"], "contracts": ["contract.*"], "created": ["*.created"], "cases": ["case.#"]}
    recorders = {name: Recorder() for name in queues}
    for name, keys in queues.items():
        await broker.subscribe(bus, name, keys, recorders[name])

    for type_ in ("contract.created", "contract.changed.v2", "case", "case.created", "case.notice.sent"):
        await bus.publish(envelope(type_))
    # Sentinels go last: once a queue has its own, anything misrouted to it has been delivered already.
    sentinels = {"everything": "zz.sentinel", "contracts": "contract.sentinel",
                 "created": "sentinel.created", "cases": "case.sentinel"}
    for type_ in sentinels.values():
        await bus.publish(envelope(type_))
    for name, sentinel in sentinels.items():
        recorder = recorders[name]
        await wait_for(lambda: sentinel in recorder.types(), timeout=10, what=f"{name} sentinel")  # noqa: B023

    def seen(name: str) -> set[str]:
        return {t for t in recorders[name].types() if "sentinel" not in t}

    assert seen("everything") == {"contract.created", "contract.changed.v2", "case", "case.created",
                                  "case.notice.sent"}
    assert seen("contracts") == {"contract.created"}
    assert seen("created") == {"contract.created", "case.created"}
    assert seen("cases") == {"case", "case.created", "case.notice.sent"}


async def test_replicas_on_one_queue_compete_and_each_message_is_handled_once(broker: Broker) -> None:
    replica_a, replica_b = await broker.bus(prefetch=1), await broker.bus(prefetch=1)
    handled_a, handled_b = Recorder(), Recorder()
    await broker.subscribe(replica_a, "planner", ["case.requested"], handled_a)
    await broker.subscribe(replica_b, "planner", ["case.requested"], handled_b)

    sent = [envelope("case.requested", n=n) for n in range(20)]
    for message in sent:
        await replica_a.publish(message)

    await wait_for(lambda: len(handled_a.received + handled_b.received) >= 20, timeout=10, what="all handled")
    for replica in (replica_a, replica_b):
        await replica.close()  # anything unacked would now be back in the queue
    ids = [m.id for m in handled_a.received + handled_b.received]
    assert sorted(ids) == sorted(m.id for m in sent)
    assert handled_a.received and handled_b.received, "both replicas should have taken a share"
    assert await broker.count(f"{broker.prefix}.planner") == 0


async def test_a_failing_handler_gets_the_message_again_after_the_delay(broker: Broker) -> None:
    delay_ms = 300
    bus = await broker.bus(max_attempts=5, retry_delay_ms=delay_ms)
    calls: list[tuple[float, Envelope, str | None]] = []

    async def flaky(message: Envelope) -> None:
        calls.append((time.monotonic(), message, current_correlation_id()))
        if len(calls) <= 2:
            raise RuntimeError("database is down")

    await broker.subscribe(bus, "flaky", ["contract.created"], flaky)
    sent = envelope("contract.created", contract_id="C-2")
    await bus.publish(sent)

    await wait_for(lambda: len(calls) >= 3, timeout=10, what="third attempt")
    await bus.close()
    assert [m for _, m, _ in calls] == [sent, sent, sent]
    assert [c for _, _, c in calls] == [sent.correlation_id] * 3, "correlation id bound while handling"
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(calls)]
    assert all(gap >= delay_ms / 1000 for gap in gaps), gaps
    for queue in ("flaky", "flaky.retry", "flaky.dead"):
        assert await broker.count(f"{broker.prefix}.{queue}") == 0, queue


async def test_a_message_that_always_fails_is_dead_lettered_after_max_attempts(broker: Broker) -> None:
    bus = await broker.bus(max_attempts=3, retry_delay_ms=50)
    attempts: list[Envelope] = []

    async def broken(message: Envelope) -> None:
        attempts.append(message)
        raise ValueError("rule file mismatch")

    await broker.subscribe(bus, "broken", ["rules.loaded"], broken)
    sent = envelope("rules.loaded", version="2025.1")
    dead_queue = await broker.channel.declare_queue(f"{broker.prefix}.broken.dead", passive=True)
    with structlog.testing.capture_logs() as logs:
        await bus.publish(sent)
        dead: AbstractIncomingMessage = await wait_for(
            lambda: dead_queue.get(no_ack=True, fail=False), timeout=10, what="dead letter"  # type: ignore[arg-type, return-value]
        )
    dead_lines = [line for line in logs if line["event"] == "bus.dead_lettered"]
    assert [(line["message_id"], line["log_level"]) for line in dead_lines] == [(str(sent.id), "error")]
    assert Envelope.from_bytes(dead.body) == sent
    assert dead.message_id == str(sent.id)
    assert dead.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert dead.headers["x-attempt"] == 3
    assert dead.headers["x-original-routing-key"] == "rules.loaded"
    assert "rule file mismatch" in str(dead.headers["x-last-error"])
    await bus.close()
    assert len(attempts) == 3
    assert await broker.count(f"{broker.prefix}.broken") == 0


async def test_dead_letters_are_counted_per_consumer_queue(broker: Broker) -> None:
    bus = await broker.bus(max_attempts=2, retry_delay_ms=50)

    async def broken(message: Envelope) -> None:
        raise ValueError("rule file mismatch")

    await broker.subscribe(bus, "broken", ["rules.*"], broken)
    await broker.subscribe(bus, "fine", ["rules.*"], Recorder())
    assert await bus.dead_letter_count() == {"broken": 0, "fine": 0}
    await bus.publish_many([envelope("rules.loaded", version="2025.1"), envelope("rules.rejected")])

    async def both_dead() -> bool:
        return await bus.dead_letter_count() == {"broken": 2, "fine": 0}

    await wait_for(both_dead, timeout=10, what="two dead letters on the broken queue")
    assert await broker.count(f"{broker.prefix}.broken.dead") == 2  # counted, not consumed


async def test_messages_are_persistent_json_on_durable_topology(
    broker: Broker, admin: AbstractRobustConnection
) -> None:
    bus = await broker.bus()
    await broker.subscribe(bus, "audit", ["contract.created"], Recorder())
    probe = await broker.channel.declare_queue(exclusive=True)
    await probe.bind(broker.exchange, routing_key="contract.created")
    sent = envelope("contract.created", contract_id="C-3")
    await bus.publish(sent)

    got: AbstractIncomingMessage = await wait_for(
        lambda: probe.get(no_ack=True, fail=False), timeout=10, what="probe message"  # type: ignore[arg-type, return-value]
    )
    assert got.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert got.content_type == "application/json"
    assert (got.message_id, got.type, got.correlation_id) == (str(sent.id), sent.type, sent.correlation_id)
    assert got.timestamp is not None and abs((got.timestamp - sent.occurred_at).total_seconds()) < 1
    assert Envelope.from_bytes(got.body) == sent
    # The exchange is durable and the queue a quorum queue: redeclaring them otherwise is refused.
    with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
        await (await admin.channel()).declare_exchange(
            broker.exchange, aio_pika.ExchangeType.TOPIC, durable=False
        )
    with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
        await (await admin.channel()).declare_queue(
            f"{broker.prefix}.audit", durable=True, arguments={"x-queue-type": "classic"}
        )


async def test_closing_a_consumer_mid_message_hands_the_message_to_another(broker: Broker) -> None:
    stopping = await broker.bus()
    started = asyncio.Event()

    async def stuck(message: Envelope) -> None:
        started.set()
        await asyncio.Event().wait()

    await broker.subscribe(stopping, "slow", ["case.created"], stuck)
    sent = envelope("case.created")
    await stopping.publish(sent)
    await asyncio.wait_for(started.wait(), timeout=10)
    await stopping.ping()
    await stopping.close()
    with pytest.raises(ConnectionError):
        await stopping.ping()

    successor, handled = await broker.bus(), Recorder()
    await broker.subscribe(successor, "slow", ["case.created"], handled)
    await wait_for(lambda: handled.received, timeout=10, what="redelivery to the successor")
    assert handled.received == [sent]


class Batches:
    """A batch handler that holds its first batch until told, so that what is published meanwhile waits."""

    def __init__(self, poison: str = "") -> None:
        self.batches: list[list[int]] = []
        self.singles: list[int] = []
        self.release = asyncio.Event()
        self.poison = poison

    async def batch(self, messages: Sequence[Envelope]) -> None:
        await self.release.wait()
        if any(m.payload.get("n") == self.poison for m in messages):
            raise ValueError("a poison message in the batch")
        self.batches.append([int(m.payload["n"]) for m in messages])

    async def single(self, message: Envelope) -> None:
        if message.payload.get("n") == self.poison:
            raise ValueError("poison")
        self.singles.append(int(message.payload["n"]))

    def handled(self) -> list[int]:
        """Every message handled, in a batch or alone (a lone delivery, a failed batch's messages, a retry)."""
        return sorted([n for b in self.batches for n in b] + self.singles)


async def test_a_batch_consumer_takes_what_is_waiting_and_acks_all_of_it(broker: Broker) -> None:
    bus = await broker.bus()
    seen = Batches()
    await broker.subscribe(bus, "batched", ["case.requested"], seen.single, Batching(seen.batch, size=10))
    await bus.publish_many([envelope("case.requested", n=n) for n in range(25)])
    seen.release.set()
    await wait_for(lambda: len(seen.handled()) == 25, timeout=10, what="all 25 handled")
    await bus.close()  # anything not acked would now be back in the queue
    assert seen.handled() == list(range(25))  # each once
    assert max(map(len, seen.batches)) == 10  # what waited came in batches, none past the size
    assert await broker.count(f"{broker.prefix}.batched") == 0


async def test_a_poison_message_in_a_batch_is_dead_lettered_alone_and_the_others_land_once(broker: Broker) -> None:
    bus = await broker.bus(max_attempts=2, retry_delay_ms=50)
    seen = Batches(poison="3")
    await broker.subscribe(bus, "batched", ["case.requested"], seen.single, Batching(seen.batch, size=50))
    sent = [envelope("case.requested", n=str(n)) for n in range(6)]
    await bus.publish_many(sent)
    seen.release.set()

    async def dead() -> bool:
        return await bus.dead_letter_count() == {"batched": 1}

    await wait_for(dead, timeout=10, what="the poison message dead-lettered")
    await wait_for(lambda: len(seen.handled()) == 5, timeout=10, what="the good ones handled")
    await bus.close()
    assert seen.handled() == [0, 1, 2, 4, 5]  # each once, the poison message never
    dead_queue = await broker.channel.declare_queue(f"{broker.prefix}.batched.dead", passive=True)
    message = await dead_queue.get(no_ack=True, fail=False)
    assert message is not None and message.message_id == str(sent[3].id)
    assert await broker.count(f"{broker.prefix}.batched") == 0


async def test_dead_letters_are_listed_in_order_and_the_chosen_one_is_handled_again_once_fixed(broker: Broker) -> None:
    bus = await broker.bus(max_attempts=2, retry_delay_ms=50)
    fixed = False
    handled: list[Envelope] = []

    async def until_fixed(message: Envelope) -> None:
        if not fixed:
            raise ValueError("client 7 has no NIP")
        handled.append(message)

    await broker.subscribe(bus, "cases", ["case.*"], until_fixed)
    sent = [envelope("case.requested", n=n) for n in range(3)]
    for message in sent:  # one at a time: the dead letters keep the order they died in
        await bus.publish(message)
        await wait_for(lambda m=message: _listed(bus, m), timeout=10, what="the dead letter")

    for _ in range(2):  # listing does not consume them, move them or count as a delivery
        listed = await bus.dead_letters("cases")
        assert [(d.message_id, d.type, d.attempts) for d in listed] == [(str(m.id), "case.requested", 2)
                                                                         for m in sent]
        assert "client 7 has no NIP" in listed[0].error and listed[0].dead_at is not None
        assert listed[0].envelope == sent[0]
    assert await bus.dead_letters("nobody") == []

    fixed = True
    assert await bus.retry_dead_letters("cases", [str(sent[1].id)]) == 1
    await wait_for(lambda: len(handled) == 1, timeout=10, what="the retried message handled")
    assert handled == [sent[1]]
    assert [d.message_id for d in await bus.dead_letters("cases")] == [str(sent[0].id), str(sent[2].id)]
    assert await bus.retry_dead_letters("cases") == 2
    await wait_for(lambda: len(handled) == 3, timeout=10, what="the other two handled")
    assert await bus.dead_letter_count() == {"cases": 0}


async def _listed(bus: RabbitBus, message: Envelope) -> bool:
    return str(message.id) in [d.message_id for d in await bus.dead_letters("cases")]
