"""Demo data for a first run: a few staff, clients and contracts, entered through the public API."""

from __future__ import annotations

from typing import Any

import httpx

from services.common.clock import Clock
from services.gateway import users
from services.system import EmbeddedSystem

DEMO_PASSWORD = "demo"
STAFF = (
    ("admin", "Administrator Biura", "admin@biuro.example", "admin"),
    ("maria", "Maria Kierownik", "maria@biuro.example", "manager"),
    ("anna", "Anna Nowak", "anna@biuro.example", "accountant"),
    ("piotr", "Piotr Kadrowy", "piotr@biuro.example", "payroll"),
)


def _nip(first9: str) -> str:
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    check = sum(int(d) * w for d, w in zip(first9, weights, strict=True)) % 11
    if check == 10:
        raise ValueError(first9)
    return first9 + str(check)


def _regon(first8: str) -> str:
    weights = (8, 9, 2, 3, 4, 5, 6, 7)
    return first8 + str(sum(int(d) * w for d, w in zip(first8, weights, strict=True)) % 11 % 10)


def _pesel(first10: str) -> str:
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    return first10 + str((10 - sum(int(d) * w for d, w in zip(first10, weights, strict=True)) % 10) % 10)


def demo_clients(start: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(client, contract) pairs; contracts start on `start` (ISO date)."""
    address = {"street": "ul. Marszałkowska 1", "postal_code": "00-624", "city": "Warszawa"}
    return [
        (
            {"name": "Jan Kowalski Usługi Remontowe", "nip": _nip("526104057"), "regon": _regon("14123456"),
             "pesel": _pesel("8001011234"), "address": address, "contact_emails": ["jan.kowalski@klient.example"],
             "tax_profile": {"legal_form": "sole_trader", "books": "kpir", "income_tax": "pit_flat",
                             "income_tax_advances": "monthly", "vat": "monthly", "employees": 2}},
            {"number": "BR/2026/001", "services": ["bookkeeping", "vat", "income_tax", "payroll", "zus"],
             "team": {"accountant": "anna", "payroll": "piotr", "manager": "maria"}, "fee_net": "900.00"},
        ),
        (
            {"name": "Ewa Zielińska Projektowanie", "nip": _nip("951217341"), "regon": _regon("36512345"),
             "pesel": _pesel("8505157654"), "address": address, "contact_emails": ["ewa@klient.example"],
             "tax_profile": {"legal_form": "sole_trader", "books": "revenue_records", "income_tax": "pit_ryczalt",
                             "income_tax_advances": "quarterly", "vat": "quarterly"}},
            {"number": "BR/2026/002", "services": ["bookkeeping", "vat", "income_tax", "zus"],
             "team": {"accountant": "anna", "manager": "maria"}, "fee_net": "350.00"},
        ),
        (
            {"name": "Mostostal Północ sp. z o.o.", "nip": _nip("584025513"), "regon": _regon("19234567"),
             "krs": "0000123456", "address": address, "contact_emails": ["ksiegowosc@mostostal.example"],
             "tax_profile": {"legal_form": "llc", "books": "full", "income_tax": "cit",
                             "income_tax_advances": "monthly", "vat": "monthly", "vat_eu": True, "employees": 12,
                             "ppk": True, "in_krs": True}},
            {"number": "BR/2026/003",
             "services": ["bookkeeping", "vat", "income_tax", "payroll", "zus", "annual_statements"],
             "team": {"accountant": "anna", "payroll": "piotr", "manager": "maria"}, "fee_net": "2400.00"},
        ),
    ]


async def load_demo(system: EmbeddedSystem, clock: Clock) -> list[tuple[str, str]]:
    """Create the demo staff and, through the API, the demo clients and contracts. Returns (login, password)."""
    gateway = system.gateway.ctx
    async with gateway.db.transaction() as session:
        for login, name, email, role in STAFF:
            if await users.get_user(session=session, login=login) is None:
                await users.create_user(session=session, login=login, name=name, email=email, role=role,
                                        password=DEMO_PASSWORD, now=clock.now())
        token = await users.issue_token(session=session, login="admin", name="demo loader", now=clock.now())
    today = clock.today()
    start = today.replace(day=1, month=1) if today.month > 1 else today.replace(day=1)
    transport = httpx.ASGITransport(app=system.gateway.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway",
                                 headers={"Authorization": f"Bearer {token}"}) as api:
        for client, contract in demo_clients(start.isoformat()):
            response = await api.post("/api/v1/clients", json=client,
                                      headers={"Idempotency-Key": f"demo-{client['nip']}"})
            response.raise_for_status()
            client_id = response.json()["id"]
            body = {
                "client_id": client_id, "number": contract["number"], "signed_on": start.isoformat(),
                "start": start.isoformat(), "notice_period_months": 3, "services": contract["services"],
                "fee": {"monthly_net": contract["fee_net"], "vat_rate": "23"}, "team": contract["team"],
            }
            response = await api.post("/api/v1/contracts", json=body,
                                      headers={"Idempotency-Key": f"demo-{contract['number']}"})
            response.raise_for_status()
    return [(login, DEMO_PASSWORD) for login, *_ in STAFF]
