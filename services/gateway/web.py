"""The staff web UI (Polish first): log in, the case list, a case, the local mail outbox."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.common.errors import Problem
from services.common.runtime import ServiceContext, get_context
from services.gateway import users
from services.gateway.api import can_see_case, service_clients
from services.gateway.auth import session_user
from services.gateway.clients import ServiceClients
from services.gateway.users import User

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

STATUS_PL = {"open": "otwarta", "in_progress": "w toku", "done": "zakończona", "withdrawn": "wycofana"}
MAIL_STATUS_PL = {"pending": "czeka", "sent": "wysłana", "kept": "w skrzynce lokalnej", "failed": "błąd"}
ROLE_PL = {"admin": "administrator", "manager": "kierownik", "accountant": "księgowa/y", "payroll": "kadry i płace"}


def _date_pl(value: Any) -> str:
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return value.strftime("%d.%m.%Y") if isinstance(value, date) else ""


templates.env.filters["date_pl"] = _date_pl
templates.env.globals.update(STATUS_PL=STATUS_PL, MAIL_STATUS_PL=MAIL_STATUS_PL, ROLE_PL=ROLE_PL)


class LoginRequired(Exception):
    pass


async def page_user(user: User | None = Depends(session_user)) -> User:
    if user is None:
        raise LoginRequired
    return user


def render(request: Request, template: str, user: User | None, **context: Any) -> HTMLResponse:
    ctx: ServiceContext = request.app.state.ctx
    return templates.TemplateResponse(
        request, template, {"user": user, "today": ctx.clock.today(), **context}
    )


@router.get("/login")
async def login_form(request: Request) -> HTMLResponse:
    return render(request, "login.html", None, error=None, login="")


@router.post("/login")
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


@router.post("/logout")
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
    try:
        case = await svc.call("cases", "GET", f"/cases/{case_id}")
    except Problem as problem:
        if problem.status != 404:
            raise
        case = None
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
