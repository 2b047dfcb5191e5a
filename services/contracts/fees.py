"""A month's fee per contract: the one place that computes it, from the version of the terms in force that month.

The version in force in a month is the newest one effective on the month's first day (an annex from the 1st of
March sets March's fee; one from the 15th sets April's), or, for a contract starting within the month, its first
version. A contract is billed for every month it covers at least one day of (start to end, both included).

A fee with a price per employee or per document needs the month's real counts: documents booked and employees
paid, recorded per contract and month in `billing_inputs` (`record_billing`: the API, or a finished bookkeeping or
payroll case). Until a needed count is recorded, `month_fee` takes the employees from the client's terms in force
and counts no documents above the threshold, and marks the fee `provisional` with that basis.
"""

from __future__ import annotations

import csv
import io
from calendar import monthrange
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.calendar import BusinessCalendar
from services.common.errors import NotFound, Problem
from services.common.money import CENT
from services.common.months import add_months, month_end, month_key
from services.common.scope import SERVICE_SCOPE, Scope
from services.contracts.domain import Fee
from services.contracts.handlers import visible_contracts
from services.contracts.importing import _sniff_delimiter
from services.contracts.models import billing_inputs, clients, contract_versions, contracts, payment_months

MAX_DOCUMENTS = 1_000_000  # documents booked in one month for one client; more is a typo
MAX_EMPLOYEES = 100_000
BILLING_SOURCES = ("api", "case", "csv")
DEFAULT_PAYMENT_DAY = 15  # the fee term `payment_day`: the month's fee is due on this day of the next month


class BillingIn(BaseModel):
    """The month's counts as a caller records them; a count left out (None) keeps what was recorded before."""

    model_config = ConfigDict(extra="forbid")  # a misspelt count is named, not ignored

    documents: int | None = Field(default=None, ge=0, le=MAX_DOCUMENTS, strict=True)
    employees: int | None = Field(default=None, ge=0, le=MAX_EMPLOYEES, strict=True)


@dataclass(frozen=True)
class Version:
    """What `month_fee` reads of one stored version of the terms."""

    version: int
    effective_from: date
    document: dict[str, Any]


def version_in_force(versions: Sequence[Version], first: date) -> Version | None:
    """The version setting the fee of the month starting `first`; None when the contract does not cover it."""
    ordered = sorted(versions, key=lambda v: v.version)
    if not ordered:
        return None
    start = date.fromisoformat(ordered[0].document["start"])
    end_text = ordered[-1].document.get("end")
    end = date.fromisoformat(end_text) if end_text else None
    if start > month_end(first) or (end is not None and end < first):
        return None
    on = max(first, start)
    effective = [v for v in ordered if v.effective_from <= on]
    return effective[-1] if effective else ordered[0]


def month_fee(version: Version, client_profile: dict[str, Any], *, employees: int | None = None,
              documents: int | None = None) -> dict[str, Any]:
    """The fee of one month under `version`: net, VAT and gross (strings of PLN to the grosz) with the parts.
    Unknown counts (None: not recorded) a price depends on make it `provisional`, and `basis` says what was
    assumed."""
    fee = Fee.model_validate(version.document["fee"])
    profile = version.document.get("tax_profile") or client_profile
    basis: list[str] = []
    if employees is None:
        employees = int(profile.get("employees") or 0)
        if fee.per_employee is not None:
            basis.append(f"employees: {employees} from the client's terms")
    if documents is None:
        documents = 0
        if fee.per_document is not None:
            basis.append("documents: not yet counted, none above the threshold assumed")
    parts = fee.breakdown(employees=employees, documents=documents)
    return {
        "version": version.version,
        "base": str(parts.base),
        "employees_part": str(parts.employees),
        "documents_part": str(parts.documents),
        "net": str(parts.net),
        "vat_rate": str(fee.vat_rate),
        "vat": str(parts.vat),
        "gross": str(parts.gross),
        "employees": employees,
        "documents": documents,
        "provisional": bool(basis),
        "basis": basis,
    }


