"""The contracts service: clients, contracts, their versions; publishes every change of terms."""

from __future__ import annotations

from services.common.log import get_logger
from services.common.runtime import ServiceContext, ServiceSpec
from services.contracts.api import router
from services.contracts.fee_reminders import fee_reminder_loop
from services.contracts.handlers import announce_clients
from services.contracts.models import inbox, metadata, outbox

log = get_logger(__name__)


async def setup(ctx: ServiceContext) -> None:
    """Tell the notifier about every client it has not heard of (once, after the upgrade that added contacts)."""
    announced = await announce_clients(ctx)
    if announced:
        log.info("clients.announced", count=announced)


spec = ServiceSpec(name="contracts", metadata=metadata, outbox=outbox, inbox=inbox, router=router, setup=setup,
                   loops=[fee_reminder_loop])  # the daily overdue-fee check (fee_reminders.py)
