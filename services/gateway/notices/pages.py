"""Web pages of what the office sends: client notices (list, one with its proof, manual notices, withdrawal,
the proof as CSV), the notifier's templates with a preview, and the outgoing mail."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from services.common.accounts import format_nrb
from services.common.errors import Problem
from services.common.params import MAX_ID, Offset
from services.common.runtime import ServiceContext, get_context
from services.gateway import i18n
from services.gateway.clients import ServiceClients
from services.gateway.common import service_clients
from services.gateway.contracts import service as contracts
from services.gateway.format import form_amount
from services.gateway.i18n import N_, Translated
from services.gateway.notices import service as notices
from services.gateway.permissions import Caller, Permission, allow_page
from services.gateway.web import check_csrf, form_date, form_errors, not_found, render, templates, text_of

router = APIRouter(include_in_schema=False)


templates.env.filters["nrb"] = lambda value: format_nrb(value) if value else ""
PROOF_EVENT_PL = Translated({
    "opened": N_("otwarcie linku"), "confirmed": N_("potwierdzenie"), "withdrawn": N_("wycofanie"),
    "superseded": N_("zastąpione korektą"), "escalated": N_("zgłoszone księgowej"),
    "expired": N_("koniec przypomnień"), "recipient_added": N_("dodany odbiorca"),
    "recipient_removed": N_("usunięty odbiorca"), "created": N_("utworzone"), "issued": N_("wydane"),
    "failed": N_("nie doręczono"), "liability_added": N_("dodana należność"),
    "liability_retired": N_("należność wycofana"), "revised": N_("korekta"), "render_failed": N_("błąd szablonu"),
})
templates.env.globals.update(
    MAIL_STATUS_PL=Translated({
        "pending": N_("czeka"), "sending": N_("wysyłana"), "sent": N_("wysłana"), "kept": N_("w skrzynce lokalnej"),
        "failed": N_("błąd"),
    }),
    NOTICE_STATUS_PL=Translated({
        "draft": N_("do wysłania"), "scheduled": N_("zaplanowane"), "issued": N_("wysłane"),
        "confirmed": N_("potwierdzone"), "withdrawn": N_("wycofane"), "superseded": N_("zastąpione korektą"),
        "expired": N_("bez potwierdzenia (przypomnienia zakończone)"),
    }),
    NOTICE_STATE_PL=Translated({
        "sent": N_("wysłane"), "waiting": N_("czekają na potwierdzenie"), "confirmed": N_("potwierdzone"),
        "failed": N_("niedostarczone"),
    }),
    DELIVERY_PL=Translated({
        "not_sent": N_("jeszcze nie wysłane"), "no_recipient": N_("brak odbiorcy"),
        "failing": N_("serwer odbiorcy odrzucił wiadomość"), "pending": N_("w trakcie wysyłki"),
        "local": N_("w skrzynce lokalnej"), "delivered": N_("dostarczone do serwera poczty"),
    }),
    RECIPIENT_STATUS_PL=Translated({
        "ok": N_("poczta dochodzi"), "failing": N_("odrzuca pocztę (błąd 5xx)"), "pending": N_("w trakcie"),
        "sent": N_("wysłano"), "kept": N_("w skrzynce lokalnej"), "removed": N_("usunięty"),
        "confirmed": N_("potwierdził"),
    }),
    LIABILITY_PL=Translated({
        "vat": N_("VAT"), "pit": N_("PIT"), "cit": N_("CIT"), "zus": N_("ZUS"), "ppk": N_("PPK"),
        "pfron": N_("PFRON"),
    }),
    ACCOUNT_PL=Translated({
        "mikrorachunek": N_("Mikrorachunek podatkowy (VAT, PIT, CIT)"), "nrs": N_("ZUS (NRS)"),
        "ppk": N_("PPK (rachunek instytucji)"), "pfron": N_("PFRON"),
    }),
)
VIEW = allow_page(Permission.view)
PAGE = 50
STATES = ("sent", "waiting", "confirmed", "failed")
NoticeIdPath = Annotated[UUID, Path(description="the notice's id")]
PeriodFilter = Annotated[str, Query(max_length=10, pattern=r"^([0-9]{4}(-[0-9A-Z]{1,3})?)?$")]


def proof_event_pl(event: str) -> str:
    """`notice_sent`, `reminder_refused`… in Polish; other events by their own name."""
    if event in PROOF_EVENT_PL:
        return PROOF_EVENT_PL[event]
    kind, _, outcome = event.rpartition("_")
    what = Translated({"notice": N_("zawiadomienie"), "manual": N_("zawiadomienie"),
                       "reminder": N_("przypomnienie"), "correction": N_("korekta")}).get(kind, kind)
    how = Translated({"sent": N_("wysłane"), "kept": N_("w skrzynce lokalnej"), "refused": N_("odrzucone"),
                      "queued": N_("w kolejce")})
    return f"{what}: {how.get(outcome, outcome)}" if kind else event


templates.env.filters["proof_event_pl"] = proof_event_pl


MAIL_PAGE = 20


@router.get("/mail")
async def mail_outbox(request: Request, offset: Offset = 0, caller: Caller = Depends(VIEW),
                      svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    page = await notices.list_mails(svc=svc, caller=caller, limit=MAIL_PAGE, offset=offset)
    return render(request, "notices/mail.html", caller.user, mails=page["items"], total=page["total"],
                  offset=offset, page=MAIL_PAGE)


@router.get("/notices")
async def notice_list(request: Request, caller: Caller = Depends(VIEW),
                      svc: ServiceClients = Depends(service_clients),
                      client_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                      state: Literal["", "sent", "waiting", "confirmed", "failed"] = "",
                      period: PeriodFilter = "", offset: Offset = 0) -> HTMLResponse:
    result = await notices.list_notices(svc=svc, caller=caller, client_id=client_id, state=state or None,
                                        period=period or None, limit=PAGE, offset=offset)
    client = await contracts.find_client(svc=svc, caller=caller, client_id=client_id) if client_id else None
    return render(request, "notices/list.html", caller.user, notices=result["items"], total=result["total"],
                  links=result["links"], client=client, client_id=client_id, state=state, period=period,
                  offset=offset, page=PAGE, states=STATES)


@router.get("/notices/proof.csv")
async def notice_proof_csv(request: Request, caller: Caller = Depends(allow_page(Permission.manage_notices)),
                           svc: ServiceClients = Depends(service_clients),
                           client_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                           case_id: Annotated[UUID | None, Query()] = None) -> Response:
    text = await notices.proof_csv(svc=svc, caller=caller, client_id=client_id,
                                   case_id=str(case_id) if case_id else None)
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="potwierdzenia.csv"'})


# --- Manual notices ------------------------------------------------------------------------------------------


async def _manual_form(request: Request, caller: Caller, svc: ServiceClients, *, values: dict[str, Any],
                       chosen: list[str], errors: dict[str, list[str]], status_code: int = 200) -> HTMLResponse:
    clients = (await contracts.list_clients(svc=svc, caller=caller, q=None, limit=500, offset=0))["items"]
    listing = (await notices.templates(svc=svc, caller=caller))["items"]
    names = sorted({t["name"].split(".")[0] for t in listing if t["name"].endswith(".pl.txt")} - {"reminder"})
    return render(request, "notices/new.html", caller.user, clients=clients, template_names=names, values=values,
                  chosen=chosen, errors=errors, status_code=status_code)


def manual_body(form: FormData) -> dict[str, Any]:
    """The form as the API's body: one optional amount line, a day or now, confirmation or not."""
    body: dict[str, Any] = {
        "client_ids": [str(c) for c in form.getlist("client_ids")],
        "subject": text_of(form, "subject"), "text": text_of(form, "text"),
        "template": text_of(form, "template") or None,
        "send_on": form_date(text_of(form, "send_on")) or None,
        "requires_confirmation": form.get("requires_confirmation") == "on",
        "liabilities": [],
    }
    if text_of(form, "amount"):
        body["liabilities"] = [{"kind": text_of(form, "kind") or "vat", "amount": form_amount(text_of(form, "amount")),
                                "due": form_date(text_of(form, "due")), "period": text_of(form, "period")}]
    return body


