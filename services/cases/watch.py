"""Deadlines watched: the morning job of the cases service.

Each business morning (from `case_watch_time`, Warsaw) the job
1. moves open cases between deadline states (on_time → due_soon → overdue) and tells the assignee once per
   state entered (`case.due_soon`, `case.overdue`);
2. climbs the escalation ladder of overdue cases (`case.escalated`): step k is reached after
   `escalation_steps[k-1]` business days overdue, counted from the due date, or from the creation day for a
   case born overdue; step 1 tells the assignee, 2 the commissioner, 3 and later the office managers;
3. sends the office managers one `case.overdue_summary` of the cases born overdue since the last one;
4. sends each person with open cases one `case.digest` (only when it lists something).

Exactly once, across restarts and several cases processes: every decision is a claim row (`case_alerts`
(case, kind, step, due), `case_digests` (login, day), `case_watch_runs` (job, day)) whose primary key admits it
once, inserted ON CONFLICT DO NOTHING in the same transaction as its outbox event; the cases a decision is due for
are locked `FOR UPDATE SKIP LOCKED` (PostgreSQL) so two processes split them instead of queueing on them.

Skipped is not done: a case is also held by work that does not make the job's decisions — the other process's
born-overdue summary (its claim rows' foreign key locks each case it lists), a user's comment or command, an
escalation whose transaction is then rolled back. So the state and ladder passes count the cases they skipped and
come back for them (`_until_free`, up to `BUSY_WAIT_SECONDS`); a run that still leaves some says so (`left`), and
the morning loop runs again at its next tick instead of calling the day done.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from email.utils import getaddresses
from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import ColumnElement, and_, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.cases.models import case_alerts, case_digests, case_watch_runs, cases
from services.common.calendar import BusinessCalendar
from services.common.clock import WARSAW, local_date
from services.common.log import get_logger
from services.common.messages import (
    CASE_DIGEST,
    CASE_DUE_SOON,
    CASE_ESCALATED,
    CASE_OVERDUE,
    CASE_OVERDUE_SUMMARY,
    CaseDigest,
    CaseDueSoon,
    CaseEscalated,
    CaseOverdue,
    CaseOverdueSummary,
    CaseRef,
    TeamMember,
)
from services.common.runtime import ServiceContext, get_context

log = get_logger(__name__)

OPEN_STATUSES = ("open", "in_progress")
CHUNK = 500  # cases (or people) per transaction
DIGEST_SECTION_MAX = 100  # cases listed per digest section
SUMMARY_MAX = 50  # cases listed in a born-overdue summary (its total counts all)
CALENDAR = BusinessCalendar()  # statutory holidays; the cases service has no rule files of its own
LAST_RUN = "cases.watch.last_day"
BUSY_WAIT_SECONDS = 30.0  # how long a pass comes back for the cases other transactions hold; then the next run's

router = APIRouter()


# --- Small pure helpers --------------------------------------------------------------------------------


def business_days_between(start: date, end: date) -> int:
    """Business days in (start, end]: 0 when end <= start."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if CALENDAR.is_business_day(day):
            count += 1
    return count


def deadline_state(due: date, today: date, due_soon_days: int) -> str:
    if due < today:
        return "overdue"
    if due <= CALENDAR.add_business_days(today, due_soon_days):
        return "due_soon"
    return "on_time"


def ladder_start(due: date, created_at: datetime) -> date:
    """The day the escalation ladder counts from: the due date, or the creation day of a case born overdue."""
    return max(due, local_date(created_at))


def managers(ctx: ServiceContext) -> list[TeamMember]:
    """The office managers from `case_managers`; none set: a placeholder the notifier logs as unaddressed."""
    found = [TeamMember(login=f"manager:{email.lower()}", name=name, email=email)
             for name, email in getaddresses([ctx.settings.case_managers]) if "@" in email]
    return found or [TeamMember(login="role:manager", name="", email="")]


def _ref(row: Any) -> CaseRef:
    return CaseRef(case_id=row.id, title=row.title, client_name=row.client_name, contract_number=row.contract_number,
                   period=row.period, due=row.due, status=row.status)


