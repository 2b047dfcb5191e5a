"""The cases service's report aggregates, computed in SQL within the caller's scope: contract execution per month,
overdue cases now, the workload of the coming weeks and one person's own counts (the dashboard).

Definitions (the gateway README repeats them): a case counts in the month of its due date; *done on time* is done
with `completed_at`'s Warsaw date on or before the due date, *done late* any other done case; *overdue* is open or
in progress past its due date (on the clock's today); *not applicable* its own status; withdrawn cases count
nowhere. The client's tasks (cases of party client) are counted apart, beside the office's: delivered on time (the
day received, `received_on`, on or before the due date), late, or overdue (still awaited past the due date).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.cases.handlers import OPEN_STATUSES, visible
from services.cases.models import cases
from services.common.db import plain
from services.common.errors import Problem
from services.common.months import MonthParam, add_months, month_of, month_range, parse_month, warsaw_date
from services.common.params import LoginFilter
from services.common.runtime import ServiceContext, get_context
from services.common.scope import Scope, request_scope

router = APIRouter(prefix="/reports")

WORKLOAD_WEEKS = 8
WORST_CONTRACTS = 10


def _count(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


async def execution(*, session: AsyncSession, scope: Scope, first: date, last: date,
                    today: date) -> list[dict[str, Any]]:
    """Per contract and month of due date (from `first`'s month to `last`'s, included): the office's cases due, done
    on time, done late, overdue, not applicable, and still open before their due date; beside them the client's
    tasks (`party: client`) due, delivered on time, delivered late and still awaited past their due date."""
    is_open = cases.c.status.in_(OPEN_STATUSES)
    office, client = cases.c.party != "client", cases.c.party == "client"
    done = and_(office, cases.c.status == "done")
    on_time = and_(done, cases.c.completed_at.is_not(None), warsaw_date(cases.c.completed_at) <= cases.c.due)
    # The client's tasks count apart: late when what was due arrived after the due date (`received_on`; a task
    # finished without one counts from the day it was finished).
    client_done = and_(client, cases.c.status == "done")
    arrived = func.coalesce(cases.c.received_on, warsaw_date(cases.c.completed_at))
    month = month_of(cases.c.due).label("month")
    query = (
        select(cases.c.contract_id, func.max(cases.c.contract_number).label("number"),
               func.max(cases.c.client_name).label("client_name"), month,
               _count(office).label("due"), _count(on_time).label("done_on_time"),
               _count(and_(done, ~on_time)).label("done_late"),
               _count(and_(office, is_open, cases.c.due < today)).label("overdue"),
               _count(and_(office, cases.c.status == "not_applicable")).label("not_applicable"),
               _count(and_(office, is_open, cases.c.due >= today)).label("open"),
               _count(client).label("client_due"),
               _count(and_(client_done, arrived <= cases.c.due)).label("client_on_time"),
               _count(and_(client_done, arrived > cases.c.due)).label("client_late"),
               _count(and_(client, is_open, cases.c.due < today)).label("client_overdue"))
        .where(visible(scope), cases.c.status != "withdrawn", cases.c.due >= first, cases.c.due < add_months(last, 1))
        .group_by(cases.c.contract_id, month)
        .order_by(func.max(cases.c.contract_number), month)
    )
    return [{key: (int(value or 0) if key not in ("contract_id", "number", "client_name", "month") else value)
             for key, value in plain(row).items()} for row in await session.execute(query)]


async def overdue(*, session: AsyncSession, scope: Scope, today: date) -> dict[str, Any]:
    """The office's open and in-progress cases past due on `today`: how many, by assignee, by client and by contract
    (most first), each with its oldest due date. The client's tasks still awaited past their due date are counted
    apart (`client_tasks`: total, by client, by the accountant who owns them): they are the client's lateness, not
    the accountant's own overdue work."""
    late = (visible(scope), cases.c.status.in_(OPEN_STATUSES), cases.c.due < today)

    async def grouped(party: Any, *columns: Any) -> list[dict[str, Any]]:
        query = (select(*columns, func.count().label("overdue"), func.min(cases.c.due).label("oldest_due"))
                 .where(*late, party).group_by(*columns).order_by(func.count().desc(), *columns))
        return [{**plain(row), "oldest_due": _iso(row.oldest_due), "overdue": int(row.overdue)}
                for row in await session.execute(query)]

    office, client = cases.c.party != "client", cases.c.party == "client"
    by_assignee = await grouped(office, cases.c.assignee_login, cases.c.assignee_name)
    by_client = await grouped(office, cases.c.client_name)
    by_contract = await grouped(office, cases.c.contract_id, cases.c.contract_number, cases.c.client_name)
    client_by_client = await grouped(client, cases.c.client_name)
    client_by_assignee = await grouped(client, cases.c.assignee_login, cases.c.assignee_name)
    return {"today": today.isoformat(), "total": sum(r["overdue"] for r in by_assignee),
            "by_assignee": by_assignee, "by_client": by_client, "by_contract": by_contract,
            "client_tasks": {"total": sum(r["overdue"] for r in client_by_client), "by_client": client_by_client,
                             "by_assignee": client_by_assignee}}


def week_starts(today: date, weeks: int = WORKLOAD_WEEKS) -> list[date]:
    """The Mondays of this ISO week and the `weeks - 1` following."""
    monday = today - timedelta(days=today.weekday())
    return [monday + timedelta(weeks=n) for n in range(weeks)]


