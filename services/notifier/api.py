"""HTTP API of the notifier service (internal: the gateway calls it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from services.common.runtime import ServiceContext, get_context
from services.notifier import handlers

router = APIRouter()


@router.get("/mails")
async def list_mails(
    ctx: ServiceContext = Depends(get_context),
    to: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    async with ctx.db.reading() as session:
        items = await handlers.list_mails(session=session, to_address=to, limit=limit)
    return {"items": items}
