"""The overdue-fee mail in each language from the notice's facts, and a fee notice written before the amount was kept
(notifier_0005_fee_amount) still read whole: its English mail shows the office's Polish text with the amount."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from services.common.messages import FeeOverdue
from services.common.settings import Settings
from services.notifier import fee_notices, notices
from services.notifier.rendering import Rendered, Templates

SETTINGS = Settings(office_account="61109010140000071219812874")
EVENT = FeeOverdue(contract_id="c1", number="G/1", client_id="1", month="2026-10", gross=Decimal("1273.05"),
                   paid=Decimal("273.05"), outstanding=Decimal("1000.00"), payment_due=date(2026, 11, 16))


def fee_notice(**facts: Any) -> SimpleNamespace:
    return SimpleNamespace(
        id="n1", kind="fee", client_id="1", client_name="Gamma", contract_id="c1", period="2026-10",
        due=date(2026, 11, 16), duty="fee", requires_confirmation=True, replaces_id=None, status="issued",
        accountant={"name": "Anna Nowak", "email": "anna@biuro.example"}, subject=fee_notices.subject_of(EVENT),
        body=fee_notices.body_of(EVENT, account=SETTINGS.office_account), **facts)


def mail(notice: SimpleNamespace, lang: str) -> Rendered:
    context = notices.notice_context(SETTINGS, notice, [], client_name="Gamma",
                                     recipient=notices.Recipient("a@gamma.example", "Gamma Accounts", lang),
                                     link="https://biuro.example/confirm/T")
    rendered = Templates(SETTINGS).client_mail("fee", lang, context)
    return Rendered(rendered.subject.replace("\u00a0", " "), rendered.text.replace("\u00a0", " "),
                    (rendered.html or "").replace("\u00a0", " "))


def test_a_partly_paid_fee_states_what_is_outstanding_and_of_what_in_each_language() -> None:
    notice = fee_notice(**fee_notices.facts_of(EVENT, account=SETTINGS.office_account))
    english, polish = mail(notice, "en"), mail(notice, "pl")
    assert english.subject == "Service fee for October 2026 — PLN 1,000.00 overdue (due 16 November 2026)"
    assert "PLN 1,000.00 is outstanding (of PLN 1,273.05 gross)" in english.text
    assert "<strong>PLN 1,000.00</strong> is outstanding" in str(english.html)
    assert "zł" not in english.text + str(english.html)
    assert polish.subject == "Opłata za obsługę za październik 2026 — do zapłaty 1 000,00 zł"
    assert "Do zapłaty pozostało 1 000,00 zł (z 1 273,05 zł brutto)" in polish.text and "PLN" not in polish.text


def test_a_fee_notice_written_before_its_amount_was_kept_still_says_it() -> None:
    old = fee_notice(amount=None, gross=None, currency=None, account=None)
    english = mail(old, "en")
    assert english.subject == "Service fee for October 2026 — overdue (due 16 November 2026)"
    assert "Our message in Polish, with the amount:" in english.text
    assert "Do zapłaty pozostało 1 000,00 zł" in english.text
    assert "61 1090 1014 0000 0712 1981 2874" in english.text  # the account as set now
