"""CSV onboarding dry run: every bad row reported with its spreadsheet row number, column and reason."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from services.common.terms import Service
from services.common.text import UndecodableText
from services.contracts.importing import COLUMNS, ImportLimits, RowError, decode_csv, parse_import
from tests.unit.contracts.testdata import HEADER, csv_row, to_csv

SAMPLE = Path(__file__).parents[3] / "services" / "contracts" / "samples" / "import.csv"
README = SAMPLE.parents[1] / "README.md"


def thousand_rows_with_three_bad() -> list[dict[str, str]]:
    rows = [csv_row(i) for i in range(999)]  # spreadsheet rows 2..1000
    rows[17 - 2]["nip"] = rows[17 - 2]["nip"][:-1] + str((int(rows[17 - 2]["nip"][-1]) + 1) % 10)
    rows[500 - 2]["start"] = ""
    rows[999 - 2]["services"] = "bookkeeping;tax_advice;zus"
    return rows


def where(report_errors: tuple[RowError, ...]) -> list[tuple[int, str]]:
    return [(e.row, e.field) for e in report_errors]


def test_thousand_rows_with_three_bad_report_exactly_those_three() -> None:
    report = parse_import(to_csv(thousand_rows_with_three_bad()))
    assert where(report.errors) == [(17, "nip"), (500, "start"), (999, "services")]
    assert report.bad_rows == [17, 500, 999]
    assert not report.ok
    assert report.data_rows == 999
    assert len(report.rows) == 996
    assert "checksum" in report.errors[0].message
    assert report.errors[1].message == "required, but the cell is empty"
    assert "tax_advice" in report.errors[2].message


def test_semicolons_bom_decimal_commas_and_polish_dates_read_the_same() -> None:
    rows = thousand_rows_with_three_bad()
    for row in rows:
        row["fee_monthly_net"] = row["fee_monthly_net"].replace(".", ",")
        row["signed_on"] = "15.12.2025"
    text = "\ufeff" + to_csv(rows, delimiter=";")
    report = parse_import(text)
    assert report.delimiter == ";"
    assert where(report.errors) == [(17, "nip"), (500, "start"), (999, "services")]
    first = report.rows[0]
    assert first.contract.fee.monthly_net == Decimal("1000.50")
    assert first.contract.signed_on.isoformat() == "2025-12-15"
    assert first.client.contact_emails == ["biuro0@klient0.pl", "prezes@klient0.pl"]


def test_utf8_bom_bytes_and_windows_1250_bytes_decode() -> None:
    text = to_csv([csv_row(1) | {"city": "Łódź"}])
    for data in ((b"\xef\xbb\xbf" + text.encode()), text.encode("cp1250")):
        report = parse_import(decode_csv(data))
        assert report.ok, report.errors
        assert report.rows[0].client.address.city == "Łódź"


def test_valid_file_gives_models_ready_to_apply() -> None:
    report = parse_import(to_csv([csv_row(i) for i in range(4)]))
    assert report.ok
    assert [r.row for r in report.rows] == [2, 3, 4, 5]
    company = report.rows[0]
    assert company.client_nip == company.client.nip
    assert company.client.krs == "0000100000"
    payroll = next(s for s in company.contract.services if s.name is Service.payroll)
    assert payroll.parameters == {"headcount_limit": 50}
    sole_trader = report.rows[1]
    assert sole_trader.client.pesel is not None
    assert sole_trader.contract.team.payroll is None


def test_a_valid_row_attaches_to_the_stored_client() -> None:
    [row] = parse_import(to_csv([csv_row(0)])).rows
    contract = row.contract.attach(41)
    assert contract.client_id == 41
    assert contract.model_dump(exclude={"client_id"}) == row.contract.model_dump()


def test_leading_blank_row_keeps_spreadsheet_numbers() -> None:
    text = "\r\n" + to_csv([csv_row(0), csv_row(1) | {"nip": "123"}], delimiter=";")
    report = parse_import(text)
    assert report.delimiter == ";"
    assert where(report.errors) == [(4, "nip")]


def test_duplicate_nip_and_contract_number_in_the_file_are_reported_on_the_later_row() -> None:
    rows = [csv_row(i) for i in range(5)]
    rows[3]["nip"] = "PL " + rows[0]["nip"]  # the same NIP written differently
    rows[4]["contract_number"] = rows[1]["contract_number"].lower()
    report = parse_import(to_csv(rows))
    assert where(report.errors) == [(5, "nip"), (6, "contract_number")]
    assert "row 2" in report.errors[0].message
    assert "row 3" in report.errors[1].message


def test_clients_and_contracts_already_in_the_book_are_reported() -> None:
    rows = [csv_row(i) for i in range(3)]
    report = parse_import(
        to_csv(rows), existing_nips={rows[1]["nip"], "garbage"}, existing_contract_numbers={"UM/2026/0002"}
    )
    assert where(report.errors) == [(3, "nip"), (4, "contract_number")]


def test_every_problem_of_a_row_is_reported_with_its_column() -> None:
    row = csv_row(0) | {
        "regon": "123",
        "emails": "ok@firma.pl;nie-mail",
        "vat_eu": "maybe",
        "employees": "dwanaście",
        "end": "2025-01-01",
        "fee_monthly_net": "1.200,50",
        "vat_rate": "22%",
        "payroll": "",
        "payroll_headcount_limit": "0",
    }
    report = parse_import(to_csv([row]))
    assert sorted(where(report.errors)) == sorted(
        [
            (2, "regon"),
            (2, "emails"),
            (2, "vat_eu"),
            (2, "employees"),
            (2, "end"),
            (2, "fee_monthly_net"),
            (2, "vat_rate"),
            (2, "payroll_headcount_limit"),
        ]
    )


def test_rules_between_fields_point_at_a_column() -> None:
    rows = [
        csv_row(0) | {"payroll": ""},  # payroll service, no specialist
        csv_row(1) | {"pesel": ""},  # sole trader without PESEL
        csv_row(2) | {"books": "kpir"},  # llc on KPiR
        csv_row(3) | {"payroll_headcount_limit": "10"},  # no payroll service in the contract
    ]
    report = parse_import(to_csv(rows))
    assert where(report.errors) == [(2, "payroll"), (3, "pesel"), (4, "books"), (5, "payroll_headcount_limit")]


def test_excel_damage_to_identifiers_is_repaired_or_explained() -> None:
    rows = [csv_row(0), csv_row(1)]
    rows[0]["regon"] = "024547100".lstrip("0")  # Excel dropped the leading zero
    rows[1]["pesel"] = "03263043210".lstrip("0")
    rows[1]["nip"] = "5.26025E+09"
    report = parse_import(to_csv(rows))
    assert where(report.errors) == [(3, "nip")]
    assert "format the column as text" in report.errors[0].message


def test_header_problems_are_reported_on_row_one_and_stop_the_check() -> None:
    header = [h for h in HEADER if h != "start"] + ["colour"]
    rows = [{k: v for k, v in csv_row(0).items() if k != "start"} | {"colour": "blue"}]
    report = parse_import(to_csv(rows, header=header))
    assert sorted(where(report.errors)) == [(1, "colour"), (1, "start")]
    assert not report.rows


def test_blank_rows_are_skipped_but_still_counted() -> None:
    lines = to_csv([csv_row(0), csv_row(1) | {"nip": "123"}]).split("\r\n")
    text = "\r\n".join([lines[0], lines[1], "", ";;;".replace(";", ","), lines[2], ""])
    report = parse_import(text)
    assert where(report.errors) == [(5, "nip")]


def test_quoted_cell_spanning_lines_is_one_spreadsheet_row() -> None:
    rows = [csv_row(0) | {"street": "ul. Długa 1\nlok. 5"}, csv_row(1) | {"nip": "123"}]
    report = parse_import(to_csv(rows))
    assert where(report.errors) == [(3, "nip")]


def test_row_with_too_many_cells_hints_at_quoting() -> None:
    text = to_csv([csv_row(0)]).rstrip("\r\n") + ",extra\r\n"
    report = parse_import(text)
    assert where(report.errors) == [(2, "")]
    assert "quoted" in report.errors[0].message


@pytest.mark.parametrize(("text", "row"), [("", 1), ("\ufeff", 1), (",".join(HEADER) + "\r\n", 2)])
def test_empty_file_is_not_ok(text: str, row: int) -> None:
    report = parse_import(text)
    assert not report.ok
    assert where(report.errors) == [(row, "")]


def test_sample_file_is_valid() -> None:
    report = parse_import(SAMPLE.read_text(encoding="utf-8"))
    assert report.ok, report.errors
    assert len(report.rows) == 5
    assert {r.client.legal_form.value for r in report.rows} >= {"sole_trader", "llc", "civil_partnership"}


def test_readme_documents_every_column() -> None:
    readme = README.read_text(encoding="utf-8")
    assert "## CSV import format" in readme
    for column in COLUMNS:
        assert f"`{column.name}`" in readme, column.name


SMALL = ImportLimits(max_rows=3, max_columns=40, max_field_chars=50)


def test_a_file_with_more_rows_than_the_limit_is_refused_on_the_first_row_too_many() -> None:
    report = parse_import(to_csv([csv_row(i) for i in range(5)]), limits=SMALL)
    assert where(report.errors) == [(5, "")]
    assert "more than 3 data rows" in report.errors[0].message
    assert "TERMINARZ_IMPORT_MAX_ROWS" in report.errors[0].message
    assert not report.ok


def test_a_header_with_more_columns_than_the_limit_is_one_error() -> None:
    header = HEADER + [f"extra{i}" for i in range(60_000)]
    report = parse_import(",".join(header) + "\r\n" + to_csv([csv_row(0)]).split("\r\n")[1] + "\r\n", limits=SMALL)
    assert where(report.errors) == [(1, "")]
    assert f"{len(header)} columns" in report.errors[0].message


def test_repeated_columns_in_a_wide_header_are_each_named_once() -> None:
    header = HEADER + ["colour"] * 30_000 + ["nip"]
    report = parse_import(",".join(header) + "\r\n", limits=ImportLimits(max_columns=100_000))
    assert sorted(where(report.errors)) == [(1, "colour"), (1, "colour"), (1, "nip")]
    assert {e.message for e in report.errors if e.field == "nip"} == {"column appears more than once"}


def test_a_cell_longer_than_the_limit_names_its_row_and_column() -> None:
    rows = [csv_row(0), csv_row(1) | {"street": "ul. " + "Długa" * 20}]
    report = parse_import(to_csv(rows), limits=SMALL)
    assert where(report.errors) == [(3, "street")]
    assert report.errors[0].message.startswith("the cell has 104 characters; at most 50")


def test_names_in_a_file_refuse_control_and_bidi_characters() -> None:
    rows = [csv_row(0) | {"client_name": "Klient\u202e sp. z o.o."}, csv_row(1) | {"city": "Gda\x00ńsk"},
            csv_row(2) | {"contract_number": "UM/\x1b/2"}]
    report = parse_import(to_csv(rows))
    assert where(report.errors) == [(2, "client_name"), (3, "city"), (4, "contract_number")]
    assert "U+202E" in report.errors[0].message


def test_bytes_neither_utf8_nor_windows_1250_say_where() -> None:
    data = "client_name\r\nŁódź\r\nab".encode("cp1250") + b"\x98\r\n"
    with pytest.raises(UndecodableText) as error:
        decode_csv(data)
    assert (error.value.line, error.value.offset, error.value.byte) == (3, len(data) - 3, 0x98)
    assert "0x98" in str(error.value) and "line 3" in str(error.value)


def test_the_clients_duties_are_optional_columns_and_a_wrong_day_names_its_column() -> None:
    rows = [csv_row(1) | {"documents_day": "8", "statements_signing": "tak"}, csv_row(2) | {"documents_day": ""},
            csv_row(3) | {"documents_day": "32"}]
    report = parse_import(to_csv(rows, header=[*HEADER, "documents_day", "statements_signing"]))
    assert where(report.errors) == [(4, "documents_day")]
    first, second = report.rows
    assert (first.contract.client_duties.documents_day, first.contract.client_duties.statements_signing) == (8, True)
    assert second.contract.client_duties.given() == {}  # left empty: no duty of the client
