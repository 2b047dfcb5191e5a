"""Who is calling: bearer tokens for the REST API, a signed session cookie for the web UI."""

from __future__ import annotations

from fastapi import Depends, Request

from services.common.errors import Problem
from services.common.runtime import ServiceContext, get_context
from services.gateway import users
from services.gateway.users import User


async def api_user(request: Request, ctx: ServiceContext = Depends(get_context)) -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("send 'Authorization: Bearer <token>' (make one with `terminarz users token LOGIN`)")
    async with ctx.db.transaction() as session:
        user = await users.authenticate_token(session=session, token=token.strip(), now=ctx.clock.now())
    if user is None:
        raise _unauthorized("the token is unknown or its user is disabled")
    request.state.user = user
    return user


def _unauthorized(detail: str) -> Problem:
    problem = Problem(401, "Unauthorized", detail)
    return problem


async def contract_manager(user: User = Depends(api_user)) -> User:
    if not user.manages_contracts:
        raise Problem(403, "Forbidden", f"role {user.role!r} cannot change clients or contracts")
    return user


async def session_user(request: Request, ctx: ServiceContext = Depends(get_context)) -> User | None:
    login = request.session.get("login")
    if not login:
        return None
    async with ctx.db.reading() as session:
        return await users.get_user(session=session, login=login)
