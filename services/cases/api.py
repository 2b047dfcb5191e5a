"""HTTP API of the cases service (internal: the gateway calls it)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from services.cases import assignment_api, duties, handlers, lifecycle, personal, reports
from services.cases import attachments as files
from services.cases.life_api import router as life_router
from services.cases.views import CaseFilter, Sort, Tab, find_cases
from services.common.errors import NotFound
from services.common.params import (
    CaseIdPath,
    CaseStatus,
    ClientIdFilter,
    ClientIdPath,
    ContractIdFilter,
    ContractIdList,
    LoginFilter,
    NameFilter,
    Offset,
    SearchText,
)
from services.common.runtime import ServiceContext, get_context
from services.common.scope import Scope, request_scope
from services.common.terms import LocalDate

router = APIRouter()
router.include_router(assignment_api.router)  # reassignments and absences


@router.get("/cases")
async def list_cases(
    ctx: ServiceContext = Depends(get_context),
    visible_to: LoginFilter = None,
    mine: bool = Query(False, description="only the caller's own cases (views.mine)"),
    tab: Tab | None = Query(None, description="today, this week (to Sunday), overdue or all open"),
    status: CaseStatus | None = None,
    contract_id: ContractIdFilter = None,
    client_id: ClientIdFilter = None,
    client: SearchText = None,
    code: NameFilter = None,
    assignee: LoginFilter = None,
    due_from: Annotated[LocalDate | None, Query(description="due on or after this day (YYYY-MM-DD)")] = None,
    due_to: Annotated[LocalDate | None, Query(description="due on or before this day (YYYY-MM-DD)")] = None,
    due_before: Annotated[LocalDate | None, Query(description="the same as due_to (kept for older callers)")] = None,
    sort: Sort = "due",
    desc: bool = False,
    deadline_state: Literal["on_time", "due_soon", "overdue"] | None = Query(
        None, description="open cases in this state of the morning job (services/cases/watch.py)"),
    party: Literal["office", "client"] | None = Query(
        None, description="office: the office's own duties; client: the client's tasks the office tracks"),
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
    scope: Scope = Depends(request_scope),
) -> dict[str, Any]:
    """Cases within the caller's scope, filtered, sorted and paged, with the count per status of the same filters
    (without the status one); `visible_to` narrows them to those one person does or commissioned."""
    due_to = min(filter(None, (due_to, due_before)), default=None)
    f = CaseFilter(mine_of=(scope.login or None) if mine else None, visible_to=visible_to, tab=tab, status=status,
                   contract_id=None if contract_id is None else str(contract_id),
                   client_id=None if client_id is None else str(client_id), client=client, code=code,
                   assignee=assignee, due_from=due_from, due_to=due_to, deadline_state=deadline_state, party=party,
                   sort=sort, descending=desc, limit=limit,
                   offset=offset)
    async with ctx.db.reading() as session:
        return await find_cases(session, scope, f, ctx.clock.today())


@router.get("/clients/{client_id}/personal-data")
async def client_personal_data(
    client_id: ClientIdPath,
    ctx: ServiceContext = Depends(get_context),
    contract_id: ContractIdList = [],  # noqa: B006 - FastAPI copies the default
    scope: Scope = Depends(request_scope),
) -> dict[str, Any]:
    """The cases of a client's contracts (`contract_id`, repeated: the gateway names them) within the scope."""
    async with ctx.db.reading() as session:
        return await personal.export(session, client_id=client_id, contract_ids=contract_id, scope=scope)


@router.get("/cases/{case_id}")
async def get_case(case_id: CaseIdPath, ctx: ServiceContext = Depends(get_context),
                   scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.reading() as session:
        case = await handlers.get_case(session=session, case_id=str(case_id), scope=scope)
        if case is None:
            raise NotFound("case", case_id)
        case["comments"] = await lifecycle.comments_of(session, str(case_id))
        case["attachments"] = await files.list_for(session, str(case_id))
        # An office case that depends on a client duty: how its period's client task went (duties.py).
        case["client_duties"] = await duties.duty_status(session, SimpleNamespace(**case), ctx.clock.today())
    return case


router.include_router(reports.router)  # /reports/…: the report aggregates (services/cases/reports.py)
router.include_router(life_router)
