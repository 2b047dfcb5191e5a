"""Clients and contracts of the office: identifier checks, validated models and the terms document."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from services.common.accounts import mikrorachunek_owner
from services.common.messages import ClientAccounts
from services.common.params import MAX_ID
from services.common.terms import (
    CIT,
    NATURAL_PERSONS,
    NOT_IN_KRS,
    PIT,
    Books,
    ClientTerms,
    IncomeTax,
    IncomeTaxAdvances,
    LegalForm,
    LocalDate,
    Problem,
    Service,
    ServiceScope,
    TaxTerms,
    TermsDocument,
    raise_problems,
    terms_error,
)
from services.common.terms import ContractTerms as CommonContractTerms
from services.common.text import MultilineText, PlainText, unsafe_character

# --------------------------------------------------------------------------------------------------
# Identifiers: NIP, REGON, PESEL, KRS
# --------------------------------------------------------------------------------------------------


class InvalidIdentifier(ValueError):
    """A Polish identifier (NIP, REGON, PESEL, KRS) that cannot be right; the message says why."""

    def __init__(self, kind: str, raw: str, reason: str) -> None:
        self.kind = kind
        self.raw = raw
        self.reason = reason
        super().__init__(f"{kind} {reason} (got {raw!r})")


_SEPARATORS = re.compile(r"[\s\-\u00a0]+")  # people paste NBSPs from PDFs and web pages
_NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
_REGON9_WEIGHTS = (8, 9, 2, 3, 4, 5, 6, 7)
_REGON14_WEIGHTS = (2, 4, 8, 5, 0, 9, 7, 3, 6, 1, 2, 4, 8)
_PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
# PESEL encodes the century in the month: 1800s add 80, 1900s add 0, 2000s add 20, 2100s 40, 2200s 60.
_PESEL_CENTURIES = {0: 1900, 20: 2000, 40: 2100, 60: 2200, 80: 1800}


def _digits(kind: str, raw: str, *, lengths: tuple[int, ...], strip_pl: bool = False) -> str:
    if not isinstance(raw, str):
        raise InvalidIdentifier(kind, str(raw), "must be given as text, not a number (leading zeros matter)")
    text = _SEPARATORS.sub("", raw)
    if strip_pl and text[:2].upper() == "PL":
        text = text[2:]
    if not text:
        raise InvalidIdentifier(kind, raw, "is empty")
    if not (text.isascii() and text.isdigit()):
        allowed = "digits, spaces, dashes and a PL prefix" if strip_pl else "digits, spaces and dashes"
        raise InvalidIdentifier(kind, raw, f"may contain only {allowed}")
    if len(text) not in lengths:
        expected = " or ".join(str(n) for n in lengths)
        raise InvalidIdentifier(kind, raw, f"must have {expected} digits, got {len(text)}")
    return text


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False))


def normalize_nip(raw: str) -> str:
    """Return the 10-digit NIP; accepts a `PL` prefix, spaces and dashes. Raises InvalidIdentifier."""
    nip = _digits("NIP", raw, lengths=(10,), strip_pl=True)
    check = _weighted(nip, _NIP_WEIGHTS) % 11
    if check == 10:
        # No NIP is ever issued with remainder 10, so the number is mistyped rather than exotic.
        raise InvalidIdentifier("NIP", raw, "checksum does not match: the weighted sum leaves remainder 10")
    if check != int(nip[9]):
        raise InvalidIdentifier("NIP", raw, f"checksum does not match: last digit should be {check}")
    return nip


def _regon9_check(digits: str) -> int:
    return _weighted(digits, _REGON9_WEIGHTS) % 11 % 10  # remainder 10 is written as 0


def normalize_regon(raw: str) -> str:
    """Return the 9- or 14-digit REGON (spaces and dashes removed). Raises InvalidIdentifier."""
    regon = _digits("REGON", raw, lengths=(9, 14))
    if _regon9_check(regon) != int(regon[8]):
        where = "the first 9 digits (the parent unit's REGON) do not" if len(regon) == 14 else "does not"
        raise InvalidIdentifier("REGON", raw, f"checksum {where} match: digit 9 should be {_regon9_check(regon)}")
    if len(regon) == 14:
        check = _weighted(regon, _REGON14_WEIGHTS) % 11 % 10
        if check != int(regon[13]):
            raise InvalidIdentifier("REGON", raw, f"checksum does not match: last digit should be {check}")
    return regon


def pesel_birth_date(pesel: str) -> date:
    """The birth date a PESEL encodes; raises InvalidIdentifier when it names no real day."""
    yy, mm, dd = int(pesel[0:2]), int(pesel[2:4]), int(pesel[4:6])
    offset = (mm - 1) // 20 * 20 if mm >= 1 else -1
    century = _PESEL_CENTURIES.get(offset)
    month = mm - offset
    if century is None or not 1 <= month <= 12:
        raise InvalidIdentifier("PESEL", pesel, f"encodes no valid birth month (digits 3-4 are {mm:02d})")
    try:
        return date(century + yy, month, dd)
    except ValueError:
        raise InvalidIdentifier(
            "PESEL", pesel, f"encodes no valid birth date ({century + yy}-{month:02d}-{dd:02d})"
        ) from None


def normalize_pesel(raw: str) -> str:
    """Return the 11-digit PESEL after checking its checksum and birth date. Raises InvalidIdentifier."""
    pesel = _digits("PESEL", raw, lengths=(11,))
    check = (10 - _weighted(pesel, _PESEL_WEIGHTS) % 10) % 10
    if check != int(pesel[10]):
        raise InvalidIdentifier("PESEL", raw, f"checksum does not match: last digit should be {check}")
    pesel_birth_date(pesel)
    return pesel


def normalize_krs(raw: str) -> str:
    """Return the KRS number as 10 digits, zero-padded (registers print it both ways)."""
    krs = _digits("KRS", raw, lengths=tuple(range(1, 11)))
    if int(krs) == 0:
        raise InvalidIdentifier("KRS", raw, "cannot be all zeros")
    return krs.zfill(10)


# --------------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------------

_rule_error = terms_error
_raise_problems = raise_problems


def _field(normalizer: Callable[[str], str]) -> Callable[[str], str]:
    def validate(value: str) -> str:
        try:
            return normalizer(value)
        except InvalidIdentifier as exc:
            raise PydanticCustomError("invalid_identifier", "{reason}", {"reason": str(exc)}) from None

    return validate


Nip = Annotated[StrictStr, AfterValidator(_field(normalize_nip))]
Regon = Annotated[StrictStr, AfterValidator(_field(normalize_regon))]
Pesel = Annotated[StrictStr, AfterValidator(_field(normalize_pesel))]
Krs = Annotated[StrictStr, AfterValidator(_field(normalize_krs))]

_EMAIL = re.compile(r"^[^@\s,;]+@([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}$")


def _email(value: str) -> str:
    value = value.strip()
    reason = unsafe_character(value)
    if reason is not None:
        raise PydanticCustomError("invalid_email", "an e-mail address {reason}", {"reason": reason})
    if len(value) > 254 or not _EMAIL.match(value):
        raise PydanticCustomError("invalid_email", "not an e-mail address: {value}", {"value": value})
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"  # domains are case-insensitive; local parts, strictly, are not


Email = Annotated[StrictStr, AfterValidator(_email)]


def _login(value: str) -> str:
    value = value.strip()
    reason = unsafe_character(value)
    if reason is not None:
        raise PydanticCustomError("invalid_login", "a user login {reason}", {"reason": reason})
    if not value or any(ch.isspace() for ch in value) or len(value) > 64:
        raise PydanticCustomError(
            "invalid_login", "a user login is 1-64 characters without spaces, got {value}", {"value": value}
        )
    return value


Login = Annotated[StrictStr, AfterValidator(_login)]


CENT = Decimal("0.01")
VAT_RATES = frozenset({Decimal(0), Decimal(5), Decimal(8), Decimal(23)})  # 0 also covers "zw" (exempt)


def _no_float(value: object) -> object:
    # Floats cannot hold most cent amounts exactly; make callers send "1200.00" (or 1200) instead.
    if isinstance(value, bool | float):
        raise PydanticCustomError(
            "money_not_float",
            'amounts are written as a string such as "1200.00" or a whole number, not {value} '
            "(fractional JSON numbers are read as floats and lose cents)",
            {"value": value},
        )
    if isinstance(value, str):
        return value.strip()
    return value


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


Money = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    Field(ge=0, max_digits=12, decimal_places=2, allow_inf_nan=False),
    AfterValidator(_cents),
]


def _vat_rate(value: Decimal) -> Decimal:
    if value not in VAT_RATES:
        allowed = ", ".join(str(r) for r in sorted(VAT_RATES))
        raise PydanticCustomError(
            "vat_rate",
            "VAT rate must be one of {allowed} (percent), got {value}",
            {"allowed": allowed, "value": str(value)},
        )
    return next(rate for rate in VAT_RATES if rate == value)  # canonical form: 23, not 23.00


VatRate = Annotated[Decimal, BeforeValidator(_no_float), Field(allow_inf_nan=False), AfterValidator(_vat_rate)]


class _Model(BaseModel):
    # extra="forbid": a misspelt field ("vat_ue") must fail loudly, not vanish.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --------------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------------

class TaxProfile(TaxTerms):
    """The client terms of terms.md that rules match on (identifiers live on ClientIn), with the rules between
    them that the law sets. The terms themselves (and their defaults) are services/common/terms.py's."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[Problem] = []
        form, tax, books = self.legal_form, self.income_tax, self.books
        if self.legal_person and tax in PIT:
            problems.append((("income_tax",), f"a legal person ({form}) pays CIT, not {tax}", tax.value))
        if form in {LegalForm.sole_trader, LegalForm.civil_partnership} and tax in CIT:
            problems.append((("income_tax",), f"a {form} pays PIT, not {tax}", tax.value))
        if (self.legal_person or tax in CIT) and books is not Books.full:
            who = f"a legal person ({form})" if self.legal_person else f"a {tax} payer"
            problems.append((("books",), f"{who} keeps full books, not {books}", books.value))
        elif (tax is IncomeTax.pit_ryczalt) != (books is Books.revenue_records) and books is not Books.full:
            problems.append(
                (
                    ("books",),
                    "revenue_records go with pit_ryczalt and pit_ryczalt with revenue_records (or full)",
                    books.value,
                )
            )
        if tax is IncomeTax.none and self.income_tax_advances is not IncomeTaxAdvances.none:
            problems.append(
                (
                    ("income_tax_advances",),
                    "no income tax means no advances: use none",
                    self.income_tax_advances.value,
                )
            )
        if tax in PIT and self.fiscal_year_end != "12-31":
            problems.append(
                (
                    ("fiscal_year_end",),
                    "for PIT the tax year is the calendar year: use 12-31",
                    self.fiscal_year_end,
                )
            )
        if form in NOT_IN_KRS and self.in_krs:
            problems.append((("in_krs",), f"a {form} is not registered in KRS", self.in_krs))
        _raise_problems(type(self).__name__, problems)
        return self


