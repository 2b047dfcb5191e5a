"""Planning: which cases a contract's terms versions create over a horizon, each with its due dates (pure)."""

from __future__ import annotations

import calendar as _stdcal
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrulestr

from services.common.calendar import BusinessCalendar
from services.common.terms import ClientDuty, TermsDocument
from services.scheduler.domain.conditions import evaluate
from services.scheduler.domain.facts import build_fact, parse_terms
from services.scheduler.domain.rules import (
    DUE_ANCHORS,
    END_ANCHORS,
    PERIOD_ANCHORS,
    ChecklistEntry,
    Due,
    DueAnchor,
    PeriodKind,
    RequiredItem,
    Rule,
    RuleSet,
)

# Due dates counting from one of these depend on the contract's own dates, not only on the period.
CONTRACT_ANCHORS = frozenset(a for a in DUE_ANCHORS if a not in PERIOD_ANCHORS)

# Due dates lie at most ~2 years after their period ends (months_after <= 24, add_days <= 366), so
# periods ending earlier than this before the horizon cannot be due inside it.
_LOOKBACK = relativedelta(years=3)


@dataclass(frozen=True)
class TermsVersion:
    """One version of a contract's terms (terms.md document) and the day it takes effect."""

    version: int
    effective_from: date
    terms: TermsDocument  # given as a mapping (JSON), it is validated: TermsError

    def __post_init__(self) -> None:
        if not isinstance(self.terms, TermsDocument):
            object.__setattr__(self, "terms", parse_terms(self.terms))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> TermsVersion:
        """From stored JSON: {"version": 2, "effective_from": "2026-07-01", "terms": {...}} (terms may also be a
        TermsDocument already); TermsError when the terms are not a valid terms document."""
        effective = raw["effective_from"]
        return cls(int(raw["version"]), effective if isinstance(effective, date) else date.fromisoformat(effective),
                   parse_terms(raw["terms"]))


@dataclass(frozen=True)
class Period:
    """The stretch of time one case covers, with its label (`2026-03`, `2026-Q1`, `2026`, `2025/2026`)."""

    label: str
    start: date
    end: date


@dataclass(frozen=True)
class Occurrence:
    """One case a contract will need: which rule, which period, when it is due, when to create it."""

    rule_id: str
    code: str
    period: str
    period_start: date
    period_end: date
    due: date
    nominal_due: date
    generate_on: date
    role: str
    title_pl: str
    title_en: str
    checklist: tuple[ChecklistEntry, ...]
    notice: tuple[str, ...]
    contract_version: int
    overridden: bool = False
    requires: tuple[str, ...] = ()
    party: str = "office"  # client: a duty of the client, tracked by the office (rules' `party`)
    duty: str | None = None  # the client's duty a client-party occurrence stands for
    depends_on: tuple[str, ...] = ()  # the client's duties this occurrence's work needs first


MatchedRules = Mapping[int, Collection[str]] | Callable[[TermsDocument], Collection[str]]


class PlanningError(ValueError):
    """The contract cannot be planned (e.g. no start date); the message says what to fix."""


# --- periods --------------------------------------------------------------------------------------

def _month_end(year: int, month: int) -> date:
    return date(year, month, _stdcal.monthrange(year, month)[1])


def month_period(year: int, month: int) -> Period:
    return Period(f"{year}-{month:02d}", date(year, month, 1), _month_end(year, month))


def quarter_period(year: int, quarter: int) -> Period:
    first = 3 * quarter - 2
    return Period(f"{year}-Q{quarter}", date(year, first, 1), _month_end(year, first + 2))


def year_period(year: int) -> Period:
    return Period(str(year), date(year, 1, 1), date(year, 12, 31))


def fiscal_year_period(end: date) -> Period:
    """The 12 months ending on `end`; labelled `2026` for a calendar year, `2025/2026` otherwise."""
    start = end + timedelta(days=1) - relativedelta(years=1)
    label = str(end.year) if (end.month, end.day) == (12, 31) else f"{start.year}/{end.year}"
    return Period(label, start, end)


