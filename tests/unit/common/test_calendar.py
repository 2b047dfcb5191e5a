"""The business-day calendar: Polish holidays, Wigilia from 2025, the shift over runs of free days."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.calendar import BusinessCalendar, Shift

CAL = BusinessCalendar()

HOLIDAYS_2026 = [
    date(2026, 1, 1), date(2026, 1, 6), date(2026, 4, 5), date(2026, 4, 6), date(2026, 5, 1), date(2026, 5, 3),
    date(2026, 5, 24), date(2026, 6, 4), date(2026, 8, 15), date(2026, 11, 1), date(2026, 11, 11),
    date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26),
]
HOLIDAYS_2027 = [
    date(2027, 1, 1), date(2027, 1, 6), date(2027, 3, 28), date(2027, 3, 29), date(2027, 5, 1), date(2027, 5, 3),
    date(2027, 5, 16), date(2027, 5, 27), date(2027, 8, 15), date(2027, 11, 1), date(2027, 11, 11),
    date(2027, 12, 24), date(2027, 12, 25), date(2027, 12, 26),
]


@pytest.mark.parametrize("year, expected", [(2026, HOLIDAYS_2026), (2027, HOLIDAYS_2027)])
def test_the_statutory_holidays_of_2026_and_2027(year: int, expected: list[date]) -> None:
    assert sorted(CAL.holidays_in(year)) == expected


def test_wigilia_is_a_day_off_from_2025_and_not_before() -> None:
    assert not CAL.is_holiday(date(2024, 12, 24))  # a Tuesday, a working day in 2024
    assert CAL.is_business_day(date(2024, 12, 24))
    assert CAL.is_holiday(date(2025, 12, 24))
    assert not CAL.is_business_day(date(2025, 12, 24))


def test_epiphany_is_a_day_off_from_2011() -> None:
    assert CAL.is_business_day(date(2010, 1, 6))  # a Wednesday
    assert not CAL.is_business_day(date(2011, 1, 6))  # a Thursday, a holiday since 2011


@pytest.mark.parametrize(
    "nominal, policy, expected",
    [
        (date(2026, 12, 25), Shift.NEXT_BUSINESS_DAY, date(2026, 12, 28)),  # Fri holiday, Sat holiday, Sun
        (date(2026, 12, 24), Shift.NEXT_BUSINESS_DAY, date(2026, 12, 28)),  # Thu Wigilia starts the run
        (date(2026, 12, 27), Shift.PREVIOUS_BUSINESS_DAY, date(2026, 12, 23)),
        (date(2026, 4, 5), Shift.NEXT_BUSINESS_DAY, date(2026, 4, 7)),  # Easter Sunday + Monday
        (date(2027, 5, 1), Shift.NEXT_BUSINESS_DAY, date(2027, 5, 4)),  # Sat 1.05, Sun, Mon 3.05
        (date(2026, 1, 31), Shift.NEXT_BUSINESS_DAY, date(2026, 2, 2)),
        (date(2026, 1, 31), Shift.NONE, date(2026, 1, 31)),
        (date(2026, 3, 31), Shift.NEXT_BUSINESS_DAY, date(2026, 3, 31)),  # a Tuesday stays
    ],
)
def test_shift_skips_the_whole_run_of_free_days(nominal: date, policy: Shift, expected: date) -> None:
    assert CAL.shift(nominal, policy) == expected


def test_add_business_days_in_both_directions() -> None:
    assert CAL.add_business_days(date(2026, 12, 23), 1) == date(2026, 12, 28)
    assert CAL.add_business_days(date(2026, 12, 28), -1) == date(2026, 12, 23)
    assert CAL.add_business_days(date(2026, 12, 28), -3) == date(2026, 12, 21)
    assert CAL.add_business_days(date(2026, 5, 4), 0) == date(2026, 5, 4)


def test_nth_business_day_of_a_month() -> None:
    assert CAL.nth_business_day(2026, 1, 1) == date(2026, 1, 2)  # 1.01 is a holiday
    assert CAL.nth_business_day(2026, 1, 3) == date(2026, 1, 7)  # 3-4 weekend, 6.01 Epiphany
    assert CAL.nth_business_day(2027, 5, 1) == date(2027, 5, 4)
    with pytest.raises(ValueError, match="business days"):
        CAL.nth_business_day(2026, 2, 25)


def test_extra_days_off_are_not_business_days() -> None:
    cal = BusinessCalendar([date(2026, 5, 4)])  # a Monday declared free
    assert not cal.is_business_day(date(2026, 5, 4))
    assert cal.shift(date(2026, 5, 2)) == date(2026, 5, 5)  # Sat, Sun 3.05 holiday, Mon extra → Tue


def _free(d: date) -> bool:
    return d.weekday() >= 5 or CAL.is_holiday(d)


days = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 20))


@settings(max_examples=600, deadline=None)
@given(days)
def test_next_business_day_is_the_first_free_of_weekend_and_holiday_on_or_after(nominal: date) -> None:
    shifted = CAL.shift(nominal, Shift.NEXT_BUSINESS_DAY)
    assert shifted.weekday() < 5 and not CAL.is_holiday(shifted)
    assert shifted >= nominal
    if not _free(nominal):
        assert shifted == nominal
    day = nominal
    while day < shifted:  # every day skipped was free: it is the first business day
        assert _free(day)
        day += timedelta(days=1)


@settings(max_examples=600, deadline=None)
@given(days)
def test_previous_business_day_is_the_last_business_day_on_or_before(nominal: date) -> None:
    shifted = CAL.shift(nominal, Shift.PREVIOUS_BUSINESS_DAY)
    assert shifted.weekday() < 5 and not CAL.is_holiday(shifted)
    assert shifted <= nominal
    day = nominal
    while day > shifted:
        assert _free(day)
        day -= timedelta(days=1)


@settings(max_examples=300, deadline=None)
@given(days, st.integers(min_value=-30, max_value=30))
def test_add_business_days_lands_on_a_business_day_n_steps_away(start: date, n: int) -> None:
    result = CAL.add_business_days(start, n)
    if n == 0:
        assert result == start
        return
    assert CAL.is_business_day(result)
    lo, hi = sorted((start, result))
    between = [lo + timedelta(days=i) for i in range(1, (hi - lo).days + (1 if n > 0 else 0))]
    if n < 0:
        between = [lo + timedelta(days=i) for i in range(0, (hi - lo).days)]
    assert sum(CAL.is_business_day(d) for d in between) == abs(n)
