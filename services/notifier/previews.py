"""Sample data for previewing templates: the same contexts real mails get, built from an invented client."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from services.common.settings import Settings
from services.notifier import domain, notices
from services.notifier.rendering import Rendered, Templates

SAMPLE_CLIENT = domain.ClientIdentity(name="Jan Kowalski Usługi", nip="1234563218",
                                      accounts={"nrs": "43600000020260001234563218"})
CLIENT_TEMPLATES = ("notice", "reminder", "manual", "duty", "fee")
STAFF_TEMPLATES = ("case_created", "case_due_soon", "case_overdue", "case_escalated", "case_digest",
                   "case_overdue_summary", "notice_escalated")
PAGES = ("confirm_page",)


def _item(position: int, kind: str, amount: str, due: date, form: str, period: str) -> Any:
    transfer = domain.transfer_for(kind, Decimal(amount), period, form, SAMPLE_CLIENT)
    return SimpleNamespace(position=position, kind=kind, amount=Decimal(amount), due=due, form=form, period=period,
                           account=transfer.account, account_kind=transfer.account_kind, payee=transfer.payee,
                           transfer_title=transfer.title, tax_fields=transfer.tax_fields,
                           qr_payload=transfer.qr_payload, case_id=None, status="active")


_MANUAL_BODY = "Od przyszłego miesiąca prosimy o przesyłanie faktur do 5. dnia miesiąca.\n\nDziękujemy."
_FEE_BODY = ("Nie odnotowaliśmy pełnej wpłaty za obsługę w październiku 2026 (umowa BR/2026/100). Do zapłaty "
             "pozostało 1 273,05 zł; termin płatności minął 16.11.2026.\n\nProsimy o przelew na rachunek biura "
             "z tytułem „FV 10/2026”.")
_DUTY_BODY = ("Zgodnie z umową prosimy przekazać do biura dokumenty za październik 2026 do 09.11.2026.\n\n"
              "Gdy wyślą je Państwo, prosimy potwierdzić to przyciskiem na stronie z linku.")


def sample_notice(kind: str = "liability") -> tuple[Any, list[Any]]:
    items = [_item(0, "vat", "1234.56", date(2026, 11, 25), "VAT-7", "2026-10"),
             _item(1, "zus", "1773.96", date(2026, 11, 20), "", "2026-10")] if kind == "liability" else []
    notice = SimpleNamespace(
        id="00000000-0000-0000-0000-000000000000", kind=kind, client_id="1", client_name=SAMPLE_CLIENT.name,
        contract_id="1", period=None if kind == "manual" else "2026-10",
        due={"duty": date(2026, 11, 9), "fee": date(2026, 11, 16)}.get(kind, date(2026, 11, 20)),
        duty={"duty": "documents", "fee": "fee"}.get(kind),
        requires_confirmation=True, replaces_id=None, status="issued",
        accountant={"login": "anna", "name": "Anna Nowak", "email": "anna@biuro.example"},
        subject={"manual": "Nowe zasady przesyłania dokumentów",
                 "duty": "Dokumenty za październik 2026 — termin 09.11.2026",
                 "fee": "Opłata za obsługę za październik 2026 — do zapłaty 1 273,05 zł"}.get(kind),
        body={"duty": _DUTY_BODY, "fee": _FEE_BODY}.get(kind, _MANUAL_BODY),
        issued_at=datetime(2026, 11, 16, 14, 0, tzinfo=UTC),
        # An overdue fee's facts (notifier_0005_fee_amount); the office's account as set.
        amount=Decimal("1273.05") if kind == "fee" else None, gross=Decimal("1273.05") if kind == "fee" else None,
        currency="PLN" if kind == "fee" else None, account=None,
    )
    return notice, items


def context_for(settings: Settings, name: str, lang: str) -> dict[str, Any]:
    recipient = notices.Recipient("jan@kowalski.example", "Jan Kowalski", lang)
    link = f"{settings.client_links_url}/confirm/PRZYKLADOWY-TOKEN"
    if name in ("notice", "confirm_page", "manual", "duty", "fee"):
        notice, items = sample_notice(name if name in ("manual", "duty", "fee") else "liability")
        context = notices.notice_context(settings, notice, items, client_name=SAMPLE_CLIENT.name,
                                         recipient=recipient, link=link)
        if name == "confirm_page":
            context.update(state="open", confirmed_at_text="", withdrawn_reason="", taken_over=False, qr={})
        return context
    if name == "reminder":
        return {"office_name": settings.office_name, "recipient_name": recipient.name,
                "day_text": domain.day(date(2026, 11, 17), lang), "reminder_every_day": True,
                "notices": [{"client_name": SAMPLE_CLIENT.name, "period_text": domain.period_label("2026-10", lang),
                             "subject": "", "kind": "liability", "due_text": domain.day(date(2026, 11, 20), lang),
                             "issued_text": domain.day(date(2026, 11, 16), lang), "link": link,
                             "total_text": domain.money(Decimal("3008.52"), lang),
                             "lines": [{"label": domain.LIABILITY_LABELS["vat"][lang],
                                        "amount_text": domain.money(Decimal("1234.56"), lang),
                                        "due_text": domain.day(date(2026, 11, 25), lang)}]}]}
    case = {"title": "JPK_V7M — deklaracja i ewidencja VAT", "client_name": SAMPLE_CLIENT.name,
            "contract_number": "BR/2026/100", "period": "2026-10", "period_text": "październik 2026",
            "due": "25.11.2026", "url": f"{settings.public_url}/cases/1"}
    return {"name": "Anna Nowak", **case, "day": date(2026, 11, 20), "day_text": "20.11.2026", "days_left": 3,
            "days_overdue": 2, "step": 1, "reason": "3 dni po terminie", "due_today": [case], "due_this_week": [case],
            "overdue": [], "new_since_yesterday": [case], "total": 42, "cases": [case], "more": 41,
            "unconfirmed": [{"client_name": SAMPLE_CLIENT.name, "period_text": "październik 2026",
                             "due": "20.11.2026", "issued": "16.11.2026", "failing": False}],
            "period_text": "październik 2026", "issued_text": "16.11.2026", "due_text": "20.11.2026",
            "recipients": [("jan@kowalski.example", "delivered", "")], "stop_days": 14,
            "url_notices": f"{settings.public_url}/notices"}


def preview(templates: Templates, settings: Settings, name: str, lang: str,
            data: dict[str, Any] | None = None) -> Rendered:
    """Render a template with the sample context (or the caller's data merged over it), as the files are now."""
    templates.fresh(now=True)
    context = {**context_for(settings, name, lang), **(data or {})}
    if name in PAGES:
        return Rendered(subject="", text="", html=templates.page(name, lang, context))
    if name in STAFF_TEMPLATES:
        return templates.staff_mail(name, context)
    return templates.client_mail(name, lang, context)
