"""Who is calling: bearer tokens for the REST API, a server-side session (its id in a cookie) for the web UI.

The API reads only the Authorization header, never a cookie, so a page elsewhere cannot make a browser call it.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Problem
from services.common.runtime import ServiceContext, get_context
from services.common.settings import Settings
from services.gateway import i18n, sessions, users
from services.gateway.sessions import SessionPolicy, WebSession
from services.gateway.users import User

SESSION_COOKIE = "terminarz_session"
# Before login there is no session: the login form's CSRF token is also kept in this cookie (double submit).
LOGIN_CSRF_COOKIE = "terminarz_login_csrf"


class LoginRequired(Exception):
    """A web page asked for without a live session: answered with a redirect to the login page."""


async def api_user(request: Request, session: AsyncSession, now: datetime) -> tuple[User, int | None]:
    """The caller of an API route by their bearer token, read in `session`; and the token's id when its use is
    to be recorded (`users.authenticate_token`: at most once a minute), which the caller does after reading."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("send 'Authorization: Bearer <token>' (make one with `terminarz users token LOGIN`)")
    found = await users.authenticate_token(session=session, token=token.strip(), now=now)
    if found is None:
        raise _unauthorized("the token is unknown or its user is disabled")
    user, token_to_record = found
    request.state.user = user
    return user, token_to_record


async def record_token_use(ctx: ServiceContext, token_id: int, now: datetime) -> None:
    async with ctx.db.transaction() as session:
        await users.record_token_use(session=session, token_id=token_id, now=now)


def _unauthorized(detail: str) -> Problem:
    problem = Problem(401, "Unauthorized", detail)
    return problem


async def web_session(request: Request, ctx: ServiceContext = Depends(get_context)) -> WebSession | None:
    """The caller's live web session, looked up once per request."""
    if hasattr(request.state, "web_session"):
        cached: WebSession | None = request.state.web_session
        return cached
    found = None
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        policy, now = SessionPolicy.from_settings(ctx.settings), ctx.clock.now()
        async with ctx.db.reading() as session:
            found = await sessions.find(session=session, policy=policy, session_id=session_id, now=now)
        if found is not None and found.wants_touch(now):
            async with ctx.db.transaction() as session:
                await sessions.touch(session=session, session_row_id=found.id, now=now)
    request.state.web_session = found
    if found is not None:
        i18n.use(found.user.language)  # the pages and messages of this request speak the user's language
    return found


def set_cookie(response: Response, settings: Settings, name: str, value: str, *, max_age: int | None = None) -> None:
    """HttpOnly, SameSite=Lax, and Secure when the office reaches us over HTTPS."""
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=settings.https)


def clear_cookie(response: Response, settings: Settings, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=settings.https)
