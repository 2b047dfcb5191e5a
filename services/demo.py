"""Demo data for a first run: a few staff, clients and contracts entered through the public API, and the past work
recorded through the cases service on the days it was done."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.cases import duties, lifecycle
from services.cases.models import case_history, cases
from services.common.calendar import BusinessCalendar, Shift
from services.common.clock import WARSAW, Clock, ManualClock, local_date
from services.common.money import CENT
from services.common.months import add_months
from services.common.runtime import ServiceContext
from services.common.scope import SERVICE_SCOPE
from services.contracts import fee_reminders
from services.contracts.fees import payment_due
from services.gateway import users
from services.notifier import domain
from services.notifier.models import case_completions, mails, notice_events, notice_items, notice_recipients, notices
from services.notifier.notices import by_token, confirm, issue, record_opening, send_after
from services.scheduler.models import occurrences
from services.system import EmbeddedSystem

DEMO_PASSWORD = "demo"
STAFF = (
    ("admin", "Administrator Biura", "admin@biuro.example", "admin"),
    ("maria", "Maria Kierownik", "maria@biuro.example", "manager"),
    ("anna", "Anna Nowak", "anna@biuro.example", "accountant"),
    ("kasia", "Katarzyna Wiśniewska", "kasia@biuro.example", "accountant"),
    ("piotr", "Piotr Kadrowy", "piotr@biuro.example", "payroll"),
)


def _nip(first9: str) -> str:
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    check = sum(int(d) * w for d, w in zip(first9, weights, strict=True)) % 11
    if check == 10:
        raise ValueError(first9)
    return first9 + str(check)


def _regon(first8: str) -> str:
    weights = (8, 9, 2, 3, 4, 5, 6, 7)
    return first8 + str(sum(int(d) * w for d, w in zip(first8, weights, strict=True)) % 11 % 10)


def _pesel(first10: str) -> str:
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    return first10 + str((10 - sum(int(d) * w for d, w in zip(first10, weights, strict=True)) % 10) % 10)


# A realistic small office: every legal form, the tax profiles that go with it, two accountants (one of them away
# this week, see `load_demo`), a payroll specialist and a manager. (name, legal form, profile, services, fee net,
# accountant); identifiers are made valid from a seed.
_OFFICE: tuple[tuple[str, str, dict[str, Any], tuple[str, ...], str, str], ...] = (
    ("Jan Kowalski Usługi Remontowe", "sole_trader", {"books": "kpir", "income_tax": "pit_flat", "vat": "monthly",
     "employees": 2}, ("bookkeeping", "vat", "income_tax", "payroll", "zus"), "900.00", "anna"),
    ("Ewa Zielińska Projektowanie Wnętrz", "sole_trader", {"books": "revenue_records", "income_tax": "pit_ryczalt",
     "income_tax_advances": "quarterly", "vat": "quarterly"}, ("bookkeeping", "vat", "income_tax", "zus",
                                                                 "owner_annual_return"), "350.00", "anna"),
    ("Tomasz Wójcik Transport", "sole_trader", {"books": "kpir", "income_tax": "pit_scale", "vat": "monthly",
     "vat_eu": True}, ("bookkeeping", "vat", "income_tax", "zus", "owner_annual_return"), "550.00", "kasia"),
    ("Gabinet Stomatologiczny Anna Lewandowska", "sole_trader", {"books": "kpir", "income_tax": "pit_flat",
     "vat": "none", "employees": 3}, ("bookkeeping", "income_tax", "payroll", "zus"), "700.00", "kasia"),
    ("Michał Dąbrowski Programowanie", "sole_trader", {"books": "revenue_records", "income_tax": "pit_ryczalt",
     "vat": "monthly"}, ("bookkeeping", "vat", "income_tax", "zus", "owner_annual_return"), "300.00", "anna"),
    ("Piekarnia Kamińscy s.c.", "civil_partnership", {"books": "kpir", "income_tax": "pit_scale", "vat": "monthly",
     "employees": 6}, ("bookkeeping", "vat", "payroll", "zus"), "1100.00", "anna"),
    ("Auto-Serwis Nowak i Syn s.c.", "civil_partnership", {"books": "kpir", "income_tax": "pit_flat",
     "vat": "monthly", "employees": 4}, ("bookkeeping", "vat", "payroll", "zus"), "950.00", "kasia"),
    ("Kancelaria Radców Prawnych Mazur i Wspólnicy sp.p.", "professional_partnership",
     {"books": "full", "income_tax": "pit_flat", "vat": "monthly", "employees": 5},
     ("bookkeeping", "vat", "payroll", "zus"), "1800.00", "anna"),
    ("Hurtownia Elektryczna Wolski sp.j.", "general_partnership", {"books": "full", "income_tax": "pit_flat",
     "vat": "monthly", "vat_eu": True, "employees": 9}, ("bookkeeping", "vat", "payroll", "zus"), "2100.00", "anna"),
    ("Ogrody Krawczyk sp.k.", "limited_partnership", {"books": "full", "income_tax": "cit", "vat": "monthly",
     "employees": 7}, ("bookkeeping", "vat", "income_tax", "payroll", "zus", "annual_statements"), "2300.00",
     "kasia"),
    ("Mostostal Północ sp. z o.o.", "llc", {"books": "full", "income_tax": "cit", "vat": "monthly", "vat_eu": True,
     "employees": 12, "ppk": True}, ("bookkeeping", "vat", "income_tax", "payroll", "zus", "annual_statements"),
     "2400.00", "anna"),
    ("Zielony Taras sp. z o.o.", "llc", {"books": "full", "income_tax": "cit", "vat": "monthly", "employees": 15,
     "ppk": True}, ("bookkeeping", "vat", "income_tax", "payroll", "zus", "annual_statements"), "2600.00", "anna"),
    ("Softwarehouse Bałtyk sp. z o.o.", "llc", {"books": "full", "income_tax": "cit_estonian", "vat": "monthly",
     "vat_eu": True}, ("bookkeeping", "vat", "income_tax", "annual_statements"), "1500.00", "kasia"),
    ("Agro-Pol Lubelszczyzna sp. z o.o.", "llc", {"books": "full", "income_tax": "cit", "vat": "monthly",
     "fiscal_year_end": "06-30", "employees": 22, "ppk": True, "intrastat": True},
     ("bookkeeping", "vat", "income_tax", "payroll", "zus", "annual_statements"), "3900.00", "anna"),
    ("Meble Kowalczyk sp. z o.o.", "llc", {"books": "full", "income_tax": "cit", "vat": "monthly",
     "fiscal_year_end": "03-31", "employees": 30, "ppk": True, "pfron": True},
     ("bookkeeping", "vat", "income_tax", "payroll", "zus", "annual_statements"), "4200.00", "kasia"),
    ("Startup Chmura P.S.A.", "simple_joint_stock", {"books": "full", "income_tax": "cit", "vat": "quarterly"},
     ("bookkeeping", "vat", "income_tax", "annual_statements"), "1200.00", "anna"),
    ("Polskie Konstrukcje S.A.", "joint_stock", {"books": "full", "income_tax": "cit", "vat": "monthly",
     "vat_eu": True, "employees": 48, "ppk": True, "pfron": True},
     ("bookkeeping", "vat", "income_tax", "payroll", "zus", "annual_statements"), "7800.00", "anna"),
    ("Fundacja Dzieciom z Pasją", "foundation", {"books": "full", "income_tax": "cit", "vat": "none",
     "employees": 2}, ("bookkeeping", "income_tax", "payroll", "zus", "annual_statements"), "600.00", "kasia"),
    ("Stowarzyszenie Miłośników Mazur", "association", {"books": "full", "income_tax": "cit", "vat": "none"},
     ("bookkeeping", "income_tax", "annual_statements"), "400.00", "anna"),
    ("Kwiaciarnia Różana Katarzyna Pawlak", "sole_trader", {"books": "revenue_records",
     "income_tax": "pit_ryczalt", "vat": "monthly", "employees": 1}, ("bookkeeping", "vat", "income_tax", "payroll",
                                                                      "zus"), "450.00", "anna"),
    ("Fotografia Ślubna Marek Zając", "sole_trader", {"books": "revenue_records", "income_tax": "pit_ryczalt",
     "income_tax_advances": "quarterly", "vat": "none"}, ("bookkeeping", "income_tax", "zus",
                                                          "owner_annual_return"), "250.00", "kasia"),
    ("Biuro Podróży Horyzont sp. z o.o.", "llc", {"books": "full", "income_tax": "cit", "vat": "monthly",
     "employees": 6}, ("bookkeeping", "vat", "income_tax", "payroll", "zus", "annual_statements"), "2000.00",
     "anna"),
)


def demo_clients(start: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(client, contract) pairs of the demo office; contracts start on `start` (ISO date)."""
    cities = (("ul. Marszałkowska 1", "00-624", "Warszawa"), ("ul. Piotrkowska 104", "90-926", "Łódź"),
              ("ul. Długa 12", "80-827", "Gdańsk"), ("ul. Floriańska 3", "31-019", "Kraków"),
              ("ul. Świdnicka 8", "50-067", "Wrocław"), ("ul. Półwiejska 2", "61-888", "Poznań"))
    pairs = []
    for n, (name, form, profile, services, fee, accountant) in enumerate(_OFFICE):
        street, postal_code, city = cities[n % len(cities)]
        seed = f"{5261 + n * 37:04d}{n * 7919 % 100000:05d}"
        while True:
            try:
                nip = _nip(seed)
                break
            except ValueError:
                seed = f"{int(seed) + 1:09d}"
        domain = re.sub(r"[^a-z]", "", name.split()[0].lower().translate(_ASCII)) or "klient"
        client: dict[str, Any] = {
            "name": name, "nip": nip, "regon": _regon(f"{14 + n:02d}{n * 4111 % 1000000:06d}"),
            "address": {"street": street, "postal_code": postal_code, "city": city},
            "contact_emails": [f"biuro@{domain}.example"],
            "tax_profile": {"legal_form": form, "income_tax_advances": "monthly", "employees": 0, **profile},
        }
        if form == "sole_trader":
            client["pesel"] = _pesel(f"{70 + n % 25:02d}{1 + n % 12:02d}{10 + n % 18:02d}{1234 + n:04d}")
        elif form not in ("civil_partnership",):
            client["krs"] = f"{100000 + n * 2741:010d}"
        team = {"accountant": accountant, "manager": "maria"}
        if "payroll" in services:
            team["payroll"] = "piotr"
        contract = {"number": f"BR/{start[:4]}/{n + 1:03d}", "services": list(services), "team": team,
                    "fee_net": fee}
        if n in CLIENT_DUTIES:  # the client's duties: documents for the month by day 8 or 10 of the next one
            contract["client_duties"] = CLIENT_DUTIES[n]
        pairs.append((client, contract))
    return pairs


