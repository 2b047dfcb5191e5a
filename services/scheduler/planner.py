"""What the scheduler plans with: one rules version, compiled, and its business calendar, swapped whole."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from services.scheduler.domain import (
    BusinessCalendar,
    Occurrence,
    RuleProblem,
    RuleSet,
    RuleSetError,
    TermsVersion,
    load_ruleset,
    plan_contract,
)
from services.scheduler.engine import ObligationMatcher

__all__ = ["Planner", "RuleSetError", "occurrence_columns", "problem_dict", "read_rule_files"]


def read_rule_files(directory: Path) -> dict[str, str]:
    """The rule files as text, by name: kept with each rule set so the last good one can be restored."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.yaml")) if p.is_file()}


def problem_dict(problem: RuleProblem) -> dict[str, Any]:
    return {"file": problem.file, "rule_id": problem.rule_id, "field": problem.field, "message": problem.message,
            "text": str(problem)}


def occurrence_columns(o: Occurrence) -> dict[str, Any]:
    """An occurrence as a row of the `occurrences` table (without contract, status and rules version)."""
    return {
        "rule_id": o.rule_id, "period": o.period, "code": o.code, "due": o.due, "generate_on": o.generate_on,
        "role": o.role, "contract_version": o.contract_version,
        "detail": {"title_pl": o.title_pl, "title_en": o.title_en, "checklist": list(o.checklist),
                   "notice": list(o.notice), "nominal_due": o.nominal_due.isoformat(), "overridden": o.overridden},
    }


class Planner:
    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.matcher = ObligationMatcher(ruleset)
        self.calendar = BusinessCalendar(extra_days_off=ruleset.extra_days_off)

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
        return [{"id": r.id, "code": r.code, "title_pl": r.title_pl, "title_en": r.title_en}
                for r in self.ruleset.rules]

    async def occurrences(self, contract_id: str, versions: Sequence[Mapping[str, Any]], date_from: date,
                          date_to: date) -> list[Occurrence]:
        """The contract's occurrences due in [date_from, date_to], each version matched by the engine."""
        terms_versions = [TermsVersion.from_mapping(v) for v in versions]
        matched = {v.version: await self.matcher.match(v.terms) for v in terms_versions}
        return plan_contract(contract_id=contract_id, versions=terms_versions, ruleset=self.ruleset,
                             matched=matched, calendar=self.calendar, date_from=date_from, date_to=date_to)

    def close(self) -> None:
        self.matcher.close()
