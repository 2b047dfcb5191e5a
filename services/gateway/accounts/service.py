"""Staff accounts as people change them: an admin creates, edits, deactivates and reactivates users, resets
their passwords and issues and revokes their API tokens; everyone changes their own password and revokes their
own tokens. Every change is audited; a deactivation, a reset or a password change ends the person's sessions,
and a deactivation revokes their tokens, at once.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import NotFound, Problem
from services.common.log import current_correlation_id
from services.common.runtime import ServiceContext
from services.common.text import unsafe_character
from services.gateway import sessions, users
from services.gateway.audit import service as audit
from services.gateway.i18n import LANGUAGES
from services.gateway.passwords import hash_password, verify_password
from services.gateway.permissions import Caller
from services.gateway.users import Account, Token

MIN_PASSWORD = 10
MAX_PASSWORD = 256


@dataclass(frozen=True)
class Changes:
    """What an edit of a user sets; None leaves a field as it is."""

    name: str | None = None
    email: str | None = None
    role: str | None = None
    active: bool | None = None
    language: str | None = None


def password_problems(password: str, *, field: str, login: str) -> list[dict[str, str]]:
    if len(password) < MIN_PASSWORD:
        return [{"field": field, "message": f"at least {MIN_PASSWORD} characters"}]
    if len(password) > MAX_PASSWORD:
        return [{"field": field, "message": f"at most {MAX_PASSWORD} characters"}]
    if password.strip().lower() == login.lower():
        return [{"field": field, "message": "must not be the login"}]
    if (reason := unsafe_character(password)) is not None:
        return [{"field": field, "message": reason}]
    return []


def new_password() -> str:
    """A password to hand to a person once (they change it on their account page)."""
    return secrets.token_urlsafe(12)


async def _audit(session: AsyncSession, ctx: ServiceContext, caller: Caller, action: str, login: str,
                 detail: dict[str, Any] | None = None) -> None:
    await audit.write(session=session, login=caller.login, action=action, target=f"user:{login}",
                      at=ctx.clock.now(), correlation_id=current_correlation_id(), detail=detail)


async def _account(session: AsyncSession, login: str) -> Account:
    found = await users.find_account(session=session, login=login)
    if found is None:
        raise NotFound("user", login)
    return found


async def list_accounts(*, ctx: ServiceContext) -> list[Account]:
    async with ctx.db.reading() as session:
        return await users.list_accounts(session=session)


async def get_account(*, ctx: ServiceContext, login: str) -> Account:
    async with ctx.db.reading() as session:
        return await _account(session, login)


async def create_account(*, ctx: ServiceContext, caller: Caller, login: str, name: str, email: str, role: str,
                         password: str | None) -> Account:
    """A new active user; without a password they use only API tokens until a reset gives them one."""
    if password is not None and (problems := password_problems(password, field="password", login=login)):
        raise Problem(422, "Invalid user", errors=problems)
    password_hash = await asyncio.to_thread(hash_password, password) if password is not None else None
    async with ctx.db.transaction() as session:
        user = await users.create_user(session=session, login=login, name=name, email=email, role=role,
                                       password=None, now=ctx.clock.now())
        if password_hash is not None:
            await users.set_password_hash(session=session, user_id=user.id, password_hash=password_hash)
        await _audit(session, ctx, caller, "user.create", login, {"role": role, "name": name, "email": email})
        return await _account(session, login)


async def update_account(*, ctx: ServiceContext, caller: Caller, login: str, changes: Changes) -> Account:
    """Name, e-mail, role, active, UI language. Nobody deactivates themselves or changes their own role, so the
    office keeps the admin who manages its users. A deactivated user's sessions end and tokens are revoked in the same
    transaction."""
    async with ctx.db.transaction() as session:
        account = await _account(session, login)
        user = account.user
        current: dict[str, Any] = {"name": user.name, "email": user.email, "role": user.role,
                                   "active": account.active, "language": user.language}
        wanted: dict[str, Any] = {"name": changes.name, "email": changes.email, "role": changes.role,
                                  "active": changes.active, "language": changes.language}
        values = {k: v for k, v in wanted.items() if v is not None and v != current[k]}
        after = {**current, **values}
        problems = users.person_problems(name=after["name"], email=after["email"], role=after["role"])
        if after["language"] not in LANGUAGES:
            problems.append({"field": "language", "message": f"must be one of {', '.join(LANGUAGES)}"})
        if user.id == caller.user.id and ("role" in values or values.get("active") is False):
            problems.append({"field": "role" if "role" in values else "active",
                             "message": "you cannot change your own role or deactivate yourself"})
        if problems:
            raise Problem(422, "Invalid user", errors=problems)
        if not values:
            return account
        await users.update_user(session=session, user_id=user.id, **values)
        if values.get("active") is False:
            await sessions.end_all(session=session, user_id=user.id)
            revoked = await users.revoke_all_tokens(session=session, user_id=user.id)
            await _audit(session, ctx, caller, "user.deactivate", login, {"tokens_revoked": revoked})
        elif values.get("active") is True:
            await _audit(session, ctx, caller, "user.reactivate", login)
        edited = {k: v for k, v in values.items() if k != "active"}
        if edited:
            await _audit(session, ctx, caller, "user.update", login,
                         {k: {"from": current[k], "to": v} for k, v in edited.items()})
        return await _account(session, login)


async def reset_password(*, ctx: ServiceContext, caller: Caller, login: str) -> str:
    """A new random password for an active user (returned to show once); their sessions end."""
    password = new_password()
    password_hash = await asyncio.to_thread(hash_password, password)
    async with ctx.db.transaction() as session:
        account = await _account(session, login)
        if not account.active:
            raise Problem(409, "User inactive", f"{login} is deactivated; reactivate them first",
                          errors=[{"field": "active", "message": "the user is deactivated"}])
        await users.set_password_hash(session=session, user_id=account.user.id, password_hash=password_hash)
        await sessions.end_all(session=session, user_id=account.user.id)
        await _audit(session, ctx, caller, "user.password_reset", login)
    return password


async def change_own_password(*, ctx: ServiceContext, caller: Caller, current: str, new: str) -> None:
    """The caller's own password, given the current one; every session of theirs ends (log in again)."""
    problems = password_problems(new, field="new", login=caller.login)
    if new == current:
        problems.append({"field": "new", "message": "must differ from the current password"})
    async with ctx.db.reading() as session:
        found = await users.password_hash_of(session=session, login=caller.login)
    stored = found[1] if found else None
    if not await asyncio.to_thread(verify_password, current, stored):
        problems.insert(0, {"field": "current", "message": "is not your current password"})
    if problems:
        raise Problem(422, "Password not changed", errors=problems)
    password_hash = await asyncio.to_thread(hash_password, new)
    async with ctx.db.transaction() as session:
        await users.set_password_hash(session=session, user_id=caller.user.id, password_hash=password_hash)
        await sessions.end_all(session=session, user_id=caller.user.id)
        await _audit(session, ctx, caller, "user.password_change", caller.login)


