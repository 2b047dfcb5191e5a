"""Server-side web sessions (service functions; the caller owns the transaction).

The browser holds only a random session id; the row holds who it is, the CSRF token and when it was last used.
A session ends at logout, after `idle` without a request, `lifetime` after login, or when its user is
deactivated (every lookup joins the user and requires `active`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import inserted_id
from services.common.settings import Settings
from services.gateway.models import sessions, users
from services.gateway.users import User

# Writing last_seen_at on every page view would make each read a write; a minute's precision is plenty.
TOUCH_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    secret_key: str
    idle: timedelta
    lifetime: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        if not settings.secret_key:
            raise RuntimeError("web sessions need TERMINARZ_SECRET_KEY (see docs/security.md)")
        return cls(settings.secret_key, timedelta(minutes=settings.session_idle_minutes),
                   timedelta(hours=settings.session_max_hours))

    def id_hash(self, session_id: str) -> str:
        return hmac.new(self.secret_key.encode(), session_id.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WebSession:
    id: int
    user: User
    csrf_token: str
    last_seen_at: datetime

    def wants_touch(self, now: datetime) -> bool:
        return now - self.last_seen_at >= TOUCH_AFTER


async def start(*, session: AsyncSession, policy: SessionPolicy, user: User, now: datetime,
                address: str | None) -> tuple[str, WebSession]:
    """A new session for a user who just logged in: the id for the cookie (shown once) and the session."""
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    result = await session.execute(sessions.insert().values(
        id_hash=policy.id_hash(session_id), user_id=user.id, csrf_token=csrf, created_at=now, last_seen_at=now,
        address=(address or "")[:64] or None))
    return session_id, WebSession(inserted_id(result), user, csrf, now)


async def find(*, session: AsyncSession, policy: SessionPolicy, session_id: str, now: datetime) -> WebSession | None:
    """The live session with this id, or None: unknown, ended, idle too long, too old, or its user deactivated."""
    row = (
        await session.execute(
            select(users.c.id, users.c.login, users.c.name, users.c.email, users.c.role, users.c.language,
                   sessions.c.id.label("session_id"), sessions.c.csrf_token, sessions.c.created_at,
                   sessions.c.last_seen_at)
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.id_hash == policy.id_hash(session_id), users.c.active.is_(True))
        )
    ).first()
    if row is None or now - row.last_seen_at > policy.idle or now - row.created_at > policy.lifetime:
        return None
    user = User(id=row.id, login=row.login, name=row.name, email=row.email, role=row.role, language=row.language)
    return WebSession(row.session_id, user, row.csrf_token, row.last_seen_at)


async def touch(*, session: AsyncSession, session_row_id: int, now: datetime) -> None:
    await session.execute(update(sessions).where(sessions.c.id == session_row_id).values(last_seen_at=now))


async def end(*, session: AsyncSession, session_row_id: int) -> None:
    await session.execute(delete(sessions).where(sessions.c.id == session_row_id))


async def end_all(*, session: AsyncSession, user_id: int) -> None:
    """Every session of a user (e.g. when the account is deactivated or the password changes)."""
    await session.execute(delete(sessions).where(sessions.c.user_id == user_id))


async def purge_expired(*, session: AsyncSession, policy: SessionPolicy, now: datetime) -> None:
    await session.execute(delete(sessions).where(or_(sessions.c.last_seen_at < now - policy.idle,
                                                     sessions.c.created_at < now - policy.lifetime)))
