"""REST API of client notices (/api/v1/notices) and the notifier's templates: what the notifier holds, within the
caller's scope."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import JSONResponse, Response

from services.common.params import ClientIdFilter, ClientIdPath, ContractIdFilter, Offset
from services.common.runtime import ServiceContext, get_context
from services.gateway.clients import ServiceClients
from services.gateway.common import service_clients
from services.gateway.contracts import service as contracts
from services.gateway.notices import service as notices
from services.gateway.openapi import CHANGE, CREATE, READ, READ_ONE, problems
from services.gateway.permissions import Caller, Permission, allow

router = APIRouter(prefix="/api/v1", tags=["notices"])

NoticeIdPath = Annotated[UUID, Path(description="the notice's id (a UUID)")]
CaseIdFilter = Annotated[UUID | None, Query(description="only this case's")]
NoticeState = Literal["sent", "waiting", "confirmed", "failed"]
PeriodFilter = Annotated[str | None, Query(max_length=10, pattern=r"^[0-9]{4}(-[0-9A-Z]{1,3})?$",
                                           description="a period or its start: 2026, 2026-10, 2026-Q3")]
MANUAL_EXAMPLE = {"client_ids": ["1"], "subject": "Zmiana terminu płatności", "text": "Szanowni Państwo, …",
                  "liabilities": [{"kind": "vat", "amount": "1200.00", "due": "2026-12-28", "period": "2026-11"}],
                  "send_on": None, "requires_confirmation": True}


RESTRICTED_READ = problems(401, 403, 422, 503)  # a read some roles may not make
CSV: dict[int | str, dict[str, Any]] = {200: {"description": "the proof, one row per event",
                                               "content": {"text/csv": {"schema": {"type": "string"}}}}}


def _text(value: UUID | int | None) -> str | None:
    return None if value is None else str(value)


@router.get("/notices", summary="Client notices the caller sees, newest first; `state`: sent, waiting (for the "
                                "client's confirmation), confirmed, failed", responses={**READ})
async def list_notices(
    client_id: ClientIdFilter = None,
    case_id: CaseIdFilter = None,
    contract_id: ContractIdFilter = None,
    state: NoticeState | None = None,
    period: PeriodFilter = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
    caller: Caller = Depends(allow(Permission.view)),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    return await notices.list_notices(svc=svc, caller=caller, client_id=client_id, case_id=_text(case_id),
                                      contract_id=contract_id, state=state, period=period, limit=limit,
                                      offset=offset)


@router.get("/notices/proof.csv", summary="The proof of the notices as CSV: each send with the SMTP reply, each "
                                          "opening and the confirmation (time, address, browser)",
            response_class=Response, responses={**RESTRICTED_READ, **CSV})
async def proof_csv(
    client_id: ClientIdFilter = None,
    case_id: CaseIdFilter = None,
    contract_id: ContractIdFilter = None,
    caller: Caller = Depends(allow(Permission.manage_notices)),
    svc: ServiceClients = Depends(service_clients),
) -> Response:
    text = await notices.proof_csv(svc=svc, caller=caller, client_id=client_id, case_id=_text(case_id),
                                   contract_id=contract_id)
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="potwierdzenia.csv"'})


@router.get("/notices/{notice_id}", summary="One notice with its proof", responses={**READ_ONE})
async def get_notice(notice_id: NoticeIdPath, caller: Caller = Depends(allow(Permission.view)),
                     svc: ServiceClients = Depends(service_clients)) -> Any:
    return await notices.get_notice(svc=svc, caller=caller, notice_id=str(notice_id))


@router.post("/notices", status_code=201, summary="Write a notice to one client or a selection, now or on a day",
             responses={**CREATE})
async def create_notices(
    body: dict[str, Any] = Body(..., openapi_examples={"one client, with an amount": {"value": MANUAL_EXAMPLE}},
                                description="`client_ids`, `subject`, `text` or `template`, optional "
                                "`liabilities`, `send_on` (a day; none: now), `requires_confirmation`"),
    caller: Caller = Depends(allow(Permission.send_notices)),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> JSONResponse:
    return JSONResponse(await notices.create_notices(ctx=ctx, svc=svc, caller=caller, body=body), status_code=201)


@router.post("/notices/{notice_id}/withdraw", summary="Withdraw a notice: no more reminders; its link says so",
             responses={**CHANGE})
async def withdraw_notice(
    notice_id: NoticeIdPath,
    body: dict[str, Any] = Body(..., openapi_examples={"sent by mistake": {"value": {"reason": "pomyłka"}}}),
    caller: Caller = Depends(allow(Permission.manage_notices)),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    return await notices.withdraw(ctx=ctx, svc=svc, caller=caller, notice_id=str(notice_id),
                                  reason=str(body.get("reason") or ""))


@router.get("/clients/{client_id}/recipients", summary="A client's notice recipients and their delivery health "
                                                       "(failing after a 5xx refusal)", responses={**READ_ONE})
async def client_recipients(client_id: ClientIdPath, caller: Caller = Depends(allow(Permission.view)),
                            svc: ServiceClients = Depends(service_clients)) -> Any:
    await contracts.get_client(svc=svc, caller=caller, client_id=client_id)  # 404 for a client not seen
    return await notices.recipients(svc=svc, caller=caller, client_id=client_id)


@router.get("/notice-templates", summary="The notifier's templates, built-in or the admin's",
            responses={**RESTRICTED_READ})
async def list_templates(caller: Caller = Depends(allow(Permission.manage_settings)),
                         svc: ServiceClients = Depends(service_clients)) -> Any:
    return await notices.templates(svc=svc, caller=caller)


@router.post("/notice-templates/preview", summary="A template rendered with sample data, before clients see it",
             responses={**CHANGE})
async def preview_template(
    body: dict[str, Any] = Body(..., openapi_examples={"the notice in Polish": {"value": {"name": "notice",
                                                                                        "language": "pl"}}}),
    caller: Caller = Depends(allow(Permission.manage_settings)),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    return await notices.preview(svc=svc, caller=caller, name=str(body.get("name") or ""),
                                 language=str(body.get("language") or "pl"))
