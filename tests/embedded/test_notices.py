"""Client notices in the embedded mode, with a real SMTP server: a finished case becomes one notice with the
right account, title, due date and QR code; the link's GET shows it and only the POST confirms; reminders go
once a day until confirmation; a refusal shows on the case; a correction replaces the notice."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.accounts import format_nrb, mikrorachunek
from services.common.messages import CASE_COMPLETED, CASE_REOPENED, CLIENT_CHANGED, NOTICE_CONFIRMED, NOTICE_FAILED
from services.common.runtime import INTERNAL_TOKEN_HEADER
from services.common.scope import Scope
from services.notifier import jobs
from services.notifier.qr import qr_png
from tests.conftest import CapturedMail, wait_for
from tests.embedded.conftest import ROOT, Office, open_office
from tests.notice_samples import case_completed, client_changed, envelope, parts
from tests.samples import contract, sole_trader

NOV_28_AFTERNOON = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)  # 15:00 in Warsaw: the notices' send time


@pytest.fixture
async def office(tmp_path: Path, smtp_server: tuple[str, int, CapturedMail]) -> AsyncIterator[Office]:
    host, port, _ = smtp_server
    async with open_office(tmp_path, rules_dir=ROOT / "rules", smtp_host=host, smtp_port=port,
                           mail_from="Biuro Rachunkowe Bilans <biuro@bilans.example>", office_name="Bilans",
                           mail_poll_seconds=0.2, mail_retry_seconds=0.1) as running:
        yield running


def notifier(office: Office) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.runtimes["notifier"].app),
                             base_url="http://notifier",
                             headers={INTERNAL_TOKEN_HEADER: office.system.settings.internal_token})


def browser(office: Office) -> httpx.AsyncClient:
    """A client's browser: the link opens on the office's one public port (the gateway's app, embedded)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.gateway.app, client=("203.0.113.7", 5000)),
                             base_url=office.system.settings.public_url, headers={"User-Agent": "TestPhone/1.0"})


async def sign(office: Office, name: str, seed: str, emails: list[str]) -> tuple[str, str, str]:
    """A client and its contract through the API: (client id, contract id, NIP)."""
    async with office.api() as api:
        body = sole_trader(name, seed=seed)
        body["contact_emails"] = emails
        client = await api.post("/api/v1/clients", json=body)
        assert client.status_code == 201, client.text
        signed = await api.post("/api/v1/contracts", json=contract(client.json()["id"], number=f"N/{seed}"))
        assert signed.status_code == 201, signed.text
    client_id, contract_id = str(client.json()["id"]), str(signed.json()["id"])

    async def known() -> bool:
        async with notifier(office) as api:
            found = (await api.get("/recipients", params={"client_id": client_id})).json()
        return bool(found.get("items"))

    await wait_for(known, what="the notifier to learn the contract")
    return client_id, contract_id, body["nip"]


async def case_of(office: Office, contract_id: str, code: str = "JPK_V7M", period: str = "2026-10") -> dict[str, Any]:
    async def find() -> dict[str, Any] | None:
        async with office.api() as api:
            items = (await api.get("/api/v1/cases", params={"contract_id": contract_id})).json()["items"]
        return next((c for c in items if c["code"] == code and c["period"] == period), None)

    found: dict[str, Any] = await wait_for(find, what=f"the {code} case for {period}")
    return found


async def publish(office: Office, type_: str, payload: dict[str, Any]) -> None:
    await office.system.bus.publish(envelope(type_, payload))


async def notices_of(office: Office, **params: Any) -> list[dict[str, Any]]:
    async with notifier(office) as api:
        response = await api.get("/notices", params=params)
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items


async def run_jobs(office: Office) -> dict[str, int]:
    return await jobs.tick(office.system.runtimes["notifier"].ctx)


def link_in(text: str) -> str:
    match = re.search(r"https?://\S+/confirm/[A-Za-z0-9_-]+", text)
    assert match, text
    return match.group(0)


