"""The message schemas every service shares: the envelope and the payload of each event type.

Services never import each other's internals; this module is the contract between them.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from services.common.accounts import AccountError, normalize_mikrorachunek, normalize_nrb
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


# A checklist item as rules give it: its text, or {"item": text, "required": bool}.
ChecklistItem = str | dict[str, Any]


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
    checklist: list[ChecklistItem] = []
    notice: list[str] = []
    requires: list[str] = []  # attachment kinds (upo, statement, other) the case needs before it is done
    client_id: str = ""  # the contract's client ("" from a scheduler older than this field)
    rules_version: str
    contract_version: int
    # Requested after its due date (e.g. a contract entered after a deadline it covers), by the scheduler's today
    # when it asked. Informational: the cases service decides "born overdue" with its own today when it creates
    # the case (a request due today handled after midnight is born overdue), and stores and announces that.
    late_on_creation: bool = False
    # Whose duty: office, or client (a client task the accountant tracks; `duty`: which of the client's duties);
    # `depends_on`: the client's duties this office case needs first (its period's client task shows on it).
    party: Literal["office", "client"] = "office"
    duty: str | None = None
    depends_on: list[str] = []


class CaseReplanned(BaseModel):
    """Payload of case.replanned: an occurrence whose case exists changed (rules or contract change): what its rule
    gives a case (due and generate-on dates, code, titles, checklist, role, notice, requires, party and duty,
    depends_on) is now this. Open and in-progress cases follow and keep their assignee.

    The fields from `code` on are None in a message that does not carry them (one from a scheduler older than
    them, replayed): the case keeps its value. `duty` travels with `party` (an office case has no duty).
    `contract_version`: the contract version that decides the occurrence now (an annex may change it), which the
    open case then names."""

    contract_id: str
    rule_id: str
    period: str
    due: date
    generate_on: date
    title_pl: str
    title_en: str
    checklist: list[ChecklistItem] = []
    role: str
    rules_version: str
    reason: str
    code: str | None = None
    notice: list[str] | None = None
    requires: list[str] | None = None
    party: Literal["office", "client"] | None = None
    duty: str | None = None
    depends_on: list[str] | None = None
    contract_version: int | None = None


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
    # Born overdue: due before the cases service's today when it created the case — the same fact it stores
    # (`cases.late_on_creation`) and lists in the managers' summary; this mail is how its assignee is told at once.
    late_on_creation: bool = False
    # A client task (party client): the notifier reminds the client of it (`duty`, its `client_id`) before and
    # after its due date until it is done or the client confirms.
    party: Literal["office", "client"] = "office"
    duty: str | None = None
    client_id: str = ""
    title_en: str = ""


# --- Clients: who the office tells, and where a client pays ------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
Language = Literal["pl", "en"]


class ClientRecipient(BaseModel):
    """One person at the client who receives notices (and confirms them)."""

    email: str
    name: str = ""
    language: Language = "pl"

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip()
        if not _EMAIL.match(value):
            raise ValueError("is not an e-mail address")
        return value


class ClientAccounts(BaseModel):
    """Where the client pays: 26-digit NRB strings, checked (mod 97; the mikrorachunek also by its structure).

    `mikrorachunek`: VAT, PIT and CIT (obligations.md §9); left out, the notifier computes it from the NIP (or
    PESEL). `nrs`: the ZUS contribution account (§6.4). `ppk`: the PPK institution's account for this employer.
    `pfron`: the account the client pays PFRON contributions to."""

    mikrorachunek: str | None = None
    nrs: str | None = None
    ppk: str | None = None
    pfron: str | None = None

    @field_validator("nrs", "ppk", "pfron")
    @classmethod
    def _nrb(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return normalize_nrb(value)
        except AccountError as exc:
            raise PydanticCustomError("invalid_account", "{reason}", {"reason": str(exc)}) from None

    @field_validator("mikrorachunek")
    @classmethod
    def _mikrorachunek(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return normalize_mikrorachunek(value)
        except AccountError as exc:
            raise PydanticCustomError("invalid_account", "{reason}", {"reason": str(exc)}) from None


class ClientChanged(BaseModel):
    """Payload of client.changed (contracts service): the client as the notifier needs it, whole each time.

    A newer `updated_at` wins; an older message arriving late changes nothing."""

    client_id: str
    name: str
    nip: str | None = None
    pesel: str | None = None
    language: Language = "pl"
    recipients: list[ClientRecipient] = []
    accounts: ClientAccounts = Field(default_factory=ClientAccounts)
    ppk_institution: str = ""  # the PPK institution's name (the payee on the transfer)
    notices: bool = True  # False: the office tells this client nothing by e-mail (notices stay visible to staff)
    updated_at: datetime


class ClientErased(BaseModel):
    """Payload of client.erased (contracts service): the client's retention ended and the contracts service erased
    its personal data. Every service that holds some erases it in its own transaction, found by the client's id
    or its contracts' ids, and keeps the figures (counts, amounts, dates, ids); handling it twice changes nothing.
    `placeholder` stands for the client's name from then on."""

    client_id: str
    contract_ids: list[str] = []
    placeholder: str
    erased_at: datetime


