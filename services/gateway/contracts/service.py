"""Clients, contracts, annexes, terminations, CSV imports and plans: what the API and the pages both do.

Each function acts for a `Caller`: reads pass the caller's scope to the contracts service and the scheduler,
which answer only what it holds (and 404 for the rest); each change is audited once it is made.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from services.common.errors import Problem
from services.common.runtime import ServiceContext
from services.common.terms import TeamRole
from services.gateway import users
from services.gateway.audit import service as audit
from services.gateway.clients import ServiceClients
from services.gateway.common import idempotency
from services.gateway.permissions import Caller

TEAM_ROLES = tuple(role.value for role in TeamRole)


async def list_clients(*, svc: ServiceClients, caller: Caller, q: str | None, limit: int,
                       offset: int) -> dict[str, Any]:
    page: dict[str, Any] = await svc.call("contracts", "GET", "/clients", scope=caller.scope,
                                          params={"q": q, "limit": limit, "offset": offset})
    return page


async def get_client(*, svc: ServiceClients, caller: Caller, client_id: int) -> dict[str, Any]:
    """A client with its contracts the caller sees; a 404 problem when the caller sees none of them."""
    client: dict[str, Any] = await svc.call("contracts", "GET", f"/clients/{client_id}", scope=caller.scope)
    return client


async def find_client(*, svc: ServiceClients, caller: Caller, client_id: int) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await svc.find("contracts", f"/clients/{client_id}", scope=caller.scope)
    return found


async def list_contracts(*, svc: ServiceClients, caller: Caller, limit: int, offset: int,
                         **filters: Any) -> dict[str, Any]:
    """Contracts by number, filtered by `client_id`, `employee`, `service`, `status`."""
    page: dict[str, Any] = await svc.call("contracts", "GET", "/contracts", scope=caller.scope,
                                          params={**filters, "limit": limit, "offset": offset})
    return page


async def get_contract(*, svc: ServiceClients, caller: Caller, contract_id: int) -> dict[str, Any]:
    contract: dict[str, Any] = await svc.call("contracts", "GET", f"/contracts/{contract_id}", scope=caller.scope)
    return contract


async def find_contract(*, svc: ServiceClients, caller: Caller, contract_id: int) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await svc.find("contracts", f"/contracts/{contract_id}", scope=caller.scope)
    return found


async def plan(*, svc: ServiceClients, caller: Caller, contract_id: int) -> dict[str, Any]:
    """The obligations a contract produces; a 404 problem for a contract the caller does not see."""
    await get_contract(svc=svc, caller=caller, contract_id=contract_id)  # 404 for one that does not exist
    result: dict[str, Any] = await svc.call("scheduler", "GET", "/plan", scope=caller.scope,
                                            params={"contract_id": contract_id})
    return result


async def create_client(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, body: dict[str, Any],
                        idempotency_key: str | None = None) -> dict[str, Any]:
    client: dict[str, Any] = await svc.call("contracts", "POST", "/clients", json=body, scope=caller.scope,
                                            headers=idempotency(idempotency_key))
    await audit.record(ctx, caller.user, action="client.create", target=f"client:{client['id']}")
    return client


async def update_client(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, client_id: int,
                        changes: dict[str, Any]) -> dict[str, Any]:
    """Change a client's name, address, identifiers, recipients or accounts; audited when something changed
    (the changed fields, never their values: accounts and PESELs stay out of the log)."""
    client: dict[str, Any] = await svc.call("contracts", "PATCH", f"/clients/{client_id}", json=changes,
                                            scope=caller.scope)
    if client["changed"]:
        await audit.record(ctx, caller.user, action="client.update", target=f"client:{client_id}",
                           detail={"changed": client["changed"]})
    return client


async def resolve_team(ctx: ServiceContext, team: Any) -> dict[str, dict[str, str] | None]:
    """Team logins → the people (name, e-mail) the other services need; an unknown login names its field."""
    if not isinstance(team, dict):
        raise Problem(422, "Invalid contract", errors=[{"field": "team", "message": "must name the accountant"}])
    resolved: dict[str, dict[str, str] | None] = {}
    errors = []
    async with ctx.db.reading() as session:
        for role in TEAM_ROLES:
            login = team.get(role)
            if not login:
                resolved[role] = None
                continue
            person = await users.get_user(session=session, login=str(login))
            if person is None:
                errors.append({"field": f"team.{role}", "message": f"no active user with login {login!r}"})
                continue
            resolved[role] = {"login": person.login, "name": person.name, "email": person.email}
    if errors:
        raise Problem(422, "Invalid contract", "the team names people who are not users", errors=errors)
    return resolved


async def team_members(ctx: ServiceContext) -> list[dict[str, str]]:
    """Every active user as a possible team member (login, name, e-mail), e.g. for a CSV import."""
    async with ctx.db.reading() as session:
        return [{"login": u.login, "name": u.name, "email": u.email} for u in await users.list_users(session=session)]


async def staff(ctx: ServiceContext) -> list[users.User]:
    """The active users, for the team's choices on the forms."""
    async with ctx.db.reading() as session:
        return await users.list_users(session=session)


