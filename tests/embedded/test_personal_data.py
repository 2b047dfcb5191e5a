"""Personal data (GDPR) in the embedded mode: the export of a terminated client holds its contracts, cases, notices
and mails; the erasure is refused inside retention and with a contract in force, and after retention leaves no
name, PESEL, NIP, e-mail or street of the client in any service's tables while the figures stay; twice is once."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from services.cases.models import cases
from services.common.messages import CASE_COMPLETED
from services.notifier.models import mails, notice_items, notices
from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.embedded.test_notices import browser, case_of, link_in, notices_of, publish, run_jobs
from tests.embedded.web import browser as web_browser
from tests.embedded.web import log_in
from tests.notice_samples import case_completed
from tests.samples import contract, pesel, sole_trader

NAME = "Zofia Zapomniana Doradztwo"
EMAIL = "zofia.zapomniana@example.com"
STREET = "ul. Erazma Ciolka 13"
SERVICES = ("contracts", "scheduler", "cases", "notifier", "gateway")


async def sign(office: Office, name: str, seed: str, *, email: str, street: str,
               born: str = "8001011234") -> tuple[int, int, dict[str, Any]]:
    body = sole_trader(name, seed=seed)
    body["pesel"] = pesel(born)
    body["contact_emails"] = [email]
    body["address"] = {"street": street, "postal_code": "00-850", "city": "Warszawa"}
    async with office.api("maria") as api:
        # With Idempotency-Keys: the answers remembered for a retry hold the client as it was.
        client = await api.post("/api/v1/clients", json=body, headers={"Idempotency-Key": f"client-{seed}"})
        assert client.status_code == 201, client.text
        signed = await api.post("/api/v1/contracts", json=contract(client.json()["id"], number=f"RODO/{seed}"),
                                headers={"Idempotency-Key": f"contract-{seed}"})
        assert signed.status_code == 201, signed.text
    return int(client.json()["id"]), int(signed.json()["id"]), body


async def dump(office: Office) -> dict[str, list[str]]:
    """Every row of every table of every service, as text (the tokens' last use changes with each call)."""
    found: dict[str, list[str]] = {}
    for service in SERVICES:
        runtime = office.system.runtimes[service]
        async with runtime.ctx.db.reading() as session:
            for table in runtime.spec.metadata.sorted_tables:
                if table.name in ("api_tokens", "sessions"):
                    continue
                rows = (await session.execute(select(table))).all()
                found[f"{service}.{table.name}"] = sorted(repr(tuple(r)) for r in rows)
    return found


def holding(tables: dict[str, list[str]], needles: list[str]) -> dict[str, list[str]]:
    return {name: [n for n in needles if any(n in row for row in rows)] for name, rows in tables.items()
            if any(n in row for row in rows for n in needles)}


async def figures(office: Office, contract_id: int) -> dict[str, Any]:
    async with office.system.runtimes["cases"].ctx.db.reading() as session:
        case_count = (await session.execute(select(func.count()).select_from(cases).where(
            cases.c.contract_id == str(contract_id)))).scalar_one()
    async with office.system.runtimes["notifier"].ctx.db.reading() as session:
        amounts = sorted(tuple(r) for r in await session.execute(
            select(notice_items.c.amount, notice_items.c.due).join(notices, notices.c.id == notice_items.c.notice_id)
            .where(notices.c.contract_id == str(contract_id))))
        mail_count = (await session.execute(select(func.count()).select_from(mails))).scalar_one()
    return {"cases": case_count, "amounts": amounts, "mails": mail_count}


async def erase(office: Office, login: str = "admin", **body: Any) -> httpx.Response:
    async with office.api(login) as api:
        return await api.post("/api/v1/personal-data/erasure", json=body)


async def test_a_terminated_clients_data_is_exported_then_erased_after_retention_keeping_the_figures(
    office: Office,
) -> None:
    client_id, contract_id, body = await sign(office, NAME, "526104057", email=EMAIL, street=STREET)
    other_id, _, _ = await sign(office, "Trwajacy Klient", "611104057", email="trwa@example.com",
                                street="ul. Dluga 1", born="8502023456")
    # The client's power of attorney (its signed PDF) and a payment of the fee from its account.
    async with office.api("maria") as api:
        power = await api.post(f"/api/v1/clients/{client_id}/powers",
                               data={"kind": "UPL-1", "granted_on": "2026-10-01", "scope": f"pełnomocnik {NAME}"},
                               files={"file": ("upl.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")})
        assert power.status_code == 201, power.text
        paid = await api.post("/api/v1/payments", json={"paid_on": "2026-11-10", "amount": "100.00",
                                                        "title": f"{NAME} opłata", "counterparty_nip": body["nip"]})
        assert paid.status_code == 201, paid.text
    power_files = list((office.system.runtimes["contracts"].ctx.settings.data_dir / "attachments" / "powers")
                       .iterdir())
    assert len(power_files) == 1
    # A finished VAT case becomes a notice mailed to the client, who opens its link.
    case = await case_of(office, str(contract_id))
    await publish(office, CASE_COMPLETED, case_completed(
        case["id"], str(contract_id), str(client_id), client_name=NAME, amount="1234.56",
        due=date.fromisoformat(case["due"])))
    await wait_for(lambda: notices_of(office, case_id=case["id"]), what="the draft notice")
    office.clock.set(datetime(2026, 11, 28, 14, 0, tzinfo=UTC))
    assert (await run_jobs(office))["released"] == 1

    async def mailed() -> list[Any]:
        async with office.system.runtimes["notifier"].ctx.db.reading() as session:
            return list((await session.execute(select(mails.c.body).where(mails.c.to_address == EMAIL))).scalars())

    [mail_body] = await wait_for(mailed, what="the notice mail")
    async with browser(office) as phone:
        assert (await phone.get(link_in(mail_body))).status_code == 200
    async with office.api("maria") as api:
        ended = await api.post(f"/api/v1/contracts/{contract_id}/termination",
                               json={"end": "2026-11-30", "reason": "koniec współpracy"})
        assert ended.status_code == 201, ended.text

    # The export: everything each service holds, as JSON and as a ZIP of CSV files; accountants may not.
    async with office.api("maria") as api:
        exported = (await api.get(f"/api/v1/clients/{client_id}/personal-data")).json()
        zipped = await api.get(f"/api/v1/clients/{client_id}/personal-data", params={"format": "zip"})
    async with office.api("anna") as api:
        assert (await api.get(f"/api/v1/clients/{client_id}/personal-data")).status_code == 403
    held = exported["services"]
    [record] = held["contracts"]["clients"]
    assert record["data"]["pesel"] == body["pesel"] and record["data"]["contact_emails"] == [EMAIL]
    assert [c["id"] for c in held["contracts"]["contracts"]] == [contract_id]
    assert [c["status"] for c in held["contracts"]["contracts"]] == ["terminated"]
    assert any(c["id"] == case["id"] for c in held["cases"]["cases"])
    assert [str(n["client_id"]) for n in held["notifier"]["notices"]] == [str(client_id)]
    assert [i["amount"] for i in held["notifier"]["notice_items"]] == ["1234.56"]
    assert [m["to_address"] for m in held["notifier"]["mails"]] == [EMAIL]
    assert any(e["user_agent"] == "TestPhone/1.0" for e in held["notifier"]["notice_events"])
    assert [p["client_name"] for p in held["scheduler"]["planned_contracts"]] == [NAME]
    audited = {a["action"] for a in held["gateway"]["audit_log"]}
    assert {"client.create", "contract.create", "contract.terminate"} <= audited
    names = zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
    assert {"export.json", "contracts/clients.csv", "cases/cases.csv", "notifier/mails.csv"} <= set(names)
    assert EMAIL in zipfile.ZipFile(io.BytesIO(zipped.content)).read("notifier/mails.csv").decode("utf-8-sig")

    # Until its last day, and inside retention (it ended in 2026: kept through 2031): refused, with the reason.
    early = await erase(office, client_id=client_id)
    assert early.status_code == 409
    assert early.json()["errors"][0]["message"] == "contract RODO/526104057 is in force until 2026-11-30"
    office.clock.set(datetime(2026, 12, 5, 9, 0, tzinfo=UTC))
    early = await erase(office, client_id=client_id)
    assert early.status_code == 409
    assert early.json()["errors"] == [{"field": "client_id", "message": (
        "its last contract ended on 2026-11-30; records are kept 5 years after the end of 2026, until 2031-12-31")}]
    office.clock.set(datetime(2031, 12, 31, 12, 0, tzinfo=UTC))
    assert (await erase(office, dry_run=True)).json()["items"] == []
    office.clock.set(datetime(2032, 1, 1, 9, 0, tzinfo=UTC))
    busy = await erase(office, client_id=other_id)
    assert busy.status_code == 409 and "is in force (no end date)" in busy.json()["detail"]
    assert (await erase(office, "maria", dry_run=True)).status_code == 403

    before = await figures(office, contract_id)
    dry = (await erase(office, dry_run=True)).json()
    assert [(i["client_id"], i["status"], i["erasable_from"]) for i in dry["items"]] == [
        (client_id, "erasable", "2032-01-01")]
    assert dry["kept"] == {"in_force": 1, "retained": 0}
    assert holding(await dump(office), [EMAIL]), "a dry run changes nothing"

    done = await erase(office)
    assert done.status_code == 200, done.text
    assert [(i["client_id"], i["status"], i["erased_now"]) for i in done.json()["items"]] == [
        (client_id, "erased", True)]
    assert done.json()["remaining"] == 0

    # No service keeps the client's name, PESEL, NIP, e-mail or street; the figures are as they were.
    needles = [NAME, body["pesel"], body["nip"], EMAIL, STREET]

    async def erased_everywhere() -> bool:
        return not holding(await dump(office), needles)

    try:
        await wait_for(erased_everywhere, what="every service to erase the client")
    except AssertionError:
        raise AssertionError(f"still held: {holding(await dump(office), needles)}") from None
    assert await figures(office, contract_id) == before
    assert not power_files[0].exists(), "the signed power of attorney is deleted"
    async with office.api("maria") as api:
        shown = (await api.get(f"/api/v1/clients/{client_id}")).json()
        assert shown["name"] == f"Klient {client_id} (dane usunięte)" and shown["pesel"] is None
        assert (await api.get(f"/api/v1/clients/{other_id}")).json()["name"] == "Trwajacy Klient"
        refused = await api.post("/api/v1/contracts", json=contract(client_id, number="RODO/again"))
        assert refused.status_code == 409 and refused.json()["errors"][0]["field"] == "client_id"
        audit = (await api.get("/api/v1/audit", params={"target": f"client:{client_id}"})).json()["items"]
    async with web_browser(office) as page:
        assert (await log_in(page, "maria")).status_code == 303
        shown_page = await page.get(f"/clients/{client_id}")
        assert shown_page.status_code == 200 and f"Klient {client_id} (dane usunięte)" in shown_page.text
        assert "Dane osobowe klienta usunięto" in shown_page.text and "Nowa umowa" not in shown_page.text
        download = await page.get(f"/clients/{client_id}/personal-data.zip")
        assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
        export = json.loads(zipfile.ZipFile(io.BytesIO(download.content)).read("export.json"))
        assert export["services"]["contracts"]["clients"][0]["data"]["pesel"] is None
    assert [(a["action"], a["login"]) for a in audit if a["action"] in ("client.erase", "client.export")] == [
        ("client.erase", "admin"), ("client.export", "maria"), ("client.export", "maria")]
    async with office.api("maria") as api:
        audit = (await api.get("/api/v1/audit", params={"target": f"client:{client_id}"})).json()["items"]
    assert [a["action"] for a in audit][:1] == ["client.export"]  # the download from the page too

    # Twice is once: nothing else changes, nothing else is audited.
    settled = await dump(office)
    again = await erase(office, client_id=client_id)
    assert again.status_code == 200
    assert [(i["status"], i["erased_now"]) for i in again.json()["items"]] == [("erased", False)]
    assert (await erase(office)).json()["items"] == []
    assert await dump(office) == settled
    assert json.dumps(held)  # the export was JSON-ready
