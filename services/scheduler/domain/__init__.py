"""The scheduler's pure domain: business calendar, obligation rules and planning (no I/O, no engine)."""

from services.common.calendar import BusinessCalendar, Shift
from services.scheduler.domain.planning import (
    Occurrence,
    Period,
    PlanningError,
    TermsVersion,
    plan_contract,
    plan_terms,
)
from services.scheduler.domain.rules import (
    Rule,
    RuleProblem,
    RuleSet,
    RuleSetError,
    TermsError,
    build_fact,
    load_ruleset,
)

__all__ = [
    "BusinessCalendar", "Occurrence", "Period", "PlanningError", "Rule", "RuleProblem", "RuleSet", "RuleSetError",
    "Shift", "TermsError", "TermsVersion", "build_fact", "load_ruleset", "plan_contract", "plan_terms",
]
