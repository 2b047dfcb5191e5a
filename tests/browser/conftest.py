"""Browser tests: the embedded gateway served over HTTP, driven by Debian's Chromium through Playwright."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.conftest import free_port, wait_for
from tests.embedded.conftest import Office, office  # noqa: F401  (the embedded system fixture)

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"Chromium is not installed at {CHROMIUM} (Debian package `chromium`)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
async def base_url(office: Office) -> AsyncIterator[str]:  # noqa: F811
    """The embedded gateway served over HTTP on a free port, in the test's event loop."""
    require_chromium()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(office.system.gateway.app, host="127.0.0.1", port=port,
                                           lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started, what="the gateway's HTTP server")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def log_in(page: Any, base_url: str, login: str) -> None:
    """Log in through the form as a person does (password `secret-<login>`, as tests/embedded makes them)."""
    await page.goto(f"{base_url}/login")
    await page.fill("input[name=login]", login)
    await page.fill("input[name=password]", f"secret-{login}")
    await page.click("button:has-text('Zaloguj')")
    await page.wait_for_url(f"{base_url}/")


@asynccontextmanager
async def logged_in_page(base_url: str, login: str) -> AsyncIterator[Any]:
    """Chromium with one wide page in Polish, logged in as `login`; the browser is closed afterwards."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(viewport={"width": 1400, "height": 900}, locale="pl-PL")).new_page()
            await log_in(page, base_url, login)
            yield page
        finally:
            await browser.close()


async def open_from_menu(page: Any, label: str) -> None:
    """Open a menu entry as a person does: on the menu's line, or under "Administracja" (opened first)."""
    entry = page.locator("header nav").get_by_role("link", name=label, exact=True)
    if not await entry.is_visible():
        await page.locator("header nav details > summary").click()
    await entry.click()
