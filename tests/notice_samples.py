"""Events the notifier consumes, in the shape the contracts and cases services publish them (tests only)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from email.message import EmailMessage
from typing import Any

from services.common.messages import (
    CaseCompleted,
    ClientChanged,
    ContractSnapshot,
    Envelope,
    Liability,
    TeamMember,
)

ANNA = TeamMember(login="anna", name="Anna Nowak", email="anna@biuro.example")


def envelope(type_: str, payload: dict[str, Any], producer: str = "cases") -> Envelope:
    return Envelope(type=type_, producer=producer, correlation_id=f"test-{uuid.uuid4().hex[:8]}", payload=payload)


def contract_snapshot(contract_id: str, client_id: str, *, name: str, nip: str, emails: list[str],
                      version: int = 1, language: str = "pl") -> dict[str, Any]:
    return ContractSnapshot(
        contract_id=contract_id, number=f"BR/{contract_id}", client_id=client_id, client_name=name, version=version,
        effective_from=date(2026, 10, 1),
        terms={"client": {"legal_form": "sole_trader", "books": "kpir", "income_tax": "pit_flat",
                          "income_tax_advances": "monthly", "vat": "monthly", "nip": nip},
               "contract": {"services": ["vat"], "start": "2026-10-01"}},
        team={"accountant": ANNA, "manager": None}, contact_emails=emails, language=language,
    ).model_dump(mode="json")


def client_changed(client_id: str, *, name: str, nip: str, recipients: list[dict[str, str]],
                   accounts: dict[str, str] | None = None, at: datetime | None = None) -> dict[str, Any]:
    return ClientChanged.model_validate({
        "client_id": client_id, "name": name, "nip": nip, "recipients": recipients, "accounts": accounts or {},
        "updated_at": (at or datetime(2026, 11, 1, tzinfo=UTC)).isoformat(),
    }).model_dump(mode="json")


def case_completed(case_id: str, contract_id: str, client_id: str, *, client_name: str, amount: str,
                   due: date, period: str = "2026-10", kind: str = "vat", form: str = "VAT-7", revision: int = 1,
                   code: str = "JPK_V7M") -> dict[str, Any]:
    return CaseCompleted(
        case_id=case_id, contract_id=contract_id, client_id=client_id, client_name=client_name, code=code,
        period=period, title=f"{code} {period}", revision=revision, completed_by=ANNA, assignee=ANNA,
        liabilities=[Liability(kind=kind, amount=amount, due=due, form=form)],  # type: ignore[arg-type]
    ).model_dump(mode="json")


def parts(message: EmailMessage) -> dict[str, Any]:
    """The text, the HTML and the inline images (by Content-ID) of a received message."""
    found: dict[str, Any] = {"images": {}}
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "text/plain":
            found["text"] = part.get_content()
        elif kind == "text/html":
            found["html"] = part.get_content()
        elif kind == "image/png":
            found["images"][str(part["Content-ID"]).strip("<>")] = part.get_content()
    return found
