"""Each person's UI language: chosen on one's own account page or by an admin, kept on the account (so every
session and device follows it), audited; the login page's switch sets a cookie for the pages before login."""

from __future__ import annotations

from sqlalchemy import select

from services.gateway.models import audit_log, users
from tests.embedded.conftest import Office
from tests.embedded.web import browser, log_in, post_form


async def _language(office: Office, login: str) -> str:
    async with office.system.gateway.ctx.db.reading() as session:
        return str((await session.execute(select(users.c.language).where(users.c.login == login))).scalar_one())


async def test_a_person_chooses_english_and_every_session_follows(office: Office) -> None:
    assert await _language(office, "anna") == "pl"  # the default
    async with browser(office) as anna:
        await log_in(anna, "anna")
        assert "Moje sprawy" in (await anna.get("/cases")).text
        chosen = await post_form(anna, "/account", "/account/language", {"language": "en"})
        assert chosen.status_code == 303 and chosen.headers["location"] == "/account"
        page = (await anna.get("/cases")).text
        assert '<html lang="en">' in page and "My cases" in page and "Moje sprawy" not in page
        tabs = page[page.index('id="tabs"'):page.index("</nav>", page.index('id="tabs"'))]
        assert ">Overdue</a>" in tabs and "Late" not in tabs  # "Po terminie" the tab; a report's column is "Late"
        wrong = await post_form(anna, "/account", "/account/language", {"language": "xx"})
        assert wrong.status_code == 422
    assert await _language(office, "anna") == "en"
    async with browser(office) as elsewhere:  # another device: the account's language, not a cookie
        await log_in(elsewhere, "anna")
        assert "My cases" in (await elsewhere.get("/")).text
    async with office.system.gateway.ctx.db.reading() as session:
        rows = (await session.execute(select(audit_log.c.login, audit_log.c.detail)
                                      .where(audit_log.c.action == "user.update"))).all()
    assert [(r.login, r.detail) for r in rows] == [("anna", {"language": {"from": "pl", "to": "en"}})]


async def test_an_admin_sets_a_persons_language(office: Office) -> None:
    async with browser(office) as admin:
        await log_in(admin, "admin")
        saved = await post_form(admin, "/users/piotr", "/users/piotr", {
            "name": "Piotr Kadrowy", "email": "piotr@biuro.example", "role": "payroll", "language": "en"})
        assert saved.status_code == 303, saved.text
        assert 'value="en" selected' in (await admin.get("/users/piotr")).text
    assert await _language(office, "piotr") == "en"


async def test_the_login_page_switch_sets_a_cookie_for_the_pages_before_login(office: Office) -> None:
    async with browser(office) as visitor:
        assert "Zaloguj się, aby zobaczyć swoje sprawy." in (await visitor.get("/login")).text
        switched = await visitor.get("/language/en", params={"next": "/login"})
        assert switched.status_code == 303 and switched.headers["location"] == "/login"
        page = (await visitor.get("/login")).text
        assert "Sign in to see your cases." in page and '<html lang="en">' in page
        failed = await post_form(visitor, "/login", "/login", {"login": "anna", "password": "wrong-password"})
        assert "Wrong login or password." in failed.text
        elsewhere = await visitor.get("/language/pl", params={"next": "https://example.com/"})
        assert elsewhere.headers["location"] == "/login"  # only back to a page of this site
        assert "Zaloguj się" in (await visitor.get("/login")).text


async def test_date_filters_are_typed_day_first_in_the_pages_format(office: Office) -> None:
    async with browser(office) as maria:
        await log_in(maria, "maria")
        for day in ("25.11.2026", "25/11/2026", "2026-11-25"):
            listed = await maria.get("/cases", params={"due_from": day, "due_to": ""})
            assert listed.status_code == 200 and 'value="25.11.2026"' in listed.text, day
            audit = await maria.get("/audit", params={"since": day})
            assert audit.status_code == 200 and 'value="25.11.2026"' in audit.text, day
        wrong = await maria.get("/cases", params={"due_from": "31.02.2026"})
        assert wrong.status_code == 422  # no such day: the page says the filter is wrong
