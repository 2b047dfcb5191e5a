"""A case's lifecycle on PostgreSQL: the cases_0003_life migration, the row lock of a change, the views' query
(tabs, counts, sort by status) and the outbox of case.completed — the same code as on SQLite."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from services.cases import handlers, lifecycle
from services.cases.models import outbox
from services.cases.views import CaseFilter, find_cases
from services.common.bus.memory import InMemoryBus
from services.common.clock import ManualClock
from services.common.errors import Problem
from services.common.messages import CASE_REQUESTED, CaseRequested, Envelope, TeamMember
from services.common.migrate import upgrade
from services.common.runtime import ServiceRuntime
from services.common.scope import Scope
from services.common.settings import Settings
from services.system import load_spec

pytestmark = pytest.mark.distributed
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
ANNA = Scope(login="anna", role="accountant", contracts=["7"])


async def test_a_vat_case_is_worked_to_done_on_postgresql(pg_database: str) -> None:
    settings = Settings(mode="distributed", database_url=pg_database)
    await upgrade(settings, ("cases",))
    runtime = ServiceRuntime(load_spec("cases"), settings=settings, bus=InMemoryBus(), clock=ManualClock(NOW))
    ctx = runtime.ctx
    try:
        for period, due in (("2026-10", date(2026, 11, 25)), ("2026-11", date(2026, 11, 28))):
            request = CaseRequested(
                contract_id="7", client_id="3", rule_id="vat.jpk_v7m", code="JPK_V7M", period=period,
                title_pl=f"JPK_V7M {period}", title_en="JPK_V7M", due=due, generate_on=due, role="accountant",
                assignee=TeamMember(login="anna", name="Anna Nowak"), notice=["vat"], requires=[],
                checklist=["Zaksięguj", {"item": "Wyślij JPK", "required": True}], rules_version="v1",
                contract_version=1)
            async with ctx.db.transaction() as session:
                await handlers.on_case_requested(ctx, session, Envelope(
                    type=CASE_REQUESTED, producer="scheduler", correlation_id="t",
                    payload=request.model_dump(mode="json")))
        async with ctx.db.reading() as session:
            page = await find_cases(session, ANNA, CaseFilter(mine_of="anna", tab="open", sort="status"), NOW.date())
        assert page["total"] == 2 and page["counts"]["open"] == 2
        october = next(c for c in page["items"] if c["period"] == "2026-10")
        who = lifecycle.Actor("anna", "Anna Nowak")
        with pytest.raises(Problem, match="Wyślij JPK"):
            async with ctx.db.transaction() as session:
                await lifecycle.finish(ctx, session, case_id=october["id"], scope=ANNA, who=who,
                                       amounts={"vat": "5"})
        async with ctx.db.transaction() as session:
            await lifecycle.tick(ctx, session, case_id=october["id"], scope=ANNA, who=who, index=1, done=True)
            await lifecycle.finish(ctx, session, case_id=october["id"], scope=ANNA, who=who,
                                   amounts={"vat": "1 200,00"})
        async with ctx.db.reading() as session:
            today = await find_cases(session, ANNA, CaseFilter(mine_of="anna", tab="today"), NOW.date())
            every = await find_cases(session, ANNA, CaseFilter(mine_of="anna"), NOW.date())
            bodies = (await session.execute(select(outbox.c.body).where(outbox.c.type == "case.completed"))).scalars()
            completed = [json.loads(b)["payload"] for b in bodies]
            case = await handlers.get_case(session=session, case_id=october["id"], scope=ANNA)
        assert [c["period"] for c in today["items"]] == ["2026-11"]
        assert every["counts"] == {"open": 1, "in_progress": 0, "done": 1, "not_applicable": 0, "withdrawn": 0}
        assert [(c["revision"], c["liabilities"][0]["amount"]) for c in completed] == [(1, "1200.00")]
        assert case is not None and [h["event"] for h in case["history"]] == ["created", "ticked", "done"]
        outsider = Scope(login="ola", role="accountant", contracts=["8"])
        async with ctx.db.reading() as session:
            assert await handlers.get_case(session=session, case_id=october["id"], scope=outsider) is None
    finally:
        await ctx.db.dispose()
