"""Reminding the client of its tasks (cases of `party: client`: documents for the month by day N, …).

A client task becomes one notice of kind `duty` (template `duty`), reusing the notice machinery whole: it is issued
to the client's recipients `client_duty_remind_days_before` days before the due date (at the reminder hour; at once
when that day has passed), each recipient with the scanner-safe confirmation link ("Dokumenty wysłane": GET shows
the page, only the button's POST confirms), and the morning reminders take it up once its due date has passed
(`jobs._waiting`), daily, until the client confirms (notice.confirmed names the task's case: the cases service
records it), the task is done (case.completed of party client: the notice is withdrawn), a rules change makes it the
office's own work (case.party_changed: withdrawn; back when it is the client's again) or the cut-off. The proof
(every mail, opening and the confirmation) is the notice's, as for liability notices.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import WARSAW
from services.common.log import get_logger
from services.common.messages import CaseCompleted, CaseCreated, CasePartyChanged, CaseReplanned
from services.common.runtime import ServiceContext
from services.notifier import domain
from services.notifier.models import contracts, notices
from services.notifier.notices import add_event, client_view, member, wake_jobs

log = get_logger(__name__)
KIND = "duty"
TEMPLATE = "duty"
RECEIVED = "biuro otrzymało dokumenty"  # the withdrawal of a task done (a reopened task's notice comes back)
# The withdrawal of a task a replan made the office's own (case.party_changed; made the client's again, it comes back).
TAKEN_OVER = "to zadanie przejęło biuro"
LIVE = ("scheduled", "issued", "expired")
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
    """A client task was created (or an office case became one: on_party_changed): its duty notice, issued N days
    before the due date (once per case)."""
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


async def on_party_changed(ctx: ServiceContext, session: AsyncSession, event: CasePartyChanged) -> str | None:
    """A replan switched an open case's party (or a client task's duty). Now a client task: its duty notice starts
    as a created task's would (first reminder N days before the due date, or at once when that has passed); one
    withdrawn when the office took the task over comes back (issued before: reminded daily again past the due date;
    never issued: as planned); one still pending takes the new duty. No longer a client task: its pending notice is
    withdrawn — no more reminders, the link says the office took it over. A confirmed notice stays as it is (the
    confirmation is proof). Returns what was done (log and tests), None for nothing."""
    row = (await session.execute(select(notices).where(notices.c.case_id == event.case_id,
                                                       notices.c.kind == KIND))).first()
    now = ctx.clock.now()
    if event.party == "office":
        if row is None or row.status not in LIVE:
            return None
        await session.execute(update(notices).where(notices.c.id == row.id).values(
            status="withdrawn", withdrawn_at=now, withdrawn_reason=TAKEN_OVER, updated_at=now))
        await add_event(session, row.id, now, "withdrawn", f"no longer a client task: {event.reason}")
        return "withdrawn"
    if row is None:
        created = CaseCreated(case_id=event.case_id, contract_id=event.contract_id,
                              contract_number=event.contract_number, client_name=event.client_name,
                              rule_id=event.rule_id, code=event.code, period=event.period, title=event.title,
                              due=event.due, assignee=event.assignee, party="client", duty=event.duty,
                              client_id=event.client_id, title_en=event.title_en)
        return "created" if await on_client_task(ctx, session, created) else None
    values: dict[str, object] = {
        "duty": event.duty, "due": event.due, "updated_at": now,
        "subject": subject_of(event.duty, event.title, event.period, event.due),
        "body": body_of(event.duty, event.title, event.period, event.due)}
    # Issued before: reminded daily past the due date until the cut-off — unless that passed already (expired), and
    # the due date did not move past today (as on_replanned).
    issued = "expired" if row.expired_at is not None and event.due < ctx.clock.today() else "issued"
    if row.status in LIVE:
        done = "updated"
        if row.status == "scheduled":
            values["send_after"] = first_reminder(ctx, event.due)
        elif row.status == "expired":
            values["status"] = issued
    elif row.status == "withdrawn" and row.withdrawn_reason == TAKEN_OVER:
        done = "restored"
        values.update(withdrawn_at=None, withdrawn_reason=None)
        if row.issued_at is not None:
            values["status"] = issued
        else:
            values.update(status="scheduled", send_after=first_reminder(ctx, event.due))
    else:
        return None  # confirmed, replaced, or withdrawn as received: nothing to start again
    await session.execute(update(notices).where(notices.c.id == row.id).values(**values))
    await add_event(session, row.id, now, "restored" if done == "restored" else "replanned",
                    f"a client task again ({event.duty}): {event.reason}" if done == "restored"
                    else f"duty {row.duty} → {event.duty}: {event.reason}")
    wake_jobs(ctx, session)
    return done


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
