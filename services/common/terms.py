"""The contract-terms vocabulary (shared/domain/terms.md) as one typed model: the terms, their values and labels.

Every service reads contract terms through these classes. The contracts service validates with them (its
`TaxProfile` adds the rules between fields that the law sets), the scheduler builds its rule facts and checks
rule conditions from them, the gateway takes its labels (pl, en) from them and `docs/glossary.md` lists them
(a test keeps it equal to `glossary_markdown()`).

Adding a term is one edit here:
- a client term: a field of `TaxTerms`, annotated with its `Term` (labels and meaning) and a default, e.g.
  `flat_rate_withholding: Annotated[StrictBool, Term("Zryczałtowany podatek pobrany", "Flat-rate tax withheld",
  "the payer withheld flat-rate tax (PIT-8AR)")] = False`. Rule files may then say `client.flat_rate_withholding`,
  the scheduler's fact carries it, the contracts service takes and stores it in the tax profile, the CSV import
  reads a column of that name, the gateway and the glossary show its labels. An enum term gets a `Vocabulary`
  class whose members carry their labels.
- a service: a member of `Service`; its parameters: a model in `SERVICE_PARAMETERS`.
Never rename a term or a value: rule files, CSV imports, stored versions and API clients depend on the names.
A new term needs a default (stored contracts and terms documents written before it do not carry it).
"""

from __future__ import annotations

import calendar
import re
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, NamedTuple, Self, Union, get_args, get_origin, get_type_hints

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

Language = Literal["pl", "en"]


class Label(NamedTuple):
    """What a term or a value is called in the UI."""

    pl: str
    en: str


class Vocabulary(StrEnum):
    """The values of an enum term. A member is written `name = "value", "Polish label", "English label"`."""

    _value_: str
    label: Label

    def __new__(cls, value: str, pl: str = "", en: str = "") -> Self:
        # Runs only when the class is made (a lookup such as LegalForm("llc") does not come here).
        if not (pl and en):
            raise TypeError(f"{cls.__name__}.{value}: every value needs a Polish and an English label")
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = Label(pl, en)
        return member

    @classmethod
    def labels(cls, language: Language = "pl") -> dict[str, str]:
        """{value: label} in the vocabulary's order, e.g. for a form's select."""
        return {m.value: getattr(m.label, language) for m in cls}


@dataclass(frozen=True)
class Term:
    """A term's labels and meaning; every field of the terms models is annotated with one."""

    pl: str
    en: str
    meaning: str = ""

    @property
    def label(self) -> Label:
        return Label(self.pl, self.en)


# --------------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------------


class LegalForm(Vocabulary):
    sole_trader = "sole_trader", "jednoosobowa działalność (JDG)", "sole trader"
    civil_partnership = "civil_partnership", "spółka cywilna", "civil-law partnership (s.c.)"
    general_partnership = "general_partnership", "spółka jawna", "general partnership (sp.j.)"
    limited_partnership = "limited_partnership", "spółka komandytowa", "limited partnership (sp.k.)"
    professional_partnership = "professional_partnership", "spółka partnerska", "professional partnership (sp.p.)"
    llc = "llc", "spółka z o.o.", "limited liability company (sp. z o.o.)"
    simple_joint_stock = "simple_joint_stock", "P.S.A.", "simple joint-stock company (P.S.A.)"
    joint_stock = "joint_stock", "spółka akcyjna", "joint-stock company (S.A.)"
    foundation = "foundation", "fundacja", "foundation"
    association = "association", "stowarzyszenie", "association"


LEGAL_PERSONS = frozenset(
    {LegalForm.llc, LegalForm.simple_joint_stock, LegalForm.joint_stock, LegalForm.foundation, LegalForm.association}
)
# Sole traders are registered in CEIDG and a civil partnership is a contract, not a registered entity.
NOT_IN_KRS = frozenset({LegalForm.sole_trader, LegalForm.civil_partnership})
NATURAL_PERSONS = frozenset({LegalForm.sole_trader})


class Books(Vocabulary):
    full = "full", "księgi rachunkowe", "full books"
    kpir = "kpir", "KPiR", "tax revenue and expense ledger (KPiR)"
    revenue_records = "revenue_records", "ewidencja przychodów", "revenue records (ryczałt)"


