"""A client opens the link from the notice mail in Chromium on a phone-sized screen, sees the amounts and
confirms; the notice then shows as confirmed, with the time, through the notifier's API, and the accountant sees
"potwierdzone" with the time on the case's page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn

from services.common.messages import CASE_COMPLETED
from services.common.runtime import INTERNAL_TOKEN_HEADER
from services.notifier import jobs
from tests.browser.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.conftest import ROOT, CapturedMail, free_port, wait_for
from tests.embedded.conftest import Office, open_office
from tests.notice_samples import case_completed, envelope, parts
from tests.samples import contract, sole_trader

pytestmark = pytest.mark.browser


@pytest.fixture
async def served(tmp_path: Path, smtp_server: tuple[str, int, CapturedMail]) -> AsyncIterator[tuple[Office, str]]:
    """The embedded office on a real port, which is also the public address its links point to."""
    require_chromium()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with open_office(tmp_path, rules_dir=ROOT / "rules", smtp_host=smtp_server[0], smtp_port=smtp_server[1],
                           public_url=base, mail_poll_seconds=0.2) as office:
        server = uvicorn.Server(uvicorn.Config(office.system.gateway.app, host="127.0.0.1", port=port,
                                               lifespan="off", log_level="warning"))
        task = asyncio.create_task(server.serve())
        await wait_for(lambda: server.started, what="the gateway's HTTP server")
        try:
            yield office, base
        finally:
            server.should_exit = True
            await task


async def test_a_client_confirms_from_the_mail_on_a_phone(
    served: tuple[Office, str], smtp_server: tuple[str, int, CapturedMail]
) -> None:
    from playwright.async_api import async_playwright, expect

    office, base = served
    mail = smtp_server[2]
    async with office.api() as api:
        body = sole_trader("Jan Kowalski Usługi")
        body["contact_emails"] = ["jan@kowalski.example"]
        client = (await api.post("/api/v1/clients", json=body)).json()
        signed = (await api.post("/api/v1/contracts", json=contract(client["id"]))).json()

        async def vat_case() -> dict[str, str] | None:
            items = (await api.get("/api/v1/cases", params={"contract_id": signed["id"]})).json()["items"]
            return next((c for c in items if c["code"] == "JPK_V7M" and c["period"] == "2026-10"), None)

        case = await wait_for(vat_case, what="the October VAT case")
    notifier = office.system.runtimes["notifier"]
    await office.system.bus.publish(envelope(CASE_COMPLETED, case_completed(
        case["id"], str(signed["id"]), str(client["id"]), client_name="Jan Kowalski Usługi", amount="1234.56",
        due=date.fromisoformat(case["due"]))))

    async def drafted() -> bool:
        async with notifier_api(office) as api:
            return bool((await api.get("/notices", params={"case_id": case["id"]})).json()["items"])

    await wait_for(drafted, what="the draft notice")
    office.clock.set(datetime(2026, 11, 28, 14, 0, tzinfo=UTC))
    await jobs.tick(notifier.ctx)
    [message] = await wait_for(lambda: mail.to("jan@kowalski.example"), what="the notice mail")
    html = parts(message)["html"]
    link = html.split('href="', 1)[1].split('"', 1)[0]  # the mail's button
    assert link.startswith(f"{base}/confirm/")

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, locale="pl-PL")
            await page.goto(link)
            text = (await page.locator("main").inner_text()).replace("\u00a0", " ")
            assert "1 234,56 zł" in text and "25.11.2026" in text and "Tytuł przelewu" in text
            button = page.get_by_role("button", name="Potwierdzam zapoznanie się")
            box = await button.bounding_box()
            assert box is not None and box["width"] >= 300  # a thumb-sized button across a phone's screen
            await page.screenshot(path=str(ARTIFACTS / "notice_link_phone.png"), full_page=True)
            await button.click()
            await expect(page.locator("#state")).to_contain_text("Potwierdzone 28.11.2026, 15:00")
            await page.screenshot(path=str(ARTIFACTS / "notice_link_confirmed.png"), full_page=True)

            staff = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="pl-PL")
            await staff.goto(f"{base}/login")
            await staff.fill("input[name=login]", "anna")
            await staff.fill("input[name=password]", "secret-anna")
            async with staff.expect_navigation():
                await staff.click("button:has-text('Zaloguj')")
            await staff.goto(f"{base}/cases/{case['id']}")
            await expect(staff.locator("#case-notices")).to_contain_text("potwierdzone 28.11.2026 15:00")
            await staff.screenshot(path=str(ARTIFACTS / "notice_confirmed_on_case.png"), full_page=True)
        finally:
            await browser.close()

    async with notifier_api(office) as api:
        [notice] = (await api.get("/notices", params={"case_id": case["id"]})).json()["items"]
        proof = (await api.get(f"/notices/{notice['id']}")).json()["proof"]
    assert notice["status"] == "confirmed" and notice["confirmed_at"] == "2026-11-28T14:00:00+00:00"
    assert [p["event"] for p in proof if p["event"] in ("opened", "confirmed")] == ["opened", "confirmed"]
    assert all("Chrome" in p["user_agent"] for p in proof if p["event"] in ("opened", "confirmed"))


def notifier_api(office: Office) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.runtimes["notifier"].app),
                             base_url="http://notifier",
                             headers={INTERNAL_TOKEN_HEADER: office.system.settings.internal_token})