_ASCII = str.maketrans("ąćęłńóśźż", "acelnoszz")
# Contracts (by position in _OFFICE) whose terms set the client's duties.
CLIENT_DUTIES: dict[int, dict[str, Any]] = {0: {"documents_day": 8}, 2: {"documents_day": 10},
                                            5: {"documents_day": 8, "payroll_data_day": 5},
                                            10: {"documents_day": 10}, 11: {"documents_day": 8}}
POWERS_MISSING = 4  # this client has filed no UPL-1 yet: its VAT and income tax cases warn
POWER_EXPIRING = 1  # this client's UPL-1 ends in 20 days
FEES_BEHIND = 6  # this client has not paid the last months' fees: overdue, reminded
_PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"  # the scanned power of attorney (a stand-in)


async def load_demo(system: EmbeddedSystem, clock: Clock) -> list[tuple[str, str]]:
    """Create the demo staff and, through the API, a working office as it looks on an ordinary day: contracts
    signed a few months ago, past cases mostly done (client notices issued, about half confirmed by the client's
    link), a few in progress, a few overdue, some not applicable, kasia away this week with anna standing in.
    Returns (login, password)."""
    gateway = system.gateway.ctx
    async with gateway.db.transaction() as session:
        for login, name, email, role in STAFF:
            if await users.get_user(session=session, login=login) is None:
                await users.create_user(session=session, login=login, name=name, email=email, role=role,
                                        password=DEMO_PASSWORD, now=clock.now())
        token = await users.issue_token(session=session, login="admin", name="demo loader", now=clock.now())
    today = clock.today()
    start = _months_before(today.replace(day=1), HISTORY_MONTHS)
    signed = start - timedelta(days=20)
    transport = httpx.ASGITransport(app=system.gateway.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=60,
                                 headers={"Authorization": f"Bearer {token}"}) as api:
        contract_ids = []
        for client, contract in demo_clients(start.isoformat()):
            response = await api.post("/api/v1/clients", json=client,
                                      headers={"Idempotency-Key": f"demo-{client['nip']}"})
            response.raise_for_status()
            client_id = response.json()["id"]
            body = {
                "client_id": client_id, "number": contract["number"], "signed_on": signed.isoformat(),
                "start": start.isoformat(), "notice_period_months": 3, "services": contract["services"],
                "fee": {"monthly_net": contract["fee_net"], "vat_rate": "23"}, "team": contract["team"],
                **({"client_duties": contract["client_duties"]} if "client_duties" in contract else {}),
            }
            response = await api.post("/api/v1/contracts", json=body,
                                      headers={"Idempotency-Key": f"demo-{contract['number']}"})
            response.raise_for_status()
            contract_ids.append(str(response.json()["id"]))
            await _powers(api, client_id, client, contract, len(contract_ids) - 1, start, today)
        cases = await _planned_cases(api, contract_ids)
        await _created_when_planned(system, today)
        told = await _work_the_cases(system, api, cases, today)
        await _documents_received(system, cases, today)
        # Registered after the past work was done (it was done before this week): the absence covers kasia's open
        # cases only, and no finished case's history says "substituted" today before "done" weeks ago.
        monday = today - timedelta(days=today.weekday())
        if today.weekday() >= 5:  # on a weekend "this week" is the coming one
            monday += timedelta(days=7)
        response = await api.post("/api/v1/absences", json={
            "login": "kasia", "starts_on": monday.isoformat(), "ends_on": (monday + timedelta(days=4)).isoformat(),
            "substitute": "anna", "note": "urlop"})
        response.raise_for_status()
        await _fees_paid(api, demo_clients(start.isoformat()), start, today)
        if told:
            await _send_and_confirm_notices(system, told)
    # The overdue fees remind their client at once (the daily check already ran this morning, before the demo).
    await fee_reminders.run_daily(system.runtimes["contracts"].ctx)
    return [(login, DEMO_PASSWORD) for login, *_ in STAFF]


