"""REST API of cases (/api/v1/cases)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from services.common.params import CaseIdPath, CaseStatus, ContractIdFilter, Offset
from services.gateway.cases import service as cases
from services.gateway.clients import ServiceClients
from services.gateway.common import service_clients
from services.gateway.openapi import READ, READ_ONE, CasePage, CaseWithHistory, success
from services.gateway.permissions import Caller, Permission, allow

router = APIRouter(prefix="/api/v1", tags=["cases"])


@router.get("/cases", summary="Cases visible to the caller, by due date", responses={**READ, **success(CasePage)})
async def list_cases(
    status: CaseStatus | None = None,
    contract_id: ContractIdFilter = None,
    mine: bool = Query(False, description="only the cases the caller does (as assignee or substitute) or commissioned"),
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
    caller: Caller = Depends(allow(Permission.view)),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    return await cases.list_cases(svc=svc, caller=caller, mine=mine, status=status, contract_id=contract_id,
                                  limit=limit, offset=offset)


@router.get("/cases/{case_id}", summary="One case, its history and why it exists",
            responses={**READ_ONE, **success(CaseWithHistory)})
async def get_case(case_id: CaseIdPath, caller: Caller = Depends(allow(Permission.view)),
                   svc: ServiceClients = Depends(service_clients)) -> Any:
    return await cases.get_case(svc=svc, caller=caller, case_id=str(case_id))
