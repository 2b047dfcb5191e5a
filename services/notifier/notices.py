"""Client notices: built from finished cases (or written by staff), issued to the client's recipients,
corrected, withdrawn and confirmed. Every function works inside the caller's transaction."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from jinja2 import TemplateError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.accounts import format_nrb
from services.common.clock import WARSAW, local_date
from services.common.log import get_logger
from services.common.messages import (
    NOTICE_CONFIRMED,
    NOTICE_FAILED,
    CaseCompleted,
    NoticeConfirmed,
    NoticeFailed,
    TeamMember,
)
from services.common.runtime import ServiceContext
from services.common.settings import Settings
from services.notifier import domain
from services.notifier.delivery import insert_ignoring_duplicates, insert_mails, mail_row
from services.notifier.mailer import InlineImage, OutgoingMail
from services.notifier.models import (
    case_completions,
    clients,
    contracts,
    notice_events,
    notice_items,
    notice_mails,
    notice_recipients,
    notices,
)
from services.notifier.qr import qr_png
from services.notifier.rendering import Templates

log = get_logger(__name__)
TEMPLATES = "templates"
JOBS_SIGNAL = "jobs_signal"
OPEN_FOR_CONFIRMATION = ("issued", "expired")
MAX_OPENINGS_RECORDED = 50  # per recipient: mail scanners may open a link many times


def templates(ctx: ServiceContext) -> Templates:
    found = ctx.extras.get(TEMPLATES)
    if not isinstance(found, Templates):
        found = ctx.extras[TEMPLATES] = Templates(ctx.settings)
    return found


# --- What the notifier knows of a client ---------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""
    language: str = "pl"


@dataclass
class ClientView:
    client_id: str
    name: str
    nip: str | None = None
    pesel: str | None = None
    language: str = "pl"
    recipients: list[Recipient] = field(default_factory=list)
    accounts: dict[str, str | None] = field(default_factory=dict)
    ppk_institution: str = ""
    notices_enabled: bool = True
    contract_ids: list[str] = field(default_factory=list)
    team: dict[str, Any] = field(default_factory=dict)  # of the newest contract: role → {login, name, email}

    @property
    def identity(self) -> domain.ClientIdentity:
        return domain.ClientIdentity(name=self.name, nip=self.nip, pesel=self.pesel, accounts=self.accounts,
                                     ppk_institution=self.ppk_institution)


class ClientNotKnownYet(RuntimeError):
    """A message about a client the notifier has no record of yet: to be delivered again later."""


async def client_view(session: AsyncSession, client_id: str, fallback_name: str = "") -> ClientView:
    """The client as client.changed described it; until that arrives, what its contracts say (the contact
    e-mails of its contracts in force become the recipients)."""
    row = (await session.execute(select(clients).where(clients.c.client_id == client_id))).first()
    rows = (await session.execute(
        select(contracts).where(contracts.c.client_id == client_id).order_by(contracts.c.updated_at.desc())
    )).all()
    in_force = [c for c in rows if c.status != "terminated"] or rows
    newest = in_force[0] if in_force else None
    view = ClientView(client_id=client_id, name=fallback_name, contract_ids=[c.contract_id for c in rows],
                      team=dict(newest.team or {}) if newest else {})
    if newest is not None:
        view.name = newest.client_name or view.name
        view.nip, view.pesel, view.language = newest.nip, newest.pesel, newest.language or "pl"
    if row is not None:
        view.name = row.name or view.name
        view.nip, view.pesel = row.nip or view.nip, row.pesel or view.pesel
        view.accounts = dict(row.accounts or {})
        view.ppk_institution = row.ppk_institution or ""
        view.notices_enabled = bool(row.notices_enabled)
        if row.source == "client":
            view.language = row.language or view.language
            view.recipients = [Recipient(r["email"], r.get("name", ""), domain.as_lang(r.get("language")))
                               for r in row.recipients or []]
    if not view.recipients or row is None or row.source != "client":
        seen: set[str] = set()
        fallback = []
        for c in in_force:
            for email in c.contact_emails or []:
                if email.lower() not in seen:
                    seen.add(email.lower())
                    fallback.append(Recipient(email, "", domain.as_lang(c.language)))
        if row is None or row.source != "client":
            view.recipients = fallback
    return view


# --- Building notices from finished cases -------------------------------------------------------------


def items_of(event: CaseCompleted, client: ClientView) -> list[dict[str, Any]]:
    """The notice lines of a finished case: each liability with its account, transfer title and QR payload."""
    rows = []
    for position, liability in enumerate(event.liabilities):
        period = liability.period or event.period or ""
        transfer = domain.transfer_for(liability.kind, liability.amount, period, liability.form, client.identity)
        rows.append({
            "case_id": event.case_id, "revision": event.revision, "kind": liability.kind,
            "amount": liability.amount, "due": liability.due,
            "form": liability.form or domain.default_form(liability.kind, period), "period": period,
            "account": transfer.account, "account_kind": transfer.account_kind, "payee": transfer.payee,
            "transfer_title": transfer.title, "tax_fields": transfer.tax_fields, "qr_payload": transfer.qr_payload,
            "status": "active", "position": position,
        })
    return rows


def member(m: TeamMember | None) -> dict[str, str] | None:
    return m.model_dump() if m else None


async def _new_notice(ctx: ServiceContext, session: AsyncSession, **values: Any) -> str:
    notice_id = str(uuid.uuid4())
    now = ctx.clock.now()
    await session.execute(notices.insert().values(id=notice_id, created_at=now, updated_at=now, **values))
    await add_event(session, notice_id, now, "created", values.get("status", ""))
    return notice_id


async def add_event(session: AsyncSession, notice_id: str, at: datetime, kind: str, detail: str = "", *,
                    recipient_id: int | None = None, address: str | None = None,
                    user_agent: str | None = None) -> None:
    await session.execute(notice_events.insert().values(
        notice_id=notice_id, recipient_id=recipient_id, at=at, kind=kind, detail=detail[:2000],
        address=(address or None) and address[:200], user_agent=(user_agent or None) and user_agent[:500]))


async def _add_items(session: AsyncSession, notice_id: str, items: list[dict[str, Any]]) -> None:
    if items:
        start = (await session.execute(select(func.coalesce(func.max(notice_items.c.position), -1) + 1)
                                       .where(notice_items.c.notice_id == notice_id))).scalar_one()
        await session.execute(notice_items.insert(), [
            {**item, "notice_id": notice_id, "position": start + i} for i, item in enumerate(items)])
    await _refresh_due(session, notice_id)


async def _refresh_due(session: AsyncSession, notice_id: str) -> None:
    due = (await session.execute(select(func.min(notice_items.c.due)).where(
        notice_items.c.notice_id == notice_id, notice_items.c.status == "active"))).scalar_one()
    await session.execute(update(notices).where(notices.c.id == notice_id).values(due=due))


def send_after(settings: Settings, now: datetime) -> datetime:
    """When a liability notice collected today goes out: the office's send time today, or at once when it has
    passed (a due date may be close; a later completion the same day then travels in a message of its own)."""
    local = now.astimezone(WARSAW)
    at = datetime.combine(local.date(), settings.notice_send_time, tzinfo=WARSAW)
    return max(at, local).astimezone(now.tzinfo)


def wake_jobs(ctx: ServiceContext, session: AsyncSession) -> None:
    import asyncio

    from services.common.db import after_commit

    signal: asyncio.Event = ctx.extras.setdefault(JOBS_SIGNAL, asyncio.Event())
    after_commit(session, signal.set)


async def add_completion(ctx: ServiceContext, session: AsyncSession, event: CaseCompleted) -> str | None:
    """A case was finished: its liabilities join the day's draft notice of the client and period, or, when the
    case's earlier revision was already told to the client, a corrected notice replaces that one."""
    now = ctx.clock.now()
    claimed = await session.execute(insert_ignoring_duplicates(session, case_completions).values(
        case_id=event.case_id, revision=event.revision, at=now))
    if not claimed.rowcount:  # type: ignore[attr-defined]
        log.info("notice.completion_seen", case_id=event.case_id, revision=event.revision)
        return None
    previous = (await session.execute(
        select(notice_items.c.id, notice_items.c.revision, notice_items.c.status, notices.c.id.label("notice_id"),
               notices.c.status.label("notice_status"))
        .join(notices, notices.c.id == notice_items.c.notice_id)
        .where(notice_items.c.case_id == event.case_id, notice_items.c.status.in_(("active", "retired")))
        .order_by(notice_items.c.revision.desc(), notices.c.created_at.desc())
    )).all()
    if previous and previous[0].revision > event.revision:
        log.info("notice.stale_revision", case_id=event.case_id, revision=event.revision)
        return None
    if not event.liabilities and not previous:
        return None  # nothing to pay and nothing told before: no notice
    client = await client_view(session, event.client_id, event.client_name)
    if not client.contract_ids and not (client.nip or client.pesel):
        # The case finished before this notifier heard of the client (its events arrive on other queues, or a
        # competing notifier process holds them): a notice now would lack the client's tax account. Raised, the
        # message comes again after the bus's retry delay, by when the client is known (else: a dead letter).
        raise ClientNotKnownYet(f"client {event.client_id} of case {event.case_id} is not known to the notifier yet")
    items = items_of(event, client)
    accountant = member(event.completed_by)
    older = previous[0] if previous else None
    if older is not None:
        await session.execute(update(notice_items).where(notice_items.c.case_id == event.case_id,
                                                         notice_items.c.status.in_(("active", "retired")))
                              .values(status="replaced"))
        if older.notice_status in ("draft", "scheduled"):
            await _add_items(session, older.notice_id, items)
            await add_event(session, older.notice_id, now, "revised", f"case {event.case_id} rev. {event.revision}")
            await _record_completion(session, event, older.notice_id)
            return str(older.notice_id)
        return await _correct(ctx, session, older.notice_id, event, client, items, accountant)
    if not items:
        return None
    key = domain.draft_key(event.client_id, event.period, local_date(now), ctx.settings.notice_grouping,
                           event.case_id)
    draft = await _draft(ctx, session, key, event, client, accountant)
    await _add_items(session, draft, items)
    await add_event(session, draft, now, "liability_added", f"case {event.case_id}: {len(items)} liabilities")
    await _record_completion(session, event, draft)
    wake_jobs(ctx, session)
    return draft


