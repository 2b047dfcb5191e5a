"""Who may do what: roles, their permissions, and the visibility rule (which contracts a person sees).

Every route declares what it needs, at the route, as a dependency that also says who is calling:

    caller: Caller = Depends(allow(Permission.change_contracts))        # REST API: bearer token, 401/403 problems
    caller: Caller = Depends(allow_page(Permission.view))               # web page: session, login page/403 page

The `Caller` carries the user and their `Scope` (services/common/scope.py): the contracts they may see, `None`
for everything. The gateway's service layer passes that scope to every service it calls (`X-Terminarz-Scope`),
and each service filters its lists, counts and searches by it and answers 404 for one object outside it — one
rule for a list and for an object, and an invisible object is "not found", never "forbidden". The only routes
without a permission are `PUBLIC_ROUTES`; `tests/embedded/test_permission_matrix.py` fails for any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from fastapi import Depends, Request
from sqlalchemy import CompoundSelect, Date, String, and_, bindparam, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Problem
from services.common.runtime import ServiceContext, get_context
from services.common.scope import Scope
from services.gateway import auth
from services.gateway.models import Role, absences, contract_access
from services.gateway.users import User


class Permission(StrEnum):
    """What a route needs. Add a member (and its roles below, and its words in `WHAT`) for a new kind of action."""

    view = "view"  # what the caller's scope holds: cases, clients, contracts, plans, notices, mail; the rules in force
    own_account = "own_account"  # one's own password and API tokens
    work_cases = "work_cases"  # work the cases one sees: status, checklist, comments, attachments, one-off cases
    change_contracts = "change_contracts"  # clients, contracts, annexes, terminations, CSV imports
    send_notices = "send_notices"  # write a notice by hand to clients the caller sees
    manage_notices = "manage_notices"  # withdraw a notice; export the proof of notices (CSV)
    manage_cases = "manage_cases"  # reassignments, absences, reopening finished cases
    read_reports = "read_reports"
    read_audit = "read_audit"
    manage_users = "manage_users"  # staff accounts: create, edit, deactivate, reset passwords, tokens
    manage_rules = "manage_rules"  # preview and apply the rules folder
    manage_settings = "manage_settings"
    export_personal_data = "export_personal_data"  # everything held about one client (an access request)
    erase_personal_data = "erase_personal_data"  # the retention command: erase clients past retention


_STAFF = frozenset({Permission.view, Permission.own_account, Permission.work_cases, Permission.send_notices})
_MANAGER = _STAFF | {Permission.change_contracts, Permission.manage_cases, Permission.read_reports,
                     Permission.read_audit, Permission.manage_notices, Permission.export_personal_data}
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.admin: _MANAGER | {Permission.manage_users, Permission.manage_rules, Permission.manage_settings,
                            Permission.erase_personal_data},
    Role.manager: _MANAGER,
    Role.accountant: _STAFF,
    Role.payroll: _STAFF,
}
# Roles whose scope is the whole office; the others see the contracts the visibility rule gives them.
SEES_EVERYTHING = frozenset({Role.admin, Role.manager})

# What each permission lets a person do, for refusals: (English for the API, Polish for the pages).
WHAT: dict[Permission, tuple[str, str]] = {
    Permission.view: ("see the office's work", "przeglądać spraw i umów"),
    Permission.own_account: ("change their own account", "zmieniać swojego konta"),
    Permission.work_cases: ("work cases", "prowadzić spraw"),
    Permission.change_contracts: ("change clients or contracts", "zmieniać klientów ani umów"),
    Permission.send_notices: ("send notices to clients", "wysyłać zawiadomień do klientów"),
    Permission.manage_notices: ("withdraw notices or export their proof", "wycofywać zawiadomień ani eksportować "
                                "potwierdzeń"),
    Permission.manage_cases: ("reassign or reopen cases or record absences",
                              "przekazywać ani wznawiać spraw ani rejestrować nieobecności"),
    Permission.read_reports: ("read reports", "przeglądać raportów"),
    Permission.read_audit: ("read the audit log", "przeglądać dziennika zmian"),
    Permission.manage_users: ("manage staff accounts", "zarządzać kontami pracowników"),
    Permission.manage_rules: ("change the rules", "zmieniać reguł"),
    Permission.manage_settings: ("change settings", "zmieniać ustawień"),
    Permission.export_personal_data: ("export a client's personal data", "eksportować danych osobowych klienta"),
    Permission.erase_personal_data: ("erase clients' personal data", "usuwać danych osobowych klientów"),
}

# Routes anyone may call, each with its reason; every other route declares a permission.
PUBLIC_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/login"): "the login form",
    ("POST", "/login"): "logging in (throttled, CSRF double-submit cookie)",
    ("POST", "/logout"): "ends whatever session the browser has (its CSRF token checked when there is one)",
    ("GET", "/language/{language}"): "the login page's language switch: sets a cookie with the UI's language",
    ("GET", "/healthz"): "liveness, says nothing but up",
    ("GET", "/readyz"): "readiness, says nothing but ready",
    ("GET", "/metrics"): "Prometheus; wants the internal token",
    ("GET", "/docs"): "the API's documentation page",
    ("GET", "/openapi.json"): "the API's OpenAPI document",
    ("HEAD", "/openapi.json"): "the same",
    ("GET", "/static"): "the stylesheet",
    ("GET", "/calendar/{token}.ics"): "a person's calendar feed for calendar programs: answers only a valid secret "
                                      "token (its hash stored, revocable on the account page), 404 otherwise",
}


def role_may(role: str, permission: Permission) -> bool:
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False


@dataclass(frozen=True)
class Caller:
    """Who is calling a route: the user, and the scope of what they may see (passed on to every service)."""

    user: User
    scope: Scope

    @property
    def login(self) -> str:
        return self.user.login

    def may(self, permission: Permission) -> bool:
        return role_may(self.user.role, permission)

    def sees(self, contract_id: int | str) -> bool:
        return self.scope.sees(str(contract_id))


class PageForbidden(Exception):
    """A web page the caller's role may not open: answered with a page in the layout (403)."""

    def __init__(self, user: User, permission: Permission) -> None:
        super().__init__(permission.value)
        self.user = user
        self.permission = permission


