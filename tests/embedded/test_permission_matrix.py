"""The route × role matrix: every route of the gateway declares a permission, and each role gets what it should.

`ROUTES` is the matrix, written here by hand from the issue's roles (not read from permissions.py, so a change
of the rules must change this table too): each route's permission and the status of a success. A role without the
permission gets 403; a route on one contract's things (`on_team`) answers 404 to whoever is not on that contract's
team and does not see everything. A route of the app missing from the table, or declaring another permission,
fails `test_every_route_declares_the_permission_of_the_matrix`. The gateway README prints the same matrix
(`python -m tests.embedded.test_permission_matrix` writes it; a test keeps it current).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
from sqlalchemy import update
from starlette.routing import Mount

from services.common.bus.memory import InMemoryBus
from services.common.clock import ManualClock
from services.common.messages import CASE_REQUESTED, CaseRequested, TeamMember
from services.common.runtime import ServiceRuntime
from services.common.settings import Settings
from services.gateway import users
from services.gateway.models import users as users_table
from services.gateway.permissions import PUBLIC_ROUTES, Require
from services.system import load_spec
from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.embedded.test_contracts_api import _csv, _import_rows, _seed
from tests.embedded.web import browser, csrf_of, log_in
from tests.notice_samples import envelope
from tests.samples import contract, nip, regon, sole_trader

README = Path(__file__).resolve().parents[2] / "services" / "gateway" / "README.md"

# The issue's roles: admin (everything a manager may, plus users, rules, settings); manager (all clients,
# contracts, cases, notices; reassignments, absences, reports, audit); accountant and payroll (their contracts).
ROLES_WITH = {
    "view": {"admin", "manager", "accountant", "payroll"},
    "own_account": {"admin", "manager", "accountant", "payroll"},
    "change_contracts": {"admin", "manager"},
    "work_cases": {"admin", "manager", "accountant", "payroll"},
    "manage_cases": {"admin", "manager"},
    "send_notices": {"admin", "manager", "accountant", "payroll"},
    "manage_notices": {"admin", "manager"},
    "manage_settings": {"admin"},
    "read_audit": {"admin", "manager"},
    "read_reports": {"admin", "manager"},
    "export_personal_data": {"admin", "manager"},
    "erase_personal_data": {"admin"},
    "manage_users": {"admin"},
    "manage_rules": {"admin"},
}
# Who calls, by role: anna is on the team of the contract the `on_team` routes ask about; piotr is not.
CALLERS = {"admin": "admin", "manager": "maria", "accountant": "anna", "payroll": "piotr"}


@dataclass
class Req:
    url: str
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, Any] | None = None
    content: bytes | None = None
    headers: dict[str, str] | None = None


Builder = Callable[["World", bool], Awaitable[Req]]


@dataclass(frozen=True)
class Route:
    permission: str
    ok: int
    build: Builder
    on_team: bool = False
    outside: int = 404  # what an `on_team` route answers one who is not on the team (a form naming it: 422)
    ends_sessions: bool = False  # a password change: the caller's web sessions end


@dataclass
class World:
    """The office the matrix is called against: a client with a contract on anna's team, a case of it, a user ewa."""

    office: Office
    client_id: int = 0
    contract_id: int = 0
    case_id: str = ""
    notice_id: str = ""
    passwords: dict[str, str] = field(default_factory=dict)
    pages: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next(self) -> int:
        return next(self.counter)

    async def fresh_client(self) -> int:
        n = self.next()
        async with self.office.api() as api:
            created = await api.post("/api/v1/clients", json=sole_trader(f"Klient {n}", seed=_seed(f"61{n:03d}4057")))
        assert created.status_code == 201, created.text
        return int(created.json()["id"])

    async def fresh_contract(self) -> int:
        async with self.office.api() as api:
            created = await api.post("/api/v1/contracts", json=contract(self.client_id, number=f"M/{self.next()}"))
        assert created.status_code == 201, created.text
        return int(created.json()["id"])

    async def fresh_case(self, *, finished: bool = False) -> str:
        """A one-off case of the contract (anna's), open with one checklist item, or already done."""
        async with self.office.api() as api:
            created = await api.post(f"/api/v1/contracts/{self.contract_id}/cases", json={
                "title": f"Sprawa {self.next()}", "due": "2026-12-15", "checklist": ["Sprawdź"]})
            assert created.status_code == 201, created.text
            case_id = str(created.json()["id"])
            if finished:
                done = await api.post(f"/api/v1/cases/{case_id}/finish", json={})
                assert done.status_code == 200, done.text
        return case_id

    async def fresh_client_task(self) -> str:
        """A client task of the contract (anna's), open: as the scheduler asks for one (documents for a month)."""
        n = self.next()
        period = f"{2030 + n // 12}-{n % 12 + 1:02d}"
        request = CaseRequested(
            contract_id=str(self.contract_id), client_id=str(self.client_id), rule_id="client.documents",
            code="CLIENT_DOCUMENTS", period=period, title_pl="Dokumenty za miesiąc od klienta",
            title_en="The month's documents", due=date(2026, 11, 9), generate_on=date(2026, 10, 26), role="accountant",
            assignee=TeamMember(login="anna", name="Anna"), rules_version="matrix", contract_version=1,
            party="client", duty="documents")
        await self.office.system.bus.publish(envelope(CASE_REQUESTED, request.model_dump(mode="json"), "scheduler"))

        async def made() -> str | None:
            async with self.office.api() as api:
                items = (await api.get("/api/v1/cases", params={"contract_id": self.contract_id,
                                                                 "party": "client"})).json()["items"]
            return next((str(c["id"]) for c in items if c["period"] == period), None)

        case_id: str = await wait_for(made, what=f"the client task for {period}")
        return case_id

    async def fresh_attachment(self) -> str:
        async with self.office.api() as api:
            added = await api.post(f"/api/v1/cases/{self.case_id}/attachments",
                                   files={"file": ("upo.txt", b"UPO"), "kind": (None, "upo")})
            assert added.status_code == 201, added.text
        return str(added.json()["id"])
    async def fresh_notice(self) -> str:
        async with self.office.api() as api:
            sent = await api.post("/api/v1/notices", json={"client_ids": [str(self.client_id)], "subject": "S",
                                                           "text": f"Powiadomienie {self.next()}"})
        assert sent.status_code == 201, sent.text
        notice_id: str = sent.json()["ids"][0]
        return notice_id

    async def fresh_user(self, *, active: bool = True) -> str:
        login = f"u{self.next()}"
        async with self.office.system.gateway.ctx.db.transaction() as session:
            await users.create_user(session=session, login=login, name="Użytkownik Testowy",
                                    email=f"{login}@biuro.example", role="accountant", password=None,
                                    now=self.office.clock.now())
            if not active:
                await session.execute(update(users_table).where(users_table.c.login == login).values(active=False))
        return login

    async def fresh_token(self, login: str) -> int:
        async with self.office.system.gateway.ctx.db.transaction() as session:
            account = await users.find_account(session=session, login=login)
            assert account is not None
            _, token = await users.new_token(session=session, user_id=account.user.id, name="matrix",
                                             now=self.office.clock.now())
        return token.id

    async def page_client(self, login: str) -> tuple[httpx.AsyncClient, str]:
        if login not in self.pages:
            client = browser(self.office)
            assert (await log_in(client, login, self.passwords[login])).status_code == 303
            self.pages[login] = client
        client = self.pages[login]
        return client, csrf_of(await client.get("/account"))

    async def forget_sessions(self, login: str) -> None:
        client = self.pages.pop(login, None)
        if client is not None:
            await client.aclose()


