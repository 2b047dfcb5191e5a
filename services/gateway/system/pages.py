"""The admin's page of dead letters: what each service could not handle, and a button to retry it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from services.common.runtime import ServiceContext, get_context
from services.gateway.i18n import N_, Translated
from services.gateway.permissions import Caller, Permission, allow_page
from services.gateway.system import service as system
from services.gateway.system.api import Queue
from services.gateway.web import check_csrf, render, templates

router = APIRouter(include_in_schema=False)
templates.env.globals.update(QUEUE_PL=Translated({
    "contracts": N_("Umowy i klienci (contracts)"), "scheduler": N_("Planowanie obowiązków (scheduler)"),
    "cases": N_("Sprawy (cases)"), "notifier": N_("Poczta i zawiadomienia (notifier)"),
    "gateway": N_("Interfejs (gateway)")}))
ADMIN = allow_page(Permission.manage_settings)


async def _page(request: Request, caller: Caller, ctx: ServiceContext, *, retried: int | None = None,
                queue: str | None = None) -> HTMLResponse:
    return render(request, "system/dead_letters.html", caller.user, queues=await system.dead_letters(ctx),
                  retried=retried, retried_queue=queue)


@router.get("/system/dead-letters")
async def dead_letters_page(request: Request, caller: Caller = Depends(ADMIN),
                            ctx: ServiceContext = Depends(get_context)) -> HTMLResponse:
    return await _page(request, caller, ctx)


@router.post("/system/dead-letters/{queue}/retry", dependencies=[Depends(check_csrf)])
async def retry_page(request: Request, queue: Queue, message_id: Annotated[str | None, Form(max_length=100)] = None,
                     caller: Caller = Depends(ADMIN), ctx: ServiceContext = Depends(get_context)) -> HTMLResponse:
    ids = [message_id] if message_id else None
    retried = await system.retry(ctx, caller.user, queue=queue, message_ids=ids)
    return await _page(request, caller, ctx, retried=retried, queue=queue)
