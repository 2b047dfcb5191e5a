"""Every page of the web UI in Chromium under the Content-Security-Policy: styled, and nothing blocked."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.samples import contract, sole_trader

pytestmark = pytest.mark.browser


async def test_every_page_renders_styled_with_nothing_blocked_by_the_policy(base_url: str, office: Office) -> None:
    from playwright.async_api import async_playwright

    async with office.api() as api:
        client = (await api.post("/api/v1/clients", json=sole_trader())).json()
        signed = (await api.post("/api/v1/contracts", json=contract(client["id"]))).json()

        async def a_case() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = (await api.get("/api/v1/cases")).json()["items"]
            return items

        case = (await wait_for(a_case, what="a case from the contract"))[0]
    pages = ["/cases", f"/cases/{case['id']}", "/clients", "/clients/new", f"/clients/{client['id']}",
             "/contracts", f"/contracts/new?client_id={client['id']}", f"/contracts/{signed['id']}", "/imports",
             "/mail", "/notices", "/notices/new", f"/clients/{client['id']}/edit", "/notice-templates?name=notice",
             "/rules", "/cases/no-such-case", "/account", "/users", "/users/new", "/users/anna",
             "/audit?action=contract.&since=2026-11-01&until=", "/", "/reports", "/reports/financial",
             "/reports/execution", "/reports/overdue", "/reports/workload", "/payments"]

    ARTIFACTS.mkdir(exist_ok=True)
    blocked: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="pl-PL")
            page.on("console", lambda message: blocked.append(f"{page.url}: {message.text}")
                    if "Content Security Policy" in message.text else None)
            await page.goto(f"{base_url}/login")
            assert await _styled(page), "the login page has no stylesheet"
            await page.screenshot(path=str(ARTIFACTS / "login.png"), full_page=True)
            await page.fill("input[name=login]", "admin")
            await page.fill("input[name=password]", "secret-admin")
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{base_url}/")  # the dashboard
            await page.goto(f"{base_url}/cases")
            await page.screenshot(path=str(ARTIFACTS / "cases.png"), full_page=True)
            for path in pages:
                await page.goto(f"{base_url}{path}")
                assert await _styled(page), f"{path} is not styled"
            # A form whose token went stale (here: logged out in another tab) gets a page, in the layout.
            await page.goto(f"{base_url}/clients/new")
            await page.context.clear_cookies()
            await page.click("button:has-text('Zapisz klienta')")
            await page.get_by_role("heading", name="Formularz wygasł").wait_for()
            assert await _styled(page)
            await page.screenshot(path=str(ARTIFACTS / "form_expired.png"), full_page=True)
        finally:
            await browser.close()
    assert blocked == []


async def _styled(page: Any) -> bool:
    """The stylesheet applied: the page background is the layout's, not the browser's white."""
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    return bool(background == "rgb(246, 248, 251)")