class IncomeTax(Vocabulary):
    pit_scale = "pit_scale", "PIT – skala", "PIT, tax scale"
    pit_flat = "pit_flat", "PIT liniowy", "PIT, 19% flat rate"
    pit_ryczalt = "pit_ryczalt", "ryczałt", "lump-sum tax on revenue (ryczałt)"
    cit = "cit", "CIT", "CIT"
    cit_estonian = "cit_estonian", "estoński CIT", "Estonian CIT"
    none = "none", "brak", "none"


CIT = frozenset({IncomeTax.cit, IncomeTax.cit_estonian})
PIT = frozenset({IncomeTax.pit_scale, IncomeTax.pit_flat, IncomeTax.pit_ryczalt})


class IncomeTaxAdvances(Vocabulary):
    monthly = "monthly", "miesięczne", "monthly"
    quarterly = "quarterly", "kwartalne", "quarterly"
    simplified = "simplified", "uproszczone", "simplified"
    none = "none", "brak", "none"


class VatPeriod(Vocabulary):
    none = "none", "zwolniony / nie jest podatnikiem", "exempt or not a VAT payer"
    monthly = "monthly", "miesięcznie", "monthly"
    quarterly = "quarterly", "kwartalnie", "quarterly"


class Service(Vocabulary):
    bookkeeping = "bookkeeping", "Księgowość (KPiR, ewidencja, księgi)", "Bookkeeping (KPiR, records, full books)"
    vat = "vat", "VAT (JPK_V7, VAT-UE)", "VAT (JPK_V7, VAT-UE)"
    income_tax = "income_tax", "Podatek dochodowy firmy", "Business income tax"
    payroll = "payroll", "Kadry i płace", "Payroll"
    zus = "zus", "ZUS", "ZUS (social insurance)"
    annual_statements = "annual_statements", "Sprawozdanie finansowe", "Financial statements"
    owner_annual_return = "owner_annual_return", "Zeznanie roczne właściciela", "Owner's annual return"


class TeamRole(Vocabulary):
    """Who on the contract's team a case goes to (rules' `role`)."""

    accountant = "accountant", "Księgowa/y odpowiedzialna/y", "Responsible accountant"
    payroll = "payroll", "Kadry i płace", "Payroll specialist"
    manager = "manager", "Kierownik", "Manager"


# --------------------------------------------------------------------------------------------------
# Shared field types
# --------------------------------------------------------------------------------------------------

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _strict_date(value: object) -> object:
    # Local calendar dates only: a timestamp or a datetime would smuggle in a time zone question.
    if isinstance(value, str):
        value = value.strip()
    if isinstance(value, datetime) or not (
        isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.match(value))
    ):
        raise PydanticCustomError("date_format", "a date is written YYYY-MM-DD, got {value}", {"value": value})
    return value


LocalDate = Annotated[date, BeforeValidator(_strict_date)]
"""A business date (Europe/Warsaw calendar day) written YYYY-MM-DD."""


def terms_error(message: str) -> PydanticCustomError:
    """A validation error whose message is `message` (kept out of the template, so braces in input are safe)."""
    return PydanticCustomError("invalid_terms", "{reason}", {"reason": message})


Problem = tuple[tuple[str | int, ...], str, object]  # (location, message, offending input)


def raise_problems(title: str, problems: list[Problem]) -> None:
    """Raise cross-field problems as one ValidationError whose locations name the fields to fix."""
    if problems:
        details = [InitErrorDetails(type=terms_error(msg), loc=loc, input=value) for loc, msg, value in problems]
        raise ValidationError.from_exception_data(title, details)


class _Terms(BaseModel):
    # extra="forbid": a misspelt term ("vat_ue") must fail loudly, not vanish.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


_FISCAL_YEAR_END = re.compile(r"^(\d{2})-(\d{2})$")


class DerivedTerm(property):
    """A client term computed from others: rule files may read it, documents never carry it."""

    term: Term


def derived_term(term: Term) -> Callable[[Callable[[Any], Any]], DerivedTerm]:
    """Decorates a property of the terms model that is a derived term (see TaxTerms.legal_person)."""

    def wrap(fget: Callable[[Any], Any]) -> DerivedTerm:
        made = DerivedTerm(fget, doc=fget.__doc__)
        made.term = term
        return made

    return wrap