async def _record_completion(session: AsyncSession, event: CaseCompleted, notice_id: str) -> None:
    await session.execute(update(case_completions).where(
        case_completions.c.case_id == event.case_id, case_completions.c.revision == event.revision,
    ).values(notice_id=notice_id))


async def _draft(ctx: ServiceContext, session: AsyncSession, key: str, event: CaseCompleted, client: ClientView,
                 accountant: dict[str, str] | None) -> str:
    """The open draft for the key, locked; created when there is none (a concurrent creator waits on the
    unique key, then finds this one)."""
    await session.execute(insert_ignoring_duplicates(session, notices).values(
        id=str(uuid.uuid4()), kind="liability", client_id=event.client_id, client_name=client.name,
        contract_id=event.contract_id, period=event.period, status="draft", draft_key=key,
        requires_confirmation=True, send_after=send_after(ctx.settings, ctx.clock.now()), accountant=accountant,
        created_at=ctx.clock.now(), updated_at=ctx.clock.now()))
    query = select(notices.c.id).where(notices.c.draft_key == key)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return str((await session.execute(query)).scalar_one())


async def _correct(ctx: ServiceContext, session: AsyncSession, old_id: str, event: CaseCompleted,
                   client: ClientView, items: list[dict[str, Any]], accountant: dict[str, str] | None) -> str:
    """A corrected notice: the old one's other lines plus the case's new ones; the old one is superseded."""
    now = ctx.clock.now()
    old = (await session.execute(select(notices).where(notices.c.id == old_id))).one()
    kept = (await session.execute(select(notice_items).where(notice_items.c.notice_id == old_id,
                                                             notice_items.c.status == "active")
                                  .order_by(notice_items.c.position))).all()
    carried = [{k: v for k, v in row._mapping.items() if k not in ("id", "notice_id")} for row in kept]
    new_id = await _new_notice(ctx, session, kind="liability", client_id=old.client_id, client_name=client.name,
                               contract_id=old.contract_id, period=old.period, status="draft", draft_key=None,
                               requires_confirmation=True, send_after=now, accountant=accountant or old.accountant,
                               replaces_id=old_id)
    await _add_items(session, new_id, [*carried, *items])
    if carried:
        await session.execute(update(notice_items).where(notice_items.c.id.in_([r.id for r in kept]))
                              .values(status="replaced"))
    await session.execute(update(notices).where(notices.c.id == old_id).values(
        status="superseded", replaced_by_id=new_id, updated_at=now))
    await add_event(session, old_id, now, "superseded", f"corrected by notice {new_id} (case {event.case_id} "
                                                        f"rev. {event.revision})")
    await _record_completion(session, event, new_id)
    wake_jobs(ctx, session)
    return new_id