def static(url: str) -> Builder:
    async def build(world: World, allowed: bool) -> Req:
        return Req(url.format(client=world.client_id, contract=world.contract_id, case=world.case_id,
                              notice=world.notice_id))

    return build


def form(url: str, **data: str) -> Builder:
    async def build(world: World, allowed: bool) -> Req:
        return Req(url, data=data)

    return build


def posting(url: str, **body: Any) -> Builder:
    async def build(world: World, allowed: bool) -> Req:
        return Req(url.format(client=world.client_id, contract=world.contract_id, case=world.case_id), json=body)

    return build


async def _new_client(world: World, allowed: bool) -> Req:
    n = world.next()
    return Req("/api/v1/clients", json=sole_trader(f"Nowy {n}", seed=_seed(f"62{n:03d}4057")))


async def _new_contract(world: World, allowed: bool) -> Req:
    return Req("/api/v1/contracts", json=contract(world.client_id, number=f"N/{world.next()}"))


async def _annex(world: World, allowed: bool) -> Req:
    return Req(f"/api/v1/contracts/{world.contract_id}/annexes",
               json={"effective_from": "2027-01-01", "fee": {"monthly_net": f"{800 + world.next()}.00"}})


async def _billing(world: World, allowed: bool) -> Req:
    return Req(f"/api/v1/contracts/{world.contract_id}/billing/2026-11", json={"documents": world.next()})


async def _billing_import(world: World, allowed: bool) -> Req:
    return Req("/api/v1/billing/2026-11/import", headers={"Content-Type": "text/csv"},
               content=f"contract_number,documents\nBR/2026/100,{world.next()}\n".encode())


async def _termination(world: World, allowed: bool) -> Req:
    target = await world.fresh_contract() if allowed else world.contract_id
    return Req(f"/api/v1/contracts/{target}/termination", json={"end": "2027-03-31", "reason": "wypowiedzenie"})


def _import_file() -> bytes:
    rows = _import_rows(1)
    return _csv(rows)


_IMPORTS = itertools.count(1)


def _unique_import() -> bytes:
    row = _import_rows(1)[0]
    n = next(_IMPORTS)
    seed = _seed(f"63{n:03d}4057")
    row.update(nip=nip(seed), regon=regon(seed[:8]), contract_number=f"IMP/M/{n}", client_name=f"Import {n}")
    return _csv([row])


async def _dry_run(world: World, allowed: bool) -> Req:
    return Req("/api/v1/imports/dry-run", content=_import_file(), headers={"Content-Type": "text/csv"})


async def _apply(world: World, allowed: bool) -> Req:
    return Req("/api/v1/imports/apply", content=_unique_import(), headers={"Content-Type": "text/csv"})


async def _manual_notice(world: World, allowed: bool) -> Req:
    return Req("/api/v1/notices", json={"client_ids": [str(world.client_id)], "subject": "Dokumenty",
                                        "text": f"Prosimy o dokumenty {world.next()}"})


async def _withdraw(world: World, allowed: bool) -> Req:
    notice = await world.fresh_notice() if allowed else world.notice_id
    return Req(f"/api/v1/notices/{notice}/withdraw", json={"reason": "pomyłka"})


async def _client_edit(world: World, allowed: bool) -> Req:
    return Req(f"/api/v1/clients/{world.client_id}", json={"ppk_institution": f"TFI {world.next()}"})


async def _own_password(world: World, allowed: bool) -> Req:
    return Req("/api/v1/me/password", json={"current": "{current}", "new": "{new}"})


async def _new_user(world: World, allowed: bool) -> Req:
    login = f"n{world.next()}"
    return Req("/api/v1/users", json={"login": login, "name": "Nowa Osoba", "email": f"{login}@biuro.example",
                                      "role": "payroll"})


async def _revoke_token(world: World, allowed: bool) -> Req:
    token_id = await world.fresh_token("ewa")
    return Req(f"/api/v1/users/ewa/tokens/{token_id}")


def client_task_received(*, page: bool = False) -> Builder:
    """Documents received on a fresh client task (each allowed call closes its own)."""
    async def build(world: World, allowed: bool) -> Req:
        case_id = await world.fresh_client_task() if allowed else world.case_id
        if page:
            return Req(f"/cases/{case_id}/received", data={"received_on": "2026-11-27", "count": "3"})
        return Req(f"/api/v1/cases/{case_id}/received", json={"received_on": "2026-11-27", "count": 3})

    return build


