"""The contract pages in a real browser: a manager enters a client and a contract and sees its obligations."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.conftest import wait_for
from tests.samples import nip, pesel, regon

pytestmark = pytest.mark.browser


async def test_manager_enters_a_client_and_a_contract_and_sees_its_obligations(base_url: str) -> None:
    from playwright.async_api import async_playwright, expect

    ARTIFACTS.mkdir(exist_ok=True)
    seed = "526104057"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="pl-PL")
            await page.goto(f"{base_url}/login")
            await page.fill("input[name=login]", "maria")
            await page.fill("input[name=password]", "secret-maria")
            await page.click("button:has-text('Zaloguj')")
            await expect(page.locator("header nav")).to_contain_text("Klienci")

            await page.click("header nav >> text=Klienci")
            await page.click("text=Nowy klient")
            await page.fill("input[name=name]", "Jan Kowalski Usługi")
            await page.select_option("select[name=legal_form]", "sole_trader")
            wrong = nip(seed)[:-1] + str((int(nip(seed)[-1]) + 1) % 10)
            await page.fill("input[name=nip]", wrong)
            await page.fill("input[name=regon]", "")  # forgotten
            await page.fill("input[name=pesel]", pesel("8001011234"))
            await page.fill("input[name=street]", "ul. Prosta 20")
            await page.fill("input[name=postal_code]", "0-850")  # a digit short
            await page.fill("input[name=city]", "Warszawa")
            await page.fill("input[name=emails]", "jan@kowalski.example")
            await page.select_option("select[name=books]", "kpir")
            await page.select_option("select[name=income_tax]", "pit_flat")
            await page.select_option("select[name=income_tax_advances]", "monthly")
            await page.select_option("select[name=vat]", "monthly")
            await page.click("button:has-text('Zapisz klienta')")

            # Three wrong fields: three errors at once, in Polish, each next to its field, and nowhere else.
            await expect(page.locator("#field-nip .field-error")).to_contain_text("Błędna suma kontrolna NIP")
            await expect(page.locator("#field-regon .field-error")).to_have_text("Podaj REGON.")
            await expect(page.locator("#field-postal_code .field-error")).to_contain_text("Kod pocztowy ma postać")
            assert await page.locator(".field-error").count() == 3
            assert await page.input_value("input[name=name]") == "Jan Kowalski Usługi"  # nothing typed is lost
            await expect(page.locator("#field-regon .required")).to_have_text("*")  # REGON is marked as required
            await page.screenshot(path=str(ARTIFACTS / "client_form_error.png"), full_page=True)
            await page.fill("input[name=nip]", nip(seed))
            await page.fill("input[name=regon]", regon(seed[:8]))
            await page.fill("input[name=postal_code]", "00-850")
            await page.click("button:has-text('Zapisz klienta')")
            await expect(page.locator("h1")).to_have_text("Jan Kowalski Usługi")
            assert re.search(r"/clients/\d+$", page.url)

            await page.click("text=Nowa umowa")
            await page.fill("input[name=number]", "BR/2026/7")
            await page.fill("input[name=signed_on]", "20.09.2026")  # typed the Polish way
            await page.fill("input[name=start]", "1.10.2026")
            await page.check("input[name=services][value=vat]")
            await page.check("input[name=services][value=payroll]")
            await page.fill("input[name=headcount_limit]", "5")
            await page.fill("input[name=monthly_net]", "1 200,00")  # as a Polish office writes it
            await page.select_option("select[name=accountant]", "anna")
            await page.select_option("select[name=payroll]", "piotr")
            await page.click("button:has-text('Zapisz umowę')")
            await expect(page.locator("h1")).to_contain_text("Umowa BR/2026/7")
            await expect(page.locator("dd", has_text="netto miesięcznie")).to_contain_text("1\u00a0200,00\u00a0zł")
            await expect(page.locator("main")).to_contain_text("01.10.2026")  # the start as typed, DD.MM.YYYY

            obligations = page.locator("#obligations")

            async def vat_return_planned() -> bool:
                if await obligations.locator("td", has_text="JPK_V7M").count():
                    return True
                await page.reload()  # the plan follows contract.created asynchronously
                return False

            await wait_for(vat_return_planned, what="a JPK_V7M row among the contract's obligations")
            await expect(page.locator("#obligations")).to_contain_text("Obowiązki na najbliższe 12 miesięcy")
            await expect(page.locator("table.versions")).to_contain_text("Kadry i płace (do 5 os.)")
            await page.screenshot(path=str(ARTIFACTS / "contract_page.png"), full_page=True)
        finally:
            await browser.close()
