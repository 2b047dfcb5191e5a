"""The menu in a real browser: an admin's menu is one line at 1280 px in both languages, its administrative entries
under "Administracja", a disclosure list that opens and closes by keyboard; the current page is marked (the
group's summary too when the page is in it), and the open list passes axe."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, log_in
from tests.browser.test_accessibility import WCAG_A_AA
from tests.embedded.conftest import Office

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "menu"


async def _one_line(page: Any) -> None:
    """The menu's first entry and its last (the group's summary) sit on one line, and the header is one line high."""
    first = await page.locator("header nav > a").first.bounding_box()
    last = await page.locator("header nav details > summary").bounding_box()
    assert first is not None and last is not None
    assert abs(first["y"] - last["y"]) < 4 and last["x"] > first["x"], (first, last)
    header = await page.locator("header").bounding_box()
    assert header is not None and header["height"] < 2 * first["height"] + 24, header


async def test_the_admin_menu_is_one_line_and_its_group_opens_by_keyboard(base_url: str, office: Office) -> None:
    from axe_playwright_python.async_playwright import Axe
    from playwright.async_api import async_playwright, expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="pl-PL")
            await log_in(page, base_url, "admin")
            await page.goto(f"{base_url}/reports/financial")
            await _one_line(page)
            nav = page.locator("header nav")
            group = nav.locator("details")
            await expect(nav.locator("[aria-current=page]")).to_have_text("Raporty")
            await expect(group.locator("a[href='/users']")).to_be_hidden()

            # By keyboard: from the last entry of the line, Tab reaches "Administracja", Enter opens it, Tab walks
            # its entries, Enter follows one.
            await nav.get_by_role("link", name="Raporty", exact=True).focus()
            await page.keyboard.press("Tab")
            await expect(group.locator("summary")).to_be_focused()
            await expect(group.locator("summary")).to_have_text("Administracja")
            await page.keyboard.press("Enter")
            await expect(group).to_have_attribute("open", "")
            await expect(group.locator("a")).to_have_text(["Nieobecności", "Poczta wychodząca", "Reguły",
                                                           "Użytkownicy", "Dziennik zmian",
                                                           "Komunikaty nieobsłużone"])
            await page.screenshot(path=str(SHOTS / "admin_group_open.png"))
            violations = (await Axe().run(page, options=WCAG_A_AA)).response["violations"]
            assert violations == [], violations
            # Escape closes it and gives the focus back to its summary.
            await page.keyboard.press("Tab")
            await expect(group.get_by_role("link", name="Nieobecności")).to_be_focused()
            await page.keyboard.press("Escape")
            await expect(group).not_to_have_attribute("open", "")
            await expect(group.locator("summary")).to_be_focused()
            await page.keyboard.press("Space")
            for _ in range(4):
                await page.keyboard.press("Tab")
            await expect(group.get_by_role("link", name="Użytkownicy")).to_be_focused()
            await page.keyboard.press("Enter")
            await page.wait_for_url(f"{base_url}/users")

            # On a page of the group: its entry is the current page, and the group's summary shows it is in there.
            await expect(nav.locator("[aria-current=page]")).to_have_count(1)
            await expect(group.locator("a[href='/users']")).to_have_attribute("aria-current", "page")
            await expect(group).to_have_class("nav-group current")
            await expect(group).not_to_have_attribute("open", "")
            # A click elsewhere closes the open group.
            await group.locator("summary").click()
            await expect(group).to_have_attribute("open", "")
            await page.locator("main h1").click()
            await expect(group).not_to_have_attribute("open", "")

            # A case list of "my cases" marks "Moje sprawy", not "Sprawy"; a case of the list marks "Sprawy".
            await page.goto(f"{base_url}/cases?mine=true&tab=open")
            await expect(nav.locator("[aria-current=page]")).to_have_text("Moje sprawy")
            await page.goto(f"{base_url}/cases?status=open")
            await expect(nav.locator("[aria-current=page]")).to_have_text("Sprawy")

            # In English, longer words, still one line.
            await page.goto(f"{base_url}/account")
            await page.select_option("select[name=language]", "en")
            await page.click("button:has-text('Zapisz język')")
            await page.goto(f"{base_url}/reports/financial")
            await expect(group.locator("summary")).to_have_text("Administration")
            await _one_line(page)
            await page.screenshot(path=str(SHOTS / "admin_menu_en.png"))
        finally:
            await browser.close()
