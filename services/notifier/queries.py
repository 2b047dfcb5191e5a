"""The notifier's read side: notices with their delivery state and proof, filtered by the caller's scope."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.scope import Scope
from services.notifier.models import (
    addresses,
    contracts,
    mails,
    notice_events,
    notice_items,
    notice_mails,
    notice_recipients,
    notices,
)

PROOF_COLUMNS = ("notice_id", "client_name", "period", "at", "event", "recipient", "detail", "smtp_reply",
                 "address", "user_agent", "message_id")


def visible(scope: Scope) -> Any:
    """The notices a scope sees: those of its contracts, and a client's notices of no contract (manual ones)
    when it sees one of that client's contracts."""
    if scope.contracts is None:
        return None
    ids = list(scope.contracts)
    clients_seen = select(contracts.c.client_id).where(contracts.c.contract_id.in_(ids))
    return or_(notices.c.contract_id.in_(ids), and_(notices.c.contract_id.is_(None),
                                                     notices.c.client_id.in_(clients_seen)))


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _delivery(recipients: list[dict[str, Any]], status: str) -> str:
    """One word for the notice's delivery: failing (some recipient refused), no_recipient, pending, delivered."""
    if status in ("draft", "scheduled"):
        return "not_sent"
    live = [r for r in recipients if r["status"] != "removed"]
    if not live:
        return "no_recipient"
    if any(r["status"] == "failing" for r in live):
        return "failing"
    if any(r["status"] == "pending" for r in live):
        return "pending"
    return "local" if all(r["status"] == "kept" for r in live) else "delivered"


def in_state(state: str) -> Any:
    """The staff's words for where a notice stands: `sent` (went out: issued or confirmed), `waiting` (out, and its
    confirmation still awaited), `confirmed`, `failed` (a recipient's server refused it, or it had no recipient)."""
    if state == "sent":
        return notices.c.status.in_(("issued", "confirmed"))
    if state == "waiting":
        return and_(notices.c.status == "issued", notices.c.requires_confirmation.is_(True))
    if state == "confirmed":
        return notices.c.status == "confirmed"
    live = select(notice_recipients.c.notice_id).where(notice_recipients.c.status != "removed")
    failing = select(notice_recipients.c.notice_id).where(notice_recipients.c.status == "failing")
    return and_(notices.c.status.in_(("issued", "confirmed", "expired")),
                or_(notices.c.id.in_(failing), notices.c.id.not_in(live)))


