"""The client's payments of the office's fee: recorded by hand or imported from a bank statement, matched to the
contract months they pay, and billed vs paid per contract and month.

Matching (`match`): the counterparty's NIP names the client; the title names the month(s) ("FV 10/2026",
"październik 2026", "2026-10") else the payment pays the oldest unpaid months (up to the payment's month) whose
outstanding gross fee the amount covers, whole months first, what is left going to the next unpaid month. A row
whose NIP names no client, or whose amount covers no month, is kept unassigned and listed for manual assignment.

A month's fee (gross, from `fees.month_fee`) is due on day `payment_day` (a fee term, default 15) of the next month.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, insert, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.accounts import nip_valid
from services.common.errors import NotFound, Problem
from services.common.money import CENT, parse_amount
from services.common.months import add_months, month_key, parse_month
from services.common.scope import SERVICE_SCOPE, Scope
from services.contracts import fees
from services.contracts.handlers import visible_clients, visible_contracts
from services.contracts.importing import _sniff_delimiter
from services.contracts.models import clients, contracts, payment_months, payments

ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("10000000.00")
MAX_STATEMENT_ROWS = 5000
SOURCES = ("manual", "import")

# The statement's columns and the names a bank's export may give them (lower case, Polish or English).
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "date": ("date", "data", "data operacji", "data księgowania", "data ksiegowania"),
    "amount": ("amount", "kwota"),
    "title": ("title", "tytuł", "tytul", "tytuł operacji", "opis"),
    "nip": ("nip", "counterparty nip", "counterparty_nip", "nip kontrahenta"),
}

# Polish month names by a stem every inflection shares ("październik", "października", "za pazdziernik").
MONTH_STEMS = (("stycz", 1), ("lut", 2), ("marz", 3), ("marc", 3), ("kwiec", 4), ("kwiet", 4), ("maj", 5),
               ("czerw", 6), ("lip", 7), ("sierp", 8), ("wrzes", 9), ("wrześ", 9), ("paźdz", 10), ("pazdz", 10),
               ("listop", 11), ("grud", 12))
_NUMERIC_MONTH = re.compile(r"(?<![\d-])(0?[1-9]|1[0-2])\s*[/.]\s*(20\d{2})(?!\d)")
_ISO_MONTH = re.compile(r"(?<!\d)(20\d{2})-(0[1-9]|1[0-2])(?![\d-])")
_NAMED_MONTH = re.compile(r"([a-ząćęłńóśźż]+)\s+(20\d{2})(?!\d)", re.IGNORECASE)
_DATE_FORMATS = (re.compile(r"^(\d{1,2})[.\-/](\d{1,2})[.\-/](\d{4})$"), re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"))


def parse_date(text: str) -> date | None:
    """"29.11.2026", "29-11-2026", "29/11/2026" or "2026-11-29"; None when it is none of them."""
    text = text.strip()
    try:
        if m := _DATE_FORMATS[1].match(text):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DATE_FORMATS[0].match(text):
            return date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        return None
    return None


def clean_nip(text: str) -> str:
    """A NIP as banks write it ("PL 526-104-05-73", "526 104 05 73") → its ten digits (or what was there)."""
    cleaned = re.sub(r"[\s\-]", "", text.strip())
    return cleaned[2:] if cleaned.upper().startswith("PL") else cleaned


def months_in_title(title: str) -> list[date]:
    """The months a transfer's title names, in order of appearance, each once (first days)."""
    found: list[tuple[int, date]] = []
    for m in _ISO_MONTH.finditer(title):
        found.append((m.start(), date(int(m[1]), int(m[2]), 1)))
    for m in _NUMERIC_MONTH.finditer(title):
        found.append((m.start(), date(int(m[2]), int(m[1]), 1)))
    for m in _NAMED_MONTH.finditer(title):
        word = m[1].lower()
        number = next((n for stem, n in MONTH_STEMS if word.startswith(stem)), None)
        if number is not None:
            found.append((m.start(), date(int(m[2]), number, 1)))
    result: list[date] = []
    for _, month in sorted(found, key=lambda f: f[0]):
        if month not in result:
            result.append(month)
    return result


@dataclass
class Open:
    """One contract month of a client's ledger: its gross fee and what payments already cover."""

    contract_id: int
    number: str
    month: date
    gross: Decimal
    paid: Decimal = ZERO

    @property
    def remaining(self) -> Decimal:
        return max(self.gross - self.paid, ZERO)


