"""Roles in a real browser: an accountant sees only her contracts (lists, search, cases) and a not-found page for
another's contract; an admin deactivates a user, who then cannot log in or use a token; each role's pages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, open_from_menu
from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.embedded.test_contracts_api import _seed
from tests.samples import contract, sole_trader

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "roles"


async def _two_contracts(office: Office) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Anna's contract (Kowalski) and ola's (Nowak), with cases of both."""
    async with office.api() as api:
        kowalski = (await api.post("/api/v1/clients", json=sole_trader())).json()
        nowak = (await api.post("/api/v1/clients", json=sole_trader("Nowak Handel", seed=_seed("731104057")))).json()
        anna_s = (await api.post("/api/v1/contracts", json=contract(kowalski["id"], number="BR/ANNA"))).json()
        ola_s = (await api.post("/api/v1/contracts", json=contract(nowak["id"], number="BR/OLA",
                                                                    accountant="ola"))).json()

        async def cases_of_both() -> bool:
            items = (await api.get("/api/v1/cases", params={"limit": 1000})).json()["items"]
            return {c["contract_id"] for c in items} == {str(anna_s["id"]), str(ola_s["id"])}

        await wait_for(cases_of_both, what="cases of both contracts")
    return anna_s, ola_s, nowak


async def _log_in(page: Any, base_url: str, login: str, password: str | None = None) -> None:
    await page.goto(f"{base_url}/login")
    await page.fill("input[name=login]", login)
    await page.fill("input[name=password]", password or f"secret-{login}")
    await page.click("button:has-text('Zaloguj')")


async def test_an_accountant_sees_only_her_contracts_and_a_not_found_page_for_another(base_url: str,
                                                                                      office: Office) -> None:
    from playwright.async_api import async_playwright, expect

    anna_s, ola_s, nowak = await _two_contracts(office)
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="pl-PL")
            await _log_in(page, base_url, "anna")
            await expect(page.locator("header nav")).to_contain_text("Umowy")
            await expect(page.locator("header nav")).not_to_contain_text("Użytkownicy")
            await expect(page.locator("header nav")).not_to_contain_text("Dziennik zmian")

            await page.click("header nav >> text=Umowy")
            rows = page.locator("table tbody tr")
            await expect(rows).to_have_count(1)
            await expect(rows).to_contain_text("BR/ANNA")
            await expect(page.locator("h1")).to_contain_text("(1)")
            await page.screenshot(path=str(SHOTS / "accountant_contracts.png"), full_page=True)

            await page.click("header nav >> text=Klienci")
            await expect(page.locator("#clients tbody tr")).to_have_count(1)
            await expect(page.locator("#clients")).to_contain_text("Jan Kowalski Usługi")
            await page.fill("input[name=q]", "Nowak")
            await page.click("button:has-text('Szukaj')")
            await expect(page.locator("main")).to_contain_text("Brak klientów pasujących do „Nowak”")
            await page.fill("input[name=q]", nowak["nip"])
            await page.click("button:has-text('Szukaj')")
            await expect(page.locator("main")).to_contain_text("Brak klientów")
            await page.screenshot(path=str(SHOTS / "accountant_search.png"), full_page=True)

            await page.goto(f"{base_url}/cases?status=")
            await expect(page.locator("#cases tbody tr").first).to_be_visible()
            await expect(page.locator("#cases")).not_to_contain_text("BR/OLA")
            await page.screenshot(path=str(SHOTS / "accountant_cases.png"), full_page=True)

            answer = await page.goto(f"{base_url}/contracts/{ola_s['id']}")
            assert answer is not None and answer.status == 404
            await expect(page.locator("h1")).to_have_text("Nie znaleziono")
            await expect(page.locator("header .who")).to_contain_text("Anna Nowak")  # in the layout, logged in
            await page.screenshot(path=str(SHOTS / "accountant_not_found.png"), full_page=True)
            for path in (f"/clients/{nowak['id']}",):
                answer = await page.goto(f"{base_url}{path}")
                assert answer is not None and answer.status == 404

            answer = await page.goto(f"{base_url}/contracts/{anna_s['id']}")
            assert answer is not None and answer.status == 200
            await expect(page.locator("h1")).to_contain_text("BR/ANNA")
            await expect(page.locator("main")).not_to_contain_text("Aneks")  # no forms to change it
            await page.screenshot(path=str(SHOTS / "accountant_contract.png"), full_page=True)

            answer = await page.goto(f"{base_url}/clients/new")
            assert answer is not None and answer.status == 403
            await expect(page.locator("h1")).to_have_text("Brak dostępu")
            await page.screenshot(path=str(SHOTS / "accountant_forbidden.png"), full_page=True)
        finally:
            await browser.close()


