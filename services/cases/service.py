"""The cases service: turns case requests into cases handed to people, and keeps them visible."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.cases import assignment, duties, handlers, personal, watch
from services.cases.api import router
from services.cases.models import inbox, metadata, outbox
from services.common.messages import (
    CASE_REPLANNED,
    CASE_REQUESTED,
    CASE_WITHDRAWN,
    CLIENT_ERASED,
    CONTRACT_CHANGED,
    CONTRACT_CREATED,
    CONTRACT_TERMINATED,
    NOTICE_CONFIRMED,
    Envelope,
    NoticeConfirmed,
)
from services.common.metrics import Metrics
from services.common.runtime import ServiceContext, ServiceSpec, each_in_the_batch


async def case_metrics(ctx: ServiceContext, metrics: Metrics) -> None:
    """Scrape time: cases by status, and open ones past due (on today's date in Warsaw)."""
    async with ctx.db.reading() as session:
        counts, overdue = await handlers.count_cases(session=session, today=ctx.clock.today())
    by_status = metrics.gauge("terminarz_cases", "Cases by status.", ["service", "status"])
    for status, n in counts.items():
        by_status.labels(ctx.name, status).set(n)
    metrics.gauge("terminarz_cases_overdue", "Open or in-progress cases whose due date has passed.",
                  ["service"]).labels(ctx.name).set(overdue)


async def on_notice_confirmed(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    """notice.confirmed: a client confirmed a reminder of its task (duties.py); other notices change nothing here."""
    await duties.on_notice_confirmed(ctx, session, NoticeConfirmed.model_validate(envelope.payload))


router.include_router(watch.router)  # POST /jobs/morning (internal token, like every route here)

spec = ServiceSpec(
    name="cases",
    metadata=metadata,
    outbox=outbox,
    inbox=inbox,
    router=router,
    handlers={
        CASE_REQUESTED: handlers.on_case_requested,
        CASE_WITHDRAWN: handlers.on_case_withdrawn,
        CASE_REPLANNED: handlers.on_case_replanned,
        CLIENT_ERASED: personal.on_client_erased,
        NOTICE_CONFIRMED: on_notice_confirmed,  # the client confirmed sending what its task asks (duties.py)
        # Team changes by annex (assignment.py).
        CONTRACT_CREATED: assignment.on_contract_version,
        CONTRACT_CHANGED: assignment.on_contract_version,
        CONTRACT_TERMINATED: assignment.on_contract_version,
    },
    # A plan of many contracts requests thousands of cases at once: many per transaction (one commit each batch).
    batch_handlers={CASE_REQUESTED: each_in_the_batch(handlers.on_case_requested)},
    loops=[watch.morning_loop, assignment.team_change_loop],
    probes=[case_metrics],
)
