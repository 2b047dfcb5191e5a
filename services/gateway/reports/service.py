"""Reports as the caller may see them: each service computes its aggregates in SQL within the caller's scope
(`scope=caller.scope` on every call), and this module composes them.

- `financial`: the monthly financial summary, per contract and for the office, for the 12 months ending with the
  chosen one: the month's fee (contracts: base, per document above the threshold, per employee, net, VAT, gross,
  provisional marked while a needed count of the month is not recorded) with what the client paid of it, what is
  outstanding and whether it is overdue (past its payment day), and the list of overdue fees; liabilities
  notified that month by kind with the share confirmed, notices sent and confirmed (notifier), cases done (cases).
- `execution`: contract execution per contract and month (cases).
- `overdue`: overdue cases now, by person, by client and by contract (cases); the client's tasks awaited past their
  due date apart (`client_tasks`).
- `workload`: open cases per person per ISO week for the next 8 weeks (cases), with the absences of each week
  (the gateway's `absences`, mirrored from the cases service).
Money travels as strings of PLN to the grosz (JSON has no decimal), computed as Decimal.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.months import add_months, month_key, months, parse_month
from services.gateway.clients import ServiceClients
from services.gateway.models import absences
from services.gateway.permissions import Caller

LIABILITY_KINDS = ("vat", "pit", "cit", "zus", "ppk", "pfron")
KIND_PL = {"vat": "VAT", "pit": "PIT", "cit": "CIT", "zus": "ZUS", "ppk": "PPK", "pfron": "PFRON"}
SUMMARY_MONTHS = 12
# What a contract's month row shows of its fee: the total, and the breakdown from the month's recorded counts.
FEE_KEYS = ("net", "vat", "gross", "vat_rate", "provisional", "basis", "version", "base", "documents_part",
            "employees_part", "documents", "employees", "paid", "outstanding", "payment_due")
ZERO = Decimal("0.00")


def chosen_month(month: str | None, today: date) -> date:
    return parse_month(month) if month else today.replace(day=1)


def _share(part: int, whole: int) -> str | None:
    """A fraction with four decimals ("0.6667"), None when there is nothing to share."""
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))) if whole else None


def _empty_row(contract_id: str | None, month: str) -> dict[str, Any]:
    return {"contract_id": contract_id, "number": "", "client_name": "", "month": month, "fee": None,
            "liabilities": {}, "liabilities_amount": "0.00", "liabilities_count": 0, "confirmed_count": 0,
            "confirmed_share": None, "notices_sent": 0, "notices_confirmed": 0, "cases_done": 0,
            "done_on_time": 0, "done_late": 0}


async def financial(*, svc: ServiceClients, caller: Caller, month: date, today: date) -> dict[str, Any]:
    """The financial summary of `month` and the 11 months before it, per contract and for the office: with each
    month's fee what the client paid of it and, past its payment day (`today`), what is overdue."""
    covered = months(add_months(month, 1 - SUMMARY_MONTHS), month)
    span = {"from": covered[0], "to": covered[-1]}
    fee_months, execution_page, notified = await asyncio.gather(
        svc.call("contracts", "GET", "/fees/months", scope=caller.scope, params=span),
        svc.call("cases", "GET", "/reports/execution", scope=caller.scope, params=span),
        svc.call("notifier", "GET", "/reports/notified", scope=caller.scope, params=span),
    )
    rows: dict[tuple[str | None, str], dict[str, Any]] = {}
    names: dict[str | None, tuple[str, str]] = {}

    def row(contract_id: str | None, m: str) -> dict[str, Any]:
        return rows.setdefault((contract_id, m), _empty_row(contract_id, m))

    for page in fee_months["months"]:
        for fee in page["items"]:
            names[fee["contract_id"]] = (fee["number"], fee["client_name"])
            shown = {k: fee[k] for k in FEE_KEYS}
            shown["overdue"] = (Decimal(fee["outstanding"]) > ZERO
                                and date.fromisoformat(fee["payment_due"]) < today)
            row(fee["contract_id"], page["month"])["fee"] = shown
    for item in execution_page["items"]:
        names.setdefault(item["contract_id"], (item["number"], item["client_name"]))
        r = row(item["contract_id"], item["month"])
        r.update(done_on_time=item["done_on_time"], done_late=item["done_late"],
                 cases_done=item["done_on_time"] + item["done_late"])
    for sent in notified["notices"]:
        r = row(sent["contract_id"], sent["month"])
        r.update(notices_sent=sent["sent"], notices_confirmed=sent["confirmed"])
    for liability in notified["liabilities"]:
        r = row(liability["contract_id"], liability["month"])
        r["liabilities"][liability["kind"]] = {k: liability[k] for k in
                                              ("count", "amount", "confirmed_count", "confirmed_amount")}
        r["liabilities_amount"] = str(Decimal(r["liabilities_amount"]) + Decimal(liability["amount"]))
        r["liabilities_count"] += liability["count"]
        r["confirmed_count"] += liability["confirmed_count"]
    for (contract_id, _), r in rows.items():
        r["number"], r["client_name"] = names.get(contract_id, ("", ""))
        r["confirmed_share"] = _share(r["confirmed_count"], r["liabilities_count"])
    ordered = sorted(rows.values(), key=lambda r: (r["month"], r["number"], r["contract_id"] or ""))
    office = [_office_month(m, [r for r in ordered if r["month"] == m]) for m in covered]
    overdue_fees = [{"month": r["month"], "contract_id": r["contract_id"], "number": r["number"],
                     "client_name": r["client_name"], "gross": r["fee"]["gross"], "paid": r["fee"]["paid"],
                     "outstanding": r["fee"]["outstanding"], "payment_due": r["fee"]["payment_due"],
                     "days_late": (today - date.fromisoformat(r["fee"]["payment_due"])).days}
                    for r in ordered if r["fee"] and r["fee"]["overdue"]]
    return {"month": month_key(month), "months": covered, "kinds": list(LIABILITY_KINDS),
            "contracts": [r for r in ordered if r["month"] == month_key(month)], "history": ordered,
            "office": office, "overdue_fees": sorted(overdue_fees, key=lambda o: (o["payment_due"], o["number"]))}