async def reopen_case(ctx: ServiceContext, session: AsyncSession, case_id: str, reason: str) -> None:
    """A reopened case's lines are retired; a draft loses them, an issued notice is withdrawn (no reminders)
    until the case is completed again and a corrected notice replaces it."""
    now = ctx.clock.now()
    rows = (await session.execute(
        select(notice_items.c.notice_id, notices.c.status).join(notices, notices.c.id == notice_items.c.notice_id)
        .where(notice_items.c.case_id == case_id, notice_items.c.status == "active"))).all()
    for notice_id, status in {(r.notice_id, r.status) for r in rows}:
        await session.execute(update(notice_items).where(notice_items.c.notice_id == notice_id,
                                                         notice_items.c.case_id == case_id,
                                                         notice_items.c.status == "active")
                              .values(status="retired"))
        detail = f"case {case_id} reopened" + (f": {reason}" if reason else "")
        if status in ("draft", "scheduled"):
            await _refresh_due(session, notice_id)
            left = (await session.execute(select(func.count()).where(
                notice_items.c.notice_id == notice_id, notice_items.c.status == "active"))).scalar_one()
            await add_event(session, notice_id, now, "liability_retired", detail)
            if not left:
                await session.execute(update(notices).where(notices.c.id == notice_id).values(
                    status="withdrawn", withdrawn_at=now, withdrawn_reason=detail, draft_key=None, updated_at=now))
        elif status in ("issued", "confirmed", "expired"):
            await session.execute(update(notices).where(notices.c.id == notice_id).values(
                status="withdrawn", withdrawn_at=now, withdrawn_reason=detail, updated_at=now))
            await add_event(session, notice_id, now, "withdrawn", detail)