def case_action(action: str, *, finished: bool = False, page: bool = False, **body: Any) -> Builder:
    """A change of a fresh case (each allowed call changes its own); `page`: the web form's route."""
    async def build(world: World, allowed: bool) -> Req:
        case_id = await world.fresh_case(finished=finished) if allowed else world.case_id
        if page:
            return Req(f"/cases/{case_id}/{action}", data={k: str(v) for k, v in body.items()})
        return Req(f"/api/v1/cases/{case_id}/{action}", json=body)

    return build


_REASSIGNS = itertools.count()
NO_ABSENCE = "00000000-0000-4000-8000-000000000000"  # refused before it is looked up


def _reassign_one(page: bool) -> Builder:
    async def build(world: World, allowed: bool) -> Req:
        # Each allowed call hands the case on: to ola, back to anna, …
        to = ("ola" if next(_REASSIGNS) % 2 == 0 else "anna") if allowed else "ola"
        body = {"to": to, "reason": "macierz"}
        url = f"{'' if page else '/api/v1'}/cases/{world.case_id}/reassign"
        return Req(url, data=body) if page else Req(url, json=body)

    return build


_BOUNDARY = "matrixboundary"


async def _attach(world: World, allowed: bool) -> Req:
    body = (f"--{_BOUNDARY}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nupo\r\n"
            f"--{_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upo.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\nUPO\r\n--{_BOUNDARY}--\r\n").encode()
    return Req(f"/api/v1/cases/{world.case_id}/attachments", content=body,
               headers={"Content-Type": f"multipart/form-data; boundary={_BOUNDARY}"})


async def _download(world: World, allowed: bool) -> Req:
    return Req(f"/api/v1/cases/{world.case_id}/attachments/{await world.fresh_attachment()}")


_PDF = b"%PDF-1.4\n%%EOF\n"


async def _fresh_power(world: World) -> str:
    async with world.office.api() as api:
        added = await api.post(f"/api/v1/clients/{world.client_id}/powers",
                               data={"kind": "UPL-1", "granted_on": "2026-01-01"},
                               files={"file": ("upl.pdf", _PDF, "application/pdf")})
    assert added.status_code == 201, added.text
    return str(added.json()["id"])


async def _fresh_payment(world: World) -> str:
    async with world.office.api() as api:
        made = await api.post("/api/v1/payments", json={"paid_on": "2026-11-10", "amount": f"{world.next()}.00"})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def _add_power(world: World, allowed: bool) -> Req:
    body = (f"--{_BOUNDARY}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nPEL\r\n"
            f"--{_BOUNDARY}\r\nContent-Disposition: form-data; name=\"granted_on\"\r\n\r\n2026-01-01\r\n"
            f"--{_BOUNDARY}--\r\n").encode()
    return Req(f"/api/v1/clients/{world.client_id}/powers", content=body,
               headers={"Content-Type": f"multipart/form-data; boundary={_BOUNDARY}"})


async def _revoke_power(world: World, allowed: bool) -> Req:
    return Req(f"/api/v1/clients/{world.client_id}/powers/{await _fresh_power(world) if allowed else 1}/revocation",
               json={})


async def _power_document(world: World, allowed: bool) -> Req:
    return Req(f"/api/v1/clients/{world.client_id}/powers/{await _fresh_power(world)}/document")


async def _page_power_document(world: World, allowed: bool) -> Req:
    return Req(f"/clients/{world.client_id}/powers/{await _fresh_power(world)}/document")


async def _overdue_contract(world: World) -> int:
    """A contract of the client from August with no payment: its August fee is overdue."""
    async with world.office.api() as api:
        terms = contract(world.client_id, number=f"F/{world.next()}", start="2026-08-01")
        terms["signed_on"] = "2026-07-20"
        created = await api.post("/api/v1/contracts", json=terms)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def _remind(world: World, allowed: bool) -> Req:
    target = await _overdue_contract(world) if allowed else world.contract_id
    return Req(f"/api/v1/contracts/{target}/fees/2026-08/reminder", json={})


async def _page_remind(world: World, allowed: bool) -> Req:
    target = await _overdue_contract(world) if allowed else world.contract_id
    return Req(f"/contracts/{target}/fees/2026-08/reminder", data={})


async def _page_add_power(world: World, allowed: bool) -> Req:
    return Req(f"/clients/{world.client_id}/powers", data={"kind": "PEL", "granted_on": "2026-01-01"})


async def _page_revoke_power(world: World, allowed: bool) -> Req:
    return Req(f"/clients/{world.client_id}/powers/{await _fresh_power(world) if allowed else 1}/revoke", data={})


def _statement(world: World) -> bytes:
    return f"date;amount;title;nip\n10.11.2026;{world.next()},00;wpłata;\n".encode()


async def _payments_import(world: World, allowed: bool) -> Req:
    return Req("/api/v1/payments/import", content=_statement(world), headers={"Content-Type": "text/csv"})


async def _page_payments_import(world: World, allowed: bool) -> Req:
    return Req("/payments/import", files={"file": ("wyciag.csv", _statement(world), "text/csv")})


async def _assign_payment(world: World, allowed: bool) -> Req:
    return Req(f"/api/v1/payments/{await _fresh_payment(world) if allowed else 1}/assignment",
               json={"client_id": world.client_id})


async def _page_assign_payment(world: World, allowed: bool) -> Req:
    return Req(f"/payments/{await _fresh_payment(world) if allowed else 1}/assign",
               data={"client_id": str(world.client_id)})


async def _page_download(world: World, allowed: bool) -> Req:
    return Req(f"/cases/{world.case_id}/attachments/{await world.fresh_attachment()}")


async def _page_one_off(world: World) -> Req:
    return Req(f"/contracts/{world.contract_id}/cases/new", data={"title": "Jednorazowa", "due": "2026-12-20"})


async def _page_attach(world: World, allowed: bool) -> Req:
    return Req(f"/cases/{world.case_id}/attachments", files={"file": ("upo.txt", b"UPO", "text/plain"),
                                                             "kind": (None, "upo")})
