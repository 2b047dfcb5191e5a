"""Bank statements as Polish banks write them, and which months a payment pays (pure functions of payments.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.contracts.fees import payment_due
from services.contracts.payments import Open, allocate, clean_nip, months_in_title, parse_date, parse_statement
from tests.samples import nip

GAMMA = nip("526104057")


def test_polish_dates_and_nips_are_read() -> None:
    assert parse_date("29.11.2026") == date(2026, 11, 29) == parse_date("2026-11-29") == parse_date("29/11/2026")
    assert parse_date("31.02.2026") is None and parse_date("jutro") is None
    assert clean_nip("PL 526-104-05-73") == "5261040573" == clean_nip("526 104 05 73")


def test_the_month_is_read_from_the_title() -> None:
    assert months_in_title("FV 10/2026") == [date(2026, 10, 1)]
    assert months_in_title("Opłata za październik 2026 r.") == [date(2026, 10, 1)]
    assert months_in_title("za PAŹDZIERNIKA 2026") == [date(2026, 10, 1)]
    assert months_in_title("księgowość 2026-10") == [date(2026, 10, 1)]
    assert months_in_title("FV 9/2026 i FV 10/2026") == [date(2026, 9, 1), date(2026, 10, 1)]
    assert months_in_title("faktura 123/456") == [] and months_in_title("wpłata 2026-10-15") == []


def test_a_statement_with_polish_amounts_is_parsed_and_each_bad_cell_named() -> None:
    rows, errors = parse_statement(f"Data;Kwota;Tytuł;NIP\n29.11.2026;1 273,05;FV 10/2026;{GAMMA}\n")
    assert errors == [] and [(r.row, r.paid_on, r.amount, r.nip) for r in rows] == [
        (2, date(2026, 11, 29), Decimal("1273.05"), GAMMA)]
    _, errors = parse_statement("date,amount,title,nip\n2026-13-01,abc,x,123\n")
    assert [(e["row"], e["field"]) for e in errors] == [(2, "date"), (2, "amount"), (2, "nip")]
    _, errors = parse_statement("date,kwota,title\n")
    assert errors[0]["row"] == 1 and "missing: nip" in errors[0]["message"]


def _ledger() -> list[Open]:
    gross = Decimal("984.00")
    return [Open(1, "G/1", date(2026, m, 1), gross) for m in (8, 9, 10, 11)]


def test_without_a_month_in_the_title_the_oldest_unpaid_months_the_amount_covers_are_paid() -> None:
    ledger = _ledger()
    ledger[0].paid = Decimal("984.00")  # August paid already
    paid = allocate(Decimal("1968.00"), ledger, until=date(2026, 11, 1))
    assert [(o.month.month, part) for o, part in paid] == [(9, Decimal("984.00")), (10, Decimal("984.00"))]
    # More than whole months: the rest is a partial payment of the next one.
    partial = allocate(Decimal("1000.00"), ledger, until=date(2026, 11, 1))
    assert [(o.month.month, part) for o, part in partial] == [(9, Decimal("984.00")), (10, Decimal("16.00"))]
    # Less than the oldest unpaid month: for manual assignment.
    assert allocate(Decimal("500.00"), ledger, until=date(2026, 11, 1)) == []


def test_a_month_named_in_the_title_takes_the_payment() -> None:
    paid = allocate(Decimal("984.00"), _ledger(), named=[date(2026, 10, 1)], until=date(2026, 11, 1))
    assert [(o.month.month, part) for o, part in paid] == [(10, Decimal("984.00"))]
    # A month no contract covers: matched as if the title named none.
    other = allocate(Decimal("984.00"), _ledger(), named=[date(2025, 1, 1)], until=date(2026, 11, 1))
    assert [o.month.month for o, _ in other] == [8]


def test_the_fee_is_due_on_the_payment_day_of_the_next_month_moved_past_free_days() -> None:
    assert payment_due(date(2026, 9, 1)) == date(2026, 10, 15)  # a Thursday
    assert payment_due(date(2026, 10, 1)) == date(2026, 11, 16)  # 15.11.2026 is a Sunday
    assert payment_due(date(2026, 10, 1), 10) == date(2026, 11, 10)  # a Tuesday
    assert payment_due(date(2026, 10, 1), 11) == date(2026, 11, 12)  # Independence Day
    assert payment_due(date(2027, 1, 1), 31) == date(2027, 3, 1)  # the last day, 28.02.2027, is a Sunday
