"""The notifier service: every outgoing mail and its delivery, client notices with their confirmation links,
daily reminders and proof, and the staff mails the cases service decides."""

from __future__ import annotations

from sqlalchemy import func, select

from services.common.messages import (
    CASE_COMPLETED,
    CASE_CREATED,
    CASE_DIGEST,
    CASE_DUE_SOON,
    CASE_ESCALATED,
    CASE_OVERDUE,
    CASE_OVERDUE_SUMMARY,
    CASE_PARTY_CHANGED,
    CASE_REOPENED,
    CASE_REPLANNED,
    CLIENT_CHANGED,
    CLIENT_ERASED,
    CONTRACT_CHANGED,
    CONTRACT_CREATED,
    CONTRACT_TERMINATED,
    FEE_OVERDUE,
    FEE_SETTLED,
)
from services.common.metrics import Metrics
from services.common.runtime import ServiceContext, ServiceSpec, each_in_the_batch
from services.notifier import api, handlers, jobs, personal, public
from services.notifier.delivery import close_bookkeeping, mail_dispatcher
from services.notifier.models import inbox, mails, metadata, notices, outbox

MAIL_STATUSES = ("pending", "sending", "sent", "kept", "failed")


async def notifier_metrics(ctx: ServiceContext, metrics: Metrics) -> None:
    """Scrape time: mails by delivery status, and client notices issued and still waiting for confirmation."""
    async with ctx.db.reading() as session:
        by_status: dict[str, int] = {status: n for status, n in await session.execute(
            select(mails.c.status, func.count()).group_by(mails.c.status))}
        waiting = (await session.execute(select(func.count()).select_from(notices).where(
            notices.c.status == "issued", notices.c.requires_confirmation.is_(True)))).scalar_one()
    gauge = metrics.gauge("terminarz_mails", "Mails by delivery status.", ["service", "status"])
    for status, n in {**dict.fromkeys(MAIL_STATUSES, 0), **by_status}.items():
        gauge.labels(ctx.name, status).set(n)
    metrics.gauge("terminarz_notices_awaiting_confirmation", "Client notices issued and not yet confirmed.",
                  ["service"]).labels(ctx.name).set(waiting)


async def setup(ctx: ServiceContext) -> None:
    warning = api.links_status(ctx)["warning"]
    if warning:
        from services.common.log import get_logger

        get_logger(__name__).warning("notice.links_not_public", links_url=ctx.settings.client_links_url)


spec = ServiceSpec(
    name="notifier",
    metadata=metadata,
    outbox=outbox,
    inbox=inbox,
    router=api.router,
    handlers={
        CONTRACT_CREATED: handlers.on_contract,
        CONTRACT_CHANGED: handlers.on_contract,
        CONTRACT_TERMINATED: handlers.on_contract,
        CLIENT_CHANGED: handlers.on_client_changed,
        CLIENT_ERASED: personal.on_client_erased,
        CASE_CREATED: handlers.on_case_created,
        CASE_COMPLETED: handlers.on_case_completed,
        CASE_REOPENED: handlers.on_case_reopened,
        CASE_REPLANNED: handlers.on_case_replanned,  # a client task's reminders follow it (duties.py)
        CASE_PARTY_CHANGED: handlers.on_case_party_changed,  # a case became (or stopped being) a client task
        CASE_DUE_SOON: handlers.on_case_due_soon,
        CASE_OVERDUE: handlers.on_case_overdue,
        CASE_ESCALATED: handlers.on_case_escalated,
        CASE_DIGEST: handlers.on_case_digest,
        CASE_OVERDUE_SUMMARY: handlers.on_case_overdue_summary,
        FEE_OVERDUE: handlers.on_fee_overdue,  # an overdue fee reminds the client (fee_notices.py)
        FEE_SETTLED: handlers.on_fee_settled,
    },
    # A large import: thousands of contracts, then of cases created at once, many per transaction.
    batch_handlers={CASE_CREATED: each_in_the_batch(handlers.on_case_created),
                    **dict.fromkeys((CONTRACT_CREATED, CONTRACT_CHANGED, CONTRACT_TERMINATED),
                                    each_in_the_batch(handlers.on_contract))},
    setup=setup,
    teardown=close_bookkeeping,
    loops=[mail_dispatcher, jobs.jobs_loop],
    public_router=public.router,
    public_prefix="/confirm",
    probes=[notifier_metrics],
)
