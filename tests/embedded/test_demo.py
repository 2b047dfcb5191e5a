"""The demo office looks like an ordinary working day: history behind it, most past work done, a few cases
overdue, some in progress and due this week, notices sent and partly confirmed, one accountant away; the clients'
duties tracked (documents received, one month late), powers of attorney registered (one ending soon, one missing) and
the fees paid but for one client behind, who is reminded."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from services.cases.models import case_history
from services.common.calendar import BusinessCalendar
from services.common.clock import WARSAW, ManualClock
from services.demo import load_demo
from services.notifier.models import notice_events, notice_items, notices
from tests.conftest import wait_for
from tests.embedded.conftest import open_office


async def test_the_demo_office_is_a_normal_monday_not_a_pile_of_overdue_cases(tmp_path: Path) -> None:
    monday = ManualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))  # a Monday: VAT is due on Wednesday
    async with open_office(tmp_path, clock=monday, fee_reminders=True) as office:
        started = time.monotonic()
        logins = await load_demo(office.system, office.clock)
        took = time.monotonic() - started
        today = office.clock.today()
        async with office.api("admin") as api:
            cases = (await api.get("/api/v1/cases", params={"limit": 1000})).json()["items"]
            absences = (await api.get("/api/v1/absences")).json()
            clients = (await api.get("/api/v1/clients", params={"limit": 100})).json()["items"]
            powers = {c["name"]: (await api.get(f"/api/v1/clients/{c['id']}/powers")).json()["kinds"]
                      for c in clients}
            financial = (await api.get("/api/v1/reports/financial", params={"month": "2026-11"})).json()
            execution = (await api.get("/api/v1/reports/execution", params={"from": "2026-10", "to": "2026-11"})).json()
        async with office.system.runtimes["notifier"].ctx.db.reading() as session:
            statuses = Counter((await session.execute(
                select(notices.c.status).where(notices.c.kind == "liability"))).scalars())
            told = (await session.execute(
                select(notices.c.id, notices.c.issued_at, notice_items.c.case_id)
                .join(notice_items, notice_items.c.notice_id == notices.c.id)
                .where(notices.c.kind == "liability"))).all()
            confirmations = (await session.execute(
                select(notices.c.issued_at, notice_events.c.at)
                .join(notice_events, notice_events.c.notice_id == notices.c.id)
                .where(notices.c.kind == "liability", notice_events.c.kind == "confirmed"))).all()
        async with office.system.runtimes["cases"].ctx.db.reading() as session:
            history = (await session.execute(select(case_history.c.case_id, case_history.c.at, case_history.c.event)
                                             .order_by(case_history.c.id))).all()

        async def fee_notices() -> list[str] | None:
            async with office.system.runtimes["notifier"].ctx.db.reading() as session:
                found = list((await session.execute(
                    select(notices.c.period).where(notices.c.kind == "fee", notices.c.status == "issued"))).scalars())
            return found if len(found) >= 2 else None

        reminded = await wait_for(fee_notices, what="the overdue fees' notices")

    assert {"admin", "maria", "anna", "kasia", "piotr"} <= {login for login, _ in logins}
    # The office's own cases; the client's tasks (documents by the 8th/10th) are counted apart below.
    tasks = [c for c in cases if c["party"] == "client"]
    cases = [c for c in cases if c["party"] != "client"]
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

    # The past work was done on its days, as an office's month looks: most on or before the due date, a few a day or
    # two late, each on a business day before today, by the case's assignee. The reports count it so.
    done = [c for c in cases if c["status"] == "done"]
    days = [datetime.fromisoformat(c["completed_at"]).astimezone(WARSAW).date() for c in done]
    assert all(day < today and BusinessCalendar().is_business_day(day) for day in days), days
    late_done = [c for c, day in zip(done, days, strict=True) if day > date.fromisoformat(c["due"])]
    assert 1 <= len(late_done) <= len(done) // 8, f"{len(late_done)} of {len(done)} done late"
    on_time = sum(item["done_on_time"] for item in execution["items"])
    late = sum(item["done_late"] for item in execution["items"])
    assert (on_time, late) == (len(done) - len(late_done), len(late_done))
    office_months = {m["month"]: m for m in financial["office"]}
    assert sum(office_months[m]["done_late"] for m in ("2026-10", "2026-11")) == late
    assert sum(office_months[m]["done_on_time"] for m in ("2026-10", "2026-11")) == on_time
    assert {c["assignee_login"] for c in done} <= {"anna", "kasia", "piotr", "maria"}

    # An office that has used the system for months: each case was made by the planner on its `generate_on` day,
    # before its due date (none "created after its due date": the demo means none to be), and its history reads in
    # time order — created, then worked on, then done — with nothing dated today before what was done weeks ago.
    every_case = cases + tasks
    born_late = [c for c in every_case if c["late_on_creation"]]
    assert not born_late, [(c["code"], c["due"], c["created_at"]) for c in born_late]
    for case in every_case:
        if case["generate_on"] and date.fromisoformat(case["generate_on"]) < today:
            created = datetime.fromisoformat(case["created_at"]).astimezone(WARSAW).date()
            assert created == date.fromisoformat(case["generate_on"]), (case["code"], case["generate_on"], created)
    lines: dict[str, list[tuple[datetime, str]]] = {}
    for row in history:
        lines.setdefault(row.case_id, []).append((row.at, row.event))
    for case in every_case:
        events = lines[case["id"]]
        assert [at for at, _ in events] == sorted(at for at, _ in events), (case["code"], events)
        assert events[0][1] == "created", (case["code"], events)
    for case in done:
        events = lines[case["id"]]
        assert events[-1] == (datetime.fromisoformat(case["completed_at"]), "done"), (case["code"], events)
    for task in (t for t in tasks if t["status"] == "done"):  # documents marked received on their day, not today
        events = lines[task["id"]]
        assert events[-1][1] == "received" and events[-1][0].astimezone(WARSAW).date() < today, events

    # The notices were issued when their cases were finished (the day's send hour, or at once after it): spread over
    # the past, not all at load time; each after every case it tells of, on the day the last of them was done; the
    # clients confirmed theirs after receiving them, before today's work began.
    completed = {c["id"]: datetime.fromisoformat(c["completed_at"]) for c in done}
    by_notice: dict[str, tuple[datetime, list[datetime]]] = {}
    for notice_id, issued_at, case_id in told:
        if issued_at is not None and case_id in completed:
            by_notice.setdefault(notice_id, (issued_at, []))[1].append(completed[case_id])
    assert len(by_notice) >= 10
    for issued_at, finished in by_notice.values():  # a day's completions travel together, told that day
        assert issued_at >= max(finished)
        assert {at.astimezone(WARSAW).date() for at in finished} == {issued_at.astimezone(WARSAW).date()}
    issue_days = {issued_at.astimezone(WARSAW).date() for issued_at, _ in by_notice.values()}
    assert len(issue_days) >= 8 and max(issue_days) < today, sorted(issue_days)
    assert confirmations and all(issued < at <= office.clock.now() for issued, at in confirmations)

    # The client's duties (the planner makes client tasks of the last month past, and those due soon): every past
    # one received, one of them late; one coming still awaited.
    past = [t for t in tasks if date.fromisoformat(t["due"]) < today]
    assert len(past) >= 5 and all(t["status"] == "done" for t in past)
    late = [t for t in past if date.fromisoformat(t["received_on"]) > date.fromisoformat(t["due"])]
    assert len(late) == 1
    assert any(t["status"] == "open" and date.fromisoformat(t["due"]) >= today for t in tasks)
    # Powers of attorney: one client has no UPL-1 (its cases warn), one's ends within 30 days.
    upl = Counter(kinds["UPL-1"]["state"] for kinds in powers.values())
    assert (upl["missing"], upl["expiring"], upl["valid"]) == (1, 1, len(powers) - 2), upl
    # Fees: paid on time, but for one client two months behind — overdue and reminded.
    behind = {(o["client_name"], o["month"]) for o in financial["overdue_fees"]}
    assert len({name for name, _ in behind}) == 1 and len(behind) == 2, behind
    assert sorted(reminded) == sorted(month for _, month in behind)
