"""An overdue fee reminds the client like any other duty (issue 12): a month's fee unpaid after its payment day (the
free-day shift applied) becomes one notice to the client with the amount outstanding, the office's account and the
due day, reminded daily, until a payment covering it is imported (the notice is withdrawn, its link says it was
paid); a month paid on time makes none; the daily check, run twice at once, and the manager's button announce a
month once.

Contract G/1 (client Gamma) from 01.08.2026: 800.00 net + 23 % VAT = 984.00 gross a month, due on the 15th of the
next month — October's on Sunday 15.11.2026, so on Monday 16.11.2026.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.clock import ManualClock
from services.common.runtime import INTERNAL_TOKEN_HEADER
from services.contracts import fee_reminders
from services.notifier import jobs
from tests.conftest import wait_for
from tests.embedded.conftest import ROOT, Office, open_office
from tests.samples import contract, nip, sole_trader

GAMMA_NIP = nip("526104057")
CLIENT_MAIL = "ksiegowosc@gamma.example"
OFFICE_ACCOUNT = "61109010140000071219812874"


@pytest.fixture
async def office(tmp_path: Path) -> AsyncIterator[Office]:
    rules = tmp_path / "offboarding-only"
    rules.mkdir()
    shutil.copy(ROOT / "rules" / "offboarding.yaml", rules)  # no generated cases to wait for
    async with open_office(tmp_path, clock=ManualClock(datetime(2026, 8, 3, 9, 0, tzinfo=UTC)), rules_dir=rules,
                           fee_reminders=True, office_account=OFFICE_ACCOUNT) as running:
        yield running


def service(office: Office, name: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.runtimes[name].app),
                             base_url=f"http://{name}",
                             headers={INTERNAL_TOKEN_HEADER: office.system.settings.internal_token})


async def at(office: Office, moment: datetime) -> dict[str, Any]:
    """The clock moves to `moment`; the contracts' daily check and the notifier's jobs do what that day asks."""
    office.clock.set(moment)
    async with service(office, "contracts") as api:
        done: dict[str, Any] = (await api.post("/jobs/fee-reminders")).json()
    await jobs.tick(office.system.runtimes["notifier"].ctx)
    return done


async def mails(office: Office) -> list[dict[str, Any]]:
    async with service(office, "notifier") as api:
        items: list[dict[str, Any]] = (await api.get("/mails", params={"to": CLIENT_MAIL})).json()["items"]
    return sorted(items, key=lambda m: m["created_at"])


async def fee_notices(office: Office, contract_id: str) -> list[dict[str, Any]]:
    async with service(office, "notifier") as api:
        items = (await api.get("/notices", params={"contract_id": contract_id})).json()["items"]
    return [n for n in items if n["kind"] == "fee"]


async def pay(office: Office, line: str) -> dict[str, Any]:
    async with office.api("maria") as maria:
        answer = await maria.post("/api/v1/payments/import", content=f"Data;Kwota;Tytuł;NIP\n{line}\n".encode(),
                                  headers={"Content-Type": "text/csv"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["matched"] == 1, answer.text
    imported: dict[str, Any] = answer.json()["rows"][0]
    return imported


async def gamma_signs(office: Office, *, number: str, start: str, signed_on: str) -> tuple[dict[str, Any], str]:
    """Client Gamma (its mail to CLIENT_MAIL) signs a contract at 800.00 net + 23 % VAT a month: the client as the API
    returned it, and the contract's id."""
    async with office.api("maria") as maria:
        body = sole_trader("Gamma", seed="526104057")
        body["contact_emails"] = [CLIENT_MAIL]
        client: dict[str, Any] = (await maria.post("/api/v1/clients", json=body)).json()
        terms = {**contract(client["id"], number=number, start=start), "signed_on": signed_on,
                 "fee": {"monthly_net": "800.00", "vat_rate": "23"}}
        signed = await maria.post("/api/v1/contracts", json=terms)
        assert signed.status_code == 201, signed.text
    return client, str(signed.json()["id"])


