"""Personal data in the notifier: what it knows of a client (name, NIP, PESEL, recipients, accounts), the notices
and mails it wrote them (addresses, names, texts) and the proof of their opening (IP address, user agent).

client.erased erases all of it in one transaction and keeps what reports and the office's figures need: every
notice with its amounts, due dates, periods, statuses and times, every mail's status and times, the ids.
The export lists everything held about one client.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.accounts import format_nrb
from services.common.messages import ClientErased, Envelope
from services.common.personal import Scrub, erased_email, marker, rows_as_dicts, scrub_outbox
from services.common.runtime import ServiceContext
from services.common.scope import SERVICE_SCOPE, Scope
from services.notifier.models import (
    addresses,
    clients,
    contracts,
    mail_claims,
    mails,
    notice_events,
    notice_items,
    notice_mails,
    notice_recipients,
    notices,
    outbox,
)

# What each table keeps of a client's personal data, and what an erasure does to it (one list to extend):
# clients / contracts    name, NIP, PESEL, recipients, contact e-mails, accounts    → placeholder, null, empty
# notices                client_name, subject, body, confirmed_by, withdrawn_reason → placeholder, scrubbed
# notice_items           account, transfer title, QR payload, tax fields (NIP)      → null, scrubbed
# notice_recipients      email, name, reply                                         → placeholder address, ""
# notice_events          opening IP address, user agent, detail                     → null, scrubbed
# mails                  to_address, to_name, subject, body, raw MIME, SMTP reply   → placeholder, scrubbed, null
# addresses, mail_claims the client's addresses' delivery health and claims         → deleted
# outbox                 notice.* events (recipient) of the client                  → scrubbed
PERSONAL_TABLES = ("clients", "contracts", "notices", "notice_items", "notice_recipients", "notice_events",
                   "mails", "addresses", "mail_claims", "outbox")


async def _client_values(session: AsyncSession, erased: ClientErased) -> tuple[Scrub, set[str], list[str]]:
    """The client's personal values as this service holds them, what replaces each, its addresses and notices."""
    cid = erased.client_id
    email = erased_email(cid)
    names: set[str] = set()
    emails: set[str] = set()
    people: set[str] = set()
    identifiers: set[str] = set()
    for row in await session.execute(select(clients).where(clients.c.client_id == cid)):
        names.add(row.name)
        identifiers.update(v for v in (row.nip, row.pesel) if v)
        identifiers.update(str(v) for v in (row.accounts or {}).values() if v)
        for r in row.recipients or []:
            emails.add(r.get("email") or "")
            people.add(r.get("name") or "")
    for row in await session.execute(select(contracts).where(
            or_(contracts.c.client_id == cid, contracts.c.contract_id.in_(erased.contract_ids)))):
        names.add(row.client_name)
        identifiers.update(v for v in (row.nip, row.pesel) if v)
        emails.update(row.contact_emails or [])
    notice_ids = list((await session.execute(select(notices.c.id).where(notices.c.client_id == cid))).scalars())
    for row in await session.execute(select(notices.c.client_name, notices.c.confirmed_by).where(
            notices.c.client_id == cid)):
        names.add(row.client_name)
        emails.add(row.confirmed_by or "")
    if notice_ids:
        for row in await session.execute(select(notice_recipients.c.email, notice_recipients.c.name).where(
                notice_recipients.c.notice_id.in_(notice_ids))):
            emails.add(row.email)
            people.add(row.name)
        identifiers.update(a for a in (await session.execute(select(notice_items.c.account).where(
            notice_items.c.notice_id.in_(notice_ids)))).scalars() if a)
    # Mail texts show an account in groups of four digits.
    identifiers.update([format_nrb(a) for a in identifiers if len(a) == 26 and a.isdigit()])
    names -= {erased.placeholder, ""}
    emails -= {email, ""}
    scrub = Scrub.of([(n, erased.placeholder) for n in names] + [(e, email) for e in emails]
                     + [(p, "") for p in people], identifiers=identifiers)
    return scrub, emails, notice_ids


