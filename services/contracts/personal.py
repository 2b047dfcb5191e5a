"""Personal data in the contracts service: which fields of a client record are personal, the retention decision,
the erasure (which tells the other services with client.erased) and the export of everything held about a client.

The contracts service decides: it alone knows when a client's last contract ended. The others erase what they
hold when client.erased reaches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Text, and_, cast, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import WARSAW
from services.common.errors import NotFound, Problem
from services.common.messages import CLIENT_ERASED, ClientErased
from services.common.personal import (
    Scrub,
    erasable_from,
    erased_email,
    erased_name,
    marker,
    rows_as_dicts,
    scrub_outbox,
)
from services.common.runtime import ServiceContext
from services.common.scope import SERVICE_SCOPE, Scope
from services.contracts import powers as power_files
from services.contracts.handlers import visible_clients, visible_contracts
from services.contracts.models import (
    clients,
    contract_versions,
    contracts,
    idempotency_keys,
    outbox,
    payment_months,
    payments,
    powers,
)

# The personal fields of a client record (`clients.data`, the ClientIn as JSON) — the one list to extend when the
# record gains one (contact people, payment accounts): the erasure blanks each one present, the export shows all.
PERSONAL_FIELDS = ("name", "nip", "regon", "pesel", "address", "contact_emails", "recipients", "accounts")


def erased_nip(client_id: int) -> str:
    """Stands for the NIP (a sole trader's identifies a person): unique like the NIP column, never a valid NIP."""
    return f"X{client_id:09d}"


def erased_value(field: str, client_id: int, old: Any) -> Any:
    """What a personal field becomes once erased."""
    if field == "name":
        return erased_name(client_id)
    if field == "nip":
        return erased_nip(client_id)
    if field == "address":
        country = old.get("country", "PL") if isinstance(old, dict) else "PL"
        return {"street": "", "postal_code": "", "city": "", "country": country}
    if field == "pesel":
        return None
    if isinstance(old, str):
        return ""  # keeps the record's documented type (a REGON is a string)
    if isinstance(old, list):
        return []
    if isinstance(old, dict):
        return {}
    return None


def scrub_of(client_id: int, data: dict[str, Any]) -> Scrub:
    """The client's personal values as they may appear in stored text and events, and what replaces each."""
    email = erased_email(client_id)
    pairs: list[tuple[str | None, str]] = [
        (data.get("name"), erased_name(client_id)),
        ((data.get("address") or {}).get("street"), ""),
    ]
    pairs += [(e, email) for e in data.get("contact_emails") or []]
    for recipient in data.get("recipients") or []:
        if isinstance(recipient, dict):
            pairs += [(recipient.get("email"), email), (recipient.get("name"), "")]
    return Scrub.of(pairs, identifiers=(data.get("nip"), data.get("regon"), data.get("pesel")))


@dataclass(frozen=True)
class Decision:
    """Whether a client's personal data may be erased today, and why (status erasable, in_force, retained or
    erased)."""

    client_id: int
    name: str
    status: str
    reason: str
    last_end: date | None = None
    erasable_from: date | None = None

    def view(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "name": self.name, "status": self.status, "reason": self.reason,
                "last_end": self.last_end.isoformat() if self.last_end else None,
                "erasable_from": self.erasable_from.isoformat() if self.erasable_from else None}


def decide(client: Any, ends: list[tuple[str, date | None]], *, today: date, years: int) -> Decision:
    """The retention rule for one client and its contracts' last days (number, end or None for open-ended)."""
    if client.erased_at is not None:
        day = client.erased_at.astimezone(WARSAW).date().isoformat()
        return Decision(client.id, client.name, "erased", f"personal data erased on {day}")
    open_ended = sorted(number for number, end in ends if end is None)
    if open_ended:
        return Decision(client.id, client.name, "in_force", f"contract {open_ended[0]} is in force (no end date)")
    running = sorted((end, number) for number, end in ends if end is not None and end >= today)
    if running:
        end, number = running[-1]
        return Decision(client.id, client.name, "in_force", f"contract {number} is in force until {end.isoformat()}")
    days = [end for _, end in ends if end is not None]
    # A client without contracts: its records concern the year it was registered.
    last = max(days) if days else client.created_at.astimezone(WARSAW).date()
    start = erasable_from(last, years)
    what = (f"its last contract ended on {last.isoformat()}" if days
            else f"registered on {last.isoformat()}, no contract")
    kept = f"records are kept {years} years after the end of {last.year}"
    if today < start:
        return Decision(client.id, client.name, "retained",
                        f"{what}; {kept}, until {(start - timedelta(days=1)).isoformat()}", last, start)
    return Decision(client.id, client.name, "erasable",
                    f"{what}; {kept}, which ended on {(start - timedelta(days=1)).isoformat()}", last, start)


async def decisions(session: AsyncSession, *, today: date, years: int,
                    client_id: int | None = None) -> list[Decision]:
    """The decision for one client (404 if it does not exist), or for every client not erased yet."""
    query = select(clients.c.id, clients.c.name, clients.c.created_at, clients.c.erased_at)
    query = query.where(clients.c.id == client_id) if client_id is not None else query.where(
        clients.c.erased_at.is_(None))
    rows = (await session.execute(query.order_by(clients.c.id))).all()
    if client_id is not None and not rows:
        raise NotFound("client", client_id)
    newest = (
        select(contracts.c.client_id, contracts.c.number, contract_versions.c.document)
        .join(contract_versions, and_(contract_versions.c.contract_id == contracts.c.id,
                                      contract_versions.c.version == contracts.c.version))
    )
    if client_id is not None:
        newest = newest.where(contracts.c.client_id == client_id)
    ends: dict[int, list[tuple[str, date | None]]] = {}
    for c in await session.execute(newest):
        end = c.document.get("end")
        ends.setdefault(c.client_id, []).append((c.number, date.fromisoformat(end) if end else None))
    return [decide(row, ends.get(row.id, []), today=today, years=years) for row in rows]


async def erase(ctx: ServiceContext, session: AsyncSession, *, client_id: int, today: date,
                years: int) -> dict[str, Any]:
    """Erase one client's personal data in the caller's transaction and emit client.erased; 409 naming the reason
    when a contract is in force or retention has not ended. A client erased before is answered as it is."""
    locked = (await session.execute(
        select(clients).where(clients.c.id == client_id).with_for_update())).first()
    if locked is None:
        raise NotFound("client", client_id)
    [decision] = await decisions(session, today=today, years=years, client_id=client_id)
    if decision.status == "erased":
        return {**decision.view(), "erased_now": False}
    if decision.status != "erasable":
        raise Problem(409, "Client cannot be erased", f"client {client_id}: {decision.reason}",
                      errors=[{"field": "client_id", "message": decision.reason}])
    now = ctx.clock.now()
    data = dict(locked.data)
    scrub = scrub_of(client_id, data)
    for name in PERSONAL_FIELDS:
        if name in data:
            data[name] = erased_value(name, client_id, data[name])
    data["erased_at"] = now.isoformat()  # shown with the record; contracts of it can no longer change
    await session.execute(update(clients).where(clients.c.id == client_id).values(
        name=erased_name(client_id), nip=erased_nip(client_id), regon=None, data=data, erased_at=now,
        updated_at=now))
    # Powers of attorney: the signed documents (they carry signatures and identifiers) and the scope text go; the
    # kinds and dates stay. Payments: the title and the counterparty's NIP go; the amounts and months stay.
    documents = [d for d in (await session.execute(select(powers.c.document_id).where(
        powers.c.client_id == client_id, powers.c.document_id.is_not(None)))).scalars()]
    await session.execute(update(powers).where(powers.c.client_id == client_id).values(
        scope="", document_id=None, document_name=None, document_type=None, document_size=None,
        document_sha256=None))
    await session.execute(update(payments).where(payments.c.client_id == client_id).values(
        title="", counterparty_nip=None))
    for document_id in documents:
        (power_files.folder(ctx.settings) / document_id).unlink(missing_ok=True)
    contract_ids = [str(i) for i in (await session.execute(
        select(contracts.c.id).where(contracts.c.client_id == client_id).order_by(contracts.c.id))).scalars()]
    # Remembered answers to retried POSTs hold the client as it was (a client, or a contract with its name).
    # (Found by the id in the stored JSON text first, then checked exactly.)
    text = cast(idempotency_keys.c.response, Text)
    for key in (await session.execute(select(idempotency_keys).where(or_(
            text.contains(f'"client_id": {client_id}', autoescape=True),
            text.contains(f'"id": {client_id}', autoescape=True))))).all():
        response = key.response if isinstance(key.response, dict) else {}
        if (key.endpoint == "clients" and response.get("id") == client_id) or response.get("client_id") == client_id:
            await session.execute(delete(idempotency_keys).where(
                idempotency_keys.c.key == key.key, idempotency_keys.c.endpoint == key.endpoint))
    await scrub_outbox(session, outbox, markers=[marker("client_id", client_id)]
                       + [marker("contract_id", c) for c in contract_ids], scrub=scrub)
    event = ClientErased(client_id=str(client_id), contract_ids=contract_ids, placeholder=erased_name(client_id),
                         erased_at=now)
    await ctx.messaging.emit(session, CLIENT_ERASED, event.model_dump(mode="json"))
    return {**decision.view(), "name": erased_name(client_id), "status": "erased", "erased_now": True}


async def erase_due(ctx: ServiceContext, *, client_id: int | None, dry_run: bool,
                    limit: int = 100) -> dict[str, Any]:
    """The retention command: with `client_id`, that client (refused with the reason when it may not be erased);
    without, the first `limit` clients whose retention has ended, each in its own transaction (`remaining` says
    how many more are due: the caller asks again, so one call stays short). A dry run changes nothing and lists
    everyone who would be erased, and why."""
    today, years = ctx.clock.today(), ctx.settings.retention_years
    async with ctx.db.reading() as session:
        found = await decisions(session, today=today, years=years, client_id=client_id)
    summary = {"today": today.isoformat(), "retention_years": years, "dry_run": dry_run}
    if dry_run:
        shown = found if client_id is not None else [d for d in found if d.status == "erasable"]
        return {**summary, "items": [d.view() for d in shown], "kept": _kept(found), "remaining": 0}
    due = found if client_id is not None else [d for d in found if d.status == "erasable"]
    items = []
    for decision in due[:limit]:
        async with ctx.db.transaction() as session:
            items.append(await erase(ctx, session, client_id=decision.client_id, today=today, years=years))
    return {**summary, "items": items, "kept": _kept(found), "remaining": len(due[limit:])}


def _kept(found: list[Decision]) -> dict[str, int]:
    return {status: sum(1 for d in found if d.status == status) for status in ("in_force", "retained")}


async def export(session: AsyncSession, *, client_id: int, scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    """Everything this service holds about a client (404 outside the caller's scope): its record and its
    contracts with every version."""
    client = (await session.execute(
        select(clients).where(clients.c.id == client_id, visible_clients(scope)))).all()
    if not client:
        raise NotFound("client", client_id)
    own = (await session.execute(select(contracts).where(
        contracts.c.client_id == client_id, visible_contracts(scope)).order_by(contracts.c.id))).all()
    versions = (await session.execute(select(contract_versions).where(
        contract_versions.c.contract_id.in_([c.id for c in own]))
        .order_by(contract_versions.c.contract_id, contract_versions.c.version))).all()
    own_powers = (await session.execute(select(powers).where(powers.c.client_id == client_id)
                                        .order_by(powers.c.id))).all()
    own_payments = (await session.execute(select(payments).where(payments.c.client_id == client_id)
                                          .order_by(payments.c.id))).all()
    paid_months = (await session.execute(select(payment_months).where(
        payment_months.c.payment_id.in_([p.id for p in own_payments]))
        .order_by(payment_months.c.payment_id, payment_months.c.month))).all()
    return {"service": "contracts", "client_id": client_id, "tables": {
        "clients": rows_as_dicts(client), "contracts": rows_as_dicts(own),
        "contract_versions": rows_as_dicts(versions), "powers": rows_as_dicts(own_powers),
        "payments": rows_as_dicts(own_payments), "payment_months": rows_as_dicts(paid_months)}}
