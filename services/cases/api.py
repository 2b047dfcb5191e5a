"""HTTP API of the cases service (internal: the gateway calls it)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from services.cases import handlers, personal, reports
from services.common.errors import NotFound
from services.common.params import (
    CaseIdPath,
    CaseStatus,
    ClientIdPath,
    ContractIdFilter,
    ContractIdList,
    LoginFilter,
    Offset,
)
from services.common.runtime import ServiceContext, get_context
from services.common.scope import Scope, request_scope

router = APIRouter()


@router.get("/cases")
async def list_cases(
    ctx: ServiceContext = Depends(get_context),
    visible_to: LoginFilter = None,
    status: CaseStatus | None = None,
    contract_id: ContractIdFilter = None,
    due_before: date | None = None,
    deadline_state: Literal["on_time", "due_soon", "overdue"] | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
    scope: Scope = Depends(request_scope),
) -> dict[str, Any]:
    """Cases by due date within the caller's scope; `visible_to` narrows them to one person's own."""
    async with ctx.db.reading() as session:
        items, total = await handlers.list_cases(
            session=session, scope=scope, visible_to=visible_to, status=status,
            contract_id=None if contract_id is None else str(contract_id),
            due_before=due_before, deadline_state=deadline_state, limit=limit, offset=offset,
        )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/clients/{client_id}/personal-data")
async def client_personal_data(
    client_id: ClientIdPath,
    ctx: ServiceContext = Depends(get_context),
    contract_id: ContractIdList = [],  # noqa: B006 - FastAPI copies the default
    scope: Scope = Depends(request_scope),
) -> dict[str, Any]:
    """The cases of a client's contracts (`contract_id`, repeated: the gateway names them) within the scope."""
    async with ctx.db.reading() as session:
        return await personal.export(session, client_id=client_id, contract_ids=contract_id, scope=scope)


@router.get("/cases/{case_id}")
async def get_case(case_id: CaseIdPath, ctx: ServiceContext = Depends(get_context),
                   scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.reading() as session:
        case = await handlers.get_case(session=session, case_id=str(case_id), scope=scope)
    if case is None:
        raise NotFound("case", case_id)
    return case


router.include_router(reports.router)  # /reports/…: the report aggregates (services/cases/reports.py)