async def list_notices(session: AsyncSession, scope: Scope, *, client_id: str | None = None,
                       case_id: str | None = None, contract_id: str | None = None, status: str | None = None,
                       state: str | None = None, period: str | None = None,
                       limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    conditions = []
    if state:
        conditions.append(in_state(state))
    if period:
        conditions.append(notices.c.period.startswith(period, autoescape=True))
    if (scope_filter := visible(scope)) is not None:
        conditions.append(scope_filter)
    if client_id:
        conditions.append(notices.c.client_id == client_id)
    if contract_id:
        conditions.append(notices.c.contract_id == contract_id)
    if status:
        conditions.append(notices.c.status == status)
    if case_id:
        conditions.append(notices.c.id.in_(select(notice_items.c.notice_id).where(notice_items.c.case_id == case_id)))
    total = (await session.execute(select(func.count()).select_from(notices).where(*conditions))).scalar_one()
    rows = list((await session.execute(select(notices).where(*conditions)
                                       .order_by(notices.c.created_at.desc()).limit(limit).offset(offset))).all())
    return await _views(session, rows), int(total)


async def get_notice(session: AsyncSession, scope: Scope, notice_id: str) -> dict[str, Any] | None:
    conditions = [notices.c.id == notice_id]
    if (scope_filter := visible(scope)) is not None:
        conditions.append(scope_filter)
    row = (await session.execute(select(notices).where(*conditions))).first()
    if row is None:
        return None
    [view] = await _views(session, [row])
    view["proof"] = await proof(session, [notice_id])
    return view


async def _views(session: AsyncSession, rows: list[Any]) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    items: dict[str, list[dict[str, Any]]] = defaultdict(list)
    recipients: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if ids:
        for item in await session.execute(select(notice_items).where(notice_items.c.notice_id.in_(ids))
                                          .order_by(notice_items.c.position)):
            items[item.notice_id].append({
                "case_id": item.case_id, "revision": item.revision, "kind": item.kind, "amount": str(item.amount),
                "due": item.due.isoformat(), "form": item.form, "period": item.period, "account": item.account,
                "account_kind": item.account_kind, "payee": item.payee, "transfer_title": item.transfer_title,
                "tax_fields": item.tax_fields, "qr_payload": item.qr_payload, "status": item.status,
                "missing_account": item.account is None,
            })
        for r in await session.execute(select(notice_recipients).where(notice_recipients.c.notice_id.in_(ids))
                                       .order_by(notice_recipients.c.id)):
            recipients[r.notice_id].append({
                "email": r.email, "name": r.name, "language": r.language, "status": r.status, "reply": r.reply,
                "first_sent_at": _iso(r.first_sent_at), "opened_at": _iso(r.opened_at),
                "confirmed_at": _iso(r.confirmed_at),
            })
    views = []
    for r in rows:
        shown = [i for i in items[r.id] if i["status"] == "active"] or items[r.id]
        views.append({
            "id": r.id, "kind": r.kind, "status": r.status, "client_id": r.client_id, "client_name": r.client_name,
            "contract_id": r.contract_id, "period": r.period, "due": _iso(r.due), "subject": r.subject,
            "requires_confirmation": r.requires_confirmation, "send_after": _iso(r.send_after),
            "issued_at": _iso(r.issued_at), "confirmed_at": _iso(r.confirmed_at), "confirmed_by": r.confirmed_by,
            "withdrawn_at": _iso(r.withdrawn_at), "withdrawn_reason": r.withdrawn_reason,
            "escalated_at": _iso(r.escalated_at), "expired_at": _iso(r.expired_at), "replaces_id": r.replaces_id,
            "replaced_by_id": r.replaced_by_id, "accountant": r.accountant, "created_at": _iso(r.created_at),
            "case_ids": sorted({i["case_id"] for i in shown if i["case_id"]}),
            "items": shown, "total": str(sum((Decimal(i["amount"]) for i in shown), Decimal("0"))),
            "recipients": recipients[r.id], "delivery": _delivery(recipients[r.id], r.status),
            # An overdue fee's facts (None for other notices, and for fee notices written before they were kept).
            "fee": {"outstanding": str(r.amount), "gross": str(r.gross) if r.gross is not None else None,
                    "currency": r.currency, "account": r.account} if r.kind == "fee" and r.amount is not None else None,
        })
    return views


async def proof(session: AsyncSession, notice_ids: list[str]) -> list[dict[str, Any]]:
    """Everything that happened to the notices, oldest first: each mail (the notice, a correction, each day's
    reminder) with its status, time and SMTP reply; openings and the confirmation with address and browser;
    withdrawals, corrections and escalations."""
    if not notice_ids:
        return []
    info = {r.id: r for r in await session.execute(select(notices.c.id, notices.c.client_name, notices.c.period)
                                                   .where(notices.c.id.in_(notice_ids)))}
    emails = {r.id: r.email for r in await session.execute(
        select(notice_recipients.c.id, notice_recipients.c.email).where(notice_recipients.c.notice_id.in_(notice_ids)))}
    entries: list[dict[str, Any]] = []
    for e in await session.execute(select(notice_events).where(notice_events.c.notice_id.in_(notice_ids))
                                     .order_by(notice_events.c.id)):
        entries.append({
            "notice_id": e.notice_id, "at": e.at, "event": e.kind, "recipient": emails.get(e.recipient_id, ""),
            "detail": e.detail, "smtp_reply": "", "address": e.address or "", "user_agent": e.user_agent or "",
            "message_id": "",
        })
    sends = await session.execute(
        select(notice_mails.c.notice_id, notice_mails.c.kind, mails.c.id, mails.c.to_address, mails.c.status,
               mails.c.created_at, mails.c.sent_at, mails.c.smtp_reply, mails.c.last_error, mails.c.attempts,
               mails.c.message_id)
        .join(mails, mails.c.id == notice_mails.c.mail_id).where(notice_mails.c.notice_id.in_(notice_ids)))
    for s in sends:
        event = {"sent": "sent", "kept": "kept", "failed": "refused"}.get(s.status, "queued")
        entries.append({
            "notice_id": s.notice_id, "at": s.sent_at or s.created_at, "event": f"{s.kind}_{event}",
            "recipient": s.to_address, "detail": f"attempts {s.attempts}" if s.attempts else "",
            "smtp_reply": s.smtp_reply or s.last_error or "", "address": "", "user_agent": "",
            "message_id": s.message_id or "",
        })
    entries.sort(key=lambda x: x["at"])  # stable: at the same instant, in the order they were recorded
    for entry in entries:
        notice = info.get(entry["notice_id"])
        entry["client_name"] = notice.client_name if notice else ""
        entry["period"] = notice.period if notice else ""
        entry["at"] = _iso(entry["at"])
    return entries


async def proof_csv(session: AsyncSession, scope: Scope, **filters: Any) -> str:
    items, _ = await list_notices(session, scope, limit=100_000, **filters)
    rows = await proof(session, [n["id"] for n in items])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=PROOF_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


async def address_status(session: AsyncSession, emails: list[str]) -> dict[str, Any]:
    if not emails:
        return {}
    return {r.email: r for r in await session.execute(select(addresses).where(addresses.c.email.in_(emails)))}