def allocate(amount: Decimal, ledger: Sequence[Open], *, named: Sequence[date] = (),
             until: date | None = None) -> list[tuple[Open, Decimal]]:
    """How a payment of `amount` splits over the months of `ledger` (pure; the ledger is not changed).

    With `named` months (from the title) the client's contract months among them take what they still lack, in
    order, and the rest goes to the last of them. Otherwise the oldest months up to `until` still unpaid take
    what they lack while the amount covers the whole of it; the rest goes to the next unpaid month (a partial
    payment), or to the last covered month when none is left. An amount covering no month allocates nothing."""
    ordered = sorted(ledger, key=lambda o: (o.month, o.number))
    if named:
        chosen = [o for m in named for o in ordered if o.month == m]
        if chosen:
            return _spread(amount, chosen, partial_last=True)
    candidates = [o for o in ordered if o.remaining > ZERO and (until is None or o.month <= until)]
    return _spread(amount, candidates, partial_last=False)


def _spread(amount: Decimal, months: Sequence[Open], *, partial_last: bool) -> list[tuple[Open, Decimal]]:
    result: list[tuple[Open, Decimal]] = []
    left = amount
    for index, o in enumerate(months):
        if left <= ZERO:
            break
        need = o.remaining
        if need <= left:
            if need > ZERO:
                result.append((o, need))
                left -= need
        elif partial_last or result:
            result.append((o, left))  # a partial payment of the next month
            left = ZERO
            break
        else:
            return []  # not even the oldest unpaid month: for manual assignment
        if index == len(months) - 1 and left > ZERO:
            break
    if left > ZERO and result:
        last, part = result[-1]
        result[-1] = (last, part + left)  # an overpayment stays on the last month it pays
    elif left > ZERO and partial_last and months:
        result.append((months[-1], left))
    return result


# --- Reading the ledger ------------------------------------------------------------------------------------------


async def ledger(session: AsyncSession, *, client_ids: Iterable[int], until: date,
                 scope: Scope = SERVICE_SCOPE) -> dict[int, list[Open]]:
    """Every month (up to `until`) of each client's visible contracts with its gross fee and what is paid."""
    ids = list(set(client_ids))
    if not ids:
        return {}
    rows = (await session.execute(select(contracts.c.id, contracts.c.client_id).where(
        contracts.c.client_id.in_(ids), visible_contracts(scope)))).all()
    contract_ids = [r.id for r in rows]
    owner = {r.id: r.client_id for r in rows}
    if not contract_ids:
        return {}
    starts = await fees.contract_starts(session, contract_ids)
    first = min(starts.values(), default=until)
    months = [first]
    while months[-1] < until:
        months.append(add_months(months[-1], 1))
    result: dict[int, list[Open]] = {}
    for page in await fees.fees_by_month(session=session, months=months, scope=scope, contract_ids=contract_ids):
        for item in page["items"]:
            contract_id = int(item["contract_id"])
            result.setdefault(owner[contract_id], []).append(Open(
                contract_id, item["number"], parse_month(page["month"]), Decimal(item["gross"]),
                Decimal(item["paid"])))
    return result


# --- Storing ---------------------------------------------------------------------------------------------------


class MonthRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    contract_id: int | None = Field(default=None, ge=1)


