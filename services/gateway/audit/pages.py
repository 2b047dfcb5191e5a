"""The audit log page: filters (who, action, target, dates) and pages of rows, newest first."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import AfterValidator, BeforeValidator

from services.common.params import MAX_SEARCH, Offset, plain_or_none
from services.common.runtime import ServiceContext, get_context
from services.common.terms import LocalDate
from services.gateway import users
from services.gateway.audit import service as audit
from services.gateway.permissions import Caller, Permission, allow_page
from services.gateway.web import query_day, render

router = APIRouter(include_in_schema=False)
PAGE = 50
Filter = Annotated[str, Query(max_length=MAX_SEARCH), AfterValidator(plain_or_none)]
# A date input left empty is sent as "": no date.
Day = Annotated[LocalDate | None, Query(), BeforeValidator(query_day)]


@router.get("/audit")
async def audit_page(request: Request, login: Filter = "", action: Filter = "", target: Filter = "",
                     since: Day = None, until: Day = None, offset: Offset = 0,
                     caller: Caller = Depends(allow_page(Permission.read_audit)),
                     ctx: ServiceContext = Depends(get_context)) -> HTMLResponse:
    async with ctx.db.reading() as session:
        result = await audit.search(session=session, login=login or None, action=action or None,
                                    target=target or None, since=since, until=until, limit=PAGE, offset=offset)
        staff = await users.list_accounts(session=session)
    filters = {"login": login, "action": action, "target": target, "since": since.isoformat() if since else "",
               "until": until.isoformat() if until else ""}
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(request, "audit/log.html", caller.user, rows=result["items"], total=result["total"],
                  offset=offset, page=PAGE, filters=filters, query=query, staff=[a.user for a in staff],
                  actions=audit.ACTIONS_PL)
