"""Dead letters across the five services' queues, read and retried through the gateway's own bus connection.

A message lands in its queue's dead letters after `TERMINARZ_BUS_MAX_ATTEMPTS` failed attempts: the work it
carried (a case to create, a mail to send) waits there until the cause is fixed and someone retries it. The
consumer's inbox makes a retry of something already done harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.common.bus import DeadLetter
from services.common.runtime import ServiceContext
from services.common.settings import SERVICES
from services.gateway.audit import service as audit
from services.gateway.users import User

SHOWN = 100  # dead letters listed per queue


async def dead_letters(ctx: ServiceContext) -> list[dict[str, Any]]:
    """Per service queue: its oldest dead letters (up to SHOWN) and whether there are more."""
    found = []
    for queue in SERVICES:
        letters = await ctx.bus.dead_letters(queue, SHOWN + 1)
        found.append({"queue": queue, "more": len(letters) > SHOWN,
                      "items": [_view(letter) for letter in letters[:SHOWN]]})
    return found


async def retry(ctx: ServiceContext, user: User, *, queue: str, message_ids: Sequence[str] | None) -> int:
    """Hand them back to the queue's service; audited with the ids asked for and how many went."""
    retried = await ctx.bus.retry_dead_letters(queue, message_ids)
    await audit.record(ctx, user, action="system.dead_letters.retry", target=f"queue:{queue}",
                       detail={"retried": retried, "message_ids": list(message_ids) if message_ids else "all"})
    return retried


def _view(letter: DeadLetter) -> dict[str, Any]:
    try:
        correlation_id = letter.envelope.correlation_id
    except ValueError:
        correlation_id = None
    return {"message_id": letter.message_id, "type": letter.type, "attempts": letter.attempts,
            "error": letter.error, "dead_at": letter.dead_at, "correlation_id": correlation_id}
