"""HTTP API of the notifier service (internal: the gateway calls it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator

from services.common.params import plain_or_none
from services.common.runtime import ServiceContext, get_context
from services.notifier import handlers

router = APIRouter()


@router.get("/mails")
async def list_mails(
    ctx: ServiceContext = Depends(get_context),
    to: Annotated[str | None, Query(max_length=254), AfterValidator(plain_or_none)] = None,
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    async with ctx.db.reading() as session:
        items = await handlers.list_mails(session=session, to_address=to, limit=limit)
    return {"items": items}