# --- Issuing: one mail per recipient, each with its own confirmation link --------------------------------


def confirmation_link(settings: Settings, token: str) -> str:
    return f"{settings.client_links_url}/confirm/{token}"


def item_context(item: Any, lang: str) -> dict[str, Any]:
    amount = Decimal(item.amount)
    return {
        "kind": item.kind, "position": item.position,
        "label": domain.LIABILITY_LABELS.get(item.kind, {}).get(lang, item.kind),
        "amount": amount, "amount_text": domain.money(amount, lang), "nothing_to_pay": amount == 0,
        "due": item.due, "due_text": domain.day(item.due, lang),
        "form": item.form, "period": item.period, "period_text": domain.period_label(item.period, lang),
        "account": item.account, "account_text": format_nrb(item.account) if item.account else "",
        "account_label": domain.ACCOUNT_LABELS.get(item.account_kind, {}).get(lang, item.account_kind),
        "payee": item.payee, "title": item.transfer_title, "tax_fields": item.tax_fields or {},
        "qr_cid": f"qr{item.position}@terminarz" if item.qr_payload else None,
        "qr_manual_amount": bool(item.qr_payload) and domain.qr_amount_is_manual(amount),
    }


def notice_context(settings: Settings, notice: Any, items: list[Any], *, client_name: str, recipient: Recipient,
                   link: str | None, replaced_issued_at: datetime | None = None) -> dict[str, Any]:
    """What a notice template gets (also the confirmation page's)."""
    lang = domain.as_lang(recipient.language)
    lines = [item_context(i, lang) for i in items]
    total = sum((line["amount"] for line in lines), Decimal("0"))
    accountant = notice.accountant or {}
    body = notice.body or ""
    fee = _fee_facts(settings, notice, lang)
    return {
        "office_name": settings.office_name, "client_name": client_name,
        "recipient_name": recipient.name, "recipient_email": recipient.email,
        "period": notice.period, "period_text": domain.period_label(notice.period, lang),
        "items": lines, "total": total, "total_text": domain.money(total, lang),
        "due": notice.due, "due_text": domain.day(notice.due, lang),
        "link": link, "requires_confirmation": bool(notice.requires_confirmation),
        "correction": notice.replaces_id is not None,
        "replaced_on_text": domain.day(local_date(replaced_issued_at), lang) if replaced_issued_at else "",
        "accountant_name": accountant.get("name", ""), "accountant_email": accountant.get("email", ""),
        "subject": domain.client_subject(notice.kind, getattr(notice, "duty", None), notice.period, notice.due,
                                         notice.subject or "", lang, amount=fee["fee_amount"]),
        "written_subject": notice.subject or "",  # as stored (Polish for a duty or a fee)
        "paragraphs": [p.strip() for p in body.split("\n\n") if p.strip()],
        "reminder_every_day": settings.reminder_days == "calendar",
        "duty": notice.kind == "duty",  # a client task's reminder: its button says "Dokumenty wysłane"
        "fee": notice.kind == "fee",  # an overdue fee: "Zapłacone / przelew wysłany"; withdrawn when paid
        # A client task's request in a sentence ("the documents for October 2026"; "" for a duty none of ours).
        "duty_object": domain.duty_object(getattr(notice, "duty", None), notice.period, lang)
        if notice.kind == "duty" else "",
        **fee,
    }


