"""The message schemas every service shares: the envelope and the payload of each event type.

Services never import each other's internals; this module is the contract between them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.common.terms import TermsDocument


class Envelope(BaseModel):
    """A persistent JSON message on the bus."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = 1
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    producer: str
    correlation_id: str
    payload: dict[str, Any]

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, body: bytes) -> Envelope:
        return cls.model_validate_json(body)


class TeamMember(BaseModel):
    login: str
    name: str = ""
    email: str = ""


class ContractSnapshot(BaseModel):
    """Payload of contract.created / contract.changed / contract.terminated: the full terms of one version."""

    contract_id: str
    number: str
    client_id: str
    client_name: str
    version: int
    effective_from: date
    # The terms document of shared/domain/terms.md (services/common/terms.py); as JSON
    # {"client": {...}, "contract": {"services", "start", "end"[, "parameters"]}}
    terms: TermsDocument
    team: dict[str, TeamMember | None]
    contact_emails: list[str] = []
    language: str = "pl"


class CaseRequested(BaseModel):
    """Payload of case.requested: the scheduler asks for one generated case (natural key: contract, rule, period)."""

    contract_id: str
    contract_number: str = ""
    client_name: str = ""
    rule_id: str
    code: str
    period: str
    title_pl: str
    title_en: str
    due: date
    generate_on: date
    role: str
    assignee: TeamMember | None
    commissioner: TeamMember | None = None
    checklist: list[str] = []
    notice: list[str] = []
    rules_version: str
    contract_version: int


class CaseWithdrawn(BaseModel):
    contract_id: str
    rule_id: str
    period: str
    reason: str


class CaseCreated(BaseModel):
    case_id: str
    contract_id: str
    contract_number: str = ""
    client_name: str = ""
    rule_id: str | None
    code: str | None
    period: str | None
    title: str
    due: date
    assignee: TeamMember | None
    commissioner: TeamMember | None = None


CONTRACT_CREATED = "contract.created"
CONTRACT_CHANGED = "contract.changed"
CONTRACT_TERMINATED = "contract.terminated"
CASE_REQUESTED = "case.requested"
CASE_WITHDRAWN = "case.withdrawn"
CASE_CREATED = "case.created"
RULES_LOADED = "rules.loaded"
RULES_REJECTED = "rules.rejected"
NOTICE_SENT = "notice.sent"


class AbsenceChanged(BaseModel):
    """Payload of absence.changed (cases service): an absence registered, changed, ended early or cancelled.

    Sent whole each time; the newest `occurred_at` of an absence wins. While it lasts (`starts_on` to `ends_on`,
    both included, not cancelled) the substitute also sees the absent person's contracts (the gateway's rule)."""

    absence_id: str
    login: str
    substitute: str | None = None
    starts_on: date
    ends_on: date
    cancelled: bool = False


ABSENCE_CHANGED = "absence.changed"
