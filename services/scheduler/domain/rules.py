"""Obligation rules: the terms vocabulary, the rule model, the condition language and the rule-file loader."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from dateutil.rrule import rrulestr
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from services.common.calendar import Shift

TermKind = Literal["enum", "bool", "int", "str"]
Scalar = str | int | bool


@dataclass(frozen=True)
class TermSpec:
    """One client term: its type and, for enums, the allowed values."""

    name: str
    kind: TermKind
    values: frozenset[str] = frozenset()
    pattern: str | None = None
    derived: bool = False


def _enum(name: str, *values: str) -> TermSpec:
    return TermSpec(name, "enum", frozenset(values))


LEGAL_FORMS = (
    "sole_trader", "civil_partnership", "general_partnership", "limited_partnership",
    "professional_partnership", "llc", "simple_joint_stock", "joint_stock", "foundation", "association",
)
LEGAL_PERSON_FORMS = frozenset({"llc", "simple_joint_stock", "joint_stock", "foundation", "association"})

# terms.md, plus the extensions documented in rules/README.md (client.intrastat, client.pfron).
CLIENT_TERMS: dict[str, TermSpec] = {
    t.name: t
    for t in (
        _enum("client.legal_form", *LEGAL_FORMS),
        TermSpec("client.legal_person", "bool", derived=True),
        TermSpec("client.nip", "str", pattern=r"^\d{10}$"),
        TermSpec("client.regon", "str", pattern=r"^(\d{9}|\d{14})$"),
        TermSpec("client.pesel", "str", pattern=r"^\d{11}$"),
        TermSpec("client.krs", "str", pattern=r"^\d{10}$"),
        _enum("client.books", "full", "kpir", "revenue_records"),
        _enum("client.income_tax", "pit_scale", "pit_flat", "pit_ryczalt", "cit", "cit_estonian", "none"),
        _enum("client.income_tax_advances", "monthly", "quarterly", "simplified", "none"),
        _enum("client.vat", "none", "monthly", "quarterly"),
        TermSpec("client.vat_eu", "bool"),
        TermSpec("client.employees", "int"),
        TermSpec("client.ppk", "bool"),
        TermSpec("client.fiscal_year_end", "str", pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"),
        TermSpec("client.in_krs", "bool"),
        TermSpec("client.intrastat", "bool"),  # extension: above the Intrastat threshold this year
        TermSpec("client.pfron", "bool"),  # extension: owes PFRON (>= 25 FTE, < 6 % disabled staff)
    )
}

SERVICES = frozenset(
    {"bookkeeping", "vat", "income_tax", "payroll", "zus", "annual_statements", "owner_annual_return"}
)

# A fact always carries this pair, so a rule that applies to every contract ("when: always") has
# something to match: durable_rules' $ex operator hung the process when it was tried.
FACT_KIND_KEY = "kind"
FACT_KIND = "terms"


def fact_key(term: str) -> str:
    """The flat fact key of a term: `client.vat` → `client__vat`, `service.vat` → `service__vat`."""
    return term.replace(".", "__")


@dataclass(frozen=True)
class TermsProblem:
    """A value in a terms document that cannot be evaluated."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"field '{self.field}': {self.message}"


class TermsError(ValueError):
    """A terms document has values the rules cannot be evaluated against."""

    def __init__(self, problems: list[TermsProblem]) -> None:
        self.problems = problems
        super().__init__("invalid contract terms:\n" + "\n".join(f"  {p}" for p in problems))


def _normalise(spec: TermSpec, raw: Any, problems: list[TermsProblem]) -> Scalar:
    # Every term is present in the fact with a value of its own type: durable_rules compares loosely
    # (1 == True, "5" == 5), and a missing key never matches "not equal", so nothing is left implicit.
    if raw is None:
        return False if spec.kind == "bool" else 0 if spec.kind == "int" else ""
    if spec.kind == "bool":
        if not isinstance(raw, bool):
            problems.append(TermsProblem(spec.name, f"must be true or false, got {raw!r}"))
            return False
        return raw
    if spec.kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            problems.append(TermsProblem(spec.name, f"must be a whole number >= 0, got {raw!r}"))
            return 0
        return raw
    if not isinstance(raw, str):
        problems.append(TermsProblem(spec.name, f"must be text, got {raw!r}"))
        return ""
    if spec.kind == "enum" and raw not in spec.values:
        problems.append(TermsProblem(spec.name, f"must be one of {sorted(spec.values)}, got {raw!r}"))
    if spec.pattern and not re.match(spec.pattern, raw):
        problems.append(TermsProblem(spec.name, f"has an invalid format: {raw!r}"))
    return raw


