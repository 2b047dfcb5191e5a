"""Web pages of clients, contracts (with annex and termination forms and the plan) and the CSV import.

Forms post to the same service functions as the REST API and show each problem's `errors[].field` next to its
input.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from dateutil.relativedelta import relativedelta
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import AfterValidator
from starlette.datastructures import FormData, UploadFile

from services.common.errors import Problem
from services.common.money import parse_amount
from services.common.months import month_choices
from services.common.params import MAX_ID, MAX_SEARCH, ClientIdPath, ContractIdPath, Offset, plain_or_none
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
from services.gateway import i18n
from services.gateway import powers as power_checks
from services.gateway.clients import ServiceClients
from services.gateway.common import decode_upload, read_form, service_clients
from services.gateway.contracts import service as contracts
from services.gateway.format import form_amount
from services.gateway.i18n import N_, Bilingual, Translated
from services.gateway.notices import service as notices
from services.gateway.permissions import Caller, Permission, allow_page
from services.gateway.web import (
    check_csrf,
    form_date,
    form_errors,
    not_found,
    number,
    record_id,
    render,
    templates,
    text_of,
)

router = APIRouter(include_in_schema=False)

# The vocabulary of shared/domain/terms.md in the page's language (its Polish or English labels), from
# services/common/terms.py; the keys are what the API takes.
TEAM_PL = Bilingual(TeamRole.labels("pl"), TeamRole.labels("en"))
# The yes/no terms of a client's tax profile, one checkbox each on the client form (in_krs follows the legal form).
PROFILE_FLAGS = tuple(info.field for info in client_terms() if info.kind == "bool" and not info.derived
                      and info.field in TaxTerms.model_fields and info.field != "in_krs")
# The client's duties a contract may set (services/common/terms.py, ClientDuties): days of the next month.
DUTY_DAYS_PL = Translated({"documents_day": N_("Dokumenty za miesiąc do dnia"),
                           "payroll_data_day": N_("Dane kadrowo-płacowe do dnia"),
                           "bank_statements_day": N_("Wyciągi bankowe do dnia")})


templates.env.globals.update(
    **{name: Bilingual(vocabulary.labels("pl"), vocabulary.labels("en")) for name, vocabulary in (
        ("LEGAL_FORM_PL", LegalForm), ("BOOKS_PL", Books), ("INCOME_TAX_PL", IncomeTax),
        ("ADVANCES_PL", IncomeTaxAdvances), ("VAT_PL", VatPeriod), ("SERVICE_PL", Service))},
    TEAM_PL=TEAM_PL, TERM_PL=Bilingual(term_labels("pl"), term_labels("en")), PROFILE_FLAGS=PROFILE_FLAGS,
    CONTRACT_STATUS_PL=Translated({
        "active": N_("obowiązuje"), "terminated": N_("rozwiązana"),
    }),
    VERSION_KIND_PL=Translated({
        "signed": N_("umowa"), "annex": N_("aneks"), "termination": N_("rozwiązanie"),
    }),
    DUTY_DAYS_PL=DUTY_DAYS_PL,
    PLAN_STATUS_PL=Translated({
        "planned": N_("zaplanowany"), "requested": N_("sprawa utworzona"), "withdrawn": N_("wycofany"),
    }),
)
PAGE = 25
VIEW = allow_page(Permission.view)
CHANGE = allow_page(Permission.change_contracts)


def form_field(path: str) -> str:
    """A problem's field path → the form input it belongs to: 'tax_profile.books' → 'books'."""
    if path.startswith("contact_emails"):
        return "emails"
    if path.startswith("services"):
        return "headcount_limit" if "parameters" in path else "services"
    if path == "team":
        return "accountant"
    return re.sub(r"\[\d+\]", "", path.split(".")[-1])