async def _powers(api: httpx.AsyncClient, client_id: str, client: dict[str, Any], contract: dict[str, Any], n: int,
                  start: date, today: date) -> None:
    """The powers of attorney the office files under: UPL-1 (tax office) for every client but one, PEL (ZUS) where it
    runs payroll or ZUS, KRS where it files the annual statements; one UPL-1 ends soon."""
    services = set(contract["services"])
    kinds = [k for k, needed in (("UPL-1", n != POWERS_MISSING), ("PEL", bool({"payroll", "zus"} & services)),
                                 ("KRS", "annual_statements" in services and "krs" in client)) if needed]
    for kind in kinds:
        until = (today + timedelta(days=20)).isoformat() if (kind == "UPL-1" and n == POWER_EXPIRING) else ""
        response = await api.post(f"/api/v1/clients/{client_id}/powers", data={
            "kind": kind, "granted_on": (start - timedelta(days=20)).isoformat(), "valid_until": until,
            "scope": {"UPL-1": "e-deklaracje, JPK", "PEL": "ZUS PUE: deklaracje i raporty",
                      "KRS": "sprawozdania finansowe do KRS"}[kind]},
            files={"file": (f"{kind.lower()}.pdf", _PDF, "application/pdf")})
        response.raise_for_status()


async def _documents_received(system: EmbeddedSystem, cases: list[dict[str, Any]], today: date) -> None:
    """The client's documents of the past months arrived and were marked received by the accountant that morning:
    on the day, except one month of one client a few days late; this month's are still awaited. Recorded through
    the cases service's own function with a clock on that day, as `_work_the_cases` does."""
    tasks = sorted((c for c in cases if c.get("party") == "client" and c["status"] == "open"
                    and date.fromisoformat(c["due"]) < today), key=lambda c: (c["due"], c["id"]))
    late = tasks[-1]["id"] if tasks else None
    cases_ctx = system.runtimes["cases"].ctx
    for n, task in enumerate(tasks):
        due = date.fromisoformat(task["due"])
        arrived = min(due + timedelta(days=4), today) if task["id"] == late else due - timedelta(days=n % 3)
        marked = min(datetime.combine(arrived, time(10, n * 11 % 60), tzinfo=WARSAW).astimezone(UTC),
                     cases_ctx.clock.now())
        who = lifecycle.Actor(login=task.get("assignee_login") or "admin", name=task.get("assignee_name") or "",
                              email=task.get("assignee_email") or "")
        ctx = replace(cases_ctx, clock=ManualClock(marked))
        async with ctx.db.transaction() as session:
            await duties.received(ctx, session, case_id=task["id"], scope=SERVICE_SCOPE, who=who, on=arrived,
                                  count=40 + (n * 37) % 260 if task.get("duty") == "documents" else None)