def _reassign_all(page: bool) -> Builder:
    async def build(world: World, allowed: bool) -> Req:
        body = {"from_login": "ewa", "to": "ola", "reason": "macierz"}
        if page:
            return Req("/cases/reassign", data={**body, "contract_id": str(world.contract_id)})
        return Req(f"/api/v1/contracts/{world.contract_id}/reassign", json=body)

    return build


def _absence_dates(world: World) -> dict[str, str]:
    first = date(2027, 1, 1) + timedelta(days=10 * world.next())
    return {"starts_on": first.isoformat(), "ends_on": (first + timedelta(days=2)).isoformat()}


async def _fresh_absence(world: World) -> str:
    async with world.office.api() as api:
        created = await api.post("/api/v1/absences", json={"login": "ewa", "substitute": "ola",
                                                           **_absence_dates(world)})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _new_absence(page: bool) -> Builder:
    async def build(world: World, allowed: bool) -> Req:
        body = {"login": "ewa", "substitute": "ola", **_absence_dates(world)}
        return Req("/absences", data=body) if page else Req("/api/v1/absences", json=body)

    return build


def _end_absence(page: bool) -> Builder:
    async def build(world: World, allowed: bool) -> Req:
        absence = await _fresh_absence(world) if allowed else NO_ABSENCE
        async with world.office.api() as api:
            starts_on = (await api.get("/api/v1/absences", params={"login": "ewa"})).json()["items"][0]["starts_on"]
        if page:
            return Req(f"/absences/{absence}/end", data={"ends_on": starts_on})
        return Req(f"/api/v1/absences/{absence}/end", json={"ends_on": starts_on})

    return build


def _cancel_absence(page: bool) -> Builder:
    async def build(world: World, allowed: bool) -> Req:
        absence = await _fresh_absence(world) if allowed else NO_ABSENCE
        return Req(f"/absences/{absence}/cancel", data={}) if page else Req(f"/api/v1/absences/{absence}/cancel")

    return build


# --- Pages ---------------------------------------------------------------------------------------------


def _client_form(n: int) -> dict[str, str]:
    client = sole_trader(f"Formularz {n}", seed=_seed(f"64{n:03d}4057"))
    return {"name": client["name"], "nip": client["nip"], "regon": client["regon"], "pesel": client["pesel"],
            "street": "ul. Prosta 20", "postal_code": "00-850", "city": "Warszawa", "emails": "k@example.com",
            "legal_form": "sole_trader", "books": "kpir", "income_tax": "pit_flat",
            "income_tax_advances": "monthly", "vat": "monthly", "employees": "0"}


async def _page_new_client(world: World, allowed: bool) -> Req:
    return Req("/clients/new", data=_client_form(world.next()))


async def _page_new_contract(world: World, allowed: bool) -> Req:
    return Req("/contracts/new", data={
        "client_id": str(world.client_id), "number": f"W/{world.next()}", "signed_on": "2026-12-01",
        "start": "2027-01-01", "notice_period_months": "3", "services": "bookkeeping", "monthly_net": "500.00",
        "vat_rate": "23", "accountant": "anna", "manager": "maria"})


async def _page_annex(world: World, allowed: bool) -> Req:
    return Req(f"/contracts/{world.contract_id}/annex", data={
        "effective_from": "2027-01-01", "services": "bookkeeping", "monthly_net": f"{900 + world.next()}.00",
        "accountant": "anna", "manager": "maria"})


async def _page_termination(world: World, allowed: bool) -> Req:
    target = await world.fresh_contract() if allowed else world.contract_id
    return Req(f"/contracts/{target}/termination", data={"end": "2027-03-31", "reason": "wypowiedzenie"})


async def _page_dry_run(world: World, allowed: bool) -> Req:
    return Req("/imports/dry-run", files={"file": ("k.csv", _import_file(), "text/csv")})


async def _page_apply(world: World, allowed: bool) -> Req:
    return Req("/imports/apply", data={"csv": _unique_import().decode()})


async def _page_manual_notice(world: World, allowed: bool) -> Req:
    return Req("/notices/new", data={"client_ids": str(world.client_id), "subject": "Dokumenty",
                                     "text": f"Prosimy o dokumenty {world.next()}", "requires_confirmation": "on"})


async def _page_withdraw(world: World, allowed: bool) -> Req:
    notice = await world.fresh_notice() if allowed else world.notice_id
    return Req(f"/notices/{notice}/withdraw", data={"reason": "pomyłka"})


async def _page_client_edit(world: World, allowed: bool) -> Req:
    client = sole_trader()
    return Req(f"/clients/{world.client_id}/edit", data={
        "name": client["name"], "nip": client["nip"], "regon": client["regon"], "pesel": client["pesel"],
        "street": "ul. Prosta 20", "postal_code": "00-850", "city": "Warszawa", "emails": "klient@example.com",
        "language": "pl", "recipient_rows": "1", "recipient_email_0": f"r{world.next()}@example.com",
        "notices": "on"})


async def _page_own_password(world: World, allowed: bool) -> Req:
    return Req("/account/password", data={"current": "{current}", "new": "{new}", "repeat": "{new}"})


async def _page_revoke_own(world: World, allowed: bool) -> Req:
    return Req("/account/tokens/{own_token}/revoke", data={})


async def _page_new_user(world: World, allowed: bool) -> Req:
    login = f"p{world.next()}"
    return Req("/users/new", data={"login": login, "name": "Nowa Osoba", "email": f"{login}@biuro.example",
                                   "role": "accountant"})


async def _page_deactivate(world: World, allowed: bool) -> Req:
    return Req(f"/users/{await world.fresh_user() if allowed else 'ewa'}/deactivate", data={})


async def _page_reactivate(world: World, allowed: bool) -> Req:
    return Req(f"/users/{await world.fresh_user(active=False) if allowed else 'ewa'}/reactivate", data={})


async def _page_revoke_token(world: World, allowed: bool) -> Req:
    return Req(f"/users/ewa/tokens/{await world.fresh_token('ewa')}/revoke", data={})


