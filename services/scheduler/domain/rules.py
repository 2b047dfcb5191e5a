"""The obligation rule model: rules, due dates, overrides, the validated rule set and its limits (pure)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from services.common.calendar import Shift
from services.common.terms import ClientDuty, TeamRole, TermsDocument
from services.scheduler.domain.conditions import Condition, evaluate
from services.scheduler.domain.facts import build_fact

# obligations.md, "Obligation codes"; CIT_8E (Estonian CIT return, art. 28r CIT) and OFFBOARDING (the duties
# of a contract that ends) are additions.
OBLIGATION_CODES = frozenset(
    {
        "JPK_V7M", "JPK_V7K_RECORDS", "JPK_V7K", "VAT_UE", "PIT_ADVANCE_M", "PIT_ADVANCE_Q", "RYCZALT_M",
        "RYCZALT_Q", "CIT_ADVANCE_M", "CIT_ADVANCE_Q", "PIT_WITHHELD", "ZUS_DRA", "PPK", "PFRON", "INTRASTAT",
        "PIT_4R", "PIT_8AR", "PIT_11", "PIT_36", "PIT_36L", "PIT_28", "CIT_8", "CIT_8E", "ZUS_HEALTH_ANNUAL",
        "FS_PREPARE", "FS_APPROVE", "FS_FILE_KRS", "ONBOARDING", "OFFBOARDING",
        # The client's duties (`party: client`, rules/client.yaml).
        "CLIENT_DOCUMENTS", "CLIENT_PAYROLL_DATA", "CLIENT_BANK_STATEMENTS", "CLIENT_FS_SIGNING",
    }
)
# Whose duty a rule is: the office's (the default) or the client's, tracked by the office (`party: client`).
PARTIES = ("office", "client")
# The client's duties a contract may set (services/common/terms.py, ClientDuties), as rules name them in `duty`
# and `depends_on`; those with a day may take their due day from the contract (`due: {day: contract}`).
DUTIES = tuple(d.value for d in ClientDuty)
DAY_DUTIES = tuple(d.value for d in ClientDuty if d is not ClientDuty.statements_signing)
ROLES = tuple(role.value for role in TeamRole)
CATEGORIES = ("vat", "pit", "cit", "payroll", "zus", "statements", "statistics", "onboarding", "offboarding",
              "other")
NOTICE_KINDS = ("vat", "pit", "cit", "zus", "ppk", "pfron")
# What a rule may require attached to its case before the case is done (`requires: [upo]`).
ATTACHMENT_KINDS = ("upo", "statement", "other")
# The client's powers of attorney a rule's cases need to be filed (`requires_power: [UPL-1]`): the gateway warns on
# a case whose client has none in force (services/gateway/powers.py).
POWER_KINDS = ("UPL-1", "PEL", "KRS", "other")
PeriodKind = Literal["month", "quarter", "year", "fiscal_year", "fiscal_quarter", "once"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("month", "quarter", "year", "fiscal_year", "fiscal_quarter", "once")
RECURRENCE_PERIOD: dict[str, PeriodKind] = {
    "monthly": "month", "quarterly": "quarter", "yearly": "year", "fiscal_year": "fiscal_year",
    "fiscal_quarter": "fiscal_quarter", "once": "once",
}
PERIOD_LABEL_PATTERNS: dict[PeriodKind, str] = {
    "month": r"^\d{4}-(0[1-9]|1[0-2])$",
    "quarter": r"^\d{4}-Q[1-4]$",
    "year": r"^\d{4}$",
    "fiscal_year": r"^\d{4}(/\d{4})?$",
    "fiscal_quarter": r"^\d{4}(/\d{4})?-Q[1-4]$",
    "once": r"^\d{4}-\d{2}-\d{2}$",
}
# What a due date may count from. The contract's dates: its start, its signing (the first version's), the later
# of the two (a case is never due before the office could have known of it), its end and the day notice of
# termination was given (both known once a termination arrives).
DueAnchor = Literal["contract_start", "contract_signed", "later_of_start_and_signing", "contract_end",
                    "termination_notice", "period_start", "period_end"]
DUE_ANCHORS: tuple[DueAnchor, ...] = ("contract_start", "contract_signed", "later_of_start_and_signing",
                                      "contract_end", "termination_notice", "period_start", "period_end")
# Anchors known only once a contract ends: only one-time rules count from them.
END_ANCHORS: frozenset[DueAnchor] = frozenset({"contract_end", "termination_notice"})
PERIOD_ANCHORS: frozenset[DueAnchor] = frozenset({"period_start", "period_end"})

# What one rule set may hold, and what a rule file may be (rules/README.md, "Limits"). A hostile or broken
# folder is refused with a RuleProblem naming the file instead of exhausting the scheduler.
MAX_RULES = 400  # one durable_rules ruleset broke near 483 rules (design/durable-rules.md)
MAX_FILES = 100
MAX_FILE_BYTES = 256 * 1024
MAX_DOCUMENT_DEPTH = 40  # mappings and lists inside one another, the whole file
MAX_ALIASES = 100  # YAML `*alias` references per file
MAX_NODES = 100_000  # values in one file, counting what aliases repeat


@dataclass(frozen=True)
class Recurrence:
    """Which periods a rule creates cases for."""

    period: PeriodKind
    rrule: str | None = None  # each date it yields selects the period of kind `period` containing it
    months_of_quarter: frozenset[int] | None = None


@dataclass(frozen=True)
class Due:
    """The nominal due date, before overrides and the shift.

    Month form: day `day` (None = the last day) or business day `business_day` of the month that is
    `months_after` months after the month the period ends in (or, with `anchor`, the month of that date),
    plus `add_days`.
    Offset form (`offset`): the `anchor` date + `add_days`.
    """

    months_after: int = 0
    day: int | None = None
    business_day: int | None = None
    add_days: int = 0
    anchor: DueAnchor | None = None
    offset: bool = False
    contract_day: bool = False  # `day: contract`: the day the contract sets for the rule's duty


@dataclass(frozen=True)
class Lead:
    """How long before the (shifted) due date the case is created."""

    days: int = 0
    business: bool = False


@dataclass(frozen=True)
class RequiredItem:
    """A checklist item that must be ticked before its case may be done (`{item: ..., required: true}`), or only
    where the contract's terms meet `when` (`{item: ..., required_when: <condition>}`; elsewhere a plain item)."""

    item: str
    when: Condition | None = None


