"""The morning job on PostgreSQL while another transaction holds a case it has a decision for: the job selects its
cases `FOR UPDATE SKIP LOCKED` so two cases processes split the work, but a case can be held by work that does not
make that decision — the other process's born-overdue summary (its claim rows' foreign key locks each case it
lists), a user's comment, an escalation the other process rolled back. The decision must still be published once:
the job comes back for the cases it skipped, and a run that gives up on one (held past its wait) leaves it to the
next run, which the morning loop makes at its next tick instead of calling the day done.

tests/distributed/test_cases_morning_job.py lost exactly the born-overdue cases' step-1 escalations this way when a
loaded PostgreSQL made the summary's transaction outlast every other run's escalation pass."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.cases import watch
from services.cases.models import case_alerts, case_comments, cases, outbox
from services.common.bus.memory import InMemoryBus
from services.common.clock import ManualClock
from services.common.messages import CASE_ESCALATED, CASE_OVERDUE, CASE_OVERDUE_SUMMARY
from services.common.migrate import upgrade
from services.common.runtime import ServiceContext, ServiceRuntime
from services.common.settings import Settings
from services.system import load_spec
from tests.conftest import wait_for

pytestmark = pytest.mark.distributed

MONDAY = date(2026, 11, 30)
NOW = datetime(2026, 11, 30, 6, 30, tzinfo=UTC)  # 07:30 in Warsaw: the morning job's time
FRIDAY_AFTERNOON = datetime(2026, 11, 27, 14, tzinfo=UTC)
MONTH_AGO = datetime(2026, 10, 30, 9, tzinfo=UTC)


def case(title: str, due: date, created_at: datetime, *, born: bool) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()), "contract_id": "k1", "contract_number": "1/2026", "client_name": "Klient",
        "rule_id": title, "code": "VAT", "period": "2026-10", "title": title, "title_en": "", "due": due,
        "status": "open", "role": "accountant", "assignee_login": "anna", "assignee_name": "Anna",
        "assignee_email": "anna@biuro.example", "checklist": [], "notice": [], "late_on_creation": born,
        # The states are today's already: the job's first part has nothing to do, its ladder is what is looked at.
        "deadline_state": "overdue", "created_at": created_at, "updated_at": created_at,
    }


# Born overdue: requested on Friday afternoon with a due date long past; its ladder counts from Friday, so on
# Monday it reaches step 1. The other case was due on Thursday: step 1 on Monday too.
BORN = case("Urodzona po terminie", date(2026, 11, 20), FRIDAY_AFTERNOON, born=True)
PLAIN = case("Po terminie od czwartku", date(2026, 11, 26), MONTH_AGO, born=False)


@pytest.fixture
async def processes(pg_database: str) -> AsyncIterator[tuple[ServiceContext, ServiceContext]]:
    """Two cases processes on one database (two engines), not started: the test runs their job itself."""
    settings = Settings(mode="distributed", database_url=pg_database, case_watch_tick_seconds=0.05,
                        case_managers="Maria <maria@biuro.example>")
    await upgrade(settings, ("cases",))
    runtimes = [ServiceRuntime(load_spec("cases"), settings=settings, bus=InMemoryBus(), clock=ManualClock(NOW))
                for _ in range(2)]
    async with runtimes[0].ctx.db.transaction() as session:
        await session.execute(insert(cases), [BORN, PLAIN])
    try:
        yield runtimes[0].ctx, runtimes[1].ctx
    finally:
        for runtime in runtimes:
            await runtime.ctx.db.dispose()


async def escalations(ctx: ServiceContext) -> list[tuple[str, int]]:
    """The published escalations as (case title, step)."""
    async with ctx.db.reading() as session:
        bodies = (await session.execute(select(outbox.c.body).where(outbox.c.type == CASE_ESCALATED)
                                        .order_by(outbox.c.seq))).scalars().all()
    return [(json.loads(b)["payload"]["case"]["title"], json.loads(b)["payload"]["step"]) for b in bodies]


# --- What holds the born-overdue case while the other process runs the job --------------------------------------

Holder = Callable[[ServiceContext, asyncio.Event], Coroutine[Any, Any, None]]


async def summary_of_the_other_process(ctx: ServiceContext, release: asyncio.Event) -> None:
    """The other process's born-overdue summary, slow to commit (as under a loaded database): its claim rows
    reference the case, so their foreign key check holds the case (FOR KEY SHARE) until it commits."""
    emit = ctx.messaging.emit

    async def slow_emit(session: AsyncSession, type_: str, payload: dict[str, Any]) -> Any:
        if type_ == CASE_OVERDUE_SUMMARY:
            await release.wait()
        return await emit(session, type_, payload)

    ctx.messaging.emit = slow_emit  # type: ignore[method-assign]
    assert await watch.summarize_born_overdue(ctx, MONDAY) == 1


async def comment_being_written(ctx: ServiceContext, release: asyncio.Event) -> None:
    """A user's comment on the case, its transaction still open (the foreign key holds the case)."""
    async with ctx.db.transaction() as session:
        await session.execute(insert(case_comments).values(case_id=BORN["id"], at=NOW, author="anna",
                                                           author_name="Anna", text="Dzwoniłam do klienta"))
        await release.wait()


