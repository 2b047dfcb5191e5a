"""Client contacts and accounts end to end: managers edit a client (API and page) with every bad number refused
with its reason and nothing half-written; each change is audited and reaches the notifier (client.changed), whose
next notice goes to the client's recipient with the client's account; staff see the notices of their contracts in
the gateway (API and pages), and the case page says when the client confirmed."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy import select, update

from services.common.accounts import check_digits, format_nrb, mikrorachunek
from services.common.messages import CASE_COMPLETED
from services.common.runtime import INTERNAL_TOKEN_HEADER
from services.contracts.handlers import announce_clients
from services.contracts.models import clients as clients_table
from services.contracts.models import outbox as contracts_outbox
from services.notifier import jobs
from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.embedded.web import browser, csrf_of, log_in
from tests.notice_samples import case_completed, envelope
from tests.samples import contract, nip, sole_trader

NOV_28_AFTERNOON = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)  # 15:00 in Warsaw: the day's notices go out


def nrb(bban: str) -> str:
    """A valid 26-digit account number with this 24-digit BBAN."""
    return check_digits(bban) + bban


NRS = nrb("600000020260001234563218")
PFRON = nrb("102010260000190201234567")


def notifier(office: Office) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.runtimes["notifier"].app),
                             base_url="http://notifier",
                             headers={INTERNAL_TOKEN_HEADER: office.system.settings.internal_token})


async def signed_client(office: Office, name: str = "Jan Kowalski Usługi", seed: str = "526104057",
                        accountant: str = "anna") -> tuple[dict[str, Any], int]:
    async with office.api() as api:
        created = await api.post("/api/v1/clients", json=sole_trader(name, seed=seed))
        assert created.status_code == 201, created.text
        signed = await api.post("/api/v1/contracts", json=contract(created.json()["id"], number=f"K/{seed}",
                                                                   accountant=accountant))
        assert signed.status_code == 201, signed.text
    return created.json(), int(signed.json()["id"])


async def vat_case(office: Office, contract_id: int) -> dict[str, Any]:
    async def find() -> dict[str, Any] | None:
        async with office.api() as api:
            items = (await api.get("/api/v1/cases", params={"contract_id": contract_id})).json()["items"]
        return next((c for c in items if c["code"] == "JPK_V7M" and c["period"] == "2026-10"), None)

    found: dict[str, Any] = await wait_for(find, what="the October VAT case")
    return found


async def notifier_recipients(office: Office, client_id: int) -> list[str]:
    async with notifier(office) as api:
        found = (await api.get("/recipients", params={"client_id": client_id})).json()
    return [r["email"] for r in found.get("items", [])]


async def audit_actions(office: Office) -> list[tuple[str, str, Any]]:
    async with office.api("maria") as api:
        items = (await api.get("/api/v1/audit", params={"limit": 200})).json()["items"]
    return [(i["action"], i["target"], i.get("detail")) for i in items]


async def test_every_bad_number_is_refused_with_its_reason_and_nothing_changes(office: Office) -> None:
    client, _ = await signed_client(office)
    other_nip = nip("123456321")
    bad = {
        "nip": "5261040574",
        "recipients": [{"email": "jan@kowalski.example"}, {"email": "not-an-address"},
                       {"email": "JAN@kowalski.example"}],
        "accounts": {"mikrorachunek": mikrorachunek(nip=other_nip), "nrs": NRS[:-1],
                     "ppk": NRS[:-1] + str((int(NRS[-1]) + 1) % 10), "pfron": "PL" + PFRON},
        "tax_profile": {"vat": "quarterly"},
    }
    async with office.api("maria") as api:
        refused = await api.patch(f"/api/v1/clients/{client['id']}", json=bad)
        assert refused.status_code == 422, refused.text
        errors = {e["field"]: e["message"] for e in refused.json()["errors"]}
        assert set(errors) == {"nip", "recipients[1].email", "accounts.nrs", "accounts.ppk", "tax_profile"}
        assert "checksum" in errors["nip"]
        assert errors["accounts.nrs"] == "account number must have 26 digits (NRB), got 25"
        assert errors["accounts.ppk"].startswith("account number check digits do not match")
        assert "annex" in errors["tax_profile"]

        # Once each field is right on its own, the rules between them: a mikrorachunek of another NIP, a
        # recipient listed twice.
        bad.update(nip=client["nip"], tax_profile=None)
        del bad["tax_profile"]
        bad["recipients"] = [{"email": "jan@kowalski.example"}, {"email": "JAN@kowalski.example"}]
        bad["accounts"] = {"mikrorachunek": mikrorachunek(nip=other_nip)}
        refused = await api.patch(f"/api/v1/clients/{client['id']}", json=bad)
        assert refused.status_code == 422, refused.text
        errors = {e["field"]: e["message"] for e in refused.json()["errors"]}
        assert errors == {
            "recipients[1].email": "already listed as recipient 1",
            "accounts.mikrorachunek": f"this mikrorachunek belongs to NIP {other_nip}, not to the client's NIP "
                                      f"{client['nip']} or PESEL {client['pesel']}",
        }
        unchanged = (await api.get(f"/api/v1/clients/{client['id']}")).json()
    assert unchanged["recipients"] == [] and unchanged["accounts"]["nrs"] is None
    assert not [a for a in await audit_actions(office) if a[0] == "client.update"]


async def test_a_manager_edits_contacts_and_accounts_and_the_next_notice_uses_them(office: Office) -> None:
    client, contract_id = await signed_client(office)
    await wait_for(lambda: notifier_recipients(office, client["id"]), what="the notifier to know the client")
    assert await notifier_recipients(office, client["id"]) == ["klient@example.com"]  # the contact e-mail
    own = mikrorachunek(pesel=client["pesel"])  # a sole trader may pay to the PESEL's mikrorachunek
    changes = {"name": "Jan Kowalski Usługi Budowlane",
               "address": {"street": "ul. Nowa 1", "postal_code": "00950", "city": "Warszawa"},
               "recipients": [{"name": "Jan Kowalski", "email": "jan@kowalski.example", "language": "pl"},
                              {"name": "Biuro Jana", "email": "biuro@kowalski.example", "language": "en"}],
               "accounts": {"mikrorachunek": " ".join([own[:2], own[2:]]), "nrs": NRS, "pfron": PFRON}}
    async with office.api("anna") as api:  # an accountant may not
        assert (await api.patch(f"/api/v1/clients/{client['id']}", json=changes)).status_code == 403
    async with office.api("maria") as api:
        edited = await api.patch(f"/api/v1/clients/{client['id']}", json=changes)
        assert edited.status_code == 200, edited.text
        assert edited.json()["changed"] == ["accounts", "address", "name", "recipients"]
        assert edited.json()["address"]["postal_code"] == "00-950" and edited.json()["accounts"]["mikrorachunek"] == own
        again = await api.patch(f"/api/v1/clients/{client['id']}", json=changes)
        assert again.json()["changed"] == []  # the same values again: no change, no audit row
        cleared = (await api.patch(f"/api/v1/clients/{client['id']}", json={"accounts": {"pfron": None}})).json()
        assert cleared["changed"] == ["accounts"]  # one account cleared, the others left as they were
        assert cleared["accounts"] == {"mikrorachunek": own, "nrs": NRS, "ppk": None, "pfron": None}
    assert [a[2] for a in await audit_actions(office) if a[0] == "client.update"] == [
        {"changed": ["accounts"]}, {"changed": ["accounts", "address", "name", "recipients"]}]  # newest first

    await wait_for(lambda: _equals(notifier_recipients(office, client["id"]),
                                   ["jan@kowalski.example", "biuro@kowalski.example"]),
                   what="the new recipients at the notifier")
    case = await vat_case(office, contract_id)
    await office.system.bus.publish(envelope(CASE_COMPLETED, case_completed(
        case["id"], str(contract_id), str(client["id"]), client_name=client["name"], amount="321.00",
        due=date.fromisoformat(case["due"]))))
    office.clock.set(NOV_28_AFTERNOON)

    async def issued() -> dict[str, Any] | None:
        await jobs.tick(office.system.runtimes["notifier"].ctx)
        async with office.api("anna") as api:
            items = (await api.get("/api/v1/notices", params={"case_id": case["id"]})).json()["items"]
        return items[0] if items and items[0]["status"] == "issued" else None

    notice = await wait_for(issued, what="the notice issued")
    [item] = notice["items"]
    assert item["account"] == own and item["transfer_title"].startswith(f"P{client['pesel']} 26M10")
    assert notice["client_name"] == "Jan Kowalski Usługi Budowlane"
    assert [(r["email"], r["language"]) for r in notice["recipients"]] == [
        ("jan@kowalski.example", "pl"), ("biuro@kowalski.example", "en")]


async def _equals(found: Any, expected: Any) -> bool:
    return bool(await found == expected)


async def test_clients_recorded_before_the_upgrade_are_announced_once(office: Office) -> None:
    client, _ = await signed_client(office)
    contracts = office.system.runtimes["contracts"].ctx
    async with contracts.db.transaction() as session:  # as a client recorded before contracts_0002_clients
        await session.execute(update(clients_table).where(clients_table.c.id == client["id"])
                              .values(announced_at=None))

    async def announcements() -> int:
        async with contracts.db.reading() as session:
            rows = (await session.execute(select(contracts_outbox.c.type))).scalars().all()
        return len([t for t in rows if t == "client.changed"])

    before = await announcements()
    assert await announce_clients(contracts) == 1
    assert await announce_clients(contracts) == 0  # a restart announces no one again
    assert await announcements() == before + 1


async def test_notices_in_the_gateway_follow_the_callers_contracts(office: Office) -> None:
    client, _ = await signed_client(office)
    await wait_for(lambda: notifier_recipients(office, client["id"]), what="the notifier to know the client")
    async with office.api("anna") as api:
        sent = await api.post("/api/v1/notices", json={"client_ids": [str(client["id"])], "subject": "Dokumenty",
                                                       "text": "Prosimy o dokumenty do 5. dnia miesiąca."})
        assert sent.status_code == 201, sent.text
        [notice_id] = sent.json()["ids"]
        mine = (await api.get("/api/v1/notices", params={"client_id": client["id"]})).json()
        assert [n["id"] for n in mine["items"]] == [notice_id] and mine["total"] == 1
        assert (await api.get(f"/api/v1/notices/{notice_id}")).json()["proof"]
        assert (await api.get("/api/v1/notices/proof.csv")).status_code == 403
        assert (await api.post(f"/api/v1/notices/{notice_id}/withdraw", json={"reason": "x"})).status_code == 403
        assert (await api.get("/api/v1/notice-templates")).status_code == 403
        recipients = (await api.get(f"/api/v1/clients/{client['id']}/recipients")).json()["items"]
        assert [(r["email"], r["status"]) for r in recipients] == [("klient@example.com", "ok")]
    async with office.api("ola") as api:  # not on the contract's team
        theirs = (await api.get("/api/v1/notices")).json()
        assert theirs["items"] == [] and theirs["total"] == 0
        assert (await api.get(f"/api/v1/notices/{notice_id}")).status_code == 404
        assert (await api.get(f"/api/v1/clients/{client['id']}/recipients")).status_code == 404
        refused = await api.post("/api/v1/notices", json={"client_ids": [str(client["id"])], "subject": "S",
                                                          "text": "T"})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "client_ids[0]"
    async with office.api("maria") as api:
        proof = await api.get("/api/v1/notices/proof.csv", params={"client_id": client["id"]})
        assert proof.status_code == 200 and proof.text.startswith("notice_id,client_name")
        assert (await api.get("/api/v1/notices", params={"state": "waiting"})).json()["total"] == 1
        assert (await api.get("/api/v1/notices", params={"state": "confirmed"})).json()["total"] == 0
        withdrawn = await api.post(f"/api/v1/notices/{notice_id}/withdraw", json={"reason": "pomyłka"})
        assert withdrawn.status_code == 200, withdrawn.text
        assert (await api.get("/api/v1/notices", params={"state": "waiting"})).json()["total"] == 0
    assert {a[0] for a in await audit_actions(office) if a[1] == f"notice:{notice_id}"} == \
        {"notice.create", "notice.withdraw"}
    async with office.api("admin") as api:
        preview = await api.post("/api/v1/notice-templates/preview", json={"name": "notice", "language": "pl"})
        assert preview.status_code == 200 and "Jan Kowalski" in preview.json()["text"]


async def test_the_edit_page_shows_every_problem_next_to_its_field(office: Office) -> None:
    client, _ = await signed_client(office)
    page = browser(office)
    assert (await log_in(page, "maria")).status_code == 303
    form = await page.get(f"/clients/{client['id']}/edit")
    assert form.status_code == 200
    fields = dict(re.findall(r'name="([a-z_0-9]+)" type="text" value="([^"]*)"', form.text))
    data = {**fields, "csrf_token": csrf_of(form), "recipient_rows": "2", "language": "pl", "notices": "on",
            "recipient_email_1": "ktos@", "nrs": "12 3456", "mikrorachunek": "", "regon": "123"}
    refused = await page.post(f"/clients/{client['id']}/edit", data=data)
    assert refused.status_code == 422
    shown = dict(re.findall(r'data-field="([a-z_0-9]+)">([^<]+)<', refused.text))
    assert set(shown) == {"recipient_email_1", "nrs", "regon"}
    assert shown["nrs"] == "Numer rachunku ma 26 cyfr (NRB), a podano 6."  # said in Polish on the form
    data.update(recipient_email_1="jan@kowalski.example", recipient_name_1="Jan", nrs=NRS, regon=client["regon"])
    saved = await page.post(f"/clients/{client['id']}/edit", data=data)
    assert saved.status_code == 303 and saved.headers["location"] == f"/clients/{client['id']}"
    shown_page = (await page.get(f"/clients/{client['id']}")).text
    assert "Jan &lt;jan@kowalski.example&gt;" in shown_page and format_nrb(NRS) in shown_page
    assert "(wyliczony z NIP/PESEL)" in shown_page  # no mikrorachunek recorded: the NIP's is shown
    accountant = browser(office)
    assert (await log_in(accountant, "anna")).status_code == 303
    assert "Zmień dane klienta" not in (await accountant.get(f"/clients/{client['id']}")).text
    assert (await accountant.get(f"/clients/{client['id']}/edit")).status_code == 403


async def test_the_case_page_says_when_the_client_confirmed(office: Office) -> None:
    client, contract_id = await signed_client(office)
    case = await vat_case(office, contract_id)
    await office.system.bus.publish(envelope(CASE_COMPLETED, case_completed(
        case["id"], str(contract_id), str(client["id"]), client_name=client["name"], amount="99.00",
        due=date.fromisoformat(case["due"]))))
    office.clock.set(NOV_28_AFTERNOON)

    async def kept_mail() -> str | None:
        await jobs.tick(office.system.runtimes["notifier"].ctx)
        async with notifier(office) as api:
            mails = (await api.get("/mails", params={"to": "klient@example.com"})).json()["items"]
        found = [m for m in mails if "/confirm/" in m["body"]]
        return found[0]["body"] if found else None

    body = await wait_for(kept_mail, what="the notice in the local outbox")
    link = re.search(r"https?://\S+(/confirm/[A-Za-z0-9_-]+)", body)
    assert link
    page = browser(office)
    assert (await log_in(page, "anna")).status_code == 303
    before = (await page.get(f"/cases/{case['id']}")).text
    assert "czeka na potwierdzenie" in before and "potwierdzone" not in before
    assert before.count("Zawiadomienia klienta") == 1  # once, in the page (not in its title)
    listing = (await page.get("/notices")).text
    assert 'id="links-warning"' in listing  # the links point to 127.0.0.1: clients could not open them
    office.clock.set(datetime(2026, 11, 28, 16, 30, tzinfo=UTC))
    clicked = await browser(office).post(link.group(1))
    assert clicked.status_code == 200
    after = (await page.get(f"/cases/{case['id']}")).text
    assert "potwierdzone 28.11.2026 17:30" in after  # the office's time in Warsaw
    other = browser(office)
    assert (await log_in(other, "ola")).status_code == 303
    assert (await other.get(f"/notices?client_id={client['id']}")).text.count("/notices/") <= 2  # none listed