def manual_field(path: str) -> str:
    """A problem's field → the form's input: 'client_ids[2]' → 'client_ids', 'liabilities[0].due' → 'due'."""
    if path.startswith("client_ids"):
        return "client_ids"
    if path.startswith("liabilities"):
        return path.rsplit(".", 1)[-1] if "." in path else "amount"
    return path


@router.get("/notices/new")
async def manual_notice_form(request: Request, caller: Caller = Depends(allow_page(Permission.send_notices)),
                             svc: ServiceClients = Depends(service_clients),
                             client_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> HTMLResponse:
    return await _manual_form(request, caller, svc, values={"requires_confirmation": "on", "kind": "vat"},
                              chosen=[str(client_id)] if client_id else [], errors={})


@router.post("/notices/new", dependencies=[Depends(check_csrf)])
async def manual_notice_send(request: Request, caller: Caller = Depends(allow_page(Permission.send_notices)),
                             ctx: ServiceContext = Depends(get_context),
                             svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    body = manual_body(form)
    try:
        if not body["client_ids"]:
            raise Problem(422, "Invalid request", errors=[{"field": "client_ids", "message": N_("Wybierz klienta.")}])
        result = await notices.create_notices(ctx=ctx, svc=svc, caller=caller, body=body)
    except Problem as problem:
        if problem.status >= 500:
            raise
        return await _manual_form(request, caller, svc, values=dict(form), chosen=body["client_ids"],
                                  errors=form_errors(problem, manual_field), status_code=422)
    if len(result["ids"]) == 1:
        return RedirectResponse(f"/notices/{result['ids'][0]}", status_code=303)
    return RedirectResponse("/notices", status_code=303)


# --- Templates -----------------------------------------------------------------------------------------------


@router.get("/notice-templates")
async def template_page(request: Request, caller: Caller = Depends(allow_page(Permission.manage_settings)),
                        svc: ServiceClients = Depends(service_clients),
                        name: Annotated[str, Query(max_length=60, pattern=r"^[a-z0-9_]*$")] = "",
                        language: Literal["pl", "en"] = "pl") -> HTMLResponse:
    listing = await notices.templates(svc=svc, caller=caller)
    names = sorted({t["name"].split(".")[0] for t in listing["items"]
                    if t["name"].endswith((".txt", ".html")) and not t["name"].startswith("_")} - {"link_invalid"})
    shown, error = None, None
    if name:
        try:
            shown = await notices.preview(svc=svc, caller=caller, name=name, language=language)
        except Problem as problem:
            if problem.status >= 500:
                raise
            error = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in problem.errors) or problem.detail
    return render(request, "notices/templates.html", caller.user, listing=listing, names=names, name=name,
                  language=language, preview=shown, error=error)


# --- One notice ----------------------------------------------------------------------------------------------


async def _notice_page(request: Request, caller: Caller, svc: ServiceClients, notice_id: UUID, *,
                       status_code: int = 200, errors: dict[str, list[str]] | None = None) -> HTMLResponse:
    notice = await notices.find_notice(svc=svc, caller=caller, notice_id=str(notice_id))
    if notice is None:
        return not_found(request, caller.user,
                         i18n.gettext("Nie ma takiego zawiadomienia lub nie masz do niego dostępu."))
    return render(request, "notices/notice.html", caller.user, notice=notice, errors=errors or {},
                  status_code=status_code)


@router.get("/notices/{notice_id}")
async def notice_page(request: Request, notice_id: NoticeIdPath, caller: Caller = Depends(VIEW),
                      svc: ServiceClients = Depends(service_clients)) -> HTMLResponse:
    return await _notice_page(request, caller, svc, notice_id)


@router.post("/notices/{notice_id}/withdraw", dependencies=[Depends(check_csrf)])
async def notice_withdraw(request: Request, notice_id: NoticeIdPath,
                          caller: Caller = Depends(allow_page(Permission.manage_notices)),
                          ctx: ServiceContext = Depends(get_context),
                          svc: ServiceClients = Depends(service_clients)) -> Response:
    form = await request.form()
    try:
        await notices.withdraw(ctx=ctx, svc=svc, caller=caller, notice_id=str(notice_id),
                               reason=text_of(form, "reason"))
    except Problem as problem:
        if problem.status >= 500 or problem.status == 404:
            raise
        return await _notice_page(request, caller, svc, notice_id, status_code=422,
                                  errors=form_errors(problem))
    return RedirectResponse(f"/notices/{notice_id}", status_code=303)