def contract_services(terms: Mapping[str, Any]) -> list[str]:
    contract = terms.get("contract") or {}
    services = contract.get("services") or []
    # A service may carry parameters: {"payroll": {"headcount": 10}} or [{"name": "payroll", ...}].
    if isinstance(services, Mapping):
        return [str(s) for s in services]
    names: list[str] = []
    for item in services:
        names.append(str(item.get("name")) if isinstance(item, Mapping) else str(item))
    return names


def build_fact(terms: Mapping[str, Any]) -> dict[str, Scalar]:
    """Flatten a terms.md document into the fact rules are evaluated against; TermsError if invalid."""
    client = terms.get("client") or {}
    problems: list[TermsProblem] = []
    fact: dict[str, Scalar] = {FACT_KIND_KEY: FACT_KIND}
    for name, spec in CLIENT_TERMS.items():
        if spec.derived:
            continue
        fact[fact_key(name)] = _normalise(spec, client.get(name.removeprefix("client.")), problems)
    fact[fact_key("client.legal_person")] = fact[fact_key("client.legal_form")] in LEGAL_PERSON_FORMS
    if not fact[fact_key("client.fiscal_year_end")]:
        fact[fact_key("client.fiscal_year_end")] = "12-31"
    services = contract_services(terms)
    for unknown in sorted(set(services) - SERVICES):
        problems.append(TermsProblem("contract.services", f"unknown service {unknown!r}"))
    for service in sorted(SERVICES):
        fact[fact_key(f"service.{service}")] = service in services
    if problems:
        raise TermsError(problems)
    return fact


# --- the rule model -------------------------------------------------------------------------------

