"""Cases as the caller sees them: the cases service filters by the caller's scope (their contracts' cases, and
those they do or commissioned) and answers 404 for any other. Changes go to it with the caller's scope and name
(history, the client notice's accountant) and are audited here once made."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

from services.common.errors import Problem
from services.common.runtime import ServiceContext
from services.gateway.audit import service as audit
from services.gateway.clients import ServiceClients
from services.gateway.contracts import service as contracts
from services.gateway.permissions import Caller

# The status changes a case takes, by the path of its command in the cases service.
ACTIONS = ("start", "finish", "not-applicable", "reopen", "received")
# The month's billing counts (services/contracts/fees.py) a finished case may carry, by the rules whose monthly case
# closes the month's books (documents booked) or payroll (employees paid); the case's period is the month.
BILLING_RULES = {
    "documents": frozenset({"vat.jpk_v7m", "vat.jpk_v7k_records", "pit.advance_monthly", "pit.ryczalt_monthly",
                            "cit.advance_monthly"}),
    "employees": frozenset({"payroll.pit_withheld"}),
}
BILLING_MAX = {"documents": 1_000_000, "employees": 100_000}
_MONTH = re.compile(r"^\d{4}-\d{2}$")


def billing_fields(case: dict[str, Any]) -> list[str]:
    """The counts finishing `case` may record for its month: documents and/or employees, or none."""
    if not _MONTH.match(str(case.get("period") or "")) or not case.get("contract_id"):
        return []
    return [field for field, rules in BILLING_RULES.items() if case.get("rule_id") in rules]


def billing_counts(values: dict[str, Any]) -> dict[str, int]:
    """The counts given on a finish form or body (blank: not given), as whole numbers, or 422 naming the field."""
    counts: dict[str, int] = {}
    errors = []
    for field, most in BILLING_MAX.items():
        value = values.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        text = value.strip() if isinstance(value, str) else value
        if isinstance(text, bool) or not (isinstance(text, int) or (isinstance(text, str) and text.isdigit())):
            errors.append({"field": field, "message": "a whole number, 0 or more"})
        elif not 0 <= int(text) <= most:
            errors.append({"field": field, "message": f"from 0 to {most}"})
        else:
            counts[field] = int(text)
    if errors:
        raise Problem(422, "Invalid input", errors=errors)
    return counts


def _list_params(*, mine: bool, status: str | None, contract_id: int | None, limit: int, offset: int,
                 **filters: Any) -> dict[str, Any]:
    params = {"mine": "true" if mine else None, "status": status, "contract_id": contract_id, "limit": limit,
              "offset": offset, **{k: (v.isoformat() if isinstance(v, date) else v) for k, v in filters.items()}}
    if params.get("desc") is not None:
        params["desc"] = "true" if params["desc"] else None
    return params


async def list_cases(*, svc: ServiceClients, caller: Caller, mine: bool = False, status: str | None = None,
                     contract_id: int | None = None, limit: int = 100, offset: int = 0,
                     **filters: Any) -> dict[str, Any]:
    """Cases by due date (or `sort`), a page of them, their total and the count per status; `mine`: only the
    caller's own; `filters`: tab, client_id, client, code, assignee, due_from, due_to, sort, desc."""
    params = _list_params(mine=mine, status=status, contract_id=contract_id, limit=limit, offset=offset, **filters)
    page: dict[str, Any] = await svc.call("cases", "GET", "/cases", scope=caller.scope, params=params)
    return page


async def list_cases_json(*, svc: ServiceClients, caller: Caller, mine: bool = False, status: str | None = None,
                          contract_id: int | None = None, limit: int = 100, offset: int = 0,
                          **filters: Any) -> bytes:
    """`list_cases` as the cases service encoded it (the API hands it on)."""
    params = _list_params(mine=mine, status=status, contract_id=contract_id, limit=limit, offset=offset, **filters)
    return await svc.json_bytes("cases", "/cases", scope=caller.scope, params=params)


async def get_case(*, svc: ServiceClients, caller: Caller, case_id: str) -> dict[str, Any]:
    case: dict[str, Any] = await svc.call("cases", "GET", f"/cases/{case_id}", scope=caller.scope)
    return case


