"""Team changes on PostgreSQL: two cases-service processes running the daily step at the same moment apply each
pending annex once; absences and substitutes with the same queries as on SQLite."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from services.cases import assignment, handlers
from services.cases.models import case_history, cases
from services.common.bus.memory import InMemoryBus
from services.common.clock import ManualClock
from services.common.messages import (
    CASE_REQUESTED,
    CONTRACT_CHANGED,
    CONTRACT_CREATED,
    CaseRequested,
    Envelope,
    TeamMember,
)
from services.common.migrate import upgrade
from services.common.runtime import ServiceRuntime
from services.common.settings import Settings
from services.system import load_spec
from tests.embedded.test_assignment import _snapshot

pytestmark = pytest.mark.distributed
CASES = 40


def _envelope(kind: str, payload: dict[str, Any]) -> Envelope:
    return Envelope(type=kind, producer="test", correlation_id="test", payload=payload)


async def test_two_processes_apply_a_future_annex_once_on_its_day(pg_database: str) -> None:
    settings = Settings(mode="distributed", database_url=pg_database)
    await upgrade(settings, ("cases",))
    clock = ManualClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    runtimes = [ServiceRuntime(load_spec("cases"), settings=settings, bus=InMemoryBus(), clock=clock)
                for _ in range(2)]
    first = runtimes[0].ctx
    try:
        async with first.db.transaction() as session:
            await assignment.on_contract_version(first, session, _envelope(CONTRACT_CREATED,
                                                                           _snapshot(1, "2026-10-01", "anna")))
            for n in range(CASES):
                request = CaseRequested(
                    contract_id="c-9", rule_id="vat.jpk_v7m", code="JPK_V7M", period=f"p-{n}", title_pl="JPK",
                    title_en="JPK", due=date(2026, 12, 1 + n % 28), generate_on=date(2026, 11, 20),
                    role="accountant", assignee=TeamMember(login="anna"), rules_version="v1", contract_version=1)
                await handlers.on_case_requested(first, session, _envelope(CASE_REQUESTED,
                                                                           request.model_dump(mode="json")))
            # ola is away over Christmas; piotr stands in.
            await assignment.create_absence(ctx=first, session=session, actor="maria", body=assignment.AbsenceIn(
                login="ola", starts_on=date(2026, 12, 21), ends_on=date(2026, 12, 31),
                substitute=assignment.Person(login="piotr")))
            await assignment.on_contract_version(first, session, _envelope(CONTRACT_CHANGED,
                                                                           _snapshot(2, "2026-12-01", "ola")))
        assert [await assignment.apply_due_team_changes(r.ctx) for r in runtimes] == [0, 0]  # not its day yet

        clock.set(datetime(2026, 12, 1, 6, 0, tzinfo=UTC))
        applied = await asyncio.gather(*(assignment.apply_due_team_changes(r.ctx) for r in runtimes))
        assert sorted(applied) == [0, 1]
        async with first.db.reading() as session:
            rows = (await session.execute(select(cases.c.id, cases.c.assignee_login, cases.c.substitute_login,
                                                 cases.c.due))).all()
            moves = Counter((await session.execute(select(case_history.c.case_id).where(
                case_history.c.event == "team_changed"))).scalars())
        assert len(rows) == CASES and {r.assignee_login for r in rows} == {"ola"}
        assert set(moves.values()) == {1} and len(moves) == CASES  # each case moved once
        assert {r.id for r in rows if r.substitute_login == "piotr"} == {
            r.id for r in rows if date(2026, 12, 21) <= r.due <= date(2026, 12, 31)}
    finally:
        for runtime in runtimes:
            await runtime.ctx.db.dispose()
