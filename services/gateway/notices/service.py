"""What the notifier wrote: the outgoing mail (the local outbox when no SMTP server is configured)."""

from __future__ import annotations

from typing import Any

from services.gateway.clients import ServiceClients
from services.gateway.permissions import Caller


async def list_mails(*, svc: ServiceClients, caller: Caller, limit: int = 200) -> list[dict[str, Any]]:
    """Every mail for those who see the whole office; the mails sent to the caller for everyone else."""
    to = None if caller.scope.unrestricted else caller.user.email
    result = await svc.call("notifier", "GET", "/mails", scope=caller.scope, params={"to": to, "limit": limit})
    items: list[dict[str, Any]] = result["items"]
    return items
