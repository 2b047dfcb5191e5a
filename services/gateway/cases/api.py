"""REST API of cases (/api/v1/cases): lists with filters and counts, one case, and its work — status changes,
checklist ticks, comments, attachments — and one-off cases of a contract."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, File, Form, Path, Query, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse

from services.common.params import (
    CaseIdPath,
    CaseStatus,
    ClientIdFilter,
    ContractIdFilter,
    ContractIdPath,
    LoginFilter,
    NameFilter,
    Offset,
    SearchText,
)
from services.common.runtime import ServiceContext, get_context
from services.common.terms import LocalDate
from services.gateway import powers as power_checks
from services.gateway.cases import service as cases
from services.gateway.clients import ServiceClients
from services.gateway.common import service_clients
from services.gateway.openapi import CHANGE, CREATE, READ, READ_ONE, CasePage, CaseWithHistory, problems, success
from services.gateway.permissions import Caller, Permission, allow

router = APIRouter(prefix="/api/v1", tags=["cases"])
WORK = allow(Permission.work_cases)


@router.get("/cases", summary="Cases visible to the caller, filtered, sorted and paged, with counts per status",
            responses={**READ, **success(CasePage)})
async def list_cases(
    status: CaseStatus | None = None,
    contract_id: ContractIdFilter = None,
    mine: bool = Query(False, description="only the caller's own cases (as assignee or substitute)"),
    tab: Literal["today", "week", "overdue", "open"] | None = Query(
        None, description="open cases due today, this week (to Sunday), overdue, or all open"),
    client_id: ClientIdFilter = None,
    client: SearchText = None,
    code: NameFilter = None,
    assignee: LoginFilter = None,
    due_from: Annotated[LocalDate | None, Query(description="due on or after this day (YYYY-MM-DD)")] = None,
    due_to: Annotated[LocalDate | None, Query(description="due on or before this day (YYYY-MM-DD)")] = None,
    deadline_state: Literal["on_time", "due_soon", "overdue"] | None = Query(
        None, description="open cases the morning job found on time, due soon or overdue"),
    party: Literal["office", "client"] | None = Query(
        None, description="office: the office's own duties; client: the client's tasks (\"Zadanie klienta\")"),
    sort: Literal["due", "client", "status"] = "due",
    desc: bool = False,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
    caller: Caller = Depends(allow(Permission.view)),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    page = await cases.list_cases_json(svc=svc, caller=caller, mine=mine, status=status, contract_id=contract_id,
                                       limit=limit, offset=offset, tab=tab, client_id=client_id, client=client,
                                       code=code, assignee=assignee, due_from=due_from, due_to=due_to, sort=sort,
                                       desc=desc, deadline_state=deadline_state, party=party)
    return Response(page, media_type="application/json")


@router.get("/cases/{case_id}", summary="One case: its history, comments, attachments and why it exists",
            responses={**READ_ONE, **success(CaseWithHistory)})
async def get_case(case_id: CaseIdPath, caller: Caller = Depends(allow(Permission.view)),
                   svc: ServiceClients = Depends(service_clients),
                   ctx: ServiceContext = Depends(get_context)) -> Any:
    """`power_warnings`: a power of attorney the case's rule needs (`requires_power`) missing or expiring."""
    case = await cases.get_case(svc=svc, caller=caller, case_id=str(case_id))
    case["power_warnings"] = await power_checks.case_warnings(svc, caller, case, ctx.clock.today())
    return case


@router.post("/cases/{case_id}/start", summary="Start a case: open → in_progress",
             responses={**CHANGE, **success(CaseWithHistory)})
async def start(case_id: CaseIdPath, caller: Caller = Depends(WORK), ctx: ServiceContext = Depends(get_context),
                svc: ServiceClients = Depends(service_clients)) -> Any:
    return await cases.change(ctx=ctx, svc=svc, caller=caller, case_id=str(case_id), action="start")


@router.post("/cases/{case_id}/finish", responses={**CHANGE, **success(CaseWithHistory)},
             summary="Finish a case (done): refused while a required checklist item or attachment is missing; "
                     "a case with a client notice needs an amount per liability")
async def finish(case_id: CaseIdPath,
                 body: dict[str, Any] = Body(default_factory=dict, openapi_examples={
                     "VAT": {"value": {"liabilities": {"vat": "1 200,00"}}},
                     "VAT with October's documents": {"value": {"liabilities": {"vat": "1 200,00"}, "documents": 230}},
                 }, description="`liabilities`: an amount per liability of the case's notice; `documents` / "
                    "`employees` (optional, the month's bookkeeping / payroll case): the month's counts for the fee"),
                 caller: Caller = Depends(WORK), ctx: ServiceContext = Depends(get_context),
                 svc: ServiceClients = Depends(service_clients)) -> Any:
    return await cases.change(ctx=ctx, svc=svc, caller=caller, case_id=str(case_id), action="finish",
                              body={"liabilities": body.get("liabilities") or {}},
                              counts_given={k: body.get(k) for k in ("documents", "employees")})


@router.post("/cases/{case_id}/received", responses={**CHANGE, **success(CaseWithHistory)},
             summary="Documents received (\"dokumenty otrzymane\"): the client task of this case — itself, or the one "
                     "of its contract and period it depends on — is done")
