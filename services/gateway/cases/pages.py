"""Web pages of cases: "my cases" and the office's list (tabs, filters, counts, paging), one case with its work
(status buttons, checklist ticks, the finish form with the liabilities' amounts, comments, attachments, history in
Warsaw time) and the form of a one-off case."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BeforeValidator
from starlette.datastructures import UploadFile

from services.common.errors import Problem
from services.common.params import (
    CaseIdPath,
    ContractIdFilter,
    ContractIdPath,
    LoginFilter,
    NameFilter,
    Offset,
    SearchText,
)
from services.common.runtime import ServiceContext, get_context
from services.common.terms import LocalDate
from services.gateway import format as fmt
from services.gateway import i18n, users
from services.gateway import powers as power_checks
from services.gateway.cases import service as cases
from services.gateway.clients import ServiceClients
from services.gateway.common import service_clients
from services.gateway.contracts.service import staff
from services.gateway.i18n import N_, NC_, Translated
from services.gateway.notices import service as notices
from services.gateway.permissions import Caller, Permission, allow_page
from services.gateway.web import (
    check_csrf,
    form_date,
    form_errors,
    not_found,
    query_day,
    render,
    templates,
    text_of,
)

router = APIRouter(include_in_schema=False)
WARSAW = ZoneInfo("Europe/Warsaw")
STATUS_PL = Translated({
    "open": N_("otwarta"), "in_progress": N_("w toku"), "done": N_("zakończona"), "not_applicable": N_("nie dotyczy"),
    "withdrawn": N_("wycofana"),
})
TAB_PL = Translated({
    "today": N_("Na dziś"), "week": N_("Ten tydzień"), "overdue": NC_("cases tab", "Po terminie"),
    "open": N_("Wszystkie otwarte"),
})
EVENT_PL = Translated({
    "created": N_("utworzona"), "started": N_("rozpoczęta"), "done": N_("zakończona"),
    "not_applicable": N_("nie dotyczy"), "reopened": N_("wznowiona"), "ticked": N_("odhaczono"),
    "unticked": N_("cofnięto odhaczenie"), "attached": N_("dodano plik"), "withdrawn": N_("wycofana"),
    "replanned": N_("zmiana planu"), "received": N_("dokumenty otrzymane"),
    "client_received": N_("dokumenty klienta otrzymane"), "client_confirmed": N_("klient potwierdził wysłanie"),
    "client_confirmation_cleared": N_("potwierdzenie klienta usunięte"),
    "substituted": N_("zastępstwo"), "handed_back": N_("zwrócona po nieobecności"),
    "reassigned": N_("przekazana innej osobie"), "team_changed": N_("zmiana zespołu umowy"),
})
# Whose duty a case is (cases' `party`): the client's tasks are listed apart from the office's own work.
PARTY_PL = Translated({
    "office": N_("Obowiązek biura"), "client": N_("Zadanie klienta"),
})
LIABILITY_PL = Translated({
    "vat": N_("VAT"), "pit": N_("zaliczka na PIT"), "cit": N_("CIT"), "zus": N_("składki ZUS"), "ppk": N_("PPK"),
    "pfron": N_("PFRON"),
})
KIND_PL = Translated({
    "upo": N_("UPO"), "statement": N_("oświadczenie"), "other": N_("inny"),
})
SORT_PL = Translated({
    "due": N_("termin"), "client": N_("klient"), "status": N_("status"),
})
PAGE_SIZE = 50


def local_time_pl(value: Any) -> str:
    """A UTC timestamp as Warsaw local time in the page's language (format.py)."""
    return fmt.timestamp(value)


def pln(value: Any) -> str:
    """An amount ("1234.50") as money in the page's language: "1 234,50 zł" / "PLN 1,234.50"."""
    return fmt.money(value)


templates.env.filters["local_time_pl"] = local_time_pl
templates.env.filters["pln"] = pln
templates.env.globals.update(STATUS_PL=STATUS_PL, TAB_PL=TAB_PL, EVENT_PL=EVENT_PL, LIABILITY_PL=LIABILITY_PL,
                             billing_fields=cases.billing_fields,
                             KIND_PL=KIND_PL, SORT_PL=SORT_PL, PARTY_PL=PARTY_PL)