async def test_a_finished_vat_case_becomes_one_notice_with_account_title_due_date_and_qr(
    office: Office, smtp_server: tuple[str, int, CapturedMail]
) -> None:
    mail = smtp_server[2]
    client_id, contract_id, client_nip = await sign(office, "Jan Kowalski Usługi", "526104057",
                                                    ["jan@kowalski.example"])
    case = await case_of(office, contract_id)
    payload = case_completed(case["id"], contract_id, client_id, client_name="Jan Kowalski Usługi",
                             amount="1234.56", due=date.fromisoformat(case["due"]))
    await publish(office, CASE_COMPLETED, payload)
    await publish(office, CASE_COMPLETED, payload)  # a redelivery (new message id): still one notice
    [draft] = await wait_for(lambda: notices_of(office, case_id=case["id"]), what="the draft notice")
    assert draft["status"] == "draft"  # collected until the office's send time (15:00) with the day's others

    office.clock.set(NOV_28_AFTERNOON)
    assert (await run_jobs(office))["released"] == 1
    [received] = await wait_for(lambda: mail.to("jan@kowalski.example"), what="the notice at the SMTP server")

    account = mikrorachunek(nip=client_nip)
    title = f"N{client_nip} 26M10 VAT-7"
    found = parts(received)
    assert received["Subject"] == "Rozliczenie za październik 2026 — Jan Kowalski Usługi: VAT 1 234,56 zł do 25.11.2026"
    assert received["From"].addresses[0].addr_spec == "biuro@bilans.example"
    assert received["Reply-To"].addresses[0].addr_spec == "anna@biuro.example"
    assert received["Message-ID"] and received["X-Terminarz-Notice"] == draft["id"]
    for needle in ("1\u00a0234,56\u00a0zł", "25.11.2026", format_nrb(account), f"Tytuł przelewu: {title}"):
        assert needle in found["text"], needle
    assert "cid:qr0@terminarz" in found["html"] and "1\u00a0234,56\u00a0zł" in found["html"]
    expected_qr = f"|PL|{account}|123456|Urząd Skarbowy|{title}|||"
    assert found["images"] == {"qr0@terminarz": qr_png(expected_qr)}  # the image encodes exactly this payload

    async def delivered() -> dict[str, Any] | None:
        [notice] = await notices_of(office, case_id=case["id"])
        return notice if notice["delivery"] == "delivered" else None

    notice = await wait_for(delivered, what="the server's 250 recorded on the notice")
    assert notice["status"] == "issued"
    [item] = notice["items"]
    assert (item["account"], item["transfer_title"], item["due"], item["qr_payload"], item["amount"]) == \
        (account, title, "2026-11-25", expected_qr, "1234.56")
    assert len(mail.messages) == 1 + _staff_mails(mail)  # the client got exactly one message


async def test_a_case_finished_before_the_notifier_knows_its_client_waits_for_the_client_not_for_nothing(
    office: Office,
) -> None:
    """Events reach the notifier on different queues (and, distributed, different processes): a completion may
    come first. Its notice must still carry the client's tax account, so the notifier takes the message again
    after the bus's retry delay instead of writing a notice without one."""
    nip = "5261040567"
    done = case_completed("case-early", "contract-early", "client-early", client_name="Wczesna Sp. z o.o.",
                          amount="300.00", due=date(2026, 11, 25))
    await publish(office, CASE_COMPLETED, done)
    assert await notices_of(office, case_id="case-early") == []
    await publish(office, CLIENT_CHANGED, client_changed("client-early", name="Wczesna Sp. z o.o.", nip=nip,
                                                         recipients=[{"email": "ksiegowosc@wczesna.example"}]))
    [notice] = await wait_for(lambda: notices_of(office, case_id="case-early"), timeout=30,
                              what="the notice once the client is known")
    [item] = notice["items"]
    assert item["account"] == mikrorachunek(nip=nip)
    assert await office.system.bus.dead_letters() == []


