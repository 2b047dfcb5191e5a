"""The notifier's event handlers: one function per event type, each inside the caller's transaction (the inbox
record of the message is written in the same one)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.log import get_logger
from services.common.messages import (
    CONTRACT_TERMINATED,
    CaseCompleted,
    CaseCreated,
    CaseDigest,
    CaseDueSoon,
    CaseEscalated,
    CaseOverdue,
    CaseOverdueSummary,
    CasePartyChanged,
    CaseRef,
    CaseReopened,
    CaseReplanned,
    ClientChanged,
    ContractSnapshot,
    Envelope,
    FeeOverdue,
    FeeSettled,
    TeamMember,
)
from services.common.runtime import ServiceContext
from services.notifier import domain, duties, fee_notices, notices
from services.notifier.delivery import insert_ignoring_duplicates, insert_mails, mail_row
from services.notifier.mailer import OutgoingMail
from services.notifier.models import clients, contracts, mail_claims, notice_recipients
from services.notifier.models import notices as notices_table

log = get_logger(__name__)


# --- What the notifier knows of contracts and clients ------------------------------------------------


async def on_contract(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    """contract.created / changed / terminated: the contract's client, team and contact e-mails."""
    snapshot = ContractSnapshot.model_validate(envelope.payload)
    stored = (await session.execute(select(contracts.c.version).where(
        contracts.c.contract_id == snapshot.contract_id))).scalar_one_or_none()
    if stored is not None and stored > snapshot.version:
        log.info("contract.stale_version", contract_id=snapshot.contract_id, version=snapshot.version)
        return
    terms_client = snapshot.terms.client
    values = {
        "client_id": snapshot.client_id, "number": snapshot.number, "client_name": snapshot.client_name,
        "nip": terms_client.nip, "pesel": terms_client.pesel, "language": snapshot.language,
        "contact_emails": list(snapshot.contact_emails),
        "team": {role: m.model_dump() if m else None for role, m in snapshot.team.items()},
        "version": snapshot.version, "status": "terminated" if envelope.type == CONTRACT_TERMINATED else "active",
        "updated_at": ctx.clock.now(),
    }
    if stored is None:
        await session.execute(contracts.insert().values(contract_id=snapshot.contract_id, **values))
    else:
        await session.execute(update(contracts).where(contracts.c.contract_id == snapshot.contract_id).values(**values))
    # Until client.changed arrives, the client is known by its contracts.
    await session.execute(insert_ignoring_duplicates(session, clients).values(
        client_id=snapshot.client_id, name=snapshot.client_name, nip=values["nip"], pesel=values["pesel"],
        language=snapshot.language, recipients=[], accounts={}, ppk_institution="", notices_enabled=True,
        source="contract", updated_at=ctx.clock.now()))
    await session.execute(update(clients).where(clients.c.client_id == snapshot.client_id,
                                                clients.c.source == "contract")
                          .values(name=snapshot.client_name, nip=values["nip"], pesel=values["pesel"],
                                  language=snapshot.language))
    await notices.sync_recipients(ctx, session, snapshot.client_id)


