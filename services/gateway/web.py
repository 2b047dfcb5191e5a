"""What every page of the staff web UI shares (Polish first): the layout and its menu, rendering, CSRF, forms'
errors in Polish, date formatting, and the pages for a refusal (login, 403, not found, a stale form).

A domain's `pages.py` renders its templates (`templates/<domain>/…`, extending `base.html`) with `render`; a
domain that adds a menu entry adds it to `NAV` with the permission that shows it.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.asgi import DefaultHeaders
from services.common.errors import PROBLEM_JSON, Problem, validation_problem
from services.common.params import MAX_ID
from services.common.runtime import ServiceContext, get_context
from services.gateway import format as fmt
from services.gateway import i18n
from services.gateway.auth import LOGIN_CSRF_COOKIE, LoginRequired, set_cookie, web_session
from services.gateway.common import read_form
from services.gateway.i18n import N_, Translated
from services.gateway.messages_pl import translated
from services.gateway.permissions import WHAT, PageForbidden, Permission, role_may
from services.gateway.sessions import WebSession
from services.gateway.users import User

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.add_extension("jinja2.ext.i18n")
# Newstyle: `_("… %(n)s …", n=3)` escapes its values; a literal percent sign in a msgid is written %%.
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext)
i18n.load()


ROLE_PL = Translated({"admin": N_("administrator"), "manager": N_("kierownik"), "accountant": N_("księgowa/y"),
                      "payroll": N_("kadry i płace")})


@dataclass(frozen=True)
class NavLink:
    href: str
    label: str
    permission: Permission
    admin: bool = False  # shown under "Administracja", a disclosure list, not in the menu's one line
    current_if: str = ""  # a query parameter ("mine=true") the address has when this entry is the current page

    def is_current(self, path: str, query: dict[str, str]) -> bool:
        """Whether a page at `path` with `query` is this entry's (its list, or an object under it)."""
        own, _, _ = self.href.partition("?")
        if self.current_if:
            key, _, value = self.current_if.partition("=")
            if query.get(key) != value:
                return False
        return path == own or (own != "/" and path.startswith(own + "/"))


# The menu of the layout, in order; an entry shows to those whose role has its permission. The office's daily work
# is the menu's one line; the administrative entries open from one entry, "Administracja".
NAV = (
    NavLink("/", N_("Pulpit"), Permission.view),
    NavLink("/cases?mine=true&tab=open", N_("Moje sprawy"), Permission.view, current_if="mine=true"),
    NavLink("/cases", N_("Sprawy"), Permission.view),
    NavLink("/clients", N_("Klienci"), Permission.view),
    NavLink("/contracts", N_("Umowy"), Permission.view),
    NavLink("/notices", N_("Zawiadomienia"), Permission.view),
    NavLink("/reports", N_("Raporty"), Permission.read_reports),
    NavLink("/absences", N_("Nieobecności"), Permission.manage_cases, admin=True),
    NavLink("/mail", N_("Poczta wychodząca"), Permission.view, admin=True),
    NavLink("/rules", N_("Reguły"), Permission.view, admin=True),
    NavLink("/users", N_("Użytkownicy"), Permission.manage_users, admin=True),
    NavLink("/audit", N_("Dziennik zmian"), Permission.read_audit, admin=True),
    NavLink("/system/dead-letters", N_("Komunikaty nieobsłużone"), Permission.manage_settings, admin=True),
)


def current_link(links: list[NavLink], path: str, query: dict[str, str]) -> NavLink | None:
    """The menu entry of the page at `path`: the first that claims it ("Moje sprawy" before "Sprawy")."""
    return next((link for link in links if link.is_current(path, query)), None)


def date_pl(value: Any) -> str:
    """A date in the page's language (format.py); the name is from before there was English."""
    return fmt.day(value)