def _assignee(row: Any) -> TeamMember | None:
    if not row.assignee_login:
        return None
    return TeamMember(login=row.assignee_login, name=row.assignee_name, email=row.assignee_email)


def _commissioner(row: Any) -> TeamMember | None:
    if not row.commissioner_login:
        return None
    return TeamMember(login=row.commissioner_login, name=row.commissioner_name, email=row.commissioner_email)


def step_recipients(ctx: ServiceContext, row: Any, step: int) -> list[TeamMember]:
    """Step 1: the assignee; 2: the commissioner; 3 and later (or nobody at a lower step): the managers."""
    person = _assignee(row) if step == 1 else _commissioner(row) if step == 2 else None
    return [person] if person is not None else managers(ctx)


def _insert_ignoring(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)).on_conflict_do_nothing()


async def _claim(session: AsyncSession, table: Any, **values: Any) -> bool:
    """Insert one claim row; False when it exists (another run or process made this decision)."""
    result = await session.execute(_insert_ignoring(session, table).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _locked(ctx: ServiceContext, query: Any) -> Any:
    return query if ctx.db.is_sqlite else query.with_for_update(of=cases, skip_locked=True)


# A chunk of cases (read, not locked) -> (decisions made, cases with a decision due that another transaction held).
ChunkWork = Callable[[AsyncSession, list[Any]], Awaitable[tuple[int, int]]]


async def _pass(ctx: ServiceContext, condition: ColumnElement[bool], work: ChunkWork) -> tuple[int, int]:
    """One pass over the cases matching `condition`, by id, CHUNK per transaction: `work` gets each chunk as
    read and locks (`_lock`) only the cases it has a decision for. Returns (decisions made, cases left held)."""
    made = left = 0
    after = ""
    while True:
        async with ctx.db.transaction() as session:
            rows = list((await session.execute(select(cases).where(condition, cases.c.id > after)
                                               .order_by(cases.c.id).limit(CHUNK))).all())
            if rows:
                chunk_made, chunk_left = await work(session, rows)
                made, left = made + chunk_made, left + chunk_left
        if len(rows) < CHUNK:
            return made, left
        after = rows[-1].id


async def _lock(ctx: ServiceContext, session: AsyncSession, condition: ColumnElement[bool],
                rows: list[Any]) -> list[Any]:
    """These cases as they are now, locked for this transaction, if they still match `condition`; the ones another
    transaction holds are skipped (PostgreSQL): the caller counts them as left."""
    if not rows:
        return []
    query = select(cases).where(cases.c.id.in_([r.id for r in rows]), condition).order_by(cases.c.id)
    return list((await session.execute(_locked(ctx, query))).all())


async def _until_free(what: str, one_pass: Callable[[], Awaitable[tuple[int, int]]]) -> tuple[int, int]:
    """Run a pass again, after growing pauses, while it leaves cases another transaction held — at most
    `BUSY_WAIT_SECONDS`. A held case is most often the other process doing the same decision (the next pass finds
    it made), but it may be work that makes none (a summary, a comment, a transaction rolled back), and skipping
    it for good would lose its decision for the day. Returns (decisions made, cases still left)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUSY_WAIT_SECONDS
    made, pause = 0, 0.05
    while True:
        pass_made, left = await one_pass()
        made += pass_made
        if not left:
            return made, 0
        if loop.time() >= deadline:
            log.warning("cases.morning_job.busy", part=what, cases_left=left, waited_seconds=BUSY_WAIT_SECONDS)
            return made, left
        await asyncio.sleep(pause)
        pause = min(pause * 2, 1.0)


# --- On creation -----------------------------------------------------------------------------------------


async def on_created(ctx: ServiceContext, session: AsyncSession, case_id: str) -> None:
    """A case just created (in the creating transaction): one born overdue (its stored `late_on_creation`, the one
    fact the creating handler decided) is overdue at once. Its assignee is told by the `case.created` mail (marked
    `late_on_creation`), so the morning job's overdue mail is claimed as sent — one mail per case, not two; it is
    not escalated at once: the ladder counts from its creation day; the managers' summary lists it."""
    row = (await session.execute(select(cases).where(cases.c.id == case_id))).one()
    if not row.late_on_creation:
        return
    today = local_date(row.created_at)
    await session.execute(update(cases).where(cases.c.id == case_id).values(deadline_state="overdue"))
    await _claim(session, case_alerts, case_id=row.id, kind="overdue", step=0, due=row.due, day=today,
                 created_at=ctx.clock.now())


async def _tell_overdue(ctx: ServiceContext, session: AsyncSession, row: Any, today: date) -> bool:
    if not await _claim(session, case_alerts, case_id=row.id, kind="overdue", step=0, due=row.due, day=today,
                        created_at=ctx.clock.now()):
        return False
    recipient = _assignee(row)
    if recipient is not None:
        await ctx.messaging.emit(session, CASE_OVERDUE, CaseOverdue(
            case=_ref(row), contract_id=row.contract_id or "", day=today, days_overdue=(today - row.due).days,
            recipient=recipient).model_dump(mode="json"))
    return True


# --- The morning job -------------------------------------------------------------------------------------


def morning_reached(ctx: ServiceContext, today: date) -> bool:
    now = ctx.clock.now().astimezone(WARSAW)
    return now.date() == today and now.time() >= ctx.settings.case_watch_time


async def run_morning(ctx: ServiceContext) -> dict[str, Any]:
    """One pass of the morning job for today (a business day); safe to run any number of times, in any number of
    processes at once: each state change, ladder step, summary and digest happens once. Returns what this call
    did."""
    today = ctx.clock.today()
    if not CALENDAR.is_business_day(today):
        return {"day": today.isoformat(), "business_day": False}
    done: dict[str, Any] = {"day": today.isoformat(), "business_day": True}
    states = await update_states(ctx, today)
    states_left = states.pop("left")
    done.update(states)
    done["escalated"], escalations_left = await escalate(ctx, today)
    done["summaries"] = await summarize_born_overdue(ctx, today)
    done["digests"] = await send_digests(ctx, today)
    # Cases other transactions held past the wait: their decisions are the next run's.
    done["left"] = states_left + escalations_left
    log.info("cases.morning_job", **done)
    return done


async def update_states(ctx: ServiceContext, today: date) -> dict[str, int]:
    """Open cases whose deadline state is not the one their due date gives today take it; entering due soon
    or overdue tells the assignee (once per case, state and due date). `left`: cases held past the wait."""
    horizon = CALENDAR.add_business_days(today, ctx.settings.case_due_soon_days)
    wrong = and_(cases.c.status.in_(OPEN_STATUSES), or_(
        and_(cases.c.due < today, cases.c.deadline_state != "overdue"),
        and_(cases.c.due >= today, cases.c.due <= horizon, cases.c.deadline_state != "due_soon"),
        and_(cases.c.due > horizon, cases.c.deadline_state != "on_time"),
    ))
    counts = {"due_soon": 0, "overdue": 0, "on_time": 0, "told": 0}

    async def work(session: AsyncSession, rows: list[Any]) -> tuple[int, int]:
        locked = await _lock(ctx, session, wrong, rows)
        for row in locked:
            state = deadline_state(row.due, today, ctx.settings.case_due_soon_days)
            await session.execute(update(cases).where(cases.c.id == row.id).values(deadline_state=state))
            counts[state] += 1
            if state == "overdue":
                counts["told"] += await _tell_overdue(ctx, session, row, today)
            elif state == "due_soon":
                counts["told"] += await _tell_due_soon(ctx, session, row, today)
        return len(locked), len(rows) - len(locked)

    _, left = await _until_free("deadline_states", lambda: _pass(ctx, wrong, work))
    return {**counts, "left": left}


async def _tell_due_soon(ctx: ServiceContext, session: AsyncSession, row: Any, today: date) -> bool:
    if not await _claim(session, case_alerts, case_id=row.id, kind="due_soon", step=0, due=row.due, day=today,
                        created_at=ctx.clock.now()):
        return False
    recipient = _assignee(row)
    if recipient is not None:
        await ctx.messaging.emit(session, CASE_DUE_SOON, CaseDueSoon(
            case=_ref(row), contract_id=row.contract_id or "", day=today,
            days_left=business_days_between(today, row.due), recipient=recipient).model_dump(mode="json"))
    return True


async def escalate(ctx: ServiceContext, today: date) -> tuple[int, int]:
    """Each overdue open case climbs its ladder: every step reached and not yet taken is taken once. Returns (steps
    taken, cases held past the wait)."""
    steps = ctx.settings.escalation_steps
    if not steps:
        return 0, 0
    # Only cases at least the first step's business days past due can have reached a step (a due date on a
    # free day counts from the next business day).
    latest_due = CALENDAR.add_business_days(today, -steps[0])
    while not CALENDAR.is_business_day(latest_due + timedelta(days=1)):
        latest_due += timedelta(days=1)
    top_taken = exists().where(case_alerts.c.case_id == cases.c.id, case_alerts.c.kind == "escalated",
                               case_alerts.c.step == len(steps), case_alerts.c.due == cases.c.due)
    # A client task is late by the client: the notifier reminds the client, its accountant is told once it is
    # overdue, and it shows on the office's cases that depend on it; it climbs no ladder.
    climbing = and_(cases.c.status.in_(OPEN_STATUSES), cases.c.due <= latest_due, cases.c.party != "client",
                    ~top_taken)

    def due_steps(row: Any, taken: set[tuple[str, int, date]]) -> list[tuple[int, int]]:
        """The steps the case has reached and not taken, as (step, business days overdue)."""
        overdue_days = business_days_between(ladder_start(row.due, row.created_at), today)
        return [(number, overdue_days) for number, threshold in enumerate(steps, start=1)
                if overdue_days >= threshold and (row.id, number, row.due) not in taken]

    async def work(session: AsyncSession, rows: list[Any]) -> tuple[int, int]:
        # Only the cases with a step to take are locked (most overdue cases wait for their next step).
        taken = await _taken_steps(session, [r.id for r in rows])
        wanted = [row for row in rows if due_steps(row, taken)]
        locked = await _lock(ctx, session, climbing, wanted)
        if not locked:
            return 0, len(wanted)
        # Read again under the lock: the other process may have taken a step since the read above.
        taken = await _taken_steps(session, [r.id for r in locked])
        sent = 0
        for row in locked:
            for number, overdue_days in due_steps(row, taken):
                if not await _claim(session, case_alerts, case_id=row.id, kind="escalated", step=number,
                                    due=row.due, day=today, created_at=ctx.clock.now()):
                    continue
                reason = f"{overdue_days} dni roboczych po terminie"
                await ctx.messaging.emit(session, CASE_ESCALATED, CaseEscalated(
                    case=_ref(row), contract_id=row.contract_id or "", step=number, reason=reason,
                    recipients=step_recipients(ctx, row, number)).model_dump(mode="json"))
                sent += 1
        return sent, len(wanted) - len(locked)

    return await _until_free("escalation", lambda: _pass(ctx, climbing, work))


async def _taken_steps(session: AsyncSession, case_ids: list[str]) -> set[tuple[str, int, date]]:
    rows = await session.execute(select(case_alerts.c.case_id, case_alerts.c.step, case_alerts.c.due).where(
        case_alerts.c.case_id.in_(case_ids), case_alerts.c.kind == "escalated"))
    return {(r.case_id, r.step, r.due) for r in rows}


async def summarize_born_overdue(ctx: ServiceContext, today: date) -> int:
    """Once a day: the cases born overdue and not yet summarized, in one `case.overdue_summary` per manager."""
    async with ctx.db.transaction() as session:
        if not await _claim(session, case_watch_runs, job="overdue_summary", day=today, created_at=ctx.clock.now()):
            return 0
        summarized = exists().where(case_alerts.c.case_id == cases.c.id, case_alerts.c.kind == "summarized")
        rows = list((await session.execute(
            select(cases).where(cases.c.late_on_creation.is_(True), ~summarized)
            .order_by(cases.c.due, cases.c.client_name, cases.c.title))).all())
        if not rows:
            return 0
        now = ctx.clock.now()
        await session.execute(case_alerts.insert(), [
            {"case_id": r.id, "kind": "summarized", "step": 0, "due": r.due, "day": today, "created_at": now}
            for r in rows])
        days = sorted({local_date(r.created_at) for r in rows})
        reason = ("utworzone " + ", ".join(d.isoformat() for d in days[:5]) + (" …" if len(days) > 5 else "")
                  + " z terminem, który już minął")
        recipients = managers(ctx)
        for manager in recipients:
            await ctx.messaging.emit(session, CASE_OVERDUE_SUMMARY, CaseOverdueSummary(
                recipient=manager, day=today, reason=reason, total=len(rows),
                cases=[_ref(r) for r in rows[:SUMMARY_MAX]]).model_dump(mode="json"))
        return len(recipients)


def week_end(today: date) -> date:
    return today + timedelta(days=6 - today.weekday())


def since_yesterday(today: date) -> datetime:
    """Midnight (Warsaw) of the business day before `today`: "new since yesterday" counts from then."""
    previous = CALENDAR.add_business_days(today, -1)
    return datetime.combine(previous, time(0), tzinfo=WARSAW)


async def send_digests(ctx: ServiceContext, today: date) -> int:
    """One digest per person with open cases to mention, once per day (the (login, day) claim)."""
    written = 0
    done_today = exists().where(case_digests.c.login == cases.c.assignee_login, case_digests.c.day == today)
    async with ctx.db.reading() as session:
        logins = list((await session.execute(
            select(cases.c.assignee_login).where(cases.c.status.in_(OPEN_STATUSES),
                                                 cases.c.assignee_login.is_not(None), ~done_today)
            .group_by(cases.c.assignee_login).order_by(cases.c.assignee_login))).scalars().all())
    for start in range(0, len(logins), 50):
        written += await _digest_chunk(ctx, today, logins[start:start + 50])
        await asyncio.sleep(0)
    return written


async def _digest_chunk(ctx: ServiceContext, today: date, logins: list[str]) -> int:
    end = week_end(today)
    new_from = since_yesterday(today)
    written = 0
    async with ctx.db.transaction() as session:
        mentioned = or_(cases.c.due <= end, cases.c.created_at >= new_from)
        rows = await session.execute(
            select(cases).where(cases.c.assignee_login.in_(logins), cases.c.status.in_(OPEN_STATUSES), mentioned)
            .order_by(cases.c.due, cases.c.title))
        by_login: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            by_login[row.assignee_login].append(row)
        for login in logins:
            mine = by_login.get(login, [])
            digest = CaseDigest(
                recipient=(_assignee(mine[0]) if mine else None) or TeamMember(login=login), day=today,
                due_today=[_ref(r) for r in mine if r.due == today][:DIGEST_SECTION_MAX],
                due_this_week=[_ref(r) for r in mine if today < r.due <= end][:DIGEST_SECTION_MAX],
                overdue=[_ref(r) for r in mine if r.due < today][:DIGEST_SECTION_MAX],
                new_since_yesterday=[_ref(r) for r in mine if r.created_at >= new_from][:DIGEST_SECTION_MAX],
            )
            listed = len({c.case_id for name in ("due_today", "due_this_week", "overdue", "new_since_yesterday")
                          for c in getattr(digest, name)})
            # The claim is written even for an empty day: the person is looked at once a day, not each tick.
            if not await _claim(session, case_digests, login=login, day=today, cases=listed,
                                created_at=ctx.clock.now()):
                continue
            if listed:
                await ctx.messaging.emit(session, CASE_DIGEST, digest.model_dump(mode="json"))
                written += 1
    return written


async def morning_loop(ctx: ServiceContext) -> None:
    """Background loop: the morning job once a business day per process, from `case_watch_time` (Warsaw);
    several processes may run it, the claims keep each decision single."""
    while True:
        today = ctx.clock.today()
        due = ctx.extras.get(LAST_RUN) != today and CALENDAR.is_business_day(today) and morning_reached(ctx, today)
        # Cases held past the wait (`left`): run again at the next tick; the claims keep what was done single.
        if due and not (await run_morning(ctx)).get("left"):
            ctx.extras[LAST_RUN] = today
        await asyncio.sleep(ctx.settings.case_watch_tick_seconds)


@router.post("/jobs/morning", summary="Run the morning job now: deadline states, escalations, summary, digests")
async def run_morning_now(ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    return await run_morning(ctx)