class PaymentIn(BaseModel):
    """A payment recorded by hand: the client by id or by the counterparty's NIP; the months it pays, or matched."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    paid_on: date
    amount: Decimal = Field(gt=0, le=MAX_AMOUNT, decimal_places=2)
    title: str = Field(default="", max_length=500)
    counterparty_nip: str | None = Field(default=None, max_length=20)
    client_id: int | None = Field(default=None, ge=1)
    months: list[MonthRef] = Field(default_factory=list, max_length=36)


class AssignmentIn(BaseModel):
    """Assign a payment by hand: its client and (optionally) the months it pays; without months, it is matched."""

    model_config = ConfigDict(extra="forbid")

    client_id: int = Field(ge=1)
    months: list[MonthRef] = Field(default_factory=list, max_length=36)


@dataclass
class StatementRow:
    row: int
    paid_on: date
    amount: Decimal
    title: str
    nip: str | None
    client_id: int | None = None
    allocation: list[tuple[Open, Decimal]] = field(default_factory=list)


def parse_statement(text: str) -> tuple[list[StatementRow], list[dict[str, Any]]]:
    """A bank statement CSV → its rows and every problem by row (the header is row 1) and column."""
    body = text.lstrip("\ufeff")
    lines = body.splitlines()
    if not lines:
        return [], [{"row": 1, "field": "", "message": "the file is empty"}]
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=_sniff_delimiter(lines[0]))
    header = [h.strip().lower() for h in next(reader, [])]
    position: dict[str, int] = {}
    for column, names in COLUMN_NAMES.items():
        for index, name in enumerate(header):
            if name in names:
                position.setdefault(column, index)
    missing = [c for c in ("date", "amount", "title", "nip") if c not in position]
    if missing:
        return [], [{"row": 1, "field": "", "message": "the header names the columns date, amount, title, nip "
                     f"(data, kwota, tytuł, nip); missing: {', '.join(missing)}"}]
    rows: list[StatementRow] = []
    errors: list[dict[str, Any]] = []
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if number > MAX_STATEMENT_ROWS + 1:
            errors.append({"row": number, "field": "", "message": f"at most {MAX_STATEMENT_ROWS} rows in one file"})
            break
        if len(cells) < len(header):
            errors.append({"row": number, "field": "", "message": f"{len(header)} cells expected, got {len(cells)}"})
            continue
        before = len(errors)
        paid_on = parse_date(cells[position["date"]])
        if paid_on is None:
            errors.append({"row": number, "field": "date",
                           "message": f"{cells[position['date']].strip()[:40]!r} is not a date (29.11.2026)"})
        amount = parse_amount(cells[position["amount"]])
        if amount is None or amount <= 0 or amount > MAX_AMOUNT:
            errors.append({"row": number, "field": "amount", "message":
                           f"{cells[position['amount']].strip()[:40]!r} is not an amount received (1 273,05)"})
        nip = clean_nip(cells[position["nip"]])
        if nip and not nip_valid(nip):
            errors.append({"row": number, "field": "nip", "message": f"{nip[:20]!r} is not a valid NIP"})
        title = cells[position["title"]].strip()
        if len(title) > 500:
            errors.append({"row": number, "field": "title", "message": "at most 500 characters"})
        if len(errors) == before and paid_on is not None and amount is not None:
            rows.append(StatementRow(number, paid_on, amount.quantize(CENT), title, nip or None))
    return rows, errors


async def _clients_by_nip(session: AsyncSession, nips: Iterable[str], scope: Scope) -> dict[str, int]:
    wanted = {n for n in nips if n}
    if not wanted:
        return {}
    return {r.nip: r.id for r in await session.execute(select(clients.c.id, clients.c.nip).where(
        clients.c.nip.in_(wanted), visible_clients(scope)))}


async def _store(session: AsyncSession, *, paid_on: date, amount: Decimal, title: str, nip: str | None,
                 client_id: int | None, allocation: Sequence[tuple[Open, Decimal]], source: str, batch: str | None,
                 recorded_by: str, now: datetime) -> int:
    payment_id = (await session.execute(insert(payments).values(
        paid_on=paid_on, amount=amount, title=title, counterparty_nip=nip, client_id=client_id, source=source,
        batch=batch, recorded_by=recorded_by, recorded_at=now).returning(payments.c.id))).scalar_one()
    await _allocate_rows(session, payment_id, allocation)
    return int(payment_id)


async def _allocate_rows(session: AsyncSession, payment_id: int, allocation: Sequence[tuple[Open, Decimal]]) -> None:
    merged: dict[tuple[int, date], Decimal] = {}
    for o, part in allocation:
        merged[(o.contract_id, o.month)] = merged.get((o.contract_id, o.month), ZERO) + part
        o.paid += part  # later rows of the same import see it paid
    for (contract_id, month), part in merged.items():
        await session.execute(insert(payment_months).values(payment_id=payment_id, contract_id=contract_id,
                                                            month=month, amount=part))


def _chosen(refs: Sequence[MonthRef], months: Sequence[Open]) -> list[Open]:
    """The ledger months a caller named, or a 422 naming the one the client's contracts do not cover."""
    chosen: list[Open] = []
    for index, ref in enumerate(refs):
        first = parse_month(ref.month)
        found = [o for o in months
                 if o.month == first and (ref.contract_id is None or o.contract_id == ref.contract_id)]
        if not found:
            raise Problem(422, "Invalid input", errors=[{"field": f"months[{index}]", "message":
                                                         f"no contract of the client covers {ref.month}"}])
        chosen.extend(found[:1] if ref.contract_id is None else found)
    return chosen


