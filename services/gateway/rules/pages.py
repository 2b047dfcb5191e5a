"""The rules page: the set in force and its history for everyone; preview and apply of the folder for admins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from services.common.errors import Problem
from services.common.runtime import ServiceContext, get_context
from services.gateway.clients import ServiceClients
from services.gateway.common import service_clients
from services.gateway.i18n import N_, Translated
from services.gateway.permissions import Caller, Permission, allow_page
from services.gateway.rules import service as rules
from services.gateway.web import check_csrf, render, templates

router = APIRouter(include_in_schema=False)
templates.env.globals.update(
    RULESET_STATUS_PL=Translated({
        "active": N_("obowiązuje"), "superseded": N_("zastąpiona"), "rejected": N_("odrzucona"),
    }),
    # What a rules preview says changed for an occurrence (the scheduler's CASE_FIELDS).
    CHANGE_PL=Translated({
        "due": N_("termin"), "generate_on": N_("utworzenie sprawy"), "title_pl": N_("tytuł"),
        "title_en": N_("tytuł (en)"), "checklist": N_("lista kontrolna"), "role": N_("rola"), "code": N_("kod"),
        "notice": N_("zobowiązania w powiadomieniu"), "requires": N_("wymagane załączniki"),
        "party": N_("czyje zadanie (biuro/klient)"), "duty": N_("obowiązek klienta"),
        "depends_on": N_("zależy od obowiązków klienta"),
    }))
MANAGE = allow_page(Permission.manage_rules)


async def _rules_page(request: Request, caller: Caller, svc: ServiceClients, *, preview: Any = None,
                      applied: Any = None, errors: Any = None, status_code: int = 200) -> HTMLResponse:
    return render(request, "rules/rules.html", caller.user, rules=await rules.in_force(svc=svc, caller=caller),
                  preview=preview, applied=applied, errors=errors, status_code=status_code)


@router.get("/rules")
async def rules_page(request: Request, caller: Caller = Depends(allow_page(Permission.view)),
                     svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    return await _rules_page(request, caller, svc)


@router.post("/rules/preview", dependencies=[Depends(check_csrf)])
async def rules_preview(request: Request, caller: Caller = Depends(MANAGE),
                        svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    try:
        preview = await rules.preview(svc=svc, caller=caller)
    except Problem as problem:
        if problem.status != 422:
            raise
        return await _rules_page(request, caller, svc, errors=problem.errors, status_code=422)
    return await _rules_page(request, caller, svc, preview=preview)


@router.post("/rules/apply", dependencies=[Depends(check_csrf)])
async def rules_apply(request: Request, caller: Caller = Depends(MANAGE), ctx: ServiceContext = Depends(get_context),
                      svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    try:
        applied = await rules.apply(ctx=ctx, svc=svc, caller=caller)
    except Problem as problem:
        if problem.status != 422:
            raise
        return await _rules_page(request, caller, svc, errors=problem.errors, status_code=422)
    return await _rules_page(request, caller, svc, applied=applied)
