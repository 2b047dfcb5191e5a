"""Web pages of accounts: logging in and out, one's own account (password, tokens), and for admins the staff
accounts (create, edit, deactivate and reactivate, reset a password, issue and revoke API tokens)."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common.errors import Problem
from services.common.log import current_correlation_id
from services.common.runtime import ServiceContext, get_context
from services.gateway import feed, i18n, logins, sessions
from services.gateway.accounts import service as accounts
from services.gateway.accounts.api import LoginPath, TokenIdPath
from services.gateway.audit import service as audit
from services.gateway.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, clear_cookie, set_cookie, web_session
from services.gateway.i18n import N_
from services.gateway.logins import LoginPolicy
from services.gateway.models import ROLES
from services.gateway.permissions import Caller, Permission, allow_page
from services.gateway.sessions import SessionPolicy, WebSession
from services.gateway.web import CsrfRejected, check_csrf, form_errors, render, text_of

router = APIRouter(include_in_schema=False)
OWN = allow_page(Permission.own_account)
ADMIN = allow_page(Permission.manage_users)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _user_url(login: str) -> str:
    return f"/users/{quote(login, safe='')}"


# --- Logging in and out ----------------------------------------------------------------------------


@router.get("/login")
async def login_form(request: Request, changed: bool = False, ctx: ServiceContext = Depends(get_context)) -> Response:
    # The session is looked up so that a browser already logged in gets a form with its own session's token.
    await web_session(request, ctx)
    notice = i18n.gettext("Hasło zmienione. Zaloguj się nowym hasłem.") if changed else None
    return render(request, "accounts/login.html", None, error=None, notice=notice, login="")


@router.post("/login", dependencies=[Depends(check_csrf)])
async def login(request: Request, login: str = Form(""), password: str = Form(""),
                ctx: ServiceContext = Depends(get_context)) -> Response:
    web = await web_session(request, ctx)
    session_policy = SessionPolicy.from_settings(ctx.settings)
    result = await logins.log_in(db=ctx.db, policy=LoginPolicy.from_settings(ctx.settings),
                                 session_policy=session_policy, login=login.strip(), password=password,
                                 address=_address(request), now=ctx.clock.now(),
                                 correlation_id=current_correlation_id())
    page = "accounts/login.html"
    if result.retry_after is not None:
        minutes = math.ceil(result.retry_after / 60)
        return render(request, page, None, login=login, notice=None, status_code=429,
                      headers={"Retry-After": str(result.retry_after)},
                      error=i18n.gettext("Zbyt wiele nieudanych prób logowania. Spróbuj ponownie za {minutes} min.")
                      .format(minutes=minutes))
    if result.session_id is None:
        return render(request, page, None, error=i18n.gettext("Nieprawidłowy login lub hasło."), notice=None,
                      login=login, status_code=401)
    if web is not None:  # whoever was logged in on this browser before is logged out
        async with ctx.db.transaction() as session:
            await sessions.end(session=session, session_row_id=web.id)
    response = RedirectResponse("/", status_code=303)
    set_cookie(response, ctx.settings, SESSION_COOKIE, result.session_id,
               max_age=int(session_policy.lifetime.total_seconds()))
    clear_cookie(response, ctx.settings, LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, ctx: ServiceContext = Depends(get_context)) -> Response:
    web: WebSession | None = await web_session(request, ctx)
    if web is not None:  # an ended session has nothing left to protect: just go to the login page
        await check_csrf(request, ctx)
        async with ctx.db.transaction() as session:
            await sessions.end(session=session, session_row_id=web.id)
            await audit.write(session=session, login=web.user.login, action="logout",
                              target=f"user:{web.user.login}", at=ctx.clock.now(),
                              correlation_id=current_correlation_id())
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, ctx.settings, SESSION_COOKIE)
    return response


@router.get("/language/{language}")
async def switch_language(request: Request, language: str, next: str = "/login",
                          ctx: ServiceContext = Depends(get_context)) -> Response:
    """The login page's language switch: a cookie for the pages seen before logging in (a user's own setting,
    on their account page, wins once they are logged in). Goes back to a page of this site only."""
    target = next if next.startswith("/") and not next.startswith("//") else "/login"
    response = RedirectResponse(target, status_code=303)
    if i18n.valid(language):
        set_cookie(response, ctx.settings, i18n.COOKIE, language, max_age=365 * 24 * 3600)
    return response


# --- One's own account -----------------------------------------------------------------------------


async def _account_page(request: Request, caller: Caller, ctx: ServiceContext, *, errors: dict[str, list[str]],
                        status_code: int = 200, feed_url: str | None = None) -> HTMLResponse:
    async with ctx.db.reading() as session:
        calendar = await feed.feed_of(session=session, user_id=caller.user.id)
    return render(request, "accounts/account.html", caller.user, errors=errors, status_code=status_code,
                  tokens=await accounts.list_tokens(ctx=ctx, login=caller.login), min_password=accounts.MIN_PASSWORD,
                  calendar=calendar, feed_url=feed_url)


async def account_page_with(request: Request, caller: Caller, ctx: ServiceContext, *, feed_url: str) -> HTMLResponse:
    """The account page showing a calendar address just made (the only time it can be shown)."""
    return await _account_page(request, caller, ctx, errors={}, feed_url=feed_url)


@router.get("/account")
async def account_page(request: Request, caller: Caller = Depends(OWN),
                       ctx: ServiceContext = Depends(get_context)) -> HTMLResponse:
    return await _account_page(request, caller, ctx, errors={})


@router.post("/account/password", dependencies=[Depends(check_csrf)])
async def change_password(request: Request, caller: Caller = Depends(OWN),
                          ctx: ServiceContext = Depends(get_context)) -> Response:
    form = await request.form()
    current, new = form.get("current"), form.get("new")
    repeated = form.get("repeat")
    if not isinstance(current, str) or not isinstance(new, str):
        raise CsrfRejected  # not our form
    if new != repeated:
        return await _account_page(request, caller, ctx, status_code=422,
                                   errors={"repeat": [i18n.gettext("Hasła się różnią.")]})
    try:
        await accounts.change_own_password(ctx=ctx, caller=caller, current=current, new=new)
    except Problem as problem:
        if problem.status != 422:
            raise
        return await _account_page(request, caller, ctx, status_code=422, errors=_polish(form_errors(problem)))
    response = RedirectResponse("/login?changed=true", status_code=303)
    clear_cookie(response, ctx.settings, SESSION_COOKIE)
    return response


@router.post("/account/language", dependencies=[Depends(check_csrf)])
async def change_own_language(request: Request, caller: Caller = Depends(OWN),
                              ctx: ServiceContext = Depends(get_context)) -> Response:
    """The UI's language for oneself (kept on the account; also in the cookie, for the login page after logout)."""
    form = await request.form()
    language = text_of(form, "language")
    try:
        await accounts.update_account(ctx=ctx, caller=caller, login=caller.login,
                                      changes=accounts.Changes(language=language))
    except Problem as problem:
        if problem.status != 422:
            raise
        return await _account_page(request, caller, ctx, status_code=422, errors=_polish(form_errors(problem)))
    response = RedirectResponse("/account", status_code=303)
    set_cookie(response, ctx.settings, i18n.COOKIE, language, max_age=365 * 24 * 3600)
    return response


