"""The staff web UI (Polish first): cases, clients, contracts, CSV import and the local mail outbox."""

from __future__ import annotations

import hmac
import math
import re
import secrets
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from dateutil.relativedelta import relativedelta
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import AfterValidator
from starlette.datastructures import FormData, UploadFile

from services.common.errors import Problem, validation_problem
from services.common.log import current_correlation_id
from services.common.params import MAX_ID, MAX_SEARCH, CaseIdPath, ClientIdPath, ContractIdPath, Offset, plain_or_none
from services.common.runtime import ServiceContext, get_context
from services.common.terms import (
    Books,
    IncomeTax,
    IncomeTaxAdvances,
    LegalForm,
    Service,
    TaxTerms,
    TeamRole,
    VatPeriod,
    client_terms,
    term_labels,
)
from services.gateway import logins, sessions, users
from services.gateway.api import (
    annex_command,
    can_see_case,
    create_client_command,
    create_contract_command,
    decode_upload,
    import_apply_command,
    import_dry_run_command,
    read_form,
    rules_apply_command,
    service_clients,
    termination_command,
)
from services.gateway.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    clear_cookie,
    session_user,
    set_cookie,
    web_session,
)
from services.gateway.clients import ServiceClients
from services.gateway.logins import LoginPolicy
from services.gateway.sessions import SessionPolicy, WebSession
from services.gateway.users import User

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

STATUS_PL = {"open": "otwarta", "in_progress": "w toku", "done": "zakończona", "withdrawn": "wycofana"}
MAIL_STATUS_PL = {"pending": "czeka", "sending": "wysyłana", "sent": "wysłana", "kept": "w skrzynce lokalnej",
                  "failed": "błąd"}
ROLE_PL = {"admin": "administrator", "manager": "kierownik", "accountant": "księgowa/y", "payroll": "kadry i płace"}
# The vocabulary of shared/domain/terms.md in Polish, from services/common/terms.py; the keys are what the API takes.
LEGAL_FORM_PL = LegalForm.labels("pl")
BOOKS_PL = Books.labels("pl")
INCOME_TAX_PL = IncomeTax.labels("pl")
ADVANCES_PL = IncomeTaxAdvances.labels("pl")
VAT_PL = VatPeriod.labels("pl")
SERVICE_PL = Service.labels("pl")
TEAM_PL = TeamRole.labels("pl")
TERM_PL = term_labels("pl")  # {"books": "Ewidencja", "headcount_limit": "Limit osób na liście płac", …}
# The yes/no terms of a client's tax profile, one checkbox each on the client form (in_krs follows the legal form).
PROFILE_FLAGS = tuple(info.field for info in client_terms() if info.kind == "bool" and not info.derived
                      and info.field in TaxTerms.model_fields and info.field != "in_krs")
CONTRACT_STATUS_PL = {"active": "obowiązuje", "terminated": "rozwiązana"}
VERSION_KIND_PL = {"signed": "umowa", "annex": "aneks", "termination": "rozwiązanie"}
PLAN_STATUS_PL = {"planned": "zaplanowany", "requested": "sprawa utworzona", "withdrawn": "wycofany"}
PAGE = 25


def _date_pl(value: Any) -> str:
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return value.strftime("%d.%m.%Y") if isinstance(value, date) else ""


templates.env.filters["date_pl"] = _date_pl
RULESET_STATUS_PL = {"active": "obowiązuje", "superseded": "zastąpiona", "rejected": "odrzucona"}
# What a rules preview says changed for an occurrence (the scheduler's CASE_FIELDS).
CHANGE_PL = {"due": "termin", "generate_on": "utworzenie sprawy", "title_pl": "tytuł", "title_en": "tytuł (en)",
             "checklist": "lista kontrolna", "role": "rola"}
