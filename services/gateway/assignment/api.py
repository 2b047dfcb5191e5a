"""REST API of reassignments and absences (/api/v1), for managers (Permission.manage_cases)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.common.params import CaseIdPath, ContractIdPath, LoginFilter, Offset
from services.common.runtime import ServiceContext, get_context
from services.common.terms import LocalDate
from services.gateway.assignment import service as assignment
from services.gateway.clients import ServiceClients
from services.gateway.common import service_clients
from services.gateway.openapi import CHANGE, CREATE, Case, _Open, _Page, problems, success
from services.gateway.permissions import Caller, Permission, allow

router = APIRouter(prefix="/api/v1", tags=["assignment"])
MANAGE = allow(Permission.manage_cases)
AbsenceIdPath = Path(description="the absence's id (a UUID)")
MANAGER_READ = problems(401, 403, 422, 503)


class ReassignBody(BaseModel):
    to: str = Field(min_length=1, max_length=100, description="the login of the staff member who takes the case")
    reason: str = Field(min_length=1, max_length=500, description="why (recorded in the case's history)")


class ReassignAllBody(ReassignBody):
    from_login: str = Field(min_length=1, max_length=100, description="whose open cases of the contract move")


class AbsenceBody(BaseModel):
    login: str = Field(min_length=1, max_length=100, description="who is absent")
    starts_on: LocalDate = Field(description="the first day of the absence (Warsaw date)")
    ends_on: LocalDate = Field(description="the last day of the absence, included")
    substitute: str | None = Field(None, max_length=100, description="the login of who stands in")
    note: str = Field("", max_length=1000)


class AbsenceEndBody(BaseModel):
    ends_on: LocalDate = Field(description="the new last day, before the planned one")


class Absence(_Open):
    id: str
    login: str
    starts_on: date
    ends_on: date
    substitute_login: str | None
    note: str
    cancelled: bool


class AbsencePage(_Page):
    items: list[Absence]


class Reassigned(_Open):
    moved: int
    case_ids: list[str]


@router.post("/contracts/{contract_id}/reassign", summary="Hand every open case of a person on one contract to another",
             responses={**CHANGE, **success(Reassigned)})
async def reassign_all(contract_id: ContractIdPath, body: ReassignAllBody, caller: Caller = Depends(MANAGE),
                       ctx: ServiceContext = Depends(get_context),
                       svc: ServiceClients = Depends(service_clients)) -> Any:
    return await assignment.reassign_all(ctx=ctx, svc=svc, caller=caller, contract_id=contract_id,
                                         from_login=body.from_login, to=body.to, reason=body.reason)


@router.post("/cases/{case_id}/reassign", summary="Hand one open case to another staff member",
             responses={**CHANGE, **success(Case)})
async def reassign_case(case_id: CaseIdPath, body: ReassignBody, caller: Caller = Depends(MANAGE),
                        ctx: ServiceContext = Depends(get_context),
                        svc: ServiceClients = Depends(service_clients)) -> Any:
    return await assignment.reassign_case(ctx=ctx, svc=svc, caller=caller, case_id=str(case_id), to=body.to,
                                          reason=body.reason)


@router.get("/absences", summary="Absences, newest first", responses={**MANAGER_READ, **success(AbsencePage)})
async def list_absences(login: LoginFilter = None, current_on: LocalDate | None = Query(
                            None, description="only those not cancelled and not over on that day"),
                        limit: int = Query(100, ge=1, le=1000), offset: Offset = 0,
                        caller: Caller = Depends(MANAGE), svc: ServiceClients = Depends(service_clients)) -> Any:
    return await assignment.list_absences(svc=svc, caller=caller, login=login,
                                          current_on=current_on.isoformat() if current_on else None,
                                          limit=limit, offset=offset)


@router.post("/absences", status_code=201, summary="Register an absence: its cases go to the substitute",
             responses={**CREATE, **success(Absence, 201)})
async def create_absence(body: AbsenceBody, caller: Caller = Depends(MANAGE),
                         ctx: ServiceContext = Depends(get_context),
                         svc: ServiceClients = Depends(service_clients)) -> JSONResponse:
    absence = await assignment.create_absence(ctx=ctx, svc=svc, caller=caller, body=body.model_dump(mode="json"))
    return JSONResponse(absence, status_code=201, headers={"Location": f"/api/v1/absences/{absence['id']}"})


@router.post("/absences/{absence_id}/end", summary="End an absence early: unstarted cases go back",
             responses={**CHANGE, **success(Absence)})
async def end_absence(body: AbsenceEndBody, absence_id: UUID = AbsenceIdPath, caller: Caller = Depends(MANAGE),
                      ctx: ServiceContext = Depends(get_context),
                      svc: ServiceClients = Depends(service_clients)) -> Any:
    return await assignment.end_absence(ctx=ctx, svc=svc, caller=caller, absence_id=str(absence_id),
                                        ends_on=body.ends_on.isoformat())


@router.post("/absences/{absence_id}/cancel", summary="Cancel an absence: unstarted cases go back",
             responses={**CHANGE, **success(Absence)})
async def cancel_absence(absence_id: UUID = AbsenceIdPath, caller: Caller = Depends(MANAGE),
                         ctx: ServiceContext = Depends(get_context),
                         svc: ServiceClients = Depends(service_clients)) -> Any:
    return await assignment.cancel_absence(ctx=ctx, svc=svc, caller=caller, absence_id=str(absence_id))
