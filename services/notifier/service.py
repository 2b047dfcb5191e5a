"""The notifier service: tells staff about their cases and clients about what they owe, and keeps proof."""

from __future__ import annotations

from services.common.messages import CASE_CREATED
from services.common.metrics import Metrics
from services.common.runtime import ServiceContext, ServiceSpec
from services.notifier import handlers
from services.notifier.api import router
from services.notifier.models import inbox, metadata, outbox


async def mail_metrics(ctx: ServiceContext, metrics: Metrics) -> None:
    """Scrape time: mails by delivery status (sent, failed, pending, kept in the local outbox).

    Notices waiting for the client's confirmation get their gauge (`terminarz_notices_awaiting_confirmation`)
    here once the notifier keeps client notices."""
    async with ctx.db.reading() as session:
        counts = await handlers.count_mails(session=session)
    gauge = metrics.gauge("terminarz_mails", "Mails by delivery status.", ["service", "status"])
    for status, n in counts.items():
        gauge.labels(ctx.name, status).set(n)


spec = ServiceSpec(
    name="notifier",
    metadata=metadata,
    outbox=outbox,
    inbox=inbox,
    router=router,
    handlers={CASE_CREATED: handlers.on_case_created},
    loops=[handlers.mail_dispatcher],
    probes=[mail_metrics],
)
