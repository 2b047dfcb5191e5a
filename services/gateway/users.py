"""Users, passwords and API tokens of the gateway (service functions; the caller owns the transaction)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import inserted_id
from services.common.errors import Problem
from services.common.text import unsafe_character
from services.gateway.models import ROLES, api_tokens, audit_log, users
from services.gateway.passwords import hash_password


@dataclass(frozen=True)
class User:
    id: int
    login: str
    name: str
    email: str
    role: str

    @property
    def sees_everything(self) -> bool:
        """Admins and managers see every case; others see the cases they do or commissioned."""
        return self.role in ("admin", "manager")

    @property
    def manages_contracts(self) -> bool:
        return self.role in ("admin", "manager")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row: Any) -> User:
    return User(id=row.id, login=row.login, name=row.name, email=row.email, role=row.role)


async def create_user(*, session: AsyncSession, login: str, name: str, email: str, role: str,
                      password: str | None, now: datetime) -> User:
    if role not in ROLES:
        raise Problem(422, "Invalid user", errors=[{"field": "role", "message": f"must be one of {', '.join(ROLES)}"}])
    unsafe = [{"field": field, "message": reason} for field, value in (("login", login), ("name", name))
              if (reason := unsafe_character(value)) is not None]
    if unsafe or not login.strip() or any(ch.isspace() for ch in login):
        raise Problem(422, "Invalid user", errors=unsafe or [
            {"field": "login", "message": "a login is one word without spaces"}])
    if (await session.execute(select(users.c.id).where(users.c.login == login))).first():
        raise Problem(409, "User exists", f"a user with login {login!r} already exists")
    result = await session.execute(
        users.insert().values(login=login, name=name, email=email, role=role, active=True, created_at=now,
                              password_hash=hash_password(password) if password else None)
    )
    return User(id=inserted_id(result), login=login, name=name, email=email, role=role)


async def issue_token(*, session: AsyncSession, login: str, name: str, now: datetime) -> str:
    user = await get_user(session=session, login=login)
    if user is None:
        raise Problem(404, "Not found", f"no user with login {login!r}")
    token = "tz_" + secrets.token_urlsafe(32)
    await session.execute(api_tokens.insert().values(user_id=user.id, token_hash=_token_hash(token), name=name,
                                                     created_at=now))
    return token


async def get_user(*, session: AsyncSession, login: str) -> User | None:
    row = (await session.execute(select(users).where(users.c.login == login, users.c.active.is_(True)))).first()
    return _user(row) if row else None


async def list_users(*, session: AsyncSession) -> list[User]:
    rows = await session.execute(select(users).where(users.c.active.is_(True)).order_by(users.c.login))
    return [_user(r) for r in rows]


async def authenticate_token(*, session: AsyncSession, token: str, now: datetime) -> User | None:
    row = (
        await session.execute(
            select(users, api_tokens.c.id.label("token_id"))
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(api_tokens.c.token_hash == _token_hash(token), users.c.active.is_(True))
        )
    ).first()
    if row is None:
        return None
    await session.execute(update(api_tokens).where(api_tokens.c.id == row.token_id).values(last_used_at=now))
    return _user(row)


async def password_hash_of(*, session: AsyncSession, login: str) -> tuple[User, str | None] | None:
    """An active user and their stored password hash (None: an API-only user); None for no such active user."""
    row = (await session.execute(select(users).where(users.c.login == login, users.c.active.is_(True)))).first()
    return (_user(row), row.password_hash) if row else None


async def set_password_hash(*, session: AsyncSession, user_id: int, password_hash: str) -> None:
    await session.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))


async def audit(*, session: AsyncSession, user: User, action: str, target: str, now: datetime,
                correlation_id: str | None, detail: dict[str, Any] | None = None) -> None:
    await record(session=session, login=user.login, action=action, target=target, now=now,
                 correlation_id=correlation_id, detail=detail)


async def record(*, session: AsyncSession, login: str, action: str, target: str, now: datetime,
                 correlation_id: str | None, detail: dict[str, Any] | None = None) -> None:
    """An audit row for a login that may name no user (a failed login with an unknown name)."""
    await session.execute(audit_log.insert().values(at=now, login=login[:100], action=action, target=target[:200],
                                                    correlation_id=correlation_id, detail=detail))
