"""A person's private calendar feed: their open cases as all-day events on the due date (RFC 5545, `icalendar`).

The address holds a secret token (`/calendar/<token>.ics`) so a calendar program can subscribe without logging
in; only the token's hash is stored, the address is shown once when it is made, and making a new one or revoking
it (the account page) makes the old address answer 404. The feed route is public (PUBLIC_ROUTES) but answers only
a valid token of an active user, and lists the cases the cases service gives for that user's scope today. The
feed speaks its owner's language (their account's): the calendar's name, the titles (`title_en` in English) and
the descriptions' labels.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from icalendar import Calendar, Event
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import plain
from services.common.errors import NotFound
from services.common.runtime import ServiceContext, get_context
from services.gateway import format as fmt
from services.gateway import i18n
from services.gateway.clients import ServiceClients
from services.gateway.common import service_clients
from services.gateway.i18n import N_, Translated
from services.gateway.i18n import gettext as _
from services.gateway.models import calendar_feeds, users
from services.gateway.permissions import Caller, Permission, allow_page, scope_of
from services.gateway.users import User
from services.gateway.web import check_csrf, title_of

router = APIRouter(include_in_schema=False)
OPEN_STATUSES = ("open", "in_progress")
STATUS = Translated({"open": N_("otwarta"), "in_progress": N_("w toku")})  # as the case pages name them
PAGE = 1000
MAX_EVENTS = 5000  # a calendar program wants the near work, not years of it
FeedToken = Path(min_length=20, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_url(ctx: ServiceContext, token: str) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}/calendar/{token}.ics"


# --- Service layer ---------------------------------------------------------------------------------------


async def new_feed(*, session: AsyncSession, user_id: int, now: datetime) -> str:
    """A new secret token for the user's feed (the old address stops working); returns the token."""
    token = secrets.token_urlsafe(32)
    await session.execute(delete(calendar_feeds).where(calendar_feeds.c.user_id == user_id))
    await session.execute(calendar_feeds.insert().values(user_id=user_id, token_hash=_hash(token), created_at=now))
    return token


async def revoke_feed(*, session: AsyncSession, user_id: int) -> bool:
    result = await session.execute(delete(calendar_feeds).where(calendar_feeds.c.user_id == user_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def feed_of(*, session: AsyncSession, user_id: int) -> dict[str, Any] | None:
    """When the user's feed was made and last read; None when they have none."""
    row = (await session.execute(select(calendar_feeds.c.created_at, calendar_feeds.c.last_used_at)
                                 .where(calendar_feeds.c.user_id == user_id))).first()
    return None if row is None else plain(row)


async def feed_user(*, session: AsyncSession, token: str, now: datetime) -> User | None:
    """The active user a feed token belongs to; None for an unknown, replaced or revoked token."""
    row = (await session.execute(
        select(users.c.id, users.c.login, users.c.name, users.c.email, users.c.role, users.c.language)
        .join(calendar_feeds, calendar_feeds.c.user_id == users.c.id)
        .where(calendar_feeds.c.token_hash == _hash(token), users.c.active.is_(True)))).first()
    if row is None:
        return None
    await session.execute(update(calendar_feeds).where(calendar_feeds.c.user_id == row.id).values(last_used_at=now))
    return User(id=row.id, login=row.login, name=row.name, email=row.email, role=row.role, language=row.language)


async def open_cases(*, svc: ServiceClients, ctx: ServiceContext, user: User) -> list[dict[str, Any]]:
    """The user's own open cases (assignee or commissioner) within their scope today, by due date."""
    async with ctx.db.reading() as session:
        scope = await scope_of(session=session, user=user, today=ctx.clock.today())
    found: list[dict[str, Any]] = []
    for status in OPEN_STATUSES:
        offset = 0
        while len(found) < MAX_EVENTS:
            page = await svc.call("cases", "GET", "/cases", scope=scope, params={
                "visible_to": user.login, "status": status, "limit": PAGE, "offset": offset})
            found.extend(page["items"])
            offset += PAGE
            if offset >= page["total"]:
                break
    return sorted(found, key=lambda c: (c["due"], c["title"]))[:MAX_EVENTS]


def ics(ctx: ServiceContext, user: User, cases: list[dict[str, Any]]) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Terminarz//Sprawy//PL")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", _("Terminarz — sprawy: {name}").format(name=user.name or user.login))
    stamp = ctx.clock.now()
    base = ctx.settings.public_url.rstrip("/")
    for case in cases:
        due = date.fromisoformat(case["due"]) if isinstance(case["due"], str) else case["due"]
        event = Event()
        event.add("uid", f"case-{case['id']}@terminarz")
        event.add("dtstamp", stamp)
        event.add("dtstart", due)  # a date: an all-day event (VALUE=DATE)
        event.add("dtend", due + timedelta(days=1))
        client = f" — {case['client_name']}" if case.get("client_name") else ""
        event.add("summary", f"{title_of(case)}{client}")
        lines = [_("Termin: {day}").format(day=fmt.day(due)),
                 _("Status: {status}").format(status=STATUS.get(case["status"], case["status"]))]
        if case.get("contract_number"):
            lines.append(_("Umowa: {number}").format(number=case["contract_number"]))
        if case.get("period"):
            lines.append(_("Okres: {period}").format(period=case["period"]))
        event.add("description", "\n".join(lines))
        event.add("url", f"{base}/cases/{case['id']}")
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    return calendar.to_ical()


# --- Routes ----------------------------------------------------------------------------------------------


@router.get("/calendar/{token}.ics")
async def calendar_feed(token: str = FeedToken, ctx: ServiceContext = Depends(get_context),
                        svc: ServiceClients = Depends(service_clients)) -> Response:
    """Public: the feed of the user the token belongs to; 404 for any other token (no hint which part failed)."""
    async with ctx.db.transaction() as session:
        user = await feed_user(session=session, token=token, now=ctx.clock.now())
    if user is None:
        raise NotFound("calendar feed", "this address")
    i18n.use(user.language)  # no session here: the feed's owner's language
    body = ics(ctx, user, await open_cases(svc=svc, ctx=ctx, user=user))
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Cache-Control": "private, no-store",
                             "Content-Disposition": 'inline; filename="sprawy.ics"'})


@router.post("/account/calendar", dependencies=[Depends(check_csrf)])
async def make_feed(request: Request, caller: Caller = Depends(allow_page(Permission.own_account)),
                    ctx: ServiceContext = Depends(get_context)) -> HTMLResponse:
    """A new private address (the old one stops working), shown once on the account page."""
    from services.gateway.accounts.pages import account_page_with

    async with ctx.db.transaction() as session:
        token = await new_feed(session=session, user_id=caller.user.id, now=ctx.clock.now())
    return await account_page_with(request, caller, ctx, feed_url=feed_url(ctx, token))


@router.post("/account/calendar/revoke", dependencies=[Depends(check_csrf)])
async def drop_feed(caller: Caller = Depends(allow_page(Permission.own_account)),
                    ctx: ServiceContext = Depends(get_context)) -> Response:
    async with ctx.db.transaction() as session:
        await revoke_feed(session=session, user_id=caller.user.id)
    return RedirectResponse("/account#calendar", status_code=303)
