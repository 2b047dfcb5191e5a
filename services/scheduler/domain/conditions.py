"""The condition language of rule files (`when`): its model, its parser and the reference evaluator.

Which evaluator decides what (said here and nowhere else):
- production: durable_rules. `services/scheduler/engine.py` compiles each rule's condition (`to_durable`) into one
  ruleset and asserts each contract's fact (`build_fact`) on it; the scheduler plans with what it matches.
- test oracle: `evaluate` below, plain Python over the same fact. `RuleSet.matching_rule_ids` uses it; the tests
  check that the engine agrees with it on every operator and on generated terms, and `plan_terms` falls back to it
  when no engine is given (tests, quick checks). It is never what the running scheduler plans with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from services.scheduler.domain.facts import CLIENT_TERMS, SERVICES, Scalar, TermSpec, fact_key

CompareOp = Literal["eq", "ne", "gt", "gte", "lt", "lte"]
COMPARISONS: tuple[CompareOp, ...] = ("eq", "ne", "gt", "gte", "lt", "lte")
NEGATED: dict[CompareOp, CompareOp] = {"eq": "ne", "ne": "eq", "gt": "lte", "lte": "gt", "lt": "gte", "gte": "lt"}
# How deep `all`, `any` and `not` may nest: real conditions use three levels; each level costs the engine and
# every walk over the condition a stack frame (rules/README.md, "Limits").
MAX_WHEN_DEPTH = 10


@dataclass(frozen=True)
class Always:
    """A condition every contract meets."""


@dataclass(frozen=True)
class Compare:
    """`term op value`; `term` is a vocabulary name (`client.vat`) or `service.<name>`."""

    term: str
    op: CompareOp
    value: Scalar


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = Always | Compare | AllOf | AnyOf | Not


def evaluate(condition: Condition, fact: Mapping[str, Scalar]) -> bool:
    """The reference evaluator (the test oracle): a condition against a fact from build_fact()."""
    if isinstance(condition, Always):
        return True
    if isinstance(condition, AllOf):
        return all(evaluate(c, fact) for c in condition.items)
    if isinstance(condition, AnyOf):
        return any(evaluate(c, fact) for c in condition.items)
    if isinstance(condition, Not):
        return not evaluate(condition.item, fact)
    left, right = fact[fact_key(condition.term)], condition.value
    if condition.op == "eq":
        return left == right
    if condition.op == "ne":
        return left != right
    # Only int terms reach comparisons (the parser checks), so the casts are exact.
    lnum, rnum = int(left), int(right)
    return {
        "gt": lnum > rnum, "gte": lnum >= rnum, "lt": lnum < rnum, "lte": lnum <= rnum,
    }[condition.op]


def terms_read(condition: Condition) -> set[str]:
    """The terms a condition reads (`client.vat`, `service.payroll`…)."""
    if isinstance(condition, Compare):
        return {condition.term}
    if isinstance(condition, AllOf | AnyOf):
        return set().union(*(terms_read(c) for c in condition.items))
    if isinstance(condition, Not):
        return terms_read(condition.item)
    return set()


@dataclass
class _ConditionParser:
    problems: list[tuple[str, str]] = field(default_factory=list)

    def parse(self, raw: Any, path: str, depth: int = 1) -> Condition:
        if depth > MAX_WHEN_DEPTH:
            self.problems.append((path, f"conditions nest deeper than {MAX_WHEN_DEPTH} levels of all/any/not"))
            return Always()
        if raw == "always":
            return Always()
        if not isinstance(raw, Mapping) or not raw:
            self.problems.append((path, f"must be 'always' or a non-empty mapping, got {_short(raw)}"))
            return Always()
        items = [self._parse_key(str(k), v, path, depth) for k, v in raw.items()]
        return items[0] if len(items) == 1 else AllOf(tuple(items))

    def _parse_key(self, key: str, value: Any, path: str, depth: int) -> Condition:
        here = f"{path}.{key}"
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                self.problems.append((here, "must be a non-empty list of conditions"))
                return Always()
            items = tuple(self.parse(v, f"{here}[{i}]", depth + 1) for i, v in enumerate(value))
            return AllOf(items) if key == "all" else AnyOf(items)
        if key == "not":
            return Not(self.parse(value, here, depth + 1))
        if key == "service":
            return self._service(value, here)
        spec = CLIENT_TERMS.get(key)
        if spec is None:
            self.problems.append((here, f"unknown term '{key}'; known: all, any, not, service, "
                                        + ", ".join(sorted(CLIENT_TERMS))))
            return Always()
        return self._term(spec, value, here)

    def _service(self, value: Any, path: str) -> Condition:
        names = value if isinstance(value, list) else [value]
        for name in names:
            if name not in SERVICES:
                self.problems.append((path, f"unknown service {_short(name)}; known: {', '.join(sorted(SERVICES))}"))
        items = tuple(Compare(f"service.{n}", "eq", True) for n in names)
        return items[0] if len(items) == 1 else AnyOf(items)

    def _term(self, spec: TermSpec, value: Any, path: str) -> Condition:
        if not isinstance(value, Mapping):
            return self._compare(spec, "eq", value, path)
        if len(value) != 1:
            self.problems.append((path, "an operator mapping takes exactly one of: "
                                        + ", ".join([*COMPARISONS, "in", "not_in"])))
            return Always()
        op, operand = next(iter(value.items()))
        if op in ("in", "not_in"):
            if not isinstance(operand, list) or not operand:
                self.problems.append((f"{path}.{op}", "must be a non-empty list"))
                return Always()
            inner_op: CompareOp = "eq" if op == "in" else "ne"
            items = tuple(self._compare(spec, inner_op, v, f"{path}.{op}") for v in operand)
            if len(items) == 1:
                return items[0]
            return AnyOf(items) if op == "in" else AllOf(items)
        if op not in COMPARISONS:
            self.problems.append((path, f"unknown operator '{op}'; use one of "
                                        + ", ".join([*COMPARISONS, "in", "not_in"])))
            return Always()
        return self._compare(spec, op, operand, f"{path}.{op}")

    def _compare(self, spec: TermSpec, op: CompareOp, value: Any, path: str) -> Condition:
        problem = _check_value(spec, op, value)
        if problem:
            self.problems.append((path, problem))
        return Compare(spec.name, op, value if isinstance(value, str | int | bool) else str(value))


def _short(value: Any) -> str:
    """repr() of a value from a rule file, cut short: a message must not carry a whole hostile document."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_value(spec: TermSpec, op: str, value: Any) -> str | None:
    if op in ("gt", "gte", "lt", "lte") and spec.kind != "int":
        return f"'{op}' compares numbers; '{spec.name}' is {spec.kind}"
    if spec.kind == "bool" and not isinstance(value, bool):
        return f"must be true or false, got {_short(value)}"
    if spec.kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"must be a whole number, got {_short(value)}"
    if spec.kind in ("enum", "str") and not isinstance(value, str):
        return f"must be text, got {_short(value)}"
    if spec.kind == "enum" and value not in spec.values:
        return f"unknown value {_short(value)} for '{spec.name}'; allowed: {', '.join(sorted(spec.values))}"
    return None


def parse_condition(raw: Any, path: str = "when") -> tuple[Condition, list[tuple[str, str]]]:
    """Parse a `when` value; returns the condition and (field, message) problems."""
    parser = _ConditionParser()
    condition = parser.parse(raw, path)
    return condition, parser.problems
