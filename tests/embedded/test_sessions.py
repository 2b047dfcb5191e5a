"""Web sessions live on the server: no forged cookie, logout and deactivation end them, they expire, CSRF."""

from __future__ import annotations

import json
from base64 import b64encode
from datetime import timedelta

import httpx
from itsdangerous import TimestampSigner
from sqlalchemy import update

from services.gateway.auth import SESSION_COOKIE
from services.gateway.models import users
from tests.embedded.conftest import Office
from tests.embedded.web import browser, csrf_of, log_in, post_form
from tests.samples import sole_trader


def starlette_cookie(data: dict[str, str], secret_key: str) -> str:
    """A session cookie as Starlette's SessionMiddleware signs it: base64 JSON, timestamp, HMAC."""
    return TimestampSigner(secret_key).sign(b64encode(json.dumps(data).encode())).decode()


async def test_a_session_cookie_signed_with_a_known_key_opens_nothing(office: Office) -> None:
    for key in ("terminarz-dev-secret-change-me", office.system.settings.secret_key or ""):
        forged = starlette_cookie({"login": "admin", "csrf": "forged"}, key)
        async with browser(office) as client:
            client.cookies.set(SESSION_COOKIE, forged)
            rules = await client.get("/rules")
            preview = await client.post("/rules/preview", data={"csrf_token": "forged"})
        assert rules.status_code == 303 and rules.headers["location"] == "/login"
        assert preview.status_code == 403 and "Formularz wygasł" in preview.text


async def test_after_logout_the_old_cookie_no_longer_works(office: Office) -> None:
    async with browser(office) as client:
        assert (await log_in(client, "maria")).status_code == 303
        cookie = client.cookies[SESSION_COOKIE]
        assert (await client.get("/cases")).status_code == 200
        cases = await client.get("/cases")
        logout = await client.post("/logout", data={"csrf_token": csrf_of(cases)})
    assert logout.status_code == 303 and logout.headers["location"] == "/login"
    async with browser(office) as replay:
        replay.cookies.set(SESSION_COOKIE, cookie)
        again = await replay.get("/cases")
    assert again.status_code == 303 and again.headers["location"] == "/login"


async def test_a_session_ends_after_8_idle_hours_and_7_days_in_any_case(office: Office) -> None:
    async with browser(office) as client:
        assert (await log_in(client, "anna")).status_code == 303
        for _ in range(2):
            office.clock.advance(timedelta(hours=7, minutes=59))
            assert (await client.get("/cases")).status_code == 200  # each request keeps the session alive
        office.clock.advance(timedelta(hours=8, minutes=1))
        assert (await client.get("/cases")).status_code == 303  # 8 hours and more without a request

    async with browser(office) as client:
        assert (await log_in(client, "ola")).status_code == 303
        for _ in range(24):  # 7 days of work, never 8 hours apart
            office.clock.advance(timedelta(hours=7))
            assert (await client.get("/cases")).status_code == 200
        office.clock.advance(timedelta(hours=1))
        assert (await client.get("/cases")).status_code == 303  # more than 7 days after login: log in again


async def test_a_deactivated_user_loses_session_and_api_token_at_once(office: Office) -> None:
    async with browser(office) as client, office.api("anna") as api:
        assert (await log_in(client, "anna")).status_code == 303
        assert (await client.get("/cases")).status_code == 200
        assert (await api.get("/api/v1/cases")).status_code == 200
        async with office.system.gateway.ctx.db.transaction() as session:
            await session.execute(update(users).where(users.c.login == "anna").values(active=False))
        assert (await client.get("/cases")).status_code == 303
        assert (await api.get("/api/v1/cases")).status_code == 401
        assert (await log_in(client, "anna")).status_code == 401


async def test_session_cookie_is_http_only_lax_and_secure_behind_https(office: Office) -> None:
    async with browser(office) as client:
        plain = _session_cookie(await log_in(client, "anna"))
    ctx = office.system.gateway.ctx
    ctx.settings = ctx.settings.model_copy(update={"public_url": "https://biuro.example"})
    async with browser(office, scheme="https") as client:
        secure = _session_cookie(await log_in(client, "anna"))
    for cookie in (plain, secure):
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
        assert len(cookie.split(";")[0]) > len(SESSION_COOKIE) + 40  # a random id, nothing readable
    assert "secure" not in plain.lower()
    assert "; secure" in secure.lower()


def _session_cookie(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return next(c for c in response.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))


async def test_a_form_without_the_right_csrf_token_gets_a_page_and_changes_nothing(office: Office) -> None:
    async with browser(office) as client:
        assert (await log_in(client, "maria")).status_code == 303
        refused = await client.post("/clients/new", data={"csrf_token": "stale", **_client_form()},
                                    headers={"Referer": "http://gateway/clients/new"})
        accepted = await post_form(client, "/clients/new", "/clients/new", _client_form())
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "Formularz wygasł" in refused.text and 'href="/clients/new"' in refused.text
    assert "Maria Kierownik" in refused.text  # in the layout, still logged in
    assert accepted.status_code == 303
    async with office.api() as api:
        assert (await api.get("/api/v1/clients")).json()["total"] == 1  # only the second one


async def test_the_api_takes_bearer_tokens_only_so_csrf_does_not_apply(office: Office) -> None:
    async with browser(office) as client:
        assert (await log_in(client, "admin")).status_code == 303
        with_cookie_only = await client.get("/api/v1/cases")
    async with office.api() as api:
        created = await api.post("/api/v1/clients", json=sole_trader())  # no CSRF token needed
    assert with_cookie_only.status_code == 401
    assert created.status_code == 201


def _client_form() -> dict[str, str]:
    client = sole_trader()
    return {"name": client["name"], "nip": client["nip"], "regon": client["regon"], "pesel": client["pesel"],
            "street": "ul. Prosta 20",
            "postal_code": "00-850", "city": "Warszawa", "emails": "klient@example.com", "legal_form": "sole_trader",
            "books": "kpir", "income_tax": "pit_flat", "income_tax_advances": "monthly", "vat": "monthly",
            "employees": "0"}