templates.env.globals.update(
    STATUS_PL=STATUS_PL, MAIL_STATUS_PL=MAIL_STATUS_PL, ROLE_PL=ROLE_PL, LEGAL_FORM_PL=LEGAL_FORM_PL,
    BOOKS_PL=BOOKS_PL, INCOME_TAX_PL=INCOME_TAX_PL, ADVANCES_PL=ADVANCES_PL, VAT_PL=VAT_PL, SERVICE_PL=SERVICE_PL,
    TEAM_PL=TEAM_PL, CONTRACT_STATUS_PL=CONTRACT_STATUS_PL, VERSION_KIND_PL=VERSION_KIND_PL,
    PLAN_STATUS_PL=PLAN_STATUS_PL, RULESET_STATUS_PL=RULESET_STATUS_PL, TERM_PL=TERM_PL, PROFILE_FLAGS=PROFILE_FLAGS,
    CHANGE_PL=CHANGE_PL,
)


class LoginRequired(Exception):
    pass


class CsrfRejected(Exception):
    """A form without the session's CSRF token: answered with a page saying so (see `service.configure_app`)."""


async def page_user(user: User | None = Depends(session_user)) -> User:
    if user is None:
        raise LoginRequired
    return user


def csrf_token(request: Request) -> str:
    """The token every POST form carries back: the session's, or before login the login cookie's (made here)."""
    web: WebSession | None = getattr(request.state, "web_session", None)
    if web is not None:
        return web.csrf_token
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or getattr(request.state, "new_login_csrf", None)
    if not token:
        token = secrets.token_urlsafe(32)
        request.state.new_login_csrf = token  # `render` sets the cookie
    return token


async def check_csrf(request: Request, web: WebSession | None = Depends(web_session)) -> None:
    form = await read_form(request)  # parsed once: a CSV file on the import page may be as large as the body limit
    sent = form.get("csrf_token")
    expected = web.csrf_token if web is not None else request.cookies.get(LOGIN_CSRF_COOKIE)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected


def render(request: Request, template: str, user: User | None, *, status_code: int = 200,
           headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    ctx: ServiceContext = request.app.state.ctx
    if "staff" in context:
        context["staff_options"] = {u.login: f"{u.name} ({u.login})" for u in context["staff"]}
    response = templates.TemplateResponse(
        request, template,
        {"user": user, "today": ctx.clock.today(), "csrf_token": csrf_token(request), **context},
        status_code=status_code, headers=headers,
    )
    new_token = getattr(request.state, "new_login_csrf", None)
    if new_token:
        set_cookie(response, ctx.settings, LOGIN_CSRF_COOKIE, new_token)
    return response


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login")
async def login_form(request: Request, web: WebSession | None = Depends(web_session)) -> HTMLResponse:
    # `web` is looked up so that a browser already logged in gets a form with its own session's token.
    return render(request, "login.html", None, error=None, login="")


@router.post("/login", dependencies=[Depends(check_csrf)])
async def login(request: Request, login: str = Form(""), password: str = Form(""),
                web: WebSession | None = Depends(web_session), ctx: ServiceContext = Depends(get_context)) -> Response:
    session_policy = SessionPolicy.from_settings(ctx.settings)
    result = await logins.log_in(db=ctx.db, policy=LoginPolicy.from_settings(ctx.settings),
                                 session_policy=session_policy, login=login.strip(), password=password,
                                 address=_address(request), now=ctx.clock.now(),
                                 correlation_id=current_correlation_id())
    if result.retry_after is not None:
        minutes = math.ceil(result.retry_after / 60)
        return render(request, "login.html", None, login=login, status_code=429,
                      headers={"Retry-After": str(result.retry_after)},
                      error=f"Zbyt wiele nieudanych prób logowania. Spróbuj ponownie za {minutes} min.")
    if result.session_id is None:
        return render(request, "login.html", None, error="Nieprawidłowy login lub hasło.", login=login,
                      status_code=401)
    if web is not None:  # whoever was logged in on this browser before is logged out
        async with ctx.db.transaction() as session:
            await sessions.end(session=session, session_row_id=web.id)
    response = RedirectResponse("/cases", status_code=303)
    set_cookie(response, ctx.settings, SESSION_COOKIE, result.session_id,
               max_age=int(session_policy.lifetime.total_seconds()))
    clear_cookie(response, ctx.settings, LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, web: WebSession | None = Depends(web_session),
                 ctx: ServiceContext = Depends(get_context)) -> Response:
    if web is not None:  # an ended session has nothing left to protect: just go to the login page
        await check_csrf(request, web)
        async with ctx.db.transaction() as session:
            await sessions.end(session=session, session_row_id=web.id)
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, ctx.settings, SESSION_COOKIE)
    return response