async def escalation_rolled_back(ctx: ServiceContext, release: asyncio.Event) -> None:
    """The other process takes the case's step 1 — claim and event — and its transaction is rolled back (a
    statement or lock timeout, a lost connection): nothing of it stays."""
    with pytest.raises(TimeoutError):
        async with ctx.db.transaction() as session:
            await session.execute(select(cases.c.id).where(cases.c.id == BORN["id"]).with_for_update())
            await session.execute(insert(case_alerts).values(case_id=BORN["id"], kind="escalated", step=1,
                                                             due=BORN["due"], day=MONDAY, created_at=NOW))
            await ctx.messaging.emit(session, CASE_ESCALATED, {"case": {"title": BORN["title"]}, "step": 1})
            await release.wait()
            raise TimeoutError("canceling statement due to statement timeout")


HOLDERS = [summary_of_the_other_process, comment_being_written, escalation_rolled_back]


@asynccontextmanager
async def holding(holder: Holder, ctx: ServiceContext) -> AsyncIterator[asyncio.Event]:
    """Run `holder` in the other process until the block sets the event it is given; the case is held from the
    moment the block starts."""
    release = asyncio.Event()
    task = asyncio.create_task(holder(ctx, release))
    try:
        async with ctx.db.reading() as session:  # the holder has the case when its lock shows
            await wait_for(lambda: _held(session), what="the other process holding the case")
        yield release
    finally:
        release.set()
        await task


async def _held(session: AsyncSession) -> bool:
    found = await session.execute(
        select(cases.c.id).where(cases.c.id == BORN["id"]).with_for_update(skip_locked=True))
    held = found.first() is None
    await session.rollback()
    return held


@pytest.mark.parametrize("holder", HOLDERS, ids=lambda h: h.__name__)
async def test_a_case_held_by_other_work_during_the_morning_job_still_gets_its_escalation_once(
    processes: tuple[ServiceContext, ServiceContext], holder: Holder
) -> None:
    other, this = processes
    async with holding(holder, other) as release:
        run = asyncio.create_task(watch.run_morning(this))
        # This process takes what is free first; the held case must not be given up for the day.
        await wait_for(lambda: _published(this, (PLAIN["title"], 1)), what="the free case's step 1")
        release.set()
        done = await asyncio.wait_for(run, timeout=60)
    assert sorted(await escalations(this)) == sorted([(PLAIN["title"], 1), (BORN["title"], 1)])
    assert done["escalated"] == 2 and done["left"] == 0
    # Another run (either process) finds nothing more to say.
    assert (await watch.run_morning(other))["escalated"] == 0
    assert len(await escalations(this)) == 2


async def test_a_case_held_past_the_wait_is_left_to_the_next_tick_of_the_morning_loop(
    processes: tuple[ServiceContext, ServiceContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    other, this = processes
    monkeypatch.setattr(watch, "BUSY_WAIT_SECONDS", 0.2)
    run_morning = watch.run_morning
    runs: list[dict[str, Any]] = []

    async def recorded(ctx: ServiceContext) -> dict[str, Any]:
        runs.append(await run_morning(ctx))
        return runs[-1]

    monkeypatch.setattr(watch, "run_morning", recorded)
    async with holding(comment_being_written, other) as release:
        # A run that waited long enough says what it left.
        first = await run_morning(this)
        assert (first["escalated"], first["left"]) == (1, 1)
        assert await escalations(this) == [(PLAIN["title"], 1)]
        loop = asyncio.create_task(watch.morning_loop(this))
        try:
            # The loop runs the job and, the case still held, does not call the day done.
            await wait_for(lambda: runs or (loop.done() and loop.result()), what="the morning loop's first run")
            assert runs[0]["left"] == 1 and this.extras.get(watch.LAST_RUN) != MONDAY
            release.set()
            await wait_for(lambda: this.extras.get(watch.LAST_RUN) == MONDAY, what="the day done, the case free")
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
    assert runs[-1]["left"] == 0
    assert sorted(await escalations(this)) == sorted([(PLAIN["title"], 1), (BORN["title"], 1)])


async def test_a_case_entering_overdue_while_held_is_told_once_by_the_next_run(
    processes: tuple[ServiceContext, ServiceContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    other, this = processes
    monkeypatch.setattr(watch, "BUSY_WAIT_SECONDS", 0.2)
    async with this.db.transaction() as session:  # its state is yesterday's
        await session.execute(update(cases).where(cases.c.id == BORN["id"]).values(deadline_state="on_time"))
    async with holding(comment_being_written, other):
        first = await watch.run_morning(this)
    # Held past the wait by both passes (states, then ladder): nothing about it is said yet, nor lost.
    assert (first["overdue"], first["told"], first["left"]) == (0, 0, 2)
    second = await watch.run_morning(this)
    assert (second["overdue"], second["told"], second["escalated"], second["left"]) == (1, 1, 1, 0)
    async with this.db.reading() as session:
        told = (await session.execute(select(outbox.c.body).where(outbox.c.type == CASE_OVERDUE))).scalars().all()
    assert [json.loads(body)["payload"]["case"]["title"] for body in told] == [BORN["title"]]
    assert sorted(await escalations(this)) == sorted([(PLAIN["title"], 1), (BORN["title"], 1)])


async def _published(ctx: ServiceContext, escalation: tuple[str, int]) -> bool:
    return escalation in await escalations(ctx)
