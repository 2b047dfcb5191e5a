"""Calendar months for reports: the `YYYY-MM` parameter, month arithmetic, and SQL expressions that group rows by
Warsaw date and month the same way on PostgreSQL and SQLite.

`warsaw_date(ts)` is the Europe/Warsaw calendar date of a UTC timestamp column: PostgreSQL converts with
`AT TIME ZONE`; SQLite has no time zones, so each connection gets a `warsaw_date` function (registered in
`services/common/db.py`) that does the same with zoneinfo. `month_of(day)` is a date's `YYYY-MM`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import Query
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError
from sqlalchemy import Date, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from services.common.clock import WARSAW

# The months' names, for every service that writes them: "listopad 2026", "November 2026", and "in" a month with its
# preposition — Polish puts the month in the locative and says "we" before "wrześniu" ("w miesiącu listopad" is not
# Polish).
MONTHS_PL = ("styczeń", "luty", "marzec", "kwiecień", "maj", "czerwiec", "lipiec", "sierpień", "wrzesień",
             "październik", "listopad", "grudzień")
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December")
IN_MONTH_PL = ("w styczniu", "w lutym", "w marcu", "w kwietniu", "w maju", "w czerwcu", "w lipcu", "w sierpniu",
               "we wrześniu", "w październiku", "w listopadzie", "w grudniu")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MAX_MONTHS = 36  # the longest range one report covers


def parse_month(text: str) -> date:
    """`2026-03` → 2026-03-01; anything else is a ValueError saying how a month is written."""
    match = _MONTH.match(text)
    if not match or not 2000 <= int(match.group(1)) <= 2200:
        raise ValueError(f"a month is written YYYY-MM (2000-2200), got {text[:20]!r}")
    return date(int(match.group(1)), int(match.group(2)), 1)


def _month_param(value: str | None) -> str | None:
    if value is not None:
        try:
            parse_month(value)
        except ValueError as error:
            raise PydanticCustomError("month", "{reason}", {"reason": str(error)}) from None
    return value


MonthParam = Annotated[str | None, Query(max_length=7, description="a month, YYYY-MM"), AfterValidator(_month_param)]
RequiredMonth = Annotated[str, Query(max_length=7, description="a month, YYYY-MM"), AfterValidator(_month_param)]


def in_month_pl(month: str) -> str:
    """`2026-10` → "w październiku 2026" (a client's mail: "za obsługę w październiku 2026")."""
    first = parse_month(month)
    return f"{IN_MONTH_PL[first.month - 1]} {first.year}"


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def add_months(first: date, n: int) -> date:
    """The first day of the month `n` months after (or before) `first`'s."""
    index = first.year * 12 + first.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def month_end(first: date) -> date:
    return add_months(first, 1) - timedelta(days=1)


def months(start: date, end: date) -> list[str]:
    """Every `YYYY-MM` from `start`'s month to `end`'s, both included."""
    out, current = [], start.replace(day=1)
    while current <= end:
        out.append(month_key(current))
        current = add_months(current, 1)
    return out


def month_range(first: str | None, last: str | None, *, today: date, default_months: int = 12) -> list[str]:
    """The months a report covers: `first`..`last` (YYYY-MM, both included); left out, the `default_months`
    months ending with today's. More than MAX_MONTHS, or `first` after `last`, is a ValueError naming the field."""
    end = parse_month(last) if last else today.replace(day=1)
    start = parse_month(first) if first else add_months(end, 1 - default_months)
    if start > end:
        raise ValueError("from: the first month comes after the last one (to)")
    covered = months(start, end)
    if len(covered) > MAX_MONTHS:
        raise ValueError(f"from: a report covers at most {MAX_MONTHS} months")
    return covered


def start_of_day(day: date) -> datetime:
    """Midnight of a Warsaw date, as a UTC instant."""
    return datetime.combine(day, time(), WARSAW).astimezone(UTC)


# --- SQL -------------------------------------------------------------------------------------------------


class warsaw_date(FunctionElement[date]):
    """The Warsaw calendar date of a UTC timestamp column."""

    type = Date()
    inherit_cache = True


class month_of(FunctionElement[str]):
    """A date's `YYYY-MM`."""

    type = String()
    inherit_cache = True


@compiles(warsaw_date, "postgresql")
def _warsaw_date_pg(element: warsaw_date, compiler: Any, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)} AT TIME ZONE 'Europe/Warsaw') AS DATE)"


@compiles(warsaw_date)
def _warsaw_date_other(element: warsaw_date, compiler: Any, **kw: Any) -> str:
    return f"warsaw_date({compiler.process(element.clauses, **kw)})"


@compiles(month_of, "postgresql")
def _month_of_pg(element: month_of, compiler: Any, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM')"


@compiles(month_of)
def _month_of_other(element: month_of, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)})"


def sqlite_warsaw_date(value: str | None) -> str | None:
    """SQLite's `warsaw_date`: a stored UTC timestamp (text, with or without offset) → its Warsaw `YYYY-MM-DD`."""
    if value is None:
        return None
    instant = datetime.fromisoformat(str(value))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(WARSAW).date().isoformat()


def month_choices(today: date, *shown: str) -> list[str]:
    """The months a month field offers (a report's, a payment's), newest first: next month back to the start of the
    three years one report covers at most (`MAX_MONTHS`), and the months the page shows even when outside them (an
    address typed by hand)."""
    this_month = today.replace(day=1)
    offered = months(add_months(this_month, 1 - MAX_MONTHS), add_months(this_month, 1))
    return sorted(set(offered) | set(shown), reverse=True)
