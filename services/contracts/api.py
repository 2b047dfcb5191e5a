"""HTTP API of the contracts service (internal: the gateway calls it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import NotFound, Problem
from services.common.messages import TeamMember
from services.common.months import RequiredMonth, month_range, parse_month
from services.common.params import (
    MAX_ID,
    ClientIdFilter,
    ClientIdPath,
    ContractIdPath,
    ContractStatus,
    IdempotencyKey,
    LoginFilter,
    NameFilter,
    Offset,
    SearchText,
)
from services.common.runtime import ServiceContext, get_context
from services.common.scope import Scope, request_scope
from services.contracts import fee_reminders, fees, handlers, importing, payments, personal, powers
from services.contracts.domain import AnnexIn, ClientIn, ContractIn, TerminationIn

router = APIRouter()


class ContractCreate(ContractIn):
    """A contract as the gateway sends it: the team's logins plus the people behind them."""

    team_members: dict[str, TeamMember | None] = Field(default_factory=dict)


class AnnexCreate(AnnexIn):
    """An annex as the gateway sends it: a changed team comes with the people behind its logins."""

    team_members: dict[str, TeamMember | None] = Field(default_factory=dict)


class ErasureRequest(BaseModel):
    """The retention command: one client, or every client whose retention has ended; a dry run changes nothing."""

    client_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    dry_run: bool = False
    limit: int = Field(default=100, ge=1, le=1000)  # clients erased by one call; `remaining` says how many more


class ImportRequest(BaseModel):
    """A CSV file (as text) and the staff who may be named on a team, as the gateway knows them."""

    csv: str
    users: list[TeamMember] = Field(default_factory=list)


