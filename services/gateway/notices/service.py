"""What the notifier wrote: the outgoing mail (the local outbox when no SMTP server is configured)."""

from __future__ import annotations

from typing import Any

from services.gateway.clients import ServiceClients
from services.gateway.permissions import Caller


async def list_mails(*, svc: ServiceClients, caller: Caller, limit: int = 20, offset: int = 0) -> dict[str, Any]:
    """A page of every mail (newest first) for those who see the whole office; of the mails sent to the caller for
    everyone else: `{items, total}`."""
    to = None if caller.scope.unrestricted else caller.user.email
    page: dict[str, Any] = await svc.call("notifier", "GET", "/mails", scope=caller.scope,
                                          params={"to": to, "limit": limit, "offset": offset})
    return page