def client_body(form: FormData) -> dict[str, Any]:
    profile: dict[str, Any] = {k: text_of(form, k) for k in ("legal_form", "books", "income_tax",
                                                           "income_tax_advances", "vat")}
    profile.update({flag: form.get(flag) == "on" for flag in PROFILE_FLAGS})
    profile.update(employees=number(text_of(form, "employees") or "0"),
                   fiscal_year_end=text_of(form, "fiscal_year_end") or "12-31")
    return {
        "name": text_of(form, "name"),
        "nip": text_of(form, "nip"),
        "regon": text_of(form, "regon"),
        "pesel": text_of(form, "pesel") or None,
        "krs": text_of(form, "krs") or None,
        "address": {"street": text_of(form, "street"), "postal_code": text_of(form, "postal_code"),
                    "city": text_of(form, "city")},
        "contact_emails": [e for e in re.split(r"[;,\s]+", text_of(form, "emails")) if e],
        "language": text_of(form, "language") or "pl",
        "tax_profile": profile,
    }


def _services(form: FormData) -> list[Any]:
    chosen: list[Any] = []
    for name in form.getlist("services"):
        if name == "payroll" and text_of(form, "headcount_limit"):
            chosen.append({"name": name, "parameters": {"headcount_limit": number(text_of(form, "headcount_limit"))}})
        else:
            chosen.append(name)
    return chosen


def _scope(services: list[Any]) -> dict[str, Any]:
    """{name: parameters}, whether a service is written as a bare name or an object."""
    return {s: {} for s in services if isinstance(s, str)} | {
        s["name"]: s.get("parameters") or {} for s in services if isinstance(s, dict)}


def _team(form: FormData) -> dict[str, str | None]:
    return {role: text_of(form, role) or None for role in TEAM_PL}


def _duties(form: FormData) -> dict[str, Any]:
    """The client's duties as the form gives them: a day (or nothing) each, and the signing of the statements."""
    duties: dict[str, Any] = {name: number(text_of(form, name)) if text_of(form, name) else None
                              for name in DUTY_DAYS_PL}
    duties["statements_signing"] = form.get("statements_signing") == "on"
    return duties


def contract_body(form: FormData) -> dict[str, Any]:
    fee: dict[str, Any] = {"monthly_net": form_amount(text_of(form, "monthly_net")),
                           "vat_rate": text_of(form, "vat_rate") or "23"}
    if text_of(form, "per_employee"):
        fee["per_employee"] = form_amount(text_of(form, "per_employee"))
    if text_of(form, "payment_day"):
        fee["payment_day"] = number(text_of(form, "payment_day"))
    return {
        "client_id": number(text_of(form, "client_id")),
        "number": text_of(form, "number"),
        "signed_on": form_date(text_of(form, "signed_on")),
        "start": form_date(text_of(form, "start")),
        "end": form_date(text_of(form, "end")) or None,
        "notice_period_months": number(text_of(form, "notice_period_months")),
        "services": _services(form),
        "fee": fee,
        "team": _team(form),
        "client_duties": {k: v for k, v in _duties(form).items() if v not in (None, False)},
    }


def annex_body(form: FormData, current: dict[str, Any]) -> dict[str, Any]:
    """Only the terms the form changes: an annex says what is different from the version in force."""
    body: dict[str, Any] = {"effective_from": form_date(text_of(form, "effective_from"))}
    services = _services(form)
    if _scope(services) != _scope(current["services"]):
        body["services"] = services
    monthly_net = form_amount(text_of(form, "monthly_net"))
    if monthly_net and parse_amount(monthly_net) != parse_amount(str(current["fee"]["monthly_net"])):
        body["fee"] = {**current["fee"], "monthly_net": monthly_net}
    payment_day = number(text_of(form, "payment_day")) if text_of(form, "payment_day") else None
    if payment_day is not None and payment_day != current["fee"].get("payment_day", 15):
        body["fee"] = {**body.get("fee", current["fee"]), "payment_day": payment_day}
    team = _team(form)
    if team != {role: current["team"].get(role) for role in TEAM_PL}:
        body["team"] = team
    if text_of(form, "vat"):
        body["tax_profile"] = {"vat": text_of(form, "vat")}
    if text_of(form, "end"):
        body["end"] = form_date(text_of(form, "end"))
    duties = _duties(form)
    held = current.get("client_duties") or {}
    changed = {k: v for k, v in duties.items() if (held.get(k) or None) != (v or None)}
    if changed:
        body["client_duties"] = {k: (v or None) for k, v in changed.items()}
    return body


