"""The clients' payments of the office's fee: a bank statement CSV marks the right months paid, a wrong row is
refused with its row number and nothing stored, and the financial summary shows billed vs paid and what is overdue.

Today is Saturday 28.11.2026 (the fixture's clock). Contract G/1 (client Gamma) from 01.08.2026 and contract D/1
(client Delta) from 01.10.2026, both 800.00 net + 23 % VAT = 984.00 gross a month, due on the 15th of the next month.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.embedded.conftest import ROOT, Office
from tests.embedded.web import browser, csrf_of, log_in, post_form
from tests.samples import contract, nip, sole_trader

GAMMA_NIP = nip("526104057")
DELTA_NIP = nip("725100111")
STRANGER_NIP = nip("113012345")


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """Only the offboarding rules: no generated cases to wait for."""
    target = tmp_path / "offboarding-only"
    target.mkdir()
    shutil.copy(ROOT / "rules" / "offboarding.yaml", target)
    return target


async def _contracts(office: Office) -> dict[str, str]:
    made = {}
    async with office.api("maria") as api:
        for name, seed, number, start in (("Gamma", "526104057", "G/1", "2026-08-01"),
                                          ("Delta", "725100111", "D/1", "2026-10-01")):
            client = (await api.post("/api/v1/clients", json=sole_trader(name, seed=seed))).json()
            terms = contract(client["id"], number=number, start=start)
            terms["signed_on"] = "2026-07-20"
            terms["fee"] = {"monthly_net": "800.00", "vat_rate": "23"}
            answer = await api.post("/api/v1/contracts", json=terms)
            assert answer.status_code == 201, answer.text
            made[number] = str(answer.json()["id"])
    return made


def _fees(report: dict[str, Any], number: str) -> dict[str, dict[str, Any]]:
    return {r["month"]: r["fee"] for r in report["history"] if r["number"] == number and r["fee"]}


STATEMENT = (
    "Data;Kwota;Tytuł;NIP\n"
    f"10.11.2026;1 968,00;Wpłata;PL {GAMMA_NIP[:3]}-{GAMMA_NIP[3:6]}-{GAMMA_NIP[6:8]}-{GAMMA_NIP[8:]}\n"
    f"16.11.2026;984,00;Przelew za październik 2026;{GAMMA_NIP}\n"
    f"17.11.2026;100,00;darowizna;{STRANGER_NIP}\n"
)


async def test_a_bank_csv_marks_the_right_months_paid_and_the_summary_shows_what_is_overdue(office: Office) -> None:
    numbers = await _contracts(office)
    async with office.api("maria") as maria:
        imported = await maria.post("/api/v1/payments/import", content=STATEMENT.encode(),
                                    headers={"Content-Type": "text/csv"})
        assert imported.status_code == 201, imported.text
        again = await maria.post("/api/v1/payments/import", content=STATEMENT.encode(),
                                 headers={"Content-Type": "text/csv"})
        report = (await maria.get("/api/v1/reports/financial", params={"month": "2026-11"})).json()
        unassigned = (await maria.get("/api/v1/payments", params={"unassigned": "true"})).json()
        audit = (await maria.get("/api/v1/audit", params={"action": "payment.import"})).json()
    answer = imported.json()
    # The same statement imported again records nothing twice.
    assert again.status_code == 201 and (again.json()["recorded"], again.json()["duplicates"]) == (0, [2, 3, 4])
    assert (answer["recorded"], answer["matched"], answer["unassigned"]) == (3, 2, 1)
    by_row = {r["row"]: [(m["number"], m["month"], m["amount"]) for m in r["months"]] for r in answer["rows"]}
    # No month in the title: the two oldest unpaid months the amount covers; then October named in the title.
    assert by_row == {2: [("G/1", "2026-08", "984.00"), ("G/1", "2026-09", "984.00")],
                      3: [("G/1", "2026-10", "984.00")], 4: []}
    gamma = _fees(report, "G/1")
    assert {m: (f["paid"], f["outstanding"], f["overdue"]) for m, f in gamma.items()} == {
        "2026-08": ("984.00", "0.00", False), "2026-09": ("984.00", "0.00", False),
        "2026-10": ("984.00", "0.00", False),
        "2026-11": ("0.00", "984.00", False)}  # due 15.12.2026: not yet overdue
    assert gamma["2026-11"]["payment_due"] == "2026-12-15"
    # Delta paid nothing: October's fee was due on 15.11.2026 (a Sunday: 16.11), so it is overdue.
    assert [(o["number"], o["month"], o["outstanding"]) for o in report["overdue_fees"]] == [
        ("D/1", "2026-10", "984.00")]
    october = next(m for m in report["office"] if m["month"] == "2026-10")
    assert (october["fee"]["gross"], october["fee"]["paid"], october["fee"]["overdue"]) == (
        "1968.00", "984.00", "984.00")
    assert [(p["amount"], p["counterparty_nip"], p["client_id"]) for p in unassigned["items"]] == [
        ("100.00", STRANGER_NIP, None)]
    assert [(e["login"], e["detail"]["recorded"]) for e in audit["items"]] == [("maria", 0), ("maria", 3)]
    assert numbers


async def test_a_wrong_row_is_refused_with_its_row_number_and_nothing_is_stored(office: Office) -> None:
    await _contracts(office)
    bad = (
        "date,amount,title,nip\n"
        f"10.11.2026,\"984,00\",FV 10/2026,{GAMMA_NIP}\n"
        f"31.02.2026,\"984,00\",FV 09/2026,{GAMMA_NIP}\n"
        f"12.11.2026,-5,FV 09/2026,{GAMMA_NIP}\n"
        "13.11.2026,\"10,00\",x,1234567890\n"
    )
    async with office.api("maria") as maria:
        refused = await maria.post("/api/v1/payments/import", content=bad.encode(),
                                   headers={"Content-Type": "text/csv"})
        stored = (await maria.get("/api/v1/payments")).json()
        report = (await maria.get("/api/v1/reports/financial", params={"month": "2026-10"})).json()
    assert refused.status_code == 422, refused.text
    assert [(e["row"], e["field"]) for e in refused.json()["errors"]] == [(3, "date"), (4, "amount"), (5, "nip")]
    assert stored["total"] == 0
    assert _fees(report, "G/1")["2026-10"]["paid"] == "0.00"


async def test_a_payment_recorded_by_hand_and_one_assigned_by_hand_pay_the_months_named(office: Office) -> None:
    numbers = await _contracts(office)
    async with office.api("maria") as maria:
        manual = await maria.post("/api/v1/payments", json={
            "paid_on": "2026-11-20", "amount": "984.00", "title": "FV 10/2026", "counterparty_nip": DELTA_NIP})
        assert manual.status_code == 201, manual.text
        stranger = await maria.post("/api/v1/payments", json={
            "paid_on": "2026-11-21", "amount": "500.00", "title": "wpłata"})
        assert stranger.status_code == 201 and stranger.json()["months"] == []
        assigned = await maria.put(f"/api/v1/payments/{stranger.json()['id']}/assignment",
                                   json={"client_id": int(manual.json()["client_id"]),
                                         "months": [{"month": "2026-11"}]})
        assert assigned.status_code == 200, assigned.text
        anna = office.api("anna")
        async with anna:
            forbidden = await anna.post("/api/v1/payments", json={"paid_on": "2026-11-20", "amount": "1.00"})
        report = (await maria.get("/api/v1/reports/financial", params={"month": "2026-11"})).json()
    assert [(m["number"], m["month"], m["amount"]) for m in manual.json()["months"]] == [("D/1", "2026-10", "984.00")]
    assert [(m["month"], m["amount"]) for m in assigned.json()["months"]] == [("2026-11", "500.00")]
    assert forbidden.status_code == 403
    delta = _fees(report, "D/1")
    assert (delta["2026-10"]["outstanding"], delta["2026-11"]["paid"], delta["2026-11"]["outstanding"]) == (
        "0.00", "500.00", "484.00")
    # Gamma paid nothing: August to October are overdue; Delta is not.
    assert [(o["number"], o["month"]) for o in report["overdue_fees"]] == [
        ("G/1", "2026-08"), ("G/1", "2026-09"), ("G/1", "2026-10")] and numbers


async def test_the_payments_page_imports_a_statement_and_the_summary_page_shows_october_paid(office: Office) -> None:
    await _contracts(office)
    async with browser(office) as maria:
        await log_in(maria, "maria")
        opened = await maria.get("/payments")
        imported = await maria.post("/payments/import", data={"csrf_token": csrf_of(opened)}, files={
            "file": ("wyciag.csv", f"data;kwota;tytuł;nip\n16.11.2026;984,00;FV 10/2026;{GAMMA_NIP}\n"
                     f"31.02.2026;10,00;x;{GAMMA_NIP}\n".encode(), "text/csv")})
        fixed = await maria.post("/payments/import", data={"csrf_token": csrf_of(opened)}, files={
            "file": ("wyciag.csv", f"data;kwota;tytuł;nip\n16.11.2026;984,00;FV 10/2026;{GAMMA_NIP}\n".encode(),
                     "text/csv")})
        october = (await maria.get("/reports/financial?month=2026-10")).text
    assert imported.status_code == 422 and "Wiersz 3" in imported.text and "Nic nie zapisano" in imported.text
    assert fixed.status_code == 200 and "G/1 2026-10" in fixed.text
    gamma = next(r for r in october.split('id="financial-contracts"')[1].split("</tr>") if "G/1" in r)
    assert "984,00\u00a0zł" in gamma.split('class="num fee-paid"')[1] and "zapłacona" in gamma
    delta = next(r for r in october.split('id="financial-contracts"')[1].split("</tr>") if "D/1" in r)
    assert "zaległa" in delta and "D/1" in october.split('id="overdue-fees"')[1]


async def test_an_annex_moves_the_payment_day_from_its_month(office: Office) -> None:
    numbers = await _contracts(office)
    async with browser(office) as maria:
        await log_in(maria, "maria")
        page = f"/contracts/{numbers['D/1']}"
        shown = (await maria.get(page)).text
        sent = await post_form(maria, page, f"{page}/annex", {
            "effective_from": "2026-11-01", "monthly_net": "800,00", "payment_day": "10", "accountant": "anna",
            "manager": "maria", "services": ["bookkeeping", "vat"]})  # type: ignore[dict-item]
        assert sent.status_code == 303, sent.text
    async with office.api("maria") as api:
        report = (await api.get("/api/v1/reports/financial", params={"month": "2026-11"})).json()
    assert "płatna do 15. dnia następnego miesiąca" in shown
    delta = _fees(report, "D/1")
    assert (delta["2026-10"]["payment_due"], delta["2026-11"]["payment_due"]) == (
        "2026-11-16", "2026-12-10")  # 15.11.2026 is a Sunday: the next business day


async def test_an_overdue_fee_is_a_reminder_mailed_to_the_client(office: Office) -> None:
    numbers = await _contracts(office)
    delta = numbers["D/1"]
    async with office.api("maria") as maria:
        reminded = await maria.post(f"/api/v1/contracts/{delta}/fees/2026-10/reminder")
        not_due = await maria.post(f"/api/v1/contracts/{delta}/fees/2026-11/reminder")
        audit = (await maria.get("/api/v1/audit", params={"action": "payment.remind"})).json()
    assert reminded.status_code == 201, reminded.text
    assert not_due.status_code == 409

    async def mailed() -> list[dict[str, object]]:
        items: list[dict[str, object]] = (await office.internal("notifier", "/mails",
                                                                to="klient@example.com"))["items"]
        return [m for m in items if "Opłata za obsługę za październik 2026" in str(m.get("subject"))]

    [mail] = await wait_for(mailed, what="the reminder in the outbox")
    assert "984,00\u00a0zł" in str(mail["body"]) and "16.11.2026" in str(mail["body"])  # 15.11 is a Sunday
    assert [e["target"] for e in audit["items"]] == [f"contract:{delta}"]


async def test_the_payments_page_assigns_a_payment_to_a_month_chosen_by_name(office: Office) -> None:
    await _contracts(office)
    async with office.api("maria") as api:
        stranger = (await api.post("/api/v1/payments", json={
            "paid_on": "2026-11-21", "amount": "500.00", "title": "wpłata"})).json()
    async with browser(office) as maria:
        await log_in(maria, "maria")
        opened = await maria.get("/payments")
        row = next(r for r in opened.text.split('id="unassigned-payments"')[1].split("</tr>") if "wpłata" in r)
        gamma = re.search(r'<option value="(\d+)"[^>]*>Gamma', row)
        assert gamma, row
        unchosen = await maria.post(f"/payments/{stranger['id']}/assign", data={
            "csrf_token": csrf_of(opened), "client_id": "", "month": ""})
        assigned = await maria.post(f"/payments/{stranger['id']}/assign", data={
            "csrf_token": csrf_of(opened), "client_id": gamma.group(1), "month": "2026-11"})
        recent = (await maria.get("/payments")).text.split('id="recent-payments"')[1]
    # The month is a list of month names, the oldest unpaid months first (the blank choice), not a browser field.
    assert 'type="month"' not in row
    assert '<option value="" selected>najstarsze niezapłacone</option>' in row
    assert '<option value="2026-11">listopad 2026</option>' in row
    # No client is chosen for the person: the list starts blank and must be chosen (the page says so if it is not).
    assert '<select name="client_id" required><option value="">— wybierz klienta —</option>' in row
    assert unchosen.status_code == 422 and "Nic nie zapisano" in unchosen.text
    assert assigned.status_code == 303
    paid = next(r for r in recent.split("</tr>") if "wpłata" in r)
    assert "G/1 2026-11" in paid and "ręcznie" in paid