async def record(session: AsyncSession, *, payment: PaymentIn, recorded_by: str, now: datetime,
                 scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    """Record one payment by hand; matched like an imported row unless the client and months are given."""
    nip = clean_nip(payment.counterparty_nip) if payment.counterparty_nip else None
    if nip and not nip_valid(nip):
        raise Problem(422, "Invalid input", errors=[{"field": "counterparty_nip", "message": "not a valid NIP"}])
    client_id = payment.client_id
    if client_id is not None:
        if (await session.execute(select(clients.c.id).where(clients.c.id == client_id,
                                                             visible_clients(scope)))).first() is None:
            raise NotFound("client", client_id)
    elif nip:
        client_id = (await _clients_by_nip(session, [nip], scope)).get(nip)
    if client_id is None and payment.months:
        raise Problem(422, "Invalid input", errors=[{"field": "client_id", "message": "name the client the months "
                                                     "belong to (client_id or a registered counterparty_nip)"}])
    allocation: list[tuple[Open, Decimal]] = []
    if client_id is not None:
        until = max([payment.paid_on.replace(day=1), *(parse_month(m.month) for m in payment.months)])
        months = (await ledger(session, client_ids=[client_id], until=until, scope=scope)).get(client_id, [])
        if payment.months:
            allocation = _spread(payment.amount, _chosen(payment.months, months), partial_last=True)
        else:
            allocation = allocate(payment.amount, months, named=months_in_title(payment.title),
                                  until=payment.paid_on.replace(day=1))
    payment_id = await _store(session, paid_on=payment.paid_on, amount=payment.amount.quantize(CENT),
                              title=payment.title, nip=nip, client_id=client_id, allocation=allocation,
                              source="manual", batch=None, recorded_by=recorded_by, now=now)
    return await get(session, payment_id=payment_id, scope=scope)


async def import_statement(session: AsyncSession, *, text: str, recorded_by: str, now: datetime,
                           scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    """A bank statement CSV: every row stored and matched, or nothing (a 422 listing every bad row)."""
    rows, errors = parse_statement(text)
    if errors or not rows:
        raise Problem(422, "Import refused", "nothing was recorded", errors=(
            errors or [{"row": 2, "field": "", "message": "no rows"}])[:200])
    rows, duplicates = await _new_rows(session, rows)
    if not rows:
        return {"batch": None, "recorded": 0, "matched": 0, "unassigned": 0, "duplicates": duplicates, "rows": []}
    by_nip = await _clients_by_nip(session, (r.nip or "" for r in rows), scope)
    for r in rows:
        r.client_id = by_nip.get(r.nip or "")
    until = max(r.paid_on for r in rows).replace(day=1)
    named = {m for r in rows for m in months_in_title(r.title)}
    books = await ledger(session, client_ids=[r.client_id for r in rows if r.client_id], until=max([until, *named]),
                         scope=scope)
    batch = str(uuid.uuid4())
    result: list[dict[str, Any]] = []
    for r in sorted(rows, key=lambda r: (r.paid_on, r.row)):
        if r.client_id is not None:
            r.allocation = allocate(r.amount, books.get(r.client_id, []), named=months_in_title(r.title),
                                    until=r.paid_on.replace(day=1))
        payment_id = await _store(session, paid_on=r.paid_on, amount=r.amount, title=r.title, nip=r.nip,
                                  client_id=r.client_id, allocation=r.allocation, source="import", batch=batch,
                                  recorded_by=recorded_by, now=now)
        result.append({"row": r.row, "payment_id": str(payment_id), "client_id": r.client_id and str(r.client_id),
                       "months": [{"contract_id": str(o.contract_id), "number": o.number, "month": month_key(o.month),
                                   "amount": str(part)} for o, part in r.allocation]})
    result.sort(key=lambda x: int(x["row"]))
    unassigned = [x for x in result if not x["months"]]
    return {"batch": batch, "recorded": len(result), "matched": len(result) - len(unassigned),
            "unassigned": len(unassigned), "duplicates": duplicates, "rows": result}


async def _new_rows(session: AsyncSession, rows: list[StatementRow]) -> tuple[list[StatementRow], list[int]]:
    """The rows not recorded before: a statement imported again (or overlapping the last one) records each transfer
    once. A transfer already stored as many times as the file holds it is skipped; its row numbers are returned."""
    seen: dict[tuple[date, Decimal, str, str | None], int] = {}
    stored = await session.execute(
        select(payments.c.paid_on, payments.c.amount, payments.c.title, payments.c.counterparty_nip,
               func.count().label("n"))
        .where(payments.c.source == "import", payments.c.paid_on >= min(r.paid_on for r in rows),
               payments.c.paid_on <= max(r.paid_on for r in rows))
        .group_by(payments.c.paid_on, payments.c.amount, payments.c.title, payments.c.counterparty_nip))
    for p in stored:
        key = (p.paid_on, Decimal(p.amount).quantize(CENT), p.title, p.counterparty_nip)
        seen[key] = seen.get(key, 0) + p.n
    fresh, skipped = [], []
    for r in rows:
        key = (r.paid_on, r.amount, r.title, r.nip)
        if seen.get(key, 0) > 0:
            seen[key] -= 1
            skipped.append(r.row)
        else:
            fresh.append(r)
    return fresh, skipped


async def assign(session: AsyncSession, *, payment_id: int, body: AssignmentIn,
                 scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    """Assign a payment by hand to a client (and months): what it paid before is replaced."""
    row = (await session.execute(select(payments).where(payments.c.id == payment_id, _visible_payment(scope)))).first()
    if row is None:
        raise NotFound("payment", payment_id)
    if (await session.execute(select(clients.c.id).where(clients.c.id == body.client_id,
                                                         visible_clients(scope)))).first() is None:
        raise NotFound("client", body.client_id)
    await session.execute(delete(payment_months).where(payment_months.c.payment_id == payment_id))
    until = max([row.paid_on.replace(day=1), *(parse_month(m.month) for m in body.months)])
    months = (await ledger(session, client_ids=[body.client_id], until=until, scope=scope)).get(body.client_id, [])
    amount = Decimal(row.amount)
    if body.months:
        allocation = _spread(amount, _chosen(body.months, months), partial_last=True)
    else:
        allocation = allocate(amount, months, named=months_in_title(row.title), until=row.paid_on.replace(day=1))
    await session.execute(payments.update().where(payments.c.id == payment_id).values(client_id=body.client_id))
    await _allocate_rows(session, payment_id, allocation)
    return await get(session, payment_id=payment_id, scope=scope)


def _visible_payment(scope: Scope) -> Any:
    """Payments of the clients a scope holds; unmatched ones (no client) only office-wide."""
    if scope.contracts is None:
        return true()
    return payments.c.client_id.in_(select(clients.c.id).where(visible_clients(scope)))


async def get(session: AsyncSession, *, payment_id: int, scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    page = await list_payments(session, scope=scope, payment_id=payment_id)
    if not page["items"]:
        raise NotFound("payment", payment_id)
    item: dict[str, Any] = page["items"][0]
    return item


async def list_payments(session: AsyncSession, *, scope: Scope = SERVICE_SCOPE, client_id: int | None = None,
                        unassigned: bool = False, batch: str | None = None, payment_id: int | None = None,
                        limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Payments newest first, with the months each pays; `unassigned`: those paying no month yet."""
    query = select(payments, clients.c.name.label("client_name")).outerjoin(
        clients, clients.c.id == payments.c.client_id).where(_visible_payment(scope))
    if client_id is not None:
        query = query.where(payments.c.client_id == client_id)
    if batch is not None:
        query = query.where(payments.c.batch == batch)
    if payment_id is not None:
        query = query.where(payments.c.id == payment_id)
    if unassigned:
        query = query.where(~payments.c.id.in_(select(payment_months.c.payment_id)))
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = (await session.execute(query.order_by(payments.c.paid_on.desc(), payments.c.id.desc())
                                  .limit(limit).offset(offset))).all()
    parts: dict[int, list[dict[str, Any]]] = {}
    if rows:
        for p in await session.execute(
                select(payment_months, contracts.c.number)
                .join(contracts, contracts.c.id == payment_months.c.contract_id)
                .where(payment_months.c.payment_id.in_([r.id for r in rows]))
                .order_by(payment_months.c.month, contracts.c.number)):
            parts.setdefault(p.payment_id, []).append({"contract_id": str(p.contract_id), "number": p.number,
                                                       "month": month_key(p.month),
                                                       "amount": str(Decimal(p.amount).quantize(CENT))})
    return {"items": [{"id": str(r.id), "paid_on": r.paid_on.isoformat(),
                       "amount": str(Decimal(r.amount).quantize(CENT)), "title": r.title,
                       "counterparty_nip": r.counterparty_nip, "client_id": r.client_id and str(r.client_id),
                       "client_name": r.client_name, "source": r.source, "batch": r.batch,
                       "recorded_by": r.recorded_by, "recorded_at": r.recorded_at.isoformat(),
                       "months": parts.get(r.id, [])} for r in rows],
            "total": total, "limit": limit, "offset": offset}