VIEW = allow_page(Permission.view)
WORK = allow_page(Permission.work_cases)


@router.get("/cases")
async def case_list(
    request: Request,
    status: Literal["", "open", "in_progress", "done", "not_applicable", "withdrawn"] = "",
    mine: bool = False,
    tab: Literal["", "today", "week", "overdue", "open"] = "",
    client: SearchText = None,
    contract_id: ContractIdFilter = None,
    code: NameFilter = None,
    assignee: LoginFilter = None,
    due_from: Annotated[LocalDate | None, Query(description="due on or after this day (DD.MM.YYYY or ISO)"),
                        BeforeValidator(query_day)] = None,
    due_to: Annotated[LocalDate | None, Query(description="due on or before this day (DD.MM.YYYY or ISO)"),
                      BeforeValidator(query_day)] = None,
    sort: Literal["due", "client", "status"] = "due",
    party: Literal["", "office", "client"] = "",
    offset: Offset = 0,
    limit: int = Query(PAGE_SIZE, ge=1, le=500),
    caller: Caller = Depends(VIEW), svc: ServiceClients = Depends(service_clients),
) -> HTMLResponse:
    if not (mine or tab or status or client or contract_id or code or assignee or due_from or due_to):
        tab = "open"  # the list opens on the open cases, not on years of finished ones
    result = await cases.list_cases(svc=svc, caller=caller, mine=mine, status=status or None, limit=limit,
                                    offset=offset, tab=tab or None, client=client, contract_id=contract_id,
                                    code=code, assignee=assignee, due_from=due_from, due_to=due_to, sort=sort,
                                    party=party or None)
    filters = {"mine": "true" if mine else "", "tab": tab, "status": status, "client": client or "",
               "contract_id": contract_id or "", "code": code or "", "assignee": assignee or "",
               "due_from": due_from.isoformat() if due_from else "", "due_to": due_to.isoformat() if due_to else "",
               "sort": sort, "party": party}
    return render(request, "cases/list.html", caller.user, cases=result["items"], total=result["total"],
                  counts=result.get("counts", {}), filters=filters, mine=mine, tab=tab, status=status,
                  offset=offset, limit=limit)


async def _names(request: Request) -> dict[str, str]:
    """Staff names by login, for the history and comments."""
    ctx: ServiceContext = request.app.state.ctx
    async with ctx.db.reading() as session:
        staff = {u.login: u.name for u in await users.list_users(session=session)}
    # Changes the system makes itself, by who made them.
    return {"scheduler": i18n.gettext("Terminarz (plan obowiązków)"), "absence": i18n.gettext("Terminarz (zastępstwo)"),
            "annex": i18n.gettext("Terminarz (aneks)"), **staff}


async def case_page_response(request: Request, caller: Caller, svc: ServiceClients, case_id: str, *,
                             status_code: int = 200, errors: dict[str, list[str]] | None = None,
                             values: dict[str, Any] | None = None, **context: Any) -> HTMLResponse:
    """The case page (also after a refused form of another domain's, e.g. a reassignment: its `context`)."""
    case = await cases.find_case(svc=svc, caller=caller, case_id=case_id)
    if case is None:
        return not_found(request, caller.user, i18n.gettext("Sprawa nie istnieje lub nie masz do niej dostępu."))
    # Managers get the form handing the case to someone else (assignment/pages.py).
    extra: dict[str, Any] = {"staff": await staff(request.app.state.ctx)} if caller.may(Permission.manage_cases) else {}
    case["power_warnings"] = await power_checks.case_warnings(svc, caller, case, request.app.state.ctx.clock.today())
    return render(request, "cases/case.html", caller.user, case=case, names=await _names(request),
                  errors=errors or {}, values=values or {}, status_code=status_code,
                  case_notices=await notices.case_notices(svc=svc, caller=caller, case_id=case_id), **extra, **context)


