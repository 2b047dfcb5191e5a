"""Cases as the caller sees them: the cases service filters by the caller's scope (their contracts' cases, and
those they do or commissioned) and answers 404 for any other."""

from __future__ import annotations

from typing import Any

from services.gateway.clients import ServiceClients
from services.gateway.permissions import Caller


async def list_cases(*, svc: ServiceClients, caller: Caller, mine: bool = False, status: str | None = None,
                     contract_id: int | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Cases by due date; `mine`: only those the caller does (as assignee or substitute) or commissioned."""
    page: dict[str, Any] = await svc.call("cases", "GET", "/cases", scope=caller.scope, params={
        "visible_to": caller.login if mine else None, "status": status, "contract_id": contract_id,
        "limit": limit, "offset": offset})
    return page


async def get_case(*, svc: ServiceClients, caller: Caller, case_id: str) -> dict[str, Any]:
    case: dict[str, Any] = await svc.call("cases", "GET", f"/cases/{case_id}", scope=caller.scope)
    return case


async def find_case(*, svc: ServiceClients, caller: Caller, case_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await svc.find("cases", f"/cases/{case_id}", scope=caller.scope)
    return found
