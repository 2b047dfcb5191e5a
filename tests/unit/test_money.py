"""Amounts as an office types and reads them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.common.money import format_pln, parse_amount


@pytest.mark.parametrize(("typed", "amount"), [
    ("1 200,00", "1200.00"), ("1\u00a0200,5", "1200.5"), ("1200.00", "1200.00"), ("1200", "1200"),
    ("1.200,50 zł", "1200.50"), ("800,00 PLN", "800.00"), ("PLN 1,200.50", "1200.50"), ("0", "0"),
    ("12,5", "12.5"), ("1 200 300,99", "1200300.99"),
])
def test_an_amount_typed_the_polish_or_the_english_way_reads_as_the_same_decimal(typed: str, amount: str) -> None:
    assert parse_amount(typed) == Decimal(amount)


@pytest.mark.parametrize("typed", ["abc", "1 20,00", "1,200", "12,345", "1.2.3", "", "1 200,001"])
def test_what_is_not_an_amount_or_is_ambiguous_is_refused(typed: str) -> None:
    assert parse_amount(typed) is None


def test_amounts_are_shown_with_thousands_and_a_comma_in_polish_and_the_english_way_in_english() -> None:
    assert format_pln(Decimal("1273.05")) == "1\u00a0273,05\u00a0zł"
    assert format_pln("1200") == "1\u00a0200,00\u00a0zł"
    assert format_pln(Decimal("0.005")) == "0,01\u00a0zł"
    assert format_pln(Decimal("1273.05"), "en") == "PLN\u00a01,273.05"