# obligations.md, "Obligation codes"; CIT_8E is an addition (Estonian CIT return, art. 28r CIT).
OBLIGATION_CODES = frozenset(
    {
        "JPK_V7M", "JPK_V7K_RECORDS", "JPK_V7K", "VAT_UE", "PIT_ADVANCE_M", "PIT_ADVANCE_Q", "RYCZALT_M",
        "RYCZALT_Q", "CIT_ADVANCE_M", "CIT_ADVANCE_Q", "PIT_WITHHELD", "ZUS_DRA", "PPK", "PFRON", "INTRASTAT",
        "PIT_4R", "PIT_8AR", "PIT_11", "PIT_36", "PIT_36L", "PIT_28", "CIT_8", "CIT_8E", "ZUS_HEALTH_ANNUAL",
        "FS_PREPARE", "FS_APPROVE", "FS_FILE_KRS", "ONBOARDING",
    }
)
ROLES = ("accountant", "payroll", "manager")
CATEGORIES = ("vat", "pit", "cit", "payroll", "zus", "statements", "statistics", "onboarding", "other")
NOTICE_KINDS = ("vat", "pit", "cit", "zus", "ppk", "pfron")
PeriodKind = Literal["month", "quarter", "year", "fiscal_year", "once"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("month", "quarter", "year", "fiscal_year", "once")
RECURRENCE_PERIOD: dict[str, PeriodKind] = {
    "monthly": "month", "quarterly": "quarter", "yearly": "year", "fiscal_year": "fiscal_year", "once": "once",
}
PERIOD_LABEL_PATTERNS: dict[PeriodKind, str] = {
    "month": r"^\d{4}-(0[1-9]|1[0-2])$",
    "quarter": r"^\d{4}-Q[1-4]$",
    "year": r"^\d{4}$",
    "fiscal_year": r"^\d{4}(/\d{4})?$",
    "once": r"^\d{4}-\d{2}-\d{2}$",
}
DueAnchor = Literal["contract_start", "period_start", "period_end"]
CompareOp = Literal["eq", "ne", "gt", "gte", "lt", "lte"]


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
    `months_after` months after the month the period ends in, plus `add_days`.
    Offset form (`anchor` set): `anchor` date + `add_days`.
    """

    months_after: int = 0
    day: int | None = None
    business_day: int | None = None
    add_days: int = 0
    anchor: DueAnchor | None = None


@dataclass(frozen=True)
class Lead:
    """How long before the (shifted) due date the case is created."""

    days: int = 0
    business: bool = False


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
    checklist: tuple[str, ...] = ()
    notice: tuple[str, ...] = ()
    valid_from: date | None = None
    valid_to: date | None = None
    source: str = ""


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

    def matching_rule_ids(self, terms: Mapping[str, Any]) -> list[str]:
        """Pure-Python evaluation of every rule's condition (the reference the engine is tested against)."""
        fact = build_fact(terms)
        return [r.id for r in self.rules if evaluate(r.when, fact)]


# --- the condition language -----------------------------------------------------------------------

_COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte")
_NEGATED: dict[CompareOp, CompareOp] = {"eq": "ne", "ne": "eq", "gt": "lte", "lte": "gt", "lt": "gte", "gte": "lt"}
_DURABLE_OP: dict[CompareOp, str] = {"ne": "$neq", "gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}


def evaluate(condition: Condition, fact: Mapping[str, Scalar]) -> bool:
    """Evaluate a condition against a fact from build_fact()."""
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
    # Only int terms reach comparisons (the loader checks), so the casts are exact.
    lnum, rnum = int(left), int(right)
    return {
        "gt": lnum > rnum, "gte": lnum >= rnum, "lt": lnum < rnum, "lte": lnum <= rnum,
    }[condition.op]


def to_durable(condition: Condition, negate: bool = False) -> dict[str, Any]:
    """Compile a condition to durable_rules JSON; `not` is pushed down (De Morgan), as it has no $not."""
    if isinstance(condition, Always):
        # Every fact carries kind=terms; a value no fact carries makes "never".
        return {FACT_KIND_KEY: "__never__" if negate else FACT_KIND}
    if isinstance(condition, Not):
        return to_durable(condition.item, not negate)
    if isinstance(condition, AllOf | AnyOf):
        parts = [to_durable(c, negate) for c in condition.items]
        if len(parts) == 1:
            return parts[0]
        conjunction = isinstance(condition, AllOf) != negate
        return {"$and" if conjunction else "$or": parts}
    op: CompareOp = _NEGATED[condition.op] if negate else condition.op
    key = fact_key(condition.term)
    if op == "eq":
        return {key: condition.value}
    return {_DURABLE_OP[op]: {key: condition.value}}


@dataclass
class _ConditionParser:
    problems: list[tuple[str, str]] = field(default_factory=list)

    def parse(self, raw: Any, path: str) -> Condition:
        if raw == "always":
            return Always()
        if not isinstance(raw, Mapping) or not raw:
            self.problems.append((path, f"must be 'always' or a non-empty mapping, got {raw!r}"))
            return Always()
        items = [self._parse_key(str(k), v, path) for k, v in raw.items()]
        return items[0] if len(items) == 1 else AllOf(tuple(items))

    def _parse_key(self, key: str, value: Any, path: str) -> Condition:
        here = f"{path}.{key}"
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                self.problems.append((here, "must be a non-empty list of conditions"))
                return Always()
            items = tuple(self.parse(v, f"{here}[{i}]") for i, v in enumerate(value))
            return AllOf(items) if key == "all" else AnyOf(items)
        if key == "not":
            return Not(self.parse(value, here))
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
                self.problems.append((path, f"unknown service {name!r}; known: {', '.join(sorted(SERVICES))}"))
        items = tuple(Compare(f"service.{n}", "eq", True) for n in names)
        return items[0] if len(items) == 1 else AnyOf(items)

    def _term(self, spec: TermSpec, value: Any, path: str) -> Condition:
        if not isinstance(value, Mapping):
            return self._compare(spec, "eq", value, path)
        if len(value) != 1:
            self.problems.append((path, "an operator mapping takes exactly one of: "
                                        + ", ".join([*_COMPARISONS, "in", "not_in"])))
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
        if op not in _COMPARISONS:
            self.problems.append((path, f"unknown operator '{op}'; use one of "
                                        + ", ".join([*_COMPARISONS, "in", "not_in"])))
            return Always()
        return self._compare(spec, op, operand, f"{path}.{op}")

    def _compare(self, spec: TermSpec, op: CompareOp, value: Any, path: str) -> Condition:
        problem = _check_value(spec, op, value)
        if problem:
            self.problems.append((path, problem))
        return Compare(spec.name, op, value if isinstance(value, str | int | bool) else str(value))


def _check_value(spec: TermSpec, op: str, value: Any) -> str | None:
    if op in ("gt", "gte", "lt", "lte") and spec.kind != "int":
        return f"'{op}' compares numbers; '{spec.name}' is {spec.kind}"
    if spec.kind == "bool" and not isinstance(value, bool):
        return f"must be true or false, got {value!r}"
    if spec.kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"must be a whole number, got {value!r}"
    if spec.kind in ("enum", "str") and not isinstance(value, str):
        return f"must be text, got {value!r}"
    if spec.kind == "enum" and value not in spec.values:
        return f"unknown value {value!r} for '{spec.name}'; allowed: {', '.join(sorted(spec.values))}"
    return None


def parse_condition(raw: Any, path: str = "when") -> tuple[Condition, list[tuple[str, str]]]:
    """Parse a `when` value; returns the condition and (field, message) problems."""
    parser = _ConditionParser()
    condition = parser.parse(raw, path)
    return condition, parser.problems


# --- the rule-file schema and loader ---------------------------------------------------------------

_DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "format": "date"}
_SCALAR = {"type": ["string", "integer", "boolean"]}
_OPERATOR = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        **{op: _SCALAR for op in _COMPARISONS},
        "in": {"type": "array", "items": _SCALAR, "minItems": 1},
        "not_in": {"type": "array", "items": _SCALAR, "minItems": 1},
    },
    "additionalProperties": False,
}