def fiscal_quarters(year: Period) -> list[Period]:
    """The four quarters of a (tax) year, labelled after it: `2026-Q1` of a calendar year (the calendar quarter's
    own label), `2025/2026-Q1` for the first three months of a year from April 2025 to March 2026."""
    quarters = []
    for index in range(4):
        start = year.start + relativedelta(months=3 * index)
        quarters.append(Period(f"{year.label}-Q{index + 1}", start,
                               start + relativedelta(months=3) - timedelta(days=1)))
    return quarters


def _fiscal_year_end(terms: TermsDocument, year: int) -> date:
    month, day = (int(x) for x in terms.client.fiscal_year_end.split("-"))
    # A 02-29 year end is read as the last day of February in every year.
    return date(year, month, min(day, _stdcal.monthrange(year, month)[1]))


def _period_containing(kind: PeriodKind, d: date) -> Period:
    if kind == "month":
        return month_period(d.year, d.month)
    if kind == "quarter":
        return quarter_period(d.year, (d.month - 1) // 3 + 1)
    return year_period(d.year)


def _calendar_periods(kind: PeriodKind, first: date, last: date) -> Iterator[Period]:
    period = _period_containing(kind, first)
    while period.start <= last:
        yield period
        period = _period_containing(kind, period.end + timedelta(days=1))


def _rrule_periods(rule: Rule, first: date, last: date) -> Iterator[Period]:
    assert rule.recurrence.rrule is not None
    # DTSTART is fixed, so BYxxx parts mean the same for every contract and an INTERVAL counts from 2000.
    dates = rrulestr(rule.recurrence.rrule, dtstart=datetime(2000, 1, 1))
    seen: set[str] = set()
    window_start = _period_containing(rule.recurrence.period, first).start
    for moment in dates.between(datetime.combine(window_start, datetime.min.time()),
                                datetime.combine(last, datetime.min.time()), inc=True):
        period = _period_containing(rule.recurrence.period, moment.date())
        if period.label not in seen:
            seen.add(period.label)
            yield period


def rule_periods(rule: Rule, first: date, last: date, fiscal_terms: TermsDocument) -> Iterator[Period]:
    """Periods of `rule` that overlap [first, last] (`once` is handled by the caller)."""
    recurrence = rule.recurrence
    if recurrence.period in ("fiscal_year", "fiscal_quarter"):
        for year in range(first.year, last.year + 2):
            fiscal = fiscal_year_period(_fiscal_year_end(fiscal_terms, year))
            for period in fiscal_quarters(fiscal) if recurrence.period == "fiscal_quarter" else [fiscal]:
                if period.end >= first and period.start <= last:
                    yield period
        return
    periods = (_rrule_periods(rule, first, last) if recurrence.rrule
               else _calendar_periods(recurrence.period, first, last))
    for period in periods:
        if recurrence.months_of_quarter and (period.start.month - 1) % 3 + 1 not in recurrence.months_of_quarter:
            continue
        yield period


# --- due dates ------------------------------------------------------------------------------------

def nominal_due(due: Due, period: Period, dates: ContractDates, calendar: BusinessCalendar) -> date | None:
    """The due date the rule states, before overrides and the shift; None when it counts from a date the
    contract does not have (yet): its end or the notice of termination."""
    if due.anchor is None or due.anchor == "period_end":
        base = period.end
    elif due.anchor == "period_start":
        base = period.start
    else:
        anchored = dates.anchor(due.anchor)
        if anchored is None:
            return None
        base = anchored
    if due.offset:
        return base + timedelta(days=due.add_days)
    target = date(base.year, base.month, 1) + relativedelta(months=due.months_after)
    if due.business_day is not None:
        day = calendar.nth_business_day(target.year, target.month, due.business_day)
    else:
        last = _stdcal.monthrange(target.year, target.month)[1]
        # "Day 31" in a 30-day month is read as the month's last day, like "day: last".
        day = target.replace(day=last if due.day is None else min(due.day, last))
    return day + timedelta(days=due.add_days)


def _generate_on(rule: Rule, due: date, calendar: BusinessCalendar) -> date:
    if rule.lead.business:
        return calendar.add_business_days(due, -rule.lead.days)
    return due - timedelta(days=rule.lead.days)


# --- contracts ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ContractDates:
    """The dates of a contract rules may count from (see rules.DueAnchor)."""

    start: date
    end: date | None = None
    signed_on: date | None = None  # the contract's (first version's) signing day; None: not known
    notice_on: date | None = None  # the day notice of termination was given

    def anchor(self, name: DueAnchor) -> date | None:
        """The contract's date `name`; a contract whose signing day is not known counts as signed at its start."""
        if name == "contract_start":
            return self.start
        if name == "contract_signed":
            return self.signed_on or self.start
        if name == "later_of_start_and_signing":
            return max(self.start, self.signed_on or self.start)
        if name == "contract_end":
            return self.end
        if name == "termination_notice":
            return self.notice_on
        raise ValueError(f"{name} is not a date of the contract")


def contract_dates(versions: Sequence[TermsVersion]) -> ContractDates:
    """Start, end and notice from the latest version's `contract` (an annex may set the end, a termination
    the end and the notice), the signing day from the first version (an annex carries its own)."""
    latest = versions[-1].terms.contract
    if latest.end is not None and latest.end < latest.start:
        raise PlanningError(f"contract.end {latest.end} is before contract.start {latest.start}")
    first = min(versions, key=lambda v: v.version).terms.contract
    return ContractDates(latest.start, latest.end, first.signed_on, latest.notice_on)


def version_in_force(versions: Sequence[TermsVersion], day: date) -> TermsVersion:
    """The version with the latest effective_from on or before `day` (the first version before any)."""
    current = versions[0]
    for version in versions:
        if version.effective_from <= day:
            current = version
    return current


def _matched_ids(matched: MatchedRules, version: TermsVersion, cache: dict[int, frozenset[str]]) -> frozenset[str]:
    if version.version not in cache:
        ids = matched(version.terms) if callable(matched) else matched.get(version.version, ())
        cache[version.version] = frozenset(ids)
    return cache[version.version]


def _in_validity(rule: Rule, period: Period) -> bool:
    if rule.valid_from and period.end < rule.valid_from:
        return False
    return not (rule.valid_to and period.start > rule.valid_to)


def _checklist(rule: Rule, version: TermsVersion) -> tuple[ChecklistEntry, ...]:
    """The rule's checklist for this contract: an item `required_when` a condition the terms do not meet is plain."""
    if not any(isinstance(i, RequiredItem) and i.when is not None for i in rule.checklist):
        return rule.checklist
    fact = build_fact(version.terms)
    return tuple(i.item if isinstance(i, RequiredItem) and i.when is not None and not evaluate(i.when, fact)
                 else RequiredItem(i.item) if isinstance(i, RequiredItem) else i for i in rule.checklist)


def _depends_on_terms(rule: Rule) -> bool:
    """An occurrence of this rule reads the version's terms (a duty's day, a checklist item `required_when`), so it
    cannot be shared between contracts by (rule, period, version number) alone."""
    return rule.due.contract_day or any(isinstance(i, RequiredItem) and i.when is not None for i in rule.checklist)


def duty_applies(rule: Rule, version: TermsVersion) -> bool:
    """A client-party rule applies only where the version's contract sets its duty (office rules: always)."""
    return rule.duty is None or version.terms.contract.client_duties.has(ClientDuty(rule.duty))


def _occurrence(rule: Rule, period: Period, version: TermsVersion, dates: ContractDates, ruleset: RuleSet,
                calendar: BusinessCalendar) -> Occurrence | None:
    due_rule = rule.due
    if due_rule.contract_day and rule.duty is not None:
        # `day: contract`: the day this version's contract sets for the duty (documents by the 8th, …).
        due_rule = replace(due_rule, day=version.terms.contract.client_duties.day_of(ClientDuty(rule.duty)))
    nominal = nominal_due(due_rule, period, dates, calendar)
    if nominal is None:
        return None
    override = ruleset.override_for(rule, period.label)
    due = calendar.shift(override.due if override else nominal, rule.shift)
    return Occurrence(
        rule_id=rule.id, code=rule.code, period=period.label, period_start=period.start, period_end=period.end,
        due=due, nominal_due=override.due if override else nominal, generate_on=_generate_on(rule, due, calendar),
        role=rule.role, title_pl=rule.title_pl, title_en=rule.title_en, checklist=_checklist(rule, version),
        notice=rule.notice, requires=rule.requires, contract_version=version.version, overridden=override is not None,
        party=rule.party, duty=rule.duty, depends_on=rule.depends_on,
    )


def plan_contract(
    *,
    contract_id: str,
    versions: Sequence[TermsVersion],
    ruleset: RuleSet,
    matched: MatchedRules,
    calendar: BusinessCalendar,
    date_from: date,
    date_to: date,
    memo: dict[Any, Occurrence | None] | None = None,
) -> list[Occurrence]:
    """Occurrences whose (shifted) due date lies in [date_from, date_to], sorted by due date and rule.

    A period is planned when it overlaps the contract's [start, end]; the terms version that decides
    whether a rule applies is the one in force on the period's last day (or on the contract's end when
    that is earlier). `matched` gives the rule ids per version number, or computes them from terms.

    `memo`: a dict the caller keeps for one `ruleset` (its overrides) and one `calendar`, where each occurrence
    is remembered by what it depends on — the rule, the period, the deciding version's number and, for a rule
    counting from the contract's own dates, those dates — so a period's due and generate-on dates are computed
    once per rule and period, not once per contract.
    """
    if not versions:
        return []
    ordered = sorted(versions, key=lambda v: (v.effective_from, v.version))
    dates = contract_dates(ordered)
    start, end = dates.start, dates.end
    last = min(end, date_to) if end else date_to
    first = max(start, date_from - _LOOKBACK)
    cache: dict[int, frozenset[str]] = {}
    found: dict[tuple[str, str], Occurrence] = {}
    for rule in ruleset.rules:
        if rule.recurrence.period == "once":
            # One case per contract, keyed by its start. A duty of the contract's end is decided by the terms in
            # force at the end (and its validity checked against the end).
            day = (end or start) if rule.due.anchor in END_ANCHORS else start
            period = Period(start.isoformat(), day, day)
            candidates: list[tuple[Period, TermsVersion]] = [(period, version_in_force(ordered, day))]
        else:
            candidates = []
            for period in rule_periods(rule, first, last, ordered[-1].terms):
                if period.end < start or (end and period.start > end):
                    continue
                decisive = min(period.end, end) if end else period.end
                candidates.append((period, version_in_force(ordered, decisive)))
        for period, version in candidates:
            if not _in_validity(rule, period) or rule.id not in _matched_ids(matched, version, cache):
                continue
            if not duty_applies(rule, version):
                continue
            if memo is None or _depends_on_terms(rule):
                occurrence = _occurrence(rule, period, version, dates, ruleset, calendar)
            else:
                key = (rule.id, period, version.version, dates if rule.due.anchor in CONTRACT_ANCHORS else None)
                if key in memo:
                    occurrence = memo[key]
                else:
                    occurrence = memo[key] = _occurrence(rule, period, version, dates, ruleset, calendar)
            if occurrence is not None and date_from <= occurrence.due <= date_to:
                found[(rule.id, period.label)] = occurrence
    return sorted(found.values(), key=lambda o: (o.due, o.rule_id, o.period))


def plan_terms(
    terms: TermsDocument | Mapping[str, Any],
    ruleset: RuleSet,
    calendar: BusinessCalendar,
    date_from: date,
    date_to: date,
    *,
    matched: Collection[str] | None = None,
    contract_id: str = "terms",
) -> list[Occurrence]:
    """Plan one unversioned terms document (a mapping is validated: TermsError); `matched` defaults to the
    reference evaluator (the test oracle, see conditions.py)."""
    document = parse_terms(terms)
    ids = ruleset.matching_rule_ids(document) if matched is None else matched
    return plan_contract(
        contract_id=contract_id, versions=[TermsVersion(1, document.contract.start, document)], ruleset=ruleset,
        matched={1: ids}, calendar=calendar, date_from=date_from, date_to=date_to,
    )
