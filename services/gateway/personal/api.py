"""REST API of personal data (/api/v1): a client's export (managers, admins) and the retention command (admins)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.common.params import MAX_ID, ClientIdPath
from services.common.runtime import ServiceContext, get_context
from services.gateway.clients import ServiceClients
from services.gateway.common import service_clients
from services.gateway.openapi import ErasureResult, PersonalData, problems, success
from services.gateway.permissions import Caller, Permission, allow
from services.gateway.personal import service as personal

router = APIRouter(prefix="/api/v1", tags=["personal data"])


class ErasureRequest(BaseModel):
    client_id: int | None = Field(default=None, ge=1, le=MAX_ID,
                                  description="one client (refused with the reason if it may not be erased yet); "
                                  "left out: every client whose retention has ended")
    dry_run: bool = Field(default=False, description="list who would be erased and why; change nothing")
    limit: int = Field(default=100, ge=1, le=1000, description="erase at most this many clients in this call; "
                       "`remaining` in the answer says how many more are due (call again)")


@router.get("/clients/{client_id}/personal-data",
            summary="Everything held about one client (a data subject's access request), from every service",
            responses={**problems(401, 403, 404, 422, 503), 200: {
                "model": PersonalData, "content": {"application/zip": {}},
                "description": "JSON; with format=zip a ZIP of export.json and one CSV per service and table"}})
async def client_personal_data(
    client_id: ClientIdPath,
    format: Literal["json", "zip"] = Query("json", description="`zip`: export.json and a CSV per table"),
    caller: Caller = Depends(allow(Permission.export_personal_data)),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> Any:
    document = await personal.export(ctx=ctx, svc=svc, caller=caller, client_id=client_id, format=format)
    if format == "zip":
        return Response(personal.as_zip(document), media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="client-{client_id}-personal-data.zip"'})
    return document


@router.post("/personal-data/erasure",
             summary="Erase the personal data of clients past retention (or list them: dry_run)",
             responses={**problems(401, 403, 404, 409, 413, 422, 503), **success(ErasureResult)})
async def erase_personal_data(
    body: ErasureRequest = Body(..., openapi_examples={
        "what would go": {"value": {"dry_run": True}}, "one client": {"value": {"client_id": 12}}}),
    caller: Caller = Depends(allow(Permission.erase_personal_data)),
    ctx: ServiceContext = Depends(get_context),
    svc: ServiceClients = Depends(service_clients),
) -> dict[str, Any]:
    """Clients whose last contract ended more than TERMINARZ_RETENTION_YEARS (5) whole years ago: names, PESEL,
    NIP, REGON, address and e-mails erased in every service; counts, amounts, dates and ids kept."""
    return await personal.erase(ctx=ctx, svc=svc, caller=caller, client_id=body.client_id, dry_run=body.dry_run,
                                limit=body.limit)
