"""Valid clients and contracts for tests, in the shape the public API takes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any


def _nip_check(first9: str) -> int:
    """The NIP check digit for these nine digits; 10 means no NIP starts with them."""
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    return sum(int(d) * w for d, w in zip(first9, weights, strict=True)) % 11


def nip(first9: str) -> str:
    check = _nip_check(first9)
    assert check != 10, f"{first9} cannot be completed into a NIP"
    return first9 + str(check)


def nip_seeds(start: int, *, step: int = 1, count: int | None = None) -> Iterator[str]:
    """Seeds for `nip` (and `sole_trader(seed=...)`): start, start + step, ... skipping those no NIP starts with;
    the first `count` of them, or without end."""
    seeds = (str(n) for n in itertools.count(start, step) if _nip_check(str(n)) != 10)
    return seeds if count is None else itertools.islice(seeds, count)


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
