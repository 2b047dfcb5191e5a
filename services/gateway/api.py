"""The public REST API (/api/v1): what other systems call, with bearer tokens, documented by OpenAPI."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from services.common.errors import NotFound, Problem
from services.common.log import current_correlation_id
from services.common.runtime import ServiceContext, get_context
from services.gateway import users
from services.gateway.auth import api_user, contract_manager
from services.gateway.clients import ServiceClients
from services.gateway.users import User

router = APIRouter(prefix="/api/v1", tags=["api"])
TEAM_ROLES = ("accountant", "payroll", "manager")


def service_clients(ctx: ServiceContext = Depends(get_context)) -> ServiceClients:
    clients: ServiceClients = ctx.extras["clients"]
    return clients


async def _audit(ctx: ServiceContext, user: User, action: str, target: str,
                 detail: dict[str, Any] | None = None) -> None:
    async with ctx.db.transaction() as session:
        await users.audit(session=session, user=user, action=action, target=target, now=ctx.clock.now(),
                          correlation_id=current_correlation_id(), detail=detail)


@router.post("/clients", status_code=201, summary="Register a client of the office")
async def create_client(
    body: dict[str, Any] = Body(..., examples=[{"name": "Kowalski Usługi", "legal_form": "sole_trader"}]),
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
    user: User = Depends(contract_manager),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> JSONResponse:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    client = await svc.call("contracts", "POST", "/clients", json=body, headers=headers)
    await _audit(ctx, user, "client.create", f"client:{client['id']}")
    return JSONResponse(client, status_code=201, headers={"Location": f"/api/v1/clients/{client['id']}"})


@router.get("/clients", summary="List clients")
async def list_clients(
    q: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    user: User = Depends(api_user),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    return await svc.call("contracts", "GET", "/clients", params={"q": q, "limit": limit, "offset": offset})


@router.get("/clients/{client_id}", summary="One client")
async def get_client(client_id: str, user: User = Depends(api_user),
                     svc: ServiceClients = Depends(service_clients)) -> Any:
    return await svc.call("contracts", "GET", f"/clients/{client_id}")


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


@router.post("/contracts", status_code=201, summary="Sign a contract with a client")
async def create_contract(
    body: dict[str, Any] = Body(...),
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
    user: User = Depends(contract_manager),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> JSONResponse:
    payload = dict(body)
    payload["team"] = await resolve_team(ctx, body.get("team"))
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    contract = await svc.call("contracts", "POST", "/contracts", json=payload, headers=headers)
    await _audit(ctx, user, "contract.create", f"contract:{contract['id']}")
    return JSONResponse(contract, status_code=201, headers={"Location": f"/api/v1/contracts/{contract['id']}"})


@router.get("/contracts", summary="List contracts")
async def list_contracts(
    client_id: str | None = None,
    status: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    user: User = Depends(api_user),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    return await svc.call("contracts", "GET", "/contracts",
                          params={"client_id": client_id, "status": status, "limit": limit, "offset": offset})


@router.get("/contracts/{contract_id}", summary="One contract with its versions")
async def get_contract(contract_id: str, user: User = Depends(api_user),
                       svc: ServiceClients = Depends(service_clients)) -> Any:
    return await svc.call("contracts", "GET", f"/contracts/{contract_id}")


@router.get("/contracts/{contract_id}/plan", summary="The obligations a contract produces: planned and requested")
async def contract_plan(contract_id: str, user: User = Depends(api_user),
                        svc: ServiceClients = Depends(service_clients)) -> Any:
    await svc.call("contracts", "GET", f"/contracts/{contract_id}")  # 404 for a contract that does not exist
    return await svc.call("scheduler", "GET", "/plan", params={"contract_id": contract_id})


@router.get("/cases", summary="Cases visible to the caller, by due date")
async def list_cases(
    status: str | None = None,
    contract_id: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    user: User = Depends(api_user),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    return await svc.call("cases", "GET", "/cases", params={
        "visible_to": None if user.sees_everything else user.login,
        "status": status, "contract_id": contract_id, "limit": limit, "offset": offset,
    })


@router.get("/cases/{case_id}", summary="One case, its history and why it exists")
async def get_case(case_id: str, user: User = Depends(api_user),
                   svc: ServiceClients = Depends(service_clients)) -> Any:
    case = await svc.call("cases", "GET", f"/cases/{case_id}")
    if not can_see_case(user, case):
        raise NotFound("case", case_id)  # do not reveal that it exists
    return case


def can_see_case(user: User, case: dict[str, Any]) -> bool:
    return user.sees_everything or user.login in (case.get("assignee_login"), case.get("commissioner_login"))


@router.get("/me", summary="Who the token belongs to")
async def me(request: Request, user: User = Depends(api_user)) -> dict[str, Any]:
    return {"login": user.login, "name": user.name, "email": user.email, "role": user.role}
