"""A case worked in a real browser: an accountant opens "Moje sprawy", ticks the checklist of a VAT case, finishes it
entering the VAT amount, and the case shows "zakończona" with its history (and the client's notice is on its way)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.embedded.test_case_lifecycle import vat_case

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "cases"


async def test_an_accountant_ticks_the_checklist_and_finishes_a_vat_case_with_its_amount(base_url: str,
                                                                                         office: Office) -> None:
    from playwright.async_api import async_playwright, expect

    case = await vat_case(office)
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="pl-PL")
            await page.goto(f"{base_url}/login")
            await page.fill("input[name=login]", "anna")
            await page.fill("input[name=password]", "secret-anna")
            await page.click("button:has-text('Zaloguj')")

            await page.click("header nav >> text=Moje sprawy")
            await expect(page.locator("h1")).to_contain_text("Moje sprawy")
            await page.click("#tabs >> text=Po terminie")  # due 25.11, today is 28.11
            row = page.locator("#cases tbody tr", has_text=case["title"])
            await expect(row).to_have_count(1)
            await page.screenshot(path=str(SHOTS / "my-cases.png"), full_page=True)
            await row.locator("a").click()
            await expect(page.locator("#status")).to_have_text("otwarta")

            # Finishing before the required item is ticked is refused, naming it.
            await page.fill("input[name=amount_vat]", "1 234,56")
            await page.click("#finish")
            await expect(page.locator("#problems")).to_contain_text("Wyślij JPK_V7M i pobierz UPO")
            await expect(page.locator("#status")).to_have_text("otwarta")

            items = page.locator("#checklist li")
            for index in range(await items.count()):
                await page.locator(f"#checklist li[data-index='{index}'] button").click()
                await expect(page.locator(f"#checklist li[data-index='{index}']")).to_have_class("done")
            await page.screenshot(path=str(SHOTS / "checklist-ticked.png"), full_page=True)

            await page.fill("input[name=amount_vat]", "1 234,56")
            await page.click("#finish")
            await expect(page.locator("#status")).to_have_text("zakończona")
            await expect(page.locator("#liabilities")).to_contain_text("VAT: 1 234,56 zł")
            history = page.locator("#history tbody")
            await expect(history).to_contain_text("Anna Nowak")
            await expect(history).to_contain_text("odhaczono")
            await expect(history).to_contain_text("zakończona")
            await expect(history).to_contain_text("1 234,56 zł")
            await expect(history).to_contain_text("28.11.2026 10:00")  # 09:00 UTC is 10:00 in Warsaw
            await expect(page.locator("#actions")).to_have_count(0)  # nothing more to do; reopening is a manager's
            await page.screenshot(path=str(SHOTS / "case-done.png"), full_page=True)
        finally:
            await browser.close()

    async def notice() -> list[dict[str, Any]]:
        return (await office.internal("notifier", "/notices", case_id=case["id"]))["items"]

    await wait_for(notice, what="the client's notice with the VAT amount")
