"""Reports and the dashboard on a small office whose every number is worked out by hand below.

Today is Saturday 28.11.2026 (the fixture's clock). No rules are loaded, so the only cases are the ones written
here; the notices are written straight into the notifier's tables as its handlers would leave them.

Contract K/1 (client Alfa, 3 employees, team anna + maria) from 01.01.2026: 1000.00 net + 50.00 per employee,
23 % VAT; an annex from 01.07.2026 raises the base to 1200.00. Contract K/2 (client Beta, team ola) from
01.10.2026: 800.00 net, nothing per unit.
"""

from __future__ import annotations

import io
import re
import shutil
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from services.cases.models import cases
from services.gateway.models import absences
from services.notifier.models import notice_items, notices
from tests.conftest import wait_for
from tests.embedded.conftest import ROOT, Office
from tests.embedded.web import browser, log_in, post_form
from tests.samples import contract, sole_trader


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """Only the offboarding rules, which wait for a contract's end: no generated cases besides the fixture's own."""
    target = tmp_path / "offboarding-only"
    target.mkdir()
    shutil.copy(ROOT / "rules" / "offboarding.yaml", target)
    return target


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def _office_data(office: Office) -> dict[str, str]:
    async with office.api("maria") as api:
        alfa = (await api.post("/api/v1/clients", json=sole_trader("Alfa sp. j.", seed="526104057",
                                                                   employees=3))).json()
        beta = (await api.post("/api/v1/clients", json=sole_trader("Beta", seed="779104057"))).json()
        k1 = contract(alfa["id"], number="K/1", start="2026-01-01")
        k1["fee"] = {"monthly_net": "1000.00", "vat_rate": "23", "per_employee": "50.00"}
        made = await api.post("/api/v1/contracts", json=k1)
        assert made.status_code == 201, made.text
        c1 = str(made.json()["id"])
        annex = await api.post(f"/api/v1/contracts/{c1}/annexes", json={
            "effective_from": "2026-07-01",
            "fee": {"monthly_net": "1200.00", "vat_rate": "23", "per_employee": "50.00"}})
        assert annex.status_code == 201, annex.text
        made = await api.post("/api/v1/contracts", json=contract(beta["id"], number="K/2", start="2026-10-01",
                                                                 accountant="ola"))
        assert made.status_code == 201, made.text
        c2 = str(made.json()["id"])

    async def anna_sees_k1() -> bool:
        async with office.api("anna") as api:
            return (await api.get("/api/v1/contracts")).json()["total"] == 1

    await wait_for(anna_sees_k1, what="anna on K/1's team in the gateway")

    def case(contract_id: str, number: str, client: str, due: str, status: str, login: str,
             completed: str | None = None, party: str = "office") -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "contract_id": contract_id, "contract_number": number, "client_name": client,
                "rule_id": f"r-{uuid.uuid4().hex[:6]}", "period": due[:7], "title": "Sprawa", "title_en": "",
                "due": date.fromisoformat(due), "status": status, "assignee_login": login,
                "assignee_name": {"anna": "Anna Nowak", "ola": "Ola Wiśniewska"}[login], "assignee_email": "",
                "commissioner_name": "", "checklist": [], "notice": [], "late_on_creation": False,
                "created_at": utc("2026-09-01T08:00:00"), "updated_at": utc("2026-09-01T08:00:00"),
                "completed_at": utc(completed) if completed else None, "party": party,
                "duty": "documents" if party == "client" else None}

    alfa_case = {"contract_id": c1, "number": "K/1", "client": "Alfa sp. j."}
    beta_case = {"contract_id": c2, "number": "K/2", "client": "Beta"}
    rows = [
        # 23:30 in Warsaw on the due date: on time; 00:30 the next day: late (UTC says the same day for both).
        case(**alfa_case, due="2026-10-20", status="done", login="anna", completed="2026-10-20T21:30:00"),
        case(**alfa_case, due="2026-10-20", status="done", login="anna", completed="2026-10-20T22:30:00"),
        case(**alfa_case, due="2026-11-10", status="open", login="anna"),  # overdue
        case(**alfa_case, due="2026-11-25", status="in_progress", login="anna"),  # overdue
        case(**alfa_case, due="2026-11-20", status="not_applicable", login="anna"),
        case(**alfa_case, due="2026-11-15", status="withdrawn", login="anna"),  # counts nowhere
        case(**alfa_case, due="2026-12-01", status="open", login="anna"),  # next week
        case(**alfa_case, due="2026-11-28", status="open", login="anna"),  # due today
        case(**beta_case, due="2026-11-05", status="open", login="ola"),  # overdue
        case(**beta_case, due="2026-11-16", status="done", login="ola", completed="2026-11-16T10:00:00"),
        # The client's tasks (documents by the 9th): awaited past the due date, and the next month's not yet due.
        # They are counted apart from the office's cases: the client's lateness, not anna's overdue work.
        case(**alfa_case, due="2026-11-09", status="open", login="anna", party="client"),
        case(**alfa_case, due="2026-12-09", status="open", login="anna", party="client"),
    ]
    async with office.system.runtimes["cases"].ctx.db.transaction() as session:
        await session.execute(cases.insert(), rows)

    def notice(contract_id: str, client_id: str, issued: str, status: str,
               items: list[tuple[str, str, str]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        notice_id = str(uuid.uuid4())
        confirmed = utc(issued) if status == "confirmed" else None
        client_name = "Alfa sp. j." if contract_id == c1 else "Beta"
        row = {"id": notice_id, "kind": "liability", "client_id": client_id, "client_name": client_name,
               "contract_id": contract_id, "period": "2026-10", "status": status, "requires_confirmation": True,
               "due": date(2026, 11, 20), "issued_at": utc(issued), "confirmed_at": confirmed,
               "created_at": utc(issued), "updated_at": utc(issued)}
        lines = [{"notice_id": notice_id, "kind": kind, "amount": Decimal(amount), "due": date(2026, 11, 20),
                  "account_kind": "mikrorachunek", "status": item_status, "position": n}
                 for n, (kind, amount, item_status) in enumerate(items)]
        return row, lines

    written = [
        notice(c1, str(alfa["id"]), "2026-11-05T10:00:00", "confirmed",
               [("vat", "1000.00", "active"), ("pit", "200.00", "active")]),
        notice(c1, str(alfa["id"]), "2026-11-10T10:00:00", "issued",
               [("zus", "1500.50", "active"), ("vat", "99.00", "retired")]),
        notice(c1, str(alfa["id"]), "2026-11-12T10:00:00", "withdrawn", [("vat", "500.00", "active")]),
        # 00:30 on 1 November in Warsaw: a November notice.
        notice(c1, str(alfa["id"]), "2026-10-31T23:30:00", "confirmed", [("cit", "300.00", "active")]),
        notice(c2, str(beta["id"]), "2026-11-20T10:00:00", "issued", [("vat", "184.00", "active")]),
    ]
    async with office.system.runtimes["notifier"].ctx.db.transaction() as session:
        await session.execute(notices.insert(), [row for row, _ in written])
        await session.execute(notice_items.insert(), [line for _, lines in written for line in lines])
    async with office.system.gateway.ctx.db.transaction() as session:
        await session.execute(absences.insert().values(
            absence_id="a-1", login="anna", substitute="ola", starts_on=date(2026, 12, 1), ends_on=date(2026, 12, 3),
            cancelled=False, changed_at=utc("2026-11-20T10:00:00")))
    return {"c1": c1, "c2": c2}


async def test_financial_summary_per_contract_and_office_with_the_annexed_fee(office: Office) -> None:
    ids = await _office_data(office)
    async with office.api("maria") as api:
        november = (await api.get("/api/v1/reports/financial", params={"month": "2026-11"})).json()
        june = (await api.get("/api/v1/reports/financial", params={"month": "2026-06"})).json()
    by_number = {r["number"]: r for r in november["contracts"]}
    k1, k2 = by_number["K/1"], by_number["K/2"]
    # K/1 in November, under the annex: 1200 + 3 × 50 = 1350.00; VAT 310.50; provisional (employees assumed).
    assert (k1["fee"]["net"], k1["fee"]["vat"], k1["fee"]["gross"]) == ("1350.00", "310.50", "1660.50")
    assert k1["fee"]["provisional"] is True and "employees: 3" in k1["fee"]["basis"][0]
    assert (k2["fee"]["net"], k2["fee"]["vat"], k2["fee"]["gross"], k2["fee"]["provisional"]) == (
        "800.00", "184.00", "984.00", False)
    # K/1's liabilities notified in November: the withdrawn notice and the retired item do not count.
    assert {k: v["amount"] for k, v in k1["liabilities"].items()} == {
        "vat": "1000.00", "pit": "200.00", "zus": "1500.50", "cit": "300.00"}
    assert (k1["liabilities_amount"], k1["liabilities_count"], k1["confirmed_count"], k1["confirmed_share"]) == (
        "3000.50", 4, 3, "0.7500")
    assert (k1["notices_sent"], k1["notices_confirmed"]) == (4, 2)
    assert (k1["cases_done"], k2["cases_done"]) == (0, 1)
    office_nov = november["office"][-1]
    assert office_nov["month"] == "2026-11"
    assert office_nov["fee"] == {"net": "2150.00", "vat": "494.50", "gross": "2644.50", "provisional": True,
                                 "paid": "0.00", "outstanding": "2644.50", "overdue": "0.00"}
    assert (office_nov["liabilities_amount"], office_nov["confirmed_share"]) == ("3184.50", "0.6000")
    assert office_nov["liabilities"]["vat"]["amount"] == "1184.00"
    office_oct = november["office"][-2]
    assert (office_oct["fee"]["net"], office_oct["cases_done"], office_oct["done_on_time"]) == ("2150.00", 2, 1)
    # June, before the annex and before K/2 started: 1000 + 150 = 1150.00, K/1 only.
    assert [(r["number"], r["fee"]["net"], r["fee"]["gross"]) for r in june["contracts"]] == [
        ("K/1", "1150.00", "1414.50")]
    assert len(november["months"]) == 12 and november["months"][0] == "2025-12"
    assert ids["c1"] == k1["contract_id"]


async def test_financial_xlsx_and_csv_hold_the_same_numbers(office: Office) -> None:
    await _office_data(office)
    async with office.api("maria") as api:
        xlsx = await api.get("/api/v1/reports/financial", params={"month": "2026-11", "format": "xlsx"})
        csv = await api.get("/api/v1/reports/financial", params={"month": "2026-11", "format": "csv"})
        audit = (await api.get("/api/v1/audit", params={"action": "report.export"})).json()
    assert xlsx.status_code == 200 and "spreadsheetml" in xlsx.headers["content-type"]
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Umowy 2026-11", "Biuro 12 miesięcy", "Umowy 12 miesięcy", "Zaległe opłaty"]
    sheet = book["Umowy 2026-11"]
    head = [c.value for c in sheet[1]]
    rows = {r[1]: dict(zip(head, r, strict=True)) for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert Decimal(str(rows["K/1"]["Opłata netto"])) == Decimal("1350.00")
    assert Decimal(str(rows["K/1"]["Opłata brutto"])) == Decimal("1660.50")
    assert rows["K/1"]["Opłata wstępna"] == "tak" and rows["K/2"]["Opłata wstępna"] == "nie"
    assert Decimal(str(rows["K/1"]["Zobowiązania ZUS"])) == Decimal("1500.50")
    assert Decimal(str(rows["K/1"]["Udział potwierdzonych"])) == Decimal("0.75")
    office_rows = {r[0]: dict(zip(head, r, strict=True))
                   for r in book["Biuro 12 miesięcy"].iter_rows(min_row=2, values_only=True)}
    assert Decimal(str(office_rows["2026-11"]["Opłata brutto"])) == Decimal("2644.50")
    assert Decimal(str(office_rows["2026-06"]["Opłata netto"])) == Decimal("1150.00")
    text = csv.content.decode("utf-8-sig")
    assert csv.headers["content-disposition"] == 'attachment; filename="podsumowanie-finansowe-2026-11.csv"'
    assert "2026-11,K/1,Alfa sp. j.,1350.00,310.50,1660.50,tak" in text
    assert [e["target"] for e in audit["items"]] == ["report:podsumowanie-finansowe-2026-11"] * 2


async def test_an_english_speaking_manager_exports_in_english(office: Office) -> None:
    """Headers, sheet names, words and the file's name in the caller's language; the data as it is; the audit
    log's target the same in either language."""
    await _office_data(office)
    async with browser(office) as maria:
        await log_in(maria, "maria")
        assert (await post_form(maria, "/account", "/account/language", {"language": "en"})).status_code == 303
        xlsx = await maria.get("/reports/financial", params={"month": "2026-11", "format": "xlsx"})
        workload = await maria.get("/reports/workload", params={"format": "xlsx"})
    async with office.api("maria") as api:  # an API token of the same person: her language too
        csv = await api.get("/api/v1/reports/execution", params={"from": "2026-10", "to": "2026-11",
                                                                  "format": "csv"})
        audit = (await api.get("/api/v1/audit", params={"action": "report.export"})).json()
    assert xlsx.headers["content-disposition"] == 'attachment; filename="financial-summary-2026-11.xlsx"'
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Contracts 2026-11", "Office 12 months", "Contracts 12 months", "Overdue fees"]
    sheet = book["Contracts 2026-11"]
    head = [c.value for c in sheet[1]]
    assert head[:6] == ["Month", "Contract", "Client", "Net fee", "VAT", "Gross fee"]
    assert "Liabilities ZUS" in head and "Late" in head and "Zobowiązania ZUS" not in head
    rows = {r[1]: dict(zip(head, r, strict=True)) for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["K/1"]["Client"] == "Alfa sp. j." and Decimal(str(rows["K/1"]["Net fee"])) == Decimal("1350.00")
    assert (rows["K/1"]["Provisional fee"], rows["K/2"]["Provisional fee"]) == ("yes", "no")
    due = next(c for c in sheet[2] if c.is_date)
    assert due.number_format == "DD/MM/YYYY"  # day first, as the English pages write it
    anna = next(r for r in load_workbook(io.BytesIO(workload.content)).active.iter_rows(values_only=True)
                if r[1] == "anna")
    assert anna[12] == "2026-W49: 3 days (substitute: ola)"
    assert csv.headers["content-disposition"] == 'attachment; filename="contract-execution-2026-10-2026-11.csv"'
    assert csv.content.decode("utf-8-sig").splitlines()[0].startswith("Contract,Client,Month,Due,On time,Late")
    assert sorted(e["target"] for e in audit["items"]) == [
        "report:obciazenie-2026-11-28", "report:podsumowanie-finansowe-2026-11",
        "report:wykonanie-umow-2026-10-2026-11"]


async def test_execution_overdue_and_workload(office: Office) -> None:
    await _office_data(office)
    async with office.api("maria") as api:
        execution = (await api.get("/api/v1/reports/execution", params={"from": "2026-10", "to": "2026-11"})).json()
        overdue = (await api.get("/api/v1/reports/overdue")).json()
        workload = (await api.get("/api/v1/reports/workload")).json()
        too_long = await api.get("/api/v1/reports/execution", params={"from": "2020-01", "to": "2026-11"})
        bad = await api.get("/api/v1/reports/execution", params={"from": "2026-13"})
        xlsx = await api.get("/api/v1/reports/overdue", params={"format": "xlsx"})
        workload_xlsx = await api.get("/api/v1/reports/workload", params={"format": "xlsx"})
        execution_csv = await api.get("/api/v1/reports/execution", params={"from": "2026-10", "to": "2026-11",
                                                                            "format": "csv"})
    counted = {(r["number"], r["month"]): (r["due"], r["done_on_time"], r["done_late"], r["overdue"],
                                           r["not_applicable"], r["open"]) for r in execution["items"]}
    assert counted == {("K/1", "2026-10"): (2, 1, 1, 0, 0, 0), ("K/1", "2026-11"): (4, 0, 0, 2, 1, 1),
                       ("K/2", "2026-11"): (2, 1, 0, 1, 0, 0)}
    assert overdue["total"] == 3
    assert [(r["assignee_login"], r["overdue"], r["oldest_due"]) for r in overdue["by_assignee"]] == [
        ("anna", 2, "2026-11-10"), ("ola", 1, "2026-11-05")]
    assert [(r["client_name"], r["overdue"]) for r in overdue["by_client"]] == [("Alfa sp. j.", 2), ("Beta", 1)]
    assert overdue["client_tasks"]["total"] == 1
    assert [(r["client_name"], r["overdue"], r["oldest_due"]) for r in overdue["client_tasks"]["by_client"]] == [
        ("Alfa sp. j.", 1, "2026-11-09")]
    assert [(r["assignee_login"], r["overdue"]) for r in overdue["client_tasks"]["by_assignee"]] == [("anna", 1)]
    assert workload["weeks"][0]["start"] == "2026-11-23" and workload["weeks"][0]["iso_week"] == "2026-W48"
    people = {p["login"]: p for p in workload["people"]}
    assert people["anna"]["weeks"] == [1, 1, 0, 0, 0, 0, 0, 0] and people["anna"]["overdue"] == 2
    assert (people["anna"]["client_overdue"], people["anna"]["client_open"]) == (1, 1)
    assert people["anna"]["absences"][1] == {"days": 3, "substitutes": ["ola"]}
    assert people["anna"]["absences"][0] is None
    assert people["ola"]["weeks"] == [0] * 8 and people["ola"]["overdue"] == 1
    assert (people["ola"]["client_overdue"], people["ola"]["client_open"]) == (0, 0)
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "from"
    assert bad.status_code == 422
    book = load_workbook(io.BytesIO(xlsx.content))
    assert [r[:3] for r in book["Wg osoby"].iter_rows(min_row=2, values_only=True)] == [
        ("Anna Nowak", "anna", 2), ("Ola Wiśniewska", "ola", 1)]
    anna_row = next(r for r in load_workbook(io.BytesIO(workload_xlsx.content)).active.iter_rows(values_only=True)
                    if r[1] == "anna")
    assert anna_row[2:12] == (2, 1, 1, 1, 0, 0, 0, 0, 0, 0)  # overdue, the client's tasks overdue, the weeks
    assert anna_row[12] == "2026-W49: 3 dni (zastępstwo: ola)"
    assert [r[:2] for r in book["Zadania klientów"].iter_rows(min_row=2, values_only=True)] == [("Alfa sp. j.", 1)]
    lines = execution_csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Umowa,Klient,Miesiąc,Do wykonania")
    assert "K/1,Alfa sp. j.,2026-11,4,0,0,2,1,1,1,0,0,1" in lines  # the last four: the client's tasks


async def test_accountants_get_no_reports_and_their_own_dashboard(office: Office) -> None:
    await _office_data(office)
    async with office.api("anna") as api:
        refused = await api.get("/api/v1/reports/financial")
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    async with browser(office) as anna:
        assert (await log_in(anna, "anna")).headers["location"] == "/"
        page = await anna.get("/reports/financial")
        assert page.status_code == 403 and "Brak dostępu" in page.text
        home = await anna.get("/")
    assert home.status_code == 200
    assert 'href="/reports"' not in home.text  # no menu entry either
    assert _tile(home.text, "due-today") == 1 and _tile(home.text, "due-week") == 1
    assert _tile(home.text, "my-overdue") == 2
    assert "office-overdue" not in home.text
    # The notice waiting on K/1 (anna's) shows; the one on K/2 (ola's) does not.
    waiting = home.text.split('id="waiting-notices"')[1]
    assert "Alfa sp. j." in waiting and "Beta" not in waiting
    async with browser(office) as ola:
        await log_in(ola, "ola")
        ola_home = (await ola.get("/")).text
    assert _tile(ola_home, "my-overdue") == 1 and _tile(ola_home, "due-today") == 0
    async with browser(office) as maria:
        await log_in(maria, "maria")
        manager_home = (await maria.get("/")).text
        summary = (await maria.get("/reports/financial?month=2026-11")).text
        overdue_page = (await maria.get("/reports/overdue")).text
        workload_page = (await maria.get("/reports/workload")).text
    assert _tile(manager_home, "office-overdue") == 3  # the office's cases; Alfa's awaited documents apart:
    client_tasks = overdue_page.split('id="overdue-client-tasks"')[1]
    assert "Zadania klientów po terminie" in overdue_page and "Alfa sp. j." in client_tasks
    assert "Zadania klienta po terminie" in workload_page
    assert "K/1" in manager_home.split('id="worst-contracts"')[1]
    assert "2\u00a0150,00\u00a0zł" in summary and "2\u00a0644,50\u00a0zł" in summary and "60,0 %" in summary
    assert '<svg' in summary and 'class="bar fee marked"' in summary


async def test_report_headings_say_in_which_month_in_either_language(office: Office) -> None:
    """The summary's headings put the month in the locative in Polish ("we wrześniu 2026", not "w miesiącu
    wrzesień 2026") and say "in September 2026" in English; the execution report's month cells stay whole."""
    await _office_data(office)
    async with browser(office) as maria:
        await log_in(maria, "maria")
        polish = (await maria.get("/reports/financial?month=2026-09")).text
        execution_pl = (await maria.get("/reports/execution?from=2026-10&to=2026-11")).text
        assert (await post_form(maria, "/account", "/account/language", {"language": "en"})).status_code == 303
        english = (await maria.get("/reports/financial?month=2026-09")).text
        execution_en = (await maria.get("/reports/execution?from=2026-10&to=2026-11")).text
    assert "<h2>Całe biuro we wrześniu 2026</h2>" in polish and "<h2>Umowy we wrześniu 2026</h2>" in polish
    assert "<title>Podsumowanie finansowe — wrzesień 2026" in polish and "w miesiącu" not in polish
    assert "<h2>The whole office in September 2026</h2>" in english
    assert "<h2>Contracts in September 2026</h2>" in english and "<title>Financial summary — September 2026" in english
    assert '<td class="month">2026-11</td>' in execution_pl  # white-space: nowrap (terminarz.css)
    assert ">Sprawy biura<" in execution_pl and ">Zadania klienta<" in execution_pl
    assert ">The office's cases<" in execution_en and ">The client's tasks<" in execution_en


async def test_each_execution_count_is_red_by_its_own_value(office: Office) -> None:
    """A count of overdue work is red only when it is above 0: K/2's November has one overdue office case and
    none of the client's tasks overdue, so its client cell stays plain (it used to take the row's red)."""
    await _office_data(office)
    async with browser(office) as maria:
        await log_in(maria, "maria")
        page = (await maria.get("/reports/execution?from=2026-10&to=2026-11")).text
    assert 'class="late"' not in page.split('id="execution"')[1].split("<tbody>")[1]  # no row-wide colour

    def counts(number: str, month: str) -> dict[str, tuple[str, bool]]:
        body = page.split('id="execution"')[1].split("<tbody>")[1].split("</tbody>")[0]
        row = next(r for r in body.split("<tr") if f">{number}<" in r and f">{month}<" in r)
        cells = re.findall(r'<td(?: class="([^"]*)")?>(.*?)</td>', row, re.S)
        shown = [(text, "late" in (classes or "").split()) for classes, text in cells]  # (count, red)
        return {"overdue": shown[6], "client_overdue": shown[12], "client_late": shown[11]}

    assert counts("K/2", "2026-11") == {"overdue": ("1", True), "client_overdue": ("0", False),
                                        "client_late": ("0", False)}
    assert counts("K/1", "2026-11") == {"overdue": ("2", True), "client_overdue": ("1", True),
                                        "client_late": ("0", False)}
    assert counts("K/1", "2026-10") == {"overdue": ("0", False), "client_overdue": ("0", False),
                                        "client_late": ("0", False)}


def _tile(html: str, tile_id: str) -> int:
    after = html.split(f'id="{tile_id}"', 1)[1]
    return int(after.split('<span class="n">', 1)[1].split("<", 1)[0])


