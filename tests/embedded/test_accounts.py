"""Staff accounts: an admin creates, edits, deactivates and reactivates users, resets passwords and issues and
revokes tokens; everyone changes their own password; each change ends what it must at once and is audited."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from services.gateway.auth import SESSION_COOKIE
from services.gateway.models import audit_log
from tests.embedded.conftest import Office
from tests.embedded.web import browser, csrf_of, log_in, post_form

SHOWN = re.compile(r'<code class="secret">([^<]+)</code>')


async def _audit(office: Office, action: str) -> list[tuple[str, str, Any]]:
    async with office.system.gateway.ctx.db.reading() as session:
        rows = await session.execute(select(audit_log.c.login, audit_log.c.target, audit_log.c.detail)
                                     .where(audit_log.c.action == action).order_by(audit_log.c.id))
        return [(r.login, r.target, r.detail) for r in rows]


async def _logged_in(office: Office, login: str, password: str | None = None) -> httpx.AsyncClient:
    """A browser logged in as `login` (close it with `aclose`)."""
    client = browser(office)
    answer = await log_in(client, login, password)
    assert answer.status_code == 303, answer.text
    return client


@asynccontextmanager
async def logged_in(office: Office, login: str, password: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    client = await _logged_in(office, login, password)
    try:
        yield client
    finally:
        await client.aclose()


async def test_an_admin_creates_a_user_who_logs_in_with_the_password_shown_once(office: Office) -> None:
    async with logged_in(office, "admin") as admin:
        created = await post_form(admin, "/users/new", "/users/new", {
            "login": "ewa", "name": "Ewa Nowak", "email": "ewa@biuro.example", "role": "payroll"})
        taken = await post_form(admin, "/users/new", "/users/new", {
            "login": "ewa", "name": "Ewa Druga", "email": "ewa2@biuro.example", "role": "payroll"})
        again = await admin.get("/users/ewa")
        listed = await admin.get("/users")
    assert created.status_code == 201, created.text
    password = SHOWN.findall(created.text)[0]
    assert password not in again.text and SHOWN.search(again.text) is None  # shown once
    assert taken.status_code == 422 and "Ten login jest już zajęty." in taken.text
    assert "Ewa Nowak" in listed.text
    async with logged_in(office, "ewa", password) as ewa:
        mine = await ewa.get("/cases")
        users_page = await ewa.get("/users")
    assert mine.status_code == 200 and "Ewa Nowak" in mine.text
    assert users_page.status_code == 403 and "Brak dostępu" in users_page.text  # a page in the layout, not JSON
    assert users_page.headers["content-type"].startswith("text/html")
    assert await _audit(office, "user.create") == [
        ("admin", "user:ewa", {"role": "payroll", "name": "Ewa Nowak", "email": "ewa@biuro.example"})]


async def test_a_deactivated_user_cannot_log_in_or_use_a_session_or_token_until_reactivated(office: Office) -> None:
    anna = await _logged_in(office, "anna")
    async with office.api("anna") as anna_api, logged_in(office, "admin") as admin:
        assert (await anna.get("/cases")).status_code == 200
        assert (await anna_api.get("/api/v1/me")).status_code == 200
        deactivated = await post_form(admin, "/users/anna", "/users/anna/deactivate", {})
        assert deactivated.status_code == 303
        assert (await anna.get("/cases")).status_code == 303  # the open session ended at once
        assert (await anna_api.get("/api/v1/me")).status_code == 401  # and the token
        assert (await log_in(browser(office), "anna")).status_code == 401
        page = await admin.get("/users/anna")
        assert "nieaktywne" in page.text and "Brak tokenów." in page.text

        reactivated = await post_form(admin, "/users/anna", "/users/anna/reactivate", {})
        assert reactivated.status_code == 303
        assert (await log_in(browser(office), "anna")).status_code == 303
        assert (await anna_api.get("/api/v1/me")).status_code == 401  # revoked tokens stay revoked
    await anna.aclose()
    assert [(t, d) for _, t, d in await _audit(office, "user.deactivate")] == [("user:anna", {"tokens_revoked": 1})]
    assert [t for _, t, _ in await _audit(office, "user.reactivate")] == ["user:anna"]


async def test_an_admin_cannot_deactivate_themselves_or_change_their_own_role(office: Office) -> None:
    async with office.api() as api:
        self_off = await api.patch("/api/v1/users/admin", json={"active": False})
        demoted = await api.patch("/api/v1/users/admin", json={"role": "manager"})
        renamed = await api.patch("/api/v1/users/admin", json={"name": "Administratorka"})
    assert self_off.status_code == demoted.status_code == 422
    assert [e["field"] for e in self_off.json()["errors"]] == ["active"]
    assert [e["field"] for e in demoted.json()["errors"]] == ["role"]
    assert renamed.status_code == 200 and renamed.json()["name"] == "Administratorka"


async def test_a_new_role_takes_effect_at_once_in_an_open_session(office: Office) -> None:
    async with logged_in(office, "anna") as anna, office.api() as api:
        assert (await anna.get("/clients/new")).status_code == 403
        changed = await api.patch("/api/v1/users/anna", json={"role": "manager", "email": "anna.n@biuro.example"})
        assert changed.status_code == 200, changed.text
        assert (await anna.get("/clients/new")).status_code == 200
        bad = await api.patch("/api/v1/users/anna", json={"email": "nie-mail", "name": " "})
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"email", "name"}
    assert await _audit(office, "user.update") == [("admin", "user:anna", {
        "role": {"from": "accountant", "to": "manager"},
        "email": {"from": "anna@biuro.example", "to": "anna.n@biuro.example"}})]


async def test_a_reset_password_is_shown_once_replaces_the_old_one_and_ends_sessions(office: Office) -> None:
    anna = await _logged_in(office, "anna")
    async with logged_in(office, "admin") as admin:
        reset = await post_form(admin, "/users/anna", "/users/anna/password-reset", {})
    assert reset.status_code == 200
    password = SHOWN.findall(reset.text)[0]
    assert (await anna.get("/cases")).status_code == 303
    await anna.aclose()
    assert (await log_in(browser(office), "anna")).status_code == 401  # the old password
    assert (await log_in(browser(office), "anna", password)).status_code == 303
    async with office.api() as api:
        by_api = await api.post("/api/v1/users/anna/password-reset")
    assert by_api.status_code == 200 and by_api.json()["password"] != password
    assert [t for _, t, _ in await _audit(office, "user.password_reset")] == ["user:anna", "user:anna"]


async def test_a_user_changes_their_own_password_and_every_session_of_theirs_ends(office: Office) -> None:
    laptop, phone = await _logged_in(office, "ola"), await _logged_in(office, "ola")
    account = await laptop.get("/account")
    token = csrf_of(account)
    wrong = await laptop.post("/account/password", data={"csrf_token": token, "current": "zgadnij",
                                                          "new": "nowe-dlugie-haslo", "repeat": "nowe-dlugie-haslo"})
    short = await laptop.post("/account/password", data={"csrf_token": token, "current": "secret-ola",
                                                          "new": "krótkie", "repeat": "krótkie"})
    typo = await laptop.post("/account/password", data={"csrf_token": token, "current": "secret-ola",
                                                         "new": "nowe-dlugie-haslo", "repeat": "nowe-dlugie-hasl"})
    assert wrong.status_code == short.status_code == typo.status_code == 422
    assert "To nie jest Twoje obecne hasło." in wrong.text
    assert "co najmniej 10 znaków" in short.text
    assert "Hasła się różnią." in typo.text
    changed = await laptop.post("/account/password", data={"csrf_token": token, "current": "secret-ola",
                                                            "new": "nowe-dlugie-haslo", "repeat": "nowe-dlugie-haslo"})
    assert changed.status_code == 303 and changed.headers["location"] == "/login?changed=true"
    assert f'{SESSION_COOKIE}=""' in changed.headers["set-cookie"] or "Max-Age=0" in changed.headers["set-cookie"]
    assert (await phone.get("/cases")).status_code == 303  # the other device is logged out too
    await laptop.aclose()
    await phone.aclose()
    assert (await log_in(browser(office), "ola")).status_code == 401
    assert (await log_in(browser(office), "ola", "nowe-dlugie-haslo")).status_code == 303
    async with office.api("ola") as api:
        by_api = await api.put("/api/v1/me/password", json={"current": "nowe-dlugie-haslo", "new": "ola"})
        done = await api.put("/api/v1/me/password", json={"current": "nowe-dlugie-haslo", "new": "trzecie-haslo-ola"})
    assert by_api.status_code == 422 and {e["field"] for e in by_api.json()["errors"]} == {"new"}
    assert done.status_code == 204
    assert [t for _, t, _ in await _audit(office, "user.password_change")] == ["user:ola", "user:ola"]


async def test_a_tokens_last_use_is_recorded_to_the_minute_not_on_every_call(office: Office) -> None:
    """Recording each call's time made every API call a write transaction; the token list shows the last use to
    the minute, and that is what is recorded."""
    async def last_used(api: httpx.AsyncClient, token_id: int) -> str | None:
        listed = (await api.get("/api/v1/users/piotr/tokens")).json()["items"]
        used: str | None = next(t for t in listed if t["id"] == token_id)["last_used_at"]
        return used

    async with office.api() as api:
        issued = (await api.post("/api/v1/users/piotr/tokens", json={"name": "kadry"})).json()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.gateway.app),
                                     base_url="http://gateway",
                                     headers={"Authorization": f"Bearer {issued['token']}"}) as new:
            assert await last_used(api, issued["id"]) is None
            assert (await new.get("/api/v1/me")).status_code == 200
            first = await last_used(api, issued["id"])
            assert first == office.clock.now().isoformat()
            office.clock.advance(timedelta(seconds=59))
            assert (await new.get("/api/v1/me")).status_code == 200
            assert await last_used(api, issued["id"]) == first
            office.clock.advance(timedelta(seconds=1))
            assert (await new.get("/api/v1/me")).status_code == 200
            assert await last_used(api, issued["id"]) == office.clock.now().isoformat()


async def test_api_tokens_are_shown_once_listed_with_their_use_and_revocable(office: Office) -> None:
    async with office.api() as api:
        issued = await api.post("/api/v1/users/piotr/tokens", json={"name": "eksport do kadr"})
        assert issued.status_code == 201, issued.text
        token = issued.json()["token"]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.gateway.app),
                                     base_url="http://gateway", headers={"Authorization": f"Bearer {token}"}) as new:
            assert (await new.get("/api/v1/me")).json()["login"] == "piotr"
            listed = (await api.get("/api/v1/users/piotr/tokens")).json()["items"]
            assert token not in str(listed)
            used = next(t for t in listed if t["id"] == issued.json()["id"])
            assert used["name"] == "eksport do kadr" and used["last_used_at"] is not None
            revoked = await api.delete(f"/api/v1/users/piotr/tokens/{used['id']}")
            again = await api.delete(f"/api/v1/users/piotr/tokens/{used['id']}")
            assert revoked.status_code == 204 and again.status_code == 404
            assert (await new.get("/api/v1/me")).status_code == 401
    # One's own tokens are listed on one's account page and can be revoked there.
    async with logged_in(office, "piotr") as piotr, office.api("piotr") as piotr_api:
        account = await piotr.get("/account")
        assert "test" in account.text  # the token the test office issued
        own = re.search(r'action="/account/tokens/(\d+)/revoke"', account.text)
        assert own is not None
        gone = await post_form(piotr, "/account", f"/account/tokens/{own[1]}/revoke", {})
        assert gone.status_code == 303
        assert (await piotr_api.get("/api/v1/me")).status_code == 401
    assert [t for _, t, _ in await _audit(office, "token.create")] == ["user:piotr"]
    assert [(login, t) for login, t, _ in await _audit(office, "token.revoke")] == [
        ("admin", "user:piotr"), ("piotr", "user:piotr")]
