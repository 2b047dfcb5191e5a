"""REST API of the obligation rules (/api/v1/rules)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from services.common.runtime import ServiceContext, get_context
from services.gateway.clients import ServiceClients
from services.gateway.common import service_clients
from services.gateway.openapi import ADMIN, RulesApplied, RulesInForce, RulesPreview, problems, success
from services.gateway.permissions import Caller, Permission, allow
from services.gateway.rules import service as rules

router = APIRouter(prefix="/api/v1", tags=["rules"])


@router.get("/rules", summary="The obligation rules in force, their version and the history of rule sets",
            responses={**problems(401, 503), **success(RulesInForce)})
async def rules_in_force(caller: Caller = Depends(allow(Permission.view)),
                         svc: ServiceClients = Depends(service_clients)) -> Any:
    return await rules.in_force(svc=svc, caller=caller)


@router.post("/rules/preview", summary="What the edited rules folder would add, change (dates, title, checklist, "
                                      "role) and withdraw, per contract",
             responses={**ADMIN, **success(RulesPreview)})
async def rules_preview(caller: Caller = Depends(allow(Permission.manage_rules)),
                        svc: ServiceClients = Depends(service_clients)) -> Any:
    return await rules.preview(svc=svc, caller=caller)


@router.post("/rules/apply", summary="Put the edited rules folder in force (a broken set is rejected)",
             responses={**ADMIN, **success(RulesApplied)})
async def rules_apply(caller: Caller = Depends(allow(Permission.manage_rules)),
                      ctx: ServiceContext = Depends(get_context),
                      svc: ServiceClients = Depends(service_clients)) -> Any:
    return await rules.apply(ctx=ctx, svc=svc, caller=caller)
