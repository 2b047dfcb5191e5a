"""The notifier service layer: what each event makes it write, and the dispatcher that delivers mail."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import after_commit
from services.common.log import get_logger
from services.common.messages import CaseCreated, Envelope
from services.common.runtime import ServiceContext
from services.notifier.mailer import OutgoingMail, SmtpMailer
from services.notifier.models import mails

log = get_logger(__name__)
templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    undefined=StrictUndefined,
    autoescape=False,  # plain-text mail
    keep_trailing_newline=True,
)
MAX_ATTEMPTS = 8


async def on_case_created(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    case = CaseCreated.model_validate(envelope.payload)
    if case.assignee is None or not case.assignee.email:
        log.warning("notice.no_recipient", case_id=case.case_id)
        return
    body = templates.get_template("case_created.txt").render(
        name=case.assignee.name,
        title=case.title,
        client_name=case.client_name,
        contract_number=case.contract_number,
        period=case.period or "",
        due=case.due.strftime("%d.%m.%Y"),
        url=f"{ctx.settings.public_url}/cases/{case.case_id}",
    )
    await queue_mail(
        ctx, session, kind="case_created", related_id=case.case_id,
        mail=OutgoingMail(case.assignee.email, case.assignee.name,
                          f"Nowa sprawa: {case.title} — termin {case.due:%d.%m.%Y}", body),
    )


async def queue_mail(ctx: ServiceContext, session: AsyncSession, *, kind: str, related_id: str | None,
                     mail: OutgoingMail) -> str:
    """Write the mail in the caller's transaction; the dispatcher delivers it after commit."""
    mail_id = str(uuid.uuid4())
    await session.execute(
        mails.insert().values(
            id=mail_id, kind=kind, related_id=related_id, to_address=mail.to_address, to_name=mail.to_name,
            subject=mail.subject, body=mail.body, status="pending", attempts=0, created_at=ctx.clock.now(),
        )
    )
    wake = ctx.extras.get("mail_signal")
    if isinstance(wake, asyncio.Event):
        after_commit(session, wake.set)
    return mail_id


async def dispatch_pending(ctx: ServiceContext, mailer: SmtpMailer, *, batch: int = 50) -> int:
    """Deliver pending mail once; returns how many were handled."""
    if not ctx.db.is_sqlite:
        return await _dispatch_claimed(ctx, mailer, batch=batch)
    async with ctx.db.reading() as session:
        rows = (
            await session.execute(
                select(mails).where(mails.c.status == "pending").order_by(mails.c.created_at).limit(batch)
            )
        ).all()
    for row in rows:
        values = await _deliver(ctx, mailer, row)
        async with ctx.db.transaction() as session:
            await session.execute(update(mails).where(mails.c.id == row.id).values(**values))
    return len(rows)


async def _dispatch_claimed(ctx: ServiceContext, mailer: SmtpMailer, *, batch: int) -> int:
    """PostgreSQL, where several notifier replicas dispatch at once: each mail is claimed (FOR UPDATE SKIP
    LOCKED) by one of them and the claim is held while it is sent, so a replica that dies mid-send leaves the
    mail pending for another, and no two send it."""
    handled = 0
    while handled < batch:
        async with ctx.db.transaction() as session:
            row = (await session.execute(
                select(mails).where(mails.c.status == "pending").order_by(mails.c.created_at).limit(1)
                .with_for_update(skip_locked=True))).first()
            if row is None:
                break
            values = await _deliver(ctx, mailer, row)
            await session.execute(update(mails).where(mails.c.id == row.id).values(**values))
        handled += 1
    return handled


async def _deliver(ctx: ServiceContext, mailer: SmtpMailer, row: Any) -> dict[str, Any]:
    """Send one mail (or keep it in the local outbox); returns the row's new values."""
    if not mailer.configured:
        return {"status": "kept", "sent_at": ctx.clock.now()}
    try:
        await mailer.send(OutgoingMail(row.to_address, row.to_name, row.subject, row.body))
        return {"status": "sent", "sent_at": ctx.clock.now(), "attempts": row.attempts + 1}
    except Exception as exc:
        attempts = row.attempts + 1
        log.warning("mail.send_failed", mail_id=row.id, attempts=attempts, error=repr(exc))
        return {"attempts": attempts, "last_error": repr(exc),
                "status": "failed" if attempts >= MAX_ATTEMPTS else "pending"}


async def mail_dispatcher(ctx: ServiceContext) -> None:
    """Background loop: wakes when mail is queued (embedded) or every few seconds (any replica)."""
    mailer = SmtpMailer(ctx.settings)
    signal: asyncio.Event = ctx.extras.setdefault("mail_signal", asyncio.Event())
    while True:
        handled = await dispatch_pending(ctx, mailer)
        if handled:
            continue
        signal.clear()
        try:
            await asyncio.wait_for(signal.wait(), timeout=2.0)
        except TimeoutError:
            pass


async def list_mails(*, session: AsyncSession, to_address: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    query = select(mails).order_by(mails.c.created_at.desc()).limit(limit)
    if to_address:
        query = query.where(mails.c.to_address == to_address)
    return [dict(r._mapping) for r in await session.execute(query)]


MAIL_STATUSES = ("pending", "sent", "kept", "failed")


async def count_mails(*, session: AsyncSession) -> dict[str, int]:
    """How many mails are in each delivery status."""
    counts = dict.fromkeys(MAIL_STATUSES, 0)
    for status, n in await session.execute(select(mails.c.status, func.count()).group_by(mails.c.status)):
        counts[status] = n
    return counts