def _staff_mails(mail: CapturedMail) -> int:
    return len([m for m in mail.messages if m["To"].addresses[0].addr_spec.endswith("@biuro.example")])


async def issue_notice(office: Office, mail: CapturedMail, email: str, seed: str, name: str = "Klient") \
        -> tuple[dict[str, Any], str]:
    """A client whose VAT notice went out today; (the notice, the link from the mail)."""
    client_id, contract_id, _ = await sign(office, name, seed, [email])
    case = await case_of(office, contract_id)
    await publish(office, CASE_COMPLETED, case_completed(case["id"], contract_id, client_id, client_name=name,
                                                         amount="500.00", due=date(2026, 12, 28)))
    await wait_for(lambda: notices_of(office, case_id=case["id"]), what="the draft")
    if office.clock.now() < NOV_28_AFTERNOON:
        office.clock.set(NOV_28_AFTERNOON)
    await run_jobs(office)
    def for_this_client() -> list[Any]:
        return [m for m in mail.to(email) if f"— {name}:" in m["Subject"]]

    [received] = await wait_for(for_this_client, what=f"the notice to {email}")
    [notice] = await notices_of(office, case_id=case["id"])
    return notice, link_in(parts(received)["text"])


async def test_the_link_shows_the_notice_on_get_and_confirms_only_on_post(
    office: Office, smtp_server: tuple[str, int, CapturedMail]
) -> None:
    confirmed: list[Any] = []

    async def on_confirmed(e: Any) -> None:
        confirmed.append(e)

    await office.system.bus.subscribe("test-cases", [NOTICE_CONFIRMED], on_confirmed)
    notice, link = await issue_notice(office, smtp_server[2], "ewa@firma.example", "526104040", "Ewa Firma")
    assert link.startswith(f"{office.system.settings.public_url}/confirm/")
    async with browser(office) as client:
        for _ in range(3):  # a mail scanner, a link preview, the client: opening confirms nothing
            page = await client.get(link)
            assert page.status_code == 200
            assert "500,00\u00a0zł" in page.text and "Potwierdzam zapoznanie się" in page.text
            assert page.headers["referrer-policy"] == "no-referrer"
        [still_open] = await notices_of(office, client_id=notice["client_id"])
        assert still_open["status"] == "issued" and still_open["confirmed_at"] is None

        office.clock.advance(timedelta(hours=1))
        done = await client.post(link)
        assert done.status_code == 200 and "Potwierdzone" in done.text and "Dziękujemy" in done.text
        again = await client.post(link)  # confirming twice: the same answer, one record
        assert again.status_code == 200 and "Potwierdzone" in again.text and "Dziękujemy" not in again.text

        forged = await client.get(link[:-4] + "AAAA")
        assert forged.status_code == 404 and "Ten link jest nieprawidłowy" in forged.text
        assert (await client.post(f"{office.system.settings.public_url}/confirm/x")).status_code == 404

    async with notifier(office) as api:
        shown = (await api.get(f"/notices/{notice['id']}")).json()
    assert shown["status"] == "confirmed" and shown["confirmed_by"] == "ewa@firma.example"
    assert shown["confirmed_at"].startswith("2026-11-28T15:00")
    events = [(p["event"], p["address"], p["user_agent"]) for p in shown["proof"]]
    assert events.count(("opened", "203.0.113.7", "TestPhone/1.0")) == 3
    assert events.count(("confirmed", "203.0.113.7", "TestPhone/1.0")) == 1
    assert [p["smtp_reply"][:3] for p in shown["proof"] if p["event"] == "notice_sent"] == ["250"]
    await wait_for(lambda: len(confirmed) == 1, what="notice.confirmed for the cases service")
    assert confirmed[0].payload["notice_id"] == notice["id"] and confirmed[0].payload["case_ids"] == notice["case_ids"]


