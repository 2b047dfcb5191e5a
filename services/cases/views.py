"""Lists of cases as people work them: "my cases" with its tabs, filters, sorting, paging and counts per status.

One query shape for the API and the page; the caller's scope (`handlers.visible`) applies to the list, its total
and its counts alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Date, Integer, Select, String, bindparam, case, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import TypeEngine

from services.cases.lifecycle import OPEN_STATUSES, STATUSES
from services.cases.models import cases
from services.common.db import plain_rows
from services.common.scope import Scope

Tab = Literal["today", "week", "overdue", "open"]
Sort = Literal["due", "client", "status"]
TABS: tuple[Tab, ...] = ("today", "week", "overdue", "open")


def mine(login: str | BindParameter[str]) -> ColumnElement[bool]:
    """The cases that are a person's own work: assigned to them, or covered while the assignee is absent."""
    from services.cases.assignment import mine_condition

    return mine_condition(login)


@dataclass(frozen=True)
class CaseFilter:
    mine_of: str | None = None  # a login: only that person's own cases (`mine`)
    visible_to: str | None = None  # a login: the cases they do or commissioned (the older filter)
    tab: Tab | None = None
    status: str | None = None
    contract_id: str | None = None
    client_id: str | None = None
    client: str | None = None  # part of the client's name
    code: str | None = None
    assignee: str | None = None
    due_from: date | None = None
    due_to: date | None = None
    deadline_state: str | None = None  # on_time | due_soon | overdue, of open cases (watch.py)
    party: str | None = None  # office | client (the client's tasks, duties.py)
    sort: Sort = "due"
    descending: bool = False
    limit: int = 100
    offset: int = 0


def week_end(today: date) -> date:
    """The Sunday of `today`'s week: "this week" runs from today to it."""
    return today + timedelta(days=6 - today.weekday())


def _own_only(scope: Scope, f: CaseFilter) -> bool:
    """Whether the filter is a person's own cases that the scope sees whole: the caller's own (`visible` holds
    `mine` of its login) or anyone's for an office-wide scope. Then the scope adds no condition."""
    return f.mine_of is not None and (scope.contracts is None or f.mine_of == scope.login)


def _param(name: str) -> BindParameter[Any]:
    """The parameter a filter's value is bound to: statements are built once per shape of filter (`_built`) and
    run with each call's values (`_values`)."""
    return bindparam(name, type_=_PARAM_TYPES.get(name, String()))


_PARAM_TYPES: dict[str, TypeEngine[Any]] = {
    "today": Date(), "week_end": Date(), "due_from": Date(), "due_to": Date(), "limit": Integer(), "offset": Integer()}


def _conditions(scope: Scope, f: CaseFilter) -> list[ColumnElement[bool]]:
    from services.cases.handlers import visible

    where: list[ColumnElement[bool]] = []
    if not _own_only(scope, f):
        where.append(visible(scope, parameters=True))
    if f.mine_of is not None:
        where.append(mine(_param("mine_of")))
    return where + _filters(f)


def _filters(f: CaseFilter) -> list[ColumnElement[bool]]:
    """The filter's conditions but the scope, `mine` and the status (the counts are per status). They depend on
    which filters are given, never on their values: those are parameters (`_values`)."""
    where: list[ColumnElement[bool]] = []
    if f.visible_to is not None:
        person = _param("visible_to")
        where.append(or_(cases.c.assignee_login == person, cases.c.commissioner_login == person))
    if f.tab is not None:
        where.append(cases.c.status.in_(OPEN_STATUSES))
        if f.tab == "today":
            where.append(cases.c.due == _param("today"))
        elif f.tab == "week":
            where.append(cases.c.due.between(_param("today"), _param("week_end")))
        elif f.tab == "overdue":
            where.append(cases.c.due < _param("today"))
    for name in ("contract_id", "client_id", "code", "party"):
        if getattr(f, name) is not None:
            where.append(cases.c[name] == _param(name))
    if f.client:
        where.append(func.lower(cases.c.client_name).like(_param("client_pattern"), escape="\\"))
    if f.assignee is not None:
        where.append(cases.c.assignee_login == _param("assignee"))
    if f.due_from is not None:
        where.append(cases.c.due >= _param("due_from"))
    if f.due_to is not None:
        where.append(cases.c.due <= _param("due_to"))
    if f.deadline_state is not None:  # a finished case keeps its last state, unlisted here
        where.extend((cases.c.deadline_state == _param("deadline_state"), cases.c.status.in_(OPEN_STATUSES)))
    return where


# The filters whose values are parameters: whether each is given is part of a statement's shape (`_shape`), its
# value one of the call's parameters (`_values`).
_VALUED = ("mine_of", "visible_to", "status", "contract_id", "client_id", "code", "party", "assignee", "due_from",
           "due_to", "deadline_state")