async def _once(
    ctx: ServiceContext,
    key: str | None,
    endpoint: str,
    body: Any,
    create: Callable[[AsyncSession], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """Run a create inside one transaction; with an Idempotency-Key, a retry returns the first result."""
    if key is None:
        async with ctx.db.transaction() as session:
            return await create(session)
    body_hash = handlers.request_hash(body)
    try:
        async with ctx.db.transaction() as session:
            previous = await handlers.replay(session, key=key, endpoint=endpoint, body_hash=body_hash)
            if previous is not None:
                return previous
            result = await create(session)
            await handlers.remember(
                ctx, session, key=key, endpoint=endpoint, body_hash=body_hash, response=result
            )
            return result
    except IntegrityError:
        # The same key raced in from a concurrent retry: the winner's answer is the answer.
        async with ctx.db.reading() as session:
            previous = await handlers.replay(session, key=key, endpoint=endpoint, body_hash=body_hash)
        if previous is None:
            raise
        return previous


def _visible(scope: Scope, contract_id: int) -> None:
    """A contract outside the caller's scope does not exist for them."""
    if not scope.sees(str(contract_id)):
        raise NotFound("contract", contract_id)


@router.post("/clients", status_code=201)
async def create_client(
    client: ClientIn,
    ctx: ServiceContext = Depends(get_context),
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    return await _once(
        ctx,
        idempotency_key,
        "clients",
        client.model_dump(mode="json"),
        lambda session: handlers.create_client(ctx, session, client),
    )


@router.get("/clients")
async def list_clients(
    ctx: ServiceContext = Depends(get_context),
    q: SearchText = None,
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
    scope: Scope = Depends(request_scope),
) -> dict[str, Any]:
    """Clients by name; with a caller's scope, only the clients of the contracts it holds."""
    async with ctx.db.reading() as session:
        return await handlers.list_clients(session=session, q=q, limit=limit, offset=offset, scope=scope)


@router.get("/clients/{client_id}")
async def get_client(client_id: ClientIdPath, ctx: ServiceContext = Depends(get_context),
                     scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """A client (404 outside the caller's scope) with the contracts of it the scope holds."""
    async with ctx.db.reading() as session:
        client = await handlers.get_client(session=session, client_id=client_id, scope=scope)
        client["contracts"] = await handlers.client_contracts(session=session, client_id=client_id, scope=scope)
        return client


@router.patch("/clients/{client_id}")
async def update_client(client_id: ClientIdPath, changes: dict[str, Any], ctx: ServiceContext = Depends(get_context),
                        scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """Change what `changes` names of a client (404 outside the caller's scope); never its tax profile."""
    async with ctx.db.transaction() as session:
        return await handlers.update_client(ctx, session, client_id=client_id, changes=changes, scope=scope)


@router.get("/clients/{client_id}/personal-data")
async def client_personal_data(client_id: ClientIdPath, ctx: ServiceContext = Depends(get_context),
                               scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """Everything held about a client (a data subject's access request); 404 outside the caller's scope."""
    async with ctx.db.reading() as session:
        return await personal.export(session, client_id=client_id, scope=scope)


@router.post("/erasure")
async def erasure(body: ErasureRequest, ctx: ServiceContext = Depends(get_context),
                  scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """Erase the personal data of clients whose retention has ended (office-wide callers only)."""
    if not scope.unrestricted:
        raise Problem(403, "Forbidden", "only an office-wide caller may erase personal data")
    return await personal.erase_due(ctx, client_id=body.client_id, dry_run=body.dry_run, limit=body.limit)


@router.post("/contracts", status_code=201)
async def create_contract(
    body: ContractCreate,
    ctx: ServiceContext = Depends(get_context),
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    contract = ContractIn.model_validate(body.model_dump(exclude={"team_members"}))
    return await _once(
        ctx,
        idempotency_key,
        "contracts",
        body.model_dump(mode="json"),
        lambda session: handlers.create_contract(ctx, session, contract, body.team_members),
    )


@router.get("/contracts")
async def list_contracts(
    ctx: ServiceContext = Depends(get_context),
    client_id: ClientIdFilter = None,
    status: ContractStatus | None = None,
    employee: LoginFilter = None,
    service: NameFilter = None,
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
    scope: Scope = Depends(request_scope),
) -> dict[str, Any]:
    async with ctx.db.reading() as session:
        return await handlers.list_contracts(
            session=session, client_id=client_id, status=status, employee=employee, service=service,
            limit=limit, offset=offset, scope=scope,
        )


@router.get("/contracts/{contract_id}")
async def get_contract(contract_id: ContractIdPath, ctx: ServiceContext = Depends(get_context),
                       scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.reading() as session:
        return await handlers.get_contract(session=session, contract_id=contract_id, scope=scope)


@router.get("/access")
async def team_access(ctx: ServiceContext = Depends(get_context),
                      after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
    """Every version's team, a page of contracts by id: the gateway fills its visibility table from it once."""
    async with ctx.db.reading() as session:
        return await handlers.team_access(session=session, after=after, limit=limit)


@router.post("/contracts/{contract_id}/annexes", status_code=201)
async def add_annex(
    contract_id: ContractIdPath,
    body: AnnexCreate,
    ctx: ServiceContext = Depends(get_context),
    idempotency_key: IdempotencyKey = None,
    scope: Scope = Depends(request_scope),
) -> dict[str, Any]:
    _visible(scope, contract_id)
    annex = AnnexIn.model_validate(body.model_dump(mode="json", exclude={"team_members"}, exclude_unset=True))
    return await _once(
        ctx,
        idempotency_key,
        f"contracts/{contract_id}/annexes",
        body.model_dump(mode="json", exclude_unset=True),
        lambda session: handlers.add_annex(
            ctx, session, contract_id=contract_id, annex=annex, team_members=body.team_members
        ),
    )


@router.post("/contracts/{contract_id}/termination", status_code=201)
async def terminate(
    contract_id: ContractIdPath,
    body: TerminationIn,
    ctx: ServiceContext = Depends(get_context),
    idempotency_key: IdempotencyKey = None,
    scope: Scope = Depends(request_scope),
) -> dict[str, Any]:
    _visible(scope, contract_id)
    return await _once(
        ctx,
        idempotency_key,
        f"contracts/{contract_id}/termination",
        body.model_dump(mode="json"),
        lambda session: handlers.terminate(
            ctx, session, contract_id=contract_id, end=body.end, reason=body.reason, notice_on=body.notice_on
        ),
    )


@router.get("/imports/columns")
async def import_columns() -> dict[str, Any]:
    """The CSV import's columns (required or not, meaning in English and Polish) and an example file."""
    return importing.column_guide()


@router.post("/imports/dry-run")
async def import_dry_run(body: ImportRequest, ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    """Check a CSV file against the book; stores nothing."""
    async with ctx.db.reading() as session:
        report, errors = await handlers.check_import(session=session, text=body.csv, users=body.users,
                                                     limits=handlers.import_limits(ctx.settings))
    return handlers.import_report(report, errors)


@router.post("/imports/apply", status_code=201)
async def import_apply(
    body: ImportRequest,
    ctx: ServiceContext = Depends(get_context),
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Store the whole file in one transaction, or nothing (422 listing every bad row)."""
    return await _once(
        ctx,
        idempotency_key,
        "imports/apply",
        {"csv": body.csv},  # the same file is the same request, even if a user was added meanwhile
        lambda session: handlers.apply_import(ctx, session, text=body.csv, users=body.users),
    )


@router.put("/contracts/{contract_id}/billing/{month}")
async def record_billing(contract_id: ContractIdPath, month: str, body: fees.BillingIn,
                         recorded_by: Annotated[str, Query(min_length=1, max_length=100)],
                         source: Annotated[str, Query(pattern="^(api|case|csv)$")] = "api",
                         ctx: ServiceContext = Depends(get_context),
                         scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """Record the month's (YYYY-MM) documents booked and/or employees paid; a count left out stays as recorded.
    Answers the month's counts and the fee they give."""
    _visible(scope, contract_id)
    first = _month_path(month)
    async with ctx.db.transaction() as session:
        return await fees.record_billing(session=session, contract_id=contract_id, month=first, counts=body,
                                         recorded_by=recorded_by, now=ctx.clock.now(), source=source, scope=scope)


@router.get("/contracts/{contract_id}/billing/{month}")
async def billing_of(contract_id: ContractIdPath, month: str, ctx: ServiceContext = Depends(get_context),
                     scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """The month's recorded counts (null where not recorded) and the fee they give."""
    _visible(scope, contract_id)
    first = _month_path(month)
    async with ctx.db.reading() as session:
        return await fees.billing_of(session=session, contract_id=contract_id, month=first, scope=scope)


class BillingCsv(BaseModel):
    """A month's billing inputs as a CSV file (text)."""

    csv: str = Field(max_length=2_000_000)


@router.post("/billing/{month}/import", status_code=201)
async def import_billing(month: str, body: BillingCsv,
                         recorded_by: Annotated[str, Query(min_length=1, max_length=100)],
                         ctx: ServiceContext = Depends(get_context),
                         scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """Record a month's counts from a CSV `contract_number,documents,employees`: every row, or nothing (422 listing
    every bad cell by row and column)."""
    first = _month_path(month)
    async with ctx.db.transaction() as session:
        return await fees.import_billing(session=session, month=first, text=body.csv, recorded_by=recorded_by,
                                         now=ctx.clock.now(), scope=scope)


def _month_path(month: str) -> date:
    try:
        return parse_month(month)
    except ValueError as error:
        raise Problem(422, "Invalid input", errors=[{"field": "month", "message": str(error)}]) from None


@router.get("/fees")
async def month_fees(month: RequiredMonth, ctx: ServiceContext = Depends(get_context),
                     scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """Each contract within the caller's scope that covers `month` (YYYY-MM, required) with that month's fee from
    the version of the terms in force (services/contracts/fees.py), `provisional` where counts are not yet known."""
    async with ctx.db.reading() as session:
        return await fees.fees(session=session, month=parse_month(month), scope=scope)


@router.get("/fees/months")
async def fees_of_months(from_: Annotated[RequiredMonth, Query(alias="from")], to: RequiredMonth,
                         ctx: ServiceContext = Depends(get_context),
                         scope: Scope = Depends(request_scope)) -> JSONResponse:
    """`GET /fees` for every month from `from` to `to` (YYYY-MM, both included, at most 36) in one answer:
    `{"months": [{"month", "items"}, …]}`."""
    try:
        covered = month_range(from_, to, today=ctx.clock.today())
    except ValueError as error:
        raise Problem(422, "Invalid input", errors=[{"field": "from", "message": str(error).removeprefix(
            "from: ")}]) from None
    async with ctx.db.reading() as session:
        pages = await fees.fees_by_month(session=session, months=[parse_month(m) for m in covered], scope=scope)
    return JSONResponse({"months": pages})  # JSON-ready already: no encoder pass over every fee


# --- Powers of attorney (powers.py) ---------------------------------------------------------------------------

Actor = Annotated[str, Query(min_length=1, max_length=100, description="the login recording the change")]


def _date_field(name: str, text: str | None, *, required: bool) -> date | None:
    if not text:
        if required:
            raise Problem(422, "Invalid input", errors=[{"field": name, "message": "required (YYYY-MM-DD)"}])
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise Problem(422, "Invalid input", errors=[{"field": name, "message": "a date YYYY-MM-DD"}]) from None


@router.get("/clients/{client_id}/powers")
async def list_powers(client_id: ClientIdPath, ctx: ServiceContext = Depends(get_context),
                      scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """A client's powers of attorney with their state today, and the best state per kind."""
    async with ctx.db.reading() as session:
        return await powers.list_for(session, client_id=client_id, today=ctx.clock.today(), scope=scope)


@router.post("/clients/{client_id}/powers", status_code=201)
async def create_power(client_id: ClientIdPath, created_by: Actor,
                       kind: str = Form(..., max_length=20), granted_on: str = Form(..., max_length=10),
                       valid_until: str | None = Form(None, max_length=10), scope_text: str = Form("", alias="scope"),
                       file: UploadFile | None = File(None), ctx: ServiceContext = Depends(get_context),
                       scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """Register a power (multipart: kind, granted_on, valid_until, scope, file — PDF/PNG/JPEG)."""
    granted = _date_field("granted_on", granted_on, required=True)
    assert granted is not None
    until = _date_field("valid_until", valid_until, required=False)
    async with ctx.db.transaction() as session:
        return await powers.create(ctx, session, client_id=client_id, kind=kind, granted_on=granted,
                                   valid_until=until, scope_text=scope_text, created_by=created_by,
                                   filename=file.filename if file else None, upload=file, scope=scope)


class RevocationIn(BaseModel):
    on: date | None = None


@router.post("/clients/{client_id}/powers/{power_id}/revocation")
async def revoke_power(client_id: ClientIdPath, power_id: ContractIdPath, body: RevocationIn, revoked_by: Actor,
                       ctx: ServiceContext = Depends(get_context),
                       scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        return await powers.revoke(ctx, session, client_id=client_id, power_id=power_id, revoked_by=revoked_by,
                                   on=body.on, scope=scope)


@router.get("/clients/{client_id}/powers/{power_id}/document")
async def power_document(client_id: ClientIdPath, power_id: ContractIdPath, ctx: ServiceContext = Depends(get_context),
                         scope: Scope = Depends(request_scope)) -> FileResponse:
    async with ctx.db.reading() as session:
        row, path = await powers.document(ctx, session, client_id=client_id, power_id=power_id, scope=scope)
    return FileResponse(path, media_type=row["document_type"], filename=row["document_name"],
                        headers={"X-Content-SHA256": row["document_sha256"], "X-Content-Type-Options": "nosniff"})


# --- Fee payments (payments.py) ---------------------------------------------------------------------------------


@router.get("/payments")
async def list_payments(ctx: ServiceContext = Depends(get_context), client_id: ClientIdFilter = None,
                        unassigned: bool = False, batch: Annotated[str | None, Query(max_length=36)] = None,
                        limit: int = Query(100, ge=1, le=500), offset: Offset = 0,
                        scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """Payments newest first with the months each pays; `unassigned=true`: those paying no month yet."""
    async with ctx.db.reading() as session:
        return await payments.list_payments(session, scope=scope, client_id=client_id, unassigned=unassigned,
                                            batch=batch, limit=limit, offset=offset)


@router.post("/payments", status_code=201)
async def record_payment(body: payments.PaymentIn, recorded_by: Actor, ctx: ServiceContext = Depends(get_context),
                         scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        recorded = await payments.record(session, payment=body, recorded_by=recorded_by, now=ctx.clock.now(),
                                         scope=scope)
        await fee_reminders.settle(ctx, session)  # an overdue month it pays: its reminders stop
        return recorded


class StatementCsv(BaseModel):
    csv: str = Field(max_length=5_000_000)


@router.post("/payments/import", status_code=201)
async def import_payments(body: StatementCsv, recorded_by: Actor, ctx: ServiceContext = Depends(get_context),
                          scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """A bank statement CSV (date, amount, title, nip): every row stored and matched, or nothing (422 by row)."""
    async with ctx.db.transaction() as session:
        imported = await payments.import_statement(session, text=body.csv, recorded_by=recorded_by,
                                                   now=ctx.clock.now(), scope=scope)
        await fee_reminders.settle(ctx, session)
        return imported


@router.put("/payments/{payment_id}/assignment")
async def assign_payment(payment_id: ContractIdPath, body: payments.AssignmentIn,
                         ctx: ServiceContext = Depends(get_context),
                         scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        assigned = await payments.assign(session, payment_id=payment_id, body=body, scope=scope)
        await fee_reminders.settle(ctx, session)
        return assigned


# --- Overdue fees remind the client (fee_reminders.py) ------------------------------------------------------------


@router.post("/jobs/fee-reminders", summary="Run the daily overdue-fee check now: each overdue month announced once, "
                                            "each paid one settled")
async def run_fee_reminders(ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    return await fee_reminders.run_daily(ctx)


@router.post("/contracts/{contract_id}/fees/{month}/reminder", status_code=201)
async def remind_fee(contract_id: ContractIdPath, month: Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
                     requested_by: TeamMember, ctx: ServiceContext = Depends(get_context),
                     scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """The manager's button: the month's overdue fee announced to the client now (once per contract month:
    `created` false when it was before); 409 when the month is paid or not yet due."""
    _month_path(month)  # 2000-2200 only, as every month here
    async with ctx.db.transaction() as session:
        return await fee_reminders.remind(ctx, session, contract_id=contract_id, month=month,
                                          requested_by=requested_by, scope=scope)
