"""A month's fee: which version of the terms sets it, and what is provisional."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.contracts.fees import Version, month_fee, version_in_force


def _doc(net: str, *, start: str = "2026-01-01", end: str | None = None, **fee: Any) -> dict[str, Any]:
    return {"start": start, "end": end, "fee": {"monthly_net": net, "vat_rate": "23", **fee}}


SIGNED = Version(1, date(2026, 1, 1), _doc("1000.00"))
ANNEX_MID_MONTH = Version(2, date(2026, 3, 15), _doc("1200.00"))


def test_an_annex_from_mid_month_sets_the_next_months_fee() -> None:
    versions = [SIGNED, ANNEX_MID_MONTH]
    assert version_in_force(versions, date(2026, 3, 1)) is SIGNED
    assert version_in_force(versions, date(2026, 4, 1)) is ANNEX_MID_MONTH


def test_months_outside_the_contract_have_no_fee_and_a_partial_first_month_has_one() -> None:
    late_start = [Version(1, date(2026, 5, 20), _doc("500.00", start="2026-05-20"))]
    assert version_in_force(late_start, date(2026, 4, 1)) is None
    assert version_in_force(late_start, date(2026, 5, 1)) is late_start[0]
    ended = [SIGNED, Version(2, date(2026, 2, 10), _doc("1000.00", end="2026-06-30"))]
    assert version_in_force(ended, date(2026, 6, 1)) is ended[1]
    assert version_in_force(ended, date(2026, 7, 1)) is None


def test_per_employee_price_is_provisional_until_the_month_is_counted() -> None:
    version = Version(1, date(2026, 1, 1), _doc("1000.00", per_employee="50.00", per_document="2.00",
                                                document_threshold=100))
    assumed = month_fee(version, {"employees": 4})
    assert (assumed["net"], assumed["vat"], assumed["gross"]) == ("1200.00", "276.00", "1476.00")
    assert assumed["provisional"] is True and len(assumed["basis"]) == 2
    counted = month_fee(version, {"employees": 4}, employees=5, documents=130)
    assert (counted["net"], counted["provisional"]) == ("1310.00", False)  # 1000 + 5 × 50 + 30 × 2
    plain = month_fee(SIGNED, {"employees": 9})
    assert (plain["net"], plain["provisional"], plain["basis"]) == ("1000.00", False, [])


def test_the_months_recorded_counts_give_the_fee_with_its_breakdown() -> None:
    """The issue's example: 230 documents (200 free, 2.50 zł each above) and 4 employees (40 zł each) on 800 zł."""
    version = Version(1, date(2026, 1, 1), _doc("800.00", per_employee="40.00", per_document="2.50",
                                                document_threshold=200))
    fee = month_fee(version, {"employees": 2}, employees=4, documents=230)
    assert (fee["base"], fee["documents_part"], fee["employees_part"]) == ("800.00", "75.00", "160.00")
    assert (fee["net"], fee["vat"], fee["gross"]) == ("1035.00", "238.05", "1273.05")
    assert (fee["documents"], fee["employees"], fee["provisional"], fee["basis"]) == (230, 4, False, [])
    only_documents = month_fee(version, {"employees": 2}, documents=230)
    assert only_documents["provisional"] is True and only_documents["net"] == "955.00"  # 800 + 75 + 2 × 40
    assert only_documents["basis"] == ["employees: 2 from the client's terms"]
