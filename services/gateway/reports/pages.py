"""Web pages of the reports: the list, and each report with its filters, its XLSX and CSV downloads (the same
page address with `format=xlsx` or `format=csv`) and, for the financial summary, its charts."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from services.common.months import month_choices, parse_month
from services.common.runtime import ServiceContext, get_context
from services.gateway import i18n
from services.gateway.clients import ServiceClients
from services.gateway.common import service_clients
from services.gateway.permissions import Caller, Permission, allow_page
from services.gateway.reports import charts
from services.gateway.reports import service as reports
from services.gateway.reports.api import answer
from services.gateway.web import render

router = APIRouter(include_in_schema=False)
REPORT = allow_page(Permission.read_reports)
Download = Annotated[Literal["", "csv", "xlsx"], Query()]
Sheet = Annotated[int, Query(ge=1, le=10)]
KIND_CSS = {kind: f"kind-{kind}" for kind in reports.LIABILITY_KINDS}


@router.get("/reports")
async def report_list(request: Request, caller: Caller = Depends(REPORT)) -> Response:
    return render(request, "reports/index.html", caller.user)


# A form's empty field is sent as "": the default (this month, the last twelve).
@router.get("/reports/financial")
async def financial_page(request: Request, month: Annotated[str, Query(max_length=7)] = "", format: Download = "",
                         sheet: Sheet = 1, caller: Caller = Depends(REPORT),
                         svc: ServiceClients = Depends(service_clients),
                         ctx: ServiceContext = Depends(get_context)) -> Any:
    chosen = reports.chosen_month(_valid_month(month), ctx.clock.today())
    report = await reports.financial(svc=svc, caller=caller, month=chosen, today=ctx.clock.today())
    if format:
        return await answer(ctx, caller, "financial", report, format=format, sheet=sheet,
                            suffix=report["month"])
    office = report["office"]
    months = report["months"]
    fee_chart = charts.bar_chart(
        i18n.gettext("Opłaty netto (całe biuro)"), months,
        [("fee", i18n.gettext("opłaty netto"), [Decimal(m["fee"]["net"]) for m in office])],
        marked={m["month"] for m in office if m["fee"]["provisional"]})
    liability_chart = charts.bar_chart(
        i18n.gettext("Zobowiązania przekazane klientom"), months,
        [(KIND_CSS[k], reports.KIND_PL[k], [Decimal(m["liabilities"].get(k, {}).get("amount", "0")) for m in office])
         for k in report["kinds"]])
    current = office[-1]
    return render(request, "reports/financial.html", caller.user, report=report, current=current,
                  month_choices=month_choices(ctx.clock.today(), report["month"]),
                  charts=[fee_chart, liability_chart], kind_pl=reports.KIND_PL,
                  query=urlencode({"month": report["month"]}))


def _valid_month(month: str) -> str | None:
    """The page's month field: empty is this month; a malformed one is the same 422 page as any bad filter."""
    if not month:
        return None
    try:
        parse_month(month)
    except ValueError:
        raise RequestValidationError([{"loc": ("query", "month"), "msg": "a month is written YYYY-MM",
                                       "type": "value_error"}]) from None
    return month


@router.get("/reports/execution")
async def execution_page(request: Request, from_: Annotated[str, Query(alias="from", max_length=7)] = "",
                         to: Annotated[str, Query(max_length=7)] = "", format: Download = "", sheet: Sheet = 1,
                         caller: Caller = Depends(REPORT), svc: ServiceClients = Depends(service_clients),
                         ctx: ServiceContext = Depends(get_context)) -> Any:
    report = await reports.execution(svc=svc, caller=caller, first=_valid_month(from_), last=_valid_month(to))
    if format:
        return await answer(ctx, caller, "execution", report, format=format, sheet=sheet,
                            suffix=f"{report['months'][0]}-{report['months'][-1]}")
    totals = {key: sum(r[key] for r in report["items"])
              for key in ("due", "done_on_time", "done_late", "overdue", "not_applicable", "open", "client_due",
                          "client_on_time", "client_late", "client_overdue")}
    return render(request, "reports/execution.html", caller.user, report=report, totals=totals,
                  month_choices=month_choices(ctx.clock.today(), *report["months"]),
                  query=urlencode({"from": report["months"][0], "to": report["months"][-1]}))


@router.get("/reports/overdue")
async def overdue_page(request: Request, format: Download = "", sheet: Sheet = 1, caller: Caller = Depends(REPORT),
                       svc: ServiceClients = Depends(service_clients),
                       ctx: ServiceContext = Depends(get_context)) -> Any:
    report = await reports.overdue(svc=svc, caller=caller)
    if format:
        return await answer(ctx, caller, "overdue", report, format=format, sheet=sheet,
                            suffix=report["today"])
    return render(request, "reports/overdue.html", caller.user, report=report)


@router.get("/reports/workload")
async def workload_page(request: Request, format: Download = "", sheet: Sheet = 1, caller: Caller = Depends(REPORT),
                        svc: ServiceClients = Depends(service_clients),
                        ctx: ServiceContext = Depends(get_context)) -> Any:
    async with ctx.db.reading() as session:
        report = await reports.workload(svc=svc, caller=caller, session=session)
    if format:
        return await answer(ctx, caller, "workload", report, format=format, sheet=sheet,
                            suffix=report["today"])
    return render(request, "reports/workload.html", caller.user, report=report)
