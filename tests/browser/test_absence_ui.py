"""A manager registers an absence in a real browser and sees the cases move to the substitute on the case list;
the substitute finds them among her own; ending the absence early hands them back."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, open_from_menu
from tests.browser.test_accessibility import WCAG_A_AA
from tests.browser.test_roles_ui import _log_in
from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.samples import contract, sole_trader

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "absences"


async def _annas_cases(office: Office) -> list[dict[str, Any]]:
    async with office.api() as api:
        client = (await api.post("/api/v1/clients", json=sole_trader())).json()
        await api.post("/api/v1/contracts", json=contract(client["id"], number="BR/ANNA"))

        async def cases() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = (await api.get("/api/v1/cases", params={"status": "open"})).json()["items"]
            return items

        return await wait_for(cases, what="anna's cases")


async def test_a_manager_registers_an_absence_and_sees_the_cases_move(base_url: str, office: Office) -> None:
    from axe_playwright_python.async_playwright import Axe
    from playwright.async_api import async_playwright, expect

    cases = await _annas_cases(office)
    # 28.11.2026: the absence from 20.11 to 5.12 holds every open case due in it.
    moving = [c for c in cases if "2026-11-20" <= c["due"] <= "2026-12-05"]
    assert moving, cases
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="pl-PL")
            await _log_in(page, base_url, "maria")
            await page.goto(f"{base_url}/cases")
            await expect(page.locator("#cases")).not_to_contain_text("zastępuje")

            await open_from_menu(page, "Nieobecności")
            form = page.locator("#absence-form")
            await form.locator("select[name=login]").select_option("anna")
            await form.locator("input[name=starts_on]").fill("2026-11-20")
            await form.locator("input[name=ends_on]").fill("2026-12-05")
            await form.locator("select[name=substitute]").select_option("ola")
            await form.locator("input[name=note]").fill("urlop")
            await form.locator("button[type=submit]").click()
            await expect(page.locator("#notice")).to_contain_text(f"Spraw przekazanych zastępcy: {len(moving)}")
            row = page.locator("#absences tbody tr[data-login=anna]")
            await expect(row).to_contain_text("Ola Wiśniewska")
            await expect(row).to_contain_text("trwa")
            await page.screenshot(path=str(SHOTS / "absence_registered.png"), full_page=True)
            # The page with an absence listed (its end and cancel forms) is accessible too.
            violations = (await Axe().run(page, options=WCAG_A_AA)).response["violations"]
            assert violations == [], violations

            await page.click("header nav a[href='/cases']")
            substituted = page.locator("#cases tbody tr", has_text="zastępuje: Ola Wiśniewska")
            await expect(substituted).to_have_count(len(moving))
            for case in moving:
                await expect(page.locator(f"#cases tbody tr:has(a[href='/cases/{case['id']}'])")).to_contain_text(
                    "zastępuje: Ola Wiśniewska")
            await page.screenshot(path=str(SHOTS / "cases_moved.png"), full_page=True)
            await page.click(f"a[href='/cases/{moving[0]['id']}']")
            await expect(page.locator("#substitute")).to_contain_text("Ola Wiśniewska")
            await expect(page.locator("main")).to_contain_text("zastępstwo")  # the history names the hand-over

            # The substitute finds them among her own cases.
            ola = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="pl-PL")
            await _log_in(ola, base_url, "ola")
            await ola.goto(f"{base_url}/cases?mine=true&status=open")
            await expect(ola.locator("#cases tbody tr")).to_have_count(len(moving))

            # anna is back early: ending the absence hands back what ola has not started.
            await open_from_menu(page, "Nieobecności")
            row = page.locator("#absences tbody tr[data-login=anna]")
            await row.locator("input[name=ends_on]").fill("2026-11-28")
            await row.locator("button:has-text('Zakończ wcześniej')").click()
            await expect(page.locator("#notice")).to_contain_text(f"zwróconych osobie nieobecnej: {len(moving)}")
            await page.click("header nav a[href='/cases']")
            await expect(page.locator("#cases")).not_to_contain_text("zastępuje")
        finally:
            await browser.close()
