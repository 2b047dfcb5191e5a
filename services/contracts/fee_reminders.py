"""An overdue fee reminds the client like any other duty.

Each day (from the notifier's reminder hour, `reminder_time`, Warsaw; and at once by `POST /jobs/fee-reminders`;
`TERMINARZ_FEE_REMINDERS=false` turns it off)
the check looks at the months of every contract up to `LOOKBACK_MONTHS` back: a month whose gross fee is not wholly
paid after its payment day (`fees.payment_due`: day `payment_day` of the next month, moved past free days) is
announced once — a `fee_reminders` row (contract, month) is the claim, inserted ON CONFLICT DO NOTHING in the same
transaction as its `fee.overdue` event, so two runs or two processes announce it once. The notifier makes it a
notice with the amount outstanding, the office's account and the due day, reminded daily with the scanner-safe
link ("Zapłacone / przelew wysłany").

A payment recorded, imported or assigned that covers an announced month settles it in the same transaction
(`settle`): the row moves open → settled by an update conditional on `open` and `fee.settled` goes out once; the
notifier withdraws the notice (its link says the payment arrived). The daily check re-checks every open row too (a
payment assigned some other way, a fee lowered by an annex), and a settled month unpaid again (its payment
reassigned) is announced again: the notifier brings its notice back.

The manager's "Przypomnij klientowi" button (`remind`) takes the same claim: before the daily check it announces
the month itself; after it, it announces nothing new (the client is already reminded daily).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import WARSAW
from services.common.errors import NotFound, Problem
from services.common.log import get_logger
from services.common.messages import FEE_OVERDUE, FEE_SETTLED, FeeOverdue, FeeSettled, TeamMember
from services.common.months import add_months, month_key, parse_month
from services.common.runtime import ServiceContext
from services.common.scope import SERVICE_SCOPE, Scope
from services.contracts import fees
from services.contracts.models import fee_reminders

log = get_logger(__name__)
LOOKBACK_MONTHS = 12  # months before the current one the daily check looks at
LAST_RUN = "contracts.fee_reminders.last_day"
ZERO = Decimal("0.00")


def _insert_ignoring(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert(fee_reminders) if dialect == "postgresql"
            else sqlite.insert(fee_reminders)).on_conflict_do_nothing()


def is_overdue(item: dict[str, Any], today: date) -> bool:
    """A contract month's fee (from `fees.fees_by_month`) with something outstanding after its payment day."""
    return Decimal(item["outstanding"]) > ZERO and date.fromisoformat(item["payment_due"]) < today


async def _announce(ctx: ServiceContext, session: AsyncSession, item: dict[str, Any], month: str, *, source: str,
                    requested_by: TeamMember | None = None) -> bool:
    """Claim (contract, month) and emit fee.overdue in the same transaction; False when announced before."""
    won = await session.execute(_insert_ignoring(session).values(
        contract_id=int(item["contract_id"]), month=parse_month(month), client_id=int(item["client_id"]),
        outstanding=Decimal(item["outstanding"]), payment_due=date.fromisoformat(item["payment_due"]),
        source=source, state="open", created_at=ctx.clock.now()))
    if not won.rowcount:  # type: ignore[attr-defined]
        # Announced before. Settled then, and unpaid again (its payment reassigned): announced again, once.
        again = await session.execute(update(fee_reminders).where(
            fee_reminders.c.contract_id == int(item["contract_id"]), fee_reminders.c.month == parse_month(month),
            fee_reminders.c.state == "settled").values(
            state="open", settled_at=None, outstanding=Decimal(item["outstanding"]), source=source))
        if not again.rowcount:  # type: ignore[attr-defined]
            return False
    await ctx.messaging.emit(session, FEE_OVERDUE, FeeOverdue(
        contract_id=item["contract_id"], number=item["number"], client_id=item["client_id"],
        client_name=item.get("client_name") or "", month=month, gross=Decimal(item["gross"]),
        paid=Decimal(item["paid"]), outstanding=Decimal(item["outstanding"]),
        payment_due=date.fromisoformat(item["payment_due"]), source=source,  # type: ignore[arg-type]
        requested_by=requested_by).model_dump(mode="json"))
    return True