async def test_reminders_once_a_day_for_every_waiting_notice_until_confirmed(
    office: Office, smtp_server: tuple[str, int, CapturedMail]
) -> None:
    mail = smtp_server[2]
    _, link_first = await issue_notice(office, mail, "wspolnik@firma.example", "526104040", "Alfa")
    second, link_second = await issue_notice(office, mail, "wspolnik@firma.example", "526104057", "Beta")

    def reminders() -> list[Any]:
        return [m for m in mail.to("wspolnik@firma.example") if m["Subject"].startswith("Przypomnienie")]

    assert await run_jobs(office) == {"released": 0, "escalated": 0, "reminded": 0}  # nothing the same day
    day = datetime(2026, 11, 29, 6, 59, tzinfo=UTC)  # 07:59 in Warsaw: before the office's hour
    office.clock.set(day)
    assert (await run_jobs(office))["reminded"] == 0
    for n in range(1, 6):  # five consecutive days, the job run twice each morning
        office.clock.set(day + timedelta(days=n - 1, minutes=1))
        assert (await run_jobs(office))["reminded"] == 1
        assert (await run_jobs(office))["reminded"] == 0
        await wait_for(lambda n=n: len(reminders()) == n, what=f"reminder {n}")
    text = parts(reminders()[-1])["text"]
    assert "Alfa" in text and "Beta" in text  # one mail lists every waiting notice
    assert link_first in text and link_second in text

    async with browser(office) as client:
        assert (await client.post(link_first)).status_code == 200
    office.clock.advance(timedelta(days=1))
    assert (await run_jobs(office))["reminded"] == 1
    await wait_for(lambda: len(reminders()) == 6, what="the sixth reminder")
    text = parts(reminders()[-1])["text"]
    assert "Beta" in text and "Alfa" not in text  # the confirmed one left the reminders

    async with browser(office) as client:
        assert (await client.post(link_second)).status_code == 200
    office.clock.advance(timedelta(days=1))
    assert (await run_jobs(office))["reminded"] == 0
    async with notifier(office) as api:
        proof = (await api.get(f"/notices/{second['id']}")).json()["proof"]
    assert len([p for p in proof if p["event"] == "reminder_sent"]) == 6


async def test_a_550_refusal_is_shown_on_the_case_and_published(
    tmp_path: Path, smtp_server: tuple[str, int, CapturedMail]
) -> None:
    from aiosmtpd.controller import Controller

    from tests.conftest import free_port

    class Refusing:
        async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
            if address.startswith("nie-ma"):
                return "550 5.1.1 <nie-ma@firma.example>: Recipient address rejected: User unknown"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 2.0.0 Ok: queued"

    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        async with open_office(tmp_path, rules_dir=ROOT / "rules", smtp_host="127.0.0.1", smtp_port=port,
                               mail_poll_seconds=0.2) as office:
            failed: list[Any] = []

            async def on_failed(e: Any) -> None:
                failed.append(e)

            await office.system.bus.subscribe("test-cases", [NOTICE_FAILED], on_failed)
            client_id, contract_id, _ = await sign(office, "Gamma", "526104057", ["nie-ma@firma.example"])
            case = await case_of(office, contract_id)
            await publish(office, CASE_COMPLETED, case_completed(
                case["id"], contract_id, client_id, client_name="Gamma", amount="10", due=date(2026, 12, 28)))
            await wait_for(lambda: notices_of(office, case_id=case["id"]), what="the draft")
            office.clock.set(NOV_28_AFTERNOON)
            await run_jobs(office)

            async def refused() -> dict[str, Any] | None:
                [notice] = await notices_of(office, case_id=case["id"])
                return notice if notice["delivery"] == "failing" else None

            notice = await wait_for(refused, what="the refusal on the case's notice")
            [recipient] = notice["recipients"]
            assert recipient["status"] == "failing" and recipient["reply"].startswith("550 5.1.1")
            await wait_for(lambda: failed, what="notice.failed for the cases service")
            assert failed[0].payload["case_ids"] == [case["id"]] and failed[0].payload["reply"].startswith("550")
            async with notifier(office) as api:
                health = (await api.get("/recipients", params={"client_id": client_id})).json()["items"]
                mails = (await api.get("/mails", params={"to": "nie-ma@firma.example"})).json()["items"]
            assert health == [{"email": "nie-ma@firma.example", "name": "", "language": "pl", "status": "failing",
                               "reply": recipient["reply"], "failed_at": health[0]["failed_at"]}]
            assert [m["status"] for m in mails] == ["failed"]  # a 5xx is not retried
            assert mails[0]["attempts"] == 1
    finally:
        controller.stop()


