"""Reminding the client of its tasks (cases of `party: client`: documents for the month by day N, …).

A client task becomes one notice of kind `duty` (template `duty`), reusing the notice machinery whole: it is issued
to the client's recipients `client_duty_remind_days_before` days before the due date (at the reminder hour; at once
when that day has passed), each recipient with the scanner-safe confirmation link ("Dokumenty wysłane": GET shows
the page, only the button's POST confirms), and the morning reminders take it up once its due date has passed
(`jobs._waiting`), daily, until the client confirms (notice.confirmed names the task's case: the cases service
records it), the task is done (case.completed of party client: the notice is withdrawn) or the cut-off. The proof
(every mail, opening and the confirmation) is the notice's, as for liability notices.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import WARSAW
from services.common.log import get_logger
from services.common.messages import CaseCompleted, CaseCreated
from services.common.runtime import ServiceContext
from services.notifier import domain
from services.notifier.models import contracts, notices
from services.notifier.notices import add_event, client_view, member, wake_jobs

log = get_logger(__name__)
KIND = "duty"
TEMPLATE = "duty"
# What the client is asked for, by the task's duty (the subject names it; rules/client.yaml).
WHAT = {
    "documents": "Dokumenty",
    "payroll_data": "Dane kadrowo-płacowe",
    "bank_statements": "Wyciągi bankowe",
    "statements_signing": "Podpisane sprawozdanie finansowe",
}


def subject_of(case: CaseCreated) -> str:
    what = WHAT.get(case.duty or "", case.title)
    period = domain.period_label(case.period, "pl")
    return f"{what}{' za ' + period if period and case.duty != 'statements_signing' else ''} — termin " \
           f"{domain.day(case.due, 'pl')}"


def body_of(case: CaseCreated, office: str) -> str:
    return (f"Zgodnie z umową prosimy o przekazanie do biura: {case.title.lower()}"
            f"{' (' + domain.period_label(case.period, 'pl') + ')' if case.period else ''} "
            f"do {domain.day(case.due, 'pl')}.\n\n"
            "Gdy wyślą je Państwo, prosimy potwierdzić to przyciskiem na stronie z linku — przestaniemy wtedy "
            f"przypominać.\n\n{office}")


async def on_client_task(ctx: ServiceContext, session: AsyncSession, case: CaseCreated) -> str | None:
    """A client task was created: its duty notice, issued N days before the due date (once per case)."""
    existing = (await session.execute(select(notices.c.id).where(notices.c.case_id == case.case_id))).first()
    if existing is not None:
        return None
    client_id = case.client_id
    if not client_id:
        client_id = (await session.execute(select(contracts.c.client_id).where(
            contracts.c.contract_id == case.contract_id))).scalar_one_or_none() or ""
    if not client_id:
        log.warning("duty.no_client", case_id=case.case_id, contract_id=case.contract_id)
        return None
    client = await client_view(session, client_id, case.client_name)
    now = ctx.clock.now()
    first_day = case.due - timedelta(days=ctx.settings.client_duty_remind_days_before)
    at = max(now, datetime.combine(first_day, ctx.settings.reminder_time, tzinfo=WARSAW).astimezone(now.tzinfo))
    notice_id = str(uuid.uuid4())
    await session.execute(notices.insert().values(
        id=notice_id, kind=KIND, client_id=client_id, client_name=client.name, contract_id=case.contract_id,
        period=case.period, status="scheduled", draft_key=None, template=TEMPLATE, subject=subject_of(case),
        body=body_of(case, ctx.settings.office_name), requires_confirmation=True, due=case.due, send_after=at,
        accountant=member(case.assignee), created_by=None, case_id=case.case_id,
        created_at=now, updated_at=now))
    await add_event(session, notice_id, now, "created", f"client task {case.case_id}, first reminder {at.isoformat()}")
    wake_jobs(ctx, session)
    return notice_id


async def on_client_task_done(ctx: ServiceContext, session: AsyncSession, event: CaseCompleted) -> bool:
    """The office has what the client task asked for: no more reminders (the link says it was received)."""
    now = ctx.clock.now()
    row = (await session.execute(select(notices.c.id).where(
        notices.c.case_id == event.case_id, notices.c.status.in_(("scheduled", "issued", "expired"))))).first()
    if row is None:
        return False
    await session.execute(update(notices).where(notices.c.id == row.id).values(
        status="withdrawn", withdrawn_at=now, withdrawn_reason="biuro otrzymało dokumenty", updated_at=now))
    await add_event(session, row.id, now, "withdrawn", f"client task done by {event.completed_by.login}")
    return True
