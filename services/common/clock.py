"""Injectable clock: timestamps in UTC, business dates in Europe/Warsaw."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

WARSAW = ZoneInfo("Europe/Warsaw")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    def today(self) -> date:
        """The current business date in Warsaw."""
        ...


def local_date(instant: datetime) -> date:
    return instant.astimezone(WARSAW).date()


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return local_date(self.now())


class ManualClock:
    """A clock that stands still until moved; tests and `terminarz simulate` move it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def today(self) -> date:
        return local_date(self._now)

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, instant: datetime) -> None:
        self._now = instant.astimezone(UTC) if instant.tzinfo else instant.replace(tzinfo=UTC)