async def _fees_paid(api: httpx.AsyncClient, pairs: list[tuple[dict[str, Any], dict[str, Any]]], start: date,
                     today: date) -> None:
    """The clients paid the office's fee of every past month two days before its payment day (one bank statement
    CSV), except one client whose last two months are still unpaid."""
    lines = ["Data;Kwota;Tytuł;NIP"]
    for n, (client, contract) in enumerate(pairs):
        gross = (Decimal(contract["fee_net"]) * Decimal("1.23")).quantize(CENT)
        month = start
        paid_months = []
        while payment_due(month) < today:
            paid_months.append(month)
            month = add_months(month, 1)
        if n == FEES_BEHIND:
            paid_months = paid_months[:-2]
        for first in paid_months:
            paid_on = payment_due(first) - timedelta(days=2)
            lines.append(f"{paid_on.strftime('%d.%m.%Y')};{str(gross).replace('.', ',')};"
                         f"FV {first.month}/{first.year};{client['nip']}")
    if len(lines) > 1:
        response = await api.post("/api/v1/payments/import", content="\n".join(lines).encode(),
                                  headers={"Content-Type": "text/csv"})
        response.raise_for_status()


HISTORY_MONTHS = 4  # contracts start this many months before the current one
OVERDUE = 4  # past cases left undone (the office is good, not perfect)
LATE_EVERY = 11  # of the past cases done, one in this many was done after its due date
NOT_APPLICABLE = ("brak sprzedaży w okresie", "klient zawiesił działalność w tym miesiącu",
                  "sprzedaż wykazana w korekcie za poprzedni miesiąc")  # reasons for a VAT return not filed