async def create_contract(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, body: dict[str, Any],
                          idempotency_key: str | None = None) -> dict[str, Any]:
    payload = {**body, "team_members": await resolve_team(ctx, body.get("team"))}
    contract: dict[str, Any] = await svc.call("contracts", "POST", "/contracts", json=payload, scope=caller.scope,
                                              headers=idempotency(idempotency_key))
    await audit.record(ctx, caller.user, action="contract.create", target=f"contract:{contract['id']}")
    return contract


async def add_annex(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, contract_id: int,
                    body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
    payload = dict(body)
    if "team" in body:
        payload["team_members"] = await resolve_team(ctx, body.get("team"))
    contract: dict[str, Any] = await svc.call("contracts", "POST", f"/contracts/{contract_id}/annexes",
                                              json=payload, scope=caller.scope, headers=idempotency(idempotency_key))
    await audit.record(ctx, caller.user, action="contract.annex", target=f"contract:{contract_id}",
                       detail={"version": contract["version"], "effective_from": body.get("effective_from")})
    return contract


async def terminate(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, contract_id: int,
                    body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
    contract: dict[str, Any] = await svc.call("contracts", "POST", f"/contracts/{contract_id}/termination",
                                              json=body, scope=caller.scope, headers=idempotency(idempotency_key))
    await audit.record(ctx, caller.user, action="contract.terminate", target=f"contract:{contract_id}",
                       detail={"end": body.get("end")})
    return contract


async def import_columns(*, svc: ServiceClients, caller: Caller) -> dict[str, Any]:
    """The import's column guide and example file (the contracts service owns the format)."""
    guide: dict[str, Any] = await svc.call("contracts", "GET", "/imports/columns", scope=caller.scope)
    return guide


async def import_dry_run(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, text: str) -> dict[str, Any]:
    """Check a CSV file against the book; stores nothing."""
    report: dict[str, Any] = await svc.call("contracts", "POST", "/imports/dry-run", scope=caller.scope,
                                            json={"csv": text, "users": await team_members(ctx)})
    return report


async def import_apply(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, text: str,
                       idempotency_key: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = await svc.call("contracts", "POST", "/imports/apply", scope=caller.scope,
                                            json={"csv": text, "users": await team_members(ctx)},
                                            headers=idempotency(idempotency_key))
    await audit.record(ctx, caller.user, action="import.apply", target="contracts",
                       detail={"imported": result["imported"]})
    return result


async def billing(*, svc: ServiceClients, caller: Caller, contract_id: int, month: str) -> dict[str, Any]:
    """The month's recorded documents and employees of a contract and the fee they give."""
    answer: dict[str, Any] = await svc.call("contracts", "GET", f"/contracts/{contract_id}/billing/{month}",
                                            scope=caller.scope)
    return answer


async def record_billing(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, contract_id: int, month: str,
                         body: dict[str, Any], source: str = "api") -> dict[str, Any]:
    """Record the month's documents booked and/or employees paid (a count left out stays as recorded)."""
    answer: dict[str, Any] = await svc.call(
        "contracts", "PUT", f"/contracts/{contract_id}/billing/{month}", json=body, scope=caller.scope,
        params={"recorded_by": caller.login, "source": source})
    await audit.record(ctx, caller.user, action="contract.billing", target=f"contract:{contract_id}",
                       detail={"month": answer["month"], "documents": answer["documents"],
                               "employees": answer["employees"], "source": source})
    return answer


async def import_billing(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, month: str,
                         text: str) -> dict[str, Any]:
    """A month's CSV of counts (`contract_number,documents,employees`): every row recorded, or a 422 and nothing."""
    answer: dict[str, Any] = await svc.call("contracts", "POST", f"/billing/{month}/import", json={"csv": text},
                                            scope=caller.scope, params={"recorded_by": caller.login})
    await audit.record(ctx, caller.user, action="contract.billing_import", target=f"billing:{month}",
                       detail={"recorded": answer["recorded"]})
    return answer


# --- Powers of attorney and fee payments (services/contracts/powers.py, payments.py) ------------------------------


async def powers(*, svc: ServiceClients, caller: Caller, client_id: int) -> dict[str, Any]:
    """A client's powers of attorney with their state today (404 for a client the caller does not see)."""
    answer: dict[str, Any] = await svc.call("contracts", "GET", f"/clients/{client_id}/powers", scope=caller.scope)
    return answer


async def add_power(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, client_id: int,
                    fields: dict[str, str], file: tuple[str, Any, str] | None) -> dict[str, Any]:
    """Register a power (and its document): passed on as multipart, audited."""
    power: dict[str, Any] = await svc.call(
        "contracts", "POST", f"/clients/{client_id}/powers", scope=caller.scope, data=fields,
        files={"file": file} if file else None, params={"created_by": caller.login})
    await audit.record(ctx, caller.user, action="client.power_add", target=f"client:{client_id}",
                       detail={"power": power["id"], "kind": power["kind"], "valid_until": power["valid_until"],
                               "sha256": (power["document"] or {}).get("sha256")})
    return power


async def revoke_power(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, client_id: int, power_id: int,
                       on: str | None = None) -> dict[str, Any]:
    power: dict[str, Any] = await svc.call(
        "contracts", "POST", f"/clients/{client_id}/powers/{power_id}/revocation", scope=caller.scope,
        json={"on": on}, params={"revoked_by": caller.login})
    await audit.record(ctx, caller.user, action="client.power_revoke", target=f"client:{client_id}",
                       detail={"power": str(power_id), "kind": power["kind"], "revoked_on": power["revoked_on"]})
    return power


async def power_document(*, svc: ServiceClients, caller: Caller, client_id: int, power_id: int) -> Any:
    return await svc.stream("contracts", f"/clients/{client_id}/powers/{power_id}/document", scope=caller.scope)


async def list_payments(*, svc: ServiceClients, caller: Caller, **filters: Any) -> dict[str, Any]:
    page: dict[str, Any] = await svc.call("contracts", "GET", "/payments", scope=caller.scope,
                                          params={k: v for k, v in filters.items() if v is not None})
    return page


async def record_payment(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller,
                         body: dict[str, Any]) -> dict[str, Any]:
    payment: dict[str, Any] = await svc.call("contracts", "POST", "/payments", json=body, scope=caller.scope,
                                             params={"recorded_by": caller.login})
    await audit.record(ctx, caller.user, action="payment.record", target=f"payment:{payment['id']}",
                       detail={"amount": payment["amount"], "client_id": payment["client_id"],
                               "months": [m["month"] for m in payment["months"]]})
    return payment


async def import_payments(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, text: str) -> dict[str, Any]:
    """A bank statement CSV: every row stored and matched, or a 422 listing the bad rows and nothing stored."""
    answer: dict[str, Any] = await svc.call("contracts", "POST", "/payments/import", json={"csv": text},
                                            scope=caller.scope, params={"recorded_by": caller.login})
    await audit.record(ctx, caller.user, action="payment.import", target=f"payments:{answer['batch'] or 'none'}",
                       detail={"recorded": answer["recorded"], "unassigned": answer["unassigned"],
                               "duplicates": len(answer["duplicates"])})
    return answer


async def assign_payment(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, payment_id: int,
                         body: dict[str, Any]) -> dict[str, Any]:
    payment: dict[str, Any] = await svc.call("contracts", "PUT", f"/payments/{payment_id}/assignment", json=body,
                                             scope=caller.scope)
    await audit.record(ctx, caller.user, action="payment.assign", target=f"payment:{payment_id}",
                       detail={"client_id": payment["client_id"], "months": [m["month"] for m in payment["months"]]})
    return payment


async def remind_overdue(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, contract_id: int, month: str,
                         today: date) -> dict[str, Any]:
    """The client is reminded of an overdue fee: the contracts service announces the month (fee.overdue, once per
    contract and month — the daily check may have done it already; then nothing new is sent) and the notifier
    mails the client its notice, reminded daily until paid or confirmed. 404 for a contract month the caller does
    not see, 409 when that month's fee is not overdue."""
    answer: dict[str, Any] = await svc.call(
        "contracts", "POST", f"/contracts/{contract_id}/fees/{month}/reminder", scope=caller.scope,
        json={"login": caller.user.login, "name": caller.user.name, "email": caller.user.email})
    await audit.record(ctx, caller.user, action="payment.remind", target=f"contract:{contract_id}",
                       detail={"month": month, "outstanding": answer["outstanding"], "created": answer["created"]})
    return {"contract_id": str(contract_id), "month": month, "outstanding": answer["outstanding"],
            "payment_due": answer["payment_due"], "created": answer["created"],
            "already_reminded": not answer["created"]}
