"""The staff web UI (Polish first): cases, clients, contracts, CSV import and the local mail outbox."""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import date
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData, UploadFile

from services.common.errors import Problem
from services.common.runtime import ServiceContext, get_context
from services.gateway import users
from services.gateway.api import (
    annex_command,
    can_see_case,
    create_client_command,
    create_contract_command,
    decode_upload,
    import_apply_command,
    import_dry_run_command,
    rules_apply_command,
    service_clients,
    termination_command,
)
from services.gateway.auth import session_user
from services.gateway.clients import ServiceClients
from services.gateway.users import User

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

STATUS_PL = {"open": "otwarta", "in_progress": "w toku", "done": "zakończona", "withdrawn": "wycofana"}
MAIL_STATUS_PL = {"pending": "czeka", "sending": "wysyłana", "sent": "wysłana", "kept": "w skrzynce lokalnej",
                  "failed": "błąd"}
ROLE_PL = {"admin": "administrator", "manager": "kierownik", "accountant": "księgowa/y", "payroll": "kadry i płace"}
# The vocabulary of shared/domain/terms.md in Polish (the glossary); the values are what the API takes.
LEGAL_FORM_PL = {
    "sole_trader": "jednoosobowa działalność (JDG)", "civil_partnership": "spółka cywilna",
    "general_partnership": "spółka jawna", "limited_partnership": "spółka komandytowa",
    "professional_partnership": "spółka partnerska", "llc": "spółka z o.o.", "simple_joint_stock": "P.S.A.",
    "joint_stock": "spółka akcyjna", "foundation": "fundacja", "association": "stowarzyszenie",
}
BOOKS_PL = {"kpir": "KPiR", "full": "księgi rachunkowe", "revenue_records": "ewidencja przychodów"}
INCOME_TAX_PL = {"pit_scale": "PIT – skala", "pit_flat": "PIT liniowy", "pit_ryczalt": "ryczałt", "cit": "CIT",
                 "cit_estonian": "estoński CIT", "none": "brak"}
ADVANCES_PL = {"monthly": "miesięczne", "quarterly": "kwartalne", "simplified": "uproszczone", "none": "brak"}
VAT_PL = {"monthly": "miesięcznie", "quarterly": "kwartalnie", "none": "zwolniony / nie jest podatnikiem"}
SERVICE_PL = {
    "bookkeeping": "Księgowość (KPiR, ewidencja, księgi)", "vat": "VAT (JPK_V7, VAT-UE)",
    "income_tax": "Podatek dochodowy firmy", "payroll": "Kadry i płace", "zus": "ZUS",
    "annual_statements": "Sprawozdanie finansowe", "owner_annual_return": "Zeznanie roczne właściciela",
}
TEAM_PL = {"accountant": "Księgowa/y odpowiedzialna/y", "payroll": "Kadry i płace", "manager": "Kierownik"}
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
templates.env.globals.update(
    STATUS_PL=STATUS_PL, MAIL_STATUS_PL=MAIL_STATUS_PL, ROLE_PL=ROLE_PL, LEGAL_FORM_PL=LEGAL_FORM_PL,
    BOOKS_PL=BOOKS_PL, INCOME_TAX_PL=INCOME_TAX_PL, ADVANCES_PL=ADVANCES_PL, VAT_PL=VAT_PL, SERVICE_PL=SERVICE_PL,
    TEAM_PL=TEAM_PL, CONTRACT_STATUS_PL=CONTRACT_STATUS_PL, VERSION_KIND_PL=VERSION_KIND_PL,
    PLAN_STATUS_PL=PLAN_STATUS_PL, RULESET_STATUS_PL=RULESET_STATUS_PL,
)


class LoginRequired(Exception):
    pass


async def page_user(user: User | None = Depends(session_user)) -> User:
    if user is None:
        raise LoginRequired
    return user


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use); every POST form carries it back."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


# CSV files are posted as a form field on the import page; allow more than Starlette's 1 MB default.
MAX_FORM_PART = 20 * 1024 * 1024


async def check_csrf(request: Request) -> None:
    form = await request.form(max_part_size=MAX_FORM_PART)
    sent, expected = form.get("csrf_token"), request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        raise Problem(403, "Forbidden", "the form is out of date or did not come from Terminarz: reload the page")