async def test_a_correction_replaces_the_notice_and_the_old_link_says_so(
    office: Office, smtp_server: tuple[str, int, CapturedMail]
) -> None:
    mail = smtp_server[2]
    notice, old_link = await issue_notice(office, mail, "delta@firma.example", "526104057", "Delta")
    [case_id] = notice["case_ids"]
    await publish(office, CASE_REOPENED, {"case_id": case_id, "reason": "błędna kwota"})

    async def withdrawn() -> bool:
        return (await notices_of(office, client_id=notice["client_id"]))[0]["status"] == "withdrawn"

    await wait_for(withdrawn, what="the notice withdrawn when its case is reopened")
    office.clock.advance(timedelta(days=1))
    assert (await run_jobs(office))["reminded"] == 0  # a withdrawn notice is not reminded

    await publish(office, CASE_COMPLETED, case_completed(case_id, notice["contract_id"], notice["client_id"],
                                                         client_name="Delta", amount="750.00",
                                                         due=date(2026, 12, 28), revision=2))

    async def corrected() -> list[Any]:
        return [m for m in mail.to("delta@firma.example") if m["Subject"].startswith("KOREKTA")]

    [message] = await wait_for(corrected, what="the corrected notice")  # sent at once, not held to 15:00
    text = parts(message)["text"]
    assert "750,00\u00a0zł" in text and "500,00" not in text and "KOREKTA informacji wysłanej 28.11.2026" in text
    old, new = sorted(await notices_of(office, client_id=notice["client_id"]), key=lambda n: n["created_at"])
    assert (old["status"], old["replaced_by_id"]) == ("superseded", new["id"])
    assert (new["status"], new["replaces_id"], new["total"]) == ("issued", old["id"], "750.00")
    async with browser(office) as client:
        page = await client.get(old_link)
        assert "zastąpiona korektą" in page.text and "Potwierdzam" not in page.text
        assert "Potwierdzone" not in (await client.post(old_link)).text  # a replaced notice cannot be confirmed


async def test_liabilities_of_one_client_and_period_finished_the_same_day_travel_together(
    office: Office, smtp_server: tuple[str, int, CapturedMail]
) -> None:
    mail = smtp_server[2]
    client_id, contract_id, _ = await sign(office, "Epsilon", "526104057", ["eps@firma.example"])
    vat = await case_of(office, contract_id)
    await publish(office, CASE_COMPLETED, case_completed(vat["id"], contract_id, client_id, client_name="Epsilon",
                                                         amount="100.00", due=date(2026, 11, 25)))
    await publish(office, CASE_COMPLETED, case_completed("pit-case-1", contract_id, client_id, client_name="Epsilon",
                                                         amount="200.00", due=date(2026, 11, 20), kind="pit",
                                                         form="PIT-36L", code="PIT_ADV"))

    async def both_in_one_draft() -> bool:
        drafts = await notices_of(office, client_id=client_id)
        return len(drafts) == 1 and len(drafts[0]["items"]) == 2

    await wait_for(both_in_one_draft, what="both liabilities in one draft")
    office.clock.set(NOV_28_AFTERNOON)
    await run_jobs(office)
    [message] = await wait_for(lambda: mail.to("eps@firma.example"), what="one message")
    text = parts(message)["text"]
    assert "100,00\u00a0zł" in text and "200,00\u00a0zł" in text and "Razem: 300,00\u00a0zł" in text
    assert "26M10 PIT-36L" in text


