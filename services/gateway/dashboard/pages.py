"""The dashboard at `/`, the first page after login: one's own cases due today, this week and overdue; the notices
waiting for a client's confirmation on the contracts one sees; for those who read reports, the office's overdue
count and its worst contracts."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from services.gateway.clients import ServiceClients
from services.gateway.common import service_clients
from services.gateway.permissions import Caller, Permission, allow_page
from services.gateway.reports import service as reports
from services.gateway.web import render

router = APIRouter(include_in_schema=False)


@router.get("/")
async def dashboard(request: Request, caller: Caller = Depends(allow_page(Permission.view)),
                    svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    board = await reports.dashboard(svc=svc, caller=caller, with_office=caller.may(Permission.read_reports))
    return render(request, "dashboard/home.html", caller.user, **board)
