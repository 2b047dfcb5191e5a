"""The client's duties as contract terms (issue 12): "documents by the 8th" makes a client task per month whose due
date follows the free-day shift, owned by the accountant and listed as the client's; the client is reminded before
the day and daily after it until the documents are marked received (or the client confirms through the link); the
month's VAT case shows how late the documents came; an annex moves the day."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

from services.cases.models import case_alerts
from services.common.runtime import INTERNAL_TOKEN_HEADER
from services.notifier import jobs
from services.scheduler import handlers
from tests.conftest import wait_for
from tests.embedded import web
from tests.embedded.conftest import Office
from tests.samples import contract, sole_trader

CLIENT_MAIL = "biuro@klient.example"


def notifier(office: Office) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.runtimes["notifier"].app),
                             base_url="http://notifier",
                             headers={INTERNAL_TOKEN_HEADER: office.system.settings.internal_token})


def browser(office: Office) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.gateway.app, client=("203.0.113.7", 5000)),
                             base_url=office.system.settings.public_url, headers={"User-Agent": "TestPhone/1.0"})


async def at(office: Office, moment: datetime) -> None:
    """The clock moves to `moment`; the scheduler and the notifier do what that day asks."""
    office.clock.set(moment)
    await handlers.tick(office.system.runtimes["scheduler"].ctx)
    await jobs.tick(office.system.runtimes["notifier"].ctx)


async def mails_to_client(office: Office) -> list[dict[str, Any]]:
    async with notifier(office) as api:
        items: list[dict[str, Any]] = (await api.get("/mails", params={"to": CLIENT_MAIL})).json()["items"]
    return sorted(items, key=lambda m: m["created_at"])


async def sign(office: Office, number: str, seed: str, *, language: str = "") -> str:
    async with office.api() as api:
        body = sole_trader(f"Klient {number}", seed=seed)
        body["contact_emails"] = [CLIENT_MAIL]
        if language:  # the client's recipient speaks this language
            body["recipients"] = [{"name": "", "email": CLIENT_MAIL, "language": language}]
        client = await api.post("/api/v1/clients", json=body)
        assert client.status_code == 201, client.text
        terms = {**contract(client.json()["id"], number=number, start="2026-10-01"),
                 "client_duties": {"documents_day": 8}}
        signed = await api.post("/api/v1/contracts", json=terms)
        assert signed.status_code == 201, signed.text
        assert signed.json()["client_duties"]["documents_day"] == 8
    return str(signed.json()["id"])


async def client_task(office: Office, contract_id: str, period: str) -> dict[str, Any]:
    async def find() -> dict[str, Any] | None:
        async with office.api() as api:
            items = (await api.get("/api/v1/cases", params={"contract_id": contract_id, "party": "client"})).json()
        return next((c for c in items["items"] if c["period"] == period), None)

    found: dict[str, Any] = await wait_for(find, what=f"the client task for {period}")
    return found


async def vat_case(office: Office, contract_id: str, period: str) -> dict[str, Any]:
    async def find() -> dict[str, Any] | None:
        async with office.api() as api:
            items = (await api.get("/api/v1/cases", params={"contract_id": contract_id, "code": "JPK_V7M"})).json()
        return next((c for c in items["items"] if c["period"] == period), None)

    found: dict[str, Any] = await wait_for(find, what=f"the VAT case for {period}")
    return found


async def test_documents_by_the_8th_make_a_client_task_per_month_on_the_business_calendar(office: Office) -> None:
    office.clock.set(datetime(2026, 10, 20, 9, 0, tzinfo=UTC))
    contract_id = await sign(office, "D/1", "526104057")
    async with office.api() as api:
        async def planned() -> dict[str, str]:
            plan = (await api.get(f"/api/v1/contracts/{contract_id}/plan")).json()["items"]
            return {o["period"]: o["due"] for o in plan if o["code"] == "CLIENT_DOCUMENTS"}

        due = await wait_for(lambda: planned(), what="the client's documents in the plan")
        # Sun 8.11.2026 → Mon 9.11; Tue 8.12.2026 stays; Fri 8.1.2027 stays; Sun 8.8.2027 → Mon 9.8.
        assert due["2026-10"] == "2026-11-09"
        assert due["2026-11"] == "2026-12-08"
        assert due["2027-07"] == "2027-08-09"

    await at(office, datetime(2026, 10, 26, 7, 0, tzinfo=UTC))
    task = await client_task(office, contract_id, "2026-10")
    assert (task["party"], task["code"], task["due"], task["assignee_login"]) == (
        "client", "CLIENT_DOCUMENTS", "2026-11-09", "anna")
    async with office.api() as api:
        office_only = (await api.get("/api/v1/cases", params={"contract_id": contract_id, "party": "office"})).json()
        assert all(c["party"] == "office" for c in office_only["items"])
        assert task["id"] not in {c["id"] for c in office_only["items"]}
    # The page lists it as the client's task, for the accountant who owns it.
    async with web.browser(office) as anna:
        assert (await web.log_in(anna, "anna")).status_code == 303
        page = await anna.get("/cases", params={"party": "client", "tab": "open"})
        assert page.status_code == 200 and "Zadanie klienta" in page.text and task["id"] in page.text
    async with office.api() as api:

        # An annex from 1 November moves the day to the 10th: November's documents are due Thu 10.12.
        annex = await api.post(f"/api/v1/contracts/{contract_id}/annexes",
                               json={"effective_from": "2026-11-01", "client_duties": {"documents_day": 10}})
        assert annex.status_code == 201, annex.text

        async def november() -> str | None:
            plan = (await api.get(f"/api/v1/contracts/{contract_id}/plan")).json()["items"]
            return next((o["due"] for o in plan if o["code"] == "CLIENT_DOCUMENTS" and o["period"] == "2026-11"
                         and o["due"] == "2026-12-10"), None)

        assert await wait_for(november, what="November's documents re-planned to the 10th") == "2026-12-10"


async def test_the_client_is_reminded_before_and_after_the_day_until_the_documents_are_received(
    office: Office
) -> None:
    office.clock.set(datetime(2026, 10, 20, 9, 0, tzinfo=UTC))
    contract_id = await sign(office, "D/2", "951217341")
    await at(office, datetime(2026, 10, 26, 7, 0, tzinfo=UTC))
    task = await client_task(office, contract_id, "2026-10")
    assert await mails_to_client(office) == []

    # Three days before the due date (Mon 9.11), at the reminder hour: the first mail, with the link.
    await at(office, datetime(2026, 11, 6, 7, 30, tzinfo=UTC))
    [first] = await wait_for(lambda: mails_to_client(office), what="the reminder before the day")
    assert "Dokumenty za październik 2026" in first["subject"] and "09.11.2026" in first["subject"]
    assert "/confirm/" in first["body"]
    # It reads as a letter: the request in a sentence, and the office named once, in the signature.
    assert "Zgodnie z umową prosimy przekazać do biura dokumenty za październik 2026 do 09.11.2026." in first["body"]
    assert first["body"].count(office.system.settings.office_name) == 1
    # Not again before the day has passed, nor on it.
    for day in (7, 8, 9):
        await at(office, datetime(2026, 11, day, 7, 30, tzinfo=UTC))
    assert len(await mails_to_client(office)) == 1
    # After it: daily.
    await at(office, datetime(2026, 11, 10, 7, 30, tzinfo=UTC))
    await at(office, datetime(2026, 11, 11, 7, 30, tzinfo=UTC))
    after = await wait_for(lambda: _count(office, 3), what="the reminders after the day")
    assert "Dokumenty za październik 2026" in after[-1]["body"]

    # The accountant marks the documents received on Thu 12.11 (230 of them): the task is done, reminders stop.
    office.clock.set(datetime(2026, 11, 12, 10, 0, tzinfo=UTC))
    async with office.api() as api:
        marked = await api.post(f"/api/v1/cases/{task['id']}/received",
                                json={"received_on": "2026-11-12", "count": 230})
        assert marked.status_code == 200, marked.text
        assert (marked.json()["status"], marked.json()["received_on"], marked.json()["received_count"]) == (
            "done", "2026-11-12", 230)
        again = await api.post(f"/api/v1/cases/{task['id']}/received", json={})
        assert again.status_code == 409
        future = await api.post(f"/api/v1/cases/{task['id']}/received", json={"received_on": "2026-12-01"})
        assert future.status_code == 422 and "received_on" in future.text

    async def withdrawn() -> bool:
        async with notifier(office) as api:
            items = (await api.get("/notices", params={"contract_id": contract_id})).json()["items"]
        return any(n["status"] == "withdrawn" for n in items)

    await wait_for(withdrawn, what="the client task's notice to stop")
    for day in (13, 14, 16):
        await at(office, datetime(2026, 11, day, 7, 30, tzinfo=UTC))
    assert len(await mails_to_client(office)) == 3

    # October's VAT case (created 15.11) shows how late the documents came.
    vat = await vat_case(office, contract_id, "2026-10")
    async with office.api() as api:
        shown = (await api.get(f"/api/v1/cases/{vat['id']}")).json()
        assert [d["text"] for d in shown["client_duties"]] == [
            "Dokumenty za październik 2026 wpłynęły 12.11.2026, 3 dni po terminie"]
    async with web.browser(office) as anna:
        await web.log_in(anna, "anna")
        page = await anna.get(f"/cases/{vat['id']}")
        assert "wpłynęły 12.11.2026, 3 dni po terminie" in page.text

    # The execution report counts the client's lateness beside the office's work.
    async with office.api() as api:
        report = (await api.get("/api/v1/reports/execution", params={"from": "2026-11", "to": "2026-11"})).json()
        [row] = [r for r in report["items"] if r["contract_id"] == contract_id]
        assert (row["client_due"], row["client_on_time"], row["client_late"], row["client_overdue"]) == (1, 0, 1, 0)
        assert row["due"] == row["done_on_time"] + row["done_late"] + row["overdue"] + row["not_applicable"] + row[
            "open"]  # the office's own cases only


async def _count(office: Office, n: int) -> list[dict[str, Any]] | None:
    mails = await mails_to_client(office)
    return mails if len(mails) >= n else None


async def test_the_client_confirms_sending_and_the_vat_case_marks_the_documents_received(office: Office) -> None:
    office.clock.set(datetime(2026, 10, 20, 9, 0, tzinfo=UTC))
    contract_id = await sign(office, "D/3", "712345674")
    await at(office, datetime(2026, 10, 26, 7, 0, tzinfo=UTC))
    task = await client_task(office, contract_id, "2026-10")
    await at(office, datetime(2026, 11, 6, 7, 30, tzinfo=UTC))
    await at(office, datetime(2026, 11, 16, 7, 30, tzinfo=UTC))  # past the due date: the VAT case exists now
    vat = await vat_case(office, contract_id, "2026-10")
    async with office.api() as api:
        shown = (await api.get(f"/api/v1/cases/{vat['id']}")).json()
        assert [d["text"] for d in shown["client_duties"]] == [
            "Dokumenty za październik 2026 jeszcze nie wpłynęły, termin minął 09.11.2026"]

    mails = await mails_to_client(office)
    link = next(m["body"] for m in mails).split("/confirm/")[1].split()[0]
    async with browser(office) as client:
        page = await client.get(f"/confirm/{link}")
        assert page.status_code == 200 and "Dokumenty wysłane" in page.text  # GET confirms nothing
        confirmed = await client.post(f"/confirm/{link}")
        assert confirmed.status_code == 200

    async def recorded() -> dict[str, Any] | None:
        async with office.api() as api:
            case = (await api.get(f"/api/v1/cases/{task['id']}")).json()
        return case if case["client_confirmed_at"] else None

    confirmed_task = await wait_for(recorded, what="the client's confirmation on its task")
    assert confirmed_task["status"] == "open"  # the office still waits for the documents themselves
    assert any(h["event"] == "client_confirmed" for h in confirmed_task["history"])
    before = len(await mails_to_client(office))
    await at(office, datetime(2026, 11, 17, 7, 30, tzinfo=UTC))
    assert len(await mails_to_client(office)) == before  # confirmed: no more reminders

    # From the VAT case: the documents arrived on 17.11, 200 of them.
    office.clock.set(datetime(2026, 11, 17, 10, 0, tzinfo=UTC))
    async with office.api() as api:
        marked = await api.post(f"/api/v1/cases/{vat['id']}/received", json={"received_on": "2026-11-17",
                                                                             "count": 200})
        assert marked.status_code == 200, marked.text
        assert [d["text"] for d in marked.json()["client_duties"]] == [
            "Dokumenty za październik 2026 wpłynęły 17.11.2026, 8 dni po terminie"]
        assert marked.json()["status"] == "open"  # the VAT case itself is still the accountant's work
        done = (await api.get(f"/api/v1/cases/{task['id']}")).json()
        assert (done["status"], done["received_count"]) == ("done", 200)


async def test_the_contract_form_and_the_annex_form_set_the_clients_duties(office: Office) -> None:
    async with office.api() as api:
        client = await api.post("/api/v1/clients", json=sole_trader("Klient F/1", seed="526104057"))
        assert client.status_code == 201, client.text
        client_id = client.json()["id"]
    async with web.browser(office) as maria:
        assert (await web.log_in(maria, "maria")).status_code == 303
        form = {"client_id": str(client_id), "number": "F/1", "signed_on": "2026-10-01", "start": "2026-10-01",
                "notice_period_months": "3", "services": "bookkeeping", "monthly_net": "800,00", "vat_rate": "23",
                "accountant": "anna", "documents_day": "8", "bank_statements_day": ""}
        made = await web.post_form(maria, f"/contracts/new?client_id={client_id}", "/contracts/new", form)
        assert made.status_code == 303, made.text
        page_url = made.headers["location"]
        page = await maria.get(page_url)
        assert "Dokumenty za miesiąc do dnia 8. następnego miesiąca" in page.text
        contract_id = page_url.rsplit("/", 1)[1]
        annexed = await web.post_form(maria, page_url, f"/contracts/{contract_id}/annex", {
            "effective_from": "01.12.2026", "monthly_net": "800,00", "accountant": "anna", "services": "bookkeeping",
            "documents_day": "12", "bank_statements_day": "5"})
        assert annexed.status_code == 303, annexed.text
        wrong = await web.post_form(maria, page_url, f"/contracts/{contract_id}/annex", {
            "effective_from": "01.01.2027", "monthly_net": "800,00", "accountant": "anna", "services": "bookkeeping",
            "documents_day": "40", "bank_statements_day": "5"})
        assert wrong.status_code == 422 and 'data-field="documents_day"' in wrong.text
    async with office.api() as api:
        contract = (await api.get(f"/api/v1/contracts/{contract_id}")).json()
        assert (contract["client_duties"]["documents_day"], contract["client_duties"]["bank_statements_day"]) == (12, 5)


async def test_an_annex_moving_the_day_moves_a_created_client_tasks_reminders(office: Office) -> None:
    office.clock.set(datetime(2026, 10, 20, 9, 0, tzinfo=UTC))
    contract_id = await sign(office, "D/4", "526104057")
    await at(office, datetime(2026, 10, 27, 7, 0, tzinfo=UTC))
    task = await client_task(office, contract_id, "2026-10")
    async with office.api() as api:
        annex = await api.post(f"/api/v1/contracts/{contract_id}/annexes",
                               json={"effective_from": "2026-10-01", "client_duties": {"documents_day": 12}})
        assert annex.status_code == 201, annex.text

        async def moved() -> dict[str, Any] | None:
            case = (await api.get(f"/api/v1/cases/{task['id']}")).json()
            return case if case["due"] == "2026-11-12" else None

        await wait_for(moved, what="October's client task re-planned to Thu 12.11")

    async def notice_moved() -> dict[str, Any] | None:
        async with notifier(office) as api:
            items = (await api.get("/notices", params={"contract_id": contract_id})).json()["items"]
        return next((n for n in items if n["due"] == "2026-11-12"), None)

    await wait_for(notice_moved, what="the reminder to follow the task")
    await at(office, datetime(2026, 11, 6, 7, 30, tzinfo=UTC))
    assert await mails_to_client(office) == []  # no longer three days before the 9th
    await at(office, datetime(2026, 11, 9, 7, 30, tzinfo=UTC))
    [first] = await wait_for(lambda: mails_to_client(office), what="the reminder three days before the 12th")
    assert "termin 12.11.2026" in first["subject"]


async def test_an_overdue_client_task_climbs_no_escalation_ladder(office: Office) -> None:
    office.clock.set(datetime(2026, 10, 20, 9, 0, tzinfo=UTC))
    contract_id = await sign(office, "D/5", "951217341")
    await at(office, datetime(2026, 10, 26, 7, 0, tzinfo=UTC))
    task = await client_task(office, contract_id, "2026-10")
    # Ten business days after its due date (Mon 9.11), the morning job runs.
    office.clock.set(datetime(2026, 11, 23, 7, 30, tzinfo=UTC))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.runtimes["cases"].app),
                                 base_url="http://cases",
                                 headers={INTERNAL_TOKEN_HEADER: office.system.settings.internal_token}) as cases:
        done = (await cases.post("/jobs/morning")).json()
    assert done["escalated"] > 0  # the contract's own overdue cases did climb theirs
    async with office.system.runtimes["cases"].ctx.db.reading() as session:
        steps = (await session.execute(select(case_alerts.c.kind).where(case_alerts.c.case_id == task["id"]))).all()
    assert [s.kind for s in steps] == ["overdue"]  # told overdue once, never escalated
    async with office.api() as api:
        shown = (await api.get(f"/api/v1/cases/{task['id']}")).json()
    assert shown["deadline_state"] == "overdue"  # its accountant still sees (and is told) it is overdue


async def test_a_reopened_client_task_reminds_the_client_again(office: Office) -> None:
    office.clock.set(datetime(2026, 10, 20, 9, 0, tzinfo=UTC))
    contract_id = await sign(office, "D/9", "712345674")
    await at(office, datetime(2026, 10, 26, 7, 0, tzinfo=UTC))
    task = await client_task(office, contract_id, "2026-10")
    await at(office, datetime(2026, 11, 10, 7, 30, tzinfo=UTC))  # past the due date (09.11): the notice goes
    await wait_for(lambda: _count(office, 1), what="the client task's notice")

    office.clock.set(datetime(2026, 11, 10, 10, 0, tzinfo=UTC))
    async with office.api() as api:
        marked = await api.post(f"/api/v1/cases/{task['id']}/received", json={"received_on": "2026-11-10"})
        assert marked.status_code == 200, marked.text

    async def notice_status(status: str) -> bool:
        async with notifier(office) as api:
            items = (await api.get("/notices", params={"contract_id": contract_id})).json()["items"]
        return any(n["status"] == status for n in items)

    await wait_for(lambda: notice_status("withdrawn"), what="the notice withdrawn when the documents arrived")
    await at(office, datetime(2026, 11, 11, 7, 30, tzinfo=UTC))
    assert len(await mails_to_client(office)) == 1

    # Not all of them arrived: the manager reopens the task; it is awaited again and the client reminded daily.
    office.clock.set(datetime(2026, 11, 11, 10, 0, tzinfo=UTC))
    async with office.api("maria") as api:
        reopened = await api.post(f"/api/v1/cases/{task['id']}/reopen", json={"reason": "brak faktur zakupu"})
        assert reopened.status_code == 200, reopened.text
        shown = (await api.get(f"/api/v1/cases/{task['id']}")).json()
    assert (shown["status"], shown["received_on"]) == ("in_progress", None)
    await wait_for(lambda: notice_status("issued"), what="the notice back in the reminders")
    await at(office, datetime(2026, 11, 12, 7, 30, tzinfo=UTC))
    again = await wait_for(lambda: _count(office, 2), what="the reminder after reopening")
    assert "Dokumenty za październik 2026" in again[-1]["body"]


async def test_an_english_speaking_client_is_asked_for_the_documents_in_english(office: Office) -> None:
    office.clock.set(datetime(2026, 10, 20, 9, 0, tzinfo=UTC))
    contract_id = await sign(office, "D/9", "951217341", language="en")
    await at(office, datetime(2026, 10, 26, 7, 0, tzinfo=UTC))
    await client_task(office, contract_id, "2026-10")
    await at(office, datetime(2026, 11, 6, 7, 30, tzinfo=UTC))
    [first] = await wait_for(lambda: mails_to_client(office), what="the reminder before the day")
    assert first["subject"] == "Documents for October 2026 — due 9 November 2026"
    # The text asks in a sentence and does not say the subject again.
    assert "under our contract, please send us the documents for October 2026 by 9 November 2026." in first["body"]
    assert "Documents for October 2026" not in first["body"]
    assert first["body"].count(office.system.settings.office_name) == 1
    await at(office, datetime(2026, 11, 10, 7, 30, tzinfo=UTC))
    after = await wait_for(lambda: _count(office, 2), what="the reminder after the day")
    assert "Documents for October 2026 — due 9 November 2026" in after[-1]["body"]