async def workload(*, session: AsyncSession, scope: Scope, today: date) -> dict[str, Any]:
    """The office's open and in-progress cases per assignee and ISO week of their due date, from today to the end of
    the seventh week after this one; those already overdue (due before today) are counted apart, not in their week.
    The client's tasks the person owns are counted beside (`client_open`: awaited within the weeks, `client_overdue`:
    awaited past their due date), not as the person's work."""
    mondays = week_starts(today)
    end = mondays[-1] + timedelta(weeks=1)
    week = case(*[(cases.c.due < monday + timedelta(weeks=1), n) for n, monday in enumerate(mondays)]).label("week")
    base = (visible(scope), cases.c.status.in_(OPEN_STATUSES), cases.c.party != "client")
    people: dict[str | None, dict[str, Any]] = {}

    def person(login: str | None, name: str) -> dict[str, Any]:
        return people.setdefault(login, {"login": login, "name": name, "weeks": [0] * len(mondays), "overdue": 0,
                                         "client_open": 0, "client_overdue": 0})

    for row in await session.execute(
            select(cases.c.assignee_login, func.max(cases.c.assignee_name).label("name"),
                   _count(cases.c.due >= today).label("waiting"), _count(cases.c.due < today).label("late"))
            .where(visible(scope), cases.c.status.in_(OPEN_STATUSES), cases.c.party == "client", cases.c.due < end)
            .group_by(cases.c.assignee_login)):
        shown = person(row.assignee_login, row.name)
        shown["client_open"], shown["client_overdue"] = int(row.waiting or 0), int(row.late or 0)

    for row in await session.execute(
            select(cases.c.assignee_login, func.max(cases.c.assignee_name).label("name"), week, func.count())
            .where(*base, cases.c.due >= today, cases.c.due < end)
            .group_by(cases.c.assignee_login, week)):
        person(row.assignee_login, row.name)["weeks"][int(row.week)] = int(row[3])
    for row in await session.execute(
            select(cases.c.assignee_login, func.max(cases.c.assignee_name).label("name"), func.count())
            .where(*base, cases.c.due < today).group_by(cases.c.assignee_login)):
        person(row.assignee_login, row.name)["overdue"] = int(row[2])
    weeks = [{"start": m.isoformat(), "end": (m + timedelta(days=6)).isoformat(),
              "iso_week": f"{m.isocalendar().year}-W{m.isocalendar().week:02d}"} for m in mondays]
    rows = sorted(people.values(), key=lambda p: (p["login"] is None, p["name"] or "", p["login"] or ""))
    return {"today": today.isoformat(), "weeks": weeks, "people": rows}


async def mine(*, session: AsyncSession, scope: Scope, login: str, today: date) -> dict[str, Any]:
    """One person's own open cases (they are the assignee): due today, due this week (today to Sunday), overdue —
    the office's cases; the client's tasks they own still awaited past the due date apart (`client_overdue`)."""
    sunday = today + timedelta(days=6 - today.weekday())
    office = cases.c.party != "client"
    row = (await session.execute(
        select(_count(and_(office, cases.c.due == today)),
               _count(and_(office, cases.c.due >= today, cases.c.due <= sunday)),
               _count(and_(office, cases.c.due < today)), _count(and_(~office, cases.c.due < today)))
        .where(visible(scope), cases.c.status.in_(OPEN_STATUSES),
               cases.c.assignee_login == login))).one()
    return {"login": login, "today": today.isoformat(), "due_today": int(row[0] or 0),
            "due_this_week": int(row[1] or 0), "overdue": int(row[2] or 0), "client_overdue": int(row[3] or 0)}


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


# --- Routes (internal: the gateway calls them with the caller's scope) --------------------------------------


@router.get("/execution")
async def execution_report(ctx: ServiceContext = Depends(get_context), scope: Scope = Depends(request_scope),
                           from_: Annotated[MonthParam, Query(alias="from")] = None,
                           to: MonthParam = None) -> dict[str, Any]:
    """Per contract and month (of due date): due, done on time, done late, overdue, not applicable, open; `from`
    and `to` are months (YYYY-MM), by default the twelve ending with this one."""
    today = ctx.clock.today()
    try:
        covered = month_range(from_, to, today=today)
    except ValueError as error:
        raise Problem(422, "Invalid input", errors=[{"field": "from", "message": str(error).removeprefix(
            "from: ")}]) from None
    async with ctx.db.reading() as session:
        items = await execution(session=session, scope=scope, first=parse_month(covered[0]),
                                last=parse_month(covered[-1]), today=today)
    return {"today": today.isoformat(), "months": covered, "items": items}


@router.get("/overdue")
async def overdue_report(ctx: ServiceContext = Depends(get_context),
                         scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.reading() as session:
        return await overdue(session=session, scope=scope, today=ctx.clock.today())


@router.get("/workload")
async def workload_report(ctx: ServiceContext = Depends(get_context),
                          scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.reading() as session:
        return await workload(session=session, scope=scope, today=ctx.clock.today())


@router.get("/mine")
async def my_counts(login: LoginFilter = None, ctx: ServiceContext = Depends(get_context),
                    scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """One person's own counts (default: the caller's): due today, this week, overdue."""
    async with ctx.db.reading() as session:
        return await mine(session=session, scope=scope, login=login or scope.login, today=ctx.clock.today())
