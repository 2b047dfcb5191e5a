"""The public REST API (/api/v1): what other systems call, with bearer tokens, documented by OpenAPI."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from services.common.errors import NotFound, Problem
from services.common.log import current_correlation_id
from services.common.params import (
    CaseIdPath,
    CaseStatus,
    ClientIdFilter,
    ClientIdPath,
    ContractIdFilter,
    ContractIdPath,
    ContractStatus,
    IdempotencyKey,
    LoginFilter,
    NameFilter,
    Offset,
    SearchText,
)
from services.common.runtime import ServiceContext, get_context
from services.common.text import UndecodableText
from services.common.text import decode_upload as decode_text
from services.gateway import users
from services.gateway.auth import api_user, contract_manager
from services.gateway.clients import ServiceClients
from services.gateway.openapi import (
    ADMIN,
    CHANGE,
    CREATE,
    READ,
    READ_ONE,
    UPLOAD,
    CasePage,
    CaseWithHistory,
    Client,
    ClientPage,
    ClientWithContracts,
    Contract,
    ContractPage,
    ImportReport,
    ImportResult,
    Me,
    Plan,
    RulesApplied,
    RulesInForce,
    RulesPreview,
    problems,
    success,
)
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


def _idempotency(key: str | None) -> dict[str, str] | None:
    return {"Idempotency-Key": key} if key else None


CLIENT_EXAMPLE = {
    "name": "Jan Kowalski Usługi",
    "nip": "5261040573",
    "regon": "526104057",
    "pesel": "80010112340",
    "address": {"street": "ul. Prosta 20", "postal_code": "00-850", "city": "Warszawa"},
    "contact_emails": ["jan@kowalski.example"],
    "tax_profile": {"legal_form": "sole_trader", "books": "kpir", "income_tax": "pit_flat",
                    "income_tax_advances": "monthly", "vat": "monthly", "employees": 3},
}
CONTRACT_EXAMPLE = {
    "client_id": 1,
    "number": "BR/2026/100",
    "signed_on": "2026-09-20",
    "start": "2026-10-01",
    "end": None,
    "notice_period_months": 3,
    "services": ["bookkeeping", "vat", {"name": "payroll", "parameters": {"headcount_limit": 10}}],
    "fee": {"monthly_net": "800.00", "vat_rate": "23", "per_employee": "40.00"},
    "team": {"accountant": "anna", "payroll": "piotr", "manager": "maria"},
}
CSV_BODY = {
    "requestBody": {
        "required": True,
        "description": "The CSV file (columns in the contracts README): a text/csv body, or multipart/form-data "
        "with the file in the field `file`. UTF-8 (with or without BOM) or Windows-1250.",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"],
                           "properties": {"file": {"type": "string", "format": "binary"}}}
            },
        },
    }
}


async def create_client_command(ctx: ServiceContext, svc: ServiceClients, user: User, body: dict[str, Any],
                                idempotency_key: str | None = None) -> dict[str, Any]:
    client: dict[str, Any] = await svc.call("contracts", "POST", "/clients", json=body,
                                            headers=_idempotency(idempotency_key))
    await _audit(ctx, user, "client.create", f"client:{client['id']}")
    return client


@router.post("/clients", status_code=201, summary="Register a client of the office",
             responses={**CREATE, **success(Client, 201)})
async def create_client(
    body: dict[str, Any] = Body(..., openapi_examples={"sole trader": {"value": CLIENT_EXAMPLE}}),
    idempotency_key: IdempotencyKey = None,
    user: User = Depends(contract_manager),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> JSONResponse:
    client = await create_client_command(ctx, svc, user, body, idempotency_key)
    return JSONResponse(client, status_code=201, headers={"Location": f"/api/v1/clients/{client['id']}"})


@router.get("/clients", summary="List clients, by name; `q` searches the name or the NIP",
            responses={**READ, **success(ClientPage)})
async def list_clients(
    q: SearchText = None,
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
    user: User = Depends(api_user),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    return await svc.call("contracts", "GET", "/clients", params={"q": q, "limit": limit, "offset": offset})


@router.get("/clients/{client_id}", summary="One client with its contracts and their versions",
            responses={**READ_ONE, **success(ClientWithContracts)})
async def get_client(client_id: ClientIdPath, user: User = Depends(api_user),
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


async def team_members(ctx: ServiceContext) -> list[dict[str, str]]:
    """Every active user as a possible team member (login, name, e-mail), e.g. for a CSV import."""
    async with ctx.db.reading() as session:
        return [{"login": u.login, "name": u.name, "email": u.email} for u in await users.list_users(session=session)]


async def create_contract_command(ctx: ServiceContext, svc: ServiceClients, user: User, body: dict[str, Any],
                                  idempotency_key: str | None = None) -> dict[str, Any]:
    payload = {**body, "team_members": await resolve_team(ctx, body.get("team"))}
    contract: dict[str, Any] = await svc.call("contracts", "POST", "/contracts", json=payload,
                                              headers=_idempotency(idempotency_key))
    await _audit(ctx, user, "contract.create", f"contract:{contract['id']}")
    return contract


@router.post("/contracts", status_code=201, summary="Sign a contract with a client",
             responses={**CREATE, **success(Contract, 201)})
async def create_contract(
    body: dict[str, Any] = Body(..., openapi_examples={"bookkeeping, VAT and payroll": {"value": CONTRACT_EXAMPLE}}),
    idempotency_key: IdempotencyKey = None,
    user: User = Depends(contract_manager),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> JSONResponse:
    contract = await create_contract_command(ctx, svc, user, body, idempotency_key)
    return JSONResponse(contract, status_code=201, headers={"Location": f"/api/v1/contracts/{contract['id']}"})


@router.get("/contracts", summary="List contracts by number, with filters",
            responses={**READ, **success(ContractPage)})
async def list_contracts(
    client_id: ClientIdFilter = None,
    employee: LoginFilter = None,
    service: NameFilter = None,
    status: ContractStatus | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
    user: User = Depends(api_user),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    return await svc.call("contracts", "GET", "/contracts", params={
        "client_id": client_id, "employee": employee, "service": service, "status": status,
        "limit": limit, "offset": offset})


@router.get("/contracts/{contract_id}", summary="One contract with its versions",
            responses={**READ_ONE, **success(Contract)})
async def get_contract(contract_id: ContractIdPath, user: User = Depends(api_user),
                       svc: ServiceClients = Depends(service_clients)) -> Any:
    return await svc.call("contracts", "GET", f"/contracts/{contract_id}")


async def annex_command(ctx: ServiceContext, svc: ServiceClients, user: User, contract_id: int,
                        body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
    payload = dict(body)
    if "team" in body:
        payload["team_members"] = await resolve_team(ctx, body.get("team"))
    contract: dict[str, Any] = await svc.call("contracts", "POST", f"/contracts/{contract_id}/annexes",
                                              json=payload, headers=_idempotency(idempotency_key))
    await _audit(ctx, user, "contract.annex", f"contract:{contract_id}",
                 {"version": contract["version"], "effective_from": body.get("effective_from")})
    return contract


@router.post("/contracts/{contract_id}/annexes", status_code=201, responses={**CHANGE, **success(Contract, 201)},
             summary="Record an annex: changed terms in force from a date (a new version)")
async def add_annex(
    contract_id: ContractIdPath,
    body: dict[str, Any] = Body(..., openapi_examples={
        "VAT quarterly from January": {"value": {"effective_from": "2027-01-01", "fee": {"monthly_net": "700.00"}}},
        "new accountant and payroll": {"value": {
            "effective_from": "2027-03-01", "services": ["bookkeeping", "vat", "payroll"],
            "team": {"accountant": "ola", "payroll": "piotr", "manager": "maria"}}},
    }, description="`effective_from` and any of services, fee, team, end, notice_period_months, signed_on; "
       "what is left out stays as in the newest version."),
    idempotency_key: IdempotencyKey = None,
    user: User = Depends(contract_manager),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> JSONResponse:
    contract = await annex_command(ctx, svc, user, contract_id, body, idempotency_key)
    return JSONResponse(contract, status_code=201, headers={"Location": f"/api/v1/contracts/{contract_id}"})


async def termination_command(ctx: ServiceContext, svc: ServiceClients, user: User, contract_id: int,
                              body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
    contract: dict[str, Any] = await svc.call("contracts", "POST", f"/contracts/{contract_id}/termination",
                                              json=body, headers=_idempotency(idempotency_key))
    await _audit(ctx, user, "contract.terminate", f"contract:{contract_id}", {"end": body.get("end")})
    return contract


@router.post("/contracts/{contract_id}/termination", status_code=201, responses={**CHANGE, **success(Contract, 201)},
             summary="Terminate a contract: its last day and why; later obligations are withdrawn")
async def terminate_contract(
    contract_id: ContractIdPath,
    body: dict[str, Any] = Body(..., openapi_examples={
        "notice given": {"value": {"end": "2027-03-31", "reason": "wypowiedzenie przez klienta"}}}),
    idempotency_key: IdempotencyKey = None,
    user: User = Depends(contract_manager),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> JSONResponse:
    contract = await termination_command(ctx, svc, user, contract_id, body, idempotency_key)
    return JSONResponse(contract, status_code=201, headers={"Location": f"/api/v1/contracts/{contract_id}"})


def decode_upload(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1250, as older Polish Excel saves CSV; else a 422 saying where."""
    try:
        return decode_text(data)
    except UndecodableText as error:
        raise Problem(422, "Unreadable file", "the file's text encoding is neither UTF-8 nor Windows-1250",
                      errors=[{"field": "file", "message": str(error)}]) from None


