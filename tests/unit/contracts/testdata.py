"""Test data for the contracts domain: check digits computed independently, strategies, CSV rows."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from hypothesis import strategies as st


def nip_check(first9: str) -> int | None:
    """NIP check digit, or None when the weighted sum leaves 10 (no such NIP exists)."""
    weights = [6, 5, 7, 2, 3, 4, 5, 6, 7]
    total = 0
    for position, digit in enumerate(first9):
        total += weights[position] * int(digit)
    remainder = total % 11
    return None if remainder == 10 else remainder


def regon9_check(first8: str) -> int:
    total = sum(w * int(d) for w, d in zip([8, 9, 2, 3, 4, 5, 6, 7], first8, strict=True))
    return 0 if total % 11 == 10 else total % 11


def regon14_check(first13: str) -> int:
    weights = [2, 4, 8, 5, 0, 9, 7, 3, 6, 1, 2, 4, 8]
    total = sum(w * int(d) for w, d in zip(weights, first13, strict=True))
    return 0 if total % 11 == 10 else total % 11


def pesel_check(first10: str) -> int:
    total = sum(w * int(d) for w, d in zip([1, 3, 7, 9, 1, 3, 7, 9, 1, 3], first10, strict=True))
    return (10 - total % 10) % 10


def make_pesel(born: date, serial: int) -> str:
    offset = {1800: 80, 1900: 0, 2000: 20, 2100: 40, 2200: 60}[born.year // 100 * 100]
    first10 = f"{born.year % 100:02d}{born.month + offset:02d}{born.day:02d}{serial:04d}"
    return first10 + str(pesel_check(first10))


def make_nip(n: int) -> str:
    """A valid NIP derived from n (distinct n give distinct NIPs for n below 10**8)."""
    if not 0 <= n < 9 * 10**7:
        raise ValueError(f"n out of range: {n}")
    for tail in "0123456789":
        first9 = f"{1 + n % 9}{n // 9:07d}{tail}"
        check = nip_check(first9)
        if check is not None:
            return first9 + str(check)
    raise AssertionError("unreachable: some tail digit avoids remainder 10")


def make_regon(n: int) -> str:
    first8 = f"{n:08d}"
    return first8 + str(regon9_check(first8))


# ---- hypothesis strategies ----------------------------------------------------------------------

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


@st.composite
def valid_nips(draw: st.DrawFn) -> str:
    first9 = draw(st.text(alphabet="0123456789", min_size=9, max_size=9).filter(lambda s: nip_check(s) is not None))
    return first9 + str(nip_check(first9))


@st.composite
def valid_regons(draw: st.DrawFn) -> str:
    first8 = draw(st.text(alphabet="0123456789", min_size=8, max_size=8))
    regon9 = first8 + str(regon9_check(first8))
    if draw(st.booleans()):
        first13 = regon9 + draw(st.text(alphabet="0123456789", min_size=4, max_size=4))
        return first13 + str(regon14_check(first13))
    return regon9


@st.composite
def valid_pesels(draw: st.DrawFn) -> str:
    born = draw(st.dates(min_value=date(1800, 1, 1), max_value=date(2299, 12, 31)))
    return make_pesel(born, draw(st.integers(0, 9999)))


@st.composite
def formatted(draw: st.DrawFn, number: str, *, prefix: bool = False) -> str:
    """The number as people type it: optional PL prefix, spaces and dashes between digits."""
    out = draw(st.sampled_from(["", "PL", "pl", "PL ", "Pl-"])) if prefix else ""
    for i, digit in enumerate(number):
        if i:
            out += draw(st.sampled_from(["", "", " ", "-", " - ", "  "]))
        out += digit
    return draw(st.sampled_from(["", " "])) + out + draw(st.sampled_from(["", " ", "\t"]))


# ---- CSV rows -----------------------------------------------------------------------------------

HEADER = [
    "client_name", "legal_form", "nip", "regon", "pesel", "krs", "street", "postal_code", "city", "emails",
    "language", "books", "income_tax", "income_tax_advances", "vat", "vat_eu", "employees", "ppk",
    "fiscal_year_end", "in_krs", "contract_number", "signed_on", "start", "end", "notice_period_months",
    "services", "payroll_headcount_limit", "fee_monthly_net", "vat_rate", "fee_per_employee", "accountant",
    "payroll", "manager",
]  # fmt: skip


def csv_row(i: int) -> dict[str, str]:
    """A valid row; even i is a company with payroll, odd i a sole trader on the tax scale."""
    company = i % 2 == 0
    row = {
        "client_name": f"Klient {i} sp. z o.o." if company else f"Jan Kowalski {i}",
        "legal_form": "llc" if company else "sole_trader",
        "nip": make_nip(i),
        "regon": make_regon(10_000_000 + i),
        "pesel": "" if company else make_pesel(date(1960, 1, 1) + timedelta(days=i * 7), i % 10_000),
        "krs": str(100_000 + i) if company else "",
        "street": f"ul. Długa {i % 200 + 1}",
        "postal_code": f"{i % 100:02d}-{i % 1000:03d}",
        "city": "Gdańsk",
        "emails": f"biuro{i}@klient{i}.pl;prezes@klient{i}.pl" if company else f"jan{i}@poczta.pl",
        "language": "en" if i % 5 == 0 else "pl",
        "books": "full" if company else "kpir",
        "income_tax": "cit" if company else "pit_scale",
        "income_tax_advances": "monthly",
        "vat": "monthly" if i % 3 else "quarterly",
        "vat_eu": "yes" if i % 7 == 0 else "no",
        "employees": str(i % 40) if company else "0",
        "ppk": "yes" if company and i % 40 else "no",
        "fiscal_year_end": "12-31",
        "in_krs": "yes" if company else "no",
        "contract_number": f"UM/2026/{i:04d}",
        "signed_on": "2025-12-15",
        "start": "2026-01-01",
        "end": "2026-12-31" if i % 11 == 0 else "",
        "notice_period_months": "3",
        "services": "bookkeeping;vat;income_tax;payroll;zus" if company else "bookkeeping;vat;zus",
        "payroll_headcount_limit": "50" if company else "",
        "fee_monthly_net": f"{1000 + i}.50",
        "vat_rate": "23",
        "fee_per_employee": "45.00" if company else "",
        "accountant": f"acc{i % 6}",
        "payroll": "payroll1" if company else "",
        "manager": "boss",
    }
    return row


def to_csv(rows: list[dict[str, str]], *, delimiter: str = ",", header: list[str] | None = None) -> str:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=header or HEADER, delimiter=delimiter, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
