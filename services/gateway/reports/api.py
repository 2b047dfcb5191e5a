"""REST API of the reports (/api/v1/reports/...): JSON by default, `format=csv` or `format=xlsx` for a file."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from services.common.months import MonthParam
from services.common.runtime import ServiceContext, get_context
from services.gateway import i18n
from services.gateway.audit import service as audit
from services.gateway.clients import ServiceClients
from services.gateway.common import service_clients
from services.gateway.i18n import N_
from services.gateway.openapi import problems
from services.gateway.permissions import Caller, Permission, allow
from services.gateway.reports import export
from services.gateway.reports import service as reports

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
REPORT = allow(Permission.read_reports)
Format = Annotated[Literal["json", "csv", "xlsx"], Query(description="json (default), csv (the first table, or "
                                                         "the `sheet`-th) or xlsx (every table, one sheet each)")]
Sheet = Annotated[int, Query(ge=1, le=10, description="with format=csv: which table, from 1")]
ANSWERS = problems(401, 403, 422, 503)


class _Report(BaseModel):
    model_config = ConfigDict(extra="allow")


class FinancialReport(_Report):
    month: str
    months: list[str]
    kinds: list[str]
    contracts: list[dict[str, Any]]
    history: list[dict[str, Any]]
    office: list[dict[str, Any]]


class ExecutionReport(_Report):
    today: str
    months: list[str]
    items: list[dict[str, Any]]


class OverdueReport(_Report):
    today: str
    total: int
    by_assignee: list[dict[str, Any]]
    by_client: list[dict[str, Any]]
    by_contract: list[dict[str, Any]]


class WorkloadReport(_Report):
    today: str
    weeks: list[dict[str, Any]]
    people: list[dict[str, Any]]


def _success(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "content": {"text/csv": {"schema": {"type": "string"}},
                                              export.XLSX: {"schema": {"type": "string", "format": "binary"}}}}}


# A download's file name, before its month or day: the audit log keeps the Polish one whatever the caller's language.
FILE_NAMES = {"financial": N_("podsumowanie-finansowe"), "execution": N_("wykonanie-umow"),
              "overdue": N_("przeterminowane"), "workload": N_("obciazenie")}


async def answer(ctx: ServiceContext, caller: Caller, name: str, report: dict[str, Any], *, format: str,
                 sheet: int, suffix: str) -> Any:
    """The report as JSON, or as a file in the caller's language (headers, sheet names, words; the data as it is),
    each download written to the audit log: who took which data out."""
    if format == "json":
        return JSONResponse(report)  # JSON-ready already: no encoder pass over every row
    i18n.use(caller.user.language)  # the page's language already; an API token's user's too
    stem = f"{FILE_NAMES[name]}-{suffix}"
    response = export.download(export.TABLES[name](report), format=format,
                               name=f"{i18n.gettext(FILE_NAMES[name])}-{suffix}", sheet=sheet)
    await audit.record(ctx, caller.user, action="report.export", target=f"report:{stem}", detail={"format": format})
    return response


@router.get("/financial", summary="Monthly financial summary: fees, liabilities notified, confirmations, cases "
            "done, per contract and for the office, for the 12 months ending with `month`",
            responses={**ANSWERS, **_success(FinancialReport)}, response_model=None)
async def financial(month: MonthParam = None, format: Format = "json", sheet: Sheet = 1,
                    caller: Caller = Depends(REPORT), svc: ServiceClients = Depends(service_clients),
                    ctx: ServiceContext = Depends(get_context)) -> Any:
    chosen = reports.chosen_month(month, ctx.clock.today())
    report = await reports.financial(svc=svc, caller=caller, month=chosen, today=ctx.clock.today())
    return await answer(ctx, caller, "financial", report, format=format, sheet=sheet,
                        suffix=report["month"])


@router.get("/execution", summary="Contract execution per contract and month: due, done on time, done late, "
            "overdue, not applicable", responses={**ANSWERS, **_success(ExecutionReport)}, response_model=None)
async def execution(from_: Annotated[MonthParam, Query(alias="from")] = None, to: MonthParam = None,
                    format: Format = "json", sheet: Sheet = 1, caller: Caller = Depends(REPORT),
                    svc: ServiceClients = Depends(service_clients),
                    ctx: ServiceContext = Depends(get_context)) -> Any:
    report = await reports.execution(svc=svc, caller=caller, first=from_, last=to)
    return await answer(ctx, caller, "execution", report, format=format, sheet=sheet,
                        suffix=f"{report['months'][0]}-{report['months'][-1]}")


@router.get("/overdue", summary="Overdue cases now, by person, by client and by contract",
            responses={**ANSWERS, **_success(OverdueReport)}, response_model=None)
async def overdue(format: Format = "json", sheet: Sheet = 1, caller: Caller = Depends(REPORT),
                  svc: ServiceClients = Depends(service_clients), ctx: ServiceContext = Depends(get_context)) -> Any:
    report = await reports.overdue(svc=svc, caller=caller)
    return await answer(ctx, caller, "overdue", report, format=format, sheet=sheet,
                        suffix=report["today"])


@router.get("/workload", summary="Open cases per person per ISO week for the next 8 weeks, with absences",
            responses={**ANSWERS, **_success(WorkloadReport)}, response_model=None)
async def workload(format: Format = "json", sheet: Sheet = 1, caller: Caller = Depends(REPORT),
                   svc: ServiceClients = Depends(service_clients), ctx: ServiceContext = Depends(get_context)) -> Any:
    async with ctx.db.reading() as session:
        report = await reports.workload(svc=svc, caller=caller, session=session)
    return await answer(ctx, caller, "workload", report, format=format, sheet=sheet,
                        suffix=report["today"])