# --- Clients ---------------------------------------------------------------------------------------


@router.get("/clients")
async def client_list(request: Request,
                      q: Annotated[str, Query(max_length=MAX_SEARCH), AfterValidator(plain_or_none)] = "",
                      offset: Offset = 0, caller: Caller = Depends(VIEW),
                      svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    result = await contracts.list_clients(svc=svc, caller=caller, q=q or None, limit=PAGE, offset=offset)
    return render(request, "contracts/clients.html", caller.user, clients=result["items"], total=result["total"],
                  q=q, offset=offset, page=PAGE)


@router.get("/clients/new")
async def client_form(request: Request, caller: Caller = Depends(CHANGE)) -> HTMLResponse:
    return render(request, "contracts/client_form.html", caller.user, errors={},
                  values={"legal_form": "sole_trader", "employees": "0", "fiscal_year_end": "12-31"})


@router.post("/clients/new", dependencies=[Depends(check_csrf)])
async def client_create(request: Request, caller: Caller = Depends(CHANGE), ctx: ServiceContext = Depends(get_context),
                        svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    try:
        client = await contracts.create_client(ctx=ctx, svc=svc, caller=caller, body=client_body(form))
    except Problem as problem:
        if problem.status >= 500:
            raise
        return render(request, "contracts/client_form.html", caller.user, values=dict(form),
                      errors=form_errors(problem, form_field), status_code=422)
    return RedirectResponse(f"/clients/{client['id']}", status_code=303)


@router.get("/clients/{client_id}")
async def client_page(request: Request, client_id: ClientIdPath, caller: Caller = Depends(VIEW),
                      svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    client = await contracts.find_client(svc=svc, caller=caller, client_id=client_id)
    if client is None:
        return not_found(request, caller.user, i18n.gettext("Nie ma takiego klienta lub nie masz do niego dostępu."))
    client_notices: dict[str, Any] | None
    try:
        client_notices = await notices.list_notices(svc=svc, caller=caller, client_id=client_id, limit=20)
    except Problem:  # the notifier not answering leaves the rest of the page
        client_notices = None
    return render(request, "contracts/client.html", caller.user, client=client,
                  recipients=await _recipients(svc, caller, client_id, client),
                  client_notices=client_notices, accounts=notices.accounts_view(client),
                  **await _powers_view(request, caller, svc, client_id))


async def _recipients(svc: ServiceClients, caller: Caller, client_id: int,
                      client: dict[str, Any]) -> list[dict[str, Any]]:
    """Who receives the client's notices: the client record's (just saved, it shows at once), each with how delivery
    to its address goes, the notifier's, which learns of a change a moment later (404: it knows no contract of the
    client yet; no status when it does not answer)."""
    try:
        delivery = (await notices.recipients(svc=svc, caller=caller, client_id=client_id))["items"]
    except Problem:
        delivery = []
    return notices.recipients_with_delivery(client, delivery)


POWER_STATE_PL = Translated({"valid": N_("ważne"), "expiring": N_("wygasa"), "expired": N_("wygasło"),
                             "revoked": N_("odwołane"), "future": N_("od daty udzielenia"), "missing": N_("brak")})
POWER_KIND_PL = Translated({"UPL-1": N_("UPL-1 (urząd skarbowy, e-deklaracje)"), "PEL": N_("PEL (ZUS)"),
                            "KRS": N_("KRS / e-sprawozdania"), "other": N_("inne")})
templates.env.globals.update(POWER_STATE_PL=POWER_STATE_PL, POWER_KIND_PL=POWER_KIND_PL)


async def _powers_view(request: Request, caller: Caller, svc: ServiceClients, client_id: int,
                       **extra: Any) -> dict[str, Any]:
    """The client page's register of powers: the list, the state per kind and the warnings of its open cases."""
    today = request.app.state.ctx.clock.today()
    try:
        register = await contracts.powers(svc=svc, caller=caller, client_id=client_id)
    except Problem as problem:
        if problem.status < 500:
            raise
        return {"powers": None, "power_kinds": {}, "power_warnings": [], **extra}
    needs = await power_checks.client_needs(svc, caller, client_id)
    return {"powers": register["items"], "power_kinds": register["kinds"],
            "power_warnings": power_checks.client_page_warnings(register["items"], needs, today), **extra}


@router.post("/clients/{client_id}/powers", dependencies=[Depends(check_csrf)])
async def power_add(request: Request, client_id: ClientIdPath, caller: Caller = Depends(CHANGE),
                    ctx: ServiceContext = Depends(get_context),
                    svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await read_form(request)
    fields = {name: text_of(form, name) for name in ("kind", "granted_on", "valid_until", "scope")}
    upload = form.get("file")
    file = None
    if isinstance(upload, UploadFile) and upload.filename:
        file = (upload.filename, upload.file, upload.content_type or "application/octet-stream")
    try:
        await contracts.add_power(ctx=ctx, svc=svc, caller=caller, client_id=client_id,
                                  fields={k: v for k, v in fields.items() if v}, file=file)
    except Problem as problem:
        if problem.status >= 500 or problem.status == 404:
            raise
        client = await contracts.get_client(svc=svc, caller=caller, client_id=client_id)
        return render(request, "contracts/client.html", caller.user, client=client,
                      recipients=await _recipients(svc, caller, client_id, client), client_notices=None,
                      accounts=notices.accounts_view(client), status_code=problem.status,
                      **await _powers_view(request, caller, svc, client_id, power_errors=form_errors(problem),
                                           power_values=fields))
    return RedirectResponse(f"/clients/{client_id}#powers", status_code=303)


@router.post("/clients/{client_id}/powers/{power_id}/revoke", dependencies=[Depends(check_csrf)])
async def power_revoke(request: Request, client_id: ClientIdPath, power_id: ContractIdPath,
                       caller: Caller = Depends(CHANGE), ctx: ServiceContext = Depends(get_context),
                       svc: ServiceClients = Depends(service_clients)) -> Response:
    await contracts.revoke_power(ctx=ctx, svc=svc, caller=caller, client_id=client_id, power_id=power_id)
    return RedirectResponse(f"/clients/{client_id}#powers", status_code=303)


@router.get("/clients/{client_id}/powers/{power_id}/document")
async def power_document(client_id: ClientIdPath, power_id: ContractIdPath, caller: Caller = Depends(VIEW),
                         svc: ServiceClients = Depends(service_clients)) -> Response:
    headers, body = await contracts.power_document(svc=svc, caller=caller, client_id=client_id, power_id=power_id)
    return StreamingResponse(body, headers={**headers, "X-Content-Type-Options": "nosniff"})


# --- Editing a client ------------------------------------------------------------------------------

RECIPIENT_ROWS_FREE = 2  # empty rows the edit form offers for new recipients
ACCOUNT_KINDS = ("mikrorachunek", "nrs", "ppk", "pfron")


def client_edit_values(client: dict[str, Any]) -> dict[str, Any]:
    """A stored client as the edit form's inputs."""
    values: dict[str, Any] = {k: client.get(k) or "" for k in ("name", "nip", "regon", "pesel", "krs",
                                                                "ppk_institution", "language")}
    values.update({k: client["address"].get(k, "") for k in ("street", "postal_code", "city")})
    values["emails"] = "; ".join(client.get("contact_emails") or [])
    values.update({k: (client.get("accounts") or {}).get(k) or "" for k in ACCOUNT_KINDS})
    values["notices"] = "on" if client.get("notices", True) else ""
    for i, r in enumerate(client.get("recipients") or []):
        values.update({f"recipient_email_{i}": r["email"], f"recipient_name_{i}": r.get("name", ""),
                       f"recipient_language_{i}": r.get("language", "pl")})
    values["recipient_rows"] = len(client.get("recipients") or []) + RECIPIENT_ROWS_FREE
    return values


def client_changes(form: FormData) -> tuple[dict[str, Any], list[int]]:
    """The edit form as the API's changes, and for each recipient sent the form row it came from (empty rows are
    left out, so the API's `recipients[1]` may be the form's row 2)."""
    rows: list[int] = []
    recipients: list[dict[str, Any]] = []
    count = min(record_id(text_of(form, "recipient_rows")) or 0, 100)
    for i in range(count):
        email, name = text_of(form, f"recipient_email_{i}"), text_of(form, f"recipient_name_{i}")
        if email or name:
            rows.append(i)
            recipients.append({"email": email, "name": name,
                               "language": text_of(form, f"recipient_language_{i}") or "pl"})
    changes: dict[str, Any] = {
        "name": text_of(form, "name"), "nip": text_of(form, "nip"), "regon": text_of(form, "regon"),
        "pesel": text_of(form, "pesel") or None, "krs": text_of(form, "krs") or None,
        "address": {"street": text_of(form, "street"), "postal_code": text_of(form, "postal_code"),
                    "city": text_of(form, "city")},
        "contact_emails": [e for e in re.split(r"[;,\s]+", text_of(form, "emails")) if e],
        "language": text_of(form, "language") or "pl",
        "recipients": recipients,
        "accounts": {k: text_of(form, k) or None for k in ACCOUNT_KINDS},
        "ppk_institution": text_of(form, "ppk_institution"),
        "notices": form.get("notices") == "on",
    }
    return changes, rows


def client_edit_field(rows: list[int]) -> Any:
    """A problem's field → the edit form's input: 'recipients[1].email' → 'recipient_email_<row>',
    'accounts.nrs' → 'nrs', 'address.city' → 'city', 'contact_emails[0]' → 'emails'."""
    def field_of(path: str) -> str:
        match = re.match(r"^recipients\[(\d+)\](?:\.(\w+))?", path)
        if match:
            index = int(match[1])
            return f"recipient_{match[2] or 'email'}_{rows[index] if index < len(rows) else index}"
        if path.startswith("recipients"):
            return "recipients"
        return form_field(path)
    return field_of


@router.get("/clients/{client_id}/edit")
async def client_edit_form(request: Request, client_id: ClientIdPath, caller: Caller = Depends(CHANGE),
                           svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    client = await contracts.find_client(svc=svc, caller=caller, client_id=client_id)
    if client is None:
        return not_found(request, caller.user, i18n.gettext("Nie ma takiego klienta."))
    return render(request, "contracts/client_edit.html", caller.user, client=client,
                  values=client_edit_values(client), errors={})


@router.post("/clients/{client_id}/edit", dependencies=[Depends(check_csrf)])
async def client_edit(request: Request, client_id: ClientIdPath, caller: Caller = Depends(CHANGE),
                      ctx: ServiceContext = Depends(get_context),
                      svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    changes, rows = client_changes(form)
    try:
        await contracts.update_client(ctx=ctx, svc=svc, caller=caller, client_id=client_id, changes=changes)
    except Problem as problem:
        if problem.status >= 500:
            raise
        client = await contracts.find_client(svc=svc, caller=caller, client_id=client_id)
        if client is None:
            return not_found(request, caller.user, i18n.gettext("Nie ma takiego klienta."))
        values: dict[str, Any] = dict(form)
        values["recipient_rows"] = min(record_id(text_of(form, "recipient_rows")) or 0, 100)
        return render(request, "contracts/client_edit.html", caller.user, client=client, values=values,
                      errors=form_errors(problem, client_edit_field(rows)), status_code=422)
    return RedirectResponse(f"/clients/{client_id}", status_code=303)


# --- Contracts -------------------------------------------------------------------------------------


@router.get("/contracts")
async def contract_list(request: Request, employee: str = "", service: str = "", status: str = "",
                        offset: Offset = 0, caller: Caller = Depends(VIEW), ctx: ServiceContext = Depends(get_context),
                        svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    result = await contracts.list_contracts(svc=svc, caller=caller, employee=employee or None,
                                            service=service or None, status=status or None, limit=PAGE,
                                            offset=offset)
    return render(request, "contracts/contracts.html", caller.user, contracts=result["items"], total=result["total"],
                  employee=employee, service=service, status=status, offset=offset, page=PAGE,
                  staff=await contracts.staff(ctx))


@router.get("/contracts/new")
async def contract_form(request: Request, client_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                        q: Annotated[str, Query(max_length=MAX_SEARCH)] = "",
                        caller: Caller = Depends(CHANGE), ctx: ServiceContext = Depends(get_context),
                        svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    if client_id is None:  # a contract is signed with a client: choose one first (or register a new one)
        found = await contracts.list_clients(svc=svc, caller=caller, q=q.strip() or None, limit=PAGE, offset=0)
        return render(request, "contracts/choose_client.html", caller.user, clients=found["items"],
                      total=found["total"], q=q)
    client = await contracts.find_client(svc=svc, caller=caller, client_id=client_id)
    if client is None:
        return not_found(request, caller.user, i18n.gettext("Nie ma takiego klienta."))
    today = ctx.clock.today()
    first = (today.replace(day=1) + relativedelta(months=1)).isoformat()
    values = {"client_id": str(client_id), "signed_on": today.isoformat(), "start": first,
              "notice_period_months": "3", "vat_rate": "23",
              "manager": caller.login if caller.user.role == "manager" else ""}
    return render(request, "contracts/contract_form.html", caller.user, client=client, values=values,
                  chosen=["bookkeeping"], errors={}, staff=await contracts.staff(ctx))


@router.post("/contracts/new", dependencies=[Depends(check_csrf)])
async def contract_create(request: Request, caller: Caller = Depends(CHANGE),
                          ctx: ServiceContext = Depends(get_context),
                          svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    try:
        contract = await contracts.create_contract(ctx=ctx, svc=svc, caller=caller, body=contract_body(form))
    except Problem as problem:
        if problem.status >= 500:
            raise
        client_id = record_id(text_of(form, "client_id"))
        client = (await contracts.find_client(svc=svc, caller=caller, client_id=client_id)
                  if client_id is not None else None)
        if client is None:
            return not_found(request, caller.user, i18n.gettext("Nie ma takiego klienta."))
        return render(request, "contracts/contract_form.html", caller.user, client=client, values=dict(form),
                      chosen=form.getlist("services"), errors=form_errors(problem, form_field),
                      staff=await contracts.staff(ctx), status_code=422)
    return RedirectResponse(f"/contracts/{contract['id']}", status_code=303)


async def _contract_page(request: Request, caller: Caller, ctx: ServiceContext, svc: ServiceClients,
                         contract_id: int, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    contract = await contracts.find_contract(svc=svc, caller=caller, contract_id=contract_id)
    if contract is None:
        return not_found(request, caller.user, i18n.gettext("Nie ma takiej umowy lub nie masz do niej dostępu."))
    client = await contracts.get_client(svc=svc, caller=caller, client_id=contract["client_id"])
    horizon = (ctx.clock.today() + relativedelta(months=12)).isoformat()
    plan_error = None
    try:
        plan = await contracts.plan(svc=svc, caller=caller, contract_id=contract_id)
        obligations = [o for o in plan["items"] if str(o["due"])[:10] <= horizon]
    except Problem as problem:
        obligations, plan_error = [], problem.detail or problem.title
    defaults: dict[str, Any] = {"annex_values": {}, "annex_errors": {}, "termination_values": {},
                                "termination_errors": {}}
    # The client's duties set (a day, or the signing), for the page and as the annex form's starting values.
    duties = {k: v for k, v in (contract.get("client_duties") or {}).items() if v not in (None, False)}
    contract = {**contract, "client_duties": duties}
    return render(request, "contracts/contract.html", caller.user, contract=contract, client=client,
                  obligations=obligations, plan_error=plan_error, horizon=horizon, staff=await contracts.staff(ctx),
                  status_code=status_code, **{**defaults, **context})


@router.get("/contracts/{contract_id}")
async def contract_page(request: Request, contract_id: ContractIdPath, caller: Caller = Depends(VIEW),
                        ctx: ServiceContext = Depends(get_context),
                        svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    return await _contract_page(request, caller, ctx, svc, contract_id)


@router.post("/contracts/{contract_id}/annex", dependencies=[Depends(check_csrf)])
async def contract_annex(request: Request, contract_id: ContractIdPath, caller: Caller = Depends(CHANGE),
                         ctx: ServiceContext = Depends(get_context),
                         svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    current = await contracts.find_contract(svc=svc, caller=caller, contract_id=contract_id)
    if current is None:
        return not_found(request, caller.user, i18n.gettext("Nie ma takiej umowy."))
    try:
        await contracts.add_annex(ctx=ctx, svc=svc, caller=caller, contract_id=contract_id,
                                  body=annex_body(form, current))
    except Problem as problem:
        if problem.status >= 500:
            raise
        return await _contract_page(request, caller, ctx, svc, contract_id, status_code=422,
                                    annex_values={**dict(form), "services_list": form.getlist("services")},
                                    annex_errors=form_errors(problem, form_field))
    return RedirectResponse(f"/contracts/{contract_id}", status_code=303)


@router.post("/contracts/{contract_id}/termination", dependencies=[Depends(check_csrf)])
async def contract_termination(request: Request, contract_id: ContractIdPath, caller: Caller = Depends(CHANGE),
                               ctx: ServiceContext = Depends(get_context),
                               svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    body = {"end": form_date(text_of(form, "end")), "reason": text_of(form, "reason")}
    try:
        await contracts.terminate(ctx=ctx, svc=svc, caller=caller, contract_id=contract_id, body=body)
    except Problem as problem:
        if problem.status >= 500:
            raise
        if problem.status == 404:
            return not_found(request, caller.user, i18n.gettext("Nie ma takiej umowy."))
        return await _contract_page(request, caller, ctx, svc, contract_id, status_code=422,
                                    termination_values=dict(form),
                                    termination_errors=form_errors(problem, form_field))
    return RedirectResponse(f"/contracts/{contract_id}", status_code=303)


# --- CSV import ------------------------------------------------------------------------------------


@router.get("/imports")
async def import_form(request: Request, caller: Caller = Depends(CHANGE),
                      svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    return render(request, "contracts/import.html", caller.user, report=None, csv_text="", result=None, error=None,
                  guide=await contracts.import_columns(svc=svc, caller=caller))


@router.get("/imports/template.csv")
async def import_template(caller: Caller = Depends(CHANGE), svc: ServiceClients = Depends(service_clients)) -> Response:
    """A file to start from: the header and one example row, with a BOM so Excel reads it as UTF-8."""
    guide = await contracts.import_columns(svc=svc, caller=caller)
    return Response("\ufeff" + guide["example"], media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="terminarz-import-wzor.csv"'})


@router.post("/imports/dry-run", dependencies=[Depends(check_csrf)])
async def import_check(request: Request, caller: Caller = Depends(CHANGE), ctx: ServiceContext = Depends(get_context),
                       svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    form = await read_form(request)
    upload = form.get("file")
    data = await upload.read() if isinstance(upload, UploadFile) else b""
    page = "contracts/import.html"
    if not data.strip():
        return render(request, page, caller.user, report=None, csv_text="", result=None,
                      error=i18n.gettext("Wybierz plik CSV."), status_code=422)
    try:
        text = decode_upload(data)
    except Problem as problem:
        where = problem.errors[0]["message"] if problem.errors else ""
        return render(request, page, caller.user, report=None, csv_text="", result=None, status_code=422,
                      error=i18n.gettext("Nie można odczytać pliku: to ani UTF-8, ani Windows-1250 ({where}).")
                      .format(where=where))
    report = await contracts.import_dry_run(ctx=ctx, svc=svc, caller=caller, text=text)
    return render(request, page, caller.user, report=report, csv_text=text, result=None, error=None)


@router.post("/imports/apply", dependencies=[Depends(check_csrf)])
async def import_apply(request: Request, caller: Caller = Depends(CHANGE), ctx: ServiceContext = Depends(get_context),
                       svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    form = await read_form(request)
    csv_field = form.get("csv")
    text = csv_field if isinstance(csv_field, str) else ""
    page = "contracts/import.html"
    try:
        result = await contracts.import_apply(ctx=ctx, svc=svc, caller=caller, text=text)
    except Problem as problem:
        if problem.status >= 500:
            raise
        report = {"ok": False, "errors": problem.errors, "data_rows": None, "valid_rows": None}
        return render(request, page, caller.user, report=report, csv_text=text, result=None,
                      error=problem.detail or problem.title, status_code=422)
    return render(request, page, caller.user, report=None, csv_text="", result=result, error=None)



# --- Fee payments: the bank statement import, recording and assigning by hand -------------------------------------

REPORTS = allow_page(Permission.read_reports)


async def _payments_page(request: Request, caller: Caller, svc: ServiceClients, *, status_code: int = 200,
                         **context: Any) -> HTMLResponse:
    unassigned = await contracts.list_payments(svc=svc, caller=caller, unassigned=True, limit=200)
    recent = await contracts.list_payments(svc=svc, caller=caller, limit=50)
    found = await contracts.list_clients(svc=svc, caller=caller, q=None, limit=500, offset=0)
    context.setdefault("errors", [])
    return render(request, "contracts/payments.html", caller.user, unassigned=unassigned, recent=recent,
                  clients=found["items"], month_choices=month_choices(request.app.state.ctx.clock.today()),
                  status_code=status_code, **context)


@router.get("/payments")
async def payments_page(request: Request, caller: Caller = Depends(REPORTS),
                        svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    return await _payments_page(request, caller, svc)


@router.post("/payments/import", dependencies=[Depends(check_csrf)])
async def payments_import(request: Request, caller: Caller = Depends(CHANGE),
                          ctx: ServiceContext = Depends(get_context),
                          svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    form = await read_form(request)
    upload = form.get("file")
    data = await upload.read() if isinstance(upload, UploadFile) else b""
    if not data.strip():
        return await _payments_page(request, caller, svc, status_code=422,
                                    errors=[{"row": "", "field": "file", "message": N_("Wybierz plik CSV wyciągu.")}])
    try:
        result = await contracts.import_payments(ctx=ctx, svc=svc, caller=caller, text=decode_upload(data))
    except Problem as problem:
        if problem.status >= 500:
            raise
        return await _payments_page(request, caller, svc, status_code=422, errors=problem.errors or [
            {"row": "", "field": "", "message": problem.detail or problem.title}])
    return await _payments_page(request, caller, svc, result=result)


@router.post("/payments/{payment_id}/assign", dependencies=[Depends(check_csrf)])
async def payment_assign(request: Request, payment_id: ContractIdPath, caller: Caller = Depends(CHANGE),
                         ctx: ServiceContext = Depends(get_context),
                         svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await read_form(request)
    month = text_of(form, "month")
    body = {"client_id": number(text_of(form, "client_id")), "months": [{"month": month}] if month else []}
    try:
        await contracts.assign_payment(ctx=ctx, svc=svc, caller=caller, payment_id=payment_id, body=body)
    except Problem as problem:
        if problem.status >= 500:
            raise
        return await _payments_page(request, caller, svc, status_code=422, errors=[
            {"row": "", "field": e.get("field", ""), "message": e.get("message", "")}
            for e in (problem.errors or [{"message": problem.detail or problem.title}])])
    return RedirectResponse("/payments", status_code=303)


@router.post("/contracts/{contract_id}/fees/{month}/reminder", dependencies=[Depends(check_csrf)])
async def fee_reminder(request: Request, contract_id: ContractIdPath,
                       month: Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
                       caller: Caller = Depends(CHANGE), ctx: ServiceContext = Depends(get_context),
                       svc: ServiceClients = Depends(service_clients)) -> Response:
    """The overdue list's "Przypomnij" button: the reminder goes, and back to the summary of that month."""
    await contracts.remind_overdue(ctx=ctx, svc=svc, caller=caller, contract_id=contract_id, month=month,
                                   today=ctx.clock.today())
    return RedirectResponse(f"/reports/financial?month={month}&reminded={contract_id}#overdue-fees", status_code=303)