def _fee_facts(settings: Settings, notice: Any, lang: str) -> dict[str, Any]:
    """An overdue fee's facts in the recipient's language (its Polish text says them too, in `paragraphs`). A fee
    notice written before notifier_0005_fee_amount has no amount (`fee_amount_text` empty: its mail shows the Polish
    text, which has it) and names the office's account as set now."""
    amount = getattr(notice, "amount", None) if notice.kind == "fee" else None
    gross = getattr(notice, "gross", None) if amount is not None else None
    account = getattr(notice, "account", None) if amount is not None else None
    if account is None:
        account = settings.office_account
    return {
        "fee_amount": amount, "fee_amount_text": domain.money(amount, lang) if amount is not None else "",
        # The month's gross, told when part of it was paid ("of PLN 1,273.05").
        "fee_gross_text": domain.money(gross, lang) if gross is not None and gross != amount else "",
        "transfer_title": domain.fee_transfer_title(notice.period) if notice.kind == "fee" and notice.period else "",
        "office_account_text": format_nrb(account) if account else "",
    }


def _reply_to(notice: Any) -> str | None:
    accountant = notice.accountant or {}
    if not accountant.get("email"):
        return None
    return f"{accountant.get('name', '')} <{accountant['email']}>"


async def active_items(session: AsyncSession, notice_id: str) -> list[Any]:
    return list((await session.execute(select(notice_items).where(
        notice_items.c.notice_id == notice_id, notice_items.c.status == "active").order_by(notice_items.c.position)
    )).all())


