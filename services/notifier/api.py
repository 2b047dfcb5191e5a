"""HTTP API of the notifier service (internal: the gateway calls it with the internal token and the caller's
`X-Terminarz-Scope`). The clients' confirmation route is in `public.py`."""

from __future__ import annotations

import ipaddress
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import urlparse
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from jinja2 import TemplateError
from pydantic import AfterValidator, BaseModel, Field, field_validator
from sqlalchemy import func, select

from services.common.db import plain_rows
from services.common.errors import NotFound, Problem
from services.common.messages import Liability, TeamMember
from services.common.params import ClientIdFilter, ClientIdPath, ContractIdFilter, Offset, plain_or_none
from services.common.runtime import ServiceContext, get_context
from services.common.scope import Scope, request_scope
from services.notifier import jobs, notices, personal, previews, queries, reports
from services.notifier.models import addresses, mails
from services.notifier.rendering import template_problem

router = APIRouter()

NoticeIdPath = Annotated[UUID, Path(description="the notice's id (a UUID)")]
CaseIdFilter = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9-]+$", description="only this case's")]
NoticeStatus = Literal["draft", "scheduled", "issued", "confirmed", "withdrawn", "superseded", "expired"]
JobName = Literal["release", "reminders", "escalations", "all"]
NoticeState = Literal["sent", "waiting", "confirmed", "failed"]
PeriodFilter = Annotated[str | None, Query(max_length=10, pattern=r"^[0-9]{4}(-[0-9A-Z]{1,3})?$",
                                           description="a period or its start: 2026, 2026-10, 2026-Q3")]


def _text(value: int | UUID | str | None) -> str | None:
    """Ids are typed at the edge and stored as text here."""
    return None if value is None else str(value)


