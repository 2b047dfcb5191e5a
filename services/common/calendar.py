"""Polish business-day calendar: public holidays, extra days off and the statutory deadline shift.

One calendar for every service that counts business days (due dates, "due soon", escalations). Extra days off
declared by regulation are given by the caller: the scheduler passes those of its rule files
(`RuleSet.extra_days_off`); a service without rule files uses the statutory holidays alone."""

from __future__ import annotations

import calendar as _stdcal
from collections.abc import Iterable
from datetime import date, timedelta
from enum import StrEnum

import holidays


class Shift(StrEnum):
    """How a due date that falls on a Saturday, Sunday or holiday moves."""

    NEXT_BUSINESS_DAY = "next_business_day"  # art. 12 §5 Ordynacja podatkowa; the statutory default
    PREVIOUS_BUSINESS_DAY = "previous_business_day"
    NONE = "none"


class BusinessCalendar:
    """Business days in Poland: not a Saturday, not a Sunday, not a public holiday, not an extra day off."""

    def __init__(self, extra_days_off: Iterable[date] = ()) -> None:
        self._extra: frozenset[date] = frozenset(extra_days_off)
        self._by_year: dict[int, dict[date, str]] = {}

    @property
    def extra_days_off(self) -> frozenset[date]:
        return self._extra

    def holidays_in(self, year: int) -> dict[date, str]:
        """Public holidays of one year (statutory, incl. Sundays that are holidays) plus extra days off."""
        cached = self._by_year.get(year)
        if cached is None:
            cached = {d: str(name) for d, name in holidays.Poland(years=year).items()}
            for extra in self._extra:
                if extra.year == year:
                    cached.setdefault(extra, "extra day off (art. 1a)")
            self._by_year[year] = cached
        return cached

    def is_holiday(self, d: date) -> bool:
        return d in self.holidays_in(d.year)

    def is_business_day(self, d: date) -> bool:
        return d.weekday() < 5 and not self.is_holiday(d)

    def shift(self, d: date, policy: Shift | str = Shift.NEXT_BUSINESS_DAY) -> date:
        """Move `d` past a whole run of free days in the direction of `policy` (unchanged on a business day)."""
        policy = Shift(policy)
        if policy is Shift.NONE:
            return d
        step = timedelta(days=1 if policy is Shift.NEXT_BUSINESS_DAY else -1)
        while not self.is_business_day(d):
            d += step
        return d

    def add_business_days(self, d: date, n: int) -> date:
        """The n-th business day after `d` (before it when n < 0); `d` itself is returned for n == 0."""
        step = timedelta(days=1 if n >= 0 else -1)
        remaining = abs(n)
        while remaining:
            d += step
            if self.is_business_day(d):
                remaining -= 1
        return d

    def nth_business_day(self, year: int, month: int, n: int) -> date:
        """The n-th (1-based) business day of a month; ValueError when the month has fewer."""
        if n < 1:
            raise ValueError(f"business day number must be at least 1, got {n}")
        last = _stdcal.monthrange(year, month)[1]
        count = 0
        for day in range(1, last + 1):
            d = date(year, month, day)
            if self.is_business_day(d):
                count += 1
                if count == n:
                    return d
        raise ValueError(f"{year}-{month:02d} has only {count} business days, asked for the {n}th")