def render_notice_mail(ctx: ServiceContext, notice: Any, items: list[Any], *, client_name: str,
                       recipient: Recipient, token: str, replaced_issued_at: datetime | None) -> OutgoingMail:
    context = notice_context(ctx.settings, notice, items, client_name=client_name, recipient=recipient,
                             link=confirmation_link(ctx.settings, token) if notice.requires_confirmation else None,
                             replaced_issued_at=replaced_issued_at)
    name = "notice" if notice.kind == "liability" else (notice.template or "manual")
    rendered = templates(ctx).client_mail(name, recipient.language, context)
    images = [InlineImage(f"qr{i.position}@terminarz", qr_png(i.qr_payload)) for i in items if i.qr_payload]
    return OutgoingMail(recipient.email, recipient.name, rendered.subject, rendered.text, html=rendered.html,
                        images=images, reply_to=_reply_to(notice),
                        headers={"X-Terminarz-Notice": notice.id, "Auto-Submitted": "auto-generated"})


async def issue(ctx: ServiceContext, session: AsyncSession, notice: Any) -> int:
    """Write the notice's mails (one per recipient, each with its own link); returns how many."""
    now = ctx.clock.now()
    client = await client_view(session, notice.client_id, notice.client_name)
    items = await active_items(session, notice.id)
    if notice.kind == "liability" and not items:
        await session.execute(update(notices).where(notices.c.id == notice.id).values(
            status="withdrawn", withdrawn_at=now, withdrawn_reason="no liabilities left", draft_key=None,
            updated_at=now))
        return 0
    replaced_at = None
    if notice.replaces_id:
        replaced_at = (await session.execute(select(notices.c.issued_at).where(
            notices.c.id == notice.replaces_id))).scalar_one_or_none()
    recipients = client.recipients if client.notices_enabled else []
    tokens = {r.email: secrets.token_urlsafe(32) for r in recipients}
    try:
        rendered = [render_notice_mail(ctx, notice, items, client_name=client.name, recipient=r, token=tokens[r.email],
                                       replaced_issued_at=replaced_at) for r in recipients]
    except TemplateError as exc:
        log.error("notice.template_broken", notice_id=notice.id, error=str(exc))
        await add_event(session, notice.id, now, "render_failed", f"{type(exc).__name__}: {exc}")
        await session.execute(update(notices).where(notices.c.id == notice.id).values(
            send_after=now + timedelta(minutes=15), updated_at=now))
        return 0
    mail_kinds = {"liability": "notice", "duty": "duty", "fee": "fee"}
    kind = "correction" if notice.replaces_id else mail_kinds.get(notice.kind, "manual")
    rows = []
    for recipient, mail in zip(recipients, rendered, strict=True):
        recipient_id = (await session.execute(notice_recipients.insert().values(
            notice_id=notice.id, email=recipient.email, name=recipient.name, language=recipient.language,
            token=tokens[recipient.email], status="pending").returning(notice_recipients.c.id))).scalar_one()
        row = mail_row(ctx, kind=kind, mail=mail, related_id=notice.id, notice_id=notice.id)
        rows.append(row)
        await session.execute(notice_mails.insert().values(notice_id=notice.id, recipient_id=recipient_id,
                                                           mail_id=row["id"], kind=kind))
    await insert_mails(ctx, session, rows)
    await session.execute(update(notices).where(notices.c.id == notice.id).values(
        status="issued", issued_at=now, draft_key=None, send_after=None, client_name=client.name, updated_at=now))
    await add_event(session, notice.id, now, "issued", ", ".join(r.email for r in recipients))
    if not recipients:
        reason = "client notices are switched off for this client" if not client.notices_enabled \
            else "no recipient e-mail on record for this client"
        await add_event(session, notice.id, now, "failed", reason)
        case_ids = sorted({i.case_id for i in items if i.case_id})
        await ctx.messaging.emit(session, NOTICE_FAILED, NoticeFailed(
            notice_id=notice.id, client_id=notice.client_id, contract_id=notice.contract_id, case_ids=case_ids,
            recipient="", reply=reason, failed_at=now).model_dump(mode="json"))
    return len(rows)