def csrf_rejected_page(request: Request, user: User | None) -> HTMLResponse:
    """The form could not be accepted: a page in the layout with a way back, not a JSON document."""
    back = "/cases" if user else "/login"
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path.startswith("/"):
        back = referer.path + (f"?{referer.query}" if referer.query else "")
    return render(request, "form_expired.html", user, back=back, status_code=403)


async def malformed_address_page(request: Request, exc: Exception) -> Response:
    """A page address that cannot name anything (`/cases/%3F`): the not-found page in the layout; a bad filter in
    the query: the same page saying so. The API keeps its problem documents."""
    if request.url.path.startswith("/api/"):
        return await validation_problem(request, exc)
    assert isinstance(exc, RequestValidationError)
    ctx: ServiceContext = request.app.state.ctx
    web = await web_session(request, ctx)
    user = web.user if web else None
    if any(error.get("loc", ("",))[0] == "path" for error in exc.errors()):
        return render(request, "not_found.html", user, what="Pod tym adresem nic nie ma.", status_code=404)
    return render(request, "not_found.html", user, status_code=422,
                  what="Adres zawiera nieprawidłowy filtr lub numer strony.")


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/cases", status_code=303)


@router.get("/cases")
async def case_list(request: Request, status: str | None = "open", mine: bool = False,
                    user: User = Depends(page_user), svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    visible_to = user.login if (mine or not user.sees_everything) else None
    result = await svc.call("cases", "GET", "/cases", params={
        "visible_to": visible_to, "status": status or None, "limit": 500})
    return render(request, "cases.html", user, cases=result["items"], total=result["total"],
                  status=status or "", mine=mine)


@router.get("/cases/{case_id}")
async def case_page(request: Request, case_id: CaseIdPath, user: User = Depends(page_user),
                    svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    case = await svc.find("cases", f"/cases/{case_id}")
    if case is None or not can_see_case(user, case):
        response = render(request, "not_found.html", user, what="Sprawa nie istnieje lub nie masz do niej dostępu.")
        response.status_code = 404
        return response
    return render(request, "case.html", user, case=case)


@router.get("/mail")
async def mail_outbox(request: Request, user: User = Depends(page_user),
                      svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    to = None if user.sees_everything else user.email
    result = await svc.call("notifier", "GET", "/mails", params={"to": to, "limit": 200})
    return render(request, "mail.html", user, mails=result["items"])


# --- Clients and contracts -------------------------------------------------------------------------


def form_field(path: str) -> str:
    """A problem's field path → the form input it belongs to: 'tax_profile.books' → 'books'."""
    if path.startswith("contact_emails"):
        return "emails"
    if path.startswith("services"):
        return "headcount_limit" if "parameters" in path else "services"
    if path == "team":
        return "accountant"
    return re.sub(r"\[\d+\]", "", path.split(".")[-1])


# The API's generic messages, said in Polish on the forms; specific ones (checksums, rules) stay as they are.
_MESSAGES_PL = (
    ("String should have at least 1 character", "To pole jest wymagane."),
    ("Field required", "To pole jest wymagane."),
    ("List should have at least 1 item", "Podaj co najmniej jedną wartość."),
    ("Input should be a valid integer", "Podaj liczbę całkowitą."),
    ("Input should be a valid decimal", "Podaj kwotę, np. 800.00."),
    ("a date is written YYYY-MM-DD, got ", "Podaj datę (RRRR-MM-DD)."),
    ("Input should be ", "Wybierz wartość z listy."),
)


def _message_pl(message: str) -> str:
    for prefix, polish in _MESSAGES_PL:
        if message.startswith(prefix) and (prefix != _MESSAGES_PL[5][0] or message == prefix):
            return polish
    return message


def form_errors(problem: Problem) -> dict[str, list[str]]:
    """Messages by form field; those naming no field of the form go under "" (shown above the form)."""
    errors: dict[str, list[str]] = {}
    for error in problem.errors or [{"field": "", "message": problem.detail or problem.title}]:
        errors.setdefault(form_field(str(error.get("field", ""))), []).append(
            _message_pl(str(error.get("message", ""))))
    return errors


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _number(value: str) -> int | str:
    """Digits become a number; anything else goes as typed, for the API to name what is wrong."""
    return int(value) if value.isascii() and value.isdigit() else value


def _record_id(value: str) -> int | None:
    """A form's id field as an id the database can hold, or None."""
    number = _number(value)
    return number if isinstance(number, int) and 1 <= number <= MAX_ID else None


def client_body(form: FormData) -> dict[str, Any]:
    profile: dict[str, Any] = {k: _text(form, k) for k in ("legal_form", "books", "income_tax",
                                                         "income_tax_advances", "vat")}
    profile.update({flag: form.get(flag) == "on" for flag in PROFILE_FLAGS})
    profile.update(employees=_number(_text(form, "employees") or "0"),
                   fiscal_year_end=_text(form, "fiscal_year_end") or "12-31")
    return {
        "name": _text(form, "name"),
        "nip": _text(form, "nip"),
        "regon": _text(form, "regon"),
        "pesel": _text(form, "pesel") or None,
        "krs": _text(form, "krs") or None,
        "address": {"street": _text(form, "street"), "postal_code": _text(form, "postal_code"),
                    "city": _text(form, "city")},
        "contact_emails": [e for e in re.split(r"[;,\s]+", _text(form, "emails")) if e],
        "language": _text(form, "language") or "pl",
        "tax_profile": profile,
    }


def _services(form: FormData) -> list[Any]:
    chosen: list[Any] = []
    for name in form.getlist("services"):
        if name == "payroll" and _text(form, "headcount_limit"):
            chosen.append({"name": name, "parameters": {"headcount_limit": _number(_text(form, "headcount_limit"))}})
        else:
            chosen.append(name)
    return chosen


def _scope(services: list[Any]) -> dict[str, Any]:
    """{name: parameters}, whether a service is written as a bare name or an object."""
    return {s: {} for s in services if isinstance(s, str)} | {
        s["name"]: s.get("parameters") or {} for s in services if isinstance(s, dict)}


def _team(form: FormData) -> dict[str, str | None]:
    return {role: _text(form, role) or None for role in TEAM_PL}


def contract_body(form: FormData) -> dict[str, Any]:
    fee: dict[str, Any] = {"monthly_net": _text(form, "monthly_net"), "vat_rate": _text(form, "vat_rate") or "23"}
    if _text(form, "per_employee"):
        fee["per_employee"] = _text(form, "per_employee")
    return {
        "client_id": _number(_text(form, "client_id")),
        "number": _text(form, "number"),
        "signed_on": _text(form, "signed_on"),
        "start": _text(form, "start"),
        "end": _text(form, "end") or None,
        "notice_period_months": _number(_text(form, "notice_period_months")),
        "services": _services(form),
        "fee": fee,
        "team": _team(form),
    }


def _manager(user: User) -> None:
    if not user.manages_contracts:
        raise Problem(403, "Forbidden", f"role {user.role!r} cannot change clients or contracts")


async def _staff(ctx: ServiceContext) -> list[User]:
    async with ctx.db.reading() as session:
        return await users.list_users(session=session)


@router.get("/clients")
async def client_list(request: Request,
                      q: Annotated[str, Query(max_length=MAX_SEARCH), AfterValidator(plain_or_none)] = "",
                      offset: Offset = 0, user: User = Depends(page_user),
                      svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    result = await svc.call("contracts", "GET", "/clients",
                            params={"q": q or None, "limit": PAGE, "offset": max(offset, 0)})
    return render(request, "clients.html", user, clients=result["items"], total=result["total"], q=q,
                  offset=max(offset, 0), page=PAGE)


@router.get("/clients/new")
async def client_form(request: Request, user: User = Depends(page_user)) -> HTMLResponse:
    _manager(user)
    return render(request, "client_form.html", user, values={"legal_form": "sole_trader", "employees": "0",
                                                             "fiscal_year_end": "12-31"}, errors={})


@router.post("/clients/new", dependencies=[Depends(check_csrf)])
async def client_create(request: Request, user: User = Depends(page_user), ctx: ServiceContext = Depends(get_context),
                        svc: ServiceClients = Depends(service_clients)) -> Response:
    _manager(user)
    form = await request.form()
    try:
        client = await create_client_command(ctx, svc, user, client_body(form))
    except Problem as problem:
        if problem.status >= 500:
            raise
        return render(request, "client_form.html", user, values=dict(form), errors=form_errors(problem),
                      status_code=422)
    return RedirectResponse(f"/clients/{client['id']}", status_code=303)


@router.get("/clients/{client_id}")
async def client_page(request: Request, client_id: ClientIdPath, user: User = Depends(page_user),
                      svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    client = await svc.find("contracts", f"/clients/{client_id}")
    if client is None:
        return render(request, "not_found.html", user, what="Nie ma takiego klienta.", status_code=404)
    return render(request, "client.html", user, client=client)


@router.get("/contracts")
async def contract_list(request: Request, employee: str = "", service: str = "", status: str = "",
                        offset: Offset = 0, user: User = Depends(page_user), ctx: ServiceContext = Depends(get_context),
                        svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    result = await svc.call("contracts", "GET", "/contracts", params={
        "employee": employee or None, "service": service or None, "status": status or None,
        "limit": PAGE, "offset": max(offset, 0)})
    return render(request, "contracts.html", user, contracts=result["items"], total=result["total"],
                  employee=employee, service=service, status=status, offset=max(offset, 0), page=PAGE,
                  staff=await _staff(ctx))


@router.get("/contracts/new")
async def contract_form(request: Request, client_id: Annotated[int, Query(ge=1, le=MAX_ID)],
                        user: User = Depends(page_user), ctx: ServiceContext = Depends(get_context),
                        svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    _manager(user)
    client = await svc.call("contracts", "GET", f"/clients/{client_id}")
    today = ctx.clock.today()
    first = (today.replace(day=1) + relativedelta(months=1)).isoformat()
    values = {"client_id": str(client_id), "signed_on": today.isoformat(), "start": first,
              "notice_period_months": "3", "vat_rate": "23", "manager": user.login if user.role == "manager" else ""}
    return render(request, "contract_form.html", user, client=client, values=values, chosen=["bookkeeping"],
                  errors={}, staff=await _staff(ctx))


@router.post("/contracts/new", dependencies=[Depends(check_csrf)])
async def contract_create(request: Request, user: User = Depends(page_user),
                          ctx: ServiceContext = Depends(get_context),
                          svc: ServiceClients = Depends(service_clients)) -> Response:
    _manager(user)
    form = await request.form()
    try:
        contract = await create_contract_command(ctx, svc, user, contract_body(form))
    except Problem as problem:
        if problem.status >= 500:
            raise
        client_id = _record_id(_text(form, "client_id"))
        client = await svc.find("contracts", f"/clients/{client_id}") if client_id is not None else None
        if client is None:
            return render(request, "not_found.html", user, what="Nie ma takiego klienta.", status_code=404)
        return render(request, "contract_form.html", user, client=client, values=dict(form),
                      chosen=form.getlist("services"), errors=form_errors(problem), staff=await _staff(ctx),
                      status_code=422)
    return RedirectResponse(f"/contracts/{contract['id']}", status_code=303)


async def _contract_page(request: Request, user: User, ctx: ServiceContext, svc: ServiceClients, contract_id: int,
                         *, status_code: int = 200, **context: Any) -> HTMLResponse:
    contract = await svc.find("contracts", f"/contracts/{contract_id}")
    if contract is None:
        return render(request, "not_found.html", user, what="Nie ma takiej umowy.", status_code=404)
    client = await svc.call("contracts", "GET", f"/clients/{contract['client_id']}")
    horizon = (ctx.clock.today() + relativedelta(months=12)).isoformat()
    plan_error = None
    try:
        plan = await svc.call("scheduler", "GET", "/plan", params={"contract_id": contract_id})
        obligations = [o for o in plan["items"] if str(o["due"])[:10] <= horizon]
    except Problem as problem:
        obligations, plan_error = [], problem.detail or problem.title
    defaults: dict[str, Any] = {"annex_values": {}, "annex_errors": {}, "termination_values": {},
                                "termination_errors": {}}
    return render(request, "contract.html", user, contract=contract, client=client, obligations=obligations,
                  plan_error=plan_error, horizon=horizon, staff=await _staff(ctx), status_code=status_code,
                  **{**defaults, **context})


@router.get("/contracts/{contract_id}")
async def contract_page(request: Request, contract_id: ContractIdPath, user: User = Depends(page_user),
                        ctx: ServiceContext = Depends(get_context),
                        svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    return await _contract_page(request, user, ctx, svc, contract_id)


def annex_body(form: FormData, current: dict[str, Any]) -> dict[str, Any]:
    """Only the terms the form changes: an annex says what is different from the version in force."""
    body: dict[str, Any] = {"effective_from": _text(form, "effective_from")}
    services = _services(form)
    if _scope(services) != _scope(current["services"]):
        body["services"] = services
    if _text(form, "monthly_net") and _text(form, "monthly_net") != current["fee"]["monthly_net"]:
        body["fee"] = {**current["fee"], "monthly_net": _text(form, "monthly_net")}
    team = _team(form)
    if team != {role: current["team"].get(role) for role in TEAM_PL}:
        body["team"] = team
    if _text(form, "vat"):
        body["tax_profile"] = {"vat": _text(form, "vat")}
    if _text(form, "end"):
        body["end"] = _text(form, "end")
    return body


@router.post("/contracts/{contract_id}/annex", dependencies=[Depends(check_csrf)])
async def contract_annex(request: Request, contract_id: ContractIdPath, user: User = Depends(page_user),
                         ctx: ServiceContext = Depends(get_context),
                         svc: ServiceClients = Depends(service_clients)) -> Response:
    _manager(user)
    form = await request.form()
    current = await svc.call("contracts", "GET", f"/contracts/{contract_id}")
    try:
        await annex_command(ctx, svc, user, contract_id, annex_body(form, current))
    except Problem as problem:
        if problem.status >= 500:
            raise
        return await _contract_page(request, user, ctx, svc, contract_id, status_code=422,
                                    annex_values={**dict(form), "services_list": form.getlist("services")},
                                    annex_errors=form_errors(problem))
    return RedirectResponse(f"/contracts/{contract_id}", status_code=303)


@router.post("/contracts/{contract_id}/termination", dependencies=[Depends(check_csrf)])
async def contract_termination(request: Request, contract_id: ContractIdPath, user: User = Depends(page_user),
                               ctx: ServiceContext = Depends(get_context),
                               svc: ServiceClients = Depends(service_clients)) -> Response:
    _manager(user)
    form = await request.form()
    body = {"end": _text(form, "end"), "reason": _text(form, "reason")}
    try:
        await termination_command(ctx, svc, user, contract_id, body)
    except Problem as problem:
        if problem.status >= 500:
            raise
        return await _contract_page(request, user, ctx, svc, contract_id, status_code=422,
                                    termination_values=dict(form), termination_errors=form_errors(problem))
    return RedirectResponse(f"/contracts/{contract_id}", status_code=303)


# --- CSV import ------------------------------------------------------------------------------------


@router.get("/imports")
async def import_form(request: Request, user: User = Depends(page_user)) -> HTMLResponse:
    _manager(user)
    return render(request, "import.html", user, report=None, csv_text="", result=None, error=None)


@router.post("/imports/dry-run", dependencies=[Depends(check_csrf)])
async def import_check(request: Request, user: User = Depends(page_user), ctx: ServiceContext = Depends(get_context),
                       svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    _manager(user)
    form = await read_form(request)
    upload = form.get("file")
    data = await upload.read() if isinstance(upload, UploadFile) else b""
    if not data.strip():
        return render(request, "import.html", user, report=None, csv_text="", result=None,
                      error="Wybierz plik CSV.", status_code=422)
    try:
        text = decode_upload(data)
    except Problem as problem:
        where = problem.errors[0]["message"] if problem.errors else ""
        return render(request, "import.html", user, report=None, csv_text="", result=None, status_code=422,
                      error=f"Nie można odczytać pliku: to ani UTF-8, ani Windows-1250 ({where}).")
    report = await import_dry_run_command(ctx, svc, text)
    return render(request, "import.html", user, report=report, csv_text=text, result=None, error=None)


@router.post("/imports/apply", dependencies=[Depends(check_csrf)])
async def import_apply(request: Request, user: User = Depends(page_user), ctx: ServiceContext = Depends(get_context),
                       svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    _manager(user)
    form = await read_form(request)
    csv_field = form.get("csv")
    text = csv_field if isinstance(csv_field, str) else ""
    try:
        result = await import_apply_command(ctx, svc, user, text)
    except Problem as problem:
        if problem.status >= 500:
            raise
        report = {"ok": False, "errors": problem.errors, "data_rows": None, "valid_rows": None}
        return render(request, "import.html", user, report=report, csv_text=text, result=None,
                      error=problem.detail or problem.title, status_code=422)
    return render(request, "import.html", user, report=None, csv_text="", result=result, error=None)


# --- Rules (admin) ---------------------------------------------------------------------------------


def _admin(user: User) -> None:
    if user.role != "admin":
        raise Problem(403, "Forbidden", "only an admin changes the rules")


async def _rules_page(request: Request, user: User, svc: ServiceClients, *, preview: Any = None,
                      applied: Any = None, errors: Any = None, status_code: int = 200) -> HTMLResponse:
    rules = await svc.call("scheduler", "GET", "/rules")
    return render(request, "rules.html", user, rules=rules, preview=preview, applied=applied, errors=errors,
                  status_code=status_code)


@router.get("/rules")
async def rules_page(request: Request, user: User = Depends(page_user),
                     svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    return await _rules_page(request, user, svc)


@router.post("/rules/preview", dependencies=[Depends(check_csrf)])
async def rules_preview(request: Request, user: User = Depends(page_user),
                        svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    _admin(user)
    try:
        preview = await svc.call("scheduler", "POST", "/rules/preview")
    except Problem as problem:
        if problem.status != 422:
            raise
        return await _rules_page(request, user, svc, errors=problem.errors, status_code=422)
    return await _rules_page(request, user, svc, preview=preview)


@router.post("/rules/apply", dependencies=[Depends(check_csrf)])
async def rules_apply(request: Request, user: User = Depends(page_user), ctx: ServiceContext = Depends(get_context),
                      svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    _admin(user)
    try:
        applied = await rules_apply_command(ctx, svc, user)
    except Problem as problem:
        if problem.status != 422:
            raise
        return await _rules_page(request, user, svc, errors=problem.errors, status_code=422)
    return await _rules_page(request, user, svc, applied=applied)
