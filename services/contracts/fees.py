"""A month's fee per contract: the one place that computes it, from the version of the terms in force that month.

The version in force in a month is the newest one effective on the month's first day (an annex from the 1st of
March sets March's fee; one from the 15th sets April's), or, for a contract starting within the month, its first
version. A contract is billed for every month it covers at least one day of (start to end, both included).

A fee with a price per employee or per document needs the month's real counts. Until the cases service reports
them (the month's counts of the payroll and bookkeeping cases), `month_fee` takes the employees from the client's
terms in force and counts no documents above the threshold, and marks the fee `provisional` with that basis;
callers that know the counts pass `employees` and `documents`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.months import month_end, month_key
from services.common.scope import SERVICE_SCOPE, Scope
from services.contracts.domain import Fee
from services.contracts.handlers import visible_contracts
from services.contracts.models import clients, contract_versions, contracts


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
    Unknown counts a price depends on make it `provisional`, and `basis` says what was assumed."""
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


async def fees_by_month(*, session: AsyncSession, months: Sequence[date],
                        scope: Scope = SERVICE_SCOPE) -> list[dict[str, Any]]:
    """`fees` for each of `months` (first days), the contracts and their versions read once."""
    rows = (await session.execute(
        select(contracts.c.id, contracts.c.number, contracts.c.client_id, clients.c.name, clients.c.data)
        .join(clients, clients.c.id == contracts.c.client_id).where(visible_contracts(scope))
        .order_by(contracts.c.number))).all()
    versions: dict[int, list[Version]] = {}
    ids = [r.id for r in rows]
    if ids:
        for v in await session.execute(
                select(contract_versions.c.contract_id, contract_versions.c.version,
                       contract_versions.c.effective_from, contract_versions.c.document)
                .where(contract_versions.c.contract_id.in_(ids))):
            versions.setdefault(v.contract_id, []).append(Version(v.version, v.effective_from, v.document))
    result = []
    for month in months:
        items = []
        for row in rows:
            version = version_in_force(versions.get(row.id, []), month)
            if version is None:
                continue
            items.append({"contract_id": str(row.id), "number": row.number, "client_id": str(row.client_id),
                          "client_name": row.name,
                          **month_fee(version, (row.data or {}).get("tax_profile") or {})})
        result.append({"month": month_key(month), "items": items})
    return result
