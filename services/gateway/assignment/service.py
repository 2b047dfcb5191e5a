"""Reassignments and absences for managers: logins are checked against the staff accounts and turned into the
people (name, e-mail) the cases service records, then the cases service does the work; each change is audited."""

from __future__ import annotations

from typing import Any

from services.common.errors import Problem
from services.common.runtime import ServiceContext
from services.gateway import users
from services.gateway.audit import service as audit
from services.gateway.clients import ServiceClients
from services.gateway.permissions import Caller


async def person(ctx: ServiceContext, login: Any, field: str) -> dict[str, str]:
    """An active staff account as {login, name, email}; anything else is a 422 naming `field`."""
    async with ctx.db.reading() as session:
        user = await users.get_user(session=session, login=str(login)) if isinstance(login, str) and login else None
    if user is None:
        message = "choose a staff member" if not login else f"no active user with login {login!r}"
        raise Problem(422, "Unknown person", errors=[{"field": field, "message": message}])
    return {"login": user.login, "name": user.name, "email": user.email}


async def reassign_case(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, case_id: str,
                        to: Any, reason: Any) -> dict[str, Any]:
    body = {"to": await person(ctx, to, "to"), "reason": reason}
    case: dict[str, Any] = await svc.call("cases", "POST", f"/cases/{case_id}/reassign", json=body,
                                          scope=caller.scope)
    await audit.record(ctx, caller.user, action="case.reassign", target=f"case:{case_id}",
                       detail={"to": body["to"]["login"], "reason": reason})
    return case


async def reassign_all(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, contract_id: int,
                       from_login: Any, to: Any, reason: Any) -> dict[str, Any]:
    body = {"contract_id": str(contract_id), "from_login": from_login, "to": await person(ctx, to, "to"),
            "reason": reason}
    result: dict[str, Any] = await svc.call("cases", "POST", "/cases/reassign", json=body, scope=caller.scope)
    await audit.record(ctx, caller.user, action="case.reassign_all", target=f"contract:{contract_id}",
                       detail={"from": from_login, "to": body["to"]["login"], "moved": result["moved"]})
    return result


async def list_absences(*, svc: ServiceClients, caller: Caller, login: str | None = None,
                        current_on: str | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    page: dict[str, Any] = await svc.call("cases", "GET", "/absences", scope=caller.scope, params={
        "login": login, "current_on": current_on, "limit": limit, "offset": offset})
    return page


async def create_absence(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller,
                         body: dict[str, Any]) -> dict[str, Any]:
    """`body`: login, starts_on, ends_on, substitute (a login or none), note."""
    absent = await person(ctx, body.get("login"), "login")
    substitute = body.get("substitute")
    payload = {**body, "login": absent["login"], "name": absent["name"],
               "substitute": await person(ctx, substitute, "substitute") if substitute else None}
    absence: dict[str, Any] = await svc.call("cases", "POST", "/absences", json=payload, scope=caller.scope)
    await audit.record(ctx, caller.user, action="absence.create", target=f"absence:{absence['id']}",
                       detail={"login": absence["login"], "substitute": absence["substitute_login"],
                               "starts_on": absence["starts_on"], "ends_on": absence["ends_on"],
                               "moved": absence["moved"]})
    return absence


async def end_absence(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, absence_id: str,
                      ends_on: Any) -> dict[str, Any]:
    absence: dict[str, Any] = await svc.call("cases", "POST", f"/absences/{absence_id}/end",
                                             json={"ends_on": ends_on}, scope=caller.scope)
    await audit.record(ctx, caller.user, action="absence.end", target=f"absence:{absence_id}",
                       detail={"ends_on": absence["ends_on"], "handed_back": absence["handed_back"]})
    return absence


async def cancel_absence(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller,
                         absence_id: str) -> dict[str, Any]:
    absence: dict[str, Any] = await svc.call("cases", "POST", f"/absences/{absence_id}/cancel", json={},
                                             scope=caller.scope)
    await audit.record(ctx, caller.user, action="absence.cancel", target=f"absence:{absence_id}",
                       detail={"handed_back": absence["handed_back"]})
    return absence