async def test_an_overdue_fee_is_reminded_daily_until_the_payment_is_imported(office: Office) -> None:
    client, contract_id = await gamma_signs(office, number="G/1", start="2026-08-01", signed_on="2026-07-20")

    # August and September are paid on time: no notice for them, ever.
    office.clock.set(datetime(2026, 9, 10, 9, 0, tzinfo=UTC))
    await pay(office, f"10.09.2026;984,00;FV 8/2026;{GAMMA_NIP}")
    assert (await at(office, datetime(2026, 9, 16, 7, 30, tzinfo=UTC)))["announced"] == 0
    office.clock.set(datetime(2026, 10, 14, 9, 0, tzinfo=UTC))
    await pay(office, f"14.10.2026;984,00;FV 9/2026;{GAMMA_NIP}")
    assert (await at(office, datetime(2026, 10, 16, 7, 30, tzinfo=UTC)))["announced"] == 0

    # October's fee is not paid. On its (shifted) payment day, Monday 16.11, it is not overdue yet.
    assert (await at(office, datetime(2026, 11, 16, 7, 30, tzinfo=UTC)))["announced"] == 0
    assert await fee_notices(office, contract_id) == [] and await mails(office) == []

    # Tuesday 17.11: overdue. Two checks at once (two processes) and a third one announce it once.
    office.clock.set(datetime(2026, 11, 17, 7, 30, tzinfo=UTC))
    ctx = office.system.runtimes["contracts"].ctx
    first, second = await asyncio.gather(fee_reminders.run_daily(ctx), fee_reminders.run_daily(ctx))
    assert first["announced"] + second["announced"] == 1
    assert (await at(office, datetime(2026, 11, 17, 7, 31, tzinfo=UTC)))["announced"] == 0
    [mail] = await wait_for(lambda: _at_least(office, 1), what="the overdue-fee notice")
    assert str(mail["subject"]).replace("\u00a0", " ") == "Opłata za obsługę za październik 2026 — do zapłaty 984,00 zł"
    body = str(mail["body"]).replace("\u00a0", " ")
    assert "984,00 zł" in body and "16.11.2026" in body and "FV 10/2026" in body
    assert "wpłaty za obsługę w październiku 2026 (umowa" in body  # the month in the locative, not "w miesiącu …"
    assert "61 1090 1014 0000 0712 1981 2874" in body

    # The manager's button makes no second notice for the month.
    async with office.api("maria") as maria:
        pressed = await maria.post(f"/api/v1/contracts/{contract_id}/fees/2026-10/reminder")
        not_due = await maria.post(f"/api/v1/contracts/{contract_id}/fees/2026-11/reminder")
    assert pressed.status_code == 201 and pressed.json()["already_reminded"] is True, pressed.text
    assert not_due.status_code == 409
    async def delivered() -> dict[str, Any] | None:
        [notice] = await fee_notices(office, contract_id)
        kept = [(r["email"], r["status"]) for r in notice["recipients"]] == [(CLIENT_MAIL, "kept")]  # local outbox
        return notice if kept else None

    notice = await wait_for(delivered, what="the notice delivered to the client's address")
    assert (notice["status"], notice["period"]) == ("issued", "2026-10")

    # Daily reminders after it.
    await at(office, datetime(2026, 11, 18, 7, 30, tzinfo=UTC))
    await at(office, datetime(2026, 11, 19, 7, 30, tzinfo=UTC))
    reminded = await wait_for(lambda: _at_least(office, 3), what="the daily reminders")
    assert "Opłata za obsługę za październik 2026" in str(reminded[-1]["body"])

    # The payment arrives and is imported on 19.11: the notice is withdrawn, its link says it was paid.
    office.clock.set(datetime(2026, 11, 19, 10, 0, tzinfo=UTC))
    payment = await pay(office, f"19.11.2026;984,00;Opłata FV 10/2026;{GAMMA_NIP}")

    async def withdrawn() -> dict[str, Any] | None:
        found = await fee_notices(office, contract_id)
        return found[0] if found and found[0]["status"] == "withdrawn" else None

    await wait_for(withdrawn, what="the notice withdrawn once paid")
    token = str(mail["body"]).split("/confirm/")[1].split()[0]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.gateway.app),
                                 base_url=office.system.settings.public_url) as anyone:
        page = await anyone.get(f"/confirm/{token}")
    assert page.status_code == 200 and "Wpłata została zaksięgowana" in page.text
    for day in (20, 21, 23):
        assert (await at(office, datetime(2026, 11, day, 7, 30, tzinfo=UTC)))["announced"] == 0
    assert len(await mails(office)) == 3
    [notice] = await fee_notices(office, contract_id)
    assert notice["status"] == "withdrawn"

    # The payment was September's after all (assigned by hand): October is unpaid again — the next daily check
    # announces it again and the same notice reminds the client again.
    async with office.api("maria") as maria:
        moved = await maria.put(f"/api/v1/payments/{payment['payment_id']}/assignment",
                                json={"client_id": int(client["id"]), "months": [{"month": "2026-09"}]})
        assert moved.status_code == 200, moved.text
    assert (await at(office, datetime(2026, 11, 24, 7, 30, tzinfo=UTC)))["announced"] == 1

    async def issued_again() -> bool:
        return [n["status"] for n in await fee_notices(office, contract_id)] == ["issued"]

    await wait_for(issued_again, what="the notice back in the reminders")
    await at(office, datetime(2026, 11, 25, 7, 30, tzinfo=UTC))
    await wait_for(lambda: _at_least(office, 4), what="the reminder once unpaid again")


async def _at_least(office: Office, n: int) -> list[dict[str, Any]] | None:
    found = await mails(office)
    return found if len(found) >= n else None