async def find_case(*, svc: ServiceClients, caller: Caller, case_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await svc.find("cases", f"/cases/{case_id}", scope=caller.scope)
    return found


def _actor(caller: Caller) -> dict[str, str]:
    return {"name": caller.user.name, "email": caller.user.email}


async def change(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, case_id: str, action: str,
                 body: dict[str, Any] | None = None, counts_given: dict[str, Any] | None = None) -> dict[str, Any]:
    """A status change (`ACTIONS`): the case as it is after it. `counts_given` (finishing the month's bookkeeping
    or payroll case): its month's documents and/or employees, checked before the case changes and recorded with
    the contracts service after (`billing` in the answer)."""
    if action not in ACTIONS:
        raise Problem(404, "Not found", f"no case action {action!r}")
    counts = billing_counts(counts_given or {})
    if counts:
        before = await get_case(svc=svc, caller=caller, case_id=case_id)
        allowed = billing_fields(before)
        name = before.get("code") or before.get("rule_id") or case_id
        if wrong := [field for field in counts if field not in allowed]:
            raise Problem(422, "Invalid input", errors=[
                {"field": field, "message": f"case {name} does not count the month's {field}"} for field in wrong])
    case: dict[str, Any] = await svc.call("cases", "POST", f"/cases/{case_id}/{action}", scope=caller.scope,
                                          json={**(body or {}), "actor": _actor(caller)})
    await audit.record(ctx, caller.user, action=f"case.{action.replace('-', '_')}", target=f"case:{case_id}",
                       detail={"status": case.get("status")})
    if counts:
        # After the case is done: its month's counts go to the contracts service, which computes the fee.
        case["billing"] = await contracts.record_billing(
            ctx=ctx, svc=svc, caller=caller, contract_id=int(case["contract_id"]), month=str(case["period"]),
            body=counts, source="case")
    return case


async def tick(*, svc: ServiceClients, caller: Caller, case_id: str, index: int, done: Any) -> dict[str, Any]:
    case: dict[str, Any] = await svc.call("cases", "PUT", f"/cases/{case_id}/checklist/{index}", scope=caller.scope,
                                          json={"done": done, "actor": _actor(caller)})
    return case


async def comment(*, svc: ServiceClients, caller: Caller, case_id: str, text: Any) -> dict[str, Any]:
    added: dict[str, Any] = await svc.call("cases", "POST", f"/cases/{case_id}/comments", scope=caller.scope,
                                           json={"text": text, "actor": _actor(caller)})
    return added


async def upload(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, case_id: str, kind: str,
                 filename: str, content: Any, content_type: str) -> dict[str, Any]:
    """Pass an uploaded file (a file object, read in chunks) on to the cases service with the caller's scope."""
    attachment: dict[str, Any] = await svc.call(
        "cases", "POST", f"/cases/{case_id}/attachments", scope=caller.scope, data={"kind": kind},
        files={"file": (filename, content, content_type or "application/octet-stream")})
    await audit.record(ctx, caller.user, action="case.attach", target=f"case:{case_id}",
                       detail={"attachment": attachment["id"], "sha256": attachment["sha256"]})
    return attachment


async def download(*, svc: ServiceClients, caller: Caller, case_id: str,
                   attachment_id: str) -> tuple[dict[str, str], AsyncIterator[bytes]]:
    """An attachment's headers and its bytes as they come from the cases service (404 outside the scope)."""
    return await svc.stream("cases", f"/cases/{case_id}/attachments/{attachment_id}", scope=caller.scope)


async def create_one_off(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, contract_id: int,
                         title: Any, due: Any, assignee: str | None = None,
                         checklist: list[Any] | None = None) -> dict[str, Any]:
    """A one-off case for a contract the caller sees; its assignee a team member (the accountant by default)."""
    contract: dict[str, Any] | None = await svc.find("contracts", f"/contracts/{contract_id}", scope=caller.scope)
    if contract is None:
        raise Problem(404, "Not found", f"contract {contract_id} does not exist")
    members: dict[str, Any] = {role: m for role, m in (contract.get("team_members") or {}).items() if m}
    by_login = {m["login"]: m for m in members.values()}
    if assignee:
        person = by_login.get(assignee)
        if person is None:
            raise Problem(422, "Invalid input", f"{assignee} is not on the contract's team",
                          errors=[{"field": "assignee", "message": "choose a member of the contract's team"}])
    else:
        person = members.get("accountant") or next(iter(members.values()), None)
    body = {"title": title, "due": due, "checklist": checklist or [], "assignee": person,
            "commissioner": members.get("manager"), "contract_number": contract.get("number", ""),
            "client_id": str(contract.get("client_id", "")), "client_name": contract.get("client_name", ""),
            "actor": _actor(caller)}
    case: dict[str, Any] = await svc.call("cases", "POST", f"/contracts/{contract_id}/cases", scope=caller.scope,
                                          json={k: v for k, v in body.items() if v is not None})
    await audit.record(ctx, caller.user, action="case.create", target=f"case:{case['id']}",
                       detail={"contract_id": contract_id})
    return case