def timestamp_pl(value: Any) -> str:
    """A timestamp (UTC, ISO text or datetime) as the office's local time in the page's language; "" for none."""
    return fmt.timestamp(value)


def dates_pl(values: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """A form's values with the named ISO dates shown as the page's language writes them (what the user typed
    stays as typed)."""
    shown = dict(values)
    for name in names:
        value = shown.get(name)
        if isinstance(value, str) and _ISO_DAY.fullmatch(value):
            shown[name] = fmt.day(value)
    return shown


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_PL_DAY = re.compile(r"(\d{1,2})[.\-/ ](\d{1,2})[.\-/ ](\d{4})")


def query_day(value: Any) -> Any:
    """A date filter of a page's address as typed in its text input ("29.11.2026", "29/11/2026") or as ISO, for
    a `LocalDate` query parameter to validate; empty is no date (`BeforeValidator(query_day)`)."""
    if isinstance(value, str):
        return form_date(value) if value.strip() else None
    return value


def form_date(text: str) -> str:
    """A date field as typed — "29.11.2026", "29-11-2026", "2026-11-29" — in ISO for the API; anything else as
    typed (the API names what is wrong, shown in Polish next to the field)."""
    found = _PL_DAY.fullmatch(text.strip())
    if found:
        day, month, year = (int(found.group(i)) for i in (1, 2, 3))
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            return text
    return text.strip()


# Formats follow the page's language (format.py); the `_pl` names are the same filters under their old names.
for _names, _filter in ((("date", "date_pl"), fmt.day), (("dates", "dates_pl"), dates_pl),
                        (("timestamp", "timestamp_pl"), fmt.timestamp), (("month_name",), fmt.month),
                        (("in_month",), fmt.in_month), (("money", "money_pl"), fmt.money),
                        (("amount", "amount_pl"), fmt.amount), (("percent", "percent_pl"), fmt.percent)):
    for _name in _names:
        templates.env.filters[_name] = _filter
def title_of(item: Any) -> str:
    """A case's or duty's title in the page's language: the rule's English title (`title_en`) on an English page
    when it has one, else the Polish (`title`, or `title_pl` in a plan)."""
    def get(name: str) -> Any:
        return item.get(name) if isinstance(item, dict) else getattr(item, name, None)

    if i18n.current() == "en" and get("title_en"):
        return str(get("title_en"))
    return str(get("title") or get("title_pl") or "")


# The date picker's words (static/datepicker.js reads them from `<body data-calendar>`: no script inline under the
# CSP, and a new language needs only its catalog): month names alone ("listopad 2026") and in a date ("30 listopada
# 2026"), the weekdays short and in full, Monday first, the buttons' labels.
CALENDAR_TEXTS: dict[str, str | list[str]] = {
    "months": [N_("styczeń"), N_("luty"), N_("marzec"), N_("kwiecień"), N_("maj"), N_("czerwiec"), N_("lipiec"),
               N_("sierpień"), N_("wrzesień"), N_("październik"), N_("listopad"), N_("grudzień")],
    "monthsOf": [N_("stycznia"), N_("lutego"), N_("marca"), N_("kwietnia"), N_("maja"), N_("czerwca"), N_("lipca"),
                 N_("sierpnia"), N_("września"), N_("października"), N_("listopada"), N_("grudnia")],
    "days": [N_("Pn"), N_("Wt"), N_("Śr"), N_("Cz"), N_("Pt"), N_("So"), N_("Nd")],
    "dayNames": [N_("poniedziałek"), N_("wtorek"), N_("środa"), N_("czwartek"), N_("piątek"), N_("sobota"),
                 N_("niedziela")],
    "open": N_("Wybierz datę z kalendarza"), "dialog": N_("Kalendarz"), "previous": N_("Poprzedni miesiąc"),
    "next": N_("Następny miesiąc"), "close": N_("Zamknij"),
}


def calendar_texts() -> str:
    """The date picker's words in the page's language, and its date separator (29.11.2026, 29/11/2026), as JSON."""
    texts: dict[str, Any] = {key: i18n.gettext(value) if isinstance(value, str) else [i18n.gettext(t) for t in value]
                             for key, value in CALENDAR_TEXTS.items()}
    texts["separator"] = fmt.day(date(2000, 1, 2))[2]
    return json.dumps(texts, ensure_ascii=False, separators=(",", ":"))


# `tr`: a text kept in Python (marked N_) said in the page's language, escaped like any value.
templates.env.globals.update(ROLE_PL=ROLE_PL, tr=i18n.say, title_of=title_of, date_hint=fmt.date_hint,
                             LANGUAGES=i18n.LANGUAGES, calendar_texts=calendar_texts)


class CookieLanguage:
    """Before the session is known, a request's language is the login page's switch cookie; a session's user then
    sets theirs (auth.web_session). The language the caller's task had is restored after the request (a test's
    in-process client runs the app in its own task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        before = i18n.current()
        i18n.use(HTTPConnection(scope).cookies.get(i18n.COOKIE))
        try:
            await self.app(scope, receive, send)
        finally:
            i18n.use(before)


class CsrfRejected(Exception):
    """A form without the session's CSRF token: answered with a page saying so."""


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


async def check_csrf(request: Request, ctx: ServiceContext = Depends(get_context)) -> None:
    """FastAPI dependency of every POST form, run before anything else of the route."""
    web = await web_session(request, ctx)
    form = await read_form(request)  # parsed once: a CSV file on the import page may be as large as the body limit
    sent = form.get("csrf_token")
    expected = web.csrf_token if web is not None else request.cookies.get(LOGIN_CSRF_COOKIE)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected


def render(request: Request, template: str, user: User | None, *, status_code: int = 200,
           headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    """A page in the layout: the menu the user's role allows (its entry of this page marked), the CSRF token for its
    forms, today's date."""
    ctx: ServiceContext = request.app.state.ctx
    if "staff" in context:
        context["staff_options"] = {u.login: f"{u.name} ({u.login})" for u in context["staff"]}
        context["staff_names"] = {u.login: u.name for u in context["staff"]}

    def may(permission: str) -> bool:
        return user is not None and role_may(user.role, Permission(permission))

    shown = [link for link in NAV if user is not None and role_may(user.role, link.permission)]
    current = current_link(shown, request.url.path, dict(request.query_params))
    language = i18n.use(user.language if user is not None else request.cookies.get(i18n.COOKIE))
    response = templates.TemplateResponse(
        request, template,
        {"user": user, "may": may, "nav": [link for link in shown if not link.admin],
         "admin_nav": [link for link in shown if link.admin], "current_link": current, "today": ctx.clock.today(),
         "csrf_token": csrf_token(request), "language": language, "path": request.url.path, **context},
        status_code=status_code, headers=headers,
    )
    new_token = getattr(request.state, "new_login_csrf", None)
    if new_token:
        set_cookie(response, ctx.settings, LOGIN_CSRF_COOKIE, new_token)
    return response


def not_found(request: Request, user: User | None, what: str, *, status_code: int = 404) -> HTMLResponse:
    """The not-found page in the layout: for what does not exist and for what the caller may not see alike."""
    return render(request, "not_found.html", user, what=what, status_code=status_code)


# --- Forms ------------------------------------------------------------------------------------------


# The API's generic messages, said in Polish on the forms; the domain's own ones are in messages_pl.py.
_MESSAGES_PL = (
    ("String should have at least 1 character", N_("To pole jest wymagane.")),
    ("Field required", N_("To pole jest wymagane.")),
    ("List should have at least 1 item", N_("Podaj co najmniej jedną wartość.")),
    ("Input should be a valid integer", N_("Podaj liczbę całkowitą.")),
    ("Input should be a valid decimal", N_("Podaj kwotę, np. 1 200,00.")),
    ("a date is written YYYY-MM-DD, got ", N_("Podaj datę jako DD.MM.RRRR, np. 29.11.2026.")),
    ("Input should be ", N_("Wybierz wartość z listy.")),
)


def message_pl(message: str) -> str:
    """A service's message said in the page's language (Polish or English, despite the name)."""
    known = translated(message)
    if known is not None:
        return known
    for prefix, polish in _MESSAGES_PL:
        if message.startswith(prefix) and (prefix != _MESSAGES_PL[5][0] or message == prefix):
            return i18n.gettext(polish)
    return i18n.gettext(message)  # a Polish message of the gateway's own (marked N_), else as it is


def form_errors(problem: Problem, field_of: Any = None) -> dict[str, list[str]]:
    """Messages by form field (`field_of` maps a problem's field path to the input's name); those naming no field
    of the form go under "" (shown above the form)."""
    errors: dict[str, list[str]] = {}
    for error in problem.errors or [{"field": "", "message": problem.detail or problem.title}]:
        path = str(error.get("field", ""))
        errors.setdefault(field_of(path) if field_of else path, []).append(message_pl(str(error.get("message", ""))))
    return errors


def text_of(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def number(value: str) -> int | str:
    """Digits become a number; anything else goes as typed, for the API to name what is wrong."""
    return int(value) if value.isascii() and value.isdigit() else value


def record_id(value: str) -> int | None:
    """A form's id field as an id the database can hold, or None."""
    parsed = number(value)
    return parsed if isinstance(parsed, int) and 1 <= parsed <= MAX_ID else None


# --- Refusals, as pages -----------------------------------------------------------------------------


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
        return not_found(request, user, i18n.gettext("Pod tym adresem nic nie ma."))
    return not_found(request, user, i18n.gettext("Adres zawiera nieprawidłowy filtr lub numer strony."),
                     status_code=422)


async def _page_user(request: Request) -> User | None:
    caller = getattr(request.state, "caller", None)
    if caller is not None:
        user: User = caller.user
        return user
    web = await web_session(request, request.app.state.ctx)
    return web.user if web else None


async def problem_page(request: Request, exc: Exception) -> Response:
    """A problem raised while making a page (a service's 404, a 503…): a page in the layout saying what it is.
    The API keeps its problem documents."""
    assert isinstance(exc, Problem)
    if request.url.path.startswith("/api/"):
        return JSONResponse(exc.document(str(request.url.path)), status_code=exc.status, media_type=PROBLEM_JSON)
    user = await _page_user(request)
    if exc.status == 404:
        return not_found(request, user, i18n.gettext("Nie ma tego lub nie masz do tego dostępu."))
    return render(request, "problem.html", user, problem=exc, status_code=exc.status)


def install(app: FastAPI) -> None:
    """The pages' refusals, and no page or answer kept in a browser's or proxy's cache (they hold people's data)."""

    async def to_login(request: Request, exc: Exception) -> Response:
        return RedirectResponse("/login", status_code=303)

    async def form_rejected(request: Request, exc: Exception) -> Response:
        web_session_ = getattr(request.state, "web_session", None)
        return csrf_rejected_page(request, web_session_.user if web_session_ else None)

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageForbidden)
        what = WHAT[exc.permission][0 if i18n.current() == "en" else 1]
        return render(request, "forbidden.html", exc.user, what=what, status_code=403)

    app.add_exception_handler(LoginRequired, to_login)
    app.add_exception_handler(CsrfRejected, form_rejected)
    app.add_exception_handler(PageForbidden, forbidden)
    app.add_exception_handler(RequestValidationError, malformed_address_page)
    app.add_exception_handler(Problem, problem_page)

    app.add_middleware(DefaultHeaders, headers={"Cache-Control": "no-store"},
                       only_if=lambda path: not path.startswith("/static/"))
    app.add_middleware(CookieLanguage)
