"""Reports in a real browser: a manager lands on the dashboard, opens the financial summary, sees its charts and
downloads the XLSX; every role's dashboard. Screenshots go to test-artifacts/reports/."""

from __future__ import annotations

from decimal import Decimal

import pytest
from openpyxl import load_workbook

from tests.browser.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, log_in
from tests.embedded.conftest import Office
from tests.embedded.test_reports import _office_data, rules_dir  # noqa: F401  (the fixture: no generated cases)

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "reports"


async def test_a_manager_reads_the_financial_summary_and_downloads_it(base_url: str, office: Office) -> None:
    from playwright.async_api import async_playwright, expect

    await _office_data(office)
    SHOTS.mkdir(parents=True, exist_ok=True)
    blocked: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="pl-PL",
                                                accept_downloads=True)
            page = await context.new_page()
            page.on("console", lambda message: blocked.append(message.text)
                    if "Content Security Policy" in message.text else None)
            await log_in(page, base_url, "maria")
            await expect(page.locator("#office-overdue .n")).to_have_text("3")
            await page.click("header nav >> text=Raporty")
            await page.click("text=Podsumowanie finansowe miesiąca")
            await page.select_option("select[name=month]", "2026-11")
            await page.click("button:has-text('Pokaż')")
            await expect(page.locator("#office-gross")).to_have_text("2 644,50 zł")
            await expect(page.locator("#office-share")).to_have_text("60,0 %")
            bars = page.locator("#chart-fees svg rect.bar")
            assert await bars.count() == 11  # K/1 from January, K/2 from October; no fee in December 2025
            box = await page.locator("#chart-fees svg").bounding_box()
            assert box is not None and box["height"] > 100  # drawn, not collapsed
            assert await page.locator("#chart-liabilities svg rect.kind-zus").count() == 1
            await page.screenshot(path=str(SHOTS / "financial_summary.png"), full_page=True)
            # At 1280 px the contracts' table shows whole, the liabilities a line per kind in one cell.
            widths = await page.evaluate("""() => { const box = document.querySelector('#financial-contracts')
                .parentElement; return [box.scrollWidth, box.clientWidth]; }""")
            assert widths[0] <= widths[1], widths
            k1 = page.locator("#financial-contracts tbody tr", has_text="K/1")
            await expect(k1.locator("dl.liabilities dt")).to_have_text(["VAT", "PIT", "CIT", "ZUS"])
            async with page.expect_download() as download_info:
                await page.click("#download-xlsx")
            download = await download_info.value
            assert download.suggested_filename == "podsumowanie-finansowe-2026-11.xlsx"
            saved = SHOTS / download.suggested_filename
            await download.save_as(str(saved))
            await expect(page.locator("#office-summary h2")).to_have_text("Całe biuro w listopadzie 2026")
            await page.goto(f"{base_url}/reports/execution?from=2026-09&to=2026-11")
            # At 1280 px the whole table shows without sideways scrolling, and no month breaks ("2026-/11").
            widths = await page.evaluate("""() => { const box = document.querySelector('#execution').parentElement;
                return [box.scrollWidth, box.clientWidth]; }""")
            assert widths[0] <= widths[1], widths
            lines = await page.evaluate("""() => [...document.querySelectorAll('#execution td.month')].map(td => {
                const range = document.createRange(); range.selectNodeContents(td);
                return range.getClientRects().length; })""")
            assert lines and set(lines) == {1}, lines
            for name in ("execution", "overdue", "workload"):
                await page.goto(f"{base_url}/reports/{name}")
                await expect(page.locator("h1")).to_be_visible()
                await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
            await expect(page.locator("#workload td.absent")).to_contain_text("zastępuje: ola")
        finally:
            await browser.close()
    sheet = load_workbook(saved)["Umowy 2026-11"]
    nets = {row[1]: Decimal(str(row[3])) for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert nets == {"K/1": Decimal("1350.00"), "K/2": Decimal("800.00")}
    assert blocked == []


async def test_each_roles_dashboard(base_url: str, office: Office) -> None:
    from playwright.async_api import async_playwright, expect

    await _office_data(office)
    SHOTS.mkdir(parents=True, exist_ok=True)
    expected_overdue = {"admin": 0, "maria": 0, "anna": 2, "piotr": 0}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for login, overdue in expected_overdue.items():
                page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="pl-PL")
                await log_in(page, base_url, login)
                await expect(page.locator("#my-overdue .n")).to_have_text(str(overdue))
                office_tile = page.locator("#office-overdue")
                if login in ("admin", "maria"):
                    await expect(office_tile).to_be_visible()
                else:
                    await expect(office_tile).to_have_count(0)
                    await expect(page.locator("header nav")).not_to_contain_text("Raporty")
                await page.screenshot(path=str(SHOTS / f"dashboard_{login}.png"), full_page=True)
                await page.close()
        finally:
            await browser.close()


async def test_the_summary_month_is_chosen_in_the_pages_language_without_javascript(base_url: str,
                                                                                      office: Office) -> None:
    """The month field lists the months by name in the page's language (not the browser's: the browser here is
    English), and the plain form works with JavaScript off."""
    from playwright.async_api import async_playwright, expect

    await _office_data(office)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB",
                                                java_script_enabled=False)
            page = await context.new_page()
            await log_in(page, base_url, "maria")
            await page.goto(f"{base_url}/reports/financial")
            month = page.locator("select[name=month]")
            today = office.clock.today()
            this_month = f"{today.year}-{today.month:02d}"
            await expect(month.locator("option:checked")).to_have_attribute("value", this_month)
            names = await month.locator("option").all_inner_texts()
            assert "październik 2026" in names and "listopad 2026" in names, names
            await month.select_option("2026-10")
            await page.click("button:has-text('Pokaż')")
            await page.wait_for_url("**/reports/financial?month=2026-10")
            await expect(page.locator("h1")).to_have_text("Podsumowanie finansowe — październik 2026")
            await expect(page.locator("#office-summary h2")).to_have_text("Całe biuro w październiku 2026")
            await expect(page.locator("select[name=month] option:checked")).to_have_text("październik 2026")

            await page.goto(f"{base_url}/account")
            await page.select_option("select[name=language]", "en")
            await page.click("button:has-text('Zapisz język')")
            await page.goto(f"{base_url}/reports/financial?month=2026-10")
            await expect(page.locator("select[name=month] option:checked")).to_have_text("October 2026")
            await page.select_option("select[name=month]", "2026-11")
            await page.click("button:has-text('Show')")
            await page.wait_for_url("**/reports/financial?month=2026-11")
            await expect(page.locator("h1")).to_have_text("Financial summary — November 2026")
            await expect(page.locator("#office-summary h2")).to_have_text("The whole office in November 2026")
            await expect(page.locator("#office-gross")).to_have_text("PLN 2,644.50")

            # The execution report's range: two months chosen the same way.
            await page.goto(f"{base_url}/reports/execution")
            await page.select_option("select[name=from]", "2026-09")
            await page.select_option("select[name=to]", "2026-11")
            await page.click("button:has-text('Show')")
            await page.wait_for_url("**/reports/execution?from=2026-09&to=2026-11")
            await expect(page.locator("h1")).to_contain_text("September 2026 – November 2026")
        finally:
            await browser.close()
