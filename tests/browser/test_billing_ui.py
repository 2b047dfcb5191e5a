"""The month's billing inputs in a real browser: the accountant finishes October's bookkeeping case entering 230
documents (and the payroll case entering 4 employees); the manager sees October's fee with its breakdown in the
monthly summary. Screenshots go to test-artifacts/billing/."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, log_in
from tests.embedded.conftest import Office
from tests.embedded.test_billing import _case, _contract, rules_dir  # noqa: F401  (the fixture: no generated cases)

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "billing"


async def test_the_accountants_counts_show_in_the_managers_summary(base_url: str, office: Office) -> None:
    from playwright.async_api import async_playwright, expect

    contract_id = await _contract(office)
    vat = await _case(office, contract_id, "vat.jpk_v7m", "anna")
    payroll = await _case(office, contract_id, "payroll.pit_withheld", "anna")
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            anna = await (await browser.new_context(locale="pl-PL")).new_page()
            await log_in(anna, base_url, "anna")
            await anna.goto(f"{base_url}/cases/{vat}")
            await anna.fill("input[name=documents]", "230")
            await anna.screenshot(path=str(SHOTS / "finish_with_documents.png"), full_page=True)
            await anna.click("#finish")
            await expect(anna.locator("main")).to_contain_text("zakończona")
            await anna.goto(f"{base_url}/cases/{payroll}")
            await anna.fill("input[name=employees]", "4")
            await anna.click("#finish")
            await expect(anna.locator("main")).to_contain_text("zakończona")

            maria = await (await browser.new_context(viewport={"width": 1400, "height": 900},
                                                     locale="pl-PL")).new_page()
            await log_in(maria, base_url, "maria")
            await maria.goto(f"{base_url}/reports/financial?month=2026-10")
            row = maria.locator("#financial-contracts tbody tr", has_text="B/1")
            await expect(row.locator("td.fee-breakdown")).to_have_text(
                "podstawa 800,00 zł + 75,00 zł za dokumenty ponad limit (230 dok.) + 160,00 zł za pracowników (4)")
            await expect(row).to_contain_text("1 035,00 zł")
            await expect(row).to_contain_text("1 273,05 zł")
            await expect(row).not_to_contain_text("wstępnie")
            await maria.screenshot(path=str(SHOTS / "october_summary.png"), full_page=True)
        finally:
            await browser.close()
