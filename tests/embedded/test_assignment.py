"""Who works a case: absences and substitutes, a manager's reassignment, and a team change by annex.

Cases are made by calling the cases service's handler (as the scheduler's `case.requested` would), so each test
chooses exactly which cases exist; absences and reassignments go through the gateway's API as a manager would.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select, update

from services.cases import assignment, handlers
from services.cases.models import case_history, cases
from services.common.messages import (
    CASE_REQUESTED,
    CONTRACT_CHANGED,
    CONTRACT_CREATED,
    CaseRequested,
    Envelope,
    TeamMember,
)
from services.gateway.models import absences as gateway_absences
from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.samples import contract, sole_trader

TODAY = date(2026, 11, 28)  # the office fixture's clock: Saturday 28.11.2026, 10:00 in Warsaw


def _envelope(kind: str, payload: dict[str, Any]) -> Envelope:
    return Envelope(type=kind, producer="test", correlation_id="test", payload=payload)


async def _request(office: Office, period: str, due: date, *, assignee: str = "anna", contract_id: str = "c-1",
                   role: str = "accountant", status: str = "open") -> str:
    """One case as the scheduler would request it; `status` set afterwards as if worked on."""
    ctx = office.system.runtimes["cases"].ctx
    request = CaseRequested(contract_id=contract_id, rule_id="vat.jpk_v7m", code="JPK_V7M", period=period,
                            title_pl=f"JPK_V7M {period}", title_en=f"JPK_V7M {period}", due=due, generate_on=due,
                            role=role, assignee=TeamMember(login=assignee, name=assignee.title()),
                            commissioner=TeamMember(login="maria"), rules_version="v1", contract_version=1)
    async with ctx.db.transaction() as session:
        await handlers.on_case_requested(ctx, session, _envelope(CASE_REQUESTED, request.model_dump(mode="json")))
        case_id: str = (await session.execute(select(cases.c.id).where(
            cases.c.contract_id == contract_id, cases.c.period == period))).scalar_one()
        if status != "open":
            await session.execute(update(cases).where(cases.c.id == case_id).values(status=status))
    return case_id


async def _case(office: Office, case_id: str) -> dict[str, Any]:
    ctx = office.system.runtimes["cases"].ctx
    async with ctx.db.reading() as session:
        row = (await session.execute(select(cases).where(cases.c.id == case_id))).one()
        history = (await session.execute(select(case_history).where(case_history.c.case_id == case_id)
                                         .order_by(case_history.c.id))).all()
    return {**row._mapping, "history": [(h.event, h.actor, h.detail) for h in history]}


def _events(case: dict[str, Any], event: str) -> list[tuple[str, str, str]]:
    return [h for h in case["history"] if h[0] == event]


async def _absence(office: Office, **body: Any) -> Any:
    async with office.api("maria") as maria:
        return await maria.post("/api/v1/absences", json={"login": "anna", "substitute": "ola", **body})


async def _mine(office: Office, login: str) -> set[str]:
    async with office.api(login) as api:
        response = await api.get("/api/v1/cases", params={"mine": "true", "limit": 500})
    assert response.status_code == 200, response.text
    return {c["id"] for c in response.json()["items"]}


async def _gateway_absence(office: Office, absence_id: str) -> Any:
    async with office.system.gateway.ctx.db.reading() as session:
        return (await session.execute(select(gateway_absences).where(
            gateway_absences.c.absence_id == absence_id))).first()


# --- Absences -------------------------------------------------------------------------------------------


async def test_an_absence_registered_after_cases_exist_moves_exactly_the_right_ones(office: Office) -> None:
    due_in = await _request(office, "p-in", date(2026, 12, 7))
    started_in = await _request(office, "p-started", date(2026, 12, 11), status="in_progress")
    done_in = await _request(office, "p-done", date(2026, 12, 8), status="done")
    before = await _request(office, "p-before", date(2026, 12, 2))
    after = await _request(office, "p-after", date(2026, 12, 14))
    someone_else = await _request(office, "p-ola", date(2026, 12, 8), assignee="piotr")

    response = await _absence(office, starts_on="2026-12-03", ends_on="2026-12-11", note="urlop")
    assert response.status_code == 201, response.text
    absence = response.json()
    assert absence["moved"] == 2 and absence["substitute_login"] == "ola"

    for case_id in (due_in, started_in):
        case = await _case(office, case_id)
        assert (case["assignee_login"], case["substitute_login"], case["absence_id"]) == ("anna", "ola", absence["id"])
        [(_, actor, detail)] = _events(case, "substituted")
        assert actor == "maria" and "anna absent 2026-12-03 – 2026-12-11: ola stands in" in detail
    for case_id in (done_in, before, after, someone_else):
        case = await _case(office, case_id)
        assert case["substitute_login"] is None and _events(case, "substituted") == []

    # Visible to both, in both "mine" lists; the substitute sees them although not on the contract's team.
    assert {due_in, started_in} <= await _mine(office, "ola")
    assert {due_in, started_in, before, after, done_in} <= await _mine(office, "anna")
    assert someone_else not in await _mine(office, "ola")
    async with office.api("ola") as ola:
        assert (await ola.get(f"/api/v1/cases/{due_in}")).status_code == 200
        assert (await ola.get(f"/api/v1/cases/{after}")).status_code == 404
    # The gateway learnt of it (absence.changed) for its visibility rule.
    row = await wait_for(lambda: _gateway_absence(office, absence["id"]), what="the gateway's copy of the absence")
    assert (row.login, row.substitute, row.starts_on, row.ends_on) == ("anna", "ola", date(2026, 12, 3),
                                                                       date(2026, 12, 11))


async def test_cases_created_during_an_absence_or_due_in_it_go_to_the_substitute(office: Office) -> None:
    # anna is away from yesterday to 5.12; a second absence later, from 10 to 20.12.
    assert (await _absence(office, starts_on="2026-11-27", ends_on="2026-12-05")).status_code == 201
    assert (await _absence(office, starts_on="2026-12-10", ends_on="2026-12-20")).status_code == 201
    created_now = await _request(office, "p-now", date(2027, 1, 20))  # created today, inside the first
    due_later_in = await _request(office, "p-due", date(2026, 12, 15))  # due inside the second
    case = await _case(office, created_now)
    assert case["substitute_login"] == "ola" and _events(case, "substituted")[0][1] == "absence"
    assert (await _case(office, due_later_in))["substitute_login"] == "ola"

    office.clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))  # back at work between the two
    back = await _request(office, "p-back", date(2027, 1, 25))
    assert (await _case(office, back))["substitute_login"] is None


async def test_ending_an_absence_early_hands_back_what_the_substitute_has_not_started(office: Office) -> None:
    response = await _absence(office, starts_on="2026-11-30", ends_on="2026-12-20")
    absence = response.json()
    untouched = await _request(office, "p-1", date(2026, 12, 5))
    started = await _request(office, "p-2", date(2026, 12, 10))
    ctx = office.system.runtimes["cases"].ctx
    async with ctx.db.transaction() as session:  # ola started on it
        await session.execute(update(cases).where(cases.c.id == started).values(status="in_progress"))

    async with office.api("maria") as maria:
        refused = await maria.post(f"/api/v1/absences/{absence['id']}/end", json={"ends_on": "2026-12-20"})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "ends_on"
        ended = await maria.post(f"/api/v1/absences/{absence['id']}/end", json={"ends_on": "2026-12-02"})
    assert ended.status_code == 200, ended.text
    assert ended.json()["handed_back"] == 1 and ended.json()["ends_on"] == "2026-12-02"
    back = await _case(office, untouched)
    assert back["substitute_login"] is None and back["assignee_login"] == "anna"
    [(_, actor, detail)] = _events(back, "handed_back")
    assert actor == "maria" and "ola → anna" in detail and "ended early on 2026-12-02" in detail
    assert (await _case(office, started))["substitute_login"] == "ola"  # started work stays with both
    assert untouched not in await _mine(office, "ola")

    async def ended_at_gateway() -> bool:
        row = await _gateway_absence(office, absence["id"])
        return row is not None and row.ends_on == date(2026, 12, 2)

    await wait_for(ended_at_gateway, what="the gateway's copy of the absence ends on 2.12")
    # A case due after the new end is anna's alone.
    later = await _request(office, "p-3", date(2026, 12, 15))
    assert (await _case(office, later))["substitute_login"] is None


async def test_cancelling_an_absence_hands_back_and_the_gateway_forgets_it(office: Office) -> None:
    absence = (await _absence(office, starts_on="2026-11-30", ends_on="2026-12-04")).json()
    case_id = await _request(office, "p-1", date(2026, 12, 1))
    assert (await _case(office, case_id))["substitute_login"] == "ola"
    async with office.api("maria") as maria:
        cancelled = (await maria.post(f"/api/v1/absences/{absence['id']}/cancel")).json()
    assert cancelled["cancelled"] is True and cancelled["handed_back"] == 1
    assert (await _case(office, case_id))["substitute_login"] is None

    async def cancelled_at_gateway() -> bool:
        row = await _gateway_absence(office, absence["id"])
        return row is not None and row.cancelled

    await wait_for(cancelled_at_gateway, what="the gateway's copy of the absence cancelled")
    # The same dates may be registered again once cancelled.
    assert (await _absence(office, starts_on="2026-11-30", ends_on="2026-12-04")).status_code == 201


async def test_absences_that_cannot_be_are_refused_naming_the_field(office: Office) -> None:
    assert (await _absence(office, starts_on="2026-12-01", ends_on="2026-12-10")).status_code == 201
    cases_before = await _mine(office, "ola")
    checks = [
        ({"starts_on": "2026-12-10", "ends_on": "2026-12-12"}, "starts_on"),  # overlaps the first
        ({"starts_on": "2026-12-20", "ends_on": "2026-12-19"}, "ends_on"),
        ({"starts_on": "2026-12-20", "ends_on": "2026-12-21", "substitute": "anna"}, "substitute.login"),
        ({"starts_on": "2026-12-20", "ends_on": "2026-12-21", "substitute": "nobody"}, "substitute"),
        ({"starts_on": "2026-12-20", "ends_on": "2026-12-21", "login": "nobody"}, "login"),
        ({"starts_on": "20.12.2026", "ends_on": "2026-12-21"}, "starts_on"),
        ({"login": "ola", "substitute": "anna", "starts_on": "2026-12-09", "ends_on": "2026-12-21"},
         "substitute.login"),  # anna is away herself until 10.12
    ]
    for body, field in checks:
        response = await _absence(office, **body)
        assert response.status_code == 422, (body, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], (body, response.json())
    async with office.api("maria") as maria:
        listed = (await maria.get("/api/v1/absences")).json()
    assert listed["total"] == 1 and await _mine(office, "ola") == cases_before
    async with office.api("anna") as anna:
        assert (await anna.post("/api/v1/absences", json={"login": "anna", "starts_on": "2026-12-20",
                                                          "ends_on": "2026-12-21"})).status_code == 403
        assert (await anna.get("/api/v1/absences")).status_code == 403


# --- Reassignment -----------------------------------------------------------------------------------------


async def test_a_manager_reassigns_one_case_and_the_history_says_who_from_whom_to_whom_why(office: Office) -> None:
    case_id = await _request(office, "p-1", date(2026, 12, 10))
    done = await _request(office, "p-2", date(2026, 12, 10), status="done")
    async with office.api("maria") as maria:
        response = await maria.post(f"/api/v1/cases/{case_id}/reassign", json={"to": "ola", "reason": "urlop Anny"})
        assert response.status_code == 200, response.text
        assert (response.json()["assignee_login"], response.json()["assignee_name"]) == ("ola", "Ola Wiśniewska")
        finished = await maria.post(f"/api/v1/cases/{done}/reassign", json={"to": "ola", "reason": "x"})
        assert finished.status_code == 409
        same = await maria.post(f"/api/v1/cases/{case_id}/reassign", json={"to": "ola", "reason": "x"})
        assert same.status_code == 422 and same.json()["errors"][0]["field"] == "to.login"
        unknown = await maria.post(f"/api/v1/cases/{case_id}/reassign", json={"to": "nobody", "reason": "x"})
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "to"
    async with office.api("anna") as anna:
        refused = await anna.post(f"/api/v1/cases/{case_id}/reassign", json={"to": "anna", "reason": "mine"})
        assert refused.status_code == 403
    case = await _case(office, case_id)
    assert case["assignee_login"] == "ola"
    assert _events(case, "reassigned") == [("reassigned", "maria", "anna → ola: urlop Anny")]
    assert (await _case(office, done))["assignee_login"] == "anna"


async def test_all_open_cases_of_a_person_on_a_contract_go_to_another(office: Office) -> None:
    moving = [await _request(office, f"p-{n}", date(2026, 12, n), contract_id="1") for n in (3, 4, 5)]
    done = await _request(office, "p-done", date(2026, 12, 6), contract_id="1", status="done")
    other_contract = await _request(office, "p-x", date(2026, 12, 6), contract_id="2")
    other_person = await _request(office, "p-y", date(2026, 12, 7), contract_id="1", assignee="piotr")
    async with office.api("maria") as maria:
        response = await maria.post("/api/v1/contracts/1/reassign", json={
            "from_login": "anna", "to": "ola", "reason": "zmiana opiekuna"})
    assert response.status_code == 200, response.text
    assert response.json()["moved"] == 3 and sorted(response.json()["case_ids"]) == sorted(moving)
    for case_id in moving:
        case = await _case(office, case_id)
        assert case["assignee_login"] == "ola"
        assert _events(case, "reassigned") == [("reassigned", "maria", "anna → ola: zmiana opiekuna")]
    for case_id, owner in ((done, "anna"), (other_contract, "anna"), (other_person, "piotr")):
        assert (await _case(office, case_id))["assignee_login"] == owner


async def test_a_reassigned_case_follows_the_new_assignees_absence(office: Office) -> None:
    case_id = await _request(office, "p-1", date(2026, 12, 10))
    async with office.api("maria") as maria:
        await maria.post("/api/v1/absences", json={"login": "ola", "substitute": "piotr",
                                                   "starts_on": "2026-12-01", "ends_on": "2026-12-12"})
        await maria.post(f"/api/v1/cases/{case_id}/reassign", json={"to": "ola", "reason": "r"})
    case = await _case(office, case_id)
    assert (case["assignee_login"], case["substitute_login"]) == ("ola", "piotr")


# --- Team change by annex -------------------------------------------------------------------------------


def _snapshot(version: int, effective_from: str, accountant: str, manager: str = "maria") -> dict[str, Any]:
    return {
        "contract_id": "c-9", "number": "BR/9", "client_id": "1", "client_name": "Klient", "version": version,
        "effective_from": effective_from,
        "terms": {"client": {"legal_form": "sole_trader", "nip": "1234563218", "books": "kpir",
                             "income_tax": "pit_flat", "income_tax_advances": "monthly", "vat": "monthly",
                             "vat_eu": False, "employees": 0, "ppk": False, "in_krs": False},
                  "contract": {"services": ["bookkeeping", "vat"], "start": "2026-10-01", "end": None}},
        "team": {"accountant": {"login": accountant, "name": accountant.title(), "email": f"{accountant}@b.example"},
                 "manager": {"login": manager, "name": manager.title(), "email": ""}},
    }


async def _contract_event(office: Office, kind: str, payload: dict[str, Any]) -> None:
    ctx = office.system.runtimes["cases"].ctx
    async with ctx.db.transaction() as session:
        await assignment.on_contract_version(ctx, session, _envelope(kind, payload))


async def test_a_future_dated_annex_hands_the_open_cases_over_on_its_day(office: Office) -> None:
    await _contract_event(office, CONTRACT_CREATED, _snapshot(1, "2026-10-01", "anna"))
    before_date = await _request(office, "p-nov", date(2026, 11, 30), contract_id="c-9")
    on_date = await _request(office, "p-dec1", date(2026, 12, 1), contract_id="c-9")
    later = await _request(office, "p-jan", date(2027, 1, 20), contract_id="c-9")
    done = await _request(office, "p-done", date(2026, 12, 20), contract_id="c-9", status="done")
    payroll = await _request(office, "p-pay", date(2026, 12, 10), contract_id="c-9", role="payroll",
                             assignee="piotr")
    # No one holds the ZUS role on this contract: its case went to the accountant, and follows the accountant.
    unheld = await _request(office, "p-zus", date(2026, 12, 10), contract_id="c-9", role="zus")
    manual = await _request(office, "p-man", date(2026, 12, 15), contract_id="c-9")
    ctx = office.system.runtimes["cases"].ctx
    async with ctx.db.transaction() as session:  # a manager gave this one to piotr: it stays his
        await session.execute(update(cases).where(cases.c.id == manual).values(assignee_login="piotr"))

    await _contract_event(office, CONTRACT_CHANGED, _snapshot(2, "2026-12-01", "ola"))
    assert (await _case(office, on_date))["assignee_login"] == "anna"  # not before its day
    office.clock.set(datetime(2026, 11, 30, 22, 59, tzinfo=UTC))  # 23:59 on 30.11 in Warsaw
    assert await assignment.apply_due_team_changes(ctx) == 0
    office.clock.set(datetime(2026, 11, 30, 23, 0, tzinfo=UTC))  # midnight: 1.12 in Warsaw
    assert await assignment.apply_due_team_changes(ctx) == 1
    assert await assignment.apply_due_team_changes(ctx) == 0  # the step again changes nothing

    for case_id in (on_date, later, unheld):
        case = await _case(office, case_id)
        assert (case["assignee_login"], case["assignee_email"]) == ("ola", "ola@b.example")
        [(_, actor, detail)] = _events(case, "team_changed")
        assert actor == "annex" and detail.startswith("anna → ola: annex (contract version 2) from 2026-12-01")
    for case_id, owner in ((before_date, "anna"), (done, "anna"), (payroll, "piotr"), (manual, "piotr")):
        case = await _case(office, case_id)
        assert case["assignee_login"] == owner and _events(case, "team_changed") == []


async def test_an_annex_in_force_moves_the_cases_at_once_and_an_absent_new_assignee_is_covered(
    office: Office
) -> None:
    await _contract_event(office, CONTRACT_CREATED, _snapshot(1, "2026-10-01", "anna"))
    due_in_absence = await _request(office, "p-1", date(2026, 12, 4), contract_id="c-9")
    due_after = await _request(office, "p-2", date(2027, 1, 20), contract_id="c-9")
    async with office.api("maria") as maria:
        await maria.post("/api/v1/absences", json={"login": "ola", "substitute": "piotr",
                                                   "starts_on": "2026-12-01", "ends_on": "2026-12-11"})
    # The annex (effective yesterday) also makes maria's deputy the commissioner.
    await _contract_event(office, CONTRACT_CHANGED, _snapshot(2, "2026-11-27", "ola", manager="admin"))
    covered = await _case(office, due_in_absence)
    assert (covered["assignee_login"], covered["substitute_login"], covered["commissioner_login"]) == (
        "ola", "piotr", "admin")
    assert [h[0] for h in covered["history"]][-3:] == ["team_changed", "substituted", "team_changed"]
    after = await _case(office, due_after)
    assert (after["assignee_login"], after["substitute_login"]) == ("ola", None)
    # A replayed annex changes nothing more.
    await _contract_event(office, CONTRACT_CHANGED, _snapshot(2, "2026-11-27", "ola", manager="admin"))
    assert len((await _case(office, due_after))["history"]) == len(after["history"])


async def test_an_annex_through_the_api_reaches_the_cases_on_its_day(office: Office) -> None:
    """The whole way: the annex is recorded by the contracts service, the scheduler keeps requesting cases for
    the team in force, and the cases service hands them over on the annex's day."""
    from services.scheduler import handlers as scheduler

    async with office.api("maria") as maria:
        client = (await maria.post("/api/v1/clients", json=sole_trader())).json()
        signed = (await maria.post("/api/v1/contracts", json=contract(client["id"]))).json()

        async def vat_cases() -> dict[str, dict[str, Any]]:
            page = (await maria.get("/api/v1/cases", params={"limit": 500})).json()["items"]
            return {c["period"]: c for c in page if c["contract_id"] == str(signed["id"]) and c["code"] == "JPK_V7M"}

        await wait_for(vat_cases, what="the contract's October VAT case")
        annex = await maria.post(f"/api/v1/contracts/{signed['id']}/annexes", json={
            "effective_from": "2026-12-21", "team": {"accountant": "ola", "manager": "maria"}})
        assert annex.status_code == 201, annex.text
        # 18.12: November's JPK_V7M (due 28.12) is requested, for anna: the annex is not in force yet.
        office.clock.set(datetime(2026, 12, 18, 7, 0, tzinfo=UTC))
        await scheduler.tick(office.system.runtimes["scheduler"].ctx)
        november = (await wait_for(lambda: _period(vat_cases, "2026-11"), what="November's VAT case"))
        assert november["assignee_login"] == "anna"
        ctx = office.system.runtimes["cases"].ctx
        await assignment.apply_due_team_changes(ctx)
        assert (await vat_cases())["2026-11"]["assignee_login"] == "anna"
        office.clock.set(datetime(2026, 12, 21, 7, 0, tzinfo=UTC))
        await assignment.apply_due_team_changes(ctx)
        after = await vat_cases()
    assert (after["2026-11"]["assignee_login"], after["2026-10"]["assignee_login"]) == ("ola", "anna")
    assert after["2026-11"]["id"] in await _mine(office, "ola")