async def test_client_changed_gives_recipients_language_and_accounts(
    office: Office, smtp_server: tuple[str, int, CapturedMail]
) -> None:
    mail = smtp_server[2]
    client_id, contract_id, client_nip = await sign(office, "Zeta", "526104057", ["old@zeta.example"])
    nrs = "12600000020260001234563218"
    nrs = f"{98 - int(nrs[2:] + '252100') % 97:02d}" + nrs[2:]
    await publish(office, CLIENT_CHANGED, client_changed(client_id, name="Zeta sp. z o.o.", nip=client_nip, recipients=[
        {"email": "owner@zeta.example", "name": "John Smith", "language": "en"}], accounts={"nrs": nrs},
        at=office.clock.now() + timedelta(minutes=1)))  # newer than the client.changed of the client's creation

    async def switched() -> bool:
        async with notifier(office) as api:
            items = (await api.get("/recipients", params={"client_id": client_id})).json()["items"]
        return [i["email"] for i in items] == ["owner@zeta.example"]

    await wait_for(switched, what="the recipients from client.changed")
    await publish(office, CASE_COMPLETED, case_completed("zus-1", contract_id, client_id, client_name="Zeta",
                                                         amount="1773.96", due=date(2026, 11, 20), kind="zus",
                                                         form="", code="ZUS_DRA"))
    await wait_for(lambda: notices_of(office, client_id=client_id), what="the draft")
    office.clock.set(NOV_28_AFTERNOON)
    await run_jobs(office)
    [message] = await wait_for(lambda: mail.to("owner@zeta.example"), what="the English notice")
    text = parts(message)["text"]
    assert message["Subject"].startswith("Taxes for October 2026 — Zeta sp. z o.o.")
    assert "PLN\u00a01,773.96" in text and format_nrb(nrs) in text and "Hello John Smith" in text
    assert mail.to("old@zeta.example") == []


async def test_lists_follow_the_callers_scope(office: Office, smtp_server: tuple[str, int, CapturedMail]) -> None:
    notice, _ = await issue_notice(office, smtp_server[2], "eta@firma.example", "526104057", "Eta")
    mine = Scope(login="anna", role="accountant", contracts=[notice["contract_id"]])
    other = Scope(login="ola", role="accountant", contracts=["999"])
    async with notifier(office) as api:
        assert [n["id"] for n in (await api.get("/notices", headers=mine.header())).json()["items"]] == [notice["id"]]
        assert (await api.get("/notices", headers=other.header())).json()["items"] == []
        assert (await api.get(f"/notices/{notice['id']}", headers=other.header())).status_code == 404
        assert (await api.get("/notices/proof.csv", headers=other.header())).status_code == 403
        bad = await api.get("/notices", headers={"X-Terminarz-Scope": "{not json"})
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "X-Terminarz-Scope"
        manager = Scope(login="maria", role="manager", contracts=None)
        csv_text = (await api.get("/notices/proof.csv", headers=manager.header())).text
    header, *rows = csv_text.strip().splitlines()
    assert header.startswith("notice_id,client_name,period,at,event,recipient")
    assert any(",notice_sent,eta@firma.example," in r and ",250 " in r for r in rows)