# --- Cases: finished with liabilities, reopened; the staff mails the cases service decides -----------

LiabilityKind = Literal["vat", "pit", "cit", "zus", "ppk", "pfron"]


class Liability(BaseModel):
    """One amount a client must pay. `amount` travels as a decimal string ("1234.56"); zero is valid."""

    kind: LiabilityKind
    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    due: date  # the effective due date, after the free-day shift
    form: str = ""  # the form or payment symbol for the transfer title, e.g. "VAT-7", "VAT-7K", "PIT-36L", "CIT-8"
    period: str = ""  # the period it is for, when other than the case's ("2026-10", "2026-Q3", "2026")


class CaseCompleted(BaseModel):
    """Payload of case.completed: the accountant finished a case; its liabilities (may be none) go to the client.

    `revision` is 1 for the first completion and grows with each completion after a reopen: a higher revision
    of a case whose notice was already sent makes a corrected notice that replaces the old one."""

    case_id: str
    contract_id: str
    client_id: str
    client_name: str = ""
    contract_number: str = ""
    rule_id: str | None = None
    code: str | None = None
    period: str | None = None
    title: str = ""
    revision: int = Field(1, ge=1)
    completed_by: TeamMember
    assignee: TeamMember | None = None
    liabilities: list[Liability] = []
    # A client task done (party client: what was due was received): the notifier stops reminding the client.
    party: Literal["office", "client"] = "office"


class CaseReopened(BaseModel):
    """Payload of case.reopened: the case's notice is withdrawn (no more reminders) until it is completed again."""

    case_id: str
    contract_id: str | None = None
    reason: str = ""
    reopened_by: TeamMember | None = None


class CasePartyChanged(BaseModel):
    """Payload of case.party_changed (cases service): a replan (case.replanned) switched an open or in-progress case
    between the office's work and a client task (`party`), or a client task to another duty. The notifier follows:
    becoming a client task starts the client's duty notice as a created one would; no longer one, its pending duty
    notice is withdrawn (no more reminders). Sent once, in the transaction that changed the case."""

    case_id: str
    contract_id: str
    contract_number: str = ""
    client_name: str = ""
    client_id: str = ""
    rule_id: str | None
    code: str | None = None
    period: str | None
    title: str
    title_en: str = ""
    due: date
    assignee: TeamMember | None = None  # the accountant who owns the task (Reply-To of its notice)
    party: Literal["office", "client"]
    duty: str | None = None
    previous_party: Literal["office", "client"]
    reason: str = ""  # the replan's reason, with its rules version


class CaseRef(BaseModel):
    """A case as a staff mail lists it."""

    case_id: str
    title: str
    client_name: str = ""
    contract_number: str = ""
    period: str | None = None
    due: date
    status: str = "open"


class CaseDueSoon(BaseModel):
    """Payload of case.due_soon: tell the assignee a case falls due in `days_left` business days (once per day)."""

    case: CaseRef
    contract_id: str
    day: date
    days_left: int
    recipient: TeamMember


class CaseOverdue(BaseModel):
    """Payload of case.overdue: tell the assignee a case is past its due date (once per day)."""

    case: CaseRef
    contract_id: str
    day: date
    days_overdue: int
    recipient: TeamMember


class CaseEscalated(BaseModel):
    """Payload of case.escalated: an escalation step was reached; each recipient gets one mail per step."""

    case: CaseRef
    contract_id: str
    step: int
    reason: str = ""
    recipients: list[TeamMember]