async def _period(cases_of: Any, period: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await cases_of()).get(period)
    return found


async def test_a_replanned_due_date_moves_a_case_into_or_out_of_an_absence(office: Office) -> None:
    from services.common.messages import CASE_REPLANNED, CaseReplanned

    assert (await _absence(office, starts_on="2026-12-07", ends_on="2026-12-11")).status_code == 201
    case_id = await _request(office, "p-1", date(2026, 12, 14))
    ctx = office.system.runtimes["cases"].ctx

    async def replan(due: date) -> dict[str, Any]:
        message = CaseReplanned(contract_id="c-1", rule_id="vat.jpk_v7m", period="p-1", due=due, generate_on=due,
                                title_pl="JPK_V7M p-1", title_en="JPK_V7M p-1", role="accountant",
                                rules_version="v2", reason="rules v2")
        async with ctx.db.transaction() as session:
            await handlers.on_case_replanned(ctx, session, _envelope(CASE_REPLANNED, message.model_dump(mode="json")))
        return await _case(office, case_id)

    assert (await _case(office, case_id))["substitute_login"] is None
    assert (await replan(date(2026, 12, 10)))["substitute_login"] == "ola"
    back = await replan(date(2026, 12, 15))
    assert back["substitute_login"] is None and _events(back, "handed_back")