async def on_client_erased(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    """client.erased: erase the client's personal data here; handled again, nothing is left to change."""
    erased = ClientErased.model_validate(envelope.payload)
    cid, email = erased.client_id, erased_email(erased.client_id)
    scrub, emails, notice_ids = await _client_values(session, erased)
    # A client.changed older than the erasure, arriving late, changes nothing (the newer `updated_at` wins).
    await session.execute(update(clients).where(clients.c.client_id == cid).values(
        name=erased.placeholder, nip=None, pesel=None, recipients=[], accounts={}, notices_enabled=False,
        source="client", updated_at=erased.erased_at))
    await session.execute(update(contracts).where(
        or_(contracts.c.client_id == cid, contracts.c.contract_id.in_(erased.contract_ids))).values(
        client_name=erased.placeholder, nip=None, pesel=None, contact_emails=[]))
    if not scrub.replacements:
        return
    for row in (await session.execute(select(notices).where(notices.c.client_id == cid))).all():
        await session.execute(update(notices).where(notices.c.id == row.id).values(
            client_name=erased.placeholder, subject=scrub.optional(row.subject), body=scrub.optional(row.body),
            confirmed_by=email if row.confirmed_by else None, withdrawn_reason=scrub.optional(row.withdrawn_reason)))
    mail_ids: set[str] = set()
    if notice_ids:
        for item in (await session.execute(select(notice_items).where(
                notice_items.c.notice_id.in_(notice_ids)))).all():
            await session.execute(update(notice_items).where(notice_items.c.id == item.id).values(
                account=None, transfer_title=scrub.text(item.transfer_title or ""),
                qr_payload=scrub.optional(item.qr_payload), tax_fields=scrub.json(item.tax_fields)))
        for person in (await session.execute(select(notice_recipients).where(
                notice_recipients.c.notice_id.in_(notice_ids)))).all():
            await session.execute(update(notice_recipients).where(notice_recipients.c.id == person.id).values(
                email=email, name="", reply=scrub.optional(person.reply)))
        for event in (await session.execute(select(notice_events).where(
                notice_events.c.notice_id.in_(notice_ids)))).all():
            await session.execute(update(notice_events).where(notice_events.c.id == event.id).values(
                address=None, user_agent=None, detail=scrub.text(event.detail or "")))
        mail_ids.update((await session.execute(select(notice_mails.c.mail_id).where(
            notice_mails.c.notice_id.in_(notice_ids)))).scalars())
    # Mails to the client's addresses, and staff mails that name the client (a case of theirs, a digest).
    names = [v for v, r in scrub.replacements.items() if r == erased.placeholder]
    conditions: list[ColumnElement[bool]] = [mails.c.to_address.in_(sorted(emails))] if emails else []
    conditions += [mails.c.subject.contains(n, autoescape=True) for n in names]
    conditions += [mails.c.body.contains(n, autoescape=True) for n in names]
    if conditions:
        mail_ids.update((await session.execute(select(mails.c.id).where(or_(*conditions)))).scalars())
    for mail in (await session.execute(select(mails).where(mails.c.id.in_(sorted(mail_ids))))).all():
        waiting = mail.status in ("pending", "sending")
        await session.execute(update(mails).where(mails.c.id == mail.id).values(
            to_address=email if mail.to_address in emails else mail.to_address, to_name=scrub.text(mail.to_name or ""),
            subject=scrub.text(mail.subject), body=scrub.text(mail.body), raw=None,
            smtp_reply=scrub.optional(mail.smtp_reply),
            last_error="the client's personal data was erased" if waiting else scrub.optional(mail.last_error),
            # Its MIME text is gone: a mail still waiting is not sent any more.
            status="failed" if waiting else mail.status))
    if emails:
        await session.execute(delete(addresses).where(addresses.c.email.in_(sorted(emails))))
        await session.execute(delete(mail_claims).where(mail_claims.c.recipient.in_(sorted(emails))))
    await scrub_outbox(session, outbox, markers=[marker("client_id", cid)]
                       + [marker("contract_id", c) for c in erased.contract_ids], scrub=scrub)


async def export(session: AsyncSession, *, client_id: int, scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    """Everything held about a client: what it knows of them, their notices with items, recipients, proof and
    mails, and their addresses' delivery health. A caller must see one of the client's contracts."""
    cid = str(client_id)
    own_contracts = (await session.execute(select(contracts).where(contracts.c.client_id == cid)
                                           .order_by(contracts.c.contract_id))).all()
    if not scope.unrestricted and not any(scope.sees(c.contract_id) for c in own_contracts):
        own_contracts = []
        client_rows: list[Any] = []
        own_notices: list[Any] = []
    else:
        client_rows = list((await session.execute(select(clients).where(clients.c.client_id == cid))).all())
        own_notices = list((await session.execute(select(notices).where(notices.c.client_id == cid)
                                                  .order_by(notices.c.created_at))).all())
    ids = [n.id for n in own_notices]
    items = (await session.execute(select(notice_items).where(notice_items.c.notice_id.in_(ids))
                                   .order_by(notice_items.c.id))).all() if ids else []
    people = (await session.execute(select(notice_recipients).where(notice_recipients.c.notice_id.in_(ids))
                                    .order_by(notice_recipients.c.id))).all() if ids else []
    events = (await session.execute(select(notice_events).where(notice_events.c.notice_id.in_(ids))
                                    .order_by(notice_events.c.id))).all() if ids else []
    links = (await session.execute(select(notice_mails).where(notice_mails.c.notice_id.in_(ids))
                                   .order_by(notice_mails.c.id))).all() if ids else []
    emails = {p.email for p in people} | {e for c in own_contracts for e in (c.contact_emails or [])}
    emails |= {r.get("email") for c in client_rows for r in (c.recipients or []) if r.get("email")}
    mail_ids = {m.mail_id for m in links}
    sent = (await session.execute(select(mails).where(or_(mails.c.id.in_(sorted(mail_ids)),
                                                          mails.c.to_address.in_(sorted(emails))))
                                  .order_by(mails.c.created_at))).all() if mail_ids or emails else []
    health = (await session.execute(select(addresses).where(addresses.c.email.in_(sorted(emails))))).all() \
        if emails else []
    tables = {
        "clients": rows_as_dicts(client_rows), "contracts": rows_as_dicts(own_contracts),
        "notices": rows_as_dicts(own_notices), "notice_items": rows_as_dicts(items),
        # The link tokens are left out: they open the confirmation page.
        "notice_recipients": [{k: v for k, v in p.items() if k != "token"} for p in rows_as_dicts(people)],
        "notice_events": rows_as_dicts(events),
        "notice_mails": rows_as_dicts(links),
        # The whole MIME text is left out: `body` is its text part.
        "mails": [{k: v for k, v in m.items() if k != "raw"} for m in rows_as_dicts(sent)],
        "addresses": rows_as_dicts(health),
    }
    return {"service": "notifier", "client_id": client_id, "tables": tables}
