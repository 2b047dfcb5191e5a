"""The demo office looks like an ordinary working day: history behind it, most past work done, a few cases
overdue, some in progress and due this week, notices sent and partly confirmed, one accountant away."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from services.common.clock import ManualClock
from services.demo import load_demo
from services.notifier.models import notices
from tests.embedded.conftest import open_office


async def test_the_demo_office_is_a_normal_monday_not_a_pile_of_overdue_cases(tmp_path: Path) -> None:
    monday = ManualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))  # a Monday: VAT is due on Wednesday
    async with open_office(tmp_path, clock=monday) as office:
        started = time.monotonic()
        logins = await load_demo(office.system, office.clock)
        took = time.monotonic() - started
        today = office.clock.today()
        async with office.api("admin") as api:
            cases = (await api.get("/api/v1/cases", params={"limit": 1000})).json()["items"]
            absences = (await api.get("/api/v1/absences")).json()
        async with office.system.runtimes["notifier"].ctx.db.reading() as session:
            statuses = Counter((await session.execute(
                select(notices.c.status).where(notices.c.kind == "liability"))).scalars())

    assert {"admin", "maria", "anna", "kasia", "piotr"} <= {login for login, _ in logins}
    status = Counter(c["status"] for c in cases)
    overdue = [c for c in cases if c["status"] in ("open", "in_progress") and date.fromisoformat(c["due"]) < today]
    this_week = [c for c in cases if c["status"] in ("open", "in_progress")
                 and today <= date.fromisoformat(c["due"]) <= today + timedelta(days=7)]
    assert min(date.fromisoformat(c["due"]) for c in cases) < today - timedelta(days=14), "past work behind it"
    assert status["done"] > len(overdue)
    assert status["in_progress"] > 0
    assert this_week, "something is due this week"
    assert 1 <= len(overdue) <= 6
    assert status["not_applicable"] > 0
    assert statuses["confirmed"] > 0 and statuses["issued"] > 0, statuses
    items = absences["items"]
    assert [(a["login"], a["substitute_login"]) for a in items] == [("kasia", "anna")]
    assert took < 60, f"loading the demo took {took:.1f} s"