ROUTES: dict[tuple[str, str], Route] = {
    # REST API
    ("POST", "/api/v1/clients"): Route("change_contracts", 201, _new_client),
    ("GET", "/api/v1/clients"): Route("view", 200, static("/api/v1/clients")),
    ("GET", "/api/v1/clients/{client_id}"): Route("view", 200, static("/api/v1/clients/{client}"), on_team=True),
    ("PATCH", "/api/v1/clients/{client_id}"): Route("change_contracts", 200, _client_edit),
    ("GET", "/api/v1/clients/{client_id}/recipients"): Route("view", 200, static("/api/v1/clients/{client}/recipients"),
                                                             on_team=True),
    ("POST", "/api/v1/contracts"): Route("change_contracts", 201, _new_contract),
    ("GET", "/api/v1/contracts"): Route("view", 200, static("/api/v1/contracts")),
    ("GET", "/api/v1/contracts/{contract_id}"): Route("view", 200, static("/api/v1/contracts/{contract}"),
                                                      on_team=True),
    ("POST", "/api/v1/contracts/{contract_id}/annexes"): Route("change_contracts", 201, _annex),
    ("POST", "/api/v1/contracts/{contract_id}/termination"): Route("change_contracts", 201, _termination),
    ("GET", "/api/v1/contracts/{contract_id}/billing/{month}"): Route(
        "view", 200, static("/api/v1/contracts/{contract}/billing/2026-11"), on_team=True),
    ("PUT", "/api/v1/contracts/{contract_id}/billing/{month}"): Route("work_cases", 200, _billing, on_team=True),
    ("POST", "/api/v1/billing/{month}/import"): Route("change_contracts", 201, _billing_import),
    ("GET", "/api/v1/clients/{client_id}/powers"): Route("view", 200, static("/api/v1/clients/{client}/powers"),
                                                         on_team=True),
    ("POST", "/api/v1/clients/{client_id}/powers"): Route("change_contracts", 201, _add_power),
    ("POST", "/api/v1/clients/{client_id}/powers/{power_id}/revocation"): Route("change_contracts", 200,
                                                                                _revoke_power),
    ("GET", "/api/v1/clients/{client_id}/powers/{power_id}/document"): Route("view", 200, _power_document,
                                                                             on_team=True),
    ("GET", "/api/v1/payments"): Route("read_reports", 200, static("/api/v1/payments")),
    ("POST", "/api/v1/payments"): Route("change_contracts", 201,
                                        posting("/api/v1/payments", paid_on="2026-11-10", amount="10.00")),
    ("POST", "/api/v1/payments/import"): Route("change_contracts", 201, _payments_import),
    ("PUT", "/api/v1/payments/{payment_id}/assignment"): Route("change_contracts", 200, _assign_payment),
    ("POST", "/api/v1/contracts/{contract_id}/fees/{month}/reminder"): Route("change_contracts", 201, _remind),
    ("POST", "/api/v1/imports/dry-run"): Route("change_contracts", 200, _dry_run),
    ("POST", "/api/v1/imports/apply"): Route("change_contracts", 201, _apply),
    ("GET", "/api/v1/contracts/{contract_id}/plan"): Route("view", 200, static("/api/v1/contracts/{contract}/plan"),
                                                           on_team=True),
    ("GET", "/api/v1/cases"): Route("view", 200, static("/api/v1/cases")),
    ("GET", "/api/v1/cases/{case_id}"): Route("view", 200, static("/api/v1/cases/{case}"), on_team=True),
    ("POST", "/api/v1/cases/{case_id}/start"): Route("work_cases", 200, case_action("start"), on_team=True),
    ("POST", "/api/v1/cases/{case_id}/finish"): Route("work_cases", 200, case_action("finish"), on_team=True),
    ("POST", "/api/v1/cases/{case_id}/not-applicable"): Route(
        "work_cases", 200, case_action("not-applicable", reason="nie dotyczy"), on_team=True),
    ("POST", "/api/v1/cases/{case_id}/received"): Route("work_cases", 200, client_task_received(), on_team=True),
    ("POST", "/api/v1/cases/{case_id}/reopen"): Route("manage_cases", 200, case_action("reopen", finished=True)),
    ("PUT", "/api/v1/cases/{case_id}/checklist/{index}"): Route(
        "work_cases", 200, posting("/api/v1/cases/{case}/checklist/0", done=True), on_team=True),
    ("POST", "/api/v1/cases/{case_id}/comments"): Route(
        "work_cases", 201, posting("/api/v1/cases/{case}/comments", text="Uwaga"), on_team=True),
    ("POST", "/api/v1/cases/{case_id}/attachments"): Route("work_cases", 201, _attach, on_team=True),
    ("GET", "/api/v1/cases/{case_id}/attachments/{attachment_id}"): Route("view", 200, _download, on_team=True),
    ("POST", "/api/v1/contracts/{contract_id}/cases"): Route(
        "work_cases", 201, posting("/api/v1/contracts/{contract}/cases", title="Jednorazowa", due="2026-12-20"),
        on_team=True),
    ("POST", "/api/v1/contracts/{contract_id}/reassign"): Route("manage_cases", 200, _reassign_all(page=False)),
    ("POST", "/api/v1/cases/{case_id}/reassign"): Route("manage_cases", 200, _reassign_one(page=False)),
    ("GET", "/api/v1/absences"): Route("manage_cases", 200, static("/api/v1/absences")),
    ("POST", "/api/v1/absences"): Route("manage_cases", 201, _new_absence(page=False)),
    ("POST", "/api/v1/absences/{absence_id}/end"): Route("manage_cases", 200, _end_absence(page=False)),
    ("POST", "/api/v1/absences/{absence_id}/cancel"): Route("manage_cases", 200, _cancel_absence(page=False)),
    ("GET", "/api/v1/notices"): Route("view", 200, static("/api/v1/notices")),
    ("GET", "/api/v1/notices/proof.csv"): Route("manage_notices", 200, static("/api/v1/notices/proof.csv")),
    ("GET", "/api/v1/notices/{notice_id}"): Route("view", 200, static("/api/v1/notices/{notice}"), on_team=True),
    ("POST", "/api/v1/notices"): Route("send_notices", 201, _manual_notice, on_team=True, outside=422),
    ("POST", "/api/v1/notices/{notice_id}/withdraw"): Route("manage_notices", 200, _withdraw),
    ("GET", "/api/v1/notice-templates"): Route("manage_settings", 200, static("/api/v1/notice-templates")),
    ("POST", "/api/v1/notice-templates/preview"): Route("manage_settings", 200,
                                                        posting("/api/v1/notice-templates/preview", name="notice")),
    ("GET", "/api/v1/rules"): Route("view", 200, static("/api/v1/rules")),
    ("POST", "/api/v1/rules/preview"): Route("manage_rules", 200, posting("/api/v1/rules/preview")),
    ("POST", "/api/v1/rules/apply"): Route("manage_rules", 200, posting("/api/v1/rules/apply")),
    ("GET", "/api/v1/me"): Route("own_account", 200, static("/api/v1/me")),
    ("PUT", "/api/v1/me/password"): Route("own_account", 204, _own_password, ends_sessions=True),
    ("GET", "/api/v1/users"): Route("manage_users", 200, static("/api/v1/users")),
    ("POST", "/api/v1/users"): Route("manage_users", 201, _new_user),
    ("GET", "/api/v1/users/{login}"): Route("manage_users", 200, static("/api/v1/users/ewa")),
    ("PATCH", "/api/v1/users/{login}"): Route("manage_users", 200, posting("/api/v1/users/ewa", name="Ewa Nowa")),
    ("POST", "/api/v1/users/{login}/password-reset"): Route("manage_users", 200,
                                                            posting("/api/v1/users/ewa/password-reset")),
    ("GET", "/api/v1/users/{login}/tokens"): Route("manage_users", 200, static("/api/v1/users/ewa/tokens")),
    ("POST", "/api/v1/users/{login}/tokens"): Route("manage_users", 201,
                                                    posting("/api/v1/users/ewa/tokens", name="integracja")),
    ("DELETE", "/api/v1/users/{login}/tokens/{token_id}"): Route("manage_users", 204, _revoke_token),
    ("GET", "/api/v1/audit"): Route("read_audit", 200, static("/api/v1/audit")),
    ("GET", "/api/v1/reports/financial"): Route("read_reports", 200, static("/api/v1/reports/financial")),
    ("GET", "/api/v1/reports/execution"): Route("read_reports", 200, static("/api/v1/reports/execution")),
    ("GET", "/api/v1/reports/overdue"): Route("read_reports", 200, static("/api/v1/reports/overdue")),
    ("GET", "/api/v1/reports/workload"): Route("read_reports", 200, static("/api/v1/reports/workload")),
    ("GET", "/api/v1/clients/{client_id}/personal-data"): Route(
        "export_personal_data", 200, static("/api/v1/clients/{client}/personal-data")),
    ("POST", "/api/v1/personal-data/erasure"): Route("erase_personal_data", 200,
                                               posting("/api/v1/personal-data/erasure", dry_run=True)),
    # Web pages
    ("GET", "/"): Route("view", 200, static("/")),
    ("GET", "/cases"): Route("view", 200, static("/cases")),
    ("GET", "/cases/{case_id}"): Route("view", 200, static("/cases/{case}"), on_team=True),
    ("POST", "/cases/{case_id}/start"): Route("work_cases", 303, case_action("start", page=True), on_team=True),
    ("POST", "/cases/{case_id}/finish"): Route("work_cases", 303, case_action("finish", page=True), on_team=True),
    ("POST", "/cases/{case_id}/received"): Route("work_cases", 303, client_task_received(page=True), on_team=True),
    ("POST", "/cases/{case_id}/not-applicable"): Route(
        "work_cases", 303, case_action("not-applicable", page=True, reason="nie dotyczy"), on_team=True),
    ("POST", "/cases/{case_id}/reopen"): Route("manage_cases", 303, case_action("reopen", finished=True, page=True)),
    ("POST", "/cases/{case_id}/checklist/{index}"): Route(
        "work_cases", 303, case_action("checklist/0", page=True, done="true"), on_team=True),
    ("POST", "/cases/{case_id}/comments"): Route(
        "work_cases", 303, case_action("comments", page=True, text="Uwaga"), on_team=True),
    ("POST", "/cases/{case_id}/attachments"): Route("work_cases", 303, _page_attach, on_team=True),
    ("GET", "/cases/{case_id}/attachments/{attachment_id}"): Route("view", 200, _page_download, on_team=True),
    ("GET", "/contracts/{contract_id}/cases/new"): Route(
        "work_cases", 200, static("/contracts/{contract}/cases/new"), on_team=True),
    ("POST", "/contracts/{contract_id}/cases/new"): Route(
        "work_cases", 303, lambda world, allowed: _page_one_off(world), on_team=True),
    ("POST", "/cases/reassign"): Route("manage_cases", 303, _reassign_all(page=True)),
    ("POST", "/cases/{case_id}/reassign"): Route("manage_cases", 303, _reassign_one(page=True)),
    ("GET", "/absences"): Route("manage_cases", 200, static("/absences")),
    ("POST", "/absences"): Route("manage_cases", 303, _new_absence(page=True)),
    ("POST", "/absences/{absence_id}/end"): Route("manage_cases", 303, _end_absence(page=True)),
    ("POST", "/absences/{absence_id}/cancel"): Route("manage_cases", 303, _cancel_absence(page=True)),
    ("GET", "/clients"): Route("view", 200, static("/clients")),
    ("GET", "/clients/new"): Route("change_contracts", 200, static("/clients/new")),
    ("POST", "/clients/new"): Route("change_contracts", 303, _page_new_client),
    ("GET", "/clients/{client_id}"): Route("view", 200, static("/clients/{client}"), on_team=True),
    ("GET", "/clients/{client_id}/edit"): Route("change_contracts", 200, static("/clients/{client}/edit")),
    ("POST", "/clients/{client_id}/edit"): Route("change_contracts", 303, _page_client_edit),
    ("POST", "/clients/{client_id}/powers"): Route("change_contracts", 303, _page_add_power),
    ("POST", "/clients/{client_id}/powers/{power_id}/revoke"): Route("change_contracts", 303, _page_revoke_power),
    ("GET", "/clients/{client_id}/powers/{power_id}/document"): Route("view", 200, _page_power_document,
                                                                      on_team=True),
    ("GET", "/payments"): Route("read_reports", 200, static("/payments")),
    ("POST", "/payments/import"): Route("change_contracts", 200, _page_payments_import),
    ("POST", "/payments/{payment_id}/assign"): Route("change_contracts", 303, _page_assign_payment),
    ("POST", "/contracts/{contract_id}/fees/{month}/reminder"): Route("change_contracts", 303, _page_remind),
    ("GET", "/contracts"): Route("view", 200, static("/contracts")),
    ("GET", "/contracts/new"): Route("change_contracts", 200, static("/contracts/new?client_id={client}")),
    ("POST", "/contracts/new"): Route("change_contracts", 303, _page_new_contract),
    ("GET", "/contracts/{contract_id}"): Route("view", 200, static("/contracts/{contract}"), on_team=True),
    ("POST", "/contracts/{contract_id}/annex"): Route("change_contracts", 303, _page_annex),
    ("POST", "/contracts/{contract_id}/termination"): Route("change_contracts", 303, _page_termination),
    ("GET", "/imports"): Route("change_contracts", 200, static("/imports")),
    ("GET", "/imports/template.csv"): Route("change_contracts", 200, static("/imports/template.csv")),
    ("POST", "/imports/dry-run"): Route("change_contracts", 200, _page_dry_run),
    ("POST", "/imports/apply"): Route("change_contracts", 200, _page_apply),
    ("GET", "/mail"): Route("view", 200, static("/mail")),
    ("GET", "/notices"): Route("view", 200, static("/notices")),
    ("GET", "/notices/proof.csv"): Route("manage_notices", 200, static("/notices/proof.csv")),
    ("GET", "/notices/new"): Route("send_notices", 200, static("/notices/new")),
    ("POST", "/notices/new"): Route("send_notices", 303, _page_manual_notice, on_team=True, outside=422),
    ("GET", "/notice-templates"): Route("manage_settings", 200, static("/notice-templates?name=notice")),
    ("GET", "/notices/{notice_id}"): Route("view", 200, static("/notices/{notice}"), on_team=True),
    ("POST", "/notices/{notice_id}/withdraw"): Route("manage_notices", 303, _page_withdraw),
    ("GET", "/rules"): Route("view", 200, static("/rules")),
    ("POST", "/rules/preview"): Route("manage_rules", 200, form("/rules/preview")),
    ("POST", "/rules/apply"): Route("manage_rules", 200, form("/rules/apply")),
    ("GET", "/account"): Route("own_account", 200, static("/account")),
    ("POST", "/account/password"): Route("own_account", 303, _page_own_password, ends_sessions=True),
    ("POST", "/account/tokens/{token_id}/revoke"): Route("own_account", 303, _page_revoke_own),
    ("POST", "/account/calendar"): Route("own_account", 200, form("/account/calendar")),
    ("POST", "/account/calendar/revoke"): Route("own_account", 303, form("/account/calendar/revoke")),
    ("POST", "/account/language"): Route("own_account", 303, form("/account/language", language="pl")),
    ("GET", "/users"): Route("manage_users", 200, static("/users")),
    ("GET", "/users/new"): Route("manage_users", 200, static("/users/new")),
    ("POST", "/users/new"): Route("manage_users", 201, _page_new_user),
    ("GET", "/users/{login}"): Route("manage_users", 200, static("/users/ewa")),
    ("POST", "/users/{login}"): Route("manage_users", 303, form("/users/ewa", name="Ewa Nowak",
                                                                 email="ewa@biuro.example", role="accountant")),
    ("POST", "/users/{login}/deactivate"): Route("manage_users", 303, _page_deactivate),
    ("POST", "/users/{login}/reactivate"): Route("manage_users", 303, _page_reactivate),
    ("POST", "/users/{login}/password-reset"): Route("manage_users", 200, form("/users/ewa/password-reset")),
    ("POST", "/users/{login}/tokens"): Route("manage_users", 201, form("/users/ewa/tokens", token_name="skrypt")),
    ("POST", "/users/{login}/tokens/{token_id}/revoke"): Route("manage_users", 303, _page_revoke_token),
    ("GET", "/audit"): Route("read_audit", 200, static("/audit")),
    ("GET", "/reports"): Route("read_reports", 200, static("/reports")),
    ("GET", "/reports/financial"): Route("read_reports", 200, static("/reports/financial")),
    ("GET", "/reports/execution"): Route("read_reports", 200, static("/reports/execution")),
    ("GET", "/reports/overdue"): Route("read_reports", 200, static("/reports/overdue")),
    ("GET", "/reports/workload"): Route("read_reports", 200, static("/reports/workload")),
    ("GET", "/clients/{client_id}/personal-data.zip"): Route(
        "export_personal_data", 200, static("/clients/{client}/personal-data.zip")),
    ("GET", "/api/v1/system/dead-letters"): Route("manage_settings", 200, static("/api/v1/system/dead-letters")),
    ("POST", "/api/v1/system/dead-letters/{queue}/retry"): Route(
        "manage_settings", 200, posting("/api/v1/system/dead-letters/cases/retry")),
    ("GET", "/system/dead-letters"): Route("manage_settings", 200, static("/system/dead-letters")),
    ("POST", "/system/dead-letters/{queue}/retry"): Route("manage_settings", 200,
                                                          form("/system/dead-letters/cases/retry")),
}

