"""The month's billing inputs (documents booked, employees paid) feed the month's fee and the financial summary.

Today is Saturday 28.11.2026 (the fixture's clock). Contract B/1 (client Gamma, 2 employees in its terms, team anna +
maria) from 01.01.2026: 800.00 net, 2.50 per document above 200, 40.00 per employee, 23 % VAT; an annex from
01.11.2026 raises the base to 900.00.
"""

from __future__ import annotations

import io
import shutil
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from services.cases.models import cases
from tests.conftest import wait_for
from tests.embedded.conftest import ROOT, Office
from tests.embedded.web import browser, log_in, post_form
from tests.samples import contract, sole_trader

FEE = {"monthly_net": "800.00", "vat_rate": "23", "per_employee": "40.00", "per_document": "2.50",
       "document_threshold": 200}


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """Only the offboarding rules: no generated cases to wait for."""
    target = tmp_path / "offboarding-only"
    target.mkdir()
    shutil.copy(ROOT / "rules" / "offboarding.yaml", target)
    return target


async def _contract(office: Office) -> str:
    async with office.api("maria") as api:
        gamma = (await api.post("/api/v1/clients", json=sole_trader("Gamma", seed="526104057", employees=2))).json()
        terms = contract(gamma["id"], number="B/1", start="2026-01-01")
        terms["fee"] = FEE
        made = await api.post("/api/v1/contracts", json=terms)
        assert made.status_code == 201, made.text
        contract_id = str(made.json()["id"])
        annex = await api.post(f"/api/v1/contracts/{contract_id}/annexes",
                               json={"effective_from": "2026-11-01", "fee": {**FEE, "monthly_net": "900.00"}})
        assert annex.status_code == 201, annex.text

    async def anna_sees_it() -> bool:
        async with office.api("anna") as api:
            return (await api.get("/api/v1/contracts")).json()["total"] == 1

    await wait_for(anna_sees_it, what="anna on B/1's team in the gateway")
    return contract_id


def _fee(report: dict[str, Any]) -> dict[str, Any]:
    row = next(r for r in report["contracts"] if r["number"] == "B/1")
    fee: dict[str, Any] = row["fee"]
    return fee


async def test_recorded_counts_make_octobers_fee_final_with_its_breakdown(office: Office) -> None:
    contract_id = await _contract(office)
    url = f"/api/v1/contracts/{contract_id}/billing"
    async with office.api("anna") as anna:
        documents = await anna.put(f"{url}/2026-10", json={"documents": 230})
        assert documents.status_code == 200, documents.text
        # The employees are not recorded yet: 2 from the client's terms, and the fee says so.
        assert documents.json()["fee"]["provisional"] is True and documents.json()["employees"] is None
        assert documents.json()["fee"]["net"] == "955.00"  # 800 + 75 + 2 × 40
        both = (await anna.put(f"{url}/2026-10", json={"employees": 4})).json()
        again = (await anna.get(f"{url}/2026-10")).json()
    assert (both["documents"], both["employees"], both["recorded_by"], both["source"]) == (230, 4, "anna", "api")
    fee = both["fee"]
    assert (fee["base"], fee["documents_part"], fee["employees_part"]) == ("800.00", "75.00", "160.00")
    assert (fee["net"], fee["vat"], fee["gross"], fee["provisional"]) == ("1035.00", "238.05", "1273.05", False)
    assert again == both

    async with office.api("maria") as maria:
        october = (await maria.get("/api/v1/reports/financial", params={"month": "2026-10"})).json()
        november = (await maria.get("/api/v1/reports/financial", params={"month": "2026-11"})).json()
        recorded = await maria.put(f"{url}/2026-11", json={"documents": 230, "employees": 4})
        november_recorded = (await maria.get("/api/v1/reports/financial", params={"month": "2026-11"})).json()
        xlsx = await maria.get("/api/v1/reports/financial", params={"month": "2026-10", "format": "xlsx"})
        audit = (await maria.get("/api/v1/audit", params={"action": "contract.billing"})).json()
    shown = _fee(october)
    assert (shown["base"], shown["documents_part"], shown["employees_part"], shown["net"], shown["gross"]) == (
        "800.00", "75.00", "160.00", "1035.00", "1273.05")
    assert shown["provisional"] is False and october["office"][-1]["fee"]["provisional"] is False
    # November is not recorded: provisional, under the annex's base (900 + 2 × 40).
    assert (_fee(november)["net"], _fee(november)["provisional"]) == ("980.00", True)
    assert recorded.status_code == 200, recorded.text
    # The annex from 1 November changes November's fee for the same counts: 900 + 75 + 160.
    assert (_fee(november_recorded)["net"], _fee(november_recorded)["gross"],
            _fee(november_recorded)["provisional"]) == ("1135.00", "1396.05", False)
    sheet = load_workbook(io.BytesIO(xlsx.content))["Umowy 2026-10"]
    head = [c.value for c in sheet[1]]
    row = dict(zip(head, next(sheet.iter_rows(min_row=2, values_only=True)), strict=True))
    assert row["Umowa"] == "B/1" and row["Opłata wstępna"] == "nie"
    assert [Decimal(str(row[k])) for k in ("Opłata podstawowa", "Za dokumenty ponad limit", "Za pracowników",
                                           "Opłata netto", "Opłata brutto")] == [
        Decimal("800"), Decimal("75"), Decimal("160"), Decimal("1035"), Decimal("1273.05")]
    assert (row["Dokumenty"], row["Pracownicy"]) == (230, 4)
    assert sorted((e["login"], e["target"]) for e in audit["items"]) == [
        ("anna", f"contract:{contract_id}")] * 2 + [("maria", f"contract:{contract_id}")]


