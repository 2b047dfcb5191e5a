"""The client's tasks (cases of `party: client`): what the contract obliges the client to deliver, tracked by the
contract's accountant.

- The accountant marks what was due as received (`received`: the day it arrived, optionally how many documents),
  on the client task itself or from an office case that depends on it (the month's VAT or bookkeeping case, rules'
  `depends_on`): the client task of the same contract and period is done, and `case.completed` (party client) tells
  the notifier to stop reminding the client.
- The client confirms "dokumenty wysłane" through the reminder's link: `notice.confirmed` names the task, which
  records the confirmation (the task stays open until the office has the documents).
- An office case that depends on a client duty shows how that duty went (`duty_status`): "Dokumenty za październik
  2026 wpłynęły 12.11.2026, 3 dni po terminie", or "jeszcze nie wpłynęły, termin minął 09.11.2026".
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.cases.lifecycle import OPEN_STATUSES, Actor, load_for_change, record
from services.cases.models import cases
from services.common.clock import local_date
from services.common.errors import Problem
from services.common.messages import CASE_COMPLETED, CaseCompleted, NoticeConfirmed
from services.common.runtime import ServiceContext
from services.common.scope import Scope

# What each client duty is called on the office's cases (its subject, plural: "Dokumenty … wpłynęły").
DUTY_LABELS = {
    "documents": "Dokumenty",
    "payroll_data": "Dane kadrowo-płacowe",
    "bank_statements": "Wyciągi bankowe",
    "statements_signing": "Podpisane sprawozdanie finansowe",
}
MAX_RECEIVED_COUNT = 1_000_000
_MONTHS_PL = ("styczeń", "luty", "marzec", "kwiecień", "maj", "czerwiec", "lipiec", "sierpień", "wrzesień",
              "październik", "listopad", "grudzień")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def day_text(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def period_text(period: str | None) -> str:
    """`2026-10` → `październik 2026`; other periods as given."""
    match = _MONTH.match(period or "")
    if match and 1 <= int(match[2]) <= 12:
        return f"{_MONTHS_PL[int(match[2]) - 1]} {match[1]}"
    return period or ""


def days_text(days: int) -> str:
    return "1 dzień" if days == 1 else f"{days} dni"


def lateness(task: Any, today: date) -> dict[str, Any]:
    """How a client task went against its due date: received (on time or `days_late`), or still awaited."""
    label = f"{DUTY_LABELS.get(task.duty or '', 'Dokumenty')} za {period_text(task.period)}"
    received = task.received_on
    if received is None and task.status == "done" and task.completed_at is not None:
        received = local_date(task.completed_at)
    if task.status == "not_applicable":
        return {"state": "not_applicable", "days_late": 0, "text": f"{label}: nie dotyczy"}
    if received is not None:
        late = (received - task.due).days
        when = f"{days_text(late)} po terminie" if late > 0 else "w terminie"
        return {"state": "late" if late > 0 else "on_time", "days_late": max(late, 0), "received_on": received,
                "text": f"{label} wpłynęły {day_text(received)}, {when}"}
    if task.due < today:
        return {"state": "overdue", "days_late": (today - task.due).days,
                "text": f"{label} jeszcze nie wpłynęły, termin minął {day_text(task.due)}"}
    return {"state": "awaited", "days_late": 0, "text": f"{label}: termin {day_text(task.due)}"}


_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


def task_period(period: str) -> str:
    """The period of the client tasks an office case of `period` waits for: the same month; for a quarter
    (`2026-Q3`, e.g. the quarterly JPK_V7K) its last month (`2026-09`) — the first two have their own cases."""
    if match := _QUARTER.match(period):
        return f"{match[1]}-{int(match[2]) * 3:02d}"
    return period


async def client_tasks_for(session: AsyncSession, row: Any) -> list[Any]:
    """The client tasks an office case depends on: same contract and period (a quarter's: its last month's), a duty
    it names in `depends_on`."""
    duties = list(row.depends_on or [])
    if not duties or row.contract_id is None or row.period is None:
        return []
    return list((await session.execute(select(cases).where(
        cases.c.party == "client", cases.c.contract_id == row.contract_id, cases.c.period == task_period(row.period),
        cases.c.duty.in_(duties), cases.c.status != "withdrawn").order_by(cases.c.due))).all())


async def duty_status(session: AsyncSession, row: Any, today: date) -> list[dict[str, Any]]:
    """For an office case that depends on client duties: each such client task and how it went (`text`)."""
    return [{"case_id": task.id, "duty": task.duty, "title": task.title, "due": task.due, "status": task.status,
             "received_count": task.received_count, "client_confirmed_at": task.client_confirmed_at,
             **lateness(task, today)} for task in await client_tasks_for(session, row)]


async def received(ctx: ServiceContext, session: AsyncSession, *, case_id: str, scope: Scope, who: Actor,
                   on: date | None, count: int | None, duty: str | None = None) -> str:
    """What the client owed arrived on `on` (default today), with `count` documents: its client task is done.
    `case_id` is the client task, or an office case depending on it (the task of its contract and period;
    `duty` picks one when it depends on several). Returns the client task's id."""
    today = ctx.clock.today()
    on = on or today
    problems = []
    if on > today:
        problems.append({"field": "received_on", "message": f"is after today {day_text(today)}"})
    if count is not None and not 0 <= count <= MAX_RECEIVED_COUNT:
        problems.append({"field": "count", "message": f"from 0 to {MAX_RECEIVED_COUNT}"})
    if problems:
        raise Problem(422, "Invalid input", errors=problems)
    row = await load_for_change(session, case_id, scope)
    if row.party == "client":
        task = row
    else:
        tasks = [t for t in await client_tasks_for(session, row) if duty is None or t.duty == duty]
        if not tasks:
            named = ", ".join(row.depends_on or []) or "none"
            raise Problem(409, "No client task", f"case {case_id} has no client task of its contract and period to "
                          f"mark received (it depends on: {named})",
                          errors=[{"field": "case", "message": "no client task for this contract and period"}])
        task = tasks[0]
        if task.id != row.id:
            task = await load_for_change(session, task.id, scope)
    if task.status not in OPEN_STATUSES:
        raise Problem(409, "Wrong status", f"the client task {task.id} is {task.status}: already closed",
                      errors=[{"field": "status", "message": f"is {task.status}"}])
    now = ctx.clock.now()
    await session.execute(update(cases).where(cases.c.id == task.id).values(
        status="done", completed_at=now, status_reason=None, received_on=on, received_count=count, updated_at=now,
        completions=(task.completions or 0) + 1))
    outcome = lateness(_Received(task, on), today)
    detail = outcome["text"] + (f"; liczba dokumentów: {count}" if count is not None else "")
    await record(session, ctx, task.id, who.login, "received", detail)
    if task.id != row.id:
        await record(session, ctx, row.id, who.login, "client_received", detail)
    await _completed(ctx, session, task, who)
    return str(task.id)