def _values(scope: Scope, f: CaseFilter, today: date) -> dict[str, Any]:
    """The parameters of the statements `_built` for `f` (those its shape does not use are ignored)."""
    values: dict[str, Any] = {name: getattr(f, name) for name in (*_VALUED, "limit", "offset")}
    if f.client:
        escaped = f.client.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        values["client_pattern"] = f"%{escaped.lower()}%"
    values.update(today=today, week_end=week_end(today), scope_login=scope.login,
                  scope_contracts=scope.contracts or [])
    return values


_STATUS_ORDER = case({s: i for i, s in enumerate(STATUSES)}, value=cases.c.status, else_=len(STATUSES))


def _ordered(query: Select[Any], f: CaseFilter) -> Select[Any]:
    by: dict[str, list[Any]] = {
        "due": [cases.c.due],
        "client": [cases.c.client_name, cases.c.due],
        "status": [_STATUS_ORDER, cases.c.due],
    }
    keys = by[f.sort]
    keys = [k.desc() for k in keys] if f.descending else keys
    return query.order_by(*keys, cases.c.title, cases.c.id)


async def find_cases(session: AsyncSession, scope: Scope, f: CaseFilter, today: date, *,
                     columns: Sequence[ColumnElement[Any]] | None = None) -> dict[str, Any]:
    """A page of cases, their total, and the count per status of the same filters without the status one.

    `columns`: only these of each case (bench/my_cases.py compares the list's own columns with every column: at
    1,000,000 cases no difference, the counts per status are what cost); by default every column."""
    page, counts = _built(scope, f, columns)
    values = _values(scope, f, today)
    by_status = {status: 0 for status in STATUSES}
    for status, n in await session.execute(counts, values):
        by_status[status] = int(n)
    total = by_status.get(f.status, 0) if f.status is not None else sum(by_status.values())
    rows = await session.execute(page, values)
    return {"items": plain_rows(rows), "total": total, "counts": by_status,
            "limit": f.limit, "offset": f.offset}


def counts_statement(scope: Scope, f: CaseFilter) -> Select[Any]:
    """(status, count) of the filter's cases, whatever their status.

    A person's own cases are counted as two disjoint parts added up: those assigned to them, then those they cover
    for another assignee. The first part reads `ix_cases_assignee_status` (assignee, status, due) alone — an
    index-only scan when the filter asks nothing but the status and due date (tabs) — instead of visiting every
    one of the person's cases on its own heap page (the done ones too: ~5,000 of them at 1,000,000 cases, the
    "my cases" counts' whole cost, bench/README.md). The same counts as one condition `mine` would give."""
    if not _own_only(scope, f):
        return (select(cases.c.status, func.count()).where(*_conditions(scope, f))
                .group_by(cases.c.status))
    login = _param("mine_of")
    rest = _filters(f)
    own = select(cases.c.status).where(cases.c.assignee_login == login, *rest)
    covered = select(cases.c.status).where(
        cases.c.substitute_login == login,
        or_(cases.c.assignee_login != login, cases.c.assignee_login.is_(None)), *rest)
    both = union_all(own, covered).subquery("mine")
    return select(both.c.status, func.count()).group_by(both.c.status)


def _shape(scope: Scope, f: CaseFilter, columns: Sequence[ColumnElement[Any]] | None) -> tuple[Any, ...]:
    """What the statements of `find_cases` depend on: which filters are given, the tab and the order, whether the
    scope restricts and whether the caller asks for their own cases — never a value."""
    given = tuple(getattr(f, name) is not None for name in _VALUED)
    return (scope.contracts is None, _own_only(scope, f), given, bool(f.client), f.tab, f.sort, f.descending,
            None if columns is None else tuple(c.name for c in columns))


# The statements of each shape of filter, built once: building them took more of the cases service's time on a
# "my cases" call than PostgreSQL's answering them at 1,000,000 cases (bench/my_cases.py). Shapes are few (the
# page's tabs and filters); the cap only bounds an unusual mix.
_BUILT: dict[tuple[Any, ...], tuple[Select[Any], Select[Any]]] = {}
_BUILT_MAX = 256


def _built(scope: Scope, f: CaseFilter,
           columns: Sequence[ColumnElement[Any]] | None = None) -> tuple[Select[Any], Select[Any]]:
    """The page and the counts per status `find_cases` runs for `f`'s shape, with parameters (`_values`)."""
    key = _shape(scope, f, columns)
    built = _BUILT.get(key)
    if built is None:
        where = _conditions(scope, f)
        if f.status is not None:
            where.append(cases.c.status == _param("status"))
        query = select(cases) if columns is None else select(*columns)
        page = _ordered(query.where(*where), f).limit(_param("limit")).offset(_param("offset"))
        if len(_BUILT) >= _BUILT_MAX:
            _BUILT.clear()
        built = _BUILT[key] = (page, counts_statement(scope, f))
    return built


def statements(scope: Scope, f: CaseFilter, today: date, *,
               columns: Sequence[ColumnElement[Any]] | None = None) -> tuple[Select[Any], Select[Any]]:
    """The page and the counts per status `find_cases` runs, with this call's values bound (bench/my_cases.py
    prints their plans)."""
    values = _values(scope, f, today)
    page, counts = _built(scope, f, columns)
    return page.params(values), counts.params(values)
