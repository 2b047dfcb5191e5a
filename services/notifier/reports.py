"""The notifier's report aggregates, in SQL within the caller's scope: per contract and month the notices sent and
confirmed, and the liabilities notified by kind with how many of them the client confirmed.

A notice counts in the Warsaw month it was issued (its mails written). A liability counts when it is active on a
notice issued that month that was not withdrawn or superseded (a correction counts instead); it is *confirmed*
when its notice is.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Problem
from services.common.months import (
    MonthParam,
    add_months,
    month_of,
    month_range,
    parse_month,
    start_of_day,
    warsaw_date,
)
from services.common.runtime import ServiceContext, get_context
from services.common.scope import Scope, request_scope
from services.notifier.models import notice_items, notices
from services.notifier.queries import visible

router = APIRouter(prefix="/reports")

LIABILITY_KINDS = ("vat", "pit", "cit", "zus", "ppk", "pfron")


async def notified(*, session: AsyncSession, scope: Scope, first: date, last: date) -> dict[str, Any]:
    """`notices`: per contract and month, notices sent and confirmed; `liabilities`: per contract, month and kind,
    how many liabilities and how much was notified, and how many and how much of it is confirmed."""
    within = [notices.c.issued_at.is_not(None), notices.c.issued_at >= start_of_day(first),
              notices.c.issued_at < start_of_day(add_months(last, 1))]
    if (scope_filter := visible(scope)) is not None:
        within.append(scope_filter)
    month = month_of(warsaw_date(notices.c.issued_at)).label("month")
    confirmed = notices.c.confirmed_at.is_not(None)
    sent = [{"contract_id": r.contract_id, "month": r.month, "sent": int(r.sent), "confirmed": int(r.confirmed or 0)}
            for r in await session.execute(
                select(notices.c.contract_id, month, func.count().label("sent"),
                       func.sum(case((confirmed, 1), else_=0)).label("confirmed"))
                .where(*within).group_by(notices.c.contract_id, month).order_by(notices.c.contract_id, month))]
    amount_confirmed = func.sum(case((confirmed, notice_items.c.amount), else_=0))
    liabilities = [
        {"contract_id": r.contract_id, "month": r.month, "kind": r.kind, "count": int(r.n),
         "amount": _money(r.amount), "confirmed_count": int(r.confirmed_count or 0),
         "confirmed_amount": _money(r.confirmed_amount)}
        for r in await session.execute(
            select(notices.c.contract_id, month, notice_items.c.kind, func.count().label("n"),
                   func.sum(notice_items.c.amount).label("amount"),
                   func.sum(case((confirmed, 1), else_=0)).label("confirmed_count"),
                   amount_confirmed.label("confirmed_amount"))
            .join(notice_items, and_(notice_items.c.notice_id == notices.c.id, notice_items.c.status == "active"))
            .where(*within, notices.c.status.not_in(("withdrawn", "superseded")))
            .group_by(notices.c.contract_id, month, notice_items.c.kind)
            .order_by(notices.c.contract_id, month, notice_items.c.kind))]
    return {"notices": sent, "liabilities": liabilities}


def _money(value: Any) -> str:
    return str(Decimal(str(value or 0)).quantize(Decimal("0.01")))


@router.get("/notified")
async def notified_report(ctx: ServiceContext = Depends(get_context), scope: Scope = Depends(request_scope),
                          from_: Annotated[MonthParam, Query(alias="from")] = None,
                          to: MonthParam = None) -> dict[str, Any]:
    """Notices sent and confirmed per contract and month, and liabilities notified per contract, month and kind;
    `from` and `to` are months (YYYY-MM), by default the twelve ending with this one."""
    try:
        covered = month_range(from_, to, today=ctx.clock.today())
    except ValueError as error:
        raise Problem(422, "Invalid input", errors=[{"field": "from", "message": str(error).removeprefix(
            "from: ")}]) from None
    async with ctx.db.reading() as session:
        result = await notified(session=session, scope=scope, first=parse_month(covered[0]),
                                last=parse_month(covered[-1]))
    return {"months": covered, **result}