async def test_staff_write_a_notice_for_a_selection_on_a_chosen_day(
    office: Office, smtp_server: tuple[str, int, CapturedMail]
) -> None:
    mail = smtp_server[2]
    first = await sign(office, "Theta", "526104057", ["theta@firma.example"])
    second = await sign(office, "Iota", "526104040", ["iota@firma.example"])
    async with notifier(office) as api:
        bad = await api.post("/notices", json={"client_ids": [first[0], "12345"], "subject": "x",
                                               "send_on": "2026-11-01"})
        assert bad.status_code == 422
        assert {e["field"] for e in bad.json()["errors"]} == {"text", "send_on", "client_ids[1]"}
        staff_template = await api.post("/notices", json={"client_ids": [first[0]], "subject": "x",
                                                          "template": "case_created"})
        assert staff_template.status_code == 422
        assert staff_template.json()["errors"][0]["field"] == "template"
        assert "manual" in staff_template.json()["errors"][0]["message"]
        created = await api.post("/notices", json={
            "client_ids": [first[0], second[0]], "subject": "KSeF od 1 kwietnia",
            "text": "Od 1 kwietnia 2026 faktury wystawiamy w KSeF.\n\nProsimy o dane dostępowe.",
            "send_on": "2026-12-01", "requires_confirmation": True,
            "created_by": {"login": "maria", "name": "Maria Kierownik", "email": "maria@biuro.example"}})
        assert created.status_code == 201, created.text
    assert (await run_jobs(office))["released"] == 0  # not before the chosen day
    office.clock.set(datetime(2026, 12, 1, 7, 0, tzinfo=UTC))  # 08:00 in Warsaw on 1 December
    assert (await run_jobs(office))["released"] == 2
    for address in ("theta@firma.example", "iota@firma.example"):
        [message] = await wait_for(lambda a=address: mail.to(a), what=f"the notice to {address}")
        assert message["Subject"] == "KSeF od 1 kwietnia"
        assert message["Reply-To"].addresses[0].addr_spec == "maria@biuro.example"
        text = parts(message)["text"]
        assert "faktury wystawiamy w KSeF" in text and "/confirm/" in text


async def test_an_admins_template_is_used_and_a_broken_one_is_refused_with_its_line(
    tmp_path: Path, smtp_server: tuple[str, int, CapturedMail]
) -> None:
    custom = tmp_path / "templates"
    custom.mkdir()
    (custom / "notice.pl.subject.txt").write_text("Do zapłaty za {{ period_text }}: {{ total_text }}\n")
    async with open_office(tmp_path, rules_dir=ROOT / "rules", notifier_templates_dir=custom) as office, \
            notifier(office) as api:
        preview = (await api.post("/templates/preview", json={"name": "notice", "language": "pl"})).json()
        assert preview["subject"] == "Do zapłaty za październik 2026: 3 008,52 zł"
        assert "<script" not in preview["html"] and "Potwierdzam zapoznanie się" in preview["html"]
        listing = {t["name"]: t["origin"] for t in (await api.get("/templates")).json()["items"]}
        assert listing["notice.pl.subject.txt"] == "custom" and listing["notice.pl.txt"] == "built-in"
        hostile = await api.post("/templates/preview", json={
            "name": "notice", "language": "pl", "data": {"client_name": "<script>alert(1)</script>"}})
        assert "&lt;script&gt;" in hostile.json()["html"] and "<script>" in hostile.json()["text"]

        (custom / "notice.pl.txt").write_text("Dzień dobry,\n{% for x in items %}\n{{ x.label }\n")
        broken = await api.post("/templates/preview", json={"name": "notice", "language": "pl"})
        assert broken.status_code == 422
        assert broken.json()["errors"] == [{"field": "templates/notice.pl.txt",
                                            "message": broken.json()["errors"][0]["message"]}]
        assert broken.json()["errors"][0]["message"].startswith("line 3:")


async def test_links_warn_when_clients_cannot_reach_them(office: Office) -> None:
    async with notifier(office) as api:
        status = (await api.get("/links")).json()
    assert status["links_url"] == "http://127.0.0.1:8000" and status["reachable_by_clients"] is False
    assert "TERMINARZ_PUBLIC_URL" in status["warning"]
