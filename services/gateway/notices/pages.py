"""Web pages of what the office sends: the outgoing mail."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from services.common.params import Offset
from services.gateway.clients import ServiceClients
from services.gateway.common import service_clients
from services.gateway.notices import service as notices
from services.gateway.permissions import Caller, Permission, allow_page
from services.gateway.web import render, templates

router = APIRouter(include_in_schema=False)
templates.env.globals.update(
    MAIL_STATUS_PL={"pending": "czeka", "sending": "wysyłana", "sent": "wysłana", "kept": "w skrzynce lokalnej",
                    "failed": "błąd"})


MAIL_PAGE = 20


@router.get("/mail")
async def mail_outbox(request: Request, offset: Offset = 0, caller: Caller = Depends(allow_page(Permission.view)),
                      svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    page = await notices.list_mails(svc=svc, caller=caller, limit=MAIL_PAGE, offset=offset)
    return render(request, "notices/mail.html", caller.user, mails=page["items"], total=page["total"],
                  offset=offset, page=MAIL_PAGE)
