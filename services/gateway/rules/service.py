"""The obligation rules: what is in force (everyone reads it), and previewing and applying the edited folder."""

from __future__ import annotations

from typing import Any

from services.common.errors import Problem
from services.common.runtime import ServiceContext
from services.gateway.audit import service as audit
from services.gateway.clients import ServiceClients
from services.gateway.permissions import Caller


async def in_force(*, svc: ServiceClients, caller: Caller) -> dict[str, Any]:
    rules: dict[str, Any] = await svc.call("scheduler", "GET", "/rules", scope=caller.scope)
    return rules


async def preview(*, svc: ServiceClients, caller: Caller) -> dict[str, Any]:
    """What the edited folder would add and withdraw, per contract (a 422 problem for a broken folder)."""
    result: dict[str, Any] = await svc.call("scheduler", "POST", "/rules/preview", scope=caller.scope)
    return result


async def apply(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller) -> dict[str, Any]:
    """Put the rules folder in force; the attempt is audited whether it is put in force or rejected."""
    try:
        result: dict[str, Any] = await svc.call("scheduler", "POST", "/rules/apply", scope=caller.scope)
    except Problem as problem:
        if problem.status == 422:
            await audit.record(ctx, caller.user, action="rules.rejected", target="rules",
                               detail={"errors": problem.errors})
        raise
    await audit.record(ctx, caller.user, action="rules.apply", target=f"rules:{result.get('version')}")
    return result
