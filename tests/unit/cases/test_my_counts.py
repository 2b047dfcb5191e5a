""""My cases" counts per status, counted as two parts (assigned to the person; covered by them for another
assignee) so PostgreSQL reads them from the (assignee, status, due) index alone: the same counts and the same page
as the one condition — the scope, assignee or substitute, the filter — gave, on the first page and further on,
for every kind of case: assigned,
covered, both at once, unassigned and covered, commissioned only, another's, outside the caller's contracts.
tests/distributed/test_my_counts_postgres.py runs the same check on PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from services.cases.handlers import visible
from services.cases.lifecycle import STATUSES
from services.cases.models import cases, metadata
from services.cases.views import CaseFilter, _filters, _ordered, _values, find_cases, mine
from services.common.scope import Scope

TODAY = date(2026, 11, 27)  # a Friday
ANNA = Scope(login="anna", role="accountant", contracts=["7"])
OFFICE = Scope(login="szef", role="manager", contracts=None)
OLA = Scope(login="ola", role="accountant", contracts=["7", "8"])
PEOPLE = ("anna", "ola", None)


def rows() -> list[dict[str, object]]:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    out = []
    kinds = itertools.product(PEOPLE, PEOPLE, PEOPLE, ("7", "8"), STATUSES, (-3, 0, 2, 9), ("on_time", "overdue"))
    for n, (assignee, substitute, commissioner, contract, status, days, state) in enumerate(kinds):
        out.append({
            "id": f"c{n:05d}", "contract_id": contract, "title": f"Sprawa {n % 7}", "code": ("VAT", "PIT")[n % 2],
            "due": TODAY + timedelta(days=days), "status": status, "deadline_state": state,
            "assignee_login": assignee, "substitute_login": substitute, "commissioner_login": commissioner,
            "client_name": f"Klient {n % 5}", "party": ("office", "client")[n % 3 == 0],
            "created_at": now, "updated_at": now})
    return out


FILTERS = [
    CaseFilter(mine_of="anna"), CaseFilter(mine_of="anna", status="open", limit=1000),
    *(CaseFilter(mine_of="anna", tab=tab, limit=1000) for tab in ("today", "week", "overdue", "open")),
    CaseFilter(mine_of="anna", deadline_state="overdue"), CaseFilter(mine_of="anna", contract_id="8"),
    CaseFilter(mine_of="anna", code="VAT", status="done", sort="status", descending=True),
    CaseFilter(mine_of="anna", visible_to="ola", party="client", limit=1000),
    CaseFilter(mine_of="anna", due_from=TODAY, due_to=TODAY + timedelta(days=5), sort="client", limit=1000),
    # Pages further on: each part's first offset + limit, then the page of the two (views.page_statement).
    CaseFilter(mine_of="anna", status="open", limit=7, offset=5),
    CaseFilter(mine_of="anna", tab="open", sort="status", descending=True, limit=3, offset=11),
    CaseFilter(mine_of="anna", sort="client", limit=10, offset=40),
]


async def check_counts(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(cases.insert(), rows())
    checked = 0
    async with AsyncSession(engine) as conn:
        for scope, f in itertools.product((ANNA, OFFICE, OLA), FILTERS):
            where = [visible(scope), mine(f.mine_of or ""), *_filters(f)]  # the one condition of before
            values = _values(scope, f, TODAY)  # the filters' parameters
            expected = {s: 0 for s in STATUSES}
            for status, n in await conn.execute(select(cases.c.status, func.count()).where(*where)
                                                .group_by(cases.c.status), values):
                expected[status] = n
            if f.status is not None:
                where.append(cases.c.status == f.status)
            page = [r.id for r in await conn.execute(
                _ordered(select(cases.c.id).where(*where), f).limit(f.limit).offset(f.offset), values)]
            got = await find_cases(conn, scope, f, TODAY)
            assert got["counts"] == expected, (scope.login, f)
            assert [c["id"] for c in got["items"]] == page, (scope.login, f)
            checked += sum(expected.values())
    assert checked > 1000  # the filters do select cases


async def test_my_counts_equal_the_one_condition_on_sqlite(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'cases.db'}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        await check_counts(engine)
    finally:
        await engine.dispose()
