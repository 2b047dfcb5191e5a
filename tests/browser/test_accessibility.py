"""Accessibility: every page of the navigation, and an object page of each kind, for each role, has no WCAG 2.1
level A or AA violation that axe-core (bundled with axe-playwright-python, nothing downloaded) reports."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.test_roles_ui import _log_in, _two_contracts
from tests.embedded.conftest import Office

pytestmark = pytest.mark.browser

WCAG_A_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
             "resultTypes": ["violations"]}


def _described(url: str, violations: list[dict[str, Any]]) -> list[str]:
    return [f"{url}: {v['id']} ({v['impact']}) {v['help']} — e.g. {v['nodes'][0]['html'][:160]}"
            for v in violations]


async def _pages_of(page: Any, base_url: str) -> list[str]:
    """The menu's pages for the logged-in role, then the first contract, client and case it lists."""
    links = await page.locator("header nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    urls = [f"{base_url}{href}" for href in links if href and href.startswith("/")]
    for listing, pattern in (("/contracts", "a[href^='/contracts/']"), ("/clients", "a[href^='/clients/']"),
                             ("/cases", "a[href^='/cases/']")):
        await page.goto(f"{base_url}{listing}")
        hrefs = await page.locator(f"main {pattern}").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))")
        objects = [h for h in hrefs if h and h.rstrip("/").split("/")[-1].isalnum() and not h.endswith("/new")]
        if objects:
            urls.append(f"{base_url}{objects[0]}")
    return ["/".join(u.split("/")) for u in dict.fromkeys(urls)]


async def test_every_page_of_each_role_has_no_wcag_a_or_aa_violation(base_url: str, office: Office) -> None:
    from axe_playwright_python.async_playwright import Axe
    from playwright.async_api import async_playwright

    await _two_contracts(office)
    axe = Axe()
    found: list[str] = []
    checked = 0
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="pl-PL")
            await page.goto(f"{base_url}/login")
            found += _described("/login", (await axe.run(page, options=WCAG_A_AA)).response["violations"])
            # The checker itself: an input without a label on the same page is reported.
            await page.evaluate("document.querySelector('main').append(document.createElement('input'))")
            control = (await axe.run(page, options=WCAG_A_AA)).response["violations"]
            assert "label" in {v["id"] for v in control}, control
            for login in ("admin", "maria", "anna", "piotr"):
                await page.context.clear_cookies()
                await _log_in(page, base_url, login)
                for url in await _pages_of(page, base_url):
                    await page.goto(url)
                    results = await axe.run(page, options=WCAG_A_AA)
                    found += _described(f"{login} {url.removeprefix(base_url)}", results.response["violations"])
                    checked += 1
        finally:
            await browser.close()
    assert checked >= 20, f"only {checked} pages were checked"
    assert not found, "accessibility violations:\n" + "\n".join(found)