async def fees(*, session: AsyncSession, month: date, scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    """Every contract within `scope` covering `month` with that month's fee, by contract number."""
    return (await fees_by_month(session=session, months=[month], scope=scope))[0]


CALENDAR = BusinessCalendar()  # statutory holidays: a payment day on a free day moves to the next business day


def payment_due(month: date, payment_day: int = DEFAULT_PAYMENT_DAY) -> date:
    """The day a month's fee is due: day `payment_day` of the next month (its last day when the month is shorter),
    moved to the next business day when it falls on a Saturday, Sunday or holiday (art. 115 of the Civil Code)."""
    following = add_months(month, 1)
    return CALENDAR.shift(following.replace(day=min(payment_day, monthrange(following.year, following.month)[1])))


async def contract_starts(session: AsyncSession, contract_ids: Sequence[int]) -> dict[int, date]:
    """Each contract's first day (its first version's `start`)."""
    starts: dict[int, date] = {}
    for v in await session.execute(
            select(contract_versions.c.contract_id, contract_versions.c.document)
            .where(contract_versions.c.contract_id.in_(list(contract_ids)), contract_versions.c.version == 1)):
        starts[v.contract_id] = date.fromisoformat(v.document["start"]).replace(day=1)
    return starts


async def fees_by_month(*, session: AsyncSession, months: Sequence[date], scope: Scope = SERVICE_SCOPE,
                        contract_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """`fees` for each of `months` (first days), the contracts and their versions read once; each fee with what
    the client paid of it (`paid`, `outstanding`) and the day it is due (`payment_due`)."""
    query = (select(contracts.c.id, contracts.c.number, contracts.c.client_id, clients.c.name, clients.c.data)
             .join(clients, clients.c.id == contracts.c.client_id).where(visible_contracts(scope))
             .order_by(contracts.c.number))
    if contract_ids is not None:
        query = query.where(contracts.c.id.in_(list(contract_ids)))
    rows = (await session.execute(query)).all()
    versions: dict[int, list[Version]] = {}
    counts: dict[tuple[int, date], Any] = {}
    paid: dict[tuple[int, date], Decimal] = {}
    ids = [r.id for r in rows]
    if ids:
        for v in await session.execute(
                select(contract_versions.c.contract_id, contract_versions.c.version,
                       contract_versions.c.effective_from, contract_versions.c.document)
                .where(contract_versions.c.contract_id.in_(ids))):
            versions.setdefault(v.contract_id, []).append(Version(v.version, v.effective_from, v.document))
        for b in await session.execute(
                select(billing_inputs).where(billing_inputs.c.contract_id.in_(ids),
                                             billing_inputs.c.month.in_(list(months)))):
            counts[(b.contract_id, b.month)] = b
        for p in await session.execute(
                select(payment_months.c.contract_id, payment_months.c.month,
                       func.sum(payment_months.c.amount).label("paid"))
                .where(payment_months.c.contract_id.in_(ids), payment_months.c.month.in_(list(months)))
                .group_by(payment_months.c.contract_id, payment_months.c.month)):
            paid[(p.contract_id, p.month)] = Decimal(p.paid).quantize(CENT)
    result = []
    for month in months:
        items = []
        for row in rows:
            version = version_in_force(versions.get(row.id, []), month)
            if version is None:
                continue
            recorded = counts.get((row.id, month))
            fee = month_fee(version, (row.data or {}).get("tax_profile") or {},
                            employees=recorded.employees if recorded else None,
                            documents=recorded.documents if recorded else None)
            settled = paid.get((row.id, month), Decimal("0.00"))
            day = int(version.document["fee"].get("payment_day") or DEFAULT_PAYMENT_DAY)
            items.append({"contract_id": str(row.id), "number": row.number, "client_id": str(row.client_id),
                          "client_name": row.name, **fee, "paid": str(settled),
                          "outstanding": str(max(Decimal(fee["gross"]) - settled, Decimal("0.00"))),
                          "payment_due": payment_due(month, day).isoformat()})
        result.append({"month": month_key(month), "items": items})
    return result


async def record_billing(*, session: AsyncSession, contract_id: int, month: date, counts: BillingIn,
                         recorded_by: str, now: datetime, source: str = "api",
                         scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    """Record the month's documents and/or employees of a contract (a count left out stays as recorded) and
    return the month's recorded counts with the fee they give. The month must be one the contract covers."""
    if source not in BILLING_SOURCES:
        raise ValueError(f"source is one of {BILLING_SOURCES}, got {source!r}")
    if counts.documents is None and counts.employees is None:
        raise Problem(422, "Invalid input", errors=[{"field": "body", "message": "give documents or employees"}])
    found = (await session.execute(select(contracts.c.id).where(
        contracts.c.id == contract_id, visible_contracts(scope)))).first()
    if found is None:
        raise NotFound("contract", contract_id)
    stored = [Version(v.version, v.effective_from, v.document) for v in await session.execute(
        select(contract_versions.c.version, contract_versions.c.effective_from, contract_versions.c.document)
        .where(contract_versions.c.contract_id == contract_id))]
    if version_in_force(stored, month) is None:
        raise Problem(422, "Invalid input", errors=[{"field": "month", "message":
                                                     f"the contract does not cover {month_key(month)}"}])
    await _store(session=session, contract_id=contract_id, month=month, counts=counts, recorded_by=recorded_by,
                 now=now, source=source)
    return await billing_of(session=session, contract_id=contract_id, month=month, scope=scope)


async def _store(*, session: AsyncSession, contract_id: int, month: date, counts: BillingIn, recorded_by: str,
                 now: datetime, source: str) -> None:
    changed: dict[str, Any] = {k: v for k, v in (("documents", counts.documents), ("employees", counts.employees))
                               if v is not None}
    changed |= {"recorded_by": recorded_by, "recorded_at": now, "source": source}
    mine = (billing_inputs.c.contract_id == contract_id) & (billing_inputs.c.month == month)
    if (await session.execute(select(billing_inputs.c.month).where(mine).with_for_update())).first() is None:
        await session.execute(insert(billing_inputs).values(contract_id=contract_id, month=month, **changed))
    else:
        await session.execute(update(billing_inputs).where(mine).values(**changed))


async def billing_of(*, session: AsyncSession, contract_id: int, month: date,
                     scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    """The month's recorded counts of a contract (None where not recorded) and its fee for that month."""
    page = (await fees_by_month(session=session, months=[month], scope=scope))[0]
    fee = next((i for i in page["items"] if i["contract_id"] == str(contract_id)), None)
    if fee is None:
        raise NotFound("contract", contract_id)
    row = (await session.execute(select(billing_inputs).where(
        billing_inputs.c.contract_id == contract_id, billing_inputs.c.month == month))).first()
    return {"contract_id": str(contract_id), "month": month_key(month),
            "documents": row.documents if row else None, "employees": row.employees if row else None,
            "recorded_by": row.recorded_by if row else None,
            "recorded_at": row.recorded_at.isoformat() if row else None,
            "source": row.source if row else None, "fee": fee}


BILLING_COLUMNS = ("contract_number", "documents", "employees")
MAX_BILLING_ROWS = 5000


async def import_billing(*, session: AsyncSession, month: date, text: str, recorded_by: str, now: datetime,
                         scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    """A month's CSV (`contract_number,documents,employees`; a blank count is not given): every row recorded
    (source `csv`), or nothing — a 422 listing every bad cell by row (the header is row 1) and column."""
    lines = text.lstrip("\ufeff").splitlines()
    delimiter = _sniff_delimiter(lines[0]) if lines else ","
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    errors: list[dict[str, Any]] = []
    header = [h.strip().lower() for h in next(reader, [])]
    unknown = [h for h in header if h not in BILLING_COLUMNS]
    if "contract_number" not in header or not {"documents", "employees"} & set(header) or unknown:
        raise Problem(422, "Import refused", "nothing was recorded", errors=[{
            "row": 1, "field": "", "message": "the header is contract_number,documents,employees"
            + (f" (unknown: {', '.join(unknown)[:200]})" if unknown else "")}])
    rows: list[tuple[int, str, BillingIn]] = []
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(rows) >= MAX_BILLING_ROWS:
            raise Problem(422, "Import refused", "nothing was recorded", errors=[
                {"row": number, "field": "", "message": f"at most {MAX_BILLING_ROWS} rows in one file"}])
        if len(cells) != len(header):
            errors.append({"row": number, "field": "", "message": f"{len(header)} cells expected, got {len(cells)}"})
            continue
        row = dict(zip(header, (c.strip() for c in cells), strict=True))
        values: dict[str, int | None] = {}
        for field, most in (("documents", MAX_DOCUMENTS), ("employees", MAX_EMPLOYEES)):
            cell = row.get(field, "")
            if not cell:
                values[field] = None
            elif not cell.isdigit() or int(cell) > most:
                errors.append({"row": number, "field": field, "message": f"a whole number from 0 to {most}"})
            else:
                values[field] = int(cell)
        if not row["contract_number"]:
            errors.append({"row": number, "field": "contract_number", "message": "required"})
        elif len(values) == 2 and values["documents"] is None and values["employees"] is None:
            errors.append({"row": number, "field": "", "message": "give documents or employees"})
        elif len(values) == 2:
            rows.append((number, row["contract_number"], BillingIn(**values)))
    found = {r.number: r.id for r in await session.execute(select(contracts.c.id, contracts.c.number).where(
        contracts.c.number.in_({n for _, n, _ in rows}), visible_contracts(scope)))} if rows else {}
    stored: dict[int, list[Version]] = {}
    if found:
        for v in await session.execute(
                select(contract_versions.c.contract_id, contract_versions.c.version,
                       contract_versions.c.effective_from, contract_versions.c.document)
                .where(contract_versions.c.contract_id.in_(list(found.values())))):
            stored.setdefault(v.contract_id, []).append(Version(v.version, v.effective_from, v.document))
    seen: dict[str, int] = {}
    for number, contract_number, _ in rows:
        if contract_number in seen:
            errors.append({"row": number, "field": "contract_number",
                           "message": f"{contract_number[:64]} is on row {seen[contract_number]} already"})
        elif contract_number not in found:
            errors.append({"row": number, "field": "contract_number", "message": f"no contract {contract_number[:64]}"})
        elif version_in_force(stored.get(found[contract_number], []), month) is None:
            errors.append({"row": number, "field": "contract_number",
                           "message": f"the contract does not cover {month_key(month)}"})
        seen.setdefault(contract_number, number)
    if errors or not rows:
        raise Problem(422, "Import refused", "nothing was recorded", errors=sorted(
            errors or [{"row": 2, "field": "", "message": "no rows"}], key=lambda e: (e["row"], e["field"]))[:200])
    for _, contract_number, counts in rows:
        await _store(session=session, contract_id=found[contract_number], month=month, counts=counts,
                     recorded_by=recorded_by, now=now, source="csv")
    return {"month": month_key(month), "recorded": len(rows)}
