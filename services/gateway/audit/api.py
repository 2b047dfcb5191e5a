"""REST API of the audit log (/api/v1/audit): read only; no route edits or deletes a row."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator

from services.common.params import MAX_SEARCH, LoginFilter, Offset, plain_or_none
from services.common.runtime import ServiceContext, get_context
from services.common.terms import LocalDate
from services.gateway.audit import service as audit
from services.gateway.openapi import LOCAL_READ, AuditPage, success
from services.gateway.permissions import Caller, Permission, allow

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/audit", summary="Who changed what and when, newest first", responses={**LOCAL_READ, **success(AuditPage)})
async def audit_log(
    login: LoginFilter = None,
    action: Annotated[str | None, Query(max_length=100, description="an action (`contract.annex`), or every action "
                                        "of a kind (`contract.`)"), AfterValidator(plain_or_none)] = None,
    target: Annotated[str | None, Query(max_length=MAX_SEARCH, description="what was changed, from its start: "
                                        "`contract:12`, `user:`"), AfterValidator(plain_or_none)] = None,
    since: Annotated[LocalDate | None, Query(description="from this day (Warsaw, YYYY-MM-DD), included")] = None,
    until: Annotated[LocalDate | None, Query(description="to this day (Warsaw, YYYY-MM-DD), included")] = None,
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
    caller: Caller = Depends(allow(Permission.read_audit)),
    ctx: ServiceContext = Depends(get_context),
) -> dict[str, Any]:
    async with ctx.db.reading() as session:
        return await audit.search(session=session, login=login, action=action, target=target, since=since,
                                  until=until, limit=limit, offset=offset)