@router.post("/account/tokens/{token_id}/revoke", dependencies=[Depends(check_csrf)])
async def revoke_own_token(token_id: TokenIdPath, caller: Caller = Depends(OWN),
                           ctx: ServiceContext = Depends(get_context)) -> Response:
    await accounts.revoke_token(ctx=ctx, caller=caller, login=caller.login, token_id=token_id)
    return RedirectResponse("/account", status_code=303)


# --- Staff accounts (admins) -------------------------------------------------------------------------

_PL = {
    "is not your current password": N_("To nie jest Twoje obecne hasło."),
    f"at least {accounts.MIN_PASSWORD} characters": N_("Hasło ma mieć co najmniej {min} znaków."),
    f"at most {accounts.MAX_PASSWORD} characters": N_("Hasło może mieć najwyżej {max} znaków."),
    "must not be the login": N_("Hasło nie może być loginem."),
    "must differ from the current password": N_("Nowe hasło musi się różnić od obecnego."),
    "a name is required": N_("Podaj imię i nazwisko."),
    "is not an e-mail address": N_("To nie jest adres e-mail."),
    "a login is one word without spaces or slashes": N_("Login to jedno słowo, bez spacji i ukośników."),
    "already used by another user": N_("Ten login jest już zajęty."),
    "you cannot change your own role or deactivate yourself":
        N_("Nie możesz zmienić własnej roli ani dezaktywować własnego konta."),
    "the user is deactivated": N_("Konto jest nieaktywne: najpierw je aktywuj."),
    "say in 1 to 100 characters what the token is for": N_("Podaj nazwę tokenu (do 100 znaków)."),
}