async def read_form(request: Request) -> Any:
    """The posted form, a CSV file in it as large as the body limit; a malformed form is a 422, not a 400."""
    try:
        return await request.form(max_part_size=request.app.state.ctx.settings.max_body_bytes)
    except (MultiPartException, StarletteHTTPException) as error:
        detail = getattr(error, "message", None) or getattr(error, "detail", "")
        raise Problem(422, "Unreadable form", errors=[{"field": "body", "message": str(detail)}]) from None


async def _uploaded_csv(request: Request) -> str:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await read_form(request)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Problem(422, "No file", errors=[{"field": "file", "message": "attach the CSV file as `file`"}])
        data = await upload.read()
    else:
        data = await request.body()
    if not data.strip():
        raise Problem(422, "No file", errors=[{"field": "file", "message": "the file is empty"}])
    return decode_upload(data)


async def import_dry_run_command(ctx: ServiceContext, svc: ServiceClients, text: str) -> dict[str, Any]:
    report: dict[str, Any] = await svc.call("contracts", "POST", "/imports/dry-run",
                                            json={"csv": text, "users": await team_members(ctx)})
    return report


async def import_apply_command(ctx: ServiceContext, svc: ServiceClients, user: User, text: str,
                               idempotency_key: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = await svc.call("contracts", "POST", "/imports/apply",
                                            json={"csv": text, "users": await team_members(ctx)},
                                            headers=_idempotency(idempotency_key))
    await _audit(ctx, user, "import.apply", "contracts", {"imported": result["imported"]})
    return result


@router.post("/imports/dry-run", summary="Check a CSV file of clients and contracts; stores nothing",
             openapi_extra=CSV_BODY, responses={**UPLOAD, **success(ImportReport)})
async def import_dry_run(
    request: Request,
    user: User = Depends(contract_manager),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    """Every problem of the file: `errors` = [{row, field, message}] (row 1 is the header); `ok` when none."""
    return await import_dry_run_command(ctx, svc, await _uploaded_csv(request))


@router.post("/imports/apply", status_code=201, openapi_extra=CSV_BODY,
             responses={**CREATE, **success(ImportResult, 201)},
             summary="Import a CSV file: every client and contract, or nothing")
async def import_apply(
    request: Request,
    idempotency_key: IdempotencyKey = None,
    user: User = Depends(contract_manager),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    """One transaction: with any bad row nothing is stored and the answer is a 422 problem listing them all."""
    result = await import_apply_command(ctx, svc, user, await _uploaded_csv(request), idempotency_key)
    return JSONResponse(result, status_code=201)


@router.get("/contracts/{contract_id}/plan", summary="The obligations a contract produces: planned and requested",
            responses={**READ_ONE, **success(Plan)})
async def contract_plan(contract_id: ContractIdPath, user: User = Depends(api_user),
                        svc: ServiceClients = Depends(service_clients)) -> Any:
    await svc.call("contracts", "GET", f"/contracts/{contract_id}")  # 404 for a contract that does not exist
    return await svc.call("scheduler", "GET", "/plan", params={"contract_id": contract_id})


@router.get("/cases", summary="Cases visible to the caller, by due date",
            responses={**READ, **success(CasePage)})
async def list_cases(
    status: CaseStatus | None = None,
    contract_id: ContractIdFilter = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
    user: User = Depends(api_user),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    return await svc.call("cases", "GET", "/cases", params={
        "visible_to": None if user.sees_everything else user.login,
        "status": status, "contract_id": contract_id, "limit": limit, "offset": offset,
    })


@router.get("/cases/{case_id}", summary="One case, its history and why it exists",
            responses={**READ_ONE, **success(CaseWithHistory)})
async def get_case(case_id: CaseIdPath, user: User = Depends(api_user),
                   svc: ServiceClients = Depends(service_clients)) -> Any:
    case = await svc.call("cases", "GET", f"/cases/{case_id}")
    if not can_see_case(user, case):
        raise NotFound("case", case_id)  # do not reveal that it exists
    return case


def can_see_case(user: User, case: dict[str, Any]) -> bool:
    return user.sees_everything or user.login in (case.get("assignee_login"), case.get("commissioner_login"))


@router.get("/me", summary="Who the token belongs to", responses={**problems(401), **success(Me)})
async def me(request: Request, user: User = Depends(api_user)) -> dict[str, Any]:
    return {"login": user.login, "name": user.name, "email": user.email, "role": user.role}


async def admin(user: User = Depends(api_user)) -> User:
    if user.role != "admin":
        raise Problem(403, "Forbidden", "only an admin changes the rules")
    return user


@router.get("/rules", summary="The obligation rules in force, their version and the history of rule sets",
            responses={**problems(401, 503), **success(RulesInForce)})
async def rules_in_force(user: User = Depends(api_user), svc: ServiceClients = Depends(service_clients)) -> Any:
    return await svc.call("scheduler", "GET", "/rules")


@router.post("/rules/preview", summary="What the edited rules folder would add, change (dates, title, checklist, "
                                      "role) and withdraw, per contract",
             responses={**ADMIN, **success(RulesPreview)})
async def rules_preview(user: User = Depends(admin), svc: ServiceClients = Depends(service_clients)) -> Any:
    return await svc.call("scheduler", "POST", "/rules/preview")


async def rules_apply_command(ctx: ServiceContext, svc: ServiceClients, user: User) -> dict[str, Any]:
    """Apply the rules folder; the attempt is audited whether it is put in force or rejected."""
    try:
        result: dict[str, Any] = await svc.call("scheduler", "POST", "/rules/apply")
    except Problem as problem:
        await _audit(ctx, user, "rules.rejected", "rules", {"errors": problem.errors})
        raise
    await _audit(ctx, user, "rules.apply", f"rules:{result.get('version')}")
    return result


@router.post("/rules/apply", summary="Put the edited rules folder in force (a broken set is rejected)",
             responses={**ADMIN, **success(RulesApplied)})
async def rules_apply(user: User = Depends(admin), ctx: ServiceContext = Depends(get_context),
                      svc: ServiceClients = Depends(service_clients)) -> Any:
    return await rules_apply_command(ctx, svc, user)