class CaseDigest(BaseModel):
    """Payload of case.digest: one person's morning summary for one business day. The notifier adds the client
    notices of that person's cases still waiting for the client's confirmation."""

    recipient: TeamMember
    day: date
    due_today: list[CaseRef] = []
    due_this_week: list[CaseRef] = []
    overdue: list[CaseRef] = []
    new_since_yesterday: list[CaseRef] = []


class CaseOverdueSummary(BaseModel):
    """Payload of case.overdue_summary: many cases were born overdue at once (e.g. a contract signed late);
    a manager gets one mail listing them instead of one mail per case."""

    recipient: TeamMember
    day: date
    reason: str = ""
    total: int
    cases: list[CaseRef] = []  # the first ones; `total` counts all


# --- What the notifier tells the others ---------------------------------------------------------------

class NoticeSent(BaseModel):
    """Payload of notice.sent: a notice reached a recipient's mail server (or the local outbox) the first time."""

    notice_id: str
    client_id: str
    contract_id: str | None
    case_ids: list[str]
    recipient: str
    sent_at: datetime
    delivery: Literal["smtp", "local"] = "smtp"


class NoticeConfirmed(BaseModel):
    """Payload of notice.confirmed: a client recipient confirmed reading the notice."""

    notice_id: str
    client_id: str
    contract_id: str | None
    case_ids: list[str]
    recipient: str
    confirmed_at: datetime


class NoticeFailed(BaseModel):
    """Payload of notice.failed: a notice cannot be delivered to a recipient (a 5xx refusal, retries spent,
    or no recipient at all: `recipient` empty)."""

    notice_id: str
    client_id: str
    contract_id: str | None
    case_ids: list[str]
    recipient: str
    reply: str
    failed_at: datetime


class NoticeEscalated(BaseModel):
    """Payload of notice.escalated: a notice is still unconfirmed `reason` = "unconfirmed_before_due" (N days
    before its due date) or "reminders_stopped" (the cut-off after the due date passed)."""

    notice_id: str
    client_id: str
    contract_id: str | None
    case_ids: list[str]
    due: date | None
    reason: Literal["unconfirmed_before_due", "reminders_stopped"]
    accountant: TeamMember | None = None


class FeeOverdue(BaseModel):
    """Payload of fee.overdue (contracts service): a contract month's fee is still unpaid after its payment day
    (the business calendar's shift applied). Sent once per (contract, month), by the daily check or the manager's
    "Przypomnij klientowi" button (`source`); the notifier reminds the client of it daily until `fee.settled` or the
    client confirms the transfer. Amounts travel as decimal strings."""

    contract_id: str
    number: str
    client_id: str
    client_name: str = ""
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    gross: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    paid: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    outstanding: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    payment_due: date
    source: Literal["daily", "manual"] = "daily"
    requested_by: TeamMember | None = None  # the manager who pressed the button (the notice's Reply-To)


class FeeSettled(BaseModel):
    """Payload of fee.settled (contracts service): a month announced by fee.overdue is paid now (a payment recorded,
    imported or assigned covers it); its reminders stop and the client's link says it was paid."""

    contract_id: str
    client_id: str
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    paid: Decimal = Field(ge=0, max_digits=14, decimal_places=2)


CONTRACT_CREATED = "contract.created"
CONTRACT_CHANGED = "contract.changed"
CONTRACT_TERMINATED = "contract.terminated"
CASE_REQUESTED = "case.requested"
CASE_WITHDRAWN = "case.withdrawn"
CASE_REPLANNED = "case.replanned"
CASE_CREATED = "case.created"
CASE_PARTY_CHANGED = "case.party_changed"
RULES_LOADED = "rules.loaded"
RULES_REJECTED = "rules.rejected"
CASE_COMPLETED = "case.completed"
CASE_REOPENED = "case.reopened"
CASE_DUE_SOON = "case.due_soon"
CASE_OVERDUE = "case.overdue"
CASE_ESCALATED = "case.escalated"
CASE_DIGEST = "case.digest"
CASE_OVERDUE_SUMMARY = "case.overdue_summary"
CLIENT_CHANGED = "client.changed"
CLIENT_ERASED = "client.erased"
NOTICE_SENT = "notice.sent"
NOTICE_CONFIRMED = "notice.confirmed"
NOTICE_FAILED = "notice.failed"
NOTICE_ESCALATED = "notice.escalated"
FEE_OVERDUE = "fee.overdue"
FEE_SETTLED = "fee.settled"


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
