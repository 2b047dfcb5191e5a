"""The UI in English: a manager switches her language on her account page; the menu, a case list, a domain error
of a form (a wrong NIP), amounts and dates are English; an amount typed the English way is read as one; the date
picker speaks English and fills the field; the login page has its own switch."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.browser.test_accessibility import WCAG_A_AA
from tests.browser.test_roles_ui import _log_in
from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.samples import contract, nip, sole_trader

pytestmark = pytest.mark.browser
POLISH_MONTHS = ["styczeń", "luty", "marzec", "kwiecień", "maj", "czerwiec", "lipiec", "sierpień", "wrzesień",
                 "październik", "listopad", "grudzień"]
POLISH_MONTHS_OF = ["stycznia", "lutego", "marca", "kwietnia", "maja", "czerwca", "lipca", "sierpnia", "września",
                    "października", "listopada", "grudnia"]


async def _a_contract_with_cases(office: Office) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    async with office.api() as api:
        client = (await api.post("/api/v1/clients", json=sole_trader())).json()
        signed = (await api.post("/api/v1/contracts", json=contract(client["id"]))).json()

        async def cases() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = (await api.get("/api/v1/cases", params={"limit": 1000})).json()["items"]
            return items

        return signed, await wait_for(cases, what="the contract's cases")


async def test_a_manager_works_in_english(base_url: str, office: Office) -> None:
    from axe_playwright_python.async_playwright import Axe
    from playwright.async_api import async_playwright, expect

    signed, cases = await _a_contract_with_cases(office)
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="pl-PL")
            await _log_in(page, base_url, "maria")
            await expect(page.locator("header nav")).to_contain_text("Sprawy")  # Polish by default
            today = date.fromisoformat(await page.get_attribute("body", "data-today") or "")
            await page.goto(f"{base_url}/contracts/{signed['id']}")  # the date picker in Polish, from the catalog
            polish = page.locator("form[action$='/annex'] #field-effective_from")
            await expect(polish.locator(".datepicker-toggle")).to_have_attribute("aria-label",
                                                                                 "Wybierz datę z kalendarza")
            await polish.locator(".datepicker-toggle").click()
            await expect(polish.locator(".datepicker-title")).to_have_text(
                f"{POLISH_MONTHS[today.month - 1]} {today.year}")
            await expect(polish.locator("th").first).to_have_text("Pn")
            await expect(polish.locator(f"[data-date='{today.isoformat()}']")).to_have_attribute(
                "aria-label", re.compile(rf", {today.day} {POLISH_MONTHS_OF[today.month - 1]} {today.year}$"))
            await page.keyboard.press("Escape")
            await page.goto(f"{base_url}/account")
            await page.select_option("select[name=language]", "en")
            await page.click("button:has-text('Zapisz język')")

            # The menu, in English, on every page from now on; the page says it is English.
            await expect(page.locator("header nav")).to_contain_text("My cases")
            await expect(page.locator("header nav")).to_contain_text("Clients")
            await expect(page.locator("header nav")).not_to_contain_text("Sprawy")
            assert await page.get_attribute("html", "lang") == "en"

            # A case list: English headings, the rules' English titles, dates day first with slashes.
            await page.click("header nav a[href='/cases']")
            await expect(page.locator("main table")).to_contain_text("Client")
            english_titles = {c["title_en"] for c in cases if c.get("title_en")}
            assert english_titles, "the rules give the cases English titles"
            shown = await page.locator("main table").inner_text()
            assert any(title in shown for title in english_titles), shown[:500]
            due = date.fromisoformat(cases[0]["due"])
            assert due.strftime("%d/%m/%Y") in shown or re.search(r"\b\d\d/\d\d/20\d\d\b", shown), shown[:500]
            await page.screenshot(path=str(ARTIFACTS / "english_cases.png"), full_page=True)

            # A form error from the domain, in English, next to its field.
            await page.goto(f"{base_url}/clients/new")
            wrong = nip("526104057")[:-1] + str((int(nip("526104057")[-1]) + 1) % 10)
            await page.fill("input[name=nip]", wrong)
            await page.click("button:has-text('Save the client')")
            await expect(page.locator("#field-nip .field-error")).to_contain_text("Wrong NIP checksum")

            # Amounts shown and typed the English way; the annex's date picked in an English calendar.
            await page.goto(f"{base_url}/contracts/{signed['id']}")
            await expect(page.locator("main")).to_contain_text("PLN\u00a0800.00 net a month")
            annex = page.locator("form[action$='/annex']")
            await annex.locator("#field-effective_from .datepicker-toggle").click()
            calendar = annex.locator("#field-effective_from [role=dialog]")
            await expect(calendar).to_be_visible()
            await expect(calendar.locator(".datepicker-title")).to_have_text(
                f"{today:%B} {today.year}")  # an English month name
            await expect(calendar.locator("th").first).to_have_text("Mo")  # Monday first
            await expect(annex.locator("#field-effective_from .datepicker-toggle")).to_have_attribute(
                "aria-label", "Choose a date from the calendar")
            await expect(calendar).to_have_attribute("aria-label", "Calendar")
            await expect(calendar.locator(".datepicker-nav").first).to_have_attribute("aria-label", "Previous month")
            await expect(calendar.locator(f"[data-date='{today.isoformat()}']")).to_have_attribute(
                "aria-label", f"{today:%A}, {today.day} {today:%B} {today.year}")  # e.g. Saturday, 28 November 2026
            await expect(calendar.locator(".datepicker-close")).to_have_text("Close")
            await page.screenshot(path=str(ARTIFACTS / "english_datepicker.png"))
            open_picker = (await Axe().run(page, options=WCAG_A_AA)).response["violations"]
            assert open_picker == [], [(v["id"], v["nodes"][0]["html"][:160]) for v in open_picker]
            await page.keyboard.press("ArrowDown")  # a week later, by keyboard
            await page.keyboard.press("Enter")
            await expect(calendar).to_be_hidden()
            picked = today + timedelta(days=7)
            assert await annex.locator("input[name=effective_from]").input_value() == picked.strftime("%d/%m/%Y")
            await annex.locator("input[name=monthly_net]").fill("1,200.00")
            await page.screenshot(path=str(ARTIFACTS / "english_annex.png"), full_page=True)
            await annex.locator("button:has-text('Save the annex')").click()
            await expect(page.locator("main")).to_contain_text(picked.strftime("%d/%m/%Y"))
            await expect(page.locator("main")).to_contain_text("PLN\u00a01,200.00")
        finally:
            await browser.close()
    picked = today + timedelta(days=7)
    async with office.api() as api:
        stored = (await api.get(f"/api/v1/contracts/{signed['id']}")).json()
    annexes = [(v["effective_from"], Decimal(str(v["fee"]["monthly_net"]))) for v in stored["versions"]
               if v["kind"] == "annex"]
    assert annexes == [(picked.isoformat(), Decimal("1200.00"))], stored["versions"]


async def test_the_login_page_switches_its_language_with_a_cookie(base_url: str) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="pl-PL")
            await page.goto(f"{base_url}/login")
            await expect(page.locator("main")).to_contain_text("Zaloguj się, aby zobaczyć swoje sprawy.")
            await page.click("a:has-text('English')")
            await expect(page.locator("main")).to_contain_text("Sign in to see your cases.")
            await page.fill("input[name=login]", "maria")
            await page.fill("input[name=password]", "wrong password")
            await page.click("button:has-text('Sign in')")
            await expect(page.locator("[role=alert]")).to_have_text("Wrong login or password.")
            await page.click("a:has-text('Polski')")
            await expect(page.locator("main")).to_contain_text("Zaloguj się")
        finally:
            await browser.close()
