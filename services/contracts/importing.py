"""Bulk onboarding from CSV: check a whole file of clients and contracts without touching storage."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from services.common.terms import TaxTerms, TermInfo, client_terms
from services.common.text import decode_upload
from services.contracts.domain import ClientIn, ContractDraft, InvalidIdentifier, normalize_nip


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    meaning: str
    meaning_pl: str = ""  # for the import page's column guide


# The tax profile's columns are its terms (services/common/terms.py), one column each, named as the term.
_PROFILE_TERMS = {info.field: info for info in client_terms() if info.field in TaxTerms.model_fields}


def _term_column(info: TermInfo) -> Column:
    values_pl = "; ".join(f"{v.value} = {v.label.pl}" for v in info.values)
    meaning_pl = info.term.pl + (f": {values_pl}" if values_pl else (
        " (tak/nie)" if info.kind == "bool" else "")) + (
        "" if info.default in (None, "") or info.kind == "bool" else f"; domyślnie {info.default}")
    if info.kind == "enum":
        meaning = ", ".join(v.value for v in info.values)
    elif info.kind == "bool":
        meaning = f"yes/no, default {'yes' if info.default else 'no'}" if info.default is not None else (
            f"yes/no; {info.term.meaning}")
    elif info.kind == "int":
        meaning = f"whole number, default {info.default}"
    else:
        meaning = f"{info.term.meaning}; default {info.default}"
    return Column(info.field, info.required, meaning, meaning_pl)


# One row is one client with one contract. The order is the order of the sample file and the README.
COLUMNS: tuple[Column, ...] = (
    Column("client_name", True, "client's name as on its registration", "nazwa klienta jak w rejestrze"),
    _term_column(_PROFILE_TERMS["legal_form"]),
    Column("nip", True, "NIP; PL prefix, spaces and dashes allowed", "NIP; prefiks PL, spacje i myślniki dozwolone"),
    Column("regon", True, "REGON, 9 or 14 digits", "REGON, 9 lub 14 cyfr"),
    Column("pesel", False, "PESEL: required for sole_trader, must be empty otherwise",
           "PESEL: wymagany dla jednoosobowej działalności, pusty dla innych"),
    Column("krs", False, "KRS number; required when in_krs is true", "numer KRS; wymagany, gdy in_krs = yes"),
    Column("street", True, "street, building and unit", "ulica, numer budynku i lokalu"),
    Column("postal_code", True, "NN-NNN for Polish addresses", "kod pocztowy NN-NNN"),
    Column("city", True, "city", "miejscowość"),
    Column("country", False, "ISO country code, default PL", "kod kraju ISO, domyślnie PL"),
    Column("emails", True, "contact e-mails separated by ; (notices go to all)",
           "adresy e-mail oddzielone średnikiem (zawiadomienia idą na wszystkie)"),
    Column("language", False, "pl or en, default pl", "pl lub en, domyślnie pl"),
    *(_term_column(info) for name, info in _PROFILE_TERMS.items() if name != "legal_form"),
    Column("contract_number", True, "contract number, unique in the file and the book",
           "numer umowy, niepowtarzalny w pliku i w biurze"),
    Column("signed_on", True, "date signed", "data podpisania (RRRR-MM-DD lub DD.MM.RRRR)"),
    Column("start", True, "first day the contract covers", "pierwszy dzień objęty umową"),
    Column("end", False, "last day, empty for an open-ended contract",
           "ostatni dzień; puste dla umowy na czas nieokreślony"),
    Column("notice_period_months", True, "whole months", "okres wypowiedzenia w pełnych miesiącach"),
    Column("services", True, "services separated by ; e.g. bookkeeping;vat;zus",
           "usługi oddzielone średnikiem, np. bookkeeping;vat;zus"),
    Column("payroll_headcount_limit", False, "payroll parameter headcount_limit",
           "limit osób na liście płac (usługa payroll)"),
    Column("fee_monthly_net", True, "monthly fee, net PLN", "opłata miesięczna netto w zł"),
    Column("vat_rate", False, "VAT rate in percent: 23, 8, 5 or 0; default 23",
           "stawka VAT w %: 23, 8, 5 lub 0; domyślnie 23"),
    Column("fee_per_employee", False, "PLN net per employee per month", "zł netto za pracownika miesięcznie"),
    Column("fee_per_document", False, "PLN net per document above document_threshold",
           "zł netto za dokument ponad limit"),
    Column("document_threshold", False, "documents a month covered by the fee",
           "liczba dokumentów w miesiącu objęta opłatą"),
    Column("documents_day", False, "the client's duty: the month's documents by this day of the next month (1-31); "
           "empty: no such duty", "obowiązek klienta: dokumenty za miesiąc do tego dnia następnego miesiąca (1-31); "
           "puste: brak"),
    Column("payroll_data_day", False, "the client's duty: the month's payroll data by this day of the next month",
           "obowiązek klienta: dane kadrowo-płacowe za miesiąc do tego dnia następnego miesiąca"),
    Column("bank_statements_day", False, "the client's duty: the month's bank statements by this day of the next "
           "month", "obowiązek klienta: wyciągi bankowe za miesiąc do tego dnia następnego miesiąca"),
    Column("statements_signing", False, "yes/no, default no: the client's management signs the financial statements "
           "before the approval date", "tak/nie, domyślnie nie: klient podpisuje sprawozdanie finansowe przed "
           "zatwierdzeniem"),
    Column("accountant", True, "login of the responsible accountant", "login księgowej/księgowego prowadzącej/go"),
    Column("payroll", False, "login of the payroll specialist; required with the payroll service",
           "login specjalisty ds. płac; wymagany przy usłudze payroll"),
    Column("manager", False, "login of the supervising manager", "login nadzorującego kierownika"),
)
_KNOWN = {c.name: c for c in COLUMNS}
_BOOL_COLUMNS = (*(name for name, info in _PROFILE_TERMS.items() if info.kind == "bool"), "statements_signing")
_INT_COLUMNS = ("notice_period_months", "document_threshold", "payroll_headcount_limit", "documents_day",
                "payroll_data_day", "bank_statements_day",
                *(name for name, info in _PROFILE_TERMS.items() if info.kind == "int"))
_MONEY_COLUMNS = ("fee_monthly_net", "fee_per_employee", "fee_per_document", "vat_rate")
_DATE_COLUMNS = ("signed_on", "start", "end")
_TRUE = {"true", "t", "yes", "y", "tak", "1"}  # tak/nie: files come from Polish offices
_FALSE = {"false", "f", "no", "n", "nie", "0"}
_LIST_SEPARATORS = re.compile(r"[;,\s]+")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PL_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")  # what Polish Excel shows and saves
_E_NOTATION = re.compile(r"^\d+([.,]\d+)?[eE]\+?\d+$")


@dataclass(frozen=True)
class ImportLimits:
    """How large a file the check reads (settings TERMINARZ_IMPORT_MAX_*); room for a 50,000-contract import."""

    max_rows: int = 100_000
    max_columns: int = 100
    max_field_chars: int = 1_000


@dataclass(frozen=True)
class RowError:
    """A problem in one cell (or row) of the file, numbered as a spreadsheet numbers rows."""

    row: int  # the header is row 1, so the first data row is row 2
    field: str  # the CSV column to fix; "" when the problem is the row or the file as a whole
    message: str


@dataclass(frozen=True)
class ImportRow:
    """One valid row: a client and its contract; the contract belongs to the client with this NIP."""

    row: int
    client: ClientIn
    contract: ContractDraft

    @property
    def client_nip(self) -> str:
        return self.client.nip


@dataclass(frozen=True)
class ImportReport:
    """The dry run's outcome; apply it only when `ok`."""

    rows: tuple[ImportRow, ...] = ()
    errors: tuple[RowError, ...] = ()
    delimiter: str = ","
    data_rows: int = 0  # non-blank data rows read

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)

    @property
    def bad_rows(self) -> list[int]:
        return sorted({e.row for e in self.errors})


