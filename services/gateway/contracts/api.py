"""REST API of clients, contracts, annexes, terminations, CSV imports and plans (/api/v1)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import AfterValidator

from services.common.errors import Problem
from services.common.months import parse_month
from services.common.params import (
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
from services.gateway.clients import ServiceClients
from services.gateway.common import decode_upload, read_form, service_clients
from services.gateway.contracts import service as contracts
from services.gateway.openapi import (
    CHANGE,
    CREATE,
    READ,
    READ_ONE,
    UPLOAD,
    ChangedClient,
    Client,
    ClientPage,
    ClientWithContracts,
    Contract,
    ContractPage,
    ImportReport,
    ImportResult,
    Plan,
    problems,
    success,
)
from services.gateway.permissions import Caller, Permission, allow

router = APIRouter(prefix="/api/v1", tags=["contracts"])

def _month(value: str) -> str:
    parse_month(value)  # ValueError (a 422 naming the field) for a month that is not one, or outside 2000-2200
    return value


MonthPath = Annotated[str, Path(pattern=r"^\d{4}-\d{2}$", description="a month, YYYY-MM (2000-2200)"),
                      AfterValidator(_month)]

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
    # The client's duties (optional): documents for the month by the 8th, payroll data by the 5th of the next month.
    "client_duties": {"documents_day": 8, "payroll_data_day": 5},
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


@router.post("/clients", status_code=201, summary="Register a client of the office",
             responses={**CREATE, **success(Client, 201)})
async def create_client(
    body: dict[str, Any] = Body(..., openapi_examples={"sole trader": {"value": CLIENT_EXAMPLE}}),
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(allow(Permission.change_contracts)),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> JSONResponse:
    client = await contracts.create_client(ctx=ctx, svc=svc, caller=caller, body=body, idempotency_key=idempotency_key)
    return JSONResponse(client, status_code=201, headers={"Location": f"/api/v1/clients/{client['id']}"})


@router.get("/clients", summary="List the clients of the caller's contracts, by name; `q` searches the name or NIP",
            responses={**READ, **success(ClientPage)})
async def list_clients(
    q: SearchText = None,
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
    caller: Caller = Depends(allow(Permission.view)),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    return await contracts.list_clients(svc=svc, caller=caller, q=q, limit=limit, offset=offset)


@router.get("/clients/{client_id}", summary="One client with its contracts (those the caller sees) and their versions",
            responses={**READ_ONE, **success(ClientWithContracts)})
async def get_client(client_id: ClientIdPath, caller: Caller = Depends(allow(Permission.view)),
                     svc: ServiceClients = Depends(service_clients)) -> Any:
    return await contracts.get_client(svc=svc, caller=caller, client_id=client_id)


@router.patch("/clients/{client_id}", summary="Change a client: name, address, identifiers, recipients, accounts",
              responses={**CHANGE, **success(ChangedClient)})
async def update_client(
    client_id: ClientIdPath,
    body: dict[str, Any] = Body(..., openapi_examples={
        "recipients and accounts": {"value": {
            "recipients": [{"name": "Jan Kowalski", "email": "jan@kowalski.example", "language": "pl"}],
            "accounts": {"mikrorachunek": None, "nrs": "83 1010 1023 0000 2613 9520 0000"},
            "notices": True}},
        "new address": {"value": {"address": {"street": "ul. Nowa 1", "postal_code": "00-001",
                                              "city": "Warszawa"}}},
    }, description="Any of name, nip, regon, pesel, krs, address, contact_emails, language, recipients, accounts "
       "(mikrorachunek — null: computed from the NIP/PESEL —, nrs, ppk, pfron), ppk_institution, notices; what is "
       "left out stays. The tax profile changes by an annex (a 422 naming `tax_profile`). Every problem of the "
       "request comes at once; `changed` lists the fields whose value changed."),
    caller: Caller = Depends(allow(Permission.change_contracts)),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    return await contracts.update_client(ctx=ctx, svc=svc, caller=caller, client_id=client_id, changes=body)


@router.post("/contracts", status_code=201, summary="Sign a contract with a client",
             responses={**CREATE, **success(Contract, 201)})
async def create_contract(
    body: dict[str, Any] = Body(..., openapi_examples={"bookkeeping, VAT and payroll": {"value": CONTRACT_EXAMPLE}}),
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(allow(Permission.change_contracts)),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> JSONResponse:
    contract = await contracts.create_contract(ctx=ctx, svc=svc, caller=caller, body=body,
                                             idempotency_key=idempotency_key)
    return JSONResponse(contract, status_code=201, headers={"Location": f"/api/v1/contracts/{contract['id']}"})


@router.get("/contracts", summary="List the caller's contracts by number, with filters",
            responses={**READ, **success(ContractPage)})
async def list_contracts(
    client_id: ClientIdFilter = None,
    employee: LoginFilter = None,
    service: NameFilter = None,
    status: ContractStatus | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
    caller: Caller = Depends(allow(Permission.view)),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    return await contracts.list_contracts(svc=svc, caller=caller, client_id=client_id, employee=employee,
                                        service=service, status=status, limit=limit, offset=offset)


@router.get("/contracts/{contract_id}", summary="One contract with its versions",
            responses={**READ_ONE, **success(Contract)})
async def get_contract(contract_id: ContractIdPath, caller: Caller = Depends(allow(Permission.view)),
                       svc: ServiceClients = Depends(service_clients)) -> Any:
    return await contracts.get_contract(svc=svc, caller=caller, contract_id=contract_id)


@router.post("/contracts/{contract_id}/annexes", status_code=201, responses={**CHANGE, **success(Contract, 201)},
             summary="Record an annex: changed terms in force from a date (a new version)")
async def add_annex(
    contract_id: ContractIdPath,
    body: dict[str, Any] = Body(..., openapi_examples={
        "VAT quarterly from January": {"value": {"effective_from": "2027-01-01", "fee": {"monthly_net": "700.00"}}},
        "new accountant and payroll": {"value": {
            "effective_from": "2027-03-01", "services": ["bookkeeping", "vat", "payroll"],
            "team": {"accountant": "ola", "payroll": "piotr", "manager": "maria"}}},
        "documents by the 10th from December": {"value": {"effective_from": "2026-12-01",
                                                           "client_duties": {"documents_day": 10}}},
    }, description="`effective_from` and any of services, fee, team, end, notice_period_months, signed_on, "
       "tax_profile, client_duties (merged over the current duties; null ends one); what is left out stays as in "
       "the newest version."),
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(allow(Permission.change_contracts)),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> JSONResponse:
    contract = await contracts.add_annex(ctx=ctx, svc=svc, caller=caller, contract_id=contract_id, body=body,
                                       idempotency_key=idempotency_key)
    return JSONResponse(contract, status_code=201, headers={"Location": f"/api/v1/contracts/{contract_id}"})


@router.post("/contracts/{contract_id}/termination", status_code=201, responses={**CHANGE, **success(Contract, 201)},
             summary="Terminate a contract: its last day and why; later obligations are withdrawn")
async def terminate_contract(
    contract_id: ContractIdPath,
    body: dict[str, Any] = Body(..., openapi_examples={
        "notice given": {"value": {"end": "2027-03-31", "reason": "wypowiedzenie przez klienta"}}}),
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(allow(Permission.change_contracts)),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> JSONResponse:
    contract = await contracts.terminate(ctx=ctx, svc=svc, caller=caller, contract_id=contract_id, body=body,
                                       idempotency_key=idempotency_key)
    return JSONResponse(contract, status_code=201, headers={"Location": f"/api/v1/contracts/{contract_id}"})


@router.get("/contracts/{contract_id}/billing/{month}", responses=READ_ONE,
            summary="The month's recorded documents and employees (null: not recorded) and the fee they give")
async def get_billing(contract_id: ContractIdPath, month: MonthPath, caller: Caller = Depends(allow(Permission.view)),
                      svc: ServiceClients = Depends(service_clients)) -> Any:
    return await contracts.billing(svc=svc, caller=caller, contract_id=contract_id, month=month)


@router.put("/contracts/{contract_id}/billing/{month}", responses=CHANGE,
            summary="Record the month's (YYYY-MM) documents booked and/or employees paid; the fee follows")
async def put_billing(
    contract_id: ContractIdPath,
    month: MonthPath,
    body: dict[str, Any] = Body(..., openapi_examples={
        "October's bookkeeping": {"value": {"documents": 230}},
        "both counts": {"value": {"documents": 230, "employees": 4}}},
        description="`documents` and/or `employees` (whole numbers, 0 or more); a count left out stays as "
        "recorded."),
    caller: Caller = Depends(allow(Permission.work_cases)),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    return await contracts.record_billing(ctx=ctx, svc=svc, caller=caller, contract_id=contract_id, month=month,
                                          body=body)


@router.post("/billing/{month}/import", status_code=201, openapi_extra=CSV_BODY, responses=CREATE,
             summary="Record a month's (YYYY-MM) documents and employees from a CSV "
                     "`contract_number,documents,employees`: every row, or nothing")
async def import_billing(
    request: Request,
    month: MonthPath,
    caller: Caller = Depends(allow(Permission.change_contracts)),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> JSONResponse:
    answer = await contracts.import_billing(ctx=ctx, svc=svc, caller=caller, month=month,
                                            text=await _uploaded_csv(request))
    return JSONResponse(answer, status_code=201)


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


@router.post("/imports/dry-run", summary="Check a CSV file of clients and contracts; stores nothing",
             openapi_extra=CSV_BODY, responses={**UPLOAD, **success(ImportReport)})
async def import_dry_run(
    request: Request,
    caller: Caller = Depends(allow(Permission.change_contracts)),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    """Every problem of the file: `errors` = [{row, field, message}] (row 1 is the header); `ok` when none."""
    return await contracts.import_dry_run(ctx=ctx, svc=svc, caller=caller, text=await _uploaded_csv(request))


@router.post("/imports/apply", status_code=201, openapi_extra=CSV_BODY,
             responses={**CREATE, **success(ImportResult, 201)},
             summary="Import a CSV file: every client and contract, or nothing")
async def import_apply(
    request: Request,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(allow(Permission.change_contracts)),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    """One transaction: with any bad row nothing is stored and the answer is a 422 problem listing them all."""
    result = await contracts.import_apply(ctx=ctx, svc=svc, caller=caller, text=await _uploaded_csv(request),
                                        idempotency_key=idempotency_key)
    return JSONResponse(result, status_code=201)


@router.get("/contracts/{contract_id}/plan", summary="The obligations a contract produces: planned and requested",
            responses={**READ_ONE, **success(Plan)})
async def contract_plan(contract_id: ContractIdPath, caller: Caller = Depends(allow(Permission.view)),
                        svc: ServiceClients = Depends(service_clients)) -> Any:
    return await contracts.plan(svc=svc, caller=caller, contract_id=contract_id)


# --- Powers of attorney ---------------------------------------------------------------------------------------


@router.get("/clients/{client_id}/powers", responses=READ_ONE,
            summary="A client's powers of attorney (UPL-1, PEL, KRS, other) with their state today")
async def list_powers(client_id: ClientIdPath, caller: Caller = Depends(allow(Permission.view)),
                      svc: ServiceClients = Depends(service_clients)) -> Any:
    return await contracts.powers(svc=svc, caller=caller, client_id=client_id)


@router.post("/clients/{client_id}/powers", status_code=201, responses=problems(401, 403, 404, 413, 415, 422, 503),
             summary="Register a power of attorney (multipart: kind = UPL-1 | PEL | KRS | other, granted_on, "
                     "valid_until — empty: indefinite —, scope, file — the signed PDF/PNG/JPEG, optional)")
async def add_power(client_id: ClientIdPath, kind: str = Form(..., max_length=20),
                    granted_on: str = Form(..., max_length=10), valid_until: str | None = Form(None, max_length=10),
                    scope: str = Form("", max_length=2000), file: UploadFile | None = File(None),
                    caller: Caller = Depends(allow(Permission.change_contracts)),
                    ctx: ServiceContext = Depends(get_context),
                    svc: ServiceClients = Depends(service_clients)) -> JSONResponse:
    fields = {"kind": kind, "granted_on": granted_on, "scope": scope, **({"valid_until": valid_until}
                                                                            if valid_until else {})}
    upload = (file.filename or "plik", file.file, file.content_type or "application/octet-stream") if (
        file is not None and file.filename) else None
    power = await contracts.add_power(ctx=ctx, svc=svc, caller=caller, client_id=client_id, fields=fields,
                                      file=upload)
    return JSONResponse(power, status_code=201)


@router.post("/clients/{client_id}/powers/{power_id}/revocation", responses=CHANGE,
             summary="Record a power of attorney revoked (from `on`, default today); it stays in the register")
async def revoke_power(client_id: ClientIdPath, power_id: ContractIdPath,
                       body: dict[str, Any] = Body(default={}, openapi_examples={"today": {"value": {}}}),
                       caller: Caller = Depends(allow(Permission.change_contracts)),
                       ctx: ServiceContext = Depends(get_context),
                       svc: ServiceClients = Depends(service_clients)) -> Any:
    return await contracts.revoke_power(ctx=ctx, svc=svc, caller=caller, client_id=client_id, power_id=power_id,
                                        on=body.get("on"))


@router.get("/clients/{client_id}/powers/{power_id}/document", responses=problems(401, 404, 410, 422, 503),
            summary="Download a power of attorney's document")
async def power_document(client_id: ClientIdPath, power_id: ContractIdPath,
                         caller: Caller = Depends(allow(Permission.view)),
                         svc: ServiceClients = Depends(service_clients)) -> StreamingResponse:
    headers, body = await contracts.power_document(svc=svc, caller=caller, client_id=client_id, power_id=power_id)
    return StreamingResponse(body, headers={**headers, "X-Content-Type-Options": "nosniff"})


# --- Fee payments --------------------------------------------------------------------------------------------


@router.get("/payments", responses=problems(401, 403, 422, 503),
            summary="The clients' fee payments, newest first, with the months each pays; `unassigned=true`: those "
                    "not matched to a month yet")
async def list_payments(client_id: ClientIdFilter = None, unassigned: bool = False,
                        batch: Annotated[str | None, Query(max_length=36)] = None,
                        limit: int = Query(100, ge=1, le=500), offset: Offset = 0,
                        caller: Caller = Depends(allow(Permission.read_reports)),
                        svc: ServiceClients = Depends(service_clients)) -> Any:
    return await contracts.list_payments(svc=svc, caller=caller, client_id=client_id, unassigned=unassigned,
                                         batch=batch, limit=limit, offset=offset)


@router.post("/payments", status_code=201, responses=CREATE,
             summary="Record a client's payment of the fee by hand; matched to months unless they are given")
async def record_payment(body: dict[str, Any] = Body(..., openapi_examples={
                             "by NIP, month from the title": {"value": {
                                 "paid_on": "2026-11-10", "amount": "1273.05", "title": "FV 10/2026",
                                 "counterparty_nip": "5261040573"}},
                             "client and months given": {"value": {
                                 "paid_on": "2026-11-10", "amount": "2546.10", "client_id": 1,
                                 "months": [{"month": "2026-09"}, {"month": "2026-10"}]}}}),
                         caller: Caller = Depends(allow(Permission.change_contracts)),
                         ctx: ServiceContext = Depends(get_context),
                         svc: ServiceClients = Depends(service_clients)) -> JSONResponse:
    payment = await contracts.record_payment(ctx=ctx, svc=svc, caller=caller, body=body)
    return JSONResponse(payment, status_code=201)


@router.post("/payments/import", status_code=201, openapi_extra=CSV_BODY, responses=CREATE,
             summary="Import a bank statement CSV (date, amount, title, nip): every row stored and matched to the "
                     "months it pays, or nothing (422 listing the bad rows)")
async def import_payments(request: Request, caller: Caller = Depends(allow(Permission.change_contracts)),
                          ctx: ServiceContext = Depends(get_context),
                          svc: ServiceClients = Depends(service_clients)) -> JSONResponse:
    answer = await contracts.import_payments(ctx=ctx, svc=svc, caller=caller, text=await _uploaded_csv(request))
    return JSONResponse(answer, status_code=201)


@router.put("/payments/{payment_id}/assignment", responses=CHANGE,
            summary="Assign a payment by hand: its client and (optionally) the months it pays")
async def assign_payment(payment_id: ContractIdPath, body: dict[str, Any] = Body(..., openapi_examples={
                             "October": {"value": {"client_id": 1, "months": [{"month": "2026-10"}]}}}),
                         caller: Caller = Depends(allow(Permission.change_contracts)),
                         ctx: ServiceContext = Depends(get_context),
                         svc: ServiceClients = Depends(service_clients)) -> Any:
    return await contracts.assign_payment(ctx=ctx, svc=svc, caller=caller, payment_id=payment_id, body=body)


@router.post("/contracts/{contract_id}/fees/{month}/reminder", status_code=201,
             responses=problems(401, 403, 404, 409, 422, 503),
             summary="Mail the client a reminder of the month's overdue fee (a notice through the notifier); 409 "
                     "when the fee of that month is paid or not yet due")
async def remind_overdue(contract_id: ContractIdPath, month: MonthPath,
                         caller: Caller = Depends(allow(Permission.change_contracts)),
                         ctx: ServiceContext = Depends(get_context),
                         svc: ServiceClients = Depends(service_clients)) -> JSONResponse:
    answer = await contracts.remind_overdue(ctx=ctx, svc=svc, caller=caller, contract_id=contract_id, month=month,
                                            today=ctx.clock.today())
    return JSONResponse(answer, status_code=201)