async def list_tokens(*, ctx: ServiceContext, login: str) -> list[Token]:
    async with ctx.db.reading() as session:
        account = await _account(session, login)
        return await users.list_tokens(session=session, user_id=account.user.id)


async def create_token(*, ctx: ServiceContext, caller: Caller, login: str, name: str) -> tuple[str, Token]:
    """A new API token for an active user: the token (to show once) and how it is listed."""
    name = name.strip()
    problems = []
    if not name or len(name) > 100:
        problems.append({"field": "name", "message": "say in 1 to 100 characters what the token is for"})
    elif (reason := unsafe_character(name)) is not None:
        problems.append({"field": "name", "message": reason})
    if problems:
        raise Problem(422, "Invalid token", errors=problems)
    async with ctx.db.transaction() as session:
        account = await _account(session, login)
        if not account.active:
            raise Problem(409, "User inactive", f"{login} is deactivated; reactivate them first",
                          errors=[{"field": "active", "message": "the user is deactivated"}])
        token, listed = await users.new_token(session=session, user_id=account.user.id, name=name,
                                              now=ctx.clock.now())
        await _audit(session, ctx, caller, "token.create", login, {"token_id": listed.id, "name": name})
    return token, listed


async def revoke_token(*, ctx: ServiceContext, caller: Caller, login: str, token_id: int) -> None:
    async with ctx.db.transaction() as session:
        account = await _account(session, login)
        revoked = await users.revoke_token(session=session, user_id=account.user.id, token_id=token_id)
        if revoked is None:
            raise NotFound("token", token_id)
        await _audit(session, ctx, caller, "token.revoke", login, {"token_id": token_id, "name": revoked.name})
