"""Web pages of personal data: a manager downloads everything held about a client from its page (a ZIP)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from services.common.params import ClientIdPath
from services.common.runtime import ServiceContext, get_context
from services.gateway.clients import ServiceClients
from services.gateway.common import service_clients
from services.gateway.permissions import Caller, Permission, allow_page
from services.gateway.personal import service as personal

router = APIRouter(include_in_schema=False)


@router.get("/clients/{client_id}/personal-data.zip")
async def personal_data_zip(client_id: ClientIdPath,
                            caller: Caller = Depends(allow_page(Permission.export_personal_data)),
                            ctx: ServiceContext = Depends(get_context),
                            svc: ServiceClients = Depends(service_clients)) -> Response:
    document = await personal.export(ctx=ctx, svc=svc, caller=caller, client_id=client_id, format="zip")
    return Response(personal.as_zip(document), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="client-{client_id}-personal-data.zip"'})
