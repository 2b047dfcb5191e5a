"""Valid clients and contracts for tests, in the shape the public API takes."""

from __future__ import annotations

from typing import Any


def nip(first9: str) -> str:
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    check = sum(int(d) * w for d, w in zip(first9, weights, strict=True)) % 11
    assert check != 10, f"{first9} cannot be completed into a NIP"
    return first9 + str(check)


def regon(first8: str) -> str:
    weights = (8, 9, 2, 3, 4, 5, 6, 7)
    return first8 + str(sum(int(d) * w for d, w in zip(first8, weights, strict=True)) % 11 % 10)


def pesel(first10: str) -> str:
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    return first10 + str((10 - sum(int(d) * w for d, w in zip(first10, weights, strict=True)) % 10) % 10)


ADDRESS = {"street": "ul. Prosta 20", "postal_code": "00-850", "city": "Warszawa"}


def sole_trader(name: str = "Jan Kowalski Usługi", *, seed: str = "526104057", **profile: Any) -> dict[str, Any]:
    tax_profile = {"legal_form": "sole_trader", "books": "kpir", "income_tax": "pit_flat",
                   "income_tax_advances": "monthly", "vat": "monthly", "employees": 0}
    tax_profile.update(profile)
    return {"name": name, "nip": nip(seed), "regon": regon(seed[:8]), "pesel": pesel("8001011234"),
            "address": dict(ADDRESS), "contact_emails": ["klient@example.com"], "tax_profile": tax_profile}


def contract(client_id: int, *, number: str = "BR/2026/100", start: str = "2026-10-01",
             services: list[str] | None = None, accountant: str = "anna", manager: str = "maria",
             payroll: str | None = None) -> dict[str, Any]:
    team: dict[str, Any] = {"accountant": accountant, "manager": manager}
    if payroll:
        team["payroll"] = payroll
    return {"client_id": client_id, "number": number, "signed_on": start, "start": start,
            "notice_period_months": 3, "services": services or ["bookkeeping", "vat"],
            "fee": {"monthly_net": "800.00", "vat_rate": "23"}, "team": team}
