"""Web pages of absences (register, end early, cancel) and of handing cases to another person, for managers."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common.errors import Problem
from services.common.params import CaseIdPath
from services.common.runtime import ServiceContext, get_context
from services.gateway import i18n
from services.gateway.assignment import service as assignment
from services.gateway.cases import pages as case_pages
from services.gateway.clients import ServiceClients
from services.gateway.common import service_clients
from services.gateway.contracts import service as contracts
from services.gateway.i18n import N_
from services.gateway.permissions import Caller, Permission, allow_page
from services.gateway.web import check_csrf, form_date, form_errors, not_found, record_id, render, text_of

router = APIRouter(include_in_schema=False)
MANAGE = allow_page(Permission.manage_cases)
AbsenceIdPath = Path(description="the absence's id (a UUID)")


async def _absences_page(request: Request, caller: Caller, ctx: ServiceContext, svc: ServiceClients, *,
                         values: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None,
                         notice: str = "", show_all: bool = False, status_code: int = 200) -> HTMLResponse:
    today = ctx.clock.today()
    page = await assignment.list_absences(svc=svc, caller=caller, limit=500,
                                          current_on=None if show_all else today.isoformat())
    contract_page = await contracts.list_contracts(svc=svc, caller=caller, limit=500, offset=0, status="active")
    errors = errors or {}
    return render(request, "assignment/absences.html", caller.user, absences=page["items"], total=page["total"],
                  values=values or {"starts_on": today.isoformat(), "ends_on": today.isoformat()},
                  absence_errors={k: v for k, v in errors.items() if not k.startswith("bulk_")},
                  bulk_errors={k[5:]: v for k, v in errors.items() if k.startswith("bulk_")}, notice=notice,
                  show_all=show_all, staff=await contracts.staff(ctx),
                  contracts=contract_page["items"], status_code=status_code)


@router.get("/absences")
async def absences_page(request: Request, all: bool = False, moved: int | None = None,
                        handed_back: int | None = None, reassigned: int | None = None,
                        caller: Caller = Depends(MANAGE),
                        ctx: ServiceContext = Depends(get_context),
                        svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    notice = ""
    if moved is not None:
        notice = i18n.gettext("Nieobecność zapisana. Spraw przekazanych zastępcy: {moved}.").format(moved=moved)
    elif handed_back is not None:
        notice = i18n.gettext("Zapisano. Spraw zwróconych osobie nieobecnej: {handed_back}.").format(
            handed_back=handed_back)
    elif reassigned is not None:
        notice = i18n.gettext("Przekazano otwartych spraw: {reassigned}.").format(reassigned=reassigned)
    return await _absences_page(request, caller, ctx, svc, notice=notice, show_all=all)


def _absence_field(path: str) -> str:
    return "substitute" if path.startswith("substitute") else path


@router.post("/absences", dependencies=[Depends(check_csrf)])
async def absence_create(request: Request, caller: Caller = Depends(MANAGE),
                         ctx: ServiceContext = Depends(get_context),
                         svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    body = {"login": text_of(form, "login"), "starts_on": form_date(text_of(form, "starts_on")) or None,
            "ends_on": form_date(text_of(form, "ends_on")) or None, "substitute": text_of(form, "substitute") or None,
            "note": text_of(form, "note")}
    try:
        absence = await assignment.create_absence(ctx=ctx, svc=svc, caller=caller, body=body)
    except Problem as problem:
        if problem.status >= 500:
            raise
        return await _absences_page(request, caller, ctx, svc, values=dict(form), status_code=422,
                                    errors=form_errors(problem, _absence_field))
    return RedirectResponse(f"/absences?moved={absence['moved']}", status_code=303)


@router.post("/absences/{absence_id}/end", dependencies=[Depends(check_csrf)])
async def absence_end(request: Request, absence_id: UUID = AbsenceIdPath, caller: Caller = Depends(MANAGE),
                      ctx: ServiceContext = Depends(get_context),
                      svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    try:
        absence = await assignment.end_absence(ctx=ctx, svc=svc, caller=caller, absence_id=str(absence_id),
                                               ends_on=form_date(text_of(form, "ends_on")) or None)
    except Problem as problem:
        if problem.status == 404:
            return not_found(request, caller.user, i18n.gettext("Nie ma takiej nieobecności."))
        if problem.status >= 500:
            raise
        return await _absences_page(request, caller, ctx, svc, status_code=422,
                                    errors={"": [m for ms in form_errors(problem).values() for m in ms]})
    return RedirectResponse(f"/absences?handed_back={absence['handed_back']}", status_code=303)


@router.post("/absences/{absence_id}/cancel", dependencies=[Depends(check_csrf)])
async def absence_cancel(request: Request, absence_id: UUID = AbsenceIdPath, caller: Caller = Depends(MANAGE),
                         ctx: ServiceContext = Depends(get_context),
                         svc: ServiceClients = Depends(service_clients)) -> Response:
    try:
        absence = await assignment.cancel_absence(ctx=ctx, svc=svc, caller=caller, absence_id=str(absence_id))
    except Problem as problem:
        if problem.status == 404:
            return not_found(request, caller.user, i18n.gettext("Nie ma takiej nieobecności."))
        raise
    return RedirectResponse(f"/absences?handed_back={absence['handed_back']}", status_code=303)


@router.post("/cases/reassign", dependencies=[Depends(check_csrf)])
async def reassign_all(request: Request, caller: Caller = Depends(MANAGE),
                       ctx: ServiceContext = Depends(get_context),
                       svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    contract_id = record_id(text_of(form, "contract_id"))
    try:
        if contract_id is None:
            raise Problem(422, "No contract", errors=[{"field": "contract_id", "message": N_("Wybierz umowę.")}])
        result = await assignment.reassign_all(ctx=ctx, svc=svc, caller=caller, contract_id=contract_id,
                                               from_login=text_of(form, "from_login"), to=text_of(form, "to"),
                                               reason=text_of(form, "reason"))
    except Problem as problem:
        if problem.status >= 500:
            raise
        return await _absences_page(request, caller, ctx, svc, values=dict(form), status_code=422,
                                    errors={f"bulk_{k}": v for k, v in form_errors(problem).items()})
    return RedirectResponse(f"/absences?reassigned={result['moved']}", status_code=303)


@router.post("/cases/{case_id}/reassign", dependencies=[Depends(check_csrf)])
async def reassign_case(request: Request, case_id: CaseIdPath, caller: Caller = Depends(MANAGE),
                        ctx: ServiceContext = Depends(get_context),
                        svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    try:
        await assignment.reassign_case(ctx=ctx, svc=svc, caller=caller, case_id=str(case_id),
                                       to=text_of(form, "to"), reason=text_of(form, "reason"))
    except Problem as problem:
        if problem.status == 404:
            return not_found(request, caller.user, i18n.gettext("Sprawa nie istnieje lub nie masz do niej dostępu."))
        if problem.status >= 500:
            raise
        return await case_pages.case_page_response(request, caller, svc, str(case_id), status_code=422,
                                                   values=dict(form), reassign_errors=form_errors(problem))
    return RedirectResponse(f"/cases/{case_id}", status_code=303)