_PLANNING_SECONDS = 45.0
_CALENDAR = BusinessCalendar()


def _months_before(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


async def _planned_cases(api: httpx.AsyncClient, contract_ids: list[str]) -> list[dict[str, Any]]:
    """Every case the planner made for the demo contracts (it works asynchronously: wait, with a deadline,
    until each contract has its cases)."""
    deadline = asyncio.get_running_loop().time() + _PLANNING_SECONDS
    while True:
        cases = await _all_cases(api)
        planned = {c["contract_id"] for c in cases}
        if all(cid in {str(p) for p in planned} for cid in contract_ids):
            # The planner writes a contract's cases together; one more look lets a batch in flight land.
            await asyncio.sleep(0.3)
            again = await _all_cases(api)
            if len(again) == len(cases):
                return cases
            continue
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"the planner made cases for {len(planned)} of {len(contract_ids)} demo contracts")
        await asyncio.sleep(0.2)


async def _all_cases(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    while True:
        response = await api.get("/api/v1/cases", params={"limit": 1000, "offset": len(cases)})
        response.raise_for_status()
        page = response.json()
        cases += page["items"]
        if not page["items"] or len(cases) >= page["total"]:
            return cases


def _amount(case: dict[str, Any], kind: str) -> str:
    """A believable, stable amount per liability (PLN)."""
    seed = sum(ord(ch) for ch in case["id"] + kind)
    return f"{(seed * 97) % 9000 + 150}.{seed % 100:02d}"


async def _work_the_cases(system: EmbeddedSystem, api: httpx.AsyncClient, cases: list[dict[str, Any]],
                          today: date) -> dict[str, datetime]:
    """Past cases done by their assignee on a business day before their due date (a few a day or two late, a few
    overdue, some not applicable), a few current ones in progress. When each case with a notice was done.

    The public API records a completion when it is made, so the past work goes through the cases service's own
    functions with a clock that says the day it was done (`_done_at`): no backdating is open to API callers."""
    cases = sorted((c for c in cases if c.get("party") != "client"), key=lambda c: (c["due"], c["id"]))
    past = [c for c in cases if date.fromisoformat(c["due"]) < today and c["status"] == "open"]
    soon = [c for c in cases if today <= date.fromisoformat(c["due"]) <= today + timedelta(days=10)]
    overdue = {c["id"] for c in past[-OVERDUE:]}  # the most recent ones slipped
    in_progress = {c["id"] for c in past[-OVERDUE:][:2]} | {c["id"] for c in soon[::3]}
    skipped = {c["id"] for c in past[:-OVERDUE] if c["code"].startswith("JPK_V7")}
    skipped = set(sorted(skipped)[:len(NOT_APPLICABLE)])
    cases_ctx = system.runtimes["cases"].ctx
    told: dict[str, datetime] = {}
    for case_id in sorted(in_progress):
        (await api.post(f"/api/v1/cases/{case_id}/start")).raise_for_status()
    for n, case in enumerate(past):
        case_id = case["id"]
        if case_id in overdue or case_id in in_progress:
            continue
        done_at = _done_at(case, n, today)
        ctx = replace(cases_ctx, clock=ManualClock(done_at))
        who = lifecycle.Actor(login=case.get("assignee_login") or "admin", name=case.get("assignee_name") or "",
                              email=case.get("assignee_email") or "")
        async with ctx.db.transaction() as session:
            if case_id in skipped:
                await lifecycle.not_applicable(ctx, session, case_id=case_id, scope=SERVICE_SCOPE, who=who,
                                               reason=NOT_APPLICABLE[sorted(skipped).index(case_id)])
                continue
            for index, item in enumerate(case.get("checklist") or []):
                if item.get("required") or n % 3 == 0:
                    await lifecycle.tick(ctx, session, case_id=case_id, scope=SERVICE_SCOPE, who=who, index=index,
                                         done=True)
            # A case with a notice tells the client the amounts of its liabilities.
            amounts = {kind: _amount(case, kind) for kind in case.get("notice") or []}
            await lifecycle.finish(ctx, session, case_id=case_id, scope=SERVICE_SCOPE, who=who, amounts=amounts)
        if amounts:
            told[case_id] = done_at
    return told


def _done_at(case: dict[str, Any], n: int, today: date) -> datetime:
    """When a past case was done: on a business day up to five before its due date, but not before the planner made
    it (its `generate_on`), in office hours; one in `LATE_EVERY` a business day or two after it (never today or
    later)."""
    due = _CALENDAR.shift(date.fromisoformat(case["due"]), Shift.PREVIOUS_BUSINESS_DAY)
    day = _CALENDAR.add_business_days(due, -(n * 7 % 6))
    if case.get("generate_on"):
        day = max(day, _CALENDAR.shift(date.fromisoformat(case["generate_on"]), Shift.NEXT_BUSINESS_DAY))
    if n % LATE_EVERY == LATE_EVERY // 2 and _CALENDAR.add_business_days(due, 1 + n % 2) < today:
        day = _CALENDAR.add_business_days(due, 1 + n % 2)
    return datetime.combine(day, time(9 + n % 7, (n * 13) % 60), tzinfo=WARSAW).astimezone(UTC)


PLANNER_RUNS_AT = time(0, 1)  # the planner asks for a day's cases on its first tick after midnight (Warsaw)
_LATE_SUFFIX = "; created after its due date "


async def _created_when_planned(system: EmbeddedSystem, today: date) -> None:
    """The demo's cases were all made today, at load time; an office using the system got each on its
    `generate_on` day, when the planner asked for it. Dated so in the cases service (the case, its "created"
    history line, `late_on_creation` decided as the cases service decides it: due before the day it was created)
    and in the scheduler (the occurrence's `requested_at`). Only the demo's own data; real cases are untouched."""
    cases_db = system.runtimes["cases"].ctx.db
    async with cases_db.transaction() as session:
        rows = (await session.execute(select(
            cases.c.id, cases.c.due, cases.c.generate_on, cases.c.created_at, cases.c.updated_at,
            cases.c.late_on_creation).where(cases.c.generate_on < today))).all()
        moved = {row.id: row for row in rows if _planned_at(row.generate_on) < row.created_at}
        if moved:
            await session.execute(update(cases).where(cases.c.id == bindparam("case_id")).values(
                created_at=bindparam("at"), updated_at=bindparam("updated"), late_on_creation=bindparam("late")), [
                {"case_id": row.id, "at": _planned_at(row.generate_on), "late": row.due < row.generate_on,
                 "updated": _planned_at(row.generate_on) if row.updated_at == row.created_at else row.updated_at}
                for row in moved.values()])
            created = (await session.execute(select(case_history.c.id, case_history.c.case_id, case_history.c.detail)
                                             .where(case_history.c.event == "created"))).all()
            entries = [{"entry_id": entry.id, "at": _planned_at(moved[entry.case_id].generate_on),
                        "detail": _detail_when_planned(entry.detail, moved[entry.case_id])}
                       for entry in created if entry.case_id in moved]
            if entries:
                await session.execute(update(case_history).where(case_history.c.id == bindparam("entry_id")).values(
                    at=bindparam("at"), detail=bindparam("detail")), entries)
    async with system.runtimes["scheduler"].ctx.db.transaction() as session:
        requested = (await session.execute(select(occurrences.c.id, occurrences.c.generate_on).where(
            occurrences.c.status == "requested", occurrences.c.generate_on < today))).all()
        if requested:
            await session.execute(update(occurrences).where(occurrences.c.id == bindparam("occurrence_id")).values(
                requested_at=bindparam("at")),
                [{"occurrence_id": o.id, "at": _planned_at(o.generate_on)} for o in requested])


def _detail_when_planned(detail: str, case: Any) -> str:
    """The "created" line without "created after its due date", unless it still was (due before generate_on)."""
    if case.due >= case.generate_on and _LATE_SUFFIX in detail:
        return detail[:detail.index(_LATE_SUFFIX)]
    return str(detail)


def _planned_at(generate_on: date) -> datetime:
    return datetime.combine(generate_on, PLANNER_RUNS_AT, tzinfo=WARSAW).astimezone(UTC)


async def _send_and_confirm_notices(system: EmbeddedSystem, told: dict[str, datetime]) -> None:
    """The notices of the finished cases go out as they did on the days the cases were done (at the office's send
    hour, or at once when a case was done after it: `send_after`), each issued by the notifier's own `issue` with a
    clock at that time, its mails sent a moment later; about half of the clients open and confirm theirs through the
    link in the mail a few hours to a few days after it came (the public page's functions, dated the same way)."""
    notifier = system.runtimes["notifier"].ctx
    deadline = asyncio.get_running_loop().time() + _PLANNING_SECONDS
    while True:  # case.completed reaches the notifier through the bus
        async with notifier.db.reading() as session:
            recorded = (await session.execute(select(func.count()).select_from(case_completions).where(
                case_completions.c.notice_id.is_not(None)))).scalar_one()
        if recorded >= len(told):
            break
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"the notifier recorded {recorded} of {len(told)} finished demo cases")
        await asyncio.sleep(0.2)
    issued: list[str] = []
    async with notifier.db.transaction() as session:
        # The liabilities reached the notifier on the days their cases were done.
        for case_id, done_at in told.items():
            await session.execute(update(case_completions).where(case_completions.c.case_id == case_id)
                                  .values(at=done_at))
        drafts = (await session.execute(select(notices.c.id).where(
            notices.c.status == "draft", notices.c.kind == "liability"))).scalars().all()
        when: dict[str, list[datetime]] = {}
        for notice_id in drafts:
            when.update(await _one_notice_a_day(notifier, session, notice_id, told))
        for notice_id, times in sorted(when.items(), key=lambda item: (max(item[1]), item[0])):
            at = send_after(notifier.settings, max(times))
            await session.execute(update(notices).where(notices.c.id == notice_id).values(
                created_at=min(times), updated_at=min(times), send_after=at))
            row = (await session.execute(select(notices).where(notices.c.id == notice_id))).one()
            await issue(replace(notifier, clock=ManualClock(at)), session, row)
            issued.append(notice_id)
    await _sent_when_issued(notifier, issued)
    async with notifier.db.reading() as session:
        recipients = (await session.execute(
            select(notice_recipients.c.token, notices.c.issued_at)
            .join(notices, notices.c.id == notice_recipients.c.notice_id)
            .where(notices.c.status == "issued", notices.c.requires_confirmation, notices.c.id.in_(issued))
            .order_by(notices.c.issued_at, notices.c.id, notice_recipients.c.id))).all()
    now = notifier.clock.now()
    async with notifier.db.transaction() as session:
        for n, (token, issued_at) in enumerate(recipients[::2]):
            # Read the same day or in the next few, in the client's working hours, never after today's start.
            day = _CALENDAR.add_business_days(local_date(issued_at), n % 4)
            opened = max(datetime.combine(day, time(8 + n * 5 % 10, n * 23 % 60), tzinfo=WARSAW).astimezone(UTC),
                         issued_at + timedelta(minutes=20 + n * 7 % 90))
            opened = min(opened, now - timedelta(hours=1, minutes=n * 7 % 50))
            view = await by_token(session, token, lock=True)
            if view is None:
                continue
            await record_opening(replace(notifier, clock=ManualClock(opened)), session, view,
                                 address=_CLIENT_ADDRESS, user_agent=_CLIENT_AGENT)
            await confirm(replace(notifier, clock=ManualClock(opened + timedelta(minutes=2))), session, view,
                          address=_CLIENT_ADDRESS, user_agent=_CLIENT_AGENT)