# rules/schema.json is this schema, written out (a test keeps the two equal); editors use the file.
RULE_FILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://terminarz.example/rules/schema.json",
    "title": "Terminarz rule file",
    "description": "Obligation rules, due-date overrides and extra days off. See rules/README.md.",
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {
        "rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}},
        "overrides": {"type": "array", "items": {"$ref": "#/$defs/override"}},
        "extra_days_off": {"type": "array", "items": {"$ref": "#/$defs/day_off"}},
    },
    "$defs": {
        "rule": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "code", "title", "category", "legal_basis", "when", "recurrence", "due", "role"],
            "properties": {
                "id": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"},
                "code": {"type": "string", "pattern": r"^[A-Z][A-Z0-9_]*$"},
                "title": {
                    "type": "object",
                    "required": ["pl", "en"],
                    "additionalProperties": False,
                    "properties": {"pl": {"type": "string", "minLength": 1}, "en": {"type": "string", "minLength": 1}},
                },
                "category": {"enum": list(CATEGORIES)},
                "legal_basis": {"type": "string", "minLength": 3},
                "when": {"$ref": "#/$defs/condition"},
                "recurrence": {
                    "type": ["string", "object"],
                    "if": {"type": "string"},
                    "then": {"enum": list(RECURRENCE_PERIOD)},
                    "else": {
                        "required": ["rrule", "period"],
                        "additionalProperties": False,
                        "properties": {
                            "rrule": {"type": "string", "minLength": 6},
                            "period": {"enum": ["month", "quarter", "year"]},
                        },
                    },
                },
                "months_of_quarter": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1, "maximum": 3},
                    "minItems": 1,
                    "uniqueItems": True,
                },
                "due": {"$ref": "#/$defs/due"},
                "shift": {"enum": [s.value for s in Shift]},
                "lead": {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    "additionalProperties": False,
                    "properties": {
                        "days": {"type": "integer", "minimum": 0, "maximum": 366},
                        "business_days": {"type": "integer", "minimum": 0, "maximum": 250},
                    },
                },
                "role": {"enum": list(ROLES)},
                "checklist": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "notice": {"type": "array", "items": {"enum": list(NOTICE_KINDS)}, "uniqueItems": True},
                "valid_from": _DATE,
                "valid_to": _DATE,
            },
        },
        "condition": {
            "type": ["string", "object"],
            "if": {"type": "string"},
            "then": {"const": "always"},
            "else": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": False,
                    "properties": {
                        "all": {"type": "array", "items": {"$ref": "#/$defs/condition"}, "minItems": 1},
                        "any": {"type": "array", "items": {"$ref": "#/$defs/condition"}, "minItems": 1},
                        "not": {"$ref": "#/$defs/condition"},
                        "service": {"type": ["string", "array"], "items": {"type": "string"}, "minItems": 1},
                    },
                    "patternProperties": {
                        r"^client\.[a-z_]+$": {"if": {"type": "object"}, "then": _OPERATOR, "else": _SCALAR}
                    },
            },
        },
        "due": {
            # One flat object (no oneOf, so editors and messages point at the wrong field itself); which
            # combinations are allowed is checked by the loader.
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "months_after": {"type": "integer", "minimum": 0, "maximum": 24},
                # An integer 1..31 or the word "last" (minimum/maximum only apply to numbers).
                "day": {"type": ["integer", "string"], "minimum": 1, "maximum": 31, "pattern": "^last$"},
                "business_day": {"type": "integer", "minimum": 1, "maximum": 23},
                "add_days": {"type": "integer", "minimum": -366, "maximum": 366},
                "from": {"enum": ["contract_start", "period_start", "period_end"]},
                "days": {"type": "integer", "minimum": -366, "maximum": 366},
            },
        },
        "override": {
            "type": "object",
            "required": ["period", "due", "reason"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string"},
                "rule": {"type": "string"},
                "period": {"type": "string"},
                "due": _DATE,
                "reason": {"type": "string", "minLength": 3},
            },
            "oneOf": [{"required": ["code"]}, {"required": ["rule"]}],
        },
        "day_off": {
            "type": "object",
            "required": ["date", "reason"],
            "additionalProperties": False,
            "properties": {"date": _DATE, "reason": {"type": "string", "minLength": 3}},
        },
    },
}


