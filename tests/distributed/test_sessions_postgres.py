"""Logins and web sessions on PostgreSQL: the gateway's migration, throttling, expiry and logout there too."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from services.common.db import Database
from services.common.keys import new_secret
from services.common.migrate import upgrade
from services.common.settings import Settings
from services.gateway import sessions, users
from services.gateway.logins import LoginPolicy, log_in
from services.gateway.sessions import SessionPolicy

pytestmark = pytest.mark.distributed


async def test_throttled_login_then_a_session_that_expires_and_ends(pg_database: str) -> None:
    settings = Settings(mode="distributed", database_url=pg_database, secret_key=new_secret(),
                        internal_token=new_secret())
    await upgrade(settings, ("gateway",))
    db = Database(settings.database_url_for("gateway"))
    policy, session_policy = LoginPolicy.from_settings(settings), SessionPolicy.from_settings(settings)
    now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

    async def attempt(password: str, at: datetime) -> tuple[str | None, int | None]:
        result = await log_in(db=db, policy=policy, session_policy=session_policy, login="anna", password=password,
                              address="192.0.2.10", now=at, correlation_id=None)
        return result.session_id, result.retry_after

    try:
        async with db.transaction() as session:
            await users.create_user(session=session, login="anna", name="Anna", email="anna@biuro.example",
                                    role="accountant", password="secret-anna", now=now)
        for _ in range(5):
            assert await attempt("wrong", now) == (None, None)
        _, wait = await attempt("secret-anna", now + timedelta(minutes=1))
        assert wait == 14 * 60
        session_id, wait = await attempt("secret-anna", now + timedelta(minutes=15))
        assert session_id and wait is None

        async def find(at: datetime) -> sessions.WebSession | None:
            async with db.reading() as session:
                return await sessions.find(session=session, policy=session_policy, session_id=session_id, now=at)

        later = now + timedelta(minutes=15)
        found = await find(later + timedelta(hours=7))
        assert found is not None and found.user.login == "anna"
        assert await find(later + timedelta(hours=8, minutes=1)) is None  # idle too long
        async with db.transaction() as session:
            await sessions.end(session=session, session_row_id=found.id)
        assert await find(later + timedelta(minutes=1)) is None  # logged out
    finally:
        await db.dispose()


async def test_twenty_parallel_wrong_passwords_on_postgresql_get_no_more_tries_than_the_limit(pg_database: str) -> None:
    """Sent at once (a password-guessing script), the attempts still queue on the login: five are checked, the
    rest are refused with a wait, and the right password sent among them does not get in."""
    settings = Settings(mode="distributed", database_url=pg_database, secret_key=new_secret(),
                        internal_token=new_secret())
    await upgrade(settings, ("gateway",))
    db = Database(settings.database_url_for("gateway"))
    policy, session_policy = LoginPolicy.from_settings(settings), SessionPolicy.from_settings(settings)
    now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    try:
        async with db.transaction() as session:
            await users.create_user(session=session, login="anna", name="Anna", email="anna@biuro.example",
                                    role="accountant", password="secret-anna", now=now)
        results = await asyncio.gather(*(
            log_in(db=db, policy=policy, session_policy=session_policy, login="anna", password="wrong",
                   address=f"192.0.2.{n}", now=now, correlation_id=None)
            for n in range(20)))
        checked = [r for r in results if r.retry_after is None]
        assert len(checked) == policy.max_failures == 5
        assert all(r.session_id is None for r in results)
        late = await log_in(db=db, policy=policy, session_policy=session_policy, login="anna",
                            password="secret-anna", address="192.0.2.99", now=now, correlation_id=None)
        assert late.session_id is None and late.retry_after is not None
    finally:
        await db.dispose()