async def _one_notice_a_day(notifier: ServiceContext, session: AsyncSession, notice_id: str,
                            told: dict[str, datetime]) -> dict[str, list[datetime]]:
    """The bus brought every completion today, so a client's liabilities of one period sit in one draft; the
    notifier collects a day's completions in a draft of that day (`domain.draft_key`), so those done on earlier
    days become drafts of their own. Their liability lines, "liability_added" events and completions move with
    them, dated when their cases were done. The drafts, each with when its cases were done."""
    draft = (await session.execute(select(notices).where(notices.c.id == notice_id))).one()
    lines = (await session.execute(select(notice_items.c.id, notice_items.c.case_id, notice_items.c.due).where(
        notice_items.c.notice_id == notice_id))).all()
    by_day: dict[date, list[Any]] = {}
    for line in lines:
        by_day.setdefault(local_date(told.get(line.case_id, draft.created_at)), []).append(line)
    found: dict[str, list[datetime]] = {}
    for day, group in sorted(by_day.items()):
        target = notice_id
        if day != max(by_day):
            target = str(uuid.uuid4())
            await session.execute(notices.insert().values({
                **draft._mapping, "id": target, "due": min(line.due for line in group),
                "draft_key": domain.draft_key(draft.client_id, draft.period, day, notifier.settings.notice_grouping,
                                              group[0].case_id)}))
            await session.execute(update(notice_items).where(notice_items.c.id.in_([line.id for line in group]))
                                  .values(notice_id=target))
        else:
            await session.execute(update(notices).where(notices.c.id == notice_id).values(
                due=min(line.due for line in group)))
        for line in group:
            done_at = told.get(line.case_id, draft.created_at)
            found.setdefault(target, []).append(done_at)
            await session.execute(update(notice_events).where(
                notice_events.c.notice_id == notice_id, notice_events.c.kind == "liability_added",
                notice_events.c.detail.startswith(f"case {line.case_id}:")).values(notice_id=target, at=done_at))
            await session.execute(update(case_completions).where(case_completions.c.case_id == line.case_id)
                                  .values(notice_id=target))
    return found