# Anyone may call these (their reasons are in permissions.PUBLIC_ROUTES).
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/healthz"), ("GET", "/readyz"),
          ("GET", "/metrics"), ("GET", "/docs"), ("GET", "/openapi.json"), ("HEAD", "/openapi.json"),
          ("GET", "/static"), ("GET", "/calendar/{token}.ics"), ("GET", "/language/{language}")}


def expected(route: Route, role: str) -> int:
    if role not in ROLES_WITH[route.permission]:
        return 403
    if route.on_team and role == "payroll":  # piotr is not on the contract's team
        return route.outside
    return route.ok


def declared_routes() -> dict[tuple[str, str], list[Require]]:
    """Every route of the gateway's app, with the permission guards found in its dependencies."""
    runtime = ServiceRuntime(load_spec("gateway"), settings=Settings(data_dir=Path("/tmp")), bus=InMemoryBus(),
                             clock=ManualClock(datetime(2026, 11, 28)))
    found: dict[tuple[str, str], list[Require]] = {}

    def guards(dependant: Any) -> list[Require]:
        out = []
        for dep in dependant.dependencies:
            if isinstance(dep.call, Require):
                out.append(dep.call)
            out += guards(dep)
        return out

    # FastAPI 0.160+ keeps included routers as they are; `iter_route_contexts` gives every route with the
    # dependencies of the routers above it.
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    for route in iterate(runtime.app.routes) if iterate else runtime.app.routes:
        if isinstance(getattr(route, "original_route", route), Mount):
            found[("GET", route.path)] = []
            continue
        for method in route.methods or ():
            dependant = getattr(route, "dependant", None)
            found[(method, route.path)] = guards(dependant) if dependant is not None else []
    return found


