"""What the scheduler plans with: one rules version, compiled, and its business calendar, swapped whole."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any

from services.common.calendar import BusinessCalendar
from services.common.terms import TermsDocument
from services.scheduler.domain.conditions import evaluate, terms_read
from services.scheduler.domain.facts import TermsError, build_fact, fact_key, parse_terms
from services.scheduler.domain.planning import CONTRACT_ANCHORS, Occurrence, TermsVersion, contract_dates, plan_contract
from services.scheduler.domain.rules import (
    RequiredItem,
    RuleProblem,
    RuleSet,
    RuleSetError,
    checklist_json,
)
from services.scheduler.engine import ObligationMatcher
from services.scheduler.rulefiles import load_ruleset, read_rule_files

__all__ = ["CASE_FIELDS", "Planner", "RuleSetError", "occurrence_changes", "occurrence_columns", "problem_dict",
           "read_rule_files"]


def problem_dict(problem: RuleProblem) -> dict[str, Any]:
    return {"file": problem.file, "rule_id": problem.rule_id, "field": problem.field, "message": problem.message,
            "text": str(problem)}


class Detail(dict[str, Any]):
    """An occurrence's `detail` column, with its JSON text made once (bulk writes copy it many times)."""

    @property
    def json(self) -> str:
        text: str | None = self.__dict__.get("_json")
        if text is None:
            text = self.__dict__["_json"] = json.dumps(self)
        return text


def occurrence_columns(o: Occurrence) -> dict[str, Any]:
    """An occurrence as a row of the `occurrences` table (without contract, status and rules version).

    Remembered on the occurrence itself (not a field: equality and hashing ignore it): contracts share their
    occurrences (see Planner.plan), and so their rows, without hashing every field of the occurrence to find it.
    Callers copy it (`{**occurrence_columns(o), ...}`) and never change it."""
    columns: dict[str, Any] | None = o.__dict__.get("_columns")
    if columns is None:
        columns = _columns(o)
        object.__setattr__(o, "_columns", columns)  # a frozen dataclass: a private memo beside its fields
    return columns


def _columns(o: Occurrence) -> dict[str, Any]:
    return {
        "rule_id": o.rule_id, "period": o.period, "code": o.code, "due": o.due, "generate_on": o.generate_on,
        "role": o.role, "contract_version": o.contract_version,
        "detail": Detail(title_pl=o.title_pl, title_en=o.title_en, checklist=checklist_json(o.checklist),
                         notice=list(o.notice), nominal_due=o.nominal_due.isoformat(), overridden=o.overridden,
                         **({"requires": list(o.requires)} if o.requires else {}),
                         **({"party": o.party, "duty": o.duty} if o.party != "office" else {}),
                         **({"depends_on": list(o.depends_on)} if o.depends_on else {})),
    }


# What a case takes from its rule: a change to one of these reaches the open case (case.replanned). Not here:
# `requires_power`, which no case stores (the gateway reads it from the rules in force by the case's rule id).
CASE_FIELDS = ("due", "generate_on", "code", "title_pl", "title_en", "checklist", "role", "notice", "requires",
               "party", "duty", "depends_on")


def occurrence_changes(stored: Any, occurrence: Occurrence) -> dict[str, dict[str, Any]]:
    """What a case would show differently if `stored` (an `occurrences` row) became `occurrence`:
    {field: {"from": old, "to": new}} in JSON form, for the fields of CASE_FIELDS that differ. A row's detail
    leaves out an empty `requires` or `depends_on` and an office rule's party (see `_columns`)."""
    columns = occurrence_columns(occurrence)
    if (stored.due == occurrence.due and stored.generate_on == occurrence.generate_on and stored.role == occurrence.role
            and stored.code == occurrence.code and stored.detail == columns["detail"]):
        return {}  # the common case, stored as this scheduler writes it: no field by field comparison
    detail = stored.detail
    old = {"due": stored.due, "generate_on": stored.generate_on, "code": stored.code,
           "title_pl": detail.get("title_pl"), "title_en": detail.get("title_en"),
           "checklist": list(detail.get("checklist") or []), "role": stored.role,
           "notice": list(detail.get("notice") or []), "requires": list(detail.get("requires") or []),
           "party": detail.get("party") or "office", "duty": detail.get("duty"),
           "depends_on": list(detail.get("depends_on") or [])}
    new = {"due": occurrence.due, "generate_on": occurrence.generate_on, "code": occurrence.code,
           "title_pl": occurrence.title_pl, "title_en": occurrence.title_en,
           "checklist": checklist_json(occurrence.checklist), "role": occurrence.role,
           "notice": list(occurrence.notice), "requires": list(occurrence.requires), "party": occurrence.party,
           "duty": occurrence.duty, "depends_on": list(occurrence.depends_on)}
    return {name: {"from": _json(old[name]), "to": _json(new[name])} for name in CASE_FIELDS
            if old[name] != new[name]}


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value