async def release_due(ctx: ServiceContext, *, batch: int = 50) -> int:
    """Issue every draft and scheduled notice whose time has come; each is taken by one process."""
    total = 0
    while True:
        now = ctx.clock.now()
        async with ctx.db.transaction() as session:
            query = (select(notices).where(notices.c.status.in_(("draft", "scheduled")), notices.c.send_after <= now)
                     .order_by(notices.c.send_after).limit(batch))
            if not ctx.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = (await session.execute(query)).all()
            for row in rows:
                await issue(ctx, session, row)
        total += len(rows)
        if len(rows) < batch:
            return total


# --- Recipients change --------------------------------------------------------------------------------


async def sync_recipients(ctx: ServiceContext, session: AsyncSession, client_id: str) -> None:
    """Open notices follow the client's recipients: a new address gets a link (and the next reminder), a
    removed one gets no more reminders."""
    open_ids = [r.id for r in await session.execute(select(notices.c.id).where(
        notices.c.client_id == client_id, notices.c.status == "issued", notices.c.requires_confirmation))]
    if not open_ids:
        return
    client = await client_view(session, client_id)
    wanted = {r.email.lower(): r for r in (client.recipients if client.notices_enabled else [])}
    now = ctx.clock.now()
    for notice_id in open_ids:
        have = {r.email.lower(): r for r in await session.execute(select(notice_recipients).where(
            notice_recipients.c.notice_id == notice_id))}
        for email, recipient in wanted.items():
            existing = have.get(email)
            if existing is None:
                await session.execute(notice_recipients.insert().values(
                    notice_id=notice_id, email=recipient.email, name=recipient.name, language=recipient.language,
                    token=secrets.token_urlsafe(32), status="pending"))
                await add_event(session, notice_id, now, "recipient_added", recipient.email)
            elif existing.status == "removed":
                await session.execute(update(notice_recipients).where(notice_recipients.c.id == existing.id)
                                      .values(status="pending"))
                await add_event(session, notice_id, now, "recipient_added", recipient.email)
        for email, existing in have.items():
            if email not in wanted and existing.status != "removed" and existing.confirmed_at is None:
                await session.execute(update(notice_recipients).where(notice_recipients.c.id == existing.id)
                                      .values(status="removed"))
                await add_event(session, notice_id, now, "recipient_removed", existing.email)


# --- The client's link: opening and confirming -----------------------------------------------------------


@dataclass
class LinkView:
    notice: Any
    recipient: Any
    items: list[Any]


async def by_token(session: AsyncSession, token: str, *, lock: bool = False) -> LinkView | None:
    if not token or len(token) > 64:
        return None
    query = select(notice_recipients).where(notice_recipients.c.token == token)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    recipient = (await session.execute(query)).first()
    if recipient is None:
        return None
    notice = (await session.execute(select(notices).where(notices.c.id == recipient.notice_id))).one()
    items = list((await session.execute(select(notice_items).where(
        notice_items.c.notice_id == notice.id, notice_items.c.status.in_(("active", "retired", "replaced")))
        .order_by(notice_items.c.position))).all())
    if notice.status not in ("withdrawn", "superseded"):
        items = [i for i in items if i.status == "active"]
    return LinkView(notice, recipient, items)


async def record_opening(ctx: ServiceContext, session: AsyncSession, view: LinkView, *, address: str,
                         user_agent: str) -> None:
    now = ctx.clock.now()
    if view.recipient.opened_at is None:
        await session.execute(update(notice_recipients).where(notice_recipients.c.id == view.recipient.id)
                              .values(opened_at=now))
    seen = (await session.execute(select(func.count()).where(
        notice_events.c.recipient_id == view.recipient.id, notice_events.c.kind == "opened"))).scalar_one()
    if seen < MAX_OPENINGS_RECORDED:
        await add_event(session, view.notice.id, now, "opened", view.recipient.email, recipient_id=view.recipient.id,
                        address=address, user_agent=user_agent)


