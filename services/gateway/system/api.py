"""REST API of the dead letters (/api/v1/system/dead-letters): list them, hand them back to their service."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, Field

from services.common.runtime import ServiceContext, get_context
from services.gateway.openapi import LOCAL_READ, _Open, problems, success
from services.gateway.permissions import Caller, Permission, allow
from services.gateway.system import service as system

router = APIRouter(prefix="/api/v1/system", tags=["system"])
Queue = Literal["contracts", "scheduler", "cases", "notifier", "gateway"]


class DeadLetterView(_Open):
    message_id: str
    type: str
    attempts: int
    error: str
    dead_at: datetime | None
    correlation_id: str | None


class QueueDeadLetters(_Open):
    queue: Queue
    more: bool
    items: list[DeadLetterView]


class DeadLetters(_Open):
    queues: list[QueueDeadLetters]


class RetryRequest(BaseModel):
    message_ids: list[str] | None = Field(
        None, max_length=1000, description="the messages to retry; none: all of the queue's dead letters")


class Retried(_Open):
    queue: Queue
    retried: int


@router.get("/dead-letters", summary="Messages a service could not handle after its attempts, per service queue",
            responses={**LOCAL_READ, **success(DeadLetters)})
async def list_dead_letters(caller: Caller = Depends(allow(Permission.manage_settings)),
                            ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    return {"queues": await system.dead_letters(ctx)}


@router.post("/dead-letters/{queue}/retry", summary="Hand a queue's dead letters back to its service (audited)",
             responses={**problems(401, 403, 413, 422), **success(Retried)})
async def retry_dead_letters(queue: Queue, request: RetryRequest | None = Body(None),
                             caller: Caller = Depends(allow(Permission.manage_settings)),
                             ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    ids = request.message_ids if request is not None else None
    return {"queue": queue, "retried": await system.retry(ctx, caller.user, queue=queue, message_ids=ids)}