async def test_the_substitute_sees_the_absent_persons_contract_while_it_lasts_and_started_cases_after(
    office: Office
) -> None:
    """End to end: the gateway's rule (contracts of the absent person, from absence.changed) and the cases
    service's (cases the substitute holds) agree, in the list, the count and one case."""
    async with office.api("maria") as maria:
        client = (await maria.post("/api/v1/clients", json=sole_trader())).json()
        signed = (await maria.post("/api/v1/contracts", json=contract(client["id"]))).json()

        async def contract_cases() -> list[dict[str, Any]]:
            page = (await maria.get("/api/v1/cases", params={"contract_id": signed["id"]})).json()["items"]
            return list(page)

        [case] = await wait_for(contract_cases, what="the contract's case")
        absence = (await maria.post("/api/v1/absences", json={
            "login": "anna", "substitute": "ola", "starts_on": "2026-11-20", "ends_on": "2026-12-05"})).json()
        assert absence["moved"] == 1

    async def ola_sees_contract() -> bool:
        async with office.api("ola") as ola:
            return (await ola.get(f"/api/v1/contracts/{signed['id']}")).status_code == 200

    await wait_for(ola_sees_contract, what="ola sees anna's contract while standing in")
    async with office.api("ola") as ola:
        listed = (await ola.get("/api/v1/cases", params={"contract_id": signed["id"]})).json()
        assert listed["total"] == 1 and listed["items"][0]["substitute_login"] == "ola"
    ctx = office.system.runtimes["cases"].ctx
    async with ctx.db.transaction() as session:  # ola starts on it
        await session.execute(update(cases).where(cases.c.id == case["id"]).values(status="in_progress"))
    async with office.api("maria") as maria:
        await maria.post(f"/api/v1/absences/{absence['id']}/cancel")

    async def ola_no_longer_sees_contract() -> bool:
        async with office.api("ola") as ola:
            return (await ola.get(f"/api/v1/contracts/{signed['id']}")).status_code == 404

    await wait_for(ola_no_longer_sees_contract, what="the contract hidden from ola again")
    async with office.api("ola") as ola:
        assert (await ola.get(f"/api/v1/cases/{case['id']}")).status_code == 200  # the started case stays hers
        listed = (await ola.get("/api/v1/cases", params={"contract_id": signed["id"]})).json()
        assert [c["id"] for c in listed["items"]] == [case["id"]] and listed["total"] == 1
    assert case["id"] in await _mine(office, "ola")