async def received(case_id: CaseIdPath,
                   body: dict[str, Any] = Body(default_factory=dict, openapi_examples={
                       "October's documents on 12.11": {"value": {"received_on": "2026-11-12", "count": 230}},
                   }, description="`received_on` (YYYY-MM-DD, default today, not in the future), `count` (optional: "
                      "how many documents), `duty` (when the case depends on several client duties: documents, "
                      "payroll_data, bank_statements)"),
                   caller: Caller = Depends(WORK), ctx: ServiceContext = Depends(get_context),
                   svc: ServiceClients = Depends(service_clients)) -> Any:
    given = {k: body[k] for k in ("received_on", "count", "duty") if body.get(k) not in (None, "")}
    return await cases.change(ctx=ctx, svc=svc, caller=caller, case_id=str(case_id), action="received", body=given)


@router.post("/cases/{case_id}/not-applicable", summary="Mark a case not applicable, with the reason",
             responses={**CHANGE, **success(CaseWithHistory)})
async def not_applicable(case_id: CaseIdPath,
                         body: dict[str, Any] = Body(..., openapi_examples={
                             "no payroll": {"value": {"reason": "brak wypłat w tym miesiącu"}}}),
                         caller: Caller = Depends(WORK), ctx: ServiceContext = Depends(get_context),
                         svc: ServiceClients = Depends(service_clients)) -> Any:
    return await cases.change(ctx=ctx, svc=svc, caller=caller, case_id=str(case_id), action="not-applicable",
                              body={"reason": body.get("reason", "")})


@router.post("/cases/{case_id}/reopen", summary="Reopen a done or not-applicable case (a manager)",
             responses={**CHANGE, **success(CaseWithHistory)})
async def reopen(case_id: CaseIdPath, body: dict[str, Any] = Body(default_factory=dict),
                 caller: Caller = Depends(allow(Permission.manage_cases)),
                 ctx: ServiceContext = Depends(get_context), svc: ServiceClients = Depends(service_clients)) -> Any:
    return await cases.change(ctx=ctx, svc=svc, caller=caller, case_id=str(case_id), action="reopen",
                              body={"reason": body.get("reason", "")})


@router.put("/cases/{case_id}/checklist/{index}", summary="Tick or untick one checklist item (from 0)",
            responses={**CHANGE, **success(CaseWithHistory)})
async def tick(case_id: CaseIdPath, index: int = Path(ge=0, le=999),
               body: dict[str, Any] = Body(..., openapi_examples={"tick": {"value": {"done": True}}}),
               caller: Caller = Depends(WORK), svc: ServiceClients = Depends(service_clients)) -> Any:
    return await cases.tick(svc=svc, caller=caller, case_id=str(case_id), index=index, done=body.get("done"))


@router.post("/cases/{case_id}/comments", status_code=201, summary="Comment on a case",
             responses={**CHANGE})
async def comment(case_id: CaseIdPath, body: dict[str, Any] = Body(..., openapi_examples={
                      "note": {"value": {"text": "Klient dośle faktury do piątku."}}}),
                  caller: Caller = Depends(WORK), svc: ServiceClients = Depends(service_clients)) -> Any:
    added = await cases.comment(svc=svc, caller=caller, case_id=str(case_id), text=body.get("text"))
    return JSONResponse(added, status_code=201)


@router.post("/cases/{case_id}/attachments", status_code=201,
             responses=problems(401, 403, 404, 409, 413, 415, 422, 503),
             summary="Attach a file (multipart: file, kind = upo | statement | other); PDF, XML, PNG, JPEG, text "
                     "or ZIP by content, at most attachment_max_bytes")
async def upload(case_id: CaseIdPath, file: UploadFile = File(...), kind: str = Form("other", max_length=20),
                 caller: Caller = Depends(WORK), ctx: ServiceContext = Depends(get_context),
                 svc: ServiceClients = Depends(service_clients)) -> Any:
    attachment = await cases.upload(ctx=ctx, svc=svc, caller=caller, case_id=str(case_id), kind=kind,
                                    filename=file.filename or "plik", content=file.file,
                                    content_type=file.content_type or "")
    return JSONResponse(attachment, status_code=201)


@router.get("/cases/{case_id}/attachments/{attachment_id}", summary="Download an attachment",
            responses=problems(401, 404, 410, 422, 503))
async def download(case_id: CaseIdPath, attachment_id: CaseIdPath, caller: Caller = Depends(allow(Permission.view)),
                   svc: ServiceClients = Depends(service_clients)) -> StreamingResponse:
    headers, body = await cases.download(svc=svc, caller=caller, case_id=str(case_id),
                                         attachment_id=str(attachment_id))
    return StreamingResponse(body, headers={**headers, "X-Content-Type-Options": "nosniff"})


@router.post("/contracts/{contract_id}/cases", status_code=201, responses={**CREATE, 404: READ_ONE[404]},
             summary="Create a one-off case for a contract (title, due date, assignee from its team, checklist)")
async def create_one_off(contract_id: ContractIdPath, body: dict[str, Any] = Body(..., openapi_examples={
                             "VAT-R": {"value": {"title": "Aktualizacja VAT-R po zmianie adresu", "due": "2026-12-15",
                                                 "checklist": ["Przygotuj VAT-R", "Wyślij i pobierz UPO"]}}}),
                         caller: Caller = Depends(WORK), ctx: ServiceContext = Depends(get_context),
                         svc: ServiceClients = Depends(service_clients)) -> Any:
    case = await cases.create_one_off(ctx=ctx, svc=svc, caller=caller, contract_id=contract_id,
                                      title=body.get("title"), due=body.get("due"), assignee=body.get("assignee"),
                                      checklist=body.get("checklist"))
    return JSONResponse(case, status_code=201, headers={"Location": f"/api/v1/cases/{case['id']}"})
