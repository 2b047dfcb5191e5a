"""Powers of attorney: the register per client (document attached, revoked), and the warning on every case whose
rule needs a power (`requires_power`) the client lacks or whose power ends before (or within 30 days after) the
case's due date.

Today is Saturday 28.11.2026 (the fixture's clock). Client Gamma with contract P/1 from 01.01.2027; a VAT case
(rule vat.jpk_v7m, `requires_power: [UPL-1]`) for December 2026 due 26.01.2027, written into the cases service.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from services.cases.models import cases
from tests.conftest import wait_for
from tests.embedded.conftest import ROOT, Office
from tests.embedded.web import browser, log_in, post_form
from tests.samples import contract, sole_trader

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """The VAT rules (no case of them falls before the contract's start in January) and offboarding."""
    target = tmp_path / "vat-only"
    target.mkdir()
    for name in ("vat.yaml", "offboarding.yaml"):
        shutil.copy(ROOT / "rules" / name, target)
    return target


async def _client_with_vat_case(office: Office) -> tuple[int, str]:
    async with office.api("maria") as api:
        gamma = (await api.post("/api/v1/clients", json=sole_trader("Gamma"))).json()
        made = await api.post("/api/v1/contracts", json=contract(gamma["id"], number="P/1", start="2027-01-01"))
        assert made.status_code == 201, made.text
        contract_id = str(made.json()["id"])
    case_id = str(uuid.uuid4())
    now = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    async with office.system.runtimes["cases"].ctx.db.transaction() as session:
        await session.execute(cases.insert().values(
            id=case_id, contract_id=contract_id, contract_number="P/1", client_id=str(gamma["id"]),
            client_name="Gamma", rule_id="vat.jpk_v7m", period="2026-12", title="JPK_V7M za grudzień",
            title_en="", due=date(2027, 1, 26), status="open", assignee_login="anna", assignee_name="",
            assignee_email="", commissioner_name="", checklist=[], notice=[], late_on_creation=False,
            created_at=now, updated_at=now, completed_at=None))

    async def anna_sees_it() -> bool:
        async with office.api("anna") as api:
            return (await api.get(f"/api/v1/cases/{case_id}")).status_code == 200

    await wait_for(anna_sees_it, what="anna on P/1's team in the gateway")
    return int(gamma["id"]), case_id


async def test_a_power_expiring_before_a_vat_cases_due_date_warns_on_that_case(office: Office) -> None:
    client_id, case_id = await _client_with_vat_case(office)
    async with office.api("anna") as anna:
        missing = (await anna.get(f"/api/v1/cases/{case_id}")).json()["power_warnings"]
    assert [w["text"] for w in missing] == ["Brak pełnomocnictwa UPL-1 — e-deklaracji nie można złożyć"]

    async with office.api("maria") as maria:
        added = await maria.post(f"/api/v1/clients/{client_id}/powers",
                                 data={"kind": "UPL-1", "granted_on": "2026-01-05", "valid_until": "2027-01-10",
                                       "scope": "e-deklaracje, JPK"},
                                 files={"file": ("upl-1.pdf", PDF, "application/pdf")})
        assert added.status_code == 201, added.text
        power = added.json()
    async with office.api("anna") as anna:
        case = (await anna.get(f"/api/v1/cases/{case_id}")).json()
        register = (await anna.get(f"/api/v1/clients/{client_id}/powers")).json()
        document = await anna.get(f"/api/v1/clients/{client_id}/powers/{power['id']}/document")
        not_allowed = await anna.post(f"/api/v1/clients/{client_id}/powers",
                                      data={"kind": "PEL", "granted_on": "2026-01-05"})
    # Valid today, but it ends on 10.01.2027, before the VAT return is due on 26.01.2027.
    assert [(w["kind"], w["state"], w["text"]) for w in case["power_warnings"]] == [
        ("UPL-1", "expiring", "Pełnomocnictwo UPL-1 wygasa 10.01.2027")]
    assert (power["state"], power["days_left"], power["document"]["name"]) == ("valid", 43, "upl-1.pdf")
    assert register["kinds"]["UPL-1"]["state"] == "valid" and register["kinds"]["PEL"]["state"] == "missing"
    assert document.status_code == 200 and document.content == PDF
    assert document.headers["content-type"] == "application/pdf"
    assert not_allowed.status_code == 403

    async with office.api("maria") as maria:
        renewed = await maria.post(f"/api/v1/clients/{client_id}/powers",
                                   data={"kind": "UPL-1", "granted_on": "2026-11-27"})
        assert renewed.status_code == 201 and renewed.json()["valid_until"] is None
        covered = (await maria.get(f"/api/v1/cases/{case_id}")).json()["power_warnings"]
        for p in (power, renewed.json()):
            revoked = await maria.post(f"/api/v1/clients/{client_id}/powers/{p['id']}/revocation", json={})
            assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
        again = await maria.post(f"/api/v1/clients/{client_id}/powers/{power['id']}/revocation", json={})
        after = (await maria.get(f"/api/v1/cases/{case_id}")).json()["power_warnings"]
        wrong_type = await maria.post(f"/api/v1/clients/{client_id}/powers",
                                      data={"kind": "UPL-1", "granted_on": "2026-11-27"},
                                      files={"file": ("upl.pdf", b"plain text, not a PDF", "application/pdf")})
        bad = await maria.post(f"/api/v1/clients/{client_id}/powers",
                               data={"kind": "UPL-2", "granted_on": "2026-11-27", "valid_until": "2026-01-01"})
        audit = (await maria.get("/api/v1/audit", params={"target": f"client:{client_id}"})).json()
        exported = (await maria.get(f"/api/v1/clients/{client_id}/personal-data")).json()
    assert covered == []  # an indefinite UPL-1 covers it
    assert again.status_code == 409
    assert [w["state"] for w in after] == ["missing"]
    assert wrong_type.status_code == 415
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"kind", "valid_until"}
    assert sorted(e["action"] for e in audit["items"] if e["action"].startswith("client.power")) == [
        "client.power_add", "client.power_add", "client.power_revoke", "client.power_revoke"]
    held = exported["services"]["contracts"]["powers"]
    assert [p["kind"] for p in held] == ["UPL-1", "UPL-1"]

    async with browser(office) as page:
        await log_in(page, "maria")
        client_page = (await page.get(f"/clients/{client_id}")).text
        case_page = (await page.get(f"/cases/{case_id}")).text
    assert 'id="client-powers"' in client_page and "upl-1.pdf" in client_page
    assert "Brak pełnomocnictwa UPL-1 — e-deklaracji nie można złożyć" in client_page
    assert 'id="power-warnings"' in case_page and "Brak pełnomocnictwa UPL-1" in case_page