def decode_csv(data: bytes) -> str:
    """Text of an uploaded file: UTF-8 (with or without BOM), else Windows-1250 as older Excel saves.

    Raises UndecodableText (naming the line and byte) for bytes that are neither.
    """
    return decode_upload(data)


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


class _CellError(Exception):
    pass


def _to_bool(value: str) -> bool:
    low = value.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise _CellError(f"expected yes or no (also tak/nie, true/false, 1/0), got {value!r}")


def _to_int(value: str) -> int:
    compact = value.replace(" ", "").replace("\u00a0", "")
    if not compact.isdigit():
        raise _CellError(f"expected a whole number, got {value!r}")
    return int(compact)


def _to_amount(value: str) -> str:
    # Kept as text: the model parses it as Decimal. Polish spreadsheets write "1 200,50".
    compact = re.sub(r"[\s\u00a0]", "", value).removesuffix("%").removesuffix("zł").removesuffix("PLN")
    if "," in compact and "." in compact:
        raise _CellError(f"write the amount without thousand separators, e.g. 1200.50, got {value!r}")
    return compact.replace(",", ".")


def _to_date(value: str) -> str:
    if _ISO_DATE.match(value):
        return value
    match = _PL_DATE.match(value)
    if match:
        return f"{match[3]}-{int(match[2]):02d}-{int(match[1]):02d}"
    raise _CellError(f"expected a date as YYYY-MM-DD or DD.MM.YYYY, got {value!r}")


