"""HTTP API (internal) of who works a case: reassignments and absences. The gateway calls it for managers."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query

from services.cases import assignment
from services.cases.assignment import AbsenceEnd, AbsenceIn, ReassignAll, Reassignment
from services.common.params import CaseIdPath, LoginFilter, Offset
from services.common.runtime import ServiceContext, get_context
from services.common.scope import Scope, request_scope
from services.common.terms import LocalDate

router = APIRouter()
AbsenceIdPath = Path(description="the absence's id (a UUID)")


@router.post("/cases/reassign")
async def reassign_all(body: ReassignAll, ctx: ServiceContext = Depends(get_context),
                       scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """Every open case of `from_login` on one contract goes to `to`."""
    async with ctx.db.transaction() as session:
        return await assignment.reassign_all(ctx=ctx, session=session, body=body, scope=scope)


@router.post("/cases/{case_id}/reassign")
async def reassign_case(case_id: CaseIdPath, body: Reassignment, ctx: ServiceContext = Depends(get_context),
                        scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        return await assignment.reassign_case(ctx=ctx, session=session, case_id=str(case_id), body=body,
                                              scope=scope)


@router.get("/absences")
async def list_absences(ctx: ServiceContext = Depends(get_context), login: LoginFilter = None,
                        current_on: LocalDate | None = None, limit: int = Query(100, ge=1, le=1000),
                        offset: Offset = 0) -> dict[str, Any]:
    """Absences, newest first; `login`: of or covered by that person; `current_on`: not over on that day."""
    async with ctx.db.reading() as session:
        items, total = await assignment.list_absences(session=session, login=login, current_on=current_on,
                                                      limit=limit, offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.post("/absences", status_code=201)
async def create_absence(body: AbsenceIn, ctx: ServiceContext = Depends(get_context),
                         scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        return await assignment.create_absence(ctx=ctx, session=session, body=body, actor=scope.login or "service")


@router.get("/absences/{absence_id}")
async def get_absence(absence_id: UUID = AbsenceIdPath, ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    async with ctx.db.reading() as session:
        return await assignment.get_absence(session=session, absence_id=str(absence_id))


@router.post("/absences/{absence_id}/end")
async def end_absence(body: AbsenceEnd, absence_id: UUID = AbsenceIdPath, ctx: ServiceContext = Depends(get_context),
                      scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        return await assignment.end_absence(ctx=ctx, session=session, absence_id=str(absence_id), body=body,
                                            actor=scope.login or "service")


@router.post("/absences/{absence_id}/cancel")
async def cancel_absence(absence_id: UUID = AbsenceIdPath, ctx: ServiceContext = Depends(get_context),
                         scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        return await assignment.cancel_absence(ctx=ctx, session=session, absence_id=str(absence_id),
                                               actor=scope.login or "service")