def render(request: Request, template: str, user: User | None, *, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    ctx: ServiceContext = request.app.state.ctx
    if "staff" in context:
        context["staff_options"] = {u.login: f"{u.name} ({u.login})" for u in context["staff"]}
    return templates.TemplateResponse(
        request, template,
        {"user": user, "today": ctx.clock.today(), "csrf_token": csrf_token(request), **context},
        status_code=status_code,
    )


@router.get("/login")
async def login_form(request: Request) -> HTMLResponse:
    return render(request, "login.html", None, error=None, login="")


@router.post("/login", dependencies=[Depends(check_csrf)])
async def login(request: Request, login: str = Form(""), password: str = Form(""),
                ctx: ServiceContext = Depends(get_context)) -> Response:
    async with ctx.db.reading() as session:
        user = await users.authenticate_password(session=session, login=login.strip(), password=password)
    if user is None:
        response = render(request, "login.html", None, error="Nieprawidłowy login lub hasło.", login=login)
        response.status_code = 401
        return response
    request.session["login"] = user.login
    return RedirectResponse("/cases", status_code=303)


@router.post("/logout", dependencies=[Depends(check_csrf)])
async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


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
async def case_page(request: Request, case_id: str, user: User = Depends(page_user),
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
    return int(value) if value.isdigit() else value


def client_body(form: FormData) -> dict[str, Any]:
    profile: dict[str, Any] = {k: _text(form, k) for k in ("legal_form", "books", "income_tax",
                                                         "income_tax_advances", "vat")}
    profile.update(vat_eu=form.get("vat_eu") == "on", ppk=form.get("ppk") == "on",
                   employees=_number(_text(form, "employees") or "0"),
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
async def client_list(request: Request, q: str = "", offset: int = 0, user: User = Depends(page_user),
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
async def client_page(request: Request, client_id: int, user: User = Depends(page_user),
                      svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    client = await svc.find("contracts", f"/clients/{client_id}")
    if client is None:
        return render(request, "not_found.html", user, what="Nie ma takiego klienta.", status_code=404)
    return render(request, "client.html", user, client=client)


@router.get("/contracts")
async def contract_list(request: Request, employee: str = "", service: str = "", status: str = "",
                        offset: int = 0, user: User = Depends(page_user), ctx: ServiceContext = Depends(get_context),
                        svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    result = await svc.call("contracts", "GET", "/contracts", params={
        "employee": employee or None, "service": service or None, "status": status or None,
        "limit": PAGE, "offset": max(offset, 0)})
    return render(request, "contracts.html", user, contracts=result["items"], total=result["total"],
                  employee=employee, service=service, status=status, offset=max(offset, 0), page=PAGE,
                  staff=await _staff(ctx))


@router.get("/contracts/new")
async def contract_form(request: Request, client_id: int, user: User = Depends(page_user),
                        ctx: ServiceContext = Depends(get_context),
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
        client = await svc.call("contracts", "GET", f"/clients/{_text(form, 'client_id')}")
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
async def contract_page(request: Request, contract_id: int, user: User = Depends(page_user),
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
async def contract_annex(request: Request, contract_id: int, user: User = Depends(page_user),
                         ctx: ServiceContext = Depends(get_context),
                         svc: ServiceClients = Depends(service_clients)) -> Response:
    _manager(user)
    form = await request.form()
    current = await svc.call("contracts", "GET", f"/contracts/{contract_id}")
    try:
        await annex_command(ctx, svc, user, str(contract_id), annex_body(form, current))
    except Problem as problem:
        if problem.status >= 500:
            raise
        return await _contract_page(request, user, ctx, svc, contract_id, status_code=422,
                                    annex_values={**dict(form), "services_list": form.getlist("services")},
                                    annex_errors=form_errors(problem))
    return RedirectResponse(f"/contracts/{contract_id}", status_code=303)


@router.post("/contracts/{contract_id}/termination", dependencies=[Depends(check_csrf)])
async def contract_termination(request: Request, contract_id: int, user: User = Depends(page_user),
                               ctx: ServiceContext = Depends(get_context),
                               svc: ServiceClients = Depends(service_clients)) -> Response:
    _manager(user)
    form = await request.form()
    body = {"end": _text(form, "end"), "reason": _text(form, "reason")}
    try:
        await termination_command(ctx, svc, user, str(contract_id), body)
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
    form = await request.form(max_part_size=MAX_FORM_PART)
    upload = form.get("file")
    data = await upload.read() if isinstance(upload, UploadFile) else b""
    if not data.strip():
        return render(request, "import.html", user, report=None, csv_text="", result=None,
                      error="Wybierz plik CSV.", status_code=422)
    text = decode_upload(data)
    report = await import_dry_run_command(ctx, svc, text)
    return render(request, "import.html", user, report=report, csv_text=text, result=None, error=None)


@router.post("/imports/apply", dependencies=[Depends(check_csrf)])
async def import_apply(request: Request, user: User = Depends(page_user), ctx: ServiceContext = Depends(get_context),
                       svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    _manager(user)
    form = await request.form(max_part_size=MAX_FORM_PART)
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
