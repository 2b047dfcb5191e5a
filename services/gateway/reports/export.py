"""Reports as tables, and the tables as files: XLSX (openpyxl; one sheet per table, numbers as numbers, money
with two decimals) and CSV (UTF-8 with BOM so that Excel reads the Polish letters, comma-separated, a dot for
decimals; the report's first table, or the one `sheet` names).

Each `*_tables` function turns what `reports/service.py` returns into `Table`s whose headers, sheet names and
words ("tak"/"nie", "całe biuro") are in the current request's language (`i18n`: the caller's); the data (client
names, contract numbers, months) stays as it is. A cell is a str, int, Decimal (money or share), date or None; an
XLSX date cell is shown day first in either language (`29.11.2026`, `29/11/2026`), a CSV date is ISO.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from services.gateway import format as fmt
from services.gateway import i18n
from services.gateway.i18n import gettext as _
from services.gateway.reports.service import KIND_PL

Cell = str | int | Decimal | date | None
MONEY_FORMAT = "#,##0.00"
SHARE_FORMAT = "0.0%"
DATE_FORMAT = {"pl": "DD.MM.YYYY", "en": "DD/MM/YYYY"}  # as format.py writes a date on the pages


@dataclass(frozen=True)
class Table:
    title: str  # the sheet's name (at most 31 characters)
    headers: list[str]
    rows: list[list[Cell]]
    money: frozenset[int] = frozenset()  # columns holding PLN amounts
    shares: frozenset[int] = frozenset()  # columns holding fractions shown as percent


def _money(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def financial_tables(report: dict[str, Any]) -> list[Table]:
    kinds = report["kinds"]
    head = [_("Miesiąc"), _("Umowa"), _("Klient"), _("Opłata netto"), _("VAT"), _("Opłata brutto"),
            _("Opłata wstępna"), _("Opłata podstawowa"), _("Za dokumenty ponad limit"), _("Za pracowników"),
            _("Dokumenty"), _("Pracownicy"), *[_("Zobowiązania {kind}").format(kind=KIND_PL[k]) for k in kinds],
            _("Zobowiązania razem"), _("Liczba zobowiązań"), _("Potwierdzone"), _("Udział potwierdzonych"),
            _("Powiadomienia wysłane"), _("Powiadomienia potwierdzone"), _("Sprawy zakończone"), _("W terminie"),
            _("Po terminie"), _("Zapłacono"), _("Do zapłaty"), _("Termin płatności"), _("Zaległa")]
    money = frozenset({3, 4, 5, 7, 8, 9, *range(12, 13 + len(kinds)), 22 + len(kinds), 23 + len(kinds)})
    share = 15 + len(kinds)

    def line(r: dict[str, Any], number: str, client: str) -> list[Cell]:
        fee = r["fee"] or {}
        return [r["month"], number, client, _money(fee.get("net")), _money(fee.get("vat")), _money(fee.get("gross")),
                _yes_no(fee.get("provisional")) if fee else "",
                _money(fee.get("base")), _money(fee.get("documents_part")), _money(fee.get("employees_part")),
                fee.get("documents"), fee.get("employees"),
                *[_money(r["liabilities"].get(k, {}).get("amount", "0.00")) for k in kinds],
                _money(r["liabilities_amount"]), r["liabilities_count"], r["confirmed_count"],
                _money(r["confirmed_share"]), r["notices_sent"], r["notices_confirmed"], r["cases_done"],
                r["done_on_time"], r["done_late"], _money(fee.get("paid")), _money(fee.get("outstanding")),
                date.fromisoformat(fee["payment_due"]) if fee.get("payment_due") else None,
                _overdue(fee)]

    contracts = Table(_("Umowy {month}").format(month=report["month"]), head, [line(r, r["number"], r["client_name"])
                                                         for r in report["contracts"]], money, frozenset({share}))
    office = Table(_("Biuro 12 miesięcy"), head, [line(r, "", _("całe biuro")) for r in report["office"]], money,
                   frozenset({share}))
    history = Table(_("Umowy 12 miesięcy"), head, [line(r, r["number"], r["client_name"]) for r in report["history"]],
                    money, frozenset({share}))
    overdue = Table(_("Zaległe opłaty"), [_("Miesiąc"), _("Umowa"), _("Klient"), _("Opłata brutto"), _("Zapłacono"),
                                          _("Do zapłaty"), _("Termin płatności"), _("Dni po terminie")],
                    [[o["month"], o["number"], o["client_name"], _money(o["gross"]), _money(o["paid"]),
                      _money(o["outstanding"]), date.fromisoformat(o["payment_due"]), o["days_late"]]
                     for o in report["overdue_fees"]], frozenset({3, 4, 5}))
    return [contracts, office, history, overdue]


def _yes_no(value: Any) -> str:
    return _("tak") if value else _("nie")


def _overdue(fee: dict[str, Any]) -> Cell:
    """A contract month's overdue flag ("tak"/"nie"), or the office month's overdue amount."""
    value = fee.get("overdue")
    if value is None:
        return None
    if isinstance(value, bool):
        return _yes_no(value)
    return _money(value)


def execution_tables(report: dict[str, Any]) -> list[Table]:
    head = [_("Umowa"), _("Klient"), _("Miesiąc"), _("Do wykonania"), _("W terminie"), _("Po terminie"),
            _("Przeterminowane"), _("Nie dotyczy"), _("Otwarte w terminie"), _("Klient: zadania"),
            _("Klient: w terminie"), _("Klient: po terminie"), _("Klient: zaległe")]
    return [Table(_("Wykonanie umów"), head, [
        [r["number"], r["client_name"], r["month"], r["due"], r["done_on_time"], r["done_late"], r["overdue"],
         r["not_applicable"], r["open"], r.get("client_due", 0), r.get("client_on_time", 0), r.get("client_late", 0),
         r.get("client_overdue", 0)] for r in report["items"]])]


def overdue_tables(report: dict[str, Any]) -> list[Table]:
    nobody = _("(nieprzydzielone)")
    return [
        Table(_("Wg osoby"), [_("Osoba"), _("Login"), _("Przeterminowane"), _("Najstarszy termin")],
              [[r["assignee_name"] or nobody, r["assignee_login"] or "", r["overdue"],
                date.fromisoformat(r["oldest_due"])] for r in report["by_assignee"]]),
        Table(_("Wg klienta"), [_("Klient"), _("Przeterminowane"), _("Najstarszy termin")],
              [[r["client_name"], r["overdue"], date.fromisoformat(r["oldest_due"])] for r in report["by_client"]]),
        Table(_("Wg umowy"), [_("Umowa"), _("Klient"), _("Przeterminowane"), _("Najstarszy termin")],
              [[r["contract_number"], r["client_name"], r["overdue"], date.fromisoformat(r["oldest_due"])]
               for r in report["by_contract"]]),
        Table(_("Zadania klientów"), [_("Klient"), _("Zadania po terminie"), _("Najstarszy termin")],
              [[r["client_name"], r["overdue"], date.fromisoformat(r["oldest_due"])]
               for r in (report.get("client_tasks") or {}).get("by_client", [])]),
    ]


def workload_tables(report: dict[str, Any]) -> list[Table]:
    weeks = report["weeks"]
    head = [_("Osoba"), _("Login"), _("Przeterminowane"), _("Zadania klienta po terminie"),
            *[_("{week} (od {start})").format(week=w["iso_week"], start=fmt.day(date.fromisoformat(w["start"])))
              for w in weeks],
            _("Nieobecności")]
    rows: list[list[Cell]] = []
    for p in report["people"]:
        absent = "; ".join(_absence(w["iso_week"], a) for w, a in zip(weeks, p.get("absences") or [], strict=False)
                           if a)
        rows.append([p["name"] or _("(nieprzydzielone)"), p["login"] or "", p["overdue"], p.get("client_overdue", 0),
                     *p["weeks"], absent])
    return [Table(_("Obciążenie 8 tygodni"), head, rows)]


def _absence(week: str, absence: dict[str, Any]) -> str:
    """`2026-W49: 3 dni (zastępstwo: Ola)` in the current language."""
    text = f"{week}: " + i18n.ngettext("{n} dzień", "{n} dni", absence["days"]).format(n=absence["days"])
    if absence["substitutes"]:
        text += " " + _("(zastępstwo: {names})").format(names=", ".join(absence["substitutes"]))
    return text


TABLES = {"financial": financial_tables, "execution": execution_tables, "overdue": overdue_tables,
          "workload": workload_tables}


def to_xlsx(tables: list[Table]) -> bytes:
    """A workbook written in openpyxl's write-only mode (rows streamed, a fraction of the memory and time)."""
    book = Workbook(write_only=True)
    for table in tables:
        sheet = book.create_sheet(table.title[:31])
        for index, header in enumerate(table.headers, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = max(10, min(40, len(header) + 2))
        sheet.freeze_panes = "A2"
        bold = Font(bold=True)
        sheet.append([_cell(sheet, header, font=bold) for header in table.headers])
        for values in table.rows:
            sheet.append([_cell(sheet, value, column=column, table=table) for column, value in enumerate(values)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(sheet: Any, value: Cell, *, column: int = -1, table: Table | None = None, font: Font | None = None) -> Any:
    """A plain value, or a cell carrying its number format (money, share, date) or font."""
    number_format = None
    if isinstance(value, date):
        number_format = DATE_FORMAT.get(i18n.current(), DATE_FORMAT["pl"])
    elif table is not None and column in table.money:
        number_format = MONEY_FORMAT
    elif table is not None and column in table.shares:
        number_format = SHARE_FORMAT
    if number_format is None and font is None:
        return value
    cell = WriteOnlyCell(sheet, value=value)
    if number_format:
        cell.number_format = number_format
    if font:
        cell.font = font
    return cell


def to_csv(table: Table) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.headers)
    for values in table.rows:
        writer.writerow(["" if v is None else v.isoformat() if isinstance(v, date) else v for v in values])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def download(tables: list[Table], *, format: str, name: str, sheet: int = 1) -> Response:
    """The tables as an attachment `name.xlsx`, or the `sheet`-th (from 1) as `name.csv`."""
    if format == "xlsx":
        return Response(to_xlsx(tables), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    table = tables[min(max(sheet, 1), len(tables)) - 1]
    return Response(to_csv(table), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