def _to_list(value: str) -> list[str]:
    return [item for item in _LIST_SEPARATORS.split(value) if item]


def _identifier(lengths_short: dict[int, int]) -> Callable[[str], str]:
    # Excel reads an identifier column as numbers and drops leading zeros (REGONs of voivodeships
    # 02-08, PESELs of people born 2000-2009); put them back. The checksum still guards the result.
    def convert(value: str) -> str:
        if _E_NOTATION.match(value):
            raise _CellError(f"the spreadsheet shows {value!r}: format the column as text and export again")
        digits = value.replace(" ", "").replace("-", "")
        if digits.isdigit() and len(digits) in lengths_short:
            return digits.zfill(lengths_short[len(digits)])
        return value

    return convert


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    **dict.fromkeys(_BOOL_COLUMNS, _to_bool),
    **dict.fromkeys(_INT_COLUMNS, _to_int),
    **dict.fromkeys(_MONEY_COLUMNS, _to_amount),
    **dict.fromkeys(_DATE_COLUMNS, _to_date),
    "emails": _to_list,
    "services": _to_list,
    "nip": _identifier({}),
    "regon": _identifier({8: 9, 13: 14}),
    "pesel": _identifier({9: 11, 10: 11}),
}

_PROFILE_COLUMNS = tuple(_PROFILE_TERMS)
# Where each column goes in ClientIn / ContractDraft; the reverse map names the column in errors.
_CLIENT_PATHS: dict[str, tuple[str, ...]] = {
    "client_name": ("name",),
    "nip": ("nip",),
    "regon": ("regon",),
    "pesel": ("pesel",),
    "krs": ("krs",),
    "street": ("address", "street"),
    "postal_code": ("address", "postal_code"),
    "city": ("address", "city"),
    "country": ("address", "country"),
    "emails": ("contact_emails",),
    "language": ("language",),
    **{c: ("tax_profile", c) for c in _PROFILE_COLUMNS},
}
_CONTRACT_PATHS: dict[str, tuple[str, ...]] = {
    "contract_number": ("number",),
    "signed_on": ("signed_on",),
    "start": ("start",),
    "end": ("end",),
    "notice_period_months": ("notice_period_months",),
    "services": ("services",),
    "fee_monthly_net": ("fee", "monthly_net"),
    "vat_rate": ("fee", "vat_rate"),
    "fee_per_employee": ("fee", "per_employee"),
    "fee_per_document": ("fee", "per_document"),
    "document_threshold": ("fee", "document_threshold"),
    "documents_day": ("client_duties", "documents_day"),
    "payroll_data_day": ("client_duties", "payroll_data_day"),
    "bank_statements_day": ("client_duties", "bank_statements_day"),
    "statements_signing": ("client_duties", "statements_signing"),
    "accountant": ("team", "accountant"),
    "payroll": ("team", "payroll"),
    "manager": ("team", "manager"),
}