async def confirm(ctx: ServiceContext, session: AsyncSession, view: LinkView, *, address: str,
                  user_agent: str) -> bool:
    """The recipient confirms. True when this request confirmed it; False when it already was (same answer)."""
    if view.recipient.confirmed_at is not None or view.notice.status not in (*OPEN_FOR_CONFIRMATION, "confirmed"):
        return False
    now = ctx.clock.now()
    await session.execute(update(notice_recipients).where(notice_recipients.c.id == view.recipient.id)
                          .values(confirmed_at=now))
    await add_event(session, view.notice.id, now, "confirmed", view.recipient.email, recipient_id=view.recipient.id,
                    address=address, user_agent=user_agent)
    first = await session.execute(update(notices).where(
        notices.c.id == view.notice.id, notices.c.status.in_(OPEN_FOR_CONFIRMATION)
    ).values(status="confirmed", confirmed_at=now, confirmed_by=view.recipient.email, updated_at=now))
    case_ids = sorted({i.case_id for i in view.items if i.case_id} | ({view.notice.case_id} if view.notice.case_id
                                                                      else set()))
    if first.rowcount:  # type: ignore[attr-defined]
        await ctx.messaging.emit(session, NOTICE_CONFIRMED, NoticeConfirmed(
            notice_id=view.notice.id, client_id=view.notice.client_id, contract_id=view.notice.contract_id,
            case_ids=case_ids, recipient=view.recipient.email, confirmed_at=now).model_dump(mode="json"))
    return True


def day_start(d: date) -> datetime:
    """The UTC instant a Warsaw business day begins."""
    return datetime.combine(d, datetime.min.time(), tzinfo=WARSAW)


# --- Written by staff --------------------------------------------------------------------------------------


async def create_manual(ctx: ServiceContext, session: AsyncSession, *, client: ClientView, subject: str, text: str,
                        template: str | None, liabilities: list[Any], send_on: date | None,
                        requires_confirmation: bool, created_by: dict[str, str] | None) -> str:
    """A notice staff wrote (free text or a template, optional amounts) for one client, sent now or at the
    office's hour on a chosen day."""
    now = ctx.clock.now()
    at = now if send_on is None or send_on <= ctx.clock.today() else \
        datetime.combine(send_on, ctx.settings.reminder_time, tzinfo=WARSAW).astimezone(now.tzinfo)
    notice_id = await _new_notice(
        ctx, session, kind="manual", client_id=client.client_id, client_name=client.name,
        contract_id=client.contract_ids[0] if client.contract_ids else None, period=None, status="scheduled",
        draft_key=None, template=template, subject=subject, body=text, requires_confirmation=requires_confirmation,
        send_after=at, accountant=created_by, created_by=created_by)
    rows = []
    for position, liability in enumerate(liabilities):
        transfer = domain.transfer_for(liability.kind, liability.amount, liability.period, liability.form,
                                       client.identity)
        rows.append({"case_id": None, "revision": 1, "kind": liability.kind, "amount": liability.amount,
                     "due": liability.due, "form": liability.form or domain.default_form(liability.kind,
                                                                                           liability.period),
                     "period": liability.period, "account": transfer.account, "account_kind": transfer.account_kind,
                     "payee": transfer.payee, "transfer_title": transfer.title, "tax_fields": transfer.tax_fields,
                     "qr_payload": transfer.qr_payload, "status": "active", "position": position})
    await _add_items(session, notice_id, rows)
    wake_jobs(ctx, session)
    return notice_id


async def withdraw(ctx: ServiceContext, session: AsyncSession, notice_id: str, reason: str) -> bool:
    """Staff withdraw a notice: no more reminders, and its link says it was withdrawn."""
    now = ctx.clock.now()
    result = await session.execute(update(notices).where(
        notices.c.id == notice_id, notices.c.status.in_(("draft", "scheduled", "issued", "expired"))
    ).values(status="withdrawn", withdrawn_at=now, withdrawn_reason=reason, draft_key=None, updated_at=now))
    if result.rowcount:  # type: ignore[attr-defined]
        await add_event(session, notice_id, now, "withdrawn", reason)
        return True
    return False