_POSTAL_CODE_PL = re.compile(r"^(\d{2})-?(\d{3})$")


class Address(_Model):
    street: PlainText = Field(min_length=1, max_length=200)  # street, building and unit, as written on letters
    postal_code: PlainText = Field(min_length=1, max_length=16)
    city: PlainText = Field(min_length=1, max_length=100)
    country: str = Field(default="PL", pattern=r"^[A-Z]{2}$")  # ISO 3166-1 alpha-2

    @model_validator(mode="after")
    def _polish_postal_code(self) -> Self:
        if self.country == "PL":
            match = _POSTAL_CODE_PL.match(self.postal_code)
            if not match:
                _raise_problems(
                    "Address",
                    [(("postal_code",), "a Polish postal code is NN-NNN, e.g. 00-950", self.postal_code)],
                )
            else:
                self.postal_code = f"{match[1]}-{match[2]}"
        return self


MAX_RECIPIENTS = 20  # people at one client who receive notices; more is a mailing list, not a client record


class Recipient(_Model):
    """One person at the client who receives notices and confirms them, in their language."""

    email: Email
    name: PlainText = Field("", max_length=200)
    language: Literal["pl", "en"] = "pl"


class PaymentAccounts(ClientAccounts):
    """Where the client pays (the checks are services.common.messages.ClientAccounts'); a misspelt key is refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ClientIn(_Model):
    """A client as the office records it.

    PESEL is required for a natural person (legal_form sole_trader) and rejected for any other form:
    storing a person's PESEL where no rule needs it is data the office must not keep (GDPR), and
    silently dropping it would hide a mistake in the source data.
    """

    name: PlainText = Field(min_length=1, max_length=300)
    tax_profile: TaxProfile
    nip: Nip
    regon: Regon
    pesel: Pesel | None = None
    krs: Krs | None = None
    address: Address
    contact_emails: list[Email] = Field(min_length=1)  # notices go to every address listed
    language: Literal["pl", "en"] = "pl"
    # Who receives notices; none recorded: the contact e-mails, in the client's language (see recipients_or_contacts).
    recipients: list[Recipient] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    accounts: PaymentAccounts = Field(default_factory=PaymentAccounts)
    ppk_institution: PlainText = Field("", max_length=200)  # the PPK institution's name: the payee of PPK transfers
    notices: bool = True  # False: the office tells this client nothing by e-mail

    @property
    def legal_form(self) -> LegalForm:
        return self.tax_profile.legal_form

    @field_validator("name")
    @classmethod
    def _single_spaces(cls, value: str) -> str:
        return " ".join(value.split())

    @field_validator("contact_emails")
    @classmethod
    def _distinct(cls, emails: list[str]) -> list[str]:
        seen: dict[str, str] = {}
        for email in emails:
            seen.setdefault(email.lower(), email)  # one notice per mailbox, not one per spelling
        return list(seen.values())

    @model_validator(mode="after")
    def _identifiers_fit_form(self) -> Self:
        problems: list[Problem] = []
        form = self.tax_profile.legal_form
        if form in NATURAL_PERSONS and self.pesel is None:
            problems.append((("pesel",), f"PESEL is required for a natural person ({form})", None))
        if form not in NATURAL_PERSONS and self.pesel is not None:
            problems.append((("pesel",), f"PESEL is only recorded for a sole_trader, not for a {form}", self.pesel))
        if self.tax_profile.in_krs and self.krs is None:
            problems.append((("krs",), "the client is registered in KRS (in_krs), so give its KRS number", None))
        if form in NOT_IN_KRS and self.krs is not None:
            problems.append((("krs",), f"a {form} has no KRS number", self.krs))
        seen: dict[str, int] = {}
        for i, recipient in enumerate(self.recipients):
            first = seen.setdefault(recipient.email.lower(), i)
            if first != i:
                problems.append((("recipients", i, "email"), f"already listed as recipient {first + 1}",
                                 recipient.email))
        mikro = self.accounts.mikrorachunek
        if mikro is not None:
            owner = mikrorachunek_owner(mikro)
            own = {("NIP", self.nip)} | ({("PESEL", self.pesel)} if self.pesel else set())
            if owner is not None and owner not in own:
                mine = f"NIP {self.nip}" + (f" or PESEL {self.pesel}" if self.pesel else "")
                problems.append((("accounts", "mikrorachunek"),
                                 f"this mikrorachunek belongs to {owner[0]} {owner[1]}, not to the client's {mine}",
                                 mikro))
        _raise_problems("ClientIn", problems)
        return self

    def recipients_or_contacts(self) -> list[Recipient]:
        """Who receives notices: the recorded recipients, or else every contact e-mail in the client's language."""
        return list(self.recipients) or [Recipient(email=e, name="", language=self.language)
                                       for e in self.contact_emails]