def test_every_route_declares_the_permission_of_the_matrix() -> None:
    routes = declared_routes()
    undeclared = {key for key, guards in routes.items() if not guards}
    assert undeclared == PUBLIC == set(PUBLIC_ROUTES), "a route without a permission, or a public one not listed"
    assert set(routes) - PUBLIC == set(ROUTES), "the matrix and the app's routes differ"
    wrong = {key: [g.permission.value for g in guards] for key, guards in routes.items()
             if key in ROUTES and [g.permission.value for g in guards] != [ROUTES[key].permission]}
    assert wrong == {}, "each route declares exactly its permission of the matrix"
    flavours = {key: guards[0].page for key, guards in routes.items() if guards}
    assert all(flavours[key] == (not key[1].startswith("/api/")) for key in flavours), \
        "API routes authenticate by token, pages by session"


async def _world(office: Office) -> World:
    world = World(office, passwords={login: f"secret-{login}" for login in CALLERS.values()})
    async with office.api() as api:
        client = await api.post("/api/v1/clients", json=sole_trader())
        world.client_id = client.json()["id"]
        signed = await api.post("/api/v1/contracts", json=contract(world.client_id, accountant="anna"))
        world.contract_id = signed.json()["id"]

        async def a_case() -> str | None:
            items = (await api.get("/api/v1/cases", params={"contract_id": world.contract_id})).json()["items"]
            return items[0]["id"] if items else None

        world.case_id = await wait_for(a_case, what="a case of the contract")

        async def notifier_knows() -> bool:
            found = await api.get(f"/api/v1/clients/{world.client_id}/recipients")
            return found.status_code == 200 and bool(found.json()["items"])

        await wait_for(notifier_knows, what="the notifier to know the client")
    world.notice_id = await world.fresh_notice()
    async with office.system.gateway.ctx.db.transaction() as session:
        await users.create_user(session=session, login="ewa", name="Ewa Nowak", email="ewa@biuro.example",
                                role="accountant", password=None, now=office.clock.now())
        await users.issue_token(session=session, login="ewa", name="first", now=office.clock.now())
    return world