# What one rule contributes to a plan depends only on this key (see Planner.plan).
_RuleKey = tuple[Any, ...]


_BY_DUE = attrgetter("due", "rule_id", "period")


def _month(day: date) -> tuple[int, int]:
    return day.year, day.month


class Planner:
    # Bound on the memo of per-rule plans; it also starts afresh whenever the planning window moves.
    MEMO_LIMIT = 100_000

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        try:
            self.matcher = ObligationMatcher(ruleset)
        except Exception as exc:  # the engine is C code we do not control: its failure is a refused set
            raise RuleSetError([RuleProblem(", ".join(ruleset.files) or "rules", None, None,
                                            f"the rules engine could not compile this set: {exc!r}")]) from exc
        self.calendar = BusinessCalendar(extra_days_off=ruleset.extra_days_off)
        # Each rule alone (with every override and day off): plan_contract treats rules independently.
        self._single = {rule.id: RuleSet(version=ruleset.version, rules=(rule,), overrides=ruleset.overrides,
                                         extra_days_off=ruleset.extra_days_off, files=ruleset.files)
                        for rule in ruleset.rules}
        self._order = {rule.id: i for i, rule in enumerate(ruleset.rules)}
        # Rules whose dates depend on the contract's own days (start, signing, end, notice); for the others only
        # the start's month matters, as every period kind (month, quarter, year, fiscal year and quarter) begins
        # and ends on a month's boundary.
        self._start_day_matters = {rule.id for rule in ruleset.rules
                                   if rule.recurrence.period == "once" or rule.due.anchor in CONTRACT_ANCHORS}
        # Client-party rules: their plan also depends on the duties each version's contract sets.
        self._duty_rules = {rule.id for rule in ruleset.rules if rule.duty is not None}
        # Rules with checklist items required only where the terms meet a condition: their plan depends on it.
        self._conditional = {rule.id: tuple(i.when for i in rule.checklist
                                            if isinstance(i, RequiredItem) and i.when is not None)
                             for rule in ruleset.rules}
        self._conditional = {rule_id: conditions for rule_id, conditions in self._conditional.items() if conditions}
        self._memo: dict[_RuleKey, list[Occurrence]] = {}
        # Each occurrence by rule, period, deciding version (and the contract's dates where the rule counts from
        # them): shared by contracts of different shapes (see plan_contract's `memo`).
        self._occurrences: dict[Any, Occurrence | None] = {}
        self._memo_window: tuple[date, date] | None = None
        self.memo_hits = self.memo_misses = 0
        # The fact keys some rule reads: terms that agree on these match the same rules.
        self._read = sorted({fact_key(term) for rule in ruleset.rules for term in terms_read(rule.when)})
        self._matches: dict[Any, list[str]] = {}
        self._read_key: Any = (lambda fact: ()) if not self._read else (
            itemgetter(*self._read) if len(self._read) > 1 else (lambda fact: (fact[self._read[0]],)))

    @classmethod
    def load(cls, directory: Path) -> Planner:
        """Raises RuleSetError naming the file, the rule and the field of every problem."""
        return cls(load_ruleset(directory))

    @property
    def version(self) -> str:
        return self.ruleset.version

    @property
    def rule_count(self) -> int:
        return len(self.ruleset.rules)

    def rule_summaries(self) -> list[dict[str, Any]]:
        return [{"id": r.id, "code": r.code, "title_pl": r.title_pl, "title_en": r.title_en,
                 "requires_power": list(r.requires_power)} for r in self.ruleset.rules]

    async def occurrences(self, contract_id: str, versions: Sequence[Mapping[str, Any]], date_from: date,
                          date_to: date) -> list[Occurrence]:
        """The contract's occurrences due in [date_from, date_to], each version matched by the engine."""
        terms_versions = [TermsVersion.from_mapping(v) for v in versions]
        matched = {v.version: await self.match(v.terms) for v in terms_versions}
        return self.plan(contract_id, terms_versions, matched, date_from, date_to)

    async def match_all(self, documents: Iterable[TermsDocument | Mapping[str, Any]]) -> None:
        """Remember the rules the engine matches for all these terms, with one call to the engine's thread for
        those not remembered yet (a batch of contracts: one hand-over instead of one per new shape of terms).
        Terms that cannot be parsed are left to `match`, which raises for them when they are planned."""
        missing: dict[Any, TermsDocument] = {}
        for terms in documents:
            try:
                document = parse_terms(terms)
            except TermsError:
                continue
            key = self._read_key(build_fact(document))
            if key not in self._matches:
                missing.setdefault(key, document)
        if not missing:
            return
        found = await self.matcher.match_many(list(missing.values()))
        if len(self._matches) + len(missing) > self.MEMO_LIMIT:
            self._matches.clear()
        self._matches.update(zip(missing, found, strict=True))

    async def match(self, terms: TermsDocument | Mapping[str, Any]) -> list[str]:
        """The rule ids the engine matches for these terms, remembered by the values of the terms the rules
        read: identifiers and other terms no rule reads make every contract's fact unique, but not its answer.
        Raises TermsError for terms that cannot be evaluated, as the engine does."""
        document = parse_terms(terms)
        fact = build_fact(document)
        key = self._read_key(fact)
        matched = self._matches.get(key)
        if matched is None:
            if len(self._matches) > self.MEMO_LIMIT:
                self._matches.clear()
            matched = self._matches[key] = await self.matcher.match(document)
        return list(matched)

    def plan(self, contract_id: str, versions: Sequence[TermsVersion], matched: Mapping[int, Sequence[str]],
             date_from: date, date_to: date) -> list[Occurrence]:
        """plan_contract, rule by rule, each rule's part memoised.

        Planning is pure and a rule's occurrences depend on nothing but that rule, the window, the contract's
        start (its month, unless the rule is a one-time one or counts from the start) and end, the fiscal
        year end, and which versions (number, effective date) the rule matches —
        not on the contract's identity. Contracts of one shape starting in one month share them, so a rule's
        periods and business-day due dates are computed once per shape instead of once per contract."""
        if not versions:
            return []
        if (self._memo_window != (date_from, date_to) or len(self._memo) > self.MEMO_LIMIT
                or len(self._occurrences) > self.MEMO_LIMIT):
            self._memo.clear()
            self._occurrences.clear()
            self._memo_window = (date_from, date_to)
        ordered = sorted(versions, key=lambda v: (v.effective_from, v.version))
        dates = contract_dates(ordered)  # raises PlanningError as plan_contract would
        start, end = dates.start, dates.end
        fiscal_year_end = ordered[-1].terms.client.fiscal_year_end
        rule_ids = sorted({rule_id for ids in matched.values() for rule_id in ids}, key=self._order.__getitem__)
        found: list[Occurrence] = []
        for rule_id in rule_ids:
            # Every period ends on a month's last day: without an end date (which may fall mid-month) only the
            # month of the start and of each version's effective date decides a month-bound rule's plan.
            by_month = end is None and rule_id not in self._start_day_matters
            key = (rule_id, _month(start) if by_month else dates if rule_id in self._start_day_matters else start,
                   end, fiscal_year_end,
                   tuple((v.version, _month(v.effective_from) if by_month else v.effective_from,
                          rule_id in matched.get(v.version, ()),
                          v.terms.contract.client_duties if rule_id in self._duty_rules else None,
                          self._conditions_met(rule_id, v.terms))
                         for v in ordered))
            part = self._memo.get(key)
            if part is None:
                self.memo_misses += 1
                part = self._memo[key] = plan_contract(
                    contract_id=contract_id, versions=ordered, ruleset=self._single[rule_id], matched=matched,
                    calendar=self.calendar, date_from=date_from, date_to=date_to, memo=self._occurrences)
            else:
                self.memo_hits += 1
            found.extend(part)
        return sorted(found, key=_BY_DUE)

    def _conditions_met(self, rule_id: str, terms: TermsDocument) -> tuple[bool, ...]:
        conditions = self._conditional.get(rule_id)
        if not conditions:
            return ()
        fact = build_fact(terms)
        return tuple(bool(evaluate(condition, fact)) for condition in conditions)

    def close(self) -> None:
        self.matcher.close()