async def test_bad_counts_and_strangers_are_refused_and_nothing_is_recorded(office: Office) -> None:
    contract_id = await _contract(office)
    url = f"/api/v1/contracts/{contract_id}/billing"
    async with office.api("anna") as anna:
        negative = await anna.put(f"{url}/2026-10", json={"documents": -1, "employees": 4})
        text = await anna.put(f"{url}/2026-10", json={"employees": "4"})
        empty = await anna.put(f"{url}/2026-10", json={})
        misspelt = await anna.put(f"{url}/2026-10", json={"document": 230})
        before_start = await anna.put(f"{url}/2025-12", json={"documents": 10})
        bad_month = await anna.put(f"{url}/2026-13", json={"documents": 10})
        stored = (await anna.get(f"{url}/2026-10")).json()
    assert negative.status_code == 422 and negative.json()["errors"][0]["field"] == "documents"
    assert text.status_code == 422 and text.json()["errors"][0]["field"] == "employees"
    assert empty.status_code == 422 and "documents or employees" in empty.text
    assert misspelt.status_code == 422 and misspelt.json()["errors"][0]["field"] == "document"
    assert before_start.status_code == 422 and before_start.json()["errors"] == [
        {"field": "month", "message": "the contract does not cover 2025-12"}]
    assert bad_month.status_code == 422 and bad_month.json()["errors"][0]["field"] == "month"
    assert (stored["documents"], stored["employees"], stored["fee"]["provisional"]) == (None, None, True)
    async with office.api("ola") as ola:  # not on B/1's team
        refused = await ola.put(f"{url}/2026-10", json={"documents": 230})
    assert refused.status_code == 404


async def test_the_manager_sees_octobers_breakdown_on_the_summary_page(office: Office) -> None:
    contract_id = await _contract(office)
    async with office.api("anna") as anna:
        recorded = await anna.put(f"/api/v1/contracts/{contract_id}/billing/2026-10",
                                  json={"documents": 230, "employees": 4})
        assert recorded.status_code == 200, recorded.text
    async with browser(office) as maria:
        await log_in(maria, "maria")
        october = (await maria.get("/reports/financial?month=2026-10")).text
        november = (await maria.get("/reports/financial?month=2026-11")).text
    row = october.split('id="financial-contracts"')[1].split("</tr>")[2]
    assert "podstawa 800,00\u00a0zł" in row and "75,00\u00a0zł za dokumenty ponad limit (230 dok.)" in row
    assert "160,00\u00a0zł za pracowników (4)" in row and "1\u00a0273,05\u00a0zł" in row
    assert "wstępnie" not in row
    assert "wstępnie" in november.split('id="financial-contracts"')[1].split("</tr>")[2]


