"""The embedded bus keeps RabbitMQ's contract: topic routing, redelivery on failure, dead letters, and queues
that keep their messages across a stop, a crash and a restart (in the bus's file)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from services.common.bus import topic_matches
from services.common.bus.memory import InMemoryBus
from services.common.messages import Envelope
from tests.conftest import wait_for


def envelope(type_: str, **payload: object) -> Envelope:
    return Envelope(type=type_, producer="test", correlation_id="cid-1", payload=dict(payload))


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Envelope] = []

    async def __call__(self, e: Envelope) -> None:
        self.seen.append(e)

    @property
    def ids(self) -> list[str]:
        return [str(e.id) for e in self.seen]


MakeBus = Callable[..., InMemoryBus]


@pytest.fixture(params=["file", "memory"])
def make_bus(request: pytest.FixtureRequest, tmp_path: Path) -> MakeBus:
    """Both variants route and retry alike; only the file survives the process."""

    def make(**options: object) -> InMemoryBus:
        path = tmp_path / "bus.db" if request.param == "file" else None
        return InMemoryBus(path=path, **options)  # type: ignore[arg-type]

    return make


def test_topic_matching_follows_amqp() -> None:
    assert topic_matches("contract.*", "contract.created")
    assert not topic_matches("contract.*", "contract.created.late")
    assert topic_matches("contract.#", "contract")
    assert topic_matches("#", "case.created")
    assert topic_matches("a.#.z", "a.b.c.z")
    assert not topic_matches("case.created", "case.creat")


async def test_messages_reach_bound_queues_only_as_copies(make_bus: MakeBus) -> None:
    bus = make_bus()
    cases, notifier = Recorder(), Recorder()
    await bus.subscribe("cases", ["case.requested"], cases)
    await bus.subscribe("notifier", ["case.*"], notifier)
    sent = envelope("case.requested", n=1)
    await bus.publish(sent)
    await bus.publish(envelope("contract.created"))
    await wait_for(bus.idle, what="the bus to drain")
    assert cases.ids == [str(sent.id)]
    assert notifier.ids == [str(sent.id)]
    assert cases.seen[0] is not sent  # crossed as bytes, like on a broker
    await bus.close()


async def test_a_failing_handler_gets_the_message_again_then_it_is_dead_lettered(make_bus: MakeBus) -> None:
    bus = make_bus(max_attempts=3, retry_delay=0.01)
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
    sent = envelope("x.broken")
    await bus.publish(sent)
    await wait_for(bus.idle, what="the bus to drain")
    assert len(attempts) == 2
    dead = await bus.dead_letters()
    assert [(d.queue, d.message_id, d.type, d.attempts) for d in dead] == [("broken", str(sent.id), "x.broken", 3)]
    assert dead[0].envelope == sent
    assert "RuntimeError('bug')" in dead[0].error
    assert await bus.dead_letter_count() == {"broken": 1, "flaky": 0}
    await bus.close()


async def test_messages_not_yet_handled_at_a_stop_are_handled_after_the_restart_and_handled_ones_are_not(
    tmp_path: Path,
) -> None:
    first = InMemoryBus(path=tmp_path / "bus.db", close_grace=0.05)
    fast, slow = Recorder(), Recorder()
    stuck = asyncio.Event()

    async def one_then_stuck(e: Envelope) -> None:
        if slow.seen:
            stuck.set()
            await asyncio.Event().wait()  # never finishes: the stop cancels it and its transaction rolls back
        await slow(e)

    await first.subscribe("fast", ["case.*"], fast)
    await first.subscribe("slow", ["case.*"], one_then_stuck)
    sent = [envelope("case.requested", n=n) for n in range(4)]
    await first.publish_many(sent)
    await wait_for(lambda: stuck.is_set() and len(fast.seen) == 4, what="slow stuck on its second message")
    await first.close()

    second = InMemoryBus(path=tmp_path / "bus.db")
    fast_again, slow_again = Recorder(), Recorder()
    await second.subscribe("fast", ["case.*"], fast_again)
    await second.subscribe("slow", ["case.*"], slow_again)
    await wait_for(lambda: len(slow_again.seen) == 3, what="the rest of slow's queue")
    await wait_for(second.idle, what="the bus to drain")
    assert slow.ids + slow_again.ids == [str(e.id) for e in sent]  # each once, in order
    assert fast_again.seen == []
    await second.close()


async def test_a_published_message_is_stored_before_publish_returns_so_a_killed_process_loses_nothing(
    tmp_path: Path,
) -> None:
    # The consumer's queue is bound but not consumed (its service has not started yet, or is busy elsewhere);
    # the process then dies without closing anything.
    killed = InMemoryBus(path=tmp_path / "bus.db")
    await killed.bind("scheduler", ["contract.*"])
    sent = [envelope("contract.created", n=n) for n in range(3)]
    await killed.publish_many(sent)
    await killed.publish(envelope("rules.loaded"))  # bound to no queue: dropped, as by a topic exchange

    restarted = InMemoryBus(path=tmp_path / "bus.db")
    scheduler = Recorder()
    await restarted.subscribe("scheduler", ["contract.*"], scheduler)
    await wait_for(lambda: len(scheduler.seen) == 3, what="the stored messages")
    assert scheduler.ids == [str(e.id) for e in sent]
    await restarted.close()
    await killed.close()  # only to end its tasks with the test


async def test_a_retry_and_the_dead_letters_survive_a_restart(tmp_path: Path) -> None:
    first = InMemoryBus(path=tmp_path / "bus.db", max_attempts=3, retry_delay=0.2)
    failures: list[int] = []

    async def broken(e: Envelope) -> None:
        failures.append(1)
        raise RuntimeError("rule file mismatch")

    await first.subscribe("broken", ["x.*"], broken)
    already_dead = envelope("x.old")
    await first.publish(already_dead)
    await wait_for(lambda: len(failures) == 3, what="three attempts")
    await wait_for(first.idle, what="the dead letter")
    retried = envelope("x.new")
    await first.publish(retried)
    await wait_for(lambda: len(failures) == 4, what="the first attempt of the second message")
    await first.close()  # its retry (attempt 2 of 3) was pending

    second = InMemoryBus(path=tmp_path / "bus.db", max_attempts=3, retry_delay=0.01)
    assert [d.message_id for d in await second.dead_letters("broken")] == [str(already_dead.id)]
    await second.subscribe("broken", ["x.*"], broken)
    await wait_for(lambda: len(failures) == 6, what="the two attempts left")
    await wait_for(second.idle, what="the second dead letter")
    dead = await second.dead_letters()
    assert [(d.message_id, d.attempts) for d in dead] == [(str(already_dead.id), 3), (str(retried.id), 3)]
    assert await second.dead_letter_count() == {"broken": 2}
    await second.close()

    third = InMemoryBus(path=tmp_path / "bus.db")
    assert await third.dead_letter_count() == {"broken": 2}
    await third.close()


async def test_a_chosen_dead_letter_is_handled_again_once_the_fault_is_fixed_the_others_stay(make_bus: MakeBus) -> None:
    bus = make_bus(max_attempts=2, retry_delay=0.01)
    fixed = False
    handled: list[Envelope] = []

    async def until_fixed(e: Envelope) -> None:
        if not fixed:
            raise RuntimeError("client 7 has no NIP")
        handled.append(e)

    await bus.subscribe("cases", ["case.*"], until_fixed)
    sent = [envelope("case.requested", n=n) for n in range(3)]
    for message in sent:
        await bus.publish(message)
    await wait_for(lambda: bus.idle() and len(handled) == 0, what="three dead letters")
    assert [d.message_id for d in await bus.dead_letters("cases", limit=2)] == [str(m.id) for m in sent[:2]]

    fixed = True
    assert await bus.retry_dead_letters("cases", [str(sent[1].id)]) == 1
    await wait_for(bus.idle, what="the retried message handled")
    assert handled == [sent[1]]
    assert [d.message_id for d in await bus.dead_letters("cases")] == [str(sent[0].id), str(sent[2].id)]
    assert await bus.retry_dead_letters("cases") == 2
    await wait_for(bus.idle, what="the other two handled")
    assert sorted(str(e.id) for e in handled) == sorted(str(m.id) for m in sent)
    assert await bus.dead_letter_count() == {"cases": 0}
    assert await bus.retry_dead_letters("cases") == 0
    await bus.close()


async def test_a_retried_dead_letter_waits_in_the_file_for_its_consumer_when_the_process_stops(tmp_path: Path) -> None:
    first = InMemoryBus(path=tmp_path / "bus.db", max_attempts=1)

    async def broken(e: Envelope) -> None:
        raise RuntimeError("bug")

    await first.subscribe("cases", ["case.*"], broken)
    sent = envelope("case.requested")
    await first.publish(sent)
    await wait_for(first.idle, what="the dead letter")
    await first.close()

    tool = InMemoryBus(path=tmp_path / "bus.db")  # e.g. an admin's command while the office is stopped
    assert await tool.retry_dead_letters("cases") == 1
    await tool.close()

    again, seen = InMemoryBus(path=tmp_path / "bus.db"), Recorder()
    await again.subscribe("cases", ["case.*"], seen)
    await wait_for(lambda: seen.ids == [str(sent.id)], what="the retried message delivered after the restart")
    assert await again.dead_letter_count() == {"cases": 0}
    await again.close()
