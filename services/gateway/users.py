"""The store of staff accounts and their API tokens (functions of the caller's transaction; what a person does to
accounts, audited, is in accounts/service.py)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import inserted_id
from services.common.errors import Problem
from services.common.text import unsafe_character
from services.gateway.models import ROLES, api_tokens, users
from services.gateway.passwords import hash_password


@dataclass(frozen=True)
class User:
    id: int
    login: str
    name: str
    email: str
    role: str
    language: str = "pl"  # the UI's language for this person (services/gateway/i18n.py)


@dataclass(frozen=True)
class Account:
    """A user as the staff pages show it: active or not, and whether they can log in with a password."""

    user: User
    active: bool
    has_password: bool
    created_at: datetime


@dataclass(frozen=True)
class Token:
    """An API token as listed: never the token itself, which is shown once when it is made."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row: Any) -> User:
    return User(id=row.id, login=row.login, name=row.name, email=row.email, role=row.role, language=row.language)


def _account(row: Any) -> Account:
    return Account(_user(row), bool(row.active), row.password_hash is not None, row.created_at)


def person_problems(*, name: str, email: str, role: str) -> list[dict[str, str]]:
    """What is wrong with a user's name, e-mail and role, by field."""
    problems = []
    if not name.strip():
        problems.append({"field": "name", "message": "a name is required"})
    elif (reason := unsafe_character(name)) is not None:
        problems.append({"field": "name", "message": reason})
    if not _EMAIL.match(email):
        problems.append({"field": "email", "message": "is not an e-mail address"})
    if role not in ROLES:
        problems.append({"field": "role", "message": f"must be one of {', '.join(ROLES)}"})
    return problems


async def create_user(*, session: AsyncSession, login: str, name: str, email: str, role: str,
                      password: str | None, now: datetime) -> User:
    problems = []
    if (reason := unsafe_character(login)) is not None:
        problems.append({"field": "login", "message": reason})
    elif not login.strip() or any(ch.isspace() for ch in login) or "/" in login:
        problems.append({"field": "login", "message": "a login is one word without spaces or slashes"})
    problems += person_problems(name=name, email=email, role=role)
    if problems:
        raise Problem(422, "Invalid user", errors=problems)
    if (await session.execute(select(users.c.id).where(users.c.login == login))).first():
        raise Problem(409, "User exists", f"a user with login {login!r} already exists",
                      errors=[{"field": "login", "message": "already used by another user"}])
    result = await session.execute(
        users.insert().values(login=login, name=name, email=email, role=role, active=True, created_at=now,
                              password_hash=hash_password(password) if password else None)
    )
    return User(id=inserted_id(result), login=login, name=name, email=email, role=role)


async def issue_token(*, session: AsyncSession, login: str, name: str, now: datetime) -> str:
    user = await get_user(session=session, login=login)
    if user is None:
        raise Problem(404, "Not found", f"no user with login {login!r}")
    return (await new_token(session=session, user_id=user.id, name=name, now=now))[0]


async def new_token(*, session: AsyncSession, user_id: int, name: str, now: datetime) -> tuple[str, Token]:
    """A new API token: the token itself (to show once) and how it is listed."""
    token = "tz_" + secrets.token_urlsafe(32)
    result = await session.execute(api_tokens.insert().values(user_id=user_id, token_hash=_token_hash(token),
                                                               name=name, created_at=now))
    return token, Token(inserted_id(result), name, now, None)


async def list_tokens(*, session: AsyncSession, user_id: int) -> list[Token]:
    rows = await session.execute(select(api_tokens).where(api_tokens.c.user_id == user_id)
                                 .order_by(api_tokens.c.created_at, api_tokens.c.id))
    return [Token(r.id, r.name, r.created_at, r.last_used_at) for r in rows]


async def revoke_token(*, session: AsyncSession, user_id: int, token_id: int) -> Token | None:
    """Delete one of a user's tokens; the token as it was, or None when the user has no such token."""
    row = (await session.execute(select(api_tokens).where(api_tokens.c.id == token_id,
                                                          api_tokens.c.user_id == user_id))).first()
    if row is None:
        return None
    await session.execute(delete(api_tokens).where(api_tokens.c.id == token_id))
    return Token(row.id, row.name, row.created_at, row.last_used_at)


async def revoke_all_tokens(*, session: AsyncSession, user_id: int) -> int:
    """Delete every token of a user; how many there were."""
    result = await session.execute(delete(api_tokens).where(api_tokens.c.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


async def get_user(*, session: AsyncSession, login: str) -> User | None:
    row = (await session.execute(select(users).where(users.c.login == login, users.c.active.is_(True)))).first()
    return _user(row) if row else None


async def list_users(*, session: AsyncSession) -> list[User]:
    rows = await session.execute(select(users).where(users.c.active.is_(True)).order_by(users.c.login))
    return [_user(r) for r in rows]


async def find_account(*, session: AsyncSession, login: str) -> Account | None:
    """A user whether active or not."""
    row = (await session.execute(select(users).where(users.c.login == login))).first()
    return _account(row) if row else None


async def list_accounts(*, session: AsyncSession) -> list[Account]:
    """Every user, active first, by login."""
    rows = await session.execute(select(users).order_by(users.c.active.desc(), users.c.login))
    return [_account(r) for r in rows]


async def update_user(*, session: AsyncSession, user_id: int, **values: Any) -> None:
    """Set any of name, email, role, active, language."""
    await session.execute(update(users).where(users.c.id == user_id).values(**values))


# A token's last use is recorded at most once in this time: writing it on every call made each API call a write
# transaction, its commit flushed to disk, the largest part of the gateway's own cost per call (bench/my_cases.py).
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


# The active user of a token, and the token's last use: every API call reads it, so it is built once.
_TOKEN_USER = (
    select(users, api_tokens.c.id.label("token_id"), api_tokens.c.last_used_at.label("token_used_at"))
    .join(api_tokens, api_tokens.c.user_id == users.c.id)
    .where(api_tokens.c.token_hash == bindparam("token_hash"), users.c.active.is_(True))
)


async def authenticate_token(*, session: AsyncSession, token: str, now: datetime) -> tuple[User, int | None] | None:
    """The active user `token` belongs to, and the token's id when its last use is to be recorded (older than
    TOKEN_USE_RESOLUTION, or never), else None; None for an unknown token or a disabled user. Reads only."""
    row = (await session.execute(_TOKEN_USER, {"token_hash": _token_hash(token)})).first()
    if row is None:
        return None
    used_at = row.token_used_at
    stale = used_at is None or now - used_at >= TOKEN_USE_RESOLUTION
    return _user(row), (row.token_id if stale else None)


async def record_token_use(*, session: AsyncSession, token_id: int, now: datetime) -> None:
    await session.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now))


async def password_hash_of(*, session: AsyncSession, login: str) -> tuple[User, str | None] | None:
    """An active user and their stored password hash (None: an API-only user); None for no such active user."""
    row = (await session.execute(select(users).where(users.c.login == login, users.c.active.is_(True)))).first()
    return (_user(row), row.password_hash) if row else None


async def set_password_hash(*, session: AsyncSession, user_id: int, password_hash: str) -> None:
    await session.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))