def _column_of(paths: dict[str, tuple[str, ...]], loc: tuple[str | int, ...]) -> str:
    if loc[:1] == ("services",) and "parameters" in loc:
        return "payroll_headcount_limit"
    best = ""
    for column, path in paths.items():
        if loc[: len(path)] == path and len(path) > len(paths.get(best, ())):
            best = column
    return best or ".".join(str(p) for p in loc)


def _nest(paths: dict[str, tuple[str, ...]], cells: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for column, value in cells.items():
        path = paths.get(column)
        if path is None:
            continue
        target = data
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return data


def _model_errors(
    row: int, model: type[BaseModel], data: dict[str, Any], paths: dict[str, tuple[str, ...]]
) -> tuple[Any, list[RowError]]:
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            loc = tuple(e["loc"])
            column = _column_of(paths, loc)
            message = str(e["msg"]).removeprefix("Value error, ")
            if e["type"] == "missing":
                message = "required, but the cell is empty"
            elif isinstance(e.get("input"), str) and e["input"] and repr(e["input"]) not in message:
                message = f"{message} (got {e['input']!r})"
            errors.append(RowError(row, column, message))
        return None, errors


def _check_row(row: int, cells: dict[str, str]) -> tuple[ImportRow | None, list[RowError]]:
    errors: list[RowError] = []
    values: dict[str, Any] = {}
    for column, raw in cells.items():
        if raw == "":
            continue  # an empty cell is an absent value: the model's default or its "required" error
        try:
            values[column] = _CONVERTERS.get(column, str)(raw)
        except _CellError as exc:
            errors.append(RowError(row, column, str(exc)))

    limit = values.pop("payroll_headcount_limit", None)
    if limit is not None:
        services = values.get("services", [])
        if "payroll" in services:
            services[services.index("payroll")] = {
                "name": "payroll",
                "parameters": {"headcount_limit": limit},
            }
        else:
            errors.append(RowError(row, "payroll_headcount_limit", "given, but services do not include payroll"))

    client, client_errors = _model_errors(row, ClientIn, _nest(_CLIENT_PATHS, values), _CLIENT_PATHS)
    contract, contract_errors = _model_errors(row, ContractDraft, _nest(_CONTRACT_PATHS, values), _CONTRACT_PATHS)
    # A cell that could not be read is reported once, not again as "required".
    unreadable = {e.field for e in errors}
    errors += [e for e in client_errors + contract_errors if e.field not in unreadable]
    if errors:
        return None, errors
    return ImportRow(row=row, client=client, contract=contract), []


@dataclass
class _Seen:
    """First row of each NIP and contract number, to report later rows as duplicates."""

    nips: dict[str, int] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)


def _duplicates(
    row: int, cells: dict[str, str], seen: _Seen, existing_nips: set[str], existing_numbers: set[str]
) -> list[RowError]:
    errors = []
    try:
        nip: str | None = normalize_nip(cells.get("nip", ""))
    except InvalidIdentifier:
        nip = None  # reported by the row's own checks
    if nip is not None:
        if nip in existing_nips:
            errors.append(RowError(row, "nip", f"a client with NIP {nip} is already in the book"))
        elif nip in seen.nips:
            errors.append(RowError(row, "nip", f"NIP {nip} is already used in row {seen.nips[nip]}"))
        else:
            seen.nips[nip] = row
    number = cells.get("contract_number", "").strip()
    key = number.casefold()  # "UM/1/2026" and "um/1/2026" are one number to a person
    if key:
        if key in existing_numbers:
            errors.append(RowError(row, "contract_number", f"contract {number} is already in the book"))
        elif key in seen.numbers:
            errors.append(
                RowError(row, "contract_number", f"contract {number} is already used in row {seen.numbers[key]}")
            )
        else:
            seen.numbers[key] = row
    return errors


