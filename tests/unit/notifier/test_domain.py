"""What a notice says, decided without I/O: periods in the tax-transfer notation, titles, the ZBP 2D code."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.notifier import domain

CLIENT = domain.ClientIdentity(name="Jan Kowalski", nip="1234563218",
                               accounts={"nrs": "43600000020260001234563218"}, ppk_institution="PKO TFI S.A.")


@pytest.mark.parametrize(("period", "code", "label"), [
    ("2026-10", "26M10", "październik 2026"),
    ("2026-Q3", "26K03", "III kwartał 2026"),
    ("2025", "25R", "rok 2025"),
    ("2025/2026", "26R", "rok obrotowy 2025/2026"),
    ("2026-01-05", "26J0501", "05.01.2026"),
    ("", None, ""),
])
def test_periods_in_the_tax_transfer_notation_and_in_words(period: str, code: str | None, label: str) -> None:
    assert domain.period_code(period) == code
    assert domain.period_label(period) == label


def test_vat_goes_to_the_mikrorachunek_with_the_tax_transfer_fields() -> None:
    transfer = domain.transfer_for("vat", Decimal("1234.56"), "2026-10", "", CLIENT)
    assert transfer.account == "88101000712222123456321800"
    assert transfer.title == "N1234563218 26M10 VAT-7"
    assert transfer.tax_fields == {"identifier_type": "N", "identifier": "1234563218", "period": "26M10",
                                   "form": "VAT-7"}
    assert transfer.qr_payload == "|PL|88101000712222123456321800|123456|Urząd Skarbowy|N1234563218 26M10 VAT-7|||"
    quarterly = domain.transfer_for("vat", Decimal("1"), "2026-Q3", "", CLIENT)
    assert quarterly.title == "N1234563218 26K03 VAT-7K"


def test_zus_goes_to_the_nrs_and_ppk_to_its_institution() -> None:
    zus = domain.transfer_for("zus", Decimal("1773.96"), "2026-10", "", CLIENT)
    assert (zus.account, zus.payee, zus.title) == ("43600000020260001234563218", "ZUS", "Składki ZUS październik 2026")
    ppk = domain.transfer_for("ppk", Decimal("10"), "2026-10", "", CLIENT)
    assert ppk.account is None and ppk.qr_payload is None  # not recorded: the notice says so, no code
    assert ppk.payee == "PKO TFI S.A."


def test_the_2d_code_keeps_the_recommendations_field_limits() -> None:
    payload = domain.zbp_qr_payload(account="88101000712222123456321800", amount=Decimal("12345.67"),
                                    payee="Urząd Skarbowy w Bardzo Długiej Nazwie", title="A|B " * 20)
    fields = payload.split("|")
    assert len(fields) == 9 and fields[:3] == ["", "PL", "88101000712222123456321800"]
    assert fields[3] == "000000"  # above 9 999,99 zł the recommendation's six digits cannot hold it
    assert len(fields[4]) <= 20 and len(fields[5]) <= 32 and len(payload) <= 160
    small = domain.zbp_qr_payload(account="1" * 26, amount=Decimal("0.5"), payee="X", title="T")
    assert small.split("|")[3] == "000050"


def test_money_and_days_in_polish_and_english() -> None:
    assert domain.money(Decimal("1234567.5")) == "1\u00a0234\u00a0567,50\u00a0zł"
    assert domain.money(Decimal("1234.5"), "en") == "PLN\u00a01,234.50"
    assert domain.day(date(2026, 11, 25)) == "25.11.2026" and domain.day(date(2026, 11, 25), "en") == "25 November 2026"


def test_reminders_on_business_days_skip_weekends_and_holidays() -> None:
    assert domain.reminds_on(date(2026, 11, 28), "calendar")  # a Saturday, every day by default
    assert not domain.reminds_on(date(2026, 11, 28), "business")
    assert not domain.reminds_on(date(2026, 11, 11), "business")  # Independence Day
    assert domain.reminds_on(date(2026, 11, 30), "business")
    assert domain.reminders_end(date(2026, 11, 25), date(2026, 11, 20), 14) == date(2026, 12, 9)
    assert domain.reminders_end(date(2026, 11, 25), date(2026, 11, 20), None) is None
