"""Batch consumption on the embedded bus and in the service runtime: many deliveries per transaction, acked
after the commit, a failed batch handled again one by one (a poison message dead-lettered alone), and the
inbox keeping every effect to once (a repeat inside a batch, a message already handled, a batch redelivered
after its transaction was cut short)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import APIRouter
from sqlalchemy import Column, Integer, String, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.bus import Batching
from services.common.bus.memory import InMemoryBus
from services.common.clock import ManualClock
from services.common.db import new_metadata
from services.common.messages import Envelope
from services.common.messaging import add_messaging_tables
from services.common.runtime import ServiceContext, ServiceRuntime, ServiceSpec
from services.common.settings import Settings
from tests.conftest import wait_for


def envelope(type_: str = "thing.happened", **payload: object) -> Envelope:
    return Envelope(type=type_, producer="test", correlation_id="cid-1", payload=dict(payload))


MakeBus = Callable[..., InMemoryBus]


@pytest.fixture(params=["file", "memory"])
def make_bus(request: pytest.FixtureRequest, tmp_path: Path) -> MakeBus:
    def make(**options: object) -> InMemoryBus:
        path = tmp_path / "bus.db" if request.param == "file" else None
        return InMemoryBus(path=path, **options)  # type: ignore[arg-type]

    return make


class Batches:
    """Records what the batch handler and the one-message handler were given."""

    def __init__(self, poison: str = "") -> None:
        self.batches: list[list[int]] = []
        self.singles: list[int] = []
        self.poison = poison

    async def batch(self, envelopes: Sequence[Envelope]) -> None:
        if any(e.payload.get("n") == self.poison for e in envelopes):
            raise ValueError("a poison message in the batch")
        self.batches.append([int(e.payload["n"]) for e in envelopes])  # type: ignore[call-overload]

    async def single(self, e: Envelope) -> None:
        if e.payload.get("n") == self.poison:
            raise ValueError("poison")
        self.singles.append(int(e.payload["n"]))  # type: ignore[call-overload]


async def test_what_is_waiting_is_handled_in_batches_of_at_most_the_size_in_order(make_bus: MakeBus) -> None:
    bus = make_bus()
    seen = Batches()
    await bus.subscribe("batched", ["thing.*"], seen.single, Batching(seen.batch, size=4))
    await bus.publish_many([envelope(n=n) for n in range(10)])
    await wait_for(bus.idle, what="the bus to drain")
    assert seen.batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert seen.singles == []
    await bus.close()


async def test_a_poison_message_in_a_batch_is_dead_lettered_alone_and_the_others_land(make_bus: MakeBus) -> None:
    bus = make_bus(max_attempts=2, retry_delay=0.01)
    seen = Batches(poison="3")
    await bus.subscribe("batched", ["thing.*"], seen.single, Batching(seen.batch, size=100))
    sent = [envelope(n=str(n)) for n in range(6)]
    await bus.publish_many(sent)
    await wait_for(bus.idle, what="the bus to drain")
    assert seen.batches == []  # the batch failed as a whole
    assert seen.singles == [0, 1, 2, 4, 5]  # then one by one: every good one once
    dead = await bus.dead_letters()
    assert [(d.message_id, d.attempts) for d in dead] == [(str(sent[3].id), 2)]
    assert await bus.dead_letter_count() == {"batched": 1}
    await bus.close()


async def test_a_batch_cut_short_by_a_stop_is_delivered_again_whole_after_the_restart(tmp_path: Path) -> None:
    first = InMemoryBus(path=tmp_path / "bus.db", close_grace=0.05)
    stuck = asyncio.Event()

    async def never_commits(envelopes: Sequence[Envelope]) -> None:
        stuck.set()
        await asyncio.Event().wait()  # the stop cancels it: its transaction would roll back

    async def unused(e: Envelope) -> None:
        raise AssertionError("the batch did not fail, it was cut short")

    await first.subscribe("batched", ["thing.*"], unused, Batching(never_commits))
    sent = [envelope(n=n) for n in range(5)]
    await first.publish_many(sent)
    await asyncio.wait_for(stuck.wait(), timeout=10)
    await first.close()

    second = InMemoryBus(path=tmp_path / "bus.db")
    seen = Batches()
    await second.subscribe("batched", ["thing.*"], seen.single, Batching(seen.batch))
    await wait_for(second.idle, what="the redelivered batch")
    assert seen.batches == [[0, 1, 2, 3, 4]]
    await second.close()


# --- the runtime: one transaction per batch, the inbox in bulk ----------------------------------------

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)
effects = Table("effects", metadata, Column("id", Integer, primary_key=True),
                Column("message_id", String(36), nullable=False), Column("n", Integer, nullable=False))


class Service:
    """A service that records one effect row per message and emits one event per message."""

    def __init__(self) -> None:
        self.batch_calls: list[int] = []
        self.hang = False
        self.entered = asyncio.Event()

    async def one(self, ctx: ServiceContext, session: AsyncSession, e: Envelope) -> None:
        await self.many(ctx, session, [e])

    async def many(self, ctx: ServiceContext, session: AsyncSession, envelopes: Sequence[Envelope]) -> None:
        self.batch_calls.append(len(envelopes))
        await session.execute(effects.insert(), [{"message_id": str(e.id), "n": e.payload["n"]} for e in envelopes])
        await ctx.messaging.emit_many(session, [("thing.noted", {"n": e.payload["n"]}) for e in envelopes],
                                      correlation_ids=[e.correlation_id for e in envelopes])
        if self.hang:
            await session.flush()
            self.entered.set()
            await asyncio.Event().wait()

    def spec(self) -> ServiceSpec:
        return ServiceSpec(name="probe", metadata=metadata, outbox=outbox, inbox=inbox, router=APIRouter(),
                           handlers={"thing.happened": self.one}, batch_handlers={"thing.happened": self.many})


async def start(tmp_path: Path, service: Service, bus: InMemoryBus) -> ServiceRuntime:
    runtime = ServiceRuntime(service.spec(), settings=Settings(data_dir=tmp_path, bus_batch=50), bus=bus,
                             clock=ManualClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC)))
    async with runtime.ctx.db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await runtime.start_consuming()
    return runtime


async def rows(runtime: ServiceRuntime) -> tuple[list[int], list[str]]:
    async with runtime.ctx.db.reading() as session:
        noted = sorted((await session.execute(select(effects.c.n))).scalars())
        events = list((await session.execute(select(outbox.c.body).order_by(outbox.c.seq))).scalars())
    return noted, events


@pytest.fixture
def service() -> Service:
    return Service()


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[InMemoryBus]:
    bus = InMemoryBus(path=tmp_path / "bus.db")
    yield bus
    await bus.close()


async def test_a_batch_is_one_transaction_and_a_repeat_or_an_already_handled_message_changes_nothing(
    tmp_path: Path, service: Service, bus: InMemoryBus,
) -> None:
    runtime = await start(tmp_path, service, bus)
    earlier = envelope(n=0)
    await bus.publish(earlier)
    await wait_for(bus.idle, what="the first message")
    sent = [envelope(n=n) for n in range(1, 6)]
    # A repeat inside the batch, and one handled before: the inbox keeps both from doing anything.
    await bus.publish_many([sent[0], sent[1], sent[0], earlier, *sent[2:]])
    await wait_for(bus.idle, what="the batch")
    assert service.batch_calls == [1, 5]  # the first alone (nothing else waiting), then one batch of the 5 new
    noted, events = await rows(runtime)
    assert noted == [0, 1, 2, 3, 4, 5]
    assert len(events) == 6
    # Delivered once more as a whole (an ack lost after the commit): nothing new.
    await runtime.on_batch(sent)
    assert await rows(runtime) == (noted, events)
    await runtime.close()


async def test_a_batch_whose_transaction_never_committed_is_handled_once_after_a_restart(
    tmp_path: Path, service: Service,
) -> None:
    first_bus = InMemoryBus(path=tmp_path / "bus.db", close_grace=0.05)
    service.hang = True
    first = await start(tmp_path, service, first_bus)
    sent = [envelope(n=n) for n in range(8)]
    await first_bus.publish_many(sent)
    await asyncio.wait_for(service.entered.wait(), timeout=10)  # effects flushed, not committed
    await first_bus.close()  # cancels the handler: the transaction rolls back, nothing is acked
    await first.close()

    again = Service()
    second_bus = InMemoryBus(path=tmp_path / "bus.db")
    second = await start(tmp_path, again, second_bus)
    await wait_for(second_bus.idle, what="the batch delivered again")
    assert again.batch_calls == [8]
    noted, events = await rows(second)
    assert noted == list(range(8))
    assert len(events) == 8
    await second_bus.close()
    await second.close()