def _office_month(month: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The office's total of one month: every visible contract's row summed."""
    fees = [r["fee"] for r in rows if r["fee"]]
    liabilities: dict[str, dict[str, Any]] = {}
    for r in rows:
        for kind, value in r["liabilities"].items():
            total = liabilities.setdefault(kind, {"count": 0, "amount": "0.00", "confirmed_count": 0,
                                                  "confirmed_amount": "0.00"})
            total["count"] += value["count"]
            total["confirmed_count"] += value["confirmed_count"]
            total["amount"] = str(Decimal(total["amount"]) + Decimal(value["amount"]))
            total["confirmed_amount"] = str(Decimal(total["confirmed_amount"]) + Decimal(value["confirmed_amount"]))
    count = sum(r["liabilities_count"] for r in rows)
    confirmed = sum(r["confirmed_count"] for r in rows)
    return {
        "month": month, "contracts": len(fees),
        "fee": {part: str(sum((Decimal(f[part]) for f in fees), ZERO))
                for part in ("net", "vat", "gross", "paid", "outstanding")}
        | {"provisional": any(f["provisional"] for f in fees),
           "overdue": str(sum((Decimal(f["outstanding"]) for f in fees if f["overdue"]), ZERO))},
        "liabilities": liabilities,
        "liabilities_amount": str(sum((Decimal(r["liabilities_amount"]) for r in rows), ZERO)),
        "liabilities_count": count, "confirmed_count": confirmed, "confirmed_share": _share(confirmed, count),
        "notices_sent": sum(r["notices_sent"] for r in rows),
        "notices_confirmed": sum(r["notices_confirmed"] for r in rows),
        "cases_done": sum(r["cases_done"] for r in rows), "done_on_time": sum(r["done_on_time"] for r in rows),
        "done_late": sum(r["done_late"] for r in rows),
    }


async def execution(*, svc: ServiceClients, caller: Caller, first: str | None, last: str | None) -> dict[str, Any]:
    """Per contract and month of due date: due, done on time, done late, overdue, not applicable, still open."""
    page: dict[str, Any] = await svc.call("cases", "GET", "/reports/execution", scope=caller.scope,
                                          params={"from": first, "to": last})
    return page


async def overdue(*, svc: ServiceClients, caller: Caller) -> dict[str, Any]:
    """Overdue cases now: the total, by assignee, by client and by contract (most first)."""
    page: dict[str, Any] = await svc.call("cases", "GET", "/reports/overdue", scope=caller.scope)
    return page


async def workload(*, svc: ServiceClients, caller: Caller, session: AsyncSession) -> dict[str, Any]:
    """Open cases per person per week (this ISO week and the next seven) and, per person and week, their
    absences (days absent, substitute)."""
    page: dict[str, Any] = await svc.call("cases", "GET", "/reports/workload", scope=caller.scope)
    starts = [date.fromisoformat(w["start"]) for w in page["weeks"]]
    end = starts[-1] + timedelta(days=6)
    query = select(absences).where(absences.c.cancelled.is_(False), absences.c.starts_on <= end,
                                   absences.c.ends_on >= starts[0]).order_by(absences.c.starts_on)
    by_login: dict[str, list[Any]] = {}
    for a in await session.execute(query):
        by_login.setdefault(a.login, []).append(a)
    people = {p["login"]: p for p in page["people"]}
    for login in by_login:
        if login not in people and caller.scope.unrestricted:
            people[login] = {"login": login, "name": login, "weeks": [0] * len(starts), "overdue": 0,
                             "client_open": 0, "client_overdue": 0}
    for person in people.values():
        person["absences"] = [_absent_in(by_login.get(person["login"] or "", []), monday) for monday in starts]
    page["people"] = list(people.values())
    return page


def _absent_in(rows: list[Any], monday: date) -> dict[str, Any] | None:
    """Working days (Mon–Fri) of the week starting `monday` the person is absent, with the substitutes."""
    days, substitutes = 0, set()
    for a in rows:
        first, last = max(a.starts_on, monday), min(a.ends_on, monday + timedelta(days=4))
        if first <= last:
            days += (last - first).days + 1
            if a.substitute:
                substitutes.add(a.substitute)
    return {"days": min(days, 5), "substitutes": sorted(substitutes)} if days else None


# --- The dashboard -------------------------------------------------------------------------------------------

WORST = 5
WAITING_SHOWN = 10


async def dashboard(*, svc: ServiceClients, caller: Caller, with_office: bool) -> dict[str, Any]:
    """What a person sees first: their own cases due today, this week and overdue; notices waiting for the
    client's confirmation on the contracts they see; for managers the office's overdue count and worst contracts."""
    calls = [svc.call("cases", "GET", "/reports/mine", scope=caller.scope, params={"login": caller.login}),
             svc.call("notifier", "GET", "/notices", scope=caller.scope,
                      params={"status": "issued", "limit": WAITING_SHOWN})]
    if with_office:
        calls.append(svc.call("cases", "GET", "/reports/overdue", scope=caller.scope))
    answers = await asyncio.gather(*calls)
    waiting = [n for n in answers[1]["items"] if n.get("requires_confirmation", True)]
    result: dict[str, Any] = {"mine": answers[0], "waiting": waiting, "waiting_total": answers[1]["total"]}
    if with_office:
        result["office"] = {"overdue": answers[2]["total"], "worst": answers[2]["by_contract"][:WORST]}
    return result