class _StringDateLoader(yaml.SafeLoader):
    """YAML loader that keeps `2026-03-31` a string, so the schema and the messages see what was written."""


_StringDateLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _field_path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _schema_message(error: ValidationError) -> str:
    if error.validator in ("minimum", "maximum"):
        low, high = error.schema.get("minimum"), error.schema.get("maximum")
        if low is not None and high is not None:
            return f"must be {low}..{high}, got {error.instance!r}"
    if error.validator in ("oneOf", "anyOf") and error.context:
        # Name the closest alternative's complaint rather than "is not valid under any of the given schemas".
        best = min(error.context, key=lambda e: (len(e.absolute_path), e.validator != "required"))
        hint = best.message
        return f"{error.instance!r} does not fit any accepted form (closest: {hint})"
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown field(s)")
    return error.message


@dataclass
class _FileLoad:
    """What one file contributed, before cross-file checks."""

    rules: list[Rule] = field(default_factory=list)
    overrides: list[DueOverride] = field(default_factory=list)
    days_off: list[date] = field(default_factory=list)


_VALIDATOR = Draft202012Validator(RULE_FILE_SCHEMA)


def _item_label(section: str, index: int, item: Any) -> tuple[str, str]:
    """(kind, label) naming a rule, override or day off in a message."""
    if section == "rules":
        rule_id = item.get("id") if isinstance(item, Mapping) else None
        return "rule", str(rule_id) if rule_id else f"#{index + 1}"
    if section == "overrides" and isinstance(item, Mapping):
        key = item.get("rule") or item.get("code") or "?"
        return "override", f"{key} {item.get('period', '?')}"
    return section.rstrip("s").replace("_", " "), f"#{index + 1}"