class _Received:
    """A client task as it is once received on `on` (for its lateness text)."""

    def __init__(self, task: Any, on: date) -> None:
        self.duty, self.period, self.due, self.status = task.duty, task.period, task.due, "done"
        self.received_on, self.completed_at = on, None


async def _completed(ctx: ServiceContext, session: AsyncSession, task: Any, who: Actor) -> None:
    """case.completed of a client task: the notifier stops reminding the client of it."""
    event = CaseCompleted(case_id=task.id, contract_id=task.contract_id or "", client_id=task.client_id or "",
                          client_name=task.client_name, contract_number=task.contract_number, rule_id=task.rule_id,
                          code=task.code, period=task.period, title=task.title,
                          revision=(task.completions or 0) + 1, completed_by=who.member, party="client")
    await ctx.messaging.emit(session, CASE_COMPLETED, event.model_dump(mode="json"))


async def on_notice_confirmed(ctx: ServiceContext, session: AsyncSession, confirmed: NoticeConfirmed) -> None:
    """The client confirmed through a reminder's link that it sent what was due: recorded on its client task
    (once; the task stays open until the accountant has the documents)."""
    if not confirmed.case_ids:
        return
    rows = (await session.execute(select(cases.c.id).where(
        cases.c.id.in_(confirmed.case_ids), cases.c.party == "client", cases.c.client_confirmed_at.is_(None)))).all()
    for row in rows:
        await session.execute(update(cases).where(cases.c.id == row.id).values(
            client_confirmed_at=confirmed.confirmed_at, client_confirmed_by=confirmed.recipient,
            updated_at=ctx.clock.now()))
        await record(session, ctx, row.id, "klient", "client_confirmed",
                     f"klient potwierdził wysłanie ({confirmed.recipient}, "
                     f"{day_text(local_date(confirmed.confirmed_at))})")
