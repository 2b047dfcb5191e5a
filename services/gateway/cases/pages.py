"""Web pages of cases: the list and one case with why it exists."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from services.common.params import CaseIdPath
from services.gateway.cases import service as cases
from services.gateway.clients import ServiceClients
from services.gateway.common import service_clients
from services.gateway.notices import service as notices
from services.gateway.permissions import Caller, Permission, allow_page
from services.gateway.web import not_found, render, templates

router = APIRouter(include_in_schema=False)
templates.env.globals.update(
    STATUS_PL={"open": "otwarta", "in_progress": "w toku", "done": "zakończona", "withdrawn": "wycofana"})
VIEW = allow_page(Permission.view)


@router.get("/cases")
async def case_list(request: Request, status: Literal["", "open", "in_progress", "done", "withdrawn"] = "open",
                    mine: bool = False,
                    caller: Caller = Depends(VIEW), svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    result = await cases.list_cases(svc=svc, caller=caller, mine=mine, status=status or None, limit=500)
    return render(request, "cases/list.html", caller.user, cases=result["items"], total=result["total"],
                  status=status, mine=mine)


@router.get("/cases/{case_id}")
async def case_page(request: Request, case_id: CaseIdPath, caller: Caller = Depends(VIEW),
                    svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    case = await cases.find_case(svc=svc, caller=caller, case_id=str(case_id))
    if case is None:
        return not_found(request, caller.user, "Sprawa nie istnieje lub nie masz do niej dostępu.")
    return render(request, "cases/case.html", caller.user, case=case,
                  case_notices=await notices.case_notices(svc=svc, caller=caller, case_id=str(case_id)))