# --------------------------------------------------------------------------------------------------
# Contract
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FeeBreakdown:
    """One month's fee: every amount in PLN, rounded to the grosz."""

    base: Decimal
    employees: Decimal
    documents: Decimal
    net: Decimal
    vat: Decimal
    gross: Decimal


class Fee(_Model):
    """Monthly fee, net in PLN, with VAT and per-unit extras; all arithmetic in Decimal."""

    monthly_net: Money
    vat_rate: VatRate = Decimal(23)
    per_employee: Money | None = None  # for every employee on payroll that month
    per_document: Money | None = None  # for every document above document_threshold
    document_threshold: StrictInt | None = Field(default=None, ge=0)
    # The client pays the month's fee by this day of the next month (the last day of a shorter month).
    payment_day: StrictInt = Field(default=15, ge=1, le=31)

    @model_validator(mode="after")
    def _threshold_with_price(self) -> Self:
        if (self.per_document is None) != (self.document_threshold is None):
            missing = "document_threshold" if self.document_threshold is None else "per_document"
            _raise_problems(
                "Fee",
                [((missing,), "per_document and document_threshold are given together or not at all", None)],
            )
        return self

    def breakdown(self, *, employees: int = 0, documents: int = 0) -> FeeBreakdown:
        if employees < 0 or documents < 0:
            raise ValueError("employees and documents are counts, so never negative")
        for_employees = (self.per_employee or Decimal(0)) * employees
        extra_documents = max(0, documents - (self.document_threshold or 0))
        for_documents = (self.per_document or Decimal(0)) * extra_documents
        net = _cents(self.monthly_net + for_employees + for_documents)
        # VAT on the invoice total, rounded once, half up, as art. 106e ust. 11 VAT Act allows.
        vat = (net * self.vat_rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        return FeeBreakdown(
            base=self.monthly_net,
            employees=_cents(for_employees),
            documents=_cents(for_documents),
            net=net,
            vat=vat,
            gross=net + vat,
        )

    def net(self, *, employees: int = 0, documents: int = 0) -> Decimal:
        return self.breakdown(employees=employees, documents=documents).net

    def vat(self, *, employees: int = 0, documents: int = 0) -> Decimal:
        return self.breakdown(employees=employees, documents=documents).vat

    def gross(self, *, employees: int = 0, documents: int = 0) -> Decimal:
        return self.breakdown(employees=employees, documents=documents).gross


class Team(_Model):
    """Who works the contract, by login."""

    accountant: Login  # responsible accountant
    payroll: Login | None = None  # payroll specialist; required when the contract includes payroll
    manager: Login | None = None  # supervises; the commissioner of cases generated from the contract


ClientId = int  # the clients table's key; one alias so that a change of key type is one line


class ContractTerms(CommonContractTerms):
    """The part of a contract rules read: which services (at least one), from when, until when."""

    services: list[ServiceScope] = Field(min_length=1)


class ContractDraft(ContractTerms):
    """A contract with everything but its stored client; the CSV import links it to a client by NIP."""

    number: PlainText = Field(min_length=1, max_length=64)
    signed_on: LocalDate  # may be after start: offices often sign a contract that runs from the 1st
    notice_period_months: StrictInt = Field(ge=0, le=24)
    fee: Fee
    team: Team

    @field_validator("notice_on")
    @classmethod
    def _notice_by_termination(cls, notice_on: date | None) -> date | None:
        if notice_on is not None:
            raise terms_error("is set by recording a termination (POST /contracts/{id}/termination)")
        return notice_on

    def attach(self, client_id: ClientId) -> ContractIn:
        """This contract for a stored client (the import's apply, once the client has its id)."""
        return ContractIn.model_validate({**self.model_dump(), "client_id": client_id})

    @model_validator(mode="after")
    def _payroll_has_specialist(self) -> Self:
        if self.has(Service.payroll) and self.team.payroll is None:
            _raise_problems(
                type(self).__name__,
                [
                    (
                        ("team", "payroll"),
                        "the contract includes payroll, so name its payroll specialist",
                        None,
                    )
                ],
            )
        return self


class ContractIn(ContractDraft):
    """A contract for a client already stored (API edge)."""

    client_id: ClientId = Field(gt=0, le=MAX_ID, strict=True)


# --------------------------------------------------------------------------------------------------
# The terms document (terms.md): what contract events carry
# --------------------------------------------------------------------------------------------------


def terms_document(client: ClientIn | TaxTerms, contract: CommonContractTerms, *,
                   notice_on: date | None = None) -> TermsDocument:
    """The terms document of a validated client (its identifiers, never PESEL) and contract; `notice_on` the
    day notice of termination was given, for a terminated contract."""
    profile = client.tax_profile if isinstance(client, ClientIn) else client
    terms = {name: getattr(profile, name) for name in TaxTerms.model_fields}
    if isinstance(client, ClientIn):
        terms.update(nip=client.nip, regon=client.regon, krs=client.krs)
    # Built from models already validated: nothing to check again.
    return TermsDocument.model_construct(
        client=ClientTerms.model_construct(**terms),
        contract=CommonContractTerms.model_construct(services=list(contract.services), start=contract.start,
                                                     end=contract.end, signed_on=contract.signed_on,
                                                     notice_on=notice_on, client_duties=contract.client_duties),
    )


def error_fields(error: ValidationError) -> list[str]:
    """The dotted locations of a ValidationError, e.g. ["nip", "contact_emails.1"]."""
    return [".".join(str(part) for part in e["loc"]) for e in error.errors()]


def iter_problems(error: ValidationError) -> Iterable[tuple[tuple[str | int, ...], str]]:
    """(location, message) pairs with pydantic's "Value error, " noise removed."""
    for e in error.errors():
        yield tuple(e["loc"]), str(e["msg"]).removeprefix("Value error, ")


# --------------------------------------------------------------------------------------------------
# Changes to a signed contract: annexes and termination
# --------------------------------------------------------------------------------------------------


class AnnexIn(_Model):
    """An annex: the terms it changes, in force from `effective_from`; what it leaves out stays as it was.

    The changed terms are checked once merged over the newest version (as a whole ContractIn and TaxProfile),
    so that one answer names every invalid field; here they are only JSON of the right shape.
    `end: null` given explicitly makes the contract open-ended again; `end` left out keeps the current end.
    """

    effective_from: LocalDate
    # Changes to the client's terms from this date, e.g. {"vat": "quarterly"}; merged over the current profile.
    tax_profile: dict[str, Any] | None = None
    services: list[Any] | None = None
    fee: dict[str, Any] | None = None
    team: dict[str, Any] | None = None
    end: Any = None
    notice_period_months: Any = None
    signed_on: Any = None  # the day the annex was signed, when it differs from the contract's
    # The client's duties from this date, e.g. {"documents_day": 10}; merged over the current ones
    # (null for a duty: no longer a duty).
    client_duties: dict[str, Any] | None = None

    def changes(self) -> dict[str, Any]:
        """The terms the annex sets (JSON-ready), without effective_from."""
        given = self.model_fields_set - {"effective_from"}
        return {k: v for k, v in self.model_dump(mode="json").items() if k in given}


class TerminationIn(_Model):
    """Notice given or mutual termination: the last day the contract covers, and why; `notice_on` is the day
    notice was given or the termination agreed (default: the day it is recorded)."""

    end: LocalDate
    reason: MultilineText = Field(min_length=1, max_length=1000)
    notice_on: LocalDate | None = None