async def test_a_power_form_sent_wrong_answers_with_the_whole_client_page(office: Office) -> None:
    async with office.api("maria") as api:
        gamma = (await api.post("/api/v1/clients", json=sole_trader("Gamma"))).json()
    client_page = f"/clients/{gamma['id']}"
    async with browser(office) as page:
        await log_in(page, "maria")
        answer = await post_form(page, client_page, f"{client_page}/powers",
                                 {"kind": "UPL-1", "granted_on": "2026-11-27", "valid_until": "2026-01-01"})
    assert answer.status_code == 422
    assert "<code>valid_until</code>" in answer.text
    # The notice recipients are the client record's, shown as on the page itself.
    assert "&lt;klient@example.com&gt;" in answer.text and "Brak odbiorców" not in answer.text


async def test_an_english_speaking_person_reads_the_warnings_in_english(office: Office) -> None:
    client_id, case_id = await _client_with_vat_case(office)
    async with browser(office) as page:
        await log_in(page, "maria")
        assert (await post_form(page, "/account", "/account/language", {"language": "en"})).status_code == 303
        client_page = (await page.get(f"/clients/{client_id}")).text
        case_page = (await page.get(f"/cases/{case_id}")).text
    assert "No UPL-1 power of attorney — e-declarations cannot be filed" in client_page
    assert "No UPL-1 power of attorney — e-declarations cannot be filed" in case_page
    assert "Brak pełnomocnictwa" not in client_page + case_page
    async with office.api("maria") as api:  # the API's text as before: Polish (its fields are for machines)
        warnings = (await api.get(f"/api/v1/cases/{case_id}")).json()["power_warnings"]
    assert [(w["kind"], w["state"], w["text"]) for w in warnings] == [
        ("UPL-1", "missing", "Brak pełnomocnictwa UPL-1 — e-deklaracji nie można złożyć")]