async def test_the_client_confirms_the_transfer_and_is_not_reminded_again(office: Office) -> None:
    _, contract_id = await gamma_signs(office, number="G/2", start="2026-10-01", signed_on="2026-09-20")
    assert (await at(office, datetime(2026, 11, 17, 7, 30, tzinfo=UTC)))["announced"] == 1
    [mail] = await wait_for(lambda: _at_least(office, 1), what="the overdue-fee notice")
    token = str(mail["body"]).split("/confirm/")[1].split()[0]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.gateway.app),
                                 base_url=office.system.settings.public_url) as phone:
        page = await phone.get(f"/confirm/{token}")  # a mail scanner or the client opening it confirms nothing
        assert page.status_code == 200 and "Zapłacone / przelew wysłany" in page.text
        confirmed = await phone.post(f"/confirm/{token}")
        assert confirmed.status_code == 200 and "Potwierdzony przelew" in confirmed.text

    async def confirmed_notice() -> bool:
        return any(n["status"] == "confirmed" for n in await fee_notices(office, contract_id))

    await wait_for(confirmed_notice, what="the notice confirmed")
    for day in (18, 19):
        await at(office, datetime(2026, 11, day, 7, 30, tzinfo=UTC))
    assert len(await mails(office)) == 1  # no reminders after the confirmation


async def fee_of_1273_05(office: Office, language: str) -> str:
    """Client Gamma, its recipient reading `language`, signs G/3 from October at 1,035.00 net + 23 % VAT
    (1,273.05 gross), leaves October unpaid, and the daily check of Tuesday 17.11 announces it: the contract's id."""
    async with office.api("maria") as maria:
        body = sole_trader("Gamma", seed="526104057")
        body["recipients"] = [{"name": "Gamma Accounts", "email": CLIENT_MAIL, "language": language}]
        client = (await maria.post("/api/v1/clients", json=body)).json()
        terms = {**contract(client["id"], number="G/3", start="2026-10-01"), "signed_on": "2026-09-20",
                 "fee": {"monthly_net": "1035.00", "vat_rate": "23"}}
        signed = await maria.post("/api/v1/contracts", json=terms)
        assert signed.status_code == 201, signed.text
    assert (await at(office, datetime(2026, 11, 17, 7, 30, tzinfo=UTC)))["announced"] == 1
    return str(signed.json()["id"])


async def test_an_english_speaking_client_gets_the_fee_notice_and_its_reminders_in_english(office: Office) -> None:
    contract_id = await fee_of_1273_05(office, "en")
    [mail] = await wait_for(lambda: _at_least(office, 1), what="the overdue-fee notice")
    subject = "Service fee for October 2026 — PLN 1,273.05 overdue (due 16 November 2026)"
    assert str(mail["subject"]).replace("\u00a0", " ") == subject
    text = str(mail["body"]).replace("\u00a0", " ")
    assert text.startswith("Hello Gamma Accounts,")
    assert ("we have not recorded the full payment of our service fee for October 2026: PLN 1,273.05 is outstanding; "
            "the payment was due on 16 November 2026.") in text
    assert ('Please transfer PLN 1,273.05 to the office\'s account 61 1090 1014 0000 0712 1981 2874 with the title '
            '"FV 10/2026".') in text
    assert "zł" not in text and "Do zapłaty" not in text  # the amount in English, and no Polish text beside it
    token = text.split("/confirm/")[1].split()[0]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.gateway.app),
                                 base_url=office.system.settings.public_url) as phone:
        page = await phone.get(f"/confirm/{token}")
    shown = page.text.replace("\u00a0", " ").replace("&nbsp;", " ")
    assert page.status_code == 200 and "Paid / transfer sent" in shown and "PLN 1,273.05" in shown
    assert "zł" not in shown
    [notice] = await fee_notices(office, contract_id)
    assert notice["fee"] == {"outstanding": "1273.05", "gross": "1273.05", "currency": "PLN",
                             "account": OFFICE_ACCOUNT}
    await at(office, datetime(2026, 11, 18, 7, 30, tzinfo=UTC))
    reminded = await wait_for(lambda: _at_least(office, 2), what="the next day's reminder")
    assert subject in str(reminded[-1]["body"]).replace("\u00a0", " ")


async def test_a_polish_speaking_clients_fee_notice_and_reminders_state_the_amount_in_polish(office: Office) -> None:
    await fee_of_1273_05(office, "pl")
    [mail] = await wait_for(lambda: _at_least(office, 1), what="the overdue-fee notice")
    subject = "Opłata za obsługę za październik 2026 — do zapłaty 1 273,05 zł"
    assert str(mail["subject"]).replace("\u00a0", " ") == subject
    text = str(mail["body"]).replace("\u00a0", " ")
    assert "Do zapłaty pozostało 1 273,05 zł; termin płatności minął 16.11.2026." in text
    assert "PLN" not in text
    assert text.count(office.system.settings.office_name) == 1  # in the signature only
    await at(office, datetime(2026, 11, 18, 7, 30, tzinfo=UTC))
    reminded = await wait_for(lambda: _at_least(office, 2), what="the next day's reminder")
    assert subject in str(reminded[-1]["body"]).replace("\u00a0", " ")