# --- The manager's pages ------------------------------------------------------------------------------------


async def test_the_pages_say_what_is_wrong_in_polish_and_change_nothing(office: Office) -> None:
    from tests.embedded.web import browser, log_in, post_form

    case_id = await _request(office, "p-1", date(2026, 12, 10))
    async with browser(office) as maria:
        assert (await log_in(maria, "maria")).status_code == 303
        page = await maria.get(f"/cases/{case_id}")
        assert 'id="reassign"' in page.text  # the manager gets the form
        refused = await post_form(maria, f"/cases/{case_id}", f"/cases/{case_id}/reassign",
                                  {"to": "", "reason": "urlop"})
        assert refused.status_code == 422 and 'data-field="to"' in refused.text
        assert "Wybierz osobę." in refused.text
        moved = await post_form(maria, f"/cases/{case_id}", f"/cases/{case_id}/reassign",
                                {"to": "ola", "reason": "urlop"})
        assert moved.status_code == 303
        assert 'id="assignee">Ola Wiśniewska' in (await maria.get(f"/cases/{case_id}")).text

        wrong = await post_form(maria, "/absences", "/absences", {
            "login": "ola", "starts_on": "2026-12-10", "ends_on": "2026-12-01", "substitute": "ola", "note": ""})
        assert wrong.status_code == 422
        assert 'data-field="ends_on"' in wrong.text and 'data-field="substitute"' in wrong.text
        assert "Nieobecność nie może skończyć się przed swoim początkiem." in wrong.text
        assert "Nikt nie zastępuje sam siebie" in wrong.text
        no_contract = await post_form(maria, "/absences", "/cases/reassign", {
            "contract_id": "", "from_login": "anna", "to": "ola", "reason": "r"})
        assert no_contract.status_code == 422 and "Wybierz umowę." in no_contract.text
        handed = await post_form(maria, "/absences", "/cases/reassign", {
            "contract_id": "1", "from_login": "ola", "to": "piotr", "reason": "r"})
        assert handed.status_code == 303 and handed.headers["location"] == "/absences?reassigned=0"
        assert "Przekazano otwartych spraw: 0." in (await maria.get(handed.headers["location"])).text
    async with office.api("maria") as api:
        assert (await api.get("/api/v1/absences")).json()["total"] == 0
    own = await _request(office, "p-2", date(2026, 12, 11))
    async with browser(office) as anna:
        await log_in(anna, "anna")
        her_case = await anna.get(f"/cases/{own}")
        assert her_case.status_code == 200 and 'id="reassign"' not in her_case.text
        assert (await anna.get("/absences")).status_code == 403
