"""A browser's view of the gateway without a browser: cookies kept, forms posted with their CSRF token."""

from __future__ import annotations

import re

import httpx

from tests.embedded.conftest import Office

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def browser(office: Office, *, address: str = "127.0.0.1", scheme: str = "http") -> httpx.AsyncClient:
    """A cookie-keeping client of the gateway's web UI, calling from `address`."""
    transport = httpx.ASGITransport(app=office.system.gateway.app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url=f"{scheme}://gateway")


def csrf_of(page: httpx.Response) -> str:
    found = CSRF_FIELD.search(page.text)
    assert found, f"no CSRF field on {page.request.url}"
    return found.group(1)


async def log_in(client: httpx.AsyncClient, login: str, password: str | None = None) -> httpx.Response:
    """Open the login page and send the form; the answer (303 to /cases when it worked) is returned."""
    form = await client.get("/login")
    return await client.post("/login", data={"csrf_token": csrf_of(form), "login": login,
                                             "password": password if password is not None else f"secret-{login}"})


async def post_form(client: httpx.AsyncClient, page: str, action: str, data: dict[str, str]) -> httpx.Response:
    """Open `page` and post `data` to `action` with the page's CSRF token, as the page's form would."""
    opened = await client.get(page)
    return await client.post(action, data={"csrf_token": csrf_of(opened), **data}, headers={"Referer": str(
        opened.request.url)})
