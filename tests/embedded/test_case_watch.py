"""Deadlines watched (services/cases/watch.py): the morning job moves cases to due soon and overdue, climbs the
escalation ladder, summarizes cases born overdue and writes each person's digest — each decision once, however
often the job runs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.cases import handlers, watch
from services.cases.models import cases, outbox
from services.common.clock import WARSAW, ManualClock
from services.common.messages import CASE_REQUESTED, CaseRequested, Envelope, TeamMember
from services.common.settings import Settings
from services.system import EmbeddedSystem
from tests.conftest import wait_for
from tests.embedded.conftest import Office, embedded_settings, open_office

ANNA = TeamMember(login="anna", name="Anna Nowak", email="anna@biuro.example")
OLA = TeamMember(login="ola", name="Ola Wiśniewska", email="ola@biuro.example")
PIOTR = TeamMember(login="piotr", name="Piotr Zleceniodawca", email="piotr@biuro.example")
WATCHED = ("case.due_soon", "case.overdue", "case.escalated", "case.overdue_summary", "case.digest")


def warsaw(day: date, at: time = time(7, 30)) -> datetime:
    return datetime.combine(day, at, tzinfo=WARSAW).astimezone(UTC)


@pytest.fixture
async def office(tmp_path: Path, rules_dir: Path) -> AsyncIterator[Office]:
    # The job runs only when a test says so: the background loop would wait an hour between passes.
    async with open_office(tmp_path, rules_dir=rules_dir, case_watch_tick_seconds=3600,
                           case_managers="Maria Kierownik <maria@biuro.example>",
                           clock=ManualClock(warsaw(date(2026, 11, 20), time(12)))) as running:
        yield running


async def request_case(office: Office, rule: str, due: date, *, assignee: TeamMember = ANNA,
                       commissioner: TeamMember | None = PIOTR, late: bool = False) -> str:
    ctx = office.system.runtimes["cases"].ctx
    request = CaseRequested(contract_id="c-1", contract_number="1/2026", client_name="Kowalski sp. z o.o.",
                            rule_id=rule, code=rule.upper(), period="2026-10", title_pl=f"Sprawa {rule}",
                            title_en=rule, due=due, generate_on=due, role="accountant", assignee=assignee,
                            commissioner=commissioner, rules_version="v1", contract_version=1, late_on_creation=late)
    envelope = Envelope(type=CASE_REQUESTED, producer="scheduler", correlation_id="test",
                        payload=request.model_dump(mode="json"))
    async with ctx.db.transaction() as session:
        await handlers.on_case_requested(ctx, session, envelope)
        return str((await session.execute(select(cases.c.id).where(cases.c.rule_id == rule))).scalar_one())


async def published(office: Office) -> list[tuple[str, dict[str, Any]]]:
    """The watch events the cases service has published (its outbox), oldest first."""
    ctx = office.system.runtimes["cases"].ctx
    async with ctx.db.reading() as session:
        rows = await session.execute(select(outbox.c.type, outbox.c.body).where(outbox.c.type.in_(WATCHED))
                                     .order_by(outbox.c.seq))
        return [(kind, json.loads(body)["payload"]) for kind, body in rows]


def summary(events: list[tuple[str, dict[str, Any]]], titles: dict[str, str]) -> list[tuple[str, ...]]:
    """Events as (type, case, recipients…) to compare whole."""
    out: list[tuple[str, ...]] = []
    for kind, p in events:
        if kind == "case.escalated":
            out.append((kind, titles[p["case"]["case_id"]], f"step {p['step']}",
                        *[r["email"] for r in p["recipients"]]))
        elif kind in ("case.due_soon", "case.overdue"):
            out.append((kind, titles[p["case"]["case_id"]], p["recipient"]["email"]))
        else:
            out.append((kind, p["recipient"]["email"]))
    return out


async def morning(office: Office, day: date) -> dict[str, Any]:
    office.clock.set(warsaw(day))
    return await watch.run_morning(office.system.runtimes["cases"].ctx)


async def states(office: Office) -> dict[str, str]:
    ctx = office.system.runtimes["cases"].ctx
    async with ctx.db.reading() as session:
        return {r.rule_id: r.deadline_state for r in await session.execute(select(cases.c.rule_id,
                                                                                  cases.c.deadline_state))}


async def test_cases_enter_due_soon_and_overdue_and_climb_the_ladder_one_step_at_a_time_once(office: Office) -> None:
    ids = {
        await request_case(office, "soon", date(2026, 12, 2)): "soon",  # Wed: 2 business days from Mon 30 Nov
        await request_case(office, "later", date(2026, 12, 10)): "later",
        await request_case(office, "friday", date(2026, 11, 27)): "friday",  # 1 business day overdue on Monday
        await request_case(office, "lost", date(2026, 11, 23)): "lost",  # 5 business days overdue on Monday
        await request_case(office, "orphan", date(2026, 11, 23), commissioner=None): "orphan",
    }
    assert set((await states(office)).values()) == {"on_time"}

    monday = date(2026, 11, 30)
    await morning(office, monday)
    first = summary(await published(office), ids)
    assert await states(office) == {"soon": "due_soon", "later": "on_time", "friday": "overdue", "lost": "overdue",
                                    "orphan": "overdue"}
    assert sorted(e for e in first if e[0] != "case.digest") == sorted([
        ("case.due_soon", "soon", ANNA.email),
        ("case.overdue", "friday", ANNA.email),
        ("case.overdue", "lost", ANNA.email),
        ("case.overdue", "orphan", ANNA.email),
        ("case.escalated", "friday", "step 1", ANNA.email),
        ("case.escalated", "lost", "step 1", ANNA.email),
        ("case.escalated", "lost", "step 2", PIOTR.email),  # the commissioner
        ("case.escalated", "lost", "step 3", "maria@biuro.example"),  # the office managers
        ("case.escalated", "orphan", "step 1", ANNA.email),
        ("case.escalated", "orphan", "step 2", "maria@biuro.example"),  # no commissioner: the managers
        ("case.escalated", "orphan", "step 3", "maria@biuro.example"),
    ])

    # The job again the same morning (a restart, a second process, an operator): nothing more.
    again = await morning(office, monday)
    assert (again["escalated"], again["told"], again["digests"]) == (0, 0, 0)
    assert summary(await published(office), ids) == first

    # Tuesday: "friday" is 2 business days overdue — no step; Wednesday 3 — step 2; "soon" is due today.
    await morning(office, date(2026, 12, 1))
    await morning(office, date(2026, 12, 2))
    later = [e for e in summary(await published(office), ids)[len(first):] if e[0] != "case.digest"]
    assert later == [("case.escalated", "friday", "step 2", PIOTR.email)]
    assert (await states(office))["soon"] == "due_soon"
    # Thursday: "soon" is overdue, its assignee told once.
    await morning(office, date(2026, 12, 3))
    await morning(office, date(2026, 12, 3))
    thursday = [e for e in summary(await published(office), ids)[len(first) + len(later):]
                if e[0] not in ("case.digest",)]
    assert ("case.overdue", "soon", ANNA.email) in thursday
    assert thursday.count(("case.overdue", "soon", ANNA.email)) == 1

    # Lists filter on the state.
    overdue = await office.internal("cases", "/cases", deadline_state="overdue")
    assert sorted(c["rule_id"] for c in overdue["items"]) == ["friday", "lost", "orphan", "soon"]
    async with office.api() as api:  # the public API offers the same filter
        public = (await api.get("/api/v1/cases", params={"deadline_state": "overdue"})).json()
    assert sorted(c["rule_id"] for c in public["items"]) == ["friday", "lost", "orphan", "soon"]


async def test_a_finished_case_is_not_watched_and_a_weekend_runs_nothing(office: Office) -> None:
    case_id = await request_case(office, "done", date(2026, 11, 23))
    ctx = office.system.runtimes["cases"].ctx
    async with ctx.db.transaction() as session:
        await session.execute(cases.update().where(cases.c.id == case_id).values(status="done"))
    saturday = await morning(office, date(2026, 11, 28))
    assert saturday == {"day": "2026-11-28", "business_day": False}
    await morning(office, date(2026, 11, 30))
    assert await published(office) == []


async def test_cases_born_overdue_tell_the_assignee_at_once_and_the_manager_once_and_climb_from_creation(
    office: Office
) -> None:
    monday = date(2026, 11, 30)
    await morning(office, monday)  # 07:30: nothing yet
    office.clock.set(warsaw(monday, time(10)))
    # A late import: five cases whose due date passed before they existed.
    ids = {await request_case(office, f"import{n}", date(2026, 11, 16), late=True): f"import{n}" for n in range(5)}
    # Overdue at once; the assignee is told by the new-case mail (one per case, saying so), not a second one.
    assert await published(office) == []
    assert set((await states(office)).values()) == {"overdue"}

    async def created_mails() -> list[Any]:
        mails = await office.internal("notifier", "/mails", to=ANNA.email)
        found = [m for m in mails["items"] if m["kind"] == "case_created"]
        return found if len(found) == 5 else []
    assert all("termin tej sprawy już minął" in m["body"] for m in await wait_for(created_mails, what="5 mails"))
    born: list[tuple[str, ...]] = []

    # The same day's job again: no escalation (the ladder counts from today), no second overdue mail.
    await watch.run_morning(office.system.runtimes["cases"].ctx)
    assert [e for e in summary(await published(office), ids) if e[0] != "case.digest"] == born

    # The next morning: ONE summary to the manager listing all five, and step 1 for each (1 business day).
    tuesday = date(2026, 12, 1)
    await morning(office, tuesday)
    await morning(office, tuesday)
    events = await published(office)
    summaries = [p for kind, p in events if kind == "case.overdue_summary"]
    assert [(s["recipient"]["email"], s["total"], len(s["cases"])) for s in summaries] == [
        ("maria@biuro.example", 5, 5)]
    steps = [e for e in summary(events, ids) if e[0] == "case.escalated"]
    assert sorted(steps) == sorted(("case.escalated", f"import{n}", "step 1", ANNA.email) for n in range(5))

    # A later day summarizes nothing again.
    await morning(office, date(2026, 12, 2))
    assert len([k for k, _ in await published(office) if k == "case.overdue_summary"]) == 1


async def test_born_overdue_is_the_cases_services_today_at_creation_for_the_flag_the_mail_and_the_summary(
    office: Office
) -> None:
    thursday, friday = date(2026, 11, 26), date(2026, 11, 27)
    # Asked for on Thursday evening, due that day: not late when the scheduler asked (its flag says so)…
    office.clock.set(warsaw(thursday, time(23, 50)))
    requested_on_time = not (thursday < office.clock.today())
    # …but the cases service creates it after midnight: the assignee finds it overdue. And the reverse (a
    # scheduler whose clock ran ahead): flagged late, yet due on the day the case is created.
    office.clock.set(warsaw(friday, time(0, 10)))
    ids = {await request_case(office, "midnight", thursday, late=not requested_on_time): "midnight",
           await request_case(office, "ahead", friday, late=True): "ahead"}

    async def stored() -> dict[str, tuple[bool, str, str]]:
        found = {}
        for case_id, name in ids.items():
            case = await office.internal("cases", f"/cases/{case_id}")
            created = next(h["detail"] for h in case["history"] if h["event"] == "created")
            found[name] = (case["late_on_creation"], case["deadline_state"], created)
        return found
    assert await stored() == {
        "midnight": (True, "overdue", "rule midnight, period 2026-10, rules v1; created after its due date 2026-11-26"),
        "ahead": (False, "on_time", "rule ahead, period 2026-10, rules v1")}

    async def created_mails() -> dict[str, bool]:
        mails = [m for m in (await office.internal("notifier", "/mails", to=ANNA.email))["items"]
                 if m["kind"] == "case_created"]
        return {ids[m["related_id"]]: "termin tej sprawy już minął" in m["body"] for m in mails} if len(mails) == 2 \
            else {}
    assert await wait_for(created_mails, what="both new-case mails") == {"midnight": True, "ahead": False}

    # Friday's morning: the managers' summary lists the case the assignee was told was late, and only it; no
    # second overdue mail; no escalation before a business day has passed since its creation.
    await morning(office, friday)
    events = await published(office)
    summaries = [p for kind, p in events if kind == "case.overdue_summary"]
    assert [(s["recipient"]["email"], [ids[c["case_id"]] for c in s["cases"]]) for s in summaries] == [
        ("maria@biuro.example", ["midnight"])]
    assert [e for e in summary(events, ids) if e[0] in ("case.overdue", "case.escalated")] == []
    # Monday: one business day since its creation — step 1; the other one is overdue from its due date, as any.
    await morning(office, date(2026, 11, 30))
    assert sorted(e for e in summary(await published(office), ids) if e[0] in ("case.overdue", "case.escalated")) \
        == sorted([("case.escalated", "midnight", "step 1", ANNA.email), ("case.overdue", "ahead", ANNA.email),
                   ("case.escalated", "ahead", "step 1", ANNA.email)])


async def test_the_digest_lists_a_persons_day_once_and_only_when_there_is_something(office: Office) -> None:
    monday = date(2026, 11, 30)
    ids = {
        await request_case(office, "today", monday): "today",
        await request_case(office, "week", date(2026, 12, 4)): "week",
        await request_case(office, "late", date(2026, 11, 25)): "late",
        await request_case(office, "far", date(2027, 1, 29), assignee=OLA): "far",
    }
    office.clock.set(warsaw(date(2026, 11, 27), time(16)))  # Friday afternoon: "new since yesterday" on Monday
    ids[await request_case(office, "fresh", date(2027, 2, 26))] = "fresh"

    await morning(office, monday)
    await morning(office, monday)
    digests = [p for kind, p in await published(office) if kind == "case.digest"]
    assert len(digests) == 1  # Ola's only case is far off and not new: no digest for her
    digest = digests[0]
    assert (digest["recipient"]["login"], digest["day"]) == ("anna", "2026-11-30")
    sections = {name: [ids[c["case_id"]] for c in digest[name]]
                for name in ("due_today", "due_this_week", "overdue", "new_since_yesterday")}
    assert sections == {"due_today": ["today"], "due_this_week": ["week"], "overdue": ["late"],
                        "new_since_yesterday": ["fresh"]}

    # The notifier turns it into one mail to Anna.
    async def digest_mails() -> list[Any]:
        mails = await office.internal("notifier", "/mails", to=ANNA.email)
        return [m for m in mails["items"] if m["kind"] == "case_digest"]
    mails = await wait_for(digest_mails, what="Anna's digest mail")
    assert len(mails) == 1 and "Sprawa fresh" in mails[0]["body"]

    # Next business day: a new digest (a new day), still one.
    await morning(office, date(2026, 12, 1))
    await morning(office, date(2026, 12, 1))
    assert [p["day"] for k, p in await published(office) if k == "case.digest"] == ["2026-11-30", "2026-12-01"]


def test_escalation_steps_must_be_positive_and_increasing() -> None:
    assert Settings(case_escalation_steps="2, 4,8").escalation_steps == [2, 4, 8]
    for wrong in ("3,1", "0,2", "1,1", "x"):
        with pytest.raises(ValueError, match="case_escalation_steps"):
            Settings(case_escalation_steps=wrong)


def test_the_morning_is_reached_at_the_office_hour_in_warsaw() -> None:
    class Ctx:
        settings = Settings(case_watch_time=time(7, 0))
        clock = ManualClock(warsaw(date(2026, 11, 30), time(6, 59)))
    ctx: Any = Ctx()
    assert not watch.morning_reached(ctx, date(2026, 11, 30))
    ctx.clock.set(warsaw(date(2026, 11, 30), time(7, 0)))
    assert watch.morning_reached(ctx, date(2026, 11, 30))


async def test_the_running_service_does_its_morning_by_itself_and_a_restart_repeats_nothing(
    tmp_path: Path, rules_dir: Path
) -> None:
    settings = {"rules_dir": rules_dir, "case_watch_tick_seconds": 0.2}
    early = ManualClock(warsaw(date(2026, 11, 20), time(6)))  # before the office hour: the loop waits
    async with open_office(tmp_path, clock=early, **settings) as office:
        await request_case(office, "due", date(2026, 11, 25))
        office.clock.set(warsaw(date(2026, 11, 27), time(6, 59)))
        await request_case(office, "late", date(2026, 11, 20))  # born overdue on Friday
        assert [k for k, _ in await published(office) if k != "case.digest"] == []

    monday = ManualClock(warsaw(date(2026, 11, 30), time(7, 5)))
    async with restarted(tmp_path, monday, **settings) as office:
        async def escalated() -> list[Any]:
            return [p for k, p in await published(office) if k == "case.escalated"]
        steps = await wait_for(escalated, what="Monday's escalations by the service's own loop")
        first = await wait_for(lambda: _digested(office), what="the digest too")

    async with restarted(tmp_path, ManualClock(warsaw(date(2026, 11, 30), time(9))), **settings) as office:
        await watch.run_morning(office.system.runtimes["cases"].ctx)  # and the loop, on its own, at start
        assert await published(office) == first
    # "due" (Wed 25th) is 3 business days overdue: steps 1 and 2; "late" counts from its creation (Fri): step 1.
    assert sorted(p["step"] for p in steps) == [1, 1, 2]


async def _digested(office: Office) -> list[tuple[str, dict[str, Any]]] | None:
    events = await published(office)
    return events if any(k == "case.digest" for k, _ in events) else None


@asynccontextmanager
async def restarted(tmp_path: Path, clock: ManualClock, **overrides: object) -> AsyncIterator[Office]:
    """The embedded system started again on the same data folder (its staff exist already)."""
    system = EmbeddedSystem(embedded_settings(tmp_path, **overrides), clock=clock)
    await system.start()
    try:
        yield Office(system, clock, {})
    finally:
        await system.stop()
