"""The scheduler's pure domain (no I/O, no engine): terms as facts, the condition language, the rule model, what
a parsed rule file means, and planning. Reading rule files is the adapter `services/scheduler/rulefiles.py`;
durable_rules is wrapped by `services/scheduler/engine.py`.

| module | what |
|---|---|
| `facts.py` | the terms conditions may name and the flat fact rules are evaluated on (from services/common/terms.py) |
| `conditions.py` | `when`: its model, parser and the reference evaluator (the test oracle) |
| `rules.py` | rules, due dates, overrides, the rule set and its limits |
| `rulefile.py` | the rule-file JSON Schema; rules built from a parsed file; the cross-file checks |
| `planning.py` | periods, due dates, which occurrences a contract's versions create |
"""

from services.scheduler.domain.facts import TermsError, build_fact, parse_terms
from services.scheduler.domain.planning import (
    Occurrence,
    Period,
    PlanningError,
    TermsVersion,
    plan_contract,
    plan_terms,
)
from services.scheduler.domain.rules import Rule, RuleProblem, RuleSet, RuleSetError

__all__ = [
    "Occurrence", "Period", "PlanningError", "Rule", "RuleProblem", "RuleSet", "RuleSetError", "TermsError",
    "TermsVersion", "build_fact", "parse_terms", "plan_contract", "plan_terms",
]