def _header_errors(header: list[str], limits: ImportLimits) -> list[RowError]:
    if len(header) > limits.max_columns:
        return [RowError(1, "", (
            f"the header has {len(header)} columns; at most {limits.max_columns} are read "
            "(TERMINARZ_IMPORT_MAX_COLUMNS), and the columns are listed in the contracts README"))]
    errors = []
    counts = Counter(header)
    for name in sorted(n for n, count in counts.items() if n and count > 1):
        errors.append(RowError(1, name, "column appears more than once"))
    for name in counts:  # each distinct name once, in the header's order
        if name and name not in _KNOWN:
            errors.append(RowError(1, name, "unknown column; the columns are listed in the contracts README"))
    for column in COLUMNS:
        if column.required and column.name not in counts:
            errors.append(RowError(1, column.name, "required column is missing"))
    return errors


def parse_import(
    text: str,
    *,
    existing_nips: Collection[str] = (),
    existing_contract_numbers: Collection[str] = (),
    limits: ImportLimits = ImportLimits(),
) -> ImportReport:
    """Check every row of an onboarding CSV and report all problems; never raises for bad content.

    Rows are numbered as in a spreadsheet: the header is row 1 and the first data row is row 2
    (a quoted cell spanning lines is still one row). Blank rows are skipped. The delimiter is `,`,
    `;` or a tab, whichever the header uses most. `existing_*` are what the book already holds;
    a row repeating one of them is an error, since onboarding creates clients and contracts.
    A file larger than `limits` allow is refused where it passes them (a row, a cell or the header).
    """
    text = text.removeprefix("\ufeff")
    first_line = next((line for line in io.StringIO(text) if line.strip()), "")
    delimiter = _sniff_delimiter(first_line)
    known_nips = set()
    for nip in existing_nips:
        try:
            known_nips.add(normalize_nip(nip))
        except InvalidIdentifier:
            continue  # the book's own data is not this file's problem
    known_numbers = {n.strip().casefold() for n in existing_contract_numbers}

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    seen = _Seen()
    header: list[str] | None = None
    data_rows = 0
    number = 0
    try:
        for number, record in enumerate(reader, start=1):
            cells = [c.strip() for c in record]
            if not any(cells):
                continue
            if header is None:
                header = [c.lower() for c in cells]
                errors += _header_errors(header, limits)
                if errors:
                    break  # without the right columns every row would repeat the same complaint
                continue
            data_rows += 1
            if data_rows > limits.max_rows:
                errors.append(RowError(number, "", (
                    f"the file has more than {limits.max_rows} data rows (TERMINARZ_IMPORT_MAX_ROWS); "
                    "split it into smaller files")))
                break
            if len(cells) > len(header):
                errors.append(
                    RowError(
                        number,
                        "",
                        f"row has {len(cells)} cells but the header has {len(header)}; "
                        "a value containing the delimiter must be quoted",
                    )
                )
                continue
            named = dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=True))
            named.pop("", None)
            too_long = [RowError(number, column, f"the cell has {len(value)} characters; at most "
                                 f"{limits.max_field_chars} are read (TERMINARZ_IMPORT_MAX_FIELD_CHARS)")
                        for column, value in named.items() if len(value) > limits.max_field_chars]
            if too_long:
                errors += too_long
                continue
            parsed, row_errors = _check_row(number, named)
            row_errors += _duplicates(number, named, seen, known_nips, known_numbers)
            if row_errors:
                errors += row_errors
            elif parsed is not None:
                rows.append(parsed)
    except csv.Error as exc:
        errors.append(RowError(number + 1, "", f"the file is not valid CSV here: {exc}"))

    if header is None:
        errors.append(RowError(1, "", "the file is empty: expected a header row and data rows"))
    elif data_rows == 0 and not errors:
        errors.append(RowError(2, "", "the file has a header but no data rows"))
    return ImportReport(rows=tuple(rows), errors=tuple(errors), delimiter=delimiter, data_rows=data_rows)


def column_guide() -> dict[str, Any]:
    """The import page's guide: every column (name, required, meaning in en/pl) and a file to start from — the
    header and the first row of `samples/import.csv`."""
    sample = (Path(__file__).parent / "samples" / "import.csv").read_text(encoding="utf-8").splitlines()
    return {"columns": [{"name": c.name, "required": c.required, "meaning": c.meaning, "meaning_pl": c.meaning_pl}
                        for c in COLUMNS],
            "example": "\r\n".join(sample[:2]) + "\r\n"}
