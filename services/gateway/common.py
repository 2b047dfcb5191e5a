"""What the API and page routes of every domain share: the other services' clients, forms and uploads."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from services.common.errors import Problem
from services.common.runtime import ServiceContext, get_context
from services.common.text import UndecodableText
from services.common.text import decode_upload as decode_text
from services.gateway.clients import ServiceClients


async def service_clients(ctx: ServiceContext = Depends(get_context)) -> ServiceClients:
    """FastAPI dependency: the clients of the other services (made at start-up)."""
    return clients_of(ctx)


def clients_of(ctx: ServiceContext) -> ServiceClients:
    clients: ServiceClients = ctx.extras["clients"]
    return clients


def idempotency(key: str | None) -> dict[str, str] | None:
    """The Idempotency-Key header passed on to the service that records the change."""
    return {"Idempotency-Key": key} if key else None


def decode_upload(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1250, as older Polish Excel saves CSV; else a 422 saying where."""
    try:
        return decode_text(data)
    except UndecodableText as error:
        raise Problem(422, "Unreadable file", "the file's text encoding is neither UTF-8 nor Windows-1250",
                      errors=[{"field": "file", "message": str(error)}]) from None


async def read_form(request: Request) -> Any:
    """The posted form, a CSV file in it as large as the body limit; a malformed form is a 422, not a 400."""
    try:
        return await request.form(max_part_size=request.app.state.ctx.settings.max_body_bytes)
    except (MultiPartException, StarletteHTTPException) as error:
        detail = getattr(error, "message", None) or getattr(error, "detail", "")
        raise Problem(422, "Unreadable form", errors=[{"field": "body", "message": str(detail)}]) from None
