"""What a client notice says, as pure functions: labels, money and periods in Polish and English, which account a
liability is paid to, the transfer title, the payment QR payload, and when a notice is reminded or escalated.

Sources (services/notifier/README.md cites them): obligations.md §6.4 and §9; the tax-transfer fields of
Polish banks (identifier type N/P, the period as `RR` + `M`/`K`/`P`/`R`/`D`/`J` + number, the form symbol);
the Polish Bank Association's (ZBP) recommendation on the 2D payment code (2013).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Literal

import holidays

from services.common.accounts import AccountError, mikrorachunek, mikrorachunek_owner
from services.common.money import format_pln
from services.common.months import MONTHS_EN, MONTHS_PL

Lang = Literal["pl", "en"]
NBSP = "\u00a0"

LIABILITY_LABELS: dict[str, dict[str, str]] = {
    "vat": {"pl": "VAT", "en": "VAT"},
    "pit": {"pl": "Zaliczka na podatek dochodowy (PIT)", "en": "Income tax advance (PIT)"},
    "cit": {"pl": "Podatek dochodowy od osób prawnych (CIT)", "en": "Corporate income tax (CIT)"},
    "zus": {"pl": "Składki ZUS", "en": "Social security contributions (ZUS)"},
    "ppk": {"pl": "Wpłaty PPK", "en": "Employee capital plan (PPK) contributions"},
    "pfron": {"pl": "Wpłata na PFRON", "en": "PFRON contribution"},
}
# What a client task asks the client for, by its duty (rules/client.yaml): a duty notice's subject names it.
DUTY_LABELS: dict[str, dict[str, str]] = {
    "documents": {"pl": "Dokumenty", "en": "Documents"},
    "payroll_data": {"pl": "Dane kadrowo-płacowe", "en": "Payroll data"},
    "bank_statements": {"pl": "Wyciągi bankowe", "en": "Bank statements"},
    "statements_signing": {"pl": "Podpisane sprawozdanie finansowe", "en": "The signed financial statements"},
}
# The same, as the object of "please send us …" / "prosimy przekazać do biura …" in a duty mail's text.
DUTY_OBJECTS: dict[str, dict[str, str]] = {
    "documents": {"pl": "dokumenty", "en": "the documents"},
    "payroll_data": {"pl": "dane kadrowo-płacowe", "en": "the payroll data"},
    "bank_statements": {"pl": "wyciągi bankowe", "en": "the bank statements"},
    "statements_signing": {"pl": "podpisane sprawozdanie finansowe", "en": "the signed financial statements"},
}
ACCOUNT_LABELS: dict[str, dict[str, str]] = {
    "mikrorachunek": {"pl": "mikrorachunek podatkowy", "en": "individual tax account (mikrorachunek)"},
    "nrs": {"pl": "numer rachunku składkowego ZUS (NRS)", "en": "ZUS contribution account (NRS)"},
    "ppk": {"pl": "rachunek instytucji PPK", "en": "PPK institution's account"},
    "pfron": {"pl": "rachunek PFRON", "en": "PFRON account"},
}
ACCOUNT_OF_KIND = {"vat": "mikrorachunek", "pit": "mikrorachunek", "cit": "mikrorachunek", "zus": "nrs",
                   "ppk": "ppk", "pfron": "pfron"}
PAYEES = {"mikrorachunek": "Urząd Skarbowy", "nrs": "ZUS", "ppk": "PPK", "pfron": "PFRON"}

ROMAN = ("I", "II", "III", "IV")

# ZBP 2D recommendation: fields and their maximum lengths (the whole string at most 160 characters).
QR_NAME_MAX = 20
QR_TITLE_MAX = 32
QR_AMOUNT_MAX = Decimal("9999.99")  # six digits of grosze


# --- Formatting -------------------------------------------------------------------------------------


money = format_pln  # 1234.5 → `1 234,50 zł` or `PLN 1,234.50`


def day(value: date | None, lang: str = "pl") -> str:
    if value is None:
        return ""
    if lang == "en":
        return f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}"
    return f"{value.day:02d}.{value.month:02d}.{value.year}"


def period_label(period: str | None, lang: str = "pl") -> str:
    """`2026-10` → `październik 2026`; `2026-Q3` → `III kwartał 2026`; `2026` → `rok 2026`; others as given."""
    if not period:
        return ""
    if m := re.fullmatch(r"(\d{4})-(\d{2})", period):
        year, month = int(m[1]), int(m[2])
        if 1 <= month <= 12:
            return f"{MONTHS_EN[month - 1]} {year}" if lang == "en" else f"{MONTHS_PL[month - 1]} {year}"
    if m := re.fullmatch(r"(\d{4})-Q([1-4])", period):
        return f"Q{m[2]} {m[1]}" if lang == "en" else f"{ROMAN[int(m[2]) - 1]} kwartał {m[1]}"
    if re.fullmatch(r"\d{4}", period):
        return f"year {period}" if lang == "en" else f"rok {period}"
    if re.fullmatch(r"\d{4}/\d{4}", period):
        return f"fiscal year {period}" if lang == "en" else f"rok obrotowy {period}"
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", period):
        try:
            return day(date(int(m[1]), int(m[2]), int(m[3])), lang)
        except ValueError:
            return period
    return period


def duty_subject(duty: str | None, title: str, period: str | None, due: date, lang: str = "pl") -> str:
    """A client task's notice subject: `Dokumenty za październik 2026 — termin 09.11.2026`, `Documents for October
    2026 — due 9 November 2026` (the task's title when its duty is none of ours)."""
    what = DUTY_LABELS.get(duty or "", {}).get(lang, title)
    label = period_label(period, lang) if duty != "statements_signing" else ""
    if lang == "en":
        return f"{what}{' for ' + label if label else ''} — due {day(due, lang)}"
    return f"{what}{' za ' + label if label else ''} — termin {day(due, lang)}"


def duty_object(duty: str | None, period: str | None, lang: str = "pl") -> str:
    """What a client task asks for, to be said in a sentence: `the documents for October 2026`, `dokumenty za
    październik 2026` (the statements without their year, as in the subject); "" for a duty none of ours."""
    what = DUTY_OBJECTS.get(duty or "", {}).get(lang, "")
    label = period_label(period, lang) if what and duty != "statements_signing" else ""
    if not label:
        return what
    return f"{what} for {label}" if lang == "en" else f"{what} za {label}"


def fee_transfer_title(month: str) -> str:
    """`2026-10` → `FV 10/2026`: the title the payments import reads the month from."""
    year, number = month.split("-")
    return f"FV {int(number)}/{year}"


def fee_subject(month: str, amount: Decimal | None, due: date | None, lang: str = "pl") -> str:
    """An overdue fee's subject: `Opłata za obsługę za październik 2026 — do zapłaty 1 273,05 zł`, `Service fee for
    October 2026 — PLN 1,273.05 overdue (due 16 November 2026)`; without an amount (a notice written before it was
    kept), `Service fee for October 2026 — overdue (due 16 November 2026)`."""
    if lang == "en":
        owed = f"{money(amount, lang)} overdue" if amount is not None else "overdue"
        return f"Service fee for {period_label(month, lang)} — {owed}" + (f" (due {day(due, lang)})" if due else "")
    return f"Opłata za obsługę za {period_label(month, lang)}" + (
        f" — do zapłaty {money(amount, lang)}" if amount is not None else "")


def client_subject(kind: str, duty: str | None, period: str | None, due: date | None, subject: str,
                   lang: str, *, amount: Decimal | None = None) -> str:
    """A notice's subject for a recipient: as written (Polish: the office's, or built when issued) — except in
    English for a client task of a known duty and for an overdue fee (`amount`: what is outstanding), whose
    subjects are built from their facts."""
    if lang != "en" or due is None:
        return subject
    if kind == "duty" and duty in DUTY_LABELS:
        return duty_subject(duty, "", period, due, lang)
    if kind == "fee" and period:
        return fee_subject(period, amount, due, lang)
    return subject


def period_code(period: str | None) -> str | None:
    """The period in the tax-transfer notation: two digits of the year, then M + month, K + quarter, R (year),
    or J + day + month: `2026-10` → `26M10`, `2026-Q3` → `26K03`, `2026` and `2025/2026` → `26R`,
    `2026-01-05` → `26J0501`. None when the period has none of these shapes."""
    if not period:
        return None
    if m := re.fullmatch(r"(\d{4})-(\d{2})", period):
        return f"{m[1][2:]}M{m[2]}" if 1 <= int(m[2]) <= 12 else None
    if m := re.fullmatch(r"(\d{4})-Q([1-4])", period):
        return f"{m[1][2:]}K0{m[2]}"
    if m := re.fullmatch(r"(?:\d{4}/)?(\d{4})", period):
        return f"{m[1][2:]}R"
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", period):
        return f"{m[1][2:]}J{m[3]}{m[2]}"
    return None


def default_form(kind: str, period: str | None) -> str:
    """The form symbol when the case gave none. The case's own (`Liability.form`) is always better: the PIT
    symbol depends on the form of taxation (PIT-36, PIT-36L, PIT-28), which only the rule knows."""
    if kind == "vat":
        return "VAT-7K" if period and "-Q" in period else "VAT-7"
    return {"pit": "PIT-36", "cit": "CIT-8", "zus": "DRA", "ppk": "PPK", "pfron": "DEK-I-0"}.get(kind, kind.upper())


# --- Where and how to pay ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientIdentity:
    """What the notice needs to know about the client to say where it pays."""

    name: str
    nip: str | None = None
    pesel: str | None = None
    accounts: dict[str, str | None] | None = None
    ppk_institution: str = ""


@dataclass(frozen=True)
class Transfer:
    account: str | None  # 26 digits, or None when the office has not recorded it
    account_kind: str
    payee: str
    title: str
    tax_fields: dict[str, str] | None  # identifier type and number, period code, form symbol (mikrorachunek)
    qr_payload: str | None  # None: no account or nothing to pay


def account_for(kind: str, client: ClientIdentity) -> tuple[str, str | None]:
    """(account kind, the 26 digits or None). The mikrorachunek is computed from the NIP (or, without one, the
    PESEL) when the client record does not give it."""
    account_kind = ACCOUNT_OF_KIND[kind]
    recorded = (client.accounts or {}).get(account_kind)
    if recorded:
        return account_kind, recorded
    if account_kind == "mikrorachunek" and (client.nip or client.pesel):
        try:
            return account_kind, mikrorachunek(nip=client.nip, pesel=None if client.nip else client.pesel)
        except AccountError:
            return account_kind, None
    return account_kind, None


def transfer_for(kind: str, amount: Decimal, period: str | None, form: str, client: ClientIdentity) -> Transfer:
    """Where one liability is paid and how the transfer is titled.

    To the mikrorachunek (VAT, PIT, CIT) the title carries the tax-transfer fields: the identifier type and
    number (N = NIP, P = PESEL; the one inside the mikrorachunek), the period code and the form symbol, e.g.
    `N1234563218 26M10 VAT-7`. To the NRS, PPK and PFRON accounts a plain title with the period."""
    account_kind, account = account_for(kind, client)
    payee = PAYEES[account_kind]
    if account_kind == "ppk" and client.ppk_institution:
        payee = client.ppk_institution
    code = period_code(period)
    form = form or default_form(kind, period)
    tax_fields: dict[str, str] | None = None
    if account_kind == "mikrorachunek":
        owner = mikrorachunek_owner(account) if account else None
        id_type, identifier = ("N", owner[1]) if owner and owner[0] == "NIP" else \
            ("P", owner[1]) if owner else ("N", client.nip) if client.nip else ("P", client.pesel or "")
        tax_fields = {"identifier_type": id_type, "identifier": identifier, "period": code or "", "form": form}
        title = " ".join(part for part in (f"{id_type}{identifier}", code, form) if part)
    else:
        label = {"nrs": "Składki ZUS", "ppk": "PPK", "pfron": f"PFRON {form}"}.get(account_kind, form)
        title = f"{label} {period_label(period, 'pl') or period or ''}".strip()
    payload = zbp_qr_payload(account=account, amount=amount, payee=payee, title=title) if account and amount > 0 \
        else None
    return Transfer(account, account_kind, payee, title, tax_fields, payload)


def _qr_field(text: str, limit: int) -> str:
    return " ".join(text.replace("|", " ").split())[:limit]


def zbp_qr_payload(*, account: str, amount: Decimal, payee: str, title: str, payee_nip: str = "") -> str:
    """The ZBP 2D payment code: `NIP|PL|account|amount in grosze (6 digits)|payee (≤20)|title (≤32)|||`.

    The recommendation gives the amount six digits: above 9 999,99 zł the field is `000000` and the payer's
    bank app asks for the amount (the notice prints it beside the code)."""
    grosze = int((Decimal(amount) * 100).to_integral_value(rounding=ROUND_HALF_UP))
    amount_field = f"{grosze:06d}" if Decimal(amount) <= QR_AMOUNT_MAX else "000000"
    fields = [payee_nip, "PL", account, amount_field, _qr_field(payee, QR_NAME_MAX), _qr_field(title, QR_TITLE_MAX),
              "", "", ""]
    return "|".join(fields)


def qr_amount_is_manual(amount: Decimal) -> bool:
    return Decimal(amount) > QR_AMOUNT_MAX


# --- Grouping, reminders, escalation --------------------------------------------------------------------


def draft_key(client_id: str, period: str | None, on: date, grouping: str, case_id: str) -> str:
    """Liabilities finished for one client and period on one day travel in one message (`period` grouping),
    or each case in its own (`case` grouping)."""
    if grouping == "case":
        return f"case|{case_id}|{on.isoformat()}"
    return f"period|{client_id}|{period or ''}|{on.isoformat()}"


@lru_cache(maxsize=16)
def _polish_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.Poland(years=year))


def is_business_day(d: date) -> bool:
    """Not a Saturday, Sunday or Polish public holiday. (The scheduler's calendar also knows the office's extra
    days off; it should move to services/common so every service counts business days the same way.)"""
    return d.weekday() < 5 and d not in _polish_holidays(d.year)


def reminds_on(d: date, days: str) -> bool:
    """Reminders go every calendar day (the office's promise), or on business days only (a setting)."""
    return days == "calendar" or is_business_day(d)


def reminders_end(due: date | None, issued_on: date, stop_days_after_due: int | None) -> date | None:
    """The last day a notice is reminded: `stop_days_after_due` after its due date (after its issue day when it
    has no due date); None: until confirmed or withdrawn."""
    if stop_days_after_due is None:
        return None
    return (due or issued_on) + timedelta(days=stop_days_after_due)


def escalation_day(due: date | None, days_before_due: int | None) -> date | None:
    """From this day an unconfirmed notice is reported to the accountant (once)."""
    if due is None or days_before_due is None:
        return None
    return due - timedelta(days=days_before_due)


def as_lang(value: Any) -> Lang:
    return "en" if value == "en" else "pl"
