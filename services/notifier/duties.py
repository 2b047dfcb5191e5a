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
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import WARSAW
from services.common.log import get_logger
from services.common.messages import CaseCompleted, CaseCreated, CaseReplanned
from services.common.runtime import ServiceContext
from services.notifier import domain
from services.notifier.models import contracts, notices
from services.notifier.notices import add_event, client_view, member, wake_jobs

log = get_logger(__name__)
KIND = "duty"
TEMPLATE = "duty"
RECEIVED = "biuro otrzymało dokumenty"  # the withdrawal of a task done (a reopened task's notice comes back)
# What the client is asked for, by the task's duty (the subject names it; rules/client.yaml).
WHAT = {duty: labels["pl"] for duty, labels in domain.DUTY_LABELS.items()}


def subject_of(duty: str | None, title: str, period: str | None, due: date) -> str:
    """The notice's (Polish) subject; an English recipient's is built from the same facts (`domain.client_subject`)."""
    return domain.duty_subject(duty, title, period, due, "pl")


def body_of(duty: str | None, title: str, period: str | None, due: date) -> str:
    """The Polish text: what is asked for, in a sentence (`dokumenty za październik 2026`; a duty none of ours by the
    task's title), by when, and how to confirm. The reminders and the signature are the template's."""
    what = domain.duty_object(duty, period, "pl")
    if not what:
        what = f"„{title}”" + (f" za {domain.period_label(period, 'pl')}" if period else "")
    return (f"Zgodnie z umową prosimy przekazać do biura {what} do {domain.day(due, 'pl')}.\n\n"
            "Gdy wyślą je Państwo, prosimy potwierdzić to przyciskiem na stronie z linku.")


def first_reminder(ctx: ServiceContext, due: date) -> datetime:
    """When a client task's notice goes out: N days before its due date at the reminder hour, or now if later."""
    now = ctx.clock.now()
    first_day = due - timedelta(days=ctx.settings.client_duty_remind_days_before)
    return max(now, datetime.combine(first_day, ctx.settings.reminder_time, tzinfo=WARSAW).astimezone(now.tzinfo))


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
    at = first_reminder(ctx, case.due)
    notice_id = str(uuid.uuid4())
    await session.execute(notices.insert().values(
        id=notice_id, kind=KIND, client_id=client_id, client_name=client.name, contract_id=case.contract_id,
        period=case.period, status="scheduled", draft_key=None, template=TEMPLATE,
        subject=subject_of(case.duty, case.title, case.period, case.due),
        body=body_of(case.duty, case.title, case.period, case.due), requires_confirmation=True,
        due=case.due, send_after=at,
        accountant=member(case.assignee), created_by=None, case_id=case.case_id, rule_id=case.rule_id,
        duty=case.duty, created_at=now, updated_at=now))
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
        status="withdrawn", withdrawn_at=now, withdrawn_reason=RECEIVED, updated_at=now))
    await add_event(session, row.id, now, "withdrawn", f"client task done by {event.completed_by.login}")
    return True


async def on_replanned(ctx: ServiceContext, session: AsyncSession, replanned: CaseReplanned) -> bool:
    """A client task re-planned (an annex moved the day): its notice follows — the new due date in its subject and
    text, and, not sent yet, its first reminder N days before the new date. Other cases change nothing here."""
    row = (await session.execute(select(notices).where(
        notices.c.kind == KIND, notices.c.contract_id == replanned.contract_id, notices.c.rule_id == replanned.rule_id,
        notices.c.period == replanned.period, notices.c.status.in_(("scheduled", "issued", "expired"))))).first()
    if row is None or row.due == replanned.due:
        return False
    now = ctx.clock.now()
    values = {"due": replanned.due, "updated_at": now,
              "subject": subject_of(row.duty, replanned.title_pl, replanned.period, replanned.due),
              "body": body_of(row.duty, replanned.title_pl, replanned.period, replanned.due)}
    if row.status == "scheduled":
        values["send_after"] = first_reminder(ctx, replanned.due)
    elif row.status == "expired" and replanned.due >= ctx.clock.today():
        values["status"] = "issued"  # reminded again until the new date has passed and the cut-off after it
    await session.execute(update(notices).where(notices.c.id == row.id).values(**values))
    await add_event(session, row.id, now, "replanned", f"due {row.due} → {replanned.due} ({replanned.reason})")
    wake_jobs(ctx, session)
    return True


async def on_client_task_reopened(ctx: ServiceContext, session: AsyncSession, case_id: str, reason: str) -> bool:
    """A finished client task reopened (what arrived was not all): its notice, withdrawn when the task was done,
    reminds the client again — issued before: daily again from the next reminder run (past the due date, until the
    cut-off); never issued: its first reminder N days before the due date, as planned. A recipient who had confirmed
    sending is not reminded again (the confirmation stands; the accountant asks the client directly)."""
    row = (await session.execute(select(notices).where(
        notices.c.case_id == case_id, notices.c.kind == KIND, notices.c.status == "withdrawn",
        notices.c.withdrawn_reason == RECEIVED))).first()
    if row is None:
        return False
    now = ctx.clock.now()
    values: dict[str, object] = {"withdrawn_at": None, "withdrawn_reason": None, "updated_at": now}
    if row.issued_at is not None:
        values["status"] = "issued"
    else:
        values.update(status="scheduled", send_after=first_reminder(ctx, row.due))
    await session.execute(update(notices).where(notices.c.id == row.id).values(**values))
    await add_event(session, row.id, now, "reopened", "client task reopened" + (f": {reason}" if reason else ""))
    wake_jobs(ctx, session)
    return True