async def _case(office: Office, contract_id: str, rule_id: str, login: str) -> str:
    """An open case of B/1 for October under `rule_id`, as the cases service would hold it."""
    case_id = str(uuid.uuid4())
    now = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    async with office.system.runtimes["cases"].ctx.db.transaction() as session:
        await session.execute(cases.insert().values(
            id=case_id, contract_id=contract_id, contract_number="B/1", client_name="Gamma", rule_id=rule_id,
            period="2026-10", title="Sprawa za październik", title_en="", due=date(2026, 11, 25), status="open",
            assignee_login=login, assignee_name="", assignee_email="", commissioner_name="", checklist=[],
            notice=[], late_on_creation=False, created_at=now, updated_at=now, completed_at=None))
    return case_id


async def test_finishing_octobers_cases_records_the_months_counts(office: Office) -> None:
    contract_id = await _contract(office)
    vat = await _case(office, contract_id, "vat.jpk_v7m", "anna")
    payroll = await _case(office, contract_id, "payroll.pit_withheld", "anna")
    other = await _case(office, contract_id, "zus.dra_other", "anna")
    async with office.api("anna") as anna:
        wrong_field = await anna.post(f"/api/v1/cases/{other}/finish", json={"documents": 230})
        bad_count = await anna.post(f"/api/v1/cases/{payroll}/finish", json={"employees": "cztery"})
        still_open = (await anna.get(f"/api/v1/cases/{payroll}")).json()["status"]
        finished = await anna.post(f"/api/v1/cases/{payroll}/finish", json={"employees": 4})
    assert wrong_field.status_code == 422 and wrong_field.json()["errors"][0]["field"] == "documents"
    assert bad_count.status_code == 422 and bad_count.json()["errors"] == [
        {"field": "employees", "message": "a whole number, 0 or more"}]
    assert still_open == "open"  # a refused count leaves the case as it was
    assert finished.status_code == 200, finished.text
    assert finished.json()["status"] == "done" and finished.json()["billing"]["employees"] == 4
    async with browser(office) as page:
        await log_in(page, "anna")
        form = (await page.get(f"/cases/{vat}")).text
        assert 'name="documents"' in form and 'name="employees"' not in form
        sent = await post_form(page, f"/cases/{vat}", f"/cases/{vat}/finish", {"documents": "230"})
        assert sent.status_code == 303, sent.text
    async with office.api("maria") as maria:
        october = (await maria.get(f"/api/v1/contracts/{contract_id}/billing/2026-10")).json()
        status = (await maria.get(f"/api/v1/cases/{vat}")).json()["status"]
    assert status == "done"
    assert (october["documents"], october["employees"], october["source"], october["recorded_by"]) == (
        230, 4, "case", "anna")
    assert (october["fee"]["net"], october["fee"]["gross"], october["fee"]["provisional"]) == (
        "1035.00", "1273.05", False)


async def test_a_months_csv_records_every_row_or_nothing(office: Office) -> None:
    contract_id = await _contract(office)
    url = "/api/v1/billing/2026-10/import"
    headers = {"Content-Type": "text/csv"}
    async with office.api("maria") as maria:
        bad = await maria.post(url, headers=headers, content=b"contract_number;documents;employees\r\n"
                               b"B/1;230;4\r\nB/9;10;\r\nB/1;x;\r\nB/1;;5\r\n")
        untouched = (await maria.get(f"/api/v1/contracts/{contract_id}/billing/2026-10")).json()
        good = await maria.post(url, headers=headers,
                                content="\ufeffcontract_number,documents,employees\nB/1,230,4\n".encode())
        october = (await maria.get(f"/api/v1/contracts/{contract_id}/billing/2026-10")).json()
    assert bad.status_code == 422
    assert [(e["row"], e["field"]) for e in bad.json()["errors"]] == [
        (3, "contract_number"), (4, "documents"), (5, "contract_number")]
    assert bad.json()["errors"][0]["message"] == "no contract B/9"
    assert bad.json()["errors"][2]["message"] == "B/1 is on row 2 already"
    assert (untouched["documents"], untouched["employees"]) == (None, None)  # nothing from the bad file
    assert good.status_code == 201 and good.json() == {"month": "2026-10", "recorded": 1}
    assert (october["documents"], october["employees"], october["source"]) == (230, 4, "csv")
    assert (october["fee"]["net"], october["fee"]["provisional"]) == ("1035.00", False)
    async with office.api("anna") as anna:
        refused = await anna.post(url, headers=headers, content=b"contract_number,documents\nB/1,1\n")
    assert refused.status_code == 403