# --------------------------------------------------------------------------------------------------
# Client terms
# --------------------------------------------------------------------------------------------------


class TaxTerms(_Terms):
    """The client terms rules match on, as the client's tax profile holds them (terms.md, "Client").

    The first five are required; every other term has a default, so that a document written before a term
    existed still reads. In the order of terms.md, then the extensions (rules/README.md).
    """

    legal_form: Annotated[LegalForm, Term("Forma prawna", "Legal form", "JDG, s.c., sp.j., sp.k., sp.p., sp. z o.o., "
                                          "P.S.A., S.A., fundacja, stowarzyszenie")]
    books: Annotated[Books, Term("Ewidencja", "Books", "księgi rachunkowe, KPiR, ewidencja przychodów (ryczałt)")]
    income_tax: Annotated[IncomeTax, Term("Podatek dochodowy", "Income tax", "how the business's income is taxed")]
    income_tax_advances: Annotated[IncomeTaxAdvances, Term("Zaliczki", "Income tax advances",
                                                           "zaliczki / ryczałt payment rhythm")]
    vat: Annotated[VatPeriod, Term("VAT", "VAT", "VAT payer and settlement period (none = exempt)")]
    vat_eu: Annotated[StrictBool, Term("Składa VAT-UE", "Files VAT-UE",
                                       "files VAT-UE (intra-EU supplies/services)")] = False
    employees: Annotated[StrictInt, Field(ge=0), Term(
        "Liczba pracowników", "Employees",
        "people on employment contracts or civil-law contracts on payroll")] = 0
    ppk: Annotated[StrictBool, Term("Prowadzi PPK", "Runs PPK", "runs PPK (employee capital plans)")] = False
    fiscal_year_end: Annotated[StrictStr, Term(
        "Koniec roku obrotowego", "Fiscal year end", "MM-DD, the last day of a month; end of the tax/financial year"
    )] = "12-31"
    # Left out, it follows the legal form: every form except a sole trader and s.c. is registered in KRS.
    in_krs: Annotated[StrictBool, Term("Wpisany do KRS", "Registered in KRS",
                                       "files financial statements with KRS; default follows the legal form")] = (
        None  # type: ignore[assignment]  # filled in by _default_in_krs
    )
    intrastat: Annotated[StrictBool, Term("Składa deklaracje INTRASTAT", "Files Intrastat declarations",
                                          "intra-EU arrivals or dispatches above the Intrastat threshold this year")
                         ] = False
    pfron: Annotated[StrictBool, Term("Wpłaca składki PFRON", "Pays PFRON contributions",
                                      "owes PFRON contributions: ≥ 25 FTE and < 6 % disabled employees")] = False
    flat_rate_withholding: Annotated[StrictBool, Term(
        "Pobiera zryczałtowany podatek", "Withholds flat-rate tax",
        "as a payer, withheld flat-rate PIT (e.g. contracts up to 200 zł, art. 30 PIT): files PIT-8AR")] = False

    @derived_term(Term("Osoba prawna", "Legal person",
                       "derived: true for llc, simple_joint_stock, joint_stock, foundation, association"))
    def legal_person(self) -> bool:
        return self.legal_form in LEGAL_PERSONS

    @model_validator(mode="before")
    @classmethod
    def _default_in_krs(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("in_krs") is None and isinstance(data.get("legal_form"), str):
            form = LegalForm._value2member_map_.get(data["legal_form"])
            if form is not None:
                data = {**data, "in_krs": form not in NOT_IN_KRS}
        return data

    @field_validator("fiscal_year_end")
    @classmethod
    def _month_end(cls, value: str) -> str:
        match = _FISCAL_YEAR_END.match(value)
        month, day = (int(match[1]), int(match[2])) if match else (0, 0)
        if not 1 <= month <= 12:
            raise terms_error(f"fiscal_year_end is written MM-DD, e.g. 12-31; got {value}")
        # A fiscal year is 12 full calendar months (ustawa o rachunkowości, art. 3), so it ends on a
        # month's last day; February is written 02-28 and means the 29th in leap years.
        last = calendar.monthrange(2001, month)[1]
        if day != last:
            raise terms_error(f"a fiscal year ends on the last day of a month: write {month:02d}-{last:02d}")
        return value


IDENTIFIERS = ("nip", "regon", "krs", "pesel")


class ClientTerms(TaxTerms):
    """The `client` object of a terms document: the tax terms plus identifiers (checked for their form here;
    the contracts service checks their check digits). The contracts service never sends PESEL."""

    nip: Annotated[StrictStr | None, Field(pattern=r"^\d{10}$"), Term("NIP", "NIP", "tax identification number")] = None
    regon: Annotated[StrictStr | None, Field(pattern=r"^(\d{9}|\d{14})$"),
                     Term("REGON", "REGON", "statistical number, 9 or 14 digits")] = None
    krs: Annotated[StrictStr | None, Field(pattern=r"^\d{10}$"),
                   Term("KRS", "KRS", "court register number, 10 digits")] = None
    pesel: Annotated[StrictStr | None, Field(pattern=r"^\d{11}$"),
                     Term("PESEL", "PESEL", "personal number; natural persons only, never sent in terms")] = None


# --------------------------------------------------------------------------------------------------
# Contract terms: services with their parameters, start, end
# --------------------------------------------------------------------------------------------------


class NoParameters(_Terms):
    """A service that takes no parameters."""


class PayrollParameters(_Terms):
    headcount_limit: Annotated[StrictInt | None, Field(ge=1), Term(
        "Limit osób na liście płac", "Payroll headcount limit",
        "the most people on payroll the fee covers; a whole number, at least 1")] = None


# Parameters a service may carry. Extend here, never rename.
SERVICE_PARAMETERS: dict[Service, type[_Terms]] = {Service.payroll: PayrollParameters}

ParameterValue = StrictInt | StrictBool | StrictStr


def parameters_model(service: Service) -> type[_Terms]:
    return SERVICE_PARAMETERS.get(service, NoParameters)


class ServiceScope(_Terms):
    """One service of the vocabulary with its parameters; a bare name is accepted as input.

    `parameters` holds only the parameters given (JSON as stored: `{"headcount_limit": 15}`), each checked
    by the service's model in SERVICE_PARAMETERS; `typed_parameters()` returns that model."""

    model_config = ConfigDict(frozen=True)

    name: Service
    parameters: dict[str, ParameterValue] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _known_parameters(self) -> Self:
        if not self.parameters:
            return self
        model = parameters_model(self.name)
        known = ", ".join(model.model_fields) or "none"
        problems: list[Problem] = []
        for key, value in self.parameters.items():
            if key not in model.model_fields:
                problems.append((("parameters", key), f"{self.name} takes no parameter {key!r} (known: {known})",
                                 value))
        if not problems:
            try:
                model.model_validate(self.parameters)
            except ValidationError as error:
                problems += [(("parameters", *e["loc"]), f"{e['loc'][0]}: {e['msg']}", e["input"])
                             for e in error.errors()]
        raise_problems("ServiceScope", problems)
        return self

    def typed_parameters(self) -> _Terms:
        return parameters_model(self.name).model_validate(self.parameters)


# One frozen scope per service without parameters, shared by every document (never change its `parameters`).
_BARE_SCOPES: dict[str, ServiceScope] = {s.value: ServiceScope(name=s) for s in Service}


class ClientDuty(Vocabulary):
    """A duty of the client the contract sets (rules' `duty`): the field of `ClientDuties` that sets it."""

    documents = "documents", "Dokumenty za miesiąc", "The month's documents"
    payroll_data = "payroll_data", "Dane kadrowo-płacowe", "Payroll data"
    bank_statements = "bank_statements", "Wyciągi bankowe", "Bank statements"
    statements_signing = "statements_signing", "Podpisanie sprawozdania finansowego", "Signing the financial statements"


DutyDay = Annotated[StrictInt | None, Field(ge=1, le=31)]


class ClientDuties(_Terms):
    """The client's duties the contract sets (issue 12): each left out (None, False) is no duty. A day is the day
    of the month after the period by which the client delivers (31 in a shorter month: its last day); the free-day
    shift of the business calendar applies (rules/client.yaml)."""

    model_config = ConfigDict(frozen=True)

    documents_day: Annotated[DutyDay, Term(
        "Dokumenty do dnia", "Documents by day",
        "the client delivers the month's documents by this day of the next month")] = None
    payroll_data_day: Annotated[DutyDay, Term(
        "Dane płacowe do dnia", "Payroll data by day",
        "the client delivers the month's payroll data (hours, sick leave) by this day of the next month")] = None
    bank_statements_day: Annotated[DutyDay, Term(
        "Wyciągi bankowe do dnia", "Bank statements by day",
        "the client delivers the month's bank statements by this day of the next month")] = None
    statements_signing: Annotated[StrictBool, Term(
        "Podpisanie sprawozdania", "Signing the financial statements",
        "the client's management signs the financial statements before the approval date (statutory)")] = False

    def day_of(self, duty: ClientDuty) -> int | None:
        """The day the contract sets for a day duty; None: no such duty."""
        value = getattr(self, f"{duty.value}_day", None)
        return value if isinstance(value, int) else None

    def has(self, duty: ClientDuty) -> bool:
        if duty is ClientDuty.statements_signing:
            return self.statements_signing
        return self.day_of(duty) is not None

    def given(self) -> dict[str, Any]:
        """The duties set, JSON-ready (what a terms document carries)."""
        return {k: v for k, v in self.model_dump().items() if v not in (None, False)}


NO_CLIENT_DUTIES = ClientDuties()


class ContractTerms(_Terms):
    """The part of a contract rules read: which services (each once), from when, until when."""

    services: list[ServiceScope]
    start: LocalDate
    end: LocalDate | None = None  # open-ended until notice is given
    # When this version was signed: the contract (may be after `start`: an office often signs on the 29th a
    # contract that runs from the 1st) or its annex. Rules count from the first version's. Left out: not known.
    signed_on: LocalDate | None = None
    # The day notice of termination was given (or the termination agreed); set only by a termination.
    notice_on: LocalDate | None = None
    # The client's duties (documents by day N of the next month, …); none set: no client duty is tracked.
    client_duties: ClientDuties = NO_CLIENT_DUTIES

    @field_validator("services", mode="before")
    @classmethod
    def _known_names(cls, value: Any) -> Any:
        # The usual input, a service's bare name, becomes its scope without validating it again: the scheduler
        # reads every stored version of every contract. Anything else is validated as written.
        if isinstance(value, list):
            return [_BARE_SCOPES.get(item, item) if isinstance(item, str) else item for item in value]
        return value

    @field_validator("services")
    @classmethod
    def _each_once(cls, services: list[ServiceScope]) -> list[ServiceScope]:
        if len({s.name for s in services}) == len(services):
            return services
        names = [s.name.value for s in services]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise terms_error(f"each service is listed once; listed more than once: {', '.join(twice)}")
        return services

    @field_validator("end")
    @classmethod
    def _not_before_start(cls, end: date | None, info: ValidationInfo) -> date | None:
        # A field validator (not a model one), so it is reported beside the other fields' errors.
        start = info.data.get("start")
        if end is not None and start is not None and end < start:
            raise terms_error(f"end {end.isoformat()} is before start {start.isoformat()}")
        return end

    @field_validator("notice_on")
    @classmethod
    def _notice_not_after_end(cls, notice_on: date | None, info: ValidationInfo) -> date | None:
        end = info.data.get("end")
        if notice_on is not None and end is not None and notice_on > end:
            raise terms_error(f"notice given on {notice_on.isoformat()}, after the end {end.isoformat()}")
        return notice_on

    def has(self, service: Service) -> bool:
        return any(s.name is service for s in self.services)

    def service_names(self) -> list[Service]:
        return [s.name for s in self.services]


# --------------------------------------------------------------------------------------------------
# The terms document
# --------------------------------------------------------------------------------------------------


_OPTIONAL_CONTRACT_DATES = ("signed_on", "notice_on")


class TermsDocument(_Terms):
    """A contract's terms as one document: what contract events carry, the scheduler stores and plans with,
    and `terminarz plan --terms FILE` reads.

    JSON (terms.md): `{"client": {"legal_form": …, <identifiers given>, <the other terms>}, "contract":
    {"services": ["vat", …], "start": "2026-01-01", "end": null, "signed_on": "2025-12-29", "notice_on": …,
    "parameters": {"payroll": {…}}}}` — services as names, `parameters` only when a service has some,
    `signed_on` and `notice_on` only when known. A service may also be given as
    `{"name": …, "parameters": {…}}`. model_dump(mode="json") and to_json() give that shape."""

    client: ClientTerms
    contract: ContractTerms

    @model_validator(mode="before")
    @classmethod
    def _parameters_by_service(cls, data: Any) -> Any:
        contract = data.get("contract") if isinstance(data, Mapping) else None
        if isinstance(contract, Mapping) and "parameters" in contract:
            contract = dict(contract)
            parameters = contract.pop("parameters")
            if not isinstance(parameters, Mapping):
                raise_problems("TermsDocument", [(("contract", "parameters"), "an object of parameters by service "
                                                                                "name", parameters)])
            services = contract.get("services")
            if isinstance(services, list):
                contract["services"] = [
                    {"name": s, "parameters": parameters.get(s, {})} if isinstance(s, str) else s for s in services
                ]
                raise_problems("TermsDocument", [
                    (("contract", "parameters", str(name)), f"names {name!r}, which is not among the services", name)
                    for name in sorted(map(str, set(parameters) - {s for s in services if isinstance(s, str)}))])
            data = {**data, "contract": contract}
        return data

    @model_serializer(mode="wrap")
    def _as_terms_md(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped = handler(self)
        client: dict[str, Any] = dumped["client"]
        identifiers = {k: client.pop(k) for k in IDENTIFIERS}
        contract: dict[str, Any] = dumped["contract"]
        services = contract.pop("services")
        parameters = {s["name"]: s["parameters"] for s in services if s["parameters"]}
        # Dates not known are left out, so that a document written before they existed reads the same.
        for optional in _OPTIONAL_CONTRACT_DATES:
            if contract.get(optional) is None:
                contract.pop(optional, None)
        # The client's duties only when some is set, so that a document written before them reads the same.
        duties = {k: v for k, v in (contract.pop("client_duties", None) or {}).items() if v not in (None, False)}
        if duties:
            contract["client_duties"] = duties
        return {
            "client": {"legal_form": client.pop("legal_form"),
                       **{k: v for k, v in identifiers.items() if v is not None}, **client},
            "contract": {"services": [s["name"] for s in services], **contract,
                         **({"parameters": parameters} if parameters else {})},
        }

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready dict of terms.md."""
        return self.model_dump(mode="json")


# --------------------------------------------------------------------------------------------------
# What the vocabulary holds, for the rule language, the UI and the glossary
# --------------------------------------------------------------------------------------------------

TermKind = Literal["enum", "bool", "int", "str"]


@dataclass(frozen=True)
class TermInfo:
    """One term as rule files name it: `client.vat`, `client.legal_person`, `service.payroll`,
    `payroll.headcount_limit`; its kind, labels and, for an enum, its values."""

    name: str
    field: str
    kind: TermKind
    term: Term
    values: tuple[Vocabulary, ...] = ()
    derived: bool = False
    required: bool = False
    default: Any = None

    @property
    def label(self) -> Label:
        return self.term.label


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type, whether None is allowed) of a field annotation such as `Annotated[str, Strict()] | None`."""
    optional = False
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        annotation, optional = (args[0] if len(args) == 1 else annotation), True
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation, optional


def _kind(owner: str, annotation: Any) -> tuple[TermKind, tuple[Vocabulary, ...]]:
    kind, _ = _unwrap(annotation)
    if isinstance(kind, type) and issubclass(kind, Vocabulary):
        return "enum", tuple(kind)
    if kind is bool:
        return "bool", ()
    if kind is int:
        return "int", ()
    if kind is str:
        return "str", ()
    raise TypeError(f"{owner}: a term is an enum (Vocabulary), bool, int or str, not {annotation!r}")


def _fields(prefix: str, model: type[BaseModel]) -> Iterator[TermInfo]:
    for name, info in model.model_fields.items():
        term = next((m for m in info.metadata if isinstance(m, Term)), None)
        if term is None:
            raise TypeError(f"{model.__name__}.{name} has no Term(...) with its labels")
        kind, values = _kind(f"{model.__name__}.{name}", info.annotation)
        yield TermInfo(f"{prefix}.{name}", name, kind, term, values, required=info.is_required(),
                       default=None if info.is_required() else info.default)
    for name in dir(model):
        attribute = getattr(model, name, None)
        if isinstance(attribute, DerivedTerm) and attribute.fget is not None:
            kind, values = _kind(f"{model.__name__}.{name}", get_type_hints(attribute.fget).get("return"))
            yield TermInfo(f"{prefix}.{name}", name, kind, attribute.term, values, derived=True)


def client_terms() -> tuple[TermInfo, ...]:
    """Every client term (`client.<name>`), the given ones in model order, then the derived ones."""
    return _CLIENT_TERMS


def service_terms() -> tuple[TermInfo, ...]:
    """`service.<name>` for each service: true when the contract includes it."""
    return _SERVICE_TERMS


def parameter_terms() -> tuple[TermInfo, ...]:
    """`<service>.<parameter>` for each service parameter."""
    return tuple(t for service, model in SERVICE_PARAMETERS.items() for t in _fields(service.value, model))


_CLIENT_TERMS = tuple(_fields("client", ClientTerms))
_SERVICE_TERMS = tuple(
    TermInfo(f"service.{s.value}", s.value, "bool", Term(s.label.pl, s.label.en)) for s in Service
)


def term_labels(language: Language = "pl") -> dict[str, str]:
    """{field name: label} of every client term and service parameter, e.g. {"books": "Ewidencja", …}."""
    return {t.field: getattr(t.label, language) for t in (*client_terms(), *parameter_terms())}


# --------------------------------------------------------------------------------------------------
# The glossary section of docs/glossary.md
# --------------------------------------------------------------------------------------------------

GLOSSARY_BEGIN = "<!-- terms: generated from services/common/terms.py; python -m services.common.terms -->"
GLOSSARY_END = "<!-- end of terms -->"


def _values(info: TermInfo) -> str:
    if info.kind == "enum":
        return "<br>".join(f"`{v.value}` – {v.label.pl}" for v in info.values)
    if info.derived:
        return "true/false (derived)"
    return {"bool": "true/false", "int": "whole number ≥ 0", "str": "text"}[info.kind] + (
        f", default `{info.default}`" if info.kind == "str" and info.default else "")


def glossary_markdown() -> str:
    """The vocabulary as the glossary's tables: every term, its Polish label, its values with theirs."""
    lines = [GLOSSARY_BEGIN, "", "### Client terms (`client.<term>` in rule files)", "",
             "| term | UI (pl) | values | meaning |", "|---|---|---|---|"]
    for info in client_terms():
        lines.append(f"| `{info.field}` | {info.label.pl} | {_values(info)} | {info.term.meaning} |")
    lines += ["", "### Services (`service: <name>` in rule files)", "", "| service | UI (pl) | parameters |",
              "|---|---|---|"]
    for service in Service:
        params = ", ".join(f"`{t.field}` ({t.label.pl})" for t in _fields(service.value, parameters_model(service)))
        lines.append(f"| `{service.value}` | {service.label.pl} | {params or '—'} |")
    lines += ["", "### The client's duties (`contract.client_duties`; rules' `duty`, `party: client`)", "",
              "| term | UI (pl) | values | meaning |", "|---|---|---|---|"]
    for info in _fields("client_duties", ClientDuties):
        values = "true/false, default false" if info.kind == "bool" else "day 1–31, or none (no such duty)"
        lines.append(f"| `{info.field}` | {info.label.pl} | {values} | {info.term.meaning} |")
    lines += ["", "### Team roles (`role` in rule files)", "", "| role | UI (pl) |", "|---|---|"]
    lines += [f"| `{role.value}` | {role.label.pl} |" for role in TeamRole]
    lines += ["", GLOSSARY_END]
    return "\n".join(lines) + "\n"


def write_glossary(text: str) -> str:
    """`text` (the glossary) with its generated section replaced by glossary_markdown()."""
    begin, end = text.index(GLOSSARY_BEGIN), text.index(GLOSSARY_END) + len(GLOSSARY_END) + 1
    return text[:begin] + glossary_markdown() + text[end:]


if __name__ == "__main__":  # python -m services.common.terms: rewrite docs/glossary.md's generated section
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "docs" / "glossary.md"
    path.write_text(write_glossary(path.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {path}")