async def _call(world: World, method: str, route: Route, role: str) -> int:
    login = CALLERS[role]
    allowed = role in ROLES_WITH[route.permission]
    req = await route.build(world, allowed)
    current, new = world.passwords[login], f"{world.passwords[login]}+"
    if req.json is not None and isinstance(req.json, dict):
        req.json = {k: v.format(current=current, new=new) if isinstance(v, str) else v for k, v in req.json.items()}
    if req.url.startswith("/api/"):
        async with world.office.api(login) as api:
            response = await api.request(method, req.url, json=req.json, content=req.content, headers=req.headers)
    else:
        client, token = await world.page_client(login)
        url = req.url.replace("{own_token}", str(await world.fresh_token(login)))
        if method == "GET":
            response = await client.get(url)
        elif req.files is not None:
            response = await client.post(url, files={**req.files, "csrf_token": (None, token)})
        else:
            fields = {k: v.format(current=current, new=new) for k, v in (req.data or {}).items()}
            response = await client.post(url, data={"csrf_token": token, **fields})
    if route.ends_sessions and response.status_code < 400:
        world.passwords[login] = new
        await world.forget_sessions(login)
    return response.status_code


async def test_each_role_gets_what_the_matrix_says_on_every_route(office: Office) -> None:
    world = await _world(office)
    wrong = []
    try:
        for (method, path), route in ROUTES.items():
            for role in CALLERS:
                status = await _call(world, method, route, role)
                if status != expected(route, role):
                    wrong.append(f"{method} {path} as {role}: {status}, expected {expected(route, role)}")
    finally:
        for login in list(world.pages):
            await world.forget_sessions(login)
    assert wrong == []


def matrix_markdown() -> str:
    """The matrix as the gateway README shows it."""
    lines = ["| route | permission | admin | manager | accountant (on the team) | payroll (not on the team) |",
             "|---|---|---|---|---|---|"]
    for (method, path), route in ROUTES.items():
        cells = [str(expected(route, role)) for role in CALLERS]
        lines.append(f"| `{method} {path}` | {route.permission} | " + " | ".join(cells) + " |")
    public = ", ".join(f"`{m} {p}`" for m, p in sorted(PUBLIC, key=lambda k: (k[1], k[0])))
    lines.append("")
    lines.append(f"Public (no permission): {public}.")
    return "\n".join(lines) + "\n"


def test_the_gateway_readme_shows_this_matrix() -> None:
    assert matrix_markdown() in README.read_text(), "run: python -m tests.embedded.test_permission_matrix"


if __name__ == "__main__":
    text = README.read_text()
    start, end = "<!-- matrix:start -->\n", "<!-- matrix:end -->"
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    README.write_text(head + start + matrix_markdown() + end + tail)
    print(f"wrote the matrix into {README}")