async def settle(ctx: ServiceContext, session: AsyncSession,
                 contract_months: Iterable[tuple[int, date]] | None = None) -> int:
    """Open announcements (all, or those of `contract_months`) whose month is paid now: settled, fee.settled once
    each. Call it in the transaction that recorded the payment."""
    query = select(fee_reminders).where(fee_reminders.c.state == "open")
    wanted = set(contract_months) if contract_months is not None else None
    if wanted is not None:
        if not wanted:
            return 0
        query = query.where(fee_reminders.c.contract_id.in_({c for c, _ in wanted}),
                            fee_reminders.c.month.in_({m for _, m in wanted}))
    rows = [r for r in (await session.execute(query)).all()
            if wanted is None or (r.contract_id, r.month) in wanted]
    if not rows:
        return 0
    months = sorted({r.month for r in rows})
    pages = await fees.fees_by_month(session=session, months=months, contract_ids=sorted({r.contract_id
                                                                                          for r in rows}))
    now_fee = {(int(i["contract_id"]), parse_month(p["month"])): i for p in pages for i in p["items"]}
    settled = 0
    for r in rows:
        item = now_fee.get((r.contract_id, r.month))
        if item is not None and Decimal(item["outstanding"]) > ZERO:
            continue
        moved = await session.execute(update(fee_reminders).where(
            fee_reminders.c.contract_id == r.contract_id, fee_reminders.c.month == r.month,
            fee_reminders.c.state == "open").values(state="settled", settled_at=ctx.clock.now()))
        if not moved.rowcount:  # type: ignore[attr-defined]
            continue  # another transaction settled it
        await ctx.messaging.emit(session, FEE_SETTLED, FeeSettled(
            contract_id=str(r.contract_id), client_id=str(r.client_id), month=month_key(r.month),
            paid=Decimal(item["paid"]) if item else ZERO).model_dump(mode="json"))
        settled += 1
    return settled


async def run_daily(ctx: ServiceContext) -> dict[str, Any]:
    """One pass of the daily check for today: every overdue contract month announced (once), every open one paid
    since settled. Safe to run any number of times, in any number of processes."""
    today = ctx.clock.today()
    if not ctx.settings.fee_reminders:
        return {"day": today.isoformat(), "enabled": False}
    current = today.replace(day=1)
    months = [add_months(current, -n) for n in range(LOOKBACK_MONTHS, 0, -1)]
    announced = 0
    async with ctx.db.transaction() as session:
        for page in await fees.fees_by_month(session=session, months=months):
            for item in page["items"]:
                if is_overdue(item, today):
                    announced += await _announce(ctx, session, item, page["month"], source="daily")
    async with ctx.db.transaction() as session:
        settled = await settle(ctx, session)
    done = {"day": today.isoformat(), "announced": announced, "settled": settled}
    log.info("contracts.fee_reminders", **done)
    return done


async def remind(ctx: ServiceContext, session: AsyncSession, *, contract_id: int, month: str,
                 requested_by: TeamMember, scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    """The manager's button: announce one overdue month now (404 outside the scope, 409 when not overdue). When it
    was announced before (by the daily check or an earlier press) nothing new is sent: `created` is false."""
    page = (await fees.fees_by_month(session=session, months=[parse_month(month)], scope=scope,
                                     contract_ids=[contract_id]))[0]
    item = next((i for i in page["items"] if i["contract_id"] == str(contract_id)), None)
    if item is None:
        raise NotFound("contract month", f"{contract_id}/{month}")
    if not is_overdue(item, ctx.clock.today()):
        raise Problem(409, "Not overdue", f"the fee of {month} is paid or not yet due ({item['payment_due']})",
                      errors=[{"field": "month", "message": "the fee of this month is not overdue"}])
    created = await _announce(ctx, session, item, month, source="manual", requested_by=requested_by)
    return {"contract_id": str(contract_id), "number": item["number"], "client_id": item["client_id"],
            "month": month, "gross": item["gross"], "outstanding": item["outstanding"],
            "payment_due": item["payment_due"], "created": created}


def check_reached(ctx: ServiceContext, today: date) -> bool:
    now = ctx.clock.now().astimezone(WARSAW)
    return now.date() == today and now.time() >= ctx.settings.reminder_time


async def fee_reminder_loop(ctx: ServiceContext) -> None:
    """Background loop: the daily check once a day per process from the reminder hour; the claims keep each
    announcement single across processes."""
    while True:
        today = ctx.clock.today()
        if ctx.extras.get(LAST_RUN) != today and check_reached(ctx, today):
            await run_daily(ctx)
            ctx.extras[LAST_RUN] = today
        await asyncio.sleep(ctx.settings.case_watch_tick_seconds)