# A checklist item: its text, or a required one.
ChecklistEntry = str | RequiredItem


def checklist_json(items: Sequence[ChecklistEntry]) -> list[str | dict[str, Any]]:
    """Checklist items as messages and stored plans carry them: plain texts, required ones as {item, required}."""
    return [{"item": i.item, "required": True} if isinstance(i, RequiredItem) else i for i in items]


@dataclass(frozen=True)
class Rule:
    id: str
    code: str
    title_pl: str
    title_en: str
    category: str
    legal_basis: str
    when: Condition
    recurrence: Recurrence
    due: Due
    shift: Shift
    lead: Lead
    role: str
    checklist: tuple[ChecklistEntry, ...] = ()
    notice: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()  # attachment kinds the case needs before it is done
    requires_power: tuple[str, ...] = ()  # powers of attorney the case needs (POWER_KINDS)
    valid_from: date | None = None
    valid_to: date | None = None
    source: str = ""
    party: str = "office"  # office | client (a duty of the client the office tracks)
    duty: str | None = None  # the client's duty (ClientDuty) a client-party rule stands for
    depends_on: tuple[str, ...] = ()  # client duties this (office) duty needs first, e.g. ("documents",)


@dataclass(frozen=True)
class DueOverride:
    """A due date set by regulation for one period of an obligation (keyed by code or rule id)."""

    key: str
    period: str
    due: date
    reason: str
    source: str = ""


@dataclass(frozen=True)
class RuleProblem:
    """One error in a rule file; str() names the file, the item and the field."""

    file: str
    rule_id: str | None
    field: str | None
    message: str
    kind: str = "rule"

    def __str__(self) -> str:
        parts = [self.file]
        if self.rule_id is not None:
            parts.append(f"{self.kind} '{self.rule_id}'")
        if self.field:
            parts.append(f"field '{self.field}'")
        return ": ".join([*parts, self.message])


class RuleSetError(ValueError):
    """The rule files have errors; `problems` lists every one of them."""

    def __init__(self, problems: Sequence[RuleProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class RuleSet:
    """A validated set of rules, overrides and extra days off; `version` hashes the files."""

    version: str
    rules: tuple[Rule, ...]
    overrides: tuple[DueOverride, ...] = ()
    extra_days_off: frozenset[date] = frozenset()
    files: tuple[str, ...] = ()
    _by_id: dict[str, Rule] = field(default_factory=dict, compare=False, repr=False)
    _override_index: dict[tuple[str, str], DueOverride] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id.update({r.id: r for r in self.rules})
        self._override_index.update({(o.key, o.period): o for o in self.overrides})

    def rule(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    def override_for(self, rule: Rule, period: str) -> DueOverride | None:
        """A rule-id override wins over a code override for the same period."""
        return self._override_index.get((rule.id, period)) or self._override_index.get((rule.code, period))

    def matching_rule_ids(self, terms: TermsDocument | Mapping[str, Any]) -> list[str]:
        """The rules the reference evaluator matches (the test oracle, see conditions.py); TermsError if a
        mapping is not a valid terms document."""
        fact = build_fact(terms)
        return [r.id for r in self.rules if evaluate(r.when, fact)]


def ruleset_version(files: Sequence[tuple[str, bytes]]) -> str:
    """A short stable hash over the files' names and contents."""
    digest = hashlib.sha256()
    for name, content in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()[:12]