class Require:
    """A route's guard: authenticates the caller, checks their role has the permission, and works out their scope.

    `permission` and `page` are read by the route × role matrix test (it walks the app's routes)."""

    def __init__(self, permission: Permission, *, page: bool) -> None:
        self.permission = permission
        self.page = page

    async def __call__(self, request: Request, ctx: ServiceContext = Depends(get_context)) -> Caller:
        token_to_record = None
        now = ctx.clock.now()
        if self.page:
            web = await auth.web_session(request, ctx)
            if web is None:
                raise auth.LoginRequired
            self._check_role(web.user)
            async with ctx.db.reading() as session:
                scope = await scope_of(session=session, user=web.user, today=ctx.clock.today())
            user = web.user
        else:
            # The token, the role and the scope in one read (one connection, two statements): the gateway's own
            # cost of an API call (bench/my_cases.py).
            async with ctx.db.reading() as session:
                user, token_to_record = await auth.api_user(request, session, now)
                self._check_role(user)
                scope = await scope_of(session=session, user=user, today=ctx.clock.today())
        if token_to_record is not None:
            await auth.record_token_use(ctx, token_to_record, now)
        caller = Caller(user, scope)
        request.state.caller = caller
        return caller

    def _check_role(self, user: User) -> None:
        if not role_may(user.role, self.permission):
            if self.page:
                raise PageForbidden(user, self.permission)
            raise Problem(403, "Forbidden", f"role {user.role!r} may not {WHAT[self.permission][0]}")

    def __repr__(self) -> str:
        return f"{'allow_page' if self.page else 'allow'}({self.permission.value})"


def allow(permission: Permission) -> Require:
    """The guard of a REST API route (bearer token)."""
    return Require(permission, page=False)


def allow_page(permission: Permission) -> Require:
    """The guard of a web page (session cookie)."""
    return Require(permission, page=True)


# --- The visibility rule ------------------------------------------------------------------------------


async def scope_of(*, session: AsyncSession, user: User, today: date) -> Scope:
    """What `user` may see on `today`: everything for admins and managers; otherwise the contracts where they are
    on the team of the version in force today or of a version that takes effect later, and, while an absence
    with them as substitute lasts, the absent person's contracts by the same rule."""
    if user.role in SEES_EVERYTHING:
        return Scope(login=user.login, role=user.role, contracts=None)
    ids = await team_contracts(session=session, login=user.login, today=today)
    return Scope(login=user.login, role=user.role, contracts=[str(i) for i in sorted(ids)])


async def team_contracts(*, session: AsyncSession, login: str, today: date) -> set[int]:
    """Contracts with `login`, or anyone `login` stands in for on `today`, on the team of the version in force on
    `today` or of a later one (one statement, built once: `_TEAM_CONTRACTS`)."""
    return set((await session.execute(_TEAM_CONTRACTS, {"login": login, "today": today})).scalars())


def _team_contracts_statement() -> CompoundSelect:
    """`team_contracts` with the login and the day as parameters. Built once: building it for every call was a
    tenth of the gateway's work on an API call (bench/my_cases.py).

    Versions take effect in the order they are numbered, so "in force or later" is every version from the newest
    one already in effect (all of them for a contract that has not started yet)."""
    login, today = bindparam("login", type_=String), bindparam("today", type_=Date)
    in_force = contract_access.alias("in_force")
    newest_in_effect = (
        select(func.max(in_force.c.version))
        .where(in_force.c.contract_id == contract_access.c.contract_id, in_force.c.effective_from <= today)
        .scalar_subquery()
    )
    in_effect = contract_access.c.version >= func.coalesce(newest_in_effect, 0)
    # Two parts rather than `login = :login OR login IN (…)`, which PostgreSQL answers with a scan of every row.
    own = select(contract_access.c.contract_id).where(contract_access.c.login == login, in_effect)
    substituted = select(absences.c.login).where(and_(  # whom `login` stands in for on `today`
        absences.c.substitute == login, absences.c.starts_on <= today, absences.c.ends_on >= today,
        absences.c.cancelled.is_(False)))
    covered = select(contract_access.c.contract_id).where(contract_access.c.login.in_(substituted), in_effect)
    return union(own, covered)


_TEAM_CONTRACTS = _team_contracts_statement()
