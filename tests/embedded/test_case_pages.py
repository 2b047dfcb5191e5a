"""The case pages without a browser: forms with their CSRF token, refusals shown on the page, a case outside the
caller's contracts a not-found page, a manager's reopen, the one-off case form and the "my cases" counts."""

from __future__ import annotations

import html
import re

from tests.embedded.conftest import Office
from tests.embedded.test_case_lifecycle import REQUIRED, vat_case
from tests.embedded.web import browser, csrf_of, log_in, post_form


async def test_an_accountant_gets_a_not_found_page_for_a_case_outside_her_contracts(office: Office) -> None:
    case = await vat_case(office)  # anna's
    async with browser(office) as ola:
        assert (await log_in(ola, "ola")).status_code == 303
        page = await ola.get(f"/cases/{case['id']}")
        listed = await ola.get("/cases?mine=true&tab=open")
        form = await ola.get("/cases")
        posted = await ola.post(f"/cases/{case['id']}/start", data={"csrf_token": csrf_of(form)})
    assert page.status_code == 404 and case["title"] not in page.text
    assert listed.status_code == 200 and case["title"] not in listed.text
    assert posted.status_code == 404
    async with office.api("anna") as api:
        assert (await api.get(f"/api/v1/cases/{case['id']}")).json()["status"] == "open"


async def test_the_case_page_shows_refusals_and_a_manager_reopens(office: Office) -> None:
    case = await vat_case(office)
    url = f"/cases/{case['id']}"
    async with browser(office) as anna:
        await log_in(anna, "anna")
        mine = await anna.get("/cases?mine=true&tab=overdue")
        assert case["title"] in mine.text and 'data-status="open">1<' in mine.text
        refused = await post_form(anna, url, f"{url}/finish", {"amount_vat": "12,50"})
        assert refused.status_code == 409 and REQUIRED in refused.text
        wrong = await post_form(anna, url, f"{url}/not-applicable", {"reason": ""})
        assert wrong.status_code == 422 and "reason" in wrong.text
        page = await anna.get(url)
        index = next(i for i, e in enumerate(case["checklist"]) if e["item"] == REQUIRED)
        ticked = await post_form(anna, url, f"{url}/checklist/{index}", {"done": "true"})
        assert ticked.status_code == 303
        bad_amount = await post_form(anna, url, f"{url}/finish", {"amount_vat": "dwanaście"})
        assert bad_amount.status_code == 422 and 'value="dwanaście"' in bad_amount.text
        done = await post_form(anna, url, f"{url}/finish", {"amount_vat": "12,50"})
        assert done.status_code == 303
        page = await anna.get(url)
        assert "zakończona" in page.text and "12,50 zł" in page.text and 'id="reopen"' not in page.text
        commented = await post_form(anna, url, f"{url}/comments", {"text": "Zapłacone przez klienta."})
        assert commented.status_code == 303
        upo = b"<?xml version='1.0'?><UPO/>"
        files = await anna.post(f"{url}/attachments", files={
            "csrf_token": (None, csrf_of(page)), "kind": (None, "upo"), "file": ("upo.xml", upo)})
        assert files.status_code == 303
        page = await anna.get(url)
        assert "Zapłacone przez klienta." in page.text and "upo.xml" in page.text
        attachment_id = page.text.split(f'href="{url}/attachments/')[1].split('"')[0]
        download = await anna.get(f"{url}/attachments/{attachment_id}")
        assert download.status_code == 200 and download.content == upo
    async with browser(office) as maria:
        await log_in(maria, "maria")
        page = await maria.get(url)
        assert 'id="reopen"' in page.text
        reopened = await post_form(maria, url, f"{url}/reopen", {"reason": "korekta"})
        assert reopened.status_code == 303
        page = await maria.get(url)
        assert "w toku" in page.text and "wznowiona" in page.text


async def test_staff_make_a_one_off_case_from_the_contract_page(office: Office) -> None:
    case = await vat_case(office)
    form_url = f"/contracts/{case['contract_id']}/cases/new"
    async with browser(office) as anna:
        await log_in(anna, "anna")
        contract_page = await anna.get(f"/contracts/{case['contract_id']}")
        assert form_url in contract_page.text
        missing = await post_form(anna, form_url, form_url, {"title": "VAT-R", "due": ""})
        assert missing.status_code == 422 and "To pole jest wymagane." in missing.text
        made = await post_form(anna, form_url, form_url, {"title": "Aktualizacja VAT-R", "due": "2026-12-15",
                                                          "checklist": "Przygotuj VAT-R\nWyślij"})
        assert made.status_code == 303
        page = await anna.get(made.headers["location"])
    assert "Aktualizacja VAT-R" in page.text and "ręcznie" in page.text and "Przygotuj VAT-R" in page.text
    assert "15.12.2026" in page.text


async def test_the_case_list_pages_forward_and_back_keeping_its_filters(office: Office) -> None:
    case = await vat_case(office)
    form_url = f"/contracts/{case['contract_id']}/cases/new"
    async with browser(office) as maria:
        await log_in(maria, "maria")
        for title in ("Aktualizacja VAT-R", "Zgłoszenie CRBR"):  # open cases beside the VAT one
            made = await post_form(maria, form_url, form_url, {"title": title, "due": "2026-12-15"})
            assert made.status_code == 303
        first = await maria.get("/cases?tab=open&sort=due&limit=1")
        assert first.status_code == 200, first.text[:500]
        following = re.search(r'href="([^"]+)" rel="next"', first.text)
        assert following, "no link to the next page"
        second = await maria.get(html.unescape(following.group(1)))
        back = re.search(r'href="([^"]+)" rel="prev"', second.text)
    assert second.status_code == 200 and back
    # The filters travel with the page; the first page is the one without an offset.
    assert "tab=open" in following.group(1) and "sort=due" in following.group(1) and "offset=1" in following.group(1)
    assert "tab=open" in back.group(1) and "offset" not in back.group(1)
