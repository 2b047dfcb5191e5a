"""The in-memory bus keeps RabbitMQ's contract: topic routing, redelivery on failure, dead letters."""

from __future__ import annotations

from services.common.bus import topic_matches
from services.common.bus.memory import InMemoryBus
from services.common.messages import Envelope
from tests.conftest import wait_for


def envelope(type_: str, **payload: object) -> Envelope:
    return Envelope(type=type_, producer="test", correlation_id="cid-1", payload=dict(payload))


def test_topic_matching_follows_amqp() -> None:
    assert topic_matches("contract.*", "contract.created")
    assert not topic_matches("contract.*", "contract.created.late")
    assert topic_matches("contract.#", "contract")
    assert topic_matches("#", "case.created")
    assert topic_matches("a.#.z", "a.b.c.z")
    assert not topic_matches("case.created", "case.creat")


async def test_messages_reach_bound_queues_only_as_copies() -> None:
    bus = InMemoryBus()
    seen: dict[str, list[Envelope]] = {"cases": [], "notifier": []}

    async def cases(e: Envelope) -> None:
        seen["cases"].append(e)

    async def notifier(e: Envelope) -> None:
        seen["notifier"].append(e)

    await bus.subscribe("cases", ["case.requested"], cases)
    await bus.subscribe("notifier", ["case.*"], notifier)
    sent = envelope("case.requested", n=1)
    await bus.publish(sent)
    await bus.publish(envelope("contract.created"))
    await wait_for(bus.idle, what="the bus to drain")
    assert [e.id for e in seen["cases"]] == [sent.id]
    assert [e.id for e in seen["notifier"]] == [sent.id]
    assert seen["cases"][0] is not sent  # crossed as bytes, like on a broker
    await bus.close()


async def test_a_failing_handler_gets_the_message_again_then_it_is_dead_lettered() -> None:
    bus = InMemoryBus(max_attempts=3, retry_delay=0.01)
    attempts: list[int] = []

    async def flaky(e: Envelope) -> None:
        attempts.append(1)
        if len(attempts) < 2:
            raise RuntimeError("database down")

    async def broken(e: Envelope) -> None:
        raise RuntimeError("bug")

    await bus.subscribe("flaky", ["x.flaky"], flaky)
    await bus.subscribe("broken", ["x.broken"], broken)
    await bus.publish(envelope("x.flaky"))
    await bus.publish(envelope("x.broken"))
    await wait_for(bus.idle, what="the bus to drain")
    assert len(attempts) == 2
    assert [(q, e.type) for q, e, _ in bus.dead_letters] == [("broken", "x.broken")]
    await bus.close()