async def on_client_changed(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    """client.changed: recipients, accounts and language of a client; a newer `updated_at` wins."""
    client = ClientChanged.model_validate(envelope.payload)
    row = (await session.execute(select(clients.c.source, clients.c.updated_at).where(
        clients.c.client_id == client.client_id))).first()
    if row is not None and row.source == "client" and row.updated_at > client.updated_at:
        log.info("client.stale_change", client_id=client.client_id)
        return
    values = {
        "name": client.name, "nip": client.nip, "pesel": client.pesel, "language": client.language,
        "recipients": [r.model_dump() for r in client.recipients],
        "accounts": client.accounts.model_dump(), "ppk_institution": client.ppk_institution,
        "notices_enabled": client.notices, "source": "client", "updated_at": client.updated_at,
    }
    if row is None:
        await session.execute(clients.insert().values(client_id=client.client_id, **values))
    else:
        await session.execute(update(clients).where(clients.c.client_id == client.client_id).values(**values))
    await notices.sync_recipients(ctx, session, client.client_id)


# --- Client notices --------------------------------------------------------------------------------------


async def on_case_completed(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    completed = CaseCompleted.model_validate(envelope.payload)
    if completed.party == "client":
        await duties.on_client_task_done(ctx, session, completed)  # no more reminders of this client task
        return
    notice_id = await notices.add_completion(ctx, session, completed)
    log.info("notice.liabilities_added", case_id=completed.case_id, revision=completed.revision, notice_id=notice_id)


async def on_case_replanned(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    """case.replanned: a client task's reminders follow its new due date (duties.py)."""
    await duties.on_replanned(ctx, session, CaseReplanned.model_validate(envelope.payload))


async def on_case_party_changed(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    """case.party_changed: a case that became a client task starts its duty notice; one that stopped being one has
    its pending notice withdrawn (duties.py)."""
    event = CasePartyChanged.model_validate(envelope.payload)
    done = await duties.on_party_changed(ctx, session, event)
    log.info("duty.party_changed", case_id=event.case_id, party=event.party, duty=event.duty, done=done)


async def on_case_reopened(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    reopened = CaseReopened.model_validate(envelope.payload)
    if await duties.on_client_task_reopened(ctx, session, reopened.case_id, reopened.reason):
        return  # a client task: its reminders resume
    await notices.reopen_case(ctx, session, reopened.case_id, reopened.reason)


# --- Staff mails ------------------------------------------------------------------------------------------


async def staff_mail(ctx: ServiceContext, session: AsyncSession, *, kind: str, key: str, to: TeamMember,
                     template: str, context: dict[str, Any], related_id: str | None = None) -> bool:
    """One staff mail, at most once per claim key (the same decision published twice sends one mail)."""
    if not to.email:
        log.warning("mail.no_address", kind=kind, login=to.login)
        return False
    rendered = notices.templates(ctx).staff_mail(template, {"name": to.name, **context})
    row = mail_row(ctx, kind=kind, related_id=related_id,
                   mail=OutgoingMail(to.email, to.name, rendered.subject, rendered.text))
    won = await session.execute(insert_ignoring_duplicates(session, mail_claims).values(
        key=f"{kind}|{key}|{to.email.lower()}", kind=kind, recipient=to.email, day=context.get("day"),
        mail_id=row["id"], created_at=ctx.clock.now()))
    if not won.rowcount:  # type: ignore[attr-defined]
        log.info("mail.already_sent", kind=kind, key=key, to=to.email)
        return False
    await insert_mails(ctx, session, [row])
    return True


def case_url(ctx: ServiceContext, case_id: str) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}/cases/{case_id}"


def case_context(ctx: ServiceContext, case: CaseRef) -> dict[str, Any]:
    return {"title": case.title, "client_name": case.client_name, "contract_number": case.contract_number,
            "period": case.period or "", "period_text": domain.period_label(case.period), "due": domain.day(case.due),
            "url": case_url(ctx, case.case_id)}


async def on_case_created(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    case = CaseCreated.model_validate(envelope.payload)
    if case.party == "client":
        await duties.on_client_task(ctx, session, case)  # the client is reminded of its task (duties.py)
    if case.assignee is None or not case.assignee.email:
        log.warning("notice.no_recipient", case_id=case.case_id)
        return
    ref = CaseRef(case_id=case.case_id, title=case.title, client_name=case.client_name,
                  contract_number=case.contract_number, period=case.period, due=case.due)
    await staff_mail(ctx, session, kind="case_created", key=case.case_id, to=case.assignee,
                     template="case_created", context={**case_context(ctx, ref), "late": case.late_on_creation},
                     related_id=case.case_id)


async def on_case_due_soon(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    event = CaseDueSoon.model_validate(envelope.payload)
    await staff_mail(ctx, session, kind="case_due_soon", key=f"{event.case.case_id}|{event.day}", to=event.recipient,
                     template="case_due_soon", related_id=event.case.case_id,
                     context={**case_context(ctx, event.case), "day": event.day, "days_left": event.days_left})


async def on_case_overdue(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    event = CaseOverdue.model_validate(envelope.payload)
    await staff_mail(ctx, session, kind="case_overdue", key=f"{event.case.case_id}|{event.day}", to=event.recipient,
                     template="case_overdue", related_id=event.case.case_id,
                     context={**case_context(ctx, event.case), "day": event.day, "days_overdue": event.days_overdue})


async def on_case_escalated(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    event = CaseEscalated.model_validate(envelope.payload)
    for recipient in event.recipients:
        await staff_mail(ctx, session, kind="case_escalated", key=f"{event.case.case_id}|{event.step}", to=recipient,
                         template="case_escalated", related_id=event.case.case_id,
                         context={**case_context(ctx, event.case), "step": event.step, "reason": event.reason})


async def on_case_digest(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    """The morning digest, with the client notices of the person's cases still waiting for confirmation."""
    digest = CaseDigest.model_validate(envelope.payload)
    waiting = (await session.execute(
        select(notices_table.c.id, notices_table.c.client_name, notices_table.c.period, notices_table.c.due,
               notices_table.c.issued_at, notices_table.c.accountant)
        .where(notices_table.c.status == "issued", notices_table.c.requires_confirmation.is_(True))
        .order_by(notices_table.c.due))).all()
    mine = [n for n in waiting if (n.accountant or {}).get("login") == digest.recipient.login]
    failing = {r.notice_id for r in await session.execute(select(notice_recipients.c.notice_id).where(
        notice_recipients.c.notice_id.in_([n.id for n in mine]), notice_recipients.c.status == "failing"))}
    sections = {
        name: [case_context(ctx, c) for c in getattr(digest, name)]
        for name in ("due_today", "due_this_week", "overdue", "new_since_yesterday")
    }
    unconfirmed = [{"client_name": n.client_name, "period_text": domain.period_label(n.period),
                    "due": domain.day(n.due), "issued": domain.day(n.issued_at.date()) if n.issued_at else "",
                    "failing": n.id in failing} for n in mine]
    await staff_mail(ctx, session, kind="case_digest", key=digest.day.isoformat(), to=digest.recipient,
                     template="case_digest",
                     context={**sections, "unconfirmed": unconfirmed, "day": digest.day,
                              "day_text": domain.day(digest.day), "url": ctx.settings.public_url.rstrip("/")})


async def on_case_overdue_summary(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    summary = CaseOverdueSummary.model_validate(envelope.payload)
    await staff_mail(ctx, session, kind="case_overdue_summary", key=f"{summary.day}|{envelope.id}",
                     to=summary.recipient, template="case_overdue_summary",
                     context={"day": summary.day, "day_text": domain.day(summary.day), "reason": summary.reason,
                              "total": summary.total, "cases": [case_context(ctx, c) for c in summary.cases],
                              "more": summary.total - len(summary.cases),
                              "url": ctx.settings.public_url.rstrip("/")})


# --- Overdue fees (fee_notices.py) --------------------------------------------------------------------------------


async def on_fee_overdue(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    """fee.overdue: the month's fee is unpaid after its payment day — the client's notice, reminded daily."""
    await fee_notices.on_fee_overdue(ctx, session, FeeOverdue.model_validate(envelope.payload))


async def on_fee_settled(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    """fee.settled: a payment covers the month — its notice is withdrawn (the link says it was paid)."""
    await fee_notices.on_fee_settled(ctx, session, FeeSettled.model_validate(envelope.payload))