def _polish(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """The accounts' messages said in the page's language (the others are already, by form_errors)."""
    return {field: [i18n.gettext(_PL[m]).format(min=accounts.MIN_PASSWORD, max=accounts.MAX_PASSWORD)
                    if m in _PL else m for m in messages] for field, messages in errors.items()}


@router.get("/users")
async def user_list(request: Request, caller: Caller = Depends(ADMIN),
                    ctx: ServiceContext = Depends(get_context)) -> HTMLResponse:
    return render(request, "accounts/users.html", caller.user, accounts=await accounts.list_accounts(ctx=ctx))


@router.get("/users/new")
async def user_form(request: Request, caller: Caller = Depends(ADMIN)) -> HTMLResponse:
    return render(request, "accounts/user_form.html", caller.user, values={"role": "accountant"}, errors={},
                  roles=ROLES)


@router.post("/users/new", dependencies=[Depends(check_csrf)])
async def user_create(request: Request, caller: Caller = Depends(ADMIN),
                      ctx: ServiceContext = Depends(get_context)) -> Response:
    form = await request.form()
    login = text_of(form, "login")
    password = accounts.new_password()
    try:
        account = await accounts.create_account(ctx=ctx, caller=caller, login=login, name=text_of(form, "name"),
                                                email=text_of(form, "email"), role=text_of(form, "role"),
                                                password=password)
    except Problem as problem:
        if problem.status not in (409, 422):
            raise
        return render(request, "accounts/user_form.html", caller.user, values=dict(form), roles=ROLES,
                      errors=_polish(form_errors(problem)), status_code=422)
    return await _user_page(request, caller, ctx, account.user.login, status_code=201, new_password=password,
                            created=True)


async def _user_page(request: Request, caller: Caller, ctx: ServiceContext, login: str, *,
                     status_code: int = 200, errors: dict[str, list[str]] | None = None,
                     values: dict[str, Any] | None = None, **shown: Any) -> HTMLResponse:
    account = await accounts.get_account(ctx=ctx, login=login)
    user = account.user
    return render(request, "accounts/user.html", caller.user, account=account, roles=ROLES,
                  tokens=await accounts.list_tokens(ctx=ctx, login=login), errors=errors or {},
                  values=values or {"name": user.name, "email": user.email, "role": user.role,
                                    "language": user.language},
                  url=_user_url(login), status_code=status_code, **shown)


@router.get("/users/{login}")
async def user_page(request: Request, login: LoginPath, caller: Caller = Depends(ADMIN),
                    ctx: ServiceContext = Depends(get_context)) -> HTMLResponse:
    return await _user_page(request, caller, ctx, login)


@router.post("/users/{login}", dependencies=[Depends(check_csrf)])
async def user_edit(request: Request, login: LoginPath, caller: Caller = Depends(ADMIN),
                    ctx: ServiceContext = Depends(get_context)) -> Response:
    form = await request.form()
    changes = accounts.Changes(name=text_of(form, "name"), email=text_of(form, "email"), role=text_of(form, "role"),
                               language=text_of(form, "language") or None)
    return await _change(request, caller, ctx, login, changes, values=dict(form))


@router.post("/users/{login}/deactivate", dependencies=[Depends(check_csrf)])
async def user_deactivate(request: Request, login: LoginPath, caller: Caller = Depends(ADMIN),
                          ctx: ServiceContext = Depends(get_context)) -> Response:
    return await _change(request, caller, ctx, login, accounts.Changes(active=False))


@router.post("/users/{login}/reactivate", dependencies=[Depends(check_csrf)])
async def user_reactivate(request: Request, login: LoginPath, caller: Caller = Depends(ADMIN),
                          ctx: ServiceContext = Depends(get_context)) -> Response:
    return await _change(request, caller, ctx, login, accounts.Changes(active=True))


async def _change(request: Request, caller: Caller, ctx: ServiceContext, login: str, changes: accounts.Changes,
                  values: dict[str, Any] | None = None) -> Response:
    try:
        await accounts.update_account(ctx=ctx, caller=caller, login=login, changes=changes)
    except Problem as problem:
        if problem.status != 422:
            raise
        return await _user_page(request, caller, ctx, login, status_code=422, values=values,
                                errors=_polish(form_errors(problem)))
    return RedirectResponse(_user_url(login), status_code=303)


@router.post("/users/{login}/password-reset", dependencies=[Depends(check_csrf)])
async def user_password_reset(request: Request, login: LoginPath, caller: Caller = Depends(ADMIN),
                              ctx: ServiceContext = Depends(get_context)) -> Response:
    try:
        password = await accounts.reset_password(ctx=ctx, caller=caller, login=login)
    except Problem as problem:
        if problem.status != 409:
            raise
        return await _user_page(request, caller, ctx, login, status_code=409, errors=_polish(form_errors(problem)))
    return await _user_page(request, caller, ctx, login, new_password=password)


@router.post("/users/{login}/tokens", dependencies=[Depends(check_csrf)])
async def user_token_create(request: Request, login: LoginPath, caller: Caller = Depends(ADMIN),
                            ctx: ServiceContext = Depends(get_context)) -> Response:
    form = await request.form()
    try:
        token, listed = await accounts.create_token(ctx=ctx, caller=caller, login=login,
                                                    name=text_of(form, "token_name"))
    except Problem as problem:
        if problem.status not in (409, 422):
            raise
        errors = {("token_name" if field == "name" else field): messages
                  for field, messages in _polish(form_errors(problem)).items()}
        return await _user_page(request, caller, ctx, login, status_code=422, errors=errors)
    return await _user_page(request, caller, ctx, login, status_code=201, new_token=token, new_token_name=listed.name)


@router.post("/users/{login}/tokens/{token_id}/revoke", dependencies=[Depends(check_csrf)])
async def user_token_revoke(login: LoginPath, token_id: TokenIdPath, caller: Caller = Depends(ADMIN),
                            ctx: ServiceContext = Depends(get_context)) -> Response:
    await accounts.revoke_token(ctx=ctx, caller=caller, login=login, token_id=token_id)
    return RedirectResponse(_user_url(login), status_code=303)