async def test_an_admin_deactivates_a_user_who_then_cannot_log_in_or_use_a_token(base_url: str,
                                                                                office: Office) -> None:
    from playwright.async_api import async_playwright, expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            admin = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="pl-PL")
            await _log_in(admin, base_url, "admin")
            await open_from_menu(admin, "Użytkownicy")
            await expect(admin.locator("#users tbody tr")).to_have_count(5)
            await admin.screenshot(path=str(SHOTS / "admin_users.png"), full_page=True)

            await admin.click("#users >> text=anna")
            await expect(admin.locator("h1")).to_contain_text("Anna Nowak")
            await admin.fill("input[name=token_name]", "arkusz godzin")
            await admin.click("button:has-text('Wydaj token')")
            token = await admin.locator("#new-token code.secret").inner_text()
            await admin.screenshot(path=str(SHOTS / "admin_user_new_token.png"), full_page=True)
            async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as api:
                assert (await api.get("/api/v1/me")).json()["login"] == "anna"

            anna = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="pl-PL")
            await _log_in(anna, base_url, "anna")
            await expect(anna.locator("header .who")).to_contain_text("Anna Nowak")

            await admin.click("button:has-text('Dezaktywuj konto')")
            await expect(admin.locator("h1")).to_contain_text("nieaktywne")
            await expect(admin.locator("#tokens")).to_contain_text("Brak tokenów.")
            await admin.screenshot(path=str(SHOTS / "admin_user_deactivated.png"), full_page=True)

            await anna.reload()  # her open session ended with the deactivation
            await expect(anna.locator("h1")).to_have_text("Terminarz")
            assert anna.url.endswith("/login")
            await _log_in(anna, base_url, "anna")
            await expect(anna.locator("p.error")).to_have_text("Nieprawidłowy login lub hasło.")
            await anna.screenshot(path=str(SHOTS / "deactivated_login.png"), full_page=True)
            async with httpx.AsyncClient(base_url=base_url) as api:
                for bearer in (token, office.tokens["anna"]):
                    refused = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {bearer}"})
                    assert refused.status_code == 401

            await open_from_menu(admin, "Dziennik zmian")
            await admin.select_option("select[name=login]", "admin")
            await admin.click("button:has-text('Pokaż')")
            await expect(admin.locator("#audit")).to_contain_text("user.deactivate")
            await expect(admin.locator("#audit")).to_contain_text("token.create")
            await admin.screenshot(path=str(SHOTS / "admin_audit_filtered.png"), full_page=True)
        finally:
            await browser.close()


@pytest.mark.parametrize("role", ["admin", "manager", "accountant", "payroll"])
async def test_each_roles_pages_in_the_layout(base_url: str, office: Office, role: str) -> None:
    """What each role sees of the menu and its pages, styled; screenshots in test-artifacts/roles/."""
    from playwright.async_api import async_playwright, expect

    login = {"admin": "admin", "manager": "maria", "accountant": "anna", "payroll": "piotr"}[role]
    anna_s, _, _ = await _two_contracts(office)
    office_menu = {"admin": ["Raporty"], "manager": ["Raporty"], "accountant": [], "payroll": []}
    administration = {"admin": ["Nieobecności", "Poczta wychodząca", "Reguły", "Użytkownicy", "Dziennik zmian",
                                "Komunikaty nieobsłużone"],
                      "manager": ["Nieobecności", "Poczta wychodząca", "Reguły", "Dziennik zmian"],
                      "accountant": ["Poczta wychodząca", "Reguły"], "payroll": ["Poczta wychodząca", "Reguły"]}
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="pl-PL")
            await _log_in(page, base_url, login)
            await expect(page.locator("header nav > a")).to_have_text(
                ["Pulpit", "Moje sprawy", "Sprawy", "Klienci", "Umowy", "Zawiadomienia", *office_menu[role]])
            await expect(page.locator("header nav details a")).to_have_text(administration[role])
            for name, path in (("cases", "/cases?status="), ("contracts", "/contracts"), ("account", "/account"),
                               ("contract", f"/contracts/{anna_s['id']}"), ("audit", "/audit"),
                               ("users", "/users"), ("reports", "/reports/financial"), ("absences", "/absences"),
                               ("dead_letters", "/system/dead-letters")):
                answer = await page.goto(f"{base_url}{path}")
                assert answer is not None
                assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 248, 251)"
                await page.screenshot(path=str(SHOTS / f"{role}_{name}.png"), full_page=True)
                if name == "contract":
                    assert answer.status == (404 if role == "payroll" else 200)
                if name == "audit":
                    assert answer.status == (200 if role in ("admin", "manager") else 403)
                if name in ("users", "dead_letters"):
                    assert answer.status == (200 if role == "admin" else 403)
                if name in ("reports", "absences"):
                    assert answer.status == (200 if role in ("admin", "manager") else 403)
        finally:
            await browser.close()
