"""Fee payments in a real browser: the manager imports a bank statement CSV on the payments page and sees October
paid in the monthly summary. Screenshots go to test-artifacts/payments/."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, logged_in_page
from tests.embedded.conftest import Office
from tests.embedded.test_payments import GAMMA_NIP, _contracts, rules_dir  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "payments"


async def test_the_manager_imports_a_bank_csv_and_sees_october_paid(base_url: str, office: Office,
                                                                     tmp_path: Any) -> None:
    from playwright.async_api import expect

    await _contracts(office)
    statement = tmp_path / "wyciag.csv"
    statement.write_text(f"Data;Kwota;Tytuł;NIP\n16.11.2026;984,00;FV 10/2026;{GAMMA_NIP}\n", encoding="utf-8")
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with logged_in_page(base_url, "maria") as maria:
        await maria.goto(f"{base_url}/payments")
        await maria.set_input_files("#statement-form input[name=file]", str(statement))
        await maria.click("#statement-form button[type=submit]")
        await expect(maria.locator("#import-result")).to_contain_text("przypisano 1")
        await expect(maria.locator("#import-result")).to_contain_text("G/1 2026-10")
        await maria.screenshot(path=str(SHOTS / "imported.png"), full_page=True)
        await maria.goto(f"{base_url}/reports/financial?month=2026-10")
        row = maria.locator("#financial-contracts tbody tr", has_text="G/1")
        await expect(row.locator("td.fee-paid")).to_have_text("984,00 zł")
        await expect(row.locator("td.fee-state")).to_have_text("zapłacona")
        delta = maria.locator("#financial-contracts tbody tr", has_text="D/1")
        await expect(delta.locator("td.fee-state")).to_contain_text("zaległa")
        await expect(maria.locator("#overdue-fees")).to_contain_text("D/1")
        await maria.screenshot(path=str(SHOTS / "october_paid.png"), full_page=True)
