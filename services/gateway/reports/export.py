"""Reports as tables, and the tables as files: XLSX (openpyxl; one sheet per table, numbers as numbers, money
with two decimals) and CSV (UTF-8 with BOM so that Excel reads the Polish letters, comma-separated, a dot for
decimals; the report's first table, or the one `sheet` names).

Each `*_tables` function turns what `reports/service.py` returns into `Table`s with Polish headers; a cell is a
str, int, Decimal (money or share), date or None.
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

from services.gateway.reports.service import KIND_PL

Cell = str | int | Decimal | date | None
MONEY_FORMAT = "#,##0.00"
SHARE_FORMAT = "0.0%"


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
    head = ["Miesiąc", "Umowa", "Klient", "Opłata netto", "VAT", "Opłata brutto", "Opłata wstępna",
            "Opłata podstawowa", "Za dokumenty ponad limit", "Za pracowników", "Dokumenty", "Pracownicy",
            *[f"Zobowiązania {KIND_PL[k]}" for k in kinds], "Zobowiązania razem", "Liczba zobowiązań",
            "Potwierdzone", "Udział potwierdzonych", "Powiadomienia wysłane", "Powiadomienia potwierdzone",
            "Sprawy zakończone", "W terminie", "Po terminie", "Zapłacono", "Do zapłaty", "Termin płatności",
            "Zaległa"]
    money = frozenset({3, 4, 5, 7, 8, 9, *range(12, 13 + len(kinds)), 22 + len(kinds), 23 + len(kinds)})
    share = 15 + len(kinds)

    def line(r: dict[str, Any], number: str, client: str) -> list[Cell]:
        fee = r["fee"] or {}
        return [r["month"], number, client, _money(fee.get("net")), _money(fee.get("vat")), _money(fee.get("gross")),
                ("tak" if fee.get("provisional") else "nie") if fee else "",
                _money(fee.get("base")), _money(fee.get("documents_part")), _money(fee.get("employees_part")),
                fee.get("documents"), fee.get("employees"),
                *[_money(r["liabilities"].get(k, {}).get("amount", "0.00")) for k in kinds],
                _money(r["liabilities_amount"]), r["liabilities_count"], r["confirmed_count"],
                _money(r["confirmed_share"]), r["notices_sent"], r["notices_confirmed"], r["cases_done"],
                r["done_on_time"], r["done_late"], _money(fee.get("paid")), _money(fee.get("outstanding")),
                date.fromisoformat(fee["payment_due"]) if fee.get("payment_due") else None,
                _overdue(fee)]

    contracts = Table(f"Umowy {report['month']}", head, [line(r, r["number"], r["client_name"])
                                                         for r in report["contracts"]], money, frozenset({share}))
    office = Table("Biuro 12 miesięcy", head, [line(r, "", "całe biuro") for r in report["office"]], money,
                   frozenset({share}))
    history = Table("Umowy 12 miesięcy", head, [line(r, r["number"], r["client_name"]) for r in report["history"]],
                    money, frozenset({share}))
    overdue = Table("Zaległe opłaty", ["Miesiąc", "Umowa", "Klient", "Opłata brutto", "Zapłacono", "Do zapłaty",
                                       "Termin płatności", "Dni po terminie"],
                    [[o["month"], o["number"], o["client_name"], _money(o["gross"]), _money(o["paid"]),
                      _money(o["outstanding"]), date.fromisoformat(o["payment_due"]), o["days_late"]]
                     for o in report["overdue_fees"]], frozenset({3, 4, 5}))
    return [contracts, office, history, overdue]


def _overdue(fee: dict[str, Any]) -> Cell:
    """A contract month's overdue flag ("tak"/"nie"), or the office month's overdue amount."""
    value = fee.get("overdue")
    if value is None:
        return None
    if isinstance(value, bool):
        return "tak" if value else "nie"
    return _money(value)


def execution_tables(report: dict[str, Any]) -> list[Table]:
    head = ["Umowa", "Klient", "Miesiąc", "Do wykonania", "W terminie", "Po terminie", "Przeterminowane",
            "Nie dotyczy", "Otwarte w terminie", "Klient: zadania", "Klient: w terminie", "Klient: po terminie",
            "Klient: zaległe"]
    return [Table("Wykonanie umów", head, [
        [r["number"], r["client_name"], r["month"], r["due"], r["done_on_time"], r["done_late"], r["overdue"],
         r["not_applicable"], r["open"], r.get("client_due", 0), r.get("client_on_time", 0), r.get("client_late", 0),
         r.get("client_overdue", 0)] for r in report["items"]])]


def overdue_tables(report: dict[str, Any]) -> list[Table]:
    return [
        Table("Wg osoby", ["Osoba", "Login", "Przeterminowane", "Najstarszy termin"],
              [[r["assignee_name"] or "(nieprzydzielone)", r["assignee_login"] or "", r["overdue"],
                date.fromisoformat(r["oldest_due"])] for r in report["by_assignee"]]),
        Table("Wg klienta", ["Klient", "Przeterminowane", "Najstarszy termin"],
              [[r["client_name"], r["overdue"], date.fromisoformat(r["oldest_due"])] for r in report["by_client"]]),
        Table("Wg umowy", ["Umowa", "Klient", "Przeterminowane", "Najstarszy termin"],
              [[r["contract_number"], r["client_name"], r["overdue"], date.fromisoformat(r["oldest_due"])]
               for r in report["by_contract"]]),
        Table("Zadania klientów", ["Klient", "Zadania po terminie", "Najstarszy termin"],
              [[r["client_name"], r["overdue"], date.fromisoformat(r["oldest_due"])]
               for r in (report.get("client_tasks") or {}).get("by_client", [])]),
    ]


def workload_tables(report: dict[str, Any]) -> list[Table]:
    weeks = report["weeks"]
    head = ["Osoba", "Login", "Przeterminowane", "Zadania klienta po terminie",
            *[f"{w['iso_week']} (od {w['start']})" for w in weeks],
            "Nieobecności"]
    rows: list[list[Cell]] = []
    for p in report["people"]:
        absent = "; ".join(f"{w['iso_week']}: {a['days']} dni" + (f" (zastępstwo: {', '.join(a['substitutes'])})"
                                                                    if a["substitutes"] else "")
                           for w, a in zip(weeks, p.get("absences") or [], strict=False) if a)
        rows.append([p["name"] or "(nieprzydzielone)", p["login"] or "", p["overdue"], p.get("client_overdue", 0),
                     *p["weeks"], absent])
    return [Table("Obciążenie 8 tygodni", head, rows)]


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
        number_format = "DD.MM.YYYY"
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