def _schema_problems(name: str, document: Any) -> tuple[list[RuleProblem], set[tuple[str, int]]]:
    """Schema errors, and the (section, index) items that have one (they are not built further)."""
    problems: list[RuleProblem] = []
    broken: set[tuple[str, int]] = set()
    for error in sorted(_VALIDATOR.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        path = list(error.absolute_path)
        if len(path) >= 2 and isinstance(path[1], int):
            section, index = str(path[0]), path[1]
            kind, label = _item_label(section, index, document[section][index])
            broken.add((section, index))
            problems.append(RuleProblem(name, label, _field_path(path[2:]) or None, _schema_message(error), kind))
        else:
            problems.append(RuleProblem(name, None, _field_path(path) or None, _schema_message(error)))
    return problems, broken


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _build_recurrence(raw: Mapping[str, Any], problem: Any) -> Recurrence:
    rec = raw["recurrence"]
    moq = frozenset(raw["months_of_quarter"]) if "months_of_quarter" in raw else None
    if isinstance(rec, str):
        period = RECURRENCE_PERIOD[rec]
        if moq is not None and period != "month":
            problem("months_of_quarter", f"only applies to monthly rules, this one is {rec}")
        return Recurrence(period, None, moq)
    try:
        rrulestr(rec["rrule"], dtstart=None)
    except (ValueError, TypeError) as exc:
        problem("recurrence.rrule", f"not a valid RFC 5545 RRULE ({exc}): {rec['rrule']!r}")
    if moq is not None and rec["period"] != "month":
        problem("months_of_quarter", "only applies to monthly periods")
    return Recurrence(rec["period"], rec["rrule"], moq)


def _due_form_problem(raw: Mapping[str, Any]) -> str | None:
    if "from" in raw or "days" in raw:
        extra = sorted(set(raw) - {"from", "days"})
        if "from" not in raw or "days" not in raw or extra:
            return "an offset due date is exactly {from: contract_start|period_start|period_end, days: N}"
        return None
    if "months_after" not in raw or ("day" in raw) == ("business_day" in raw):
        return "give months_after and one of day (1..31 or last) or business_day, or {from: ..., days: N}"
    return None


def _build_due(raw: Mapping[str, Any], period: PeriodKind, problem: Any) -> Due:
    form_problem = _due_form_problem(raw)
    if form_problem:
        problem("due", form_problem)
        return Due()
    if "from" in raw:
        if raw["from"] != "contract_start" and period == "once":
            problem("due.from", "a once-rule has no period; use contract_start")
        return Due(anchor=raw["from"], add_days=raw["days"])
    if period == "once":
        problem("due", "a once-rule needs an offset due date: {from: contract_start, days: N}")
    day = raw.get("day")
    return Due(
        months_after=raw["months_after"],
        day=None if day == "last" else day,
        business_day=raw.get("business_day"),
        add_days=raw.get("add_days", 0),
    )


def _build_rule(name: str, raw: Mapping[str, Any], problems: list[RuleProblem]) -> Rule | None:
    rule_id = str(raw["id"])
    before = len(problems)

    def problem(field_name: str, message: str) -> None:
        problems.append(RuleProblem(name, rule_id, field_name, message))

    if raw["code"] not in OBLIGATION_CODES:
        problem("code", f"unknown obligation code {raw['code']!r}; known: {', '.join(sorted(OBLIGATION_CODES))}")
    condition, condition_problems = parse_condition(raw["when"])
    for field_name, message in condition_problems:
        problem(field_name, message)
    recurrence = _build_recurrence(raw, problem)
    due = _build_due(raw["due"], recurrence.period, problem)
    valid_from = _parse_date(raw["valid_from"]) if "valid_from" in raw else None
    valid_to = _parse_date(raw["valid_to"]) if "valid_to" in raw else None
    for key, value in (("valid_from", valid_from), ("valid_to", valid_to)):
        if key in raw and value is None:
            problem(key, f"not a calendar date: {raw[key]!r}")
    if valid_from and valid_to and valid_to < valid_from:
        problem("valid_to", f"is before valid_from ({valid_to} < {valid_from})")
    lead_raw = raw.get("lead", {"days": 0})
    lead = Lead(int(next(iter(lead_raw.values()))), business="business_days" in lead_raw)
    if len(problems) > before:
        return None
    return Rule(
        id=rule_id, code=raw["code"], title_pl=raw["title"]["pl"], title_en=raw["title"]["en"],
        category=raw["category"], legal_basis=raw["legal_basis"], when=condition, recurrence=recurrence,
        due=due, shift=Shift(raw.get("shift", Shift.NEXT_BUSINESS_DAY.value)), lead=lead, role=raw["role"],
        checklist=tuple(raw.get("checklist", ())), notice=tuple(raw.get("notice", ())),
        valid_from=valid_from, valid_to=valid_to, source=name,
    )


def _load_file(name: str, text: str, problems: list[RuleProblem]) -> _FileLoad:
    loaded = _FileLoad()
    try:
        document = yaml.load(text, Loader=_StringDateLoader)  # a SafeLoader subclass: safe
    except yaml.YAMLError as exc:
        problems.append(RuleProblem(name, None, None, f"not valid YAML: {exc}"))
        return loaded
    if document is None:
        problems.append(RuleProblem(name, None, None, "the file is empty; expected a mapping with 'rules:'"))
        return loaded
    schema_problems, broken = _schema_problems(name, document)
    problems.extend(schema_problems)
    if not isinstance(document, Mapping):
        return loaded
    for index, raw in enumerate(document.get("rules") or []):
        if ("rules", index) not in broken and (rule := _build_rule(name, raw, problems)):
            loaded.rules.append(rule)
    for index, raw in enumerate(document.get("overrides") or []):
        if ("overrides", index) in broken:
            continue
        due = _parse_date(raw["due"])
        if due is None:
            problems.append(RuleProblem(name, _item_label("overrides", index, raw)[1], "due",
                                        f"not a calendar date: {raw['due']!r}", "override"))
            continue
        key = raw.get("rule") or raw["code"]
        loaded.overrides.append(DueOverride(key, str(raw["period"]), due, raw["reason"], name))
    for index, raw in enumerate(document.get("extra_days_off") or []):
        if ("extra_days_off", index) in broken:
            continue
        day = _parse_date(raw["date"])
        if day is None:
            problems.append(RuleProblem(name, f"#{index + 1}", "date", f"not a calendar date: {raw['date']!r}",
                                        "extra day off"))
        else:
            loaded.days_off.append(day)
    return loaded


def _check_overrides(overrides: Sequence[DueOverride], rules: Sequence[Rule], problems: list[RuleProblem]) -> None:
    by_key: dict[str, list[Rule]] = {}
    for rule in rules:
        by_key.setdefault(rule.id, []).append(rule)
        by_key.setdefault(rule.code, []).append(rule)
    seen: set[tuple[str, str]] = set()
    for override in overrides:
        label = f"{override.key} {override.period}"
        targets = by_key.get(override.key)
        if (override.key, override.period) in seen:
            problems.append(RuleProblem(override.source, label, "period", "a second override for this period",
                                        "override"))
        seen.add((override.key, override.period))
        if not targets:
            if override.key in OBLIGATION_CODES:
                continue  # a known code the pack has no rule for (yet): harmless
            problems.append(RuleProblem(override.source, label, "code",
                                        f"no rule has id or code {override.key!r}", "override"))
            continue
        for kind in sorted({t.recurrence.period for t in targets}):
            if not re.match(PERIOD_LABEL_PATTERNS[kind], override.period):
                problems.append(RuleProblem(
                    override.source, label, "period",
                    f"{override.period!r} is not a {kind} period label (e.g. {_LABEL_EXAMPLES[kind]})",
                    "override"))


_LABEL_EXAMPLES: dict[PeriodKind, str] = {
    "month": "2026-03", "quarter": "2026-Q1", "year": "2026", "fiscal_year": "2026 or 2025/2026", "once": "2026-01-01",
}


def ruleset_version(files: Sequence[tuple[str, bytes]]) -> str:
    """A short stable hash over the files' names and contents."""
    digest = hashlib.sha256()
    for name, content in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()[:12]


def load_ruleset(directory: Path) -> RuleSet:
    """Load and validate every *.yaml file in `directory`; RuleSetError lists all problems found."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RuleSetError([RuleProblem(str(directory), None, None, "is not a directory of rule files")])
    paths = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not paths:
        raise RuleSetError([RuleProblem(str(directory), None, None, "holds no *.yaml rule files")])
    problems: list[RuleProblem] = []
    rules: list[Rule] = []
    overrides: list[DueOverride] = []
    days_off: list[date] = []
    contents: list[tuple[str, bytes]] = []
    first_seen: dict[str, str] = {}
    for path in paths:
        name = f"{directory.name}/{path.name}"
        content = path.read_bytes()
        contents.append((path.name, content))
        loaded = _load_file(name, content.decode("utf-8", errors="replace"), problems)
        for rule in loaded.rules:
            if rule.id in first_seen:
                problems.append(RuleProblem(name, rule.id, "id", f"duplicate rule id, first defined in "
                                                                  f"{first_seen[rule.id]}"))
                continue
            first_seen[rule.id] = name
            rules.append(rule)
        overrides.extend(loaded.overrides)
        days_off.extend(loaded.days_off)
    _check_overrides(overrides, rules, problems)
    if problems:
        raise RuleSetError(problems)
    return RuleSet(
        version=ruleset_version(contents), rules=tuple(rules), overrides=tuple(overrides),
        extra_days_off=frozenset(days_off), files=tuple(p.name for p in paths),
    )


def schema_json() -> str:
    """The rule-file JSON Schema as written to rules/schema.json."""
    return json.dumps(RULE_FILE_SCHEMA, indent=2, ensure_ascii=False) + "\n"
