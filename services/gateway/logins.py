"""Logging in with a password: throttling per login and per client address, audit, rehash, a new session.

Policy (settings `login_*`): at most `login_max_failures` failed logins for one login name, and
`login_max_failures_per_address` from one client address, within `login_failure_window_minutes`; beyond that
the login is refused, without checking the password, until the oldest counted failure leaves the window. An
attempt is counted as failed before its password is checked (and forgiven when it was right), so attempts sent
in parallel cannot outrun the count. A successful login clears the login name's failures.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database, inserted_id
from services.common.settings import Settings
from services.gateway import sessions, users
from services.gateway.audit import service as audit_log
from services.gateway.models import login_failures
from services.gateway.passwords import hash_password, needs_rehash, verify_password
from services.gateway.sessions import SessionPolicy, WebSession


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int
    max_failures_per_address: int
    window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginPolicy:
        return cls(settings.login_max_failures, settings.login_max_failures_per_address,
                   timedelta(minutes=settings.login_failure_window_minutes))


@dataclass(frozen=True)
class LoginResult:
    """Exactly one of: a session (with the id for the cookie), a wait in seconds, or neither (wrong password)."""

    session_id: str | None = None
    session: WebSession | None = None
    retry_after: int | None = None


async def log_in(*, db: Database, policy: LoginPolicy, session_policy: SessionPolicy, login: str, password: str,
                 address: str, now: datetime, correlation_id: str | None) -> LoginResult:
    """Two short transactions around the password check, which runs in a thread outside both."""
    login = login[:100]
    address = address[:64]

    async def audit(session: AsyncSession, action: str, **detail: Any) -> None:
        await audit_log.write(session=session, login=login, action=action, target=f"user:{login}", at=now,
                              correlation_id=correlation_id, detail={"address": address, **detail})

    async with db.transaction() as session:
        if not db.is_sqlite:  # SQLite's single writer already serialises these transactions
            # Parallel attempts for one login or from one address queue here, so each counts the failures the
            # ones before it wrote (under READ COMMITTED they would all count the same few and all get through).
            for key in sorted({f"login:{login}", f"address:{address}"}):
                await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})
        await session.execute(delete(login_failures).where(login_failures.c.at <= now - policy.window))
        wait = await _retry_after(session, policy, login=login, address=address, now=now)
        if wait is not None:
            await audit(session, "login.failed", reason="throttled")
            return LoginResult(retry_after=wait)
        attempt = inserted_id(await session.execute(login_failures.insert().values(at=now, login=login,
                                                                                   address=address)))
        found = await users.password_hash_of(session=session, login=login)
    stored = found[1] if found else None
    # An unknown login, or one without a password, costs the same verification as a real one.
    right = await asyncio.to_thread(verify_password, password, stored)
    rehashed = await asyncio.to_thread(hash_password, password) if right and stored and needs_rehash(stored) else None
    async with db.transaction() as session:
        if not right or found is None:
            await audit(session, "login.failed", reason="password")
            return LoginResult()
        user = found[0]
        await session.execute(delete(login_failures).where(
            (login_failures.c.login == login) | (login_failures.c.id == attempt)))
        if rehashed:
            await users.set_password_hash(session=session, user_id=user.id, password_hash=rehashed)
        await sessions.purge_expired(session=session, policy=session_policy, now=now)
        session_id, web = await sessions.start(session=session, policy=session_policy, user=user, now=now,
                                               address=address)
        await audit(session, "login", rehashed=bool(rehashed))
        return LoginResult(session_id=session_id, session=web)


async def _retry_after(session: AsyncSession, policy: LoginPolicy, *, login: str, address: str,
                       now: datetime) -> int | None:
    """Seconds until another attempt is allowed, or None when it is allowed now."""
    waits = []
    for column, value, limit in ((login_failures.c.login, login, policy.max_failures),
                                 (login_failures.c.address, address, policy.max_failures_per_address)):
        rows = (await session.execute(
            select(login_failures.c.at).where(column == value, login_failures.c.at > now - policy.window)
            .order_by(login_failures.c.at.desc()).limit(limit))).all()
        if len(rows) >= limit:
            waits.append((rows[-1].at + policy.window - now).total_seconds())
    return max(1, math.ceil(max(waits))) if waits else None
