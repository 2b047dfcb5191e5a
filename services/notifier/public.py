"""The one route clients use: the confirmation link of a notice (public, under `/confirm/`).

GET shows the notice and one button, and records the opening; only the button's POST confirms, so mail
scanners and link previews that open every link confirm nothing. A forged, mangled or foreign token gets a
plain page saying so, never an error document.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from services.common.clock import WARSAW, local_date
from services.common.runtime import ServiceContext, get_context
from services.notifier import domain, duties, notices
from services.notifier.qr import qr_png

router = APIRouter()
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token must not leave in a Referer header
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}


def page(html: str, status_code: int) -> HTMLResponse:
    """The page with a Content-Security-Policy of its own: its inline style (templates an admin may override
    keep it in the page, as a mail keeps it) allowed by hash, images only inline (the payment codes), no script,
    forms only back here."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(style.encode()).digest()).decode() + "'"
        for style in re.findall(r"<style>(.*?)</style>", html, flags=re.DOTALL))
    style_src = hashes or "'none'"
    policy = (f"default-src 'none'; style-src {style_src}; img-src data:; "
              "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
    return HTMLResponse(html, status_code=status_code, headers={**PAGE_HEADERS, "Content-Security-Policy": policy})


def client_address(request: Request) -> str:
    """The caller's address; behind the Ingress or a proxy, the address it forwarded too."""
    peer = request.client.host if request.client else ""
    forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
    return f"{forwarded} (via {peer})" if forwarded and forwarded != peer else peer


def _page(ctx: ServiceContext, view: notices.LinkView | None, *, just_confirmed: bool = False,
          status_code: int = 200) -> HTMLResponse:
    t = notices.templates(ctx)
    if view is None:
        html = t.page("link_invalid", "pl", {"office_name": ctx.settings.office_name})
        return page(html, 404)
    recipient = notices.Recipient(view.recipient.email, view.recipient.name, view.recipient.language)
    lang = domain.as_lang(recipient.language)
    context: dict[str, Any] = notices.notice_context(ctx.settings, view.notice, view.items,
                                                     client_name=view.notice.client_name, recipient=recipient,
                                                     link=None)
    confirmed_at = view.recipient.confirmed_at
    state = {"withdrawn": "withdrawn", "superseded": "superseded"}.get(view.notice.status, "open")
    if confirmed_at is not None and state == "open":
        state = "confirmed"
    context.update(
        state=state, just_confirmed=just_confirmed,
        confirmed_at_text=(f"{domain.day(local_date(confirmed_at), lang)}, "
                           f"{confirmed_at.astimezone(WARSAW).strftime('%H:%M')}") if confirmed_at else "",
        withdrawn_reason=view.notice.withdrawn_reason or "",
        # a client task the office took over (a replan made it the office's own): nothing left for the client
        taken_over=view.notice.kind == duties.KIND and view.notice.withdrawn_reason == duties.TAKEN_OVER,
        qr={i.position: "data:image/png;base64," + base64.b64encode(qr_png(i.qr_payload)).decode()
            for i in view.items if i.qr_payload and state == "open"},
    )
    return page(t.page("confirm_page", lang, context), status_code)


@router.get("/{token}", response_class=HTMLResponse, include_in_schema=False)
async def open_link(token: str, request: Request, ctx: ServiceContext = Depends(get_context)) -> HTMLResponse:
    async with ctx.db.transaction() as session:
        view = await notices.by_token(session, token)
        if view is not None:
            await notices.record_opening(ctx, session, view, address=client_address(request),
                                         user_agent=request.headers.get("user-agent", ""))
    return _page(ctx, view)


@router.post("/{token}", response_class=HTMLResponse, include_in_schema=False)
async def confirm_link(token: str, request: Request, ctx: ServiceContext = Depends(get_context)) -> HTMLResponse:
    async with ctx.db.transaction() as session:
        view = await notices.by_token(session, token, lock=True)
        confirmed = False
        if view is not None:
            confirmed = await notices.confirm(ctx, session, view, address=client_address(request),
                                              user_agent=request.headers.get("user-agent", ""))
    if view is None:
        return _page(ctx, None)
    async with ctx.db.reading() as session:
        view = await notices.by_token(session, token)
    return _page(ctx, view, just_confirmed=confirmed)
