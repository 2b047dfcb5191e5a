"""The notifier's clock-driven work: releasing notices whose time came, the morning reminders, telling the
accountant about notices still unconfirmed close to their due date, and stopping reminders after the cut-off.

Every step is safe with several notifier processes: rows are taken with `FOR UPDATE SKIP LOCKED`, and a
reminder is written together with its (recipient, day) claim row, whose primary key admits one per day.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import WARSAW
from services.common.log import get_logger
from services.common.messages import NOTICE_ESCALATED, NoticeEscalated, TeamMember
from services.common.runtime import ServiceContext
from services.notifier import domain
from services.notifier.delivery import insert_ignoring_duplicates, insert_mails, mail_row
from services.notifier.mailer import OutgoingMail
from services.notifier.models import mail_claims, notice_items, notice_mails, notice_recipients, notices
from services.notifier.notices import (
    JOBS_SIGNAL,
    add_event,
    confirmation_link,
    day_start,
    release_due,
    templates,
)

log = get_logger(__name__)
REMINDER_CHUNK = 200  # recipients per transaction: the first reminders go out while the next are written


def reminder_key(email: str, on: date) -> str:
    return f"reminder|{email.lower()}|{on.isoformat()}"


def reminder_time_reached(ctx: ServiceContext, on: date) -> bool:
    now = ctx.clock.now().astimezone(WARSAW)
    return now.date() == on and now.time() >= ctx.settings.reminder_time


async def send_reminders(ctx: ServiceContext) -> int:
    """Today's reminders: every recipient with notices still waiting for their confirmation gets one mail
    listing all of them, once a day (from the office's hour; business days only if so set). Returns how many
    reminders this call wrote (0 when they were already written today, by this process or another)."""
    today = ctx.clock.today()
    if not reminder_time_reached(ctx, today) or not domain.reminds_on(today, ctx.settings.reminder_days):
        return 0
    waiting = await _waiting(ctx, today)
    by_email: dict[str, list[Any]] = defaultdict(list)
    for row in waiting:
        by_email[row.email.lower()].append(row)
    emails = sorted(by_email)
    written = 0
    for start in range(0, len(emails), REMINDER_CHUNK):
        written += await _remind(ctx, today, emails[start:start + REMINDER_CHUNK], by_email)
    if written:
        log.info("notice.reminders_written", day=today.isoformat(), reminders=written)
    return written


async def _waiting(ctx: ServiceContext, today: date) -> list[Any]:
    """(recipient, notice) pairs to remind today: issued before today, confirmation required and not given,
    not past the cut-off, the recipient not removed and not yet reminded today."""
    stop = ctx.settings.reminder_stop_days_after_due
    conditions = [
        notices.c.status == "issued", notices.c.requires_confirmation.is_(True),
        notices.c.issued_at < day_start(today), notice_recipients.c.status != "removed",
        notice_recipients.c.confirmed_at.is_(None),
        # A client task's notice was its reminder before the due date; daily ones follow once the date has passed.
        or_(notices.c.kind != "duty", notices.c.due < today),
        ~exists().where(mail_claims.c.kind == "reminder", mail_claims.c.day == today,
                        mail_claims.c.recipient == notice_recipients.c.email),
    ]
    if stop is not None:
        last_due = today - timedelta(days=stop)
        conditions.append(or_(notices.c.due >= last_due, and_(notices.c.due.is_(None),
                                                              notices.c.issued_at >= day_start(last_due))))
    query = (
        select(notice_recipients.c.id.label("recipient_id"), notice_recipients.c.email, notice_recipients.c.name,
               notice_recipients.c.language, notice_recipients.c.token, notices.c.id.label("notice_id"),
               notices.c.kind, notices.c.client_name, notices.c.period, notices.c.due, notices.c.issued_at,
               notices.c.subject, notices.c.duty, notices.c.amount, notices.c.accountant)
        .join(notices, notices.c.id == notice_recipients.c.notice_id)
        .where(*conditions)
        .order_by(notices.c.due, notices.c.issued_at)
    )
    async with ctx.db.reading() as session:
        return list((await session.execute(query)).all())


async def _remind(ctx: ServiceContext, today: date, chunk: list[str], by_email: dict[str, list[Any]]) -> int:
    """One transaction: the claims of a chunk of recipients, and a reminder for each claim this call won."""
    settings = ctx.settings
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        items = await _active_items(session, {r.notice_id for e in chunk for r in by_email[e]})
        # The claim names its mail before the mail exists: one statement decides who writes each reminder.
        claims = [{"key": reminder_key(e, today), "kind": "reminder", "recipient": by_email[e][0].email,
                   "day": today, "mail_id": str(uuid.uuid4()), "created_at": now} for e in chunk]
        won = set((await session.execute(
            insert_ignoring_duplicates(session, mail_claims).returning(mail_claims.c.key), claims)).scalars().all()) \
            if not ctx.db.is_sqlite else await _claim_one_by_one(session, claims)
        rows: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        for email, claim in zip(chunk, claims, strict=True):
            if claim["key"] not in won:
                continue  # another process wrote this recipient's reminder today
            await asyncio.sleep(0)  # the mail senders' turn: they send while the job renders
            waiting = by_email[email]
            first = waiting[0]
            lang = domain.as_lang(first.language)
            context = {
                "office_name": settings.office_name, "recipient_name": first.name, "day_text": domain.day(today, lang),
                "notices": [_notice_line(settings, r, items.get(r.notice_id, []), lang) for r in waiting],
                "reminder_every_day": settings.reminder_days == "calendar",
            }
            rendered = templates(ctx).client_mail("reminder", lang, context)
            accountant = first.accountant or {}
            reply_to = f"{accountant.get('name', '')} <{accountant['email']}>" if accountant.get("email") else None
            mail = OutgoingMail(first.email, first.name, rendered.subject, rendered.text, html=rendered.html,
                                reply_to=reply_to, headers={"Auto-Submitted": "auto-generated"})
            rows.append(mail_row(ctx, kind="reminder", mail=mail, notice_id=first.notice_id, mail_id=claim["mail_id"]))
            links.extend({"notice_id": r.notice_id, "recipient_id": r.recipient_id, "mail_id": claim["mail_id"],
                          "kind": "reminder"} for r in waiting)
        await insert_mails(ctx, session, rows)
        if links:
            await session.execute(notice_mails.insert(), links)
    return len(rows)


async def _claim_one_by_one(session: AsyncSession, claims: list[dict[str, Any]]) -> set[str]:
    """SQLite (one process): RETURNING with executemany is not offered; the claims go in one at a time."""
    won = set()
    for claim in claims:
        result = await session.execute(insert_ignoring_duplicates(session, mail_claims).values(**claim))
        if result.rowcount:  # type: ignore[attr-defined]
            won.add(claim["key"])
    return won


async def _active_items(session: AsyncSession, notice_ids: set[str]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = defaultdict(list)
    if not notice_ids:
        return found
    rows = await session.execute(
        select(notice_items.c.notice_id, notice_items.c.kind, notice_items.c.amount, notice_items.c.due)
        .where(notice_items.c.notice_id.in_(sorted(notice_ids)), notice_items.c.status == "active")
        .order_by(notice_items.c.notice_id, notice_items.c.position))
    for row in rows:
        found[row.notice_id].append(row)
    return found


def _notice_line(settings: Any, row: Any, items: list[Any], lang: str) -> dict[str, Any]:
    total = sum((Decimal(i.amount) for i in items), Decimal("0"))
    return {
        "client_name": row.client_name, "period_text": domain.period_label(row.period, lang),
        "subject": domain.client_subject(row.kind, row.duty, row.period, row.due, row.subject or "", lang,
                                         amount=row.amount if row.kind == "fee" else None),
        "kind": row.kind,
        "due_text": domain.day(row.due, lang), "issued_text": domain.day(row.issued_at.astimezone(WARSAW).date(), lang),
        "link": confirmation_link(settings, row.token),
        "total_text": domain.money(total, lang),
        "lines": [{"label": domain.LIABILITY_LABELS[i.kind][lang], "amount_text": domain.money(Decimal(i.amount), lang),
                   "due_text": domain.day(i.due, lang)} for i in items],
    }


async def escalate(ctx: ServiceContext) -> int:
    """Tell the accountant (once) about notices still unconfirmed N days before their due date, and stop
    reminding those past the cut-off (telling the accountant too). Returns how many notices were reported."""
    today = ctx.clock.today()
    reported = 0
    days_before = ctx.settings.notice_escalate_days_before_due
    stop = ctx.settings.reminder_stop_days_after_due
    async with ctx.db.transaction() as session:
        base = [notices.c.status == "issued", notices.c.requires_confirmation.is_(True),
                notices.c.issued_at < day_start(today)]
        if days_before is not None:
            query = select(notices).where(*base, notices.c.escalated_at.is_(None), notices.c.due.is_not(None),
                                          # the client's own task (its lateness shows) or fee (already late)
                                          notices.c.kind.not_in(("duty", "fee")),
                                          notices.c.due <= today + timedelta(days=days_before)).limit(200)
            for notice in await _locked(ctx, session, query):
                await _report(ctx, session, notice, "unconfirmed_before_due")
                await session.execute(update(notices).where(notices.c.id == notice.id)
                                      .values(escalated_at=ctx.clock.now()))
                reported += 1
        if stop is not None:
            last_day = today - timedelta(days=stop + 1)  # reminded up to `stop` days after the due date
            past = or_(notices.c.due <= last_day,
                       and_(notices.c.due.is_(None), notices.c.issued_at < day_start(last_day + timedelta(days=1))))
            candidates = await _locked(ctx, session, select(notices).where(*base, past).limit(500))
            for notice in candidates:
                end = domain.reminders_end(notice.due, notice.issued_at.astimezone(WARSAW).date(), stop)
                if end is not None and end < today:
                    now = ctx.clock.now()
                    await session.execute(update(notices).where(notices.c.id == notice.id)
                                          .values(status="expired", expired_at=now, updated_at=now))
                    await add_event(session, notice.id, now, "expired", f"no reminders after {domain.day(end)}")
                    await _report(ctx, session, notice, "reminders_stopped")
                    reported += 1
    return reported


async def _locked(ctx: ServiceContext, session: AsyncSession, query: Any) -> list[Any]:
    if not ctx.db.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    return list((await session.execute(query)).all())


async def _report(ctx: ServiceContext, session: AsyncSession, notice: Any, reason: str) -> None:
    now = ctx.clock.now()
    accountant = notice.accountant or {}
    case_ids = sorted({r.case_id for r in await session.execute(select(notice_items.c.case_id).where(
        notice_items.c.notice_id == notice.id, notice_items.c.status == "active")) if r.case_id})
    await add_event(session, notice.id, now, "escalated", reason)
    await ctx.messaging.emit(session, NOTICE_ESCALATED, NoticeEscalated(
        notice_id=notice.id, client_id=notice.client_id, contract_id=notice.contract_id, case_ids=case_ids,
        due=notice.due, reason=reason,  # type: ignore[arg-type]
        accountant=TeamMember.model_validate(accountant) if accountant.get("login") else None,
    ).model_dump(mode="json"))
    if not accountant.get("email"):
        return
    recipients = [(r.email, r.status, r.reply or "") for r in await session.execute(
        select(notice_recipients.c.email, notice_recipients.c.status, notice_recipients.c.reply)
        .where(notice_recipients.c.notice_id == notice.id))]
    context = {
        "name": accountant.get("name", ""), "client_name": notice.client_name,
        "period_text": domain.period_label(notice.period), "due_text": domain.day(notice.due),
        "issued_text": domain.day(notice.issued_at.astimezone(WARSAW).date()), "reason": reason,
        "recipients": recipients,
        "url": f"{ctx.settings.public_url.rstrip('/')}/" + (f"cases/{case_ids[0]}" if case_ids else
                                                         f"clients/{notice.client_id}"),
        "stop_days": ctx.settings.reminder_stop_days_after_due,
    }
    rendered = templates(ctx).staff_mail("notice_escalated", context)
    row = mail_row(ctx, kind="notice_escalated", notice_id=None, related_id=notice.id,
                   mail=OutgoingMail(accountant["email"], accountant.get("name", ""), rendered.subject, rendered.text))
    await insert_mails(ctx, session, [row])


async def tick(ctx: ServiceContext) -> dict[str, int]:
    """One pass of every job; what each did."""
    return {
        "released": await release_due(ctx),
        "escalated": await escalate(ctx),
        "reminded": await send_reminders(ctx),
    }


async def jobs_loop(ctx: ServiceContext) -> None:
    """Background loop: a pass every `notifier_tick_seconds`, or at once when a notice is ready to go."""
    signal: asyncio.Event = ctx.extras.setdefault(JOBS_SIGNAL, asyncio.Event())
    while True:
        signal.clear()
        await tick(ctx)
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for drops a stop's cancellation that comes with the wake-up
            async with asyncio.timeout(ctx.settings.notifier_tick_seconds):
                await signal.wait()
        except TimeoutError:
            pass