_CLIENT_ADDRESS = "192.0.2.10"  # the demo clients' browser (a documentation address)
_CLIENT_AGENT = "Mozilla/5.0 (demo client)"
_SENT_AFTER = timedelta(seconds=4)  # how long the mail of a notice took to leave


async def _sent_when_issued(notifier: ServiceContext, issued: list[str]) -> None:
    """The notices' mails left a moment after the notice was issued: the notifier's dispatcher sends (or keeps)
    them now; once it has, their send times (the proof of when the client was told) are those of their days."""
    deadline = asyncio.get_running_loop().time() + _PLANNING_SECONDS
    while True:
        async with notifier.db.reading() as session:
            waiting = (await session.execute(select(func.count()).select_from(mails).where(
                mails.c.notice_id.in_(issued), mails.c.status.in_(("pending", "sending"))))).scalar_one()
        if not waiting:
            break
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"{waiting} mails of the demo's notices are still waiting to be sent")
        await asyncio.sleep(0.1)
    async with notifier.db.transaction() as session:
        sent = (await session.execute(select(mails.c.id, mails.c.created_at).where(
            mails.c.notice_id.in_(issued), mails.c.sent_at.is_not(None)))).all()
        if sent:
            await session.execute(update(mails).where(mails.c.id == bindparam("mail_id")).values(
                sent_at=bindparam("at")), [{"mail_id": m.id, "at": m.created_at + _SENT_AFTER} for m in sent])
        for notice_id, issued_at in (await session.execute(select(notices.c.id, notices.c.issued_at).where(
                notices.c.id.in_(issued)))).all():
            await session.execute(update(notice_recipients).where(
                notice_recipients.c.notice_id == notice_id, notice_recipients.c.first_sent_at.is_not(None))
                .values(first_sent_at=issued_at + _SENT_AFTER))
