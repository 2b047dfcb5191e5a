"""Powers of attorney in a real browser: the manager registers the client's UPL-1 with its signed PDF on the client
page; the badge turns from "brak" to "ważne" (43 days left), and the VAT case warns that it ends before its due date
— in English too, once she reads English. Screenshots go to test-artifacts/powers/."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, logged_in_page
from tests.embedded.conftest import Office
from tests.embedded.test_powers import PDF, _client_with_vat_case, rules_dir  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "powers"


async def test_the_manager_registers_a_upl1_and_the_vat_case_warns_it_ends_too_soon(base_url: str, office: Office,
                                                                                     tmp_path: Any) -> None:
    from playwright.async_api import expect

    client_id, case_id = await _client_with_vat_case(office)
    document = tmp_path / "upl-1.pdf"
    document.write_bytes(PDF)
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with logged_in_page(base_url, "maria") as maria:
        await maria.goto(f"{base_url}/clients/{client_id}")
        await expect(maria.locator("#power-kinds [data-kind='UPL-1']")).to_have_text("brak")
        await expect(maria.locator("#client-power-warnings")).to_contain_text("Brak pełnomocnictwa UPL-1")
        await maria.select_option("#power-form select[name=kind]", "UPL-1")
        await maria.fill("#power-form input[name=granted_on]", "2026-01-05")
        await maria.fill("#power-form input[name=valid_until]", "2027-01-10")
        await maria.fill("#power-form input[name=scope]", "e-deklaracje, JPK")
        await maria.set_input_files("#power-form input[name=file]", str(document))
        await maria.click("#power-form button[type=submit]")
        # 43 days left: more than 30, so "ważne"
        await expect(maria.locator("#power-kinds [data-kind='UPL-1']")).to_have_text("ważne")
        await expect(maria.locator("#powers-list")).to_contain_text("upl-1.pdf")
        await maria.screenshot(path=str(SHOTS / "client_powers.png"), full_page=True)
        await maria.goto(f"{base_url}/cases/{case_id}")
        await expect(maria.locator("#power-warnings")).to_contain_text("Pełnomocnictwo UPL-1 wygasa 10.01.2027")
        await maria.screenshot(path=str(SHOTS / "vat_case_warning.png"), full_page=True)
        # In English (her account's language), the same warning, the date day first with slashes.
        await maria.goto(f"{base_url}/account")
        await maria.select_option("select[name=language]", "en")
        await maria.click("button:has-text('Zapisz język')")
        await maria.goto(f"{base_url}/cases/{case_id}")
        await expect(maria.locator("#power-warnings")).to_contain_text(
            "The UPL-1 power of attorney expires on 10/01/2027")
        await expect(maria.locator("#power-warnings")).not_to_contain_text("Pełnomocnictwo")