@router.get("/cases/{case_id}")
async def case_page(request: Request, case_id: CaseIdPath, caller: Caller = Depends(VIEW),
                    ctx: ServiceContext = Depends(get_context),
                    svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    return await case_page_response(request, caller, svc, str(case_id))


async def _refused(request: Request, caller: Caller, svc: ServiceClients, case_id: str, problem: Problem,
                   values: dict[str, Any] | None = None) -> Response:
    if problem.status >= 500 or problem.status == 404:
        raise problem
    return await case_page_response(request, caller, svc, case_id, status_code=problem.status,
                                    errors=form_errors(problem), values=values)


async def _change(request: Request, caller: Caller, ctx: ServiceContext, svc: ServiceClients, case_id: str,
                  action: str, body: dict[str, Any], values: dict[str, Any] | None = None,
                  counts: dict[str, Any] | None = None) -> Response:
    try:
        await cases.change(ctx=ctx, svc=svc, caller=caller, case_id=case_id, action=action, body=body,
                           counts_given=counts)
    except Problem as problem:
        return await _refused(request, caller, svc, case_id, problem, values)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/start", dependencies=[Depends(check_csrf)])
async def case_start(request: Request, case_id: CaseIdPath, caller: Caller = Depends(WORK),
                     ctx: ServiceContext = Depends(get_context),
                     svc: ServiceClients = Depends(service_clients)) -> Response:
    return await _change(request, caller, ctx, svc, str(case_id), "start", {})


@router.post("/cases/{case_id}/finish", dependencies=[Depends(check_csrf)])
async def case_finish(request: Request, case_id: CaseIdPath, caller: Caller = Depends(WORK),
                      ctx: ServiceContext = Depends(get_context),
                      svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    amounts = {str(key)[len("amount_"):]: value for key, value in form.items()
               if str(key).startswith("amount_") and isinstance(value, str)}
    counts = {k: text_of(form, k) for k in ("documents", "employees")}
    # Read the page's language's way ("1,200.00" in English) before the cases service reads it the Polish way.
    read = {kind: fmt.form_amount(value) if value.strip() else value for kind, value in amounts.items()}
    return await _change(request, caller, ctx, svc, str(case_id), "finish", {"liabilities": read},
                         values={**{f"amount_{k}": v for k, v in amounts.items()}, **counts}, counts=counts)


@router.post("/cases/{case_id}/received", dependencies=[Depends(check_csrf)])
async def case_received(request: Request, case_id: CaseIdPath, caller: Caller = Depends(WORK),
                        ctx: ServiceContext = Depends(get_context),
                        svc: ServiceClients = Depends(service_clients)) -> Response:
    """"Dokumenty otrzymane": on the client task, or from the office case that depends on it."""
    form = await request.form()
    values = {k: text_of(form, k) for k in ("received_on", "count")}
    body: dict[str, Any] = {"received_on": values["received_on"] or None}
    if values["count"]:
        body["count"] = int(values["count"]) if values["count"].isdigit() else values["count"]
    return await _change(request, caller, ctx, svc, str(case_id), "received", body, values=values)


@router.post("/cases/{case_id}/not-applicable", dependencies=[Depends(check_csrf)])
async def case_not_applicable(request: Request, case_id: CaseIdPath, caller: Caller = Depends(WORK),
                              ctx: ServiceContext = Depends(get_context),
                              svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    reason = text_of(form, "reason")
    return await _change(request, caller, ctx, svc, str(case_id), "not-applicable", {"reason": reason},
                         values={"reason": reason})


@router.post("/cases/{case_id}/reopen", dependencies=[Depends(check_csrf)])
async def case_reopen(request: Request, case_id: CaseIdPath, caller: Caller = Depends(allow_page(
                          Permission.manage_cases)), ctx: ServiceContext = Depends(get_context),
                      svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    return await _change(request, caller, ctx, svc, str(case_id), "reopen", {"reason": text_of(form, "reason")})


@router.post("/cases/{case_id}/checklist/{index}", dependencies=[Depends(check_csrf)])
async def case_tick(request: Request, case_id: CaseIdPath, index: Annotated[int, Path(ge=0, le=999)],
                    caller: Caller = Depends(WORK), svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    try:
        await cases.tick(svc=svc, caller=caller, case_id=str(case_id), index=index,
                         done=text_of(form, "done") == "true")
    except Problem as problem:
        return await _refused(request, caller, svc, str(case_id), problem)
    return RedirectResponse(f"/cases/{case_id}#checklist", status_code=303)


@router.post("/cases/{case_id}/comments", dependencies=[Depends(check_csrf)])
async def case_comment(request: Request, case_id: CaseIdPath, caller: Caller = Depends(WORK),
                       svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    text = text_of(form, "text")
    try:
        await cases.comment(svc=svc, caller=caller, case_id=str(case_id), text=text)
    except Problem as problem:
        return await _refused(request, caller, svc, str(case_id), problem, {"text": text})
    return RedirectResponse(f"/cases/{case_id}#comments", status_code=303)


@router.post("/cases/{case_id}/attachments", dependencies=[Depends(check_csrf)])
async def case_attach(request: Request, case_id: CaseIdPath, caller: Caller = Depends(WORK),
                      ctx: ServiceContext = Depends(get_context),
                      svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise Problem(422, "Invalid input", "choose a file",
                          errors=[{"field": "file", "message": N_("Wybierz plik.")}])
        await cases.upload(ctx=ctx, svc=svc, caller=caller, case_id=str(case_id), kind=text_of(form, "kind"),
                           filename=upload.filename, content=upload.file, content_type=upload.content_type or "")
    except Problem as problem:
        return await _refused(request, caller, svc, str(case_id), problem)
    return RedirectResponse(f"/cases/{case_id}#attachments", status_code=303)


@router.get("/cases/{case_id}/attachments/{attachment_id}")
async def case_attachment(case_id: CaseIdPath, attachment_id: CaseIdPath, caller: Caller = Depends(VIEW),
                          svc: ServiceClients = Depends(service_clients)) -> StreamingResponse:
    headers, body = await cases.download(svc=svc, caller=caller, case_id=str(case_id),
                                         attachment_id=str(attachment_id))
    return StreamingResponse(body, headers={**headers, "X-Content-Type-Options": "nosniff"})


# --- One-off cases -----------------------------------------------------------------------------------


async def _one_off_form(request: Request, caller: Caller, svc: ServiceClients, contract_id: int, *,
                        values: dict[str, Any], errors: dict[str, list[str]], status_code: int = 200) -> HTMLResponse:
    contract = await svc.find("contracts", f"/contracts/{contract_id}", scope=caller.scope)
    if contract is None:
        return not_found(request, caller.user, i18n.gettext("Nie ma takiej umowy lub nie masz do niej dostępu."))
    team = {m["login"]: f"{m.get('name') or m['login']} ({role})"
            for role, m in (contract.get("team_members") or {}).items() if m}
    return render(request, "cases/new.html", caller.user, contract=contract, team=team, values=values,
                  errors=errors, status_code=status_code)


@router.get("/contracts/{contract_id}/cases/new")
async def one_off_form(request: Request, contract_id: ContractIdPath, caller: Caller = Depends(WORK),
                       svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    return await _one_off_form(request, caller, svc, contract_id, values={}, errors={})


@router.post("/contracts/{contract_id}/cases/new", dependencies=[Depends(check_csrf)])
async def one_off_create(request: Request, contract_id: ContractIdPath, caller: Caller = Depends(WORK),
                         ctx: ServiceContext = Depends(get_context),
                         svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    values = {name: text_of(form, name) for name in ("title", "due", "assignee", "checklist")}
    checklist = [line.strip() for line in values["checklist"].splitlines() if line.strip()]
    try:
        case = await cases.create_one_off(ctx=ctx, svc=svc, caller=caller, contract_id=contract_id,
                                          title=values["title"], due=form_date(values["due"]) or None,
                                          assignee=values["assignee"] or None, checklist=checklist)
    except Problem as problem:
        if problem.status >= 500 or problem.status == 404:
            raise
        return await _one_off_form(request, caller, svc, contract_id, values=values,
                                   errors=form_errors(problem, lambda path: path.split(".")[0].split("[")[0]),
                                   status_code=422)
    return RedirectResponse(f"/cases/{case['id']}", status_code=303)