@router.get("/mails", summary="Every mail written, newest first (the UI's outgoing mail page)")
async def list_mails(
    ctx: ServiceContext = Depends(get_context),
    to: Annotated[str | None, Query(max_length=254), AfterValidator(plain_or_none)] = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> dict[str, Any]:
    query = select(mails.c.id, mails.c.kind, mails.c.related_id, mails.c.notice_id, mails.c.to_address,
                   mails.c.to_name, mails.c.subject, mails.c.body, mails.c.status, mails.c.attempts,
                   mails.c.last_error, mails.c.smtp_reply, mails.c.message_id, mails.c.created_at,
                   mails.c.sent_at).order_by(mails.c.created_at.desc(), mails.c.id.desc()).limit(limit).offset(offset)
    count = select(func.count()).select_from(mails)
    if to:
        query = query.where(mails.c.to_address == to)
        count = count.where(mails.c.to_address == to)
    async with ctx.db.reading() as session:
        items = plain_rows(await session.execute(query))
        total = (await session.execute(count)).scalar_one()
    return {"items": items, "total": total, "limit": limit, "offset": offset}


# --- Notices -------------------------------------------------------------------------------------------


@router.get("/notices", summary="Client notices by client, case or contract, with delivery and confirmation")
async def list_notices(
    ctx: ServiceContext = Depends(get_context),
    scope: Scope = Depends(request_scope),
    client_id: ClientIdFilter = None,
    case_id: CaseIdFilter = None,
    contract_id: ContractIdFilter = None,
    status: NoticeStatus | None = None,
    state: NoticeState | None = None,
    period: PeriodFilter = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> dict[str, Any]:
    async with ctx.db.reading() as session:
        items, total = await queries.list_notices(
            session, scope, client_id=_text(client_id), case_id=_text(case_id), contract_id=_text(contract_id),
            status=status, state=state, period=period, limit=limit, offset=offset)
    return {"items": items, "total": total, "links": links_status(ctx)}


@router.get("/notices/proof.csv", summary="Proof of the notices (CSV) for a manager: each send, refusal, "
                                          "opening and confirmation", response_class=Response)
async def proof_csv(
    ctx: ServiceContext = Depends(get_context),
    scope: Scope = Depends(request_scope),
    client_id: ClientIdFilter = None,
    case_id: CaseIdFilter = None,
    contract_id: ContractIdFilter = None,
) -> Response:
    if not scope.manages:
        raise Problem(403, "Forbidden", "exporting the proof of notices is for managers and admins")
    async with ctx.db.reading() as session:
        text = await queries.proof_csv(session, scope, client_id=_text(client_id), case_id=_text(case_id),
                                       contract_id=_text(contract_id))
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="potwierdzenia.csv"'})


@router.get("/notices/{notice_id}", summary="One notice with its proof")
async def get_notice(notice_id: NoticeIdPath, ctx: ServiceContext = Depends(get_context),
                     scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.reading() as session:
        found = await queries.get_notice(session, scope, str(notice_id))
    if found is None:
        raise NotFound("notice", notice_id)
    return found


class ManualNoticeIn(BaseModel):
    """A notice staff write: free text or a template, optional amounts, now or on a chosen day."""

    client_ids: list[str] = Field(min_length=1, max_length=5000)
    subject: str = Field(min_length=1, max_length=200)
    text: str = Field("", max_length=20000)
    template: str | None = Field(None, pattern=r"^[a-z0-9_]+$", max_length=60)
    liabilities: list[Liability] = []
    send_on: date | None = None
    requires_confirmation: bool = True
    created_by: TeamMember | None = None

    @field_validator("client_ids")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(str(v) for v in value))


@router.post("/notices", status_code=201, summary="Write a notice to one client or a selection")
async def create_notices(body: ManualNoticeIn, ctx: ServiceContext = Depends(get_context),
                         scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    errors = []
    if not body.text.strip() and not body.template:
        errors.append({"field": "text", "message": "write the text, or choose a template"})
    t = notices.templates(ctx)
    usable = {e["name"].split(".")[0] for e in t.listing() if e["name"].endswith(".pl.txt")} - {"reminder"}
    if body.template and body.template not in usable:
        errors.append({"field": "template", "message": f"no client mail template named {body.template!r} "
                                                        f"(one of: {', '.join(sorted(usable))})"})
    if body.send_on is not None and body.send_on < ctx.clock.today():
        errors.append({"field": "send_on", "message": f"is in the past (today is {ctx.clock.today().isoformat()})"})
    async with ctx.db.transaction() as session:
        views = []
        for i, client_id in enumerate(body.client_ids):
            view = await notices.client_view(session, client_id)
            if not view.contract_ids or not any(scope.sees(c) for c in view.contract_ids):
                errors.append({"field": f"client_ids[{i}]", "message": f"no client {client_id} you can see"})
            views.append(view)
        if errors:
            raise Problem(422, "Invalid request", "Some fields are invalid", errors=errors)
        created_by = body.created_by.model_dump() if body.created_by else (
            {"login": scope.login, "name": scope.login, "email": ""} if scope.login else None)
        ids = [await notices.create_manual(ctx, session, client=view, subject=body.subject, text=body.text,
                                           template=body.template, liabilities=body.liabilities,
                                           send_on=body.send_on, requires_confirmation=body.requires_confirmation,
                                           created_by=created_by) for view in views]
    return {"ids": ids}


class WithdrawIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


@router.post("/notices/{notice_id}/withdraw", summary="Withdraw a notice: no more reminders")
async def withdraw_notice(notice_id: NoticeIdPath, body: WithdrawIn, ctx: ServiceContext = Depends(get_context),
                          scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        if await queries.get_notice(session, scope, str(notice_id)) is None:
            raise NotFound("notice", notice_id)
        if not await notices.withdraw(ctx, session, str(notice_id), body.reason):
            raise Problem(409, "Conflict", "the notice is already withdrawn or replaced")
    return {"id": str(notice_id), "status": "withdrawn"}


@router.get("/recipients", summary="Delivery status of a client's recipients (failing after a 5xx refusal)")
async def recipients(ctx: ServiceContext = Depends(get_context), scope: Scope = Depends(request_scope),
                     client_id: ClientIdFilter = None) -> dict[str, Any]:
    async with ctx.db.reading() as session:
        if client_id is None:
            if not scope.manages:
                raise Problem(403, "Forbidden", "name a client, or be a manager to see every failing address")
            rows = await session.execute(select(addresses).where(addresses.c.status == "failing"))
            return {"items": [{"email": r.email, "status": r.status, "reply": r.reply,
                               "failed_at": r.failed_at.isoformat() if r.failed_at else None} for r in rows]}
        view = await notices.client_view(session, str(client_id))
        if not view.contract_ids or not any(scope.sees(c) for c in view.contract_ids):
            raise NotFound("client", client_id)
        health = await queries.address_status(session, [r.email for r in view.recipients])
    return {"client_id": str(client_id), "notices_enabled": view.notices_enabled, "items": [
        {"email": r.email, "name": r.name, "language": r.language,
         "status": health[r.email].status if r.email in health else "ok",
         "reply": health[r.email].reply if r.email in health else None,
         "failed_at": health[r.email].failed_at.isoformat() if r.email in health and health[r.email].failed_at
         else None}
        for r in view.recipients]}


@router.get("/clients/{client_id}/personal-data", summary="Everything held about one client (access request)")
async def client_personal_data(client_id: ClientIdPath, ctx: ServiceContext = Depends(get_context),
                               scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.reading() as session:
        return await personal.export(session, client_id=client_id, scope=scope)


# --- Templates, links, jobs ----------------------------------------------------------------------------------


@router.get("/templates", summary="The mail and page templates, and whether the admin's folder overrides each")
async def list_templates(ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    t = notices.templates(ctx)
    return {"folder": str(t.custom_dir) if t.custom_dir else None, "items": t.listing()}


class PreviewIn(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9_]+$", max_length=60)
    language: str = Field("pl", pattern=r"^(pl|en)$")
    data: dict[str, Any] | None = None


@router.post("/templates/preview", summary="Render a template with sample data before it is used")
async def preview_template(body: PreviewIn, ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    try:
        rendered = previews.preview(notices.templates(ctx), ctx.settings, body.name, body.language, body.data)
    except TemplateError as exc:
        raise template_problem(exc) from None
    return {"name": body.name, "language": body.language, "subject": rendered.subject, "text": rendered.text,
            "html": rendered.html}


def links_status(ctx: ServiceContext) -> dict[str, Any]:
    """Where client links point, and a warning when clients cannot reach it (a loopback address)."""
    base = ctx.settings.client_links_url
    host = urlparse(base).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    warning = (f"Linki potwierdzenia wskazują adres lokalny ({base}): klienci nie otworzą ich ze swoich "
               "komputerów. Ustaw TERMINARZ_PUBLIC_URL albo TERMINARZ_LINKS_URL na publiczny adres biura.") \
        if loopback else None
    return {"links_url": base, "reachable_by_clients": not loopback, "warning": warning}


@router.get("/links", summary="Where client links point, with a warning when clients cannot open them")
async def links(ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    return links_status(ctx)


@router.post("/jobs/{name}", summary="Run a job now: release, reminders, escalations, or all")
async def run_job(name: JobName, ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    runners = {"release": notices.release_due, "reminders": jobs.send_reminders, "escalations": jobs.escalate}
    if name == "all":
        return await jobs.tick(ctx)
    return {name: await runners[name](ctx)}


router.include_router(reports.router)  # /reports/…: the report aggregates (services/notifier/reports.py)
