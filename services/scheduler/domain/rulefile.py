"""What a rule file means: its JSON Schema, and the rules, overrides and days off built from a parsed file (pure).

The files themselves are read by the adapter `services/scheduler/rulefiles.py` (YAML, sizes, the folder);
this module only sees parsed documents, so it is tested and used without a disk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from dateutil.rrule import rrulestr
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from services.common.calendar import Shift
from services.scheduler.domain.conditions import COMPARISONS, parse_condition
from services.scheduler.domain.rules import (
    ATTACHMENT_KINDS,
    CATEGORIES,
    DAY_DUTIES,
    DUE_ANCHORS,
    DUTIES,
    END_ANCHORS,
    MAX_DOCUMENT_DEPTH,
    MAX_FILES,
    MAX_RULES,
    NOTICE_KINDS,
    OBLIGATION_CODES,
    PARTIES,
    PERIOD_ANCHORS,
    PERIOD_LABEL_PATTERNS,
    POWER_KINDS,
    RECURRENCE_PERIOD,
    ROLES,
    ChecklistEntry,
    Due,
    DueOverride,
    Lead,
    PeriodKind,
    Recurrence,
    RequiredItem,
    Rule,
    RuleProblem,
    RuleSet,
    RuleSetError,
    ruleset_version,
)

_DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "format": "date"}
_SCALAR: dict[str, Any] = {"type": ["string", "integer", "boolean"]}
_OPERATOR: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        **{op: _SCALAR for op in COMPARISONS},
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
                "checklist": {"type": "array", "items": {"oneOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "object", "required": ["item"], "additionalProperties": False, "properties": {
                        "item": {"type": "string", "minLength": 1}, "required": {"type": "boolean"},
                        "required_when": {"$ref": "#/$defs/condition"}}},
                ]}},
                "requires": {"type": "array", "items": {"enum": list(ATTACHMENT_KINDS)}, "uniqueItems": True},
                "requires_power": {"type": "array", "items": {"enum": list(POWER_KINDS)}, "uniqueItems": True},
                "notice": {"type": "array", "items": {"enum": list(NOTICE_KINDS)}, "uniqueItems": True},
                "valid_from": _DATE,
                "valid_to": _DATE,
                "party": {"enum": list(PARTIES)},
                "duty": {"enum": list(DUTIES)},
                "depends_on": {"type": "array", "items": {"enum": list(DUTIES)}, "minItems": 1, "uniqueItems": True},
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
                "day": {"type": ["integer", "string"], "minimum": 1, "maximum": 31, "pattern": "^(last|contract)$"},
                "business_day": {"type": "integer", "minimum": 1, "maximum": 23},
                "add_days": {"type": "integer", "minimum": -366, "maximum": 366},
                "from": {"enum": list(DUE_ANCHORS)},
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


def _field_path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _cut(text: str, limit: int = 300) -> str:
    """A message about a hostile file stays a message: values quoted in it are cut short."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _schema_message(error: ValidationError) -> str:
    return _cut(_schema_text(error))


def _schema_text(error: ValidationError) -> str:
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
class FileContent:
    """What one file contributed, before cross-file checks."""

    rules: list[Rule] = field(default_factory=list)
    overrides: list[DueOverride] = field(default_factory=list)
    days_off: list[date] = field(default_factory=list)


_VALIDATOR = Draft202012Validator(RULE_FILE_SCHEMA)


def _item_label(section: str, index: int, item: Any) -> tuple[str, str]:
    """(kind, label) naming a rule, override or day off in a message."""
    if section == "rules":
        rule_id = item.get("id") if isinstance(item, Mapping) else None
        return "rule", _cut(str(rule_id), 80) if rule_id else f"#{index + 1}"
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


_RRULE_FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")


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
    else:
        # Periods are months at the shortest: a finer rule only makes planning walk millions of dates.
        frequency = re.search(r"FREQ=([A-Z]+)", rec["rrule"].upper())
        if frequency and frequency[1] not in _RRULE_FREQUENCIES:
            problem("recurrence.rrule", f"FREQ={frequency[1]} is finer than a day; use one of "
                                        + ", ".join(_RRULE_FREQUENCIES))
    if moq is not None and rec["period"] != "month":
        problem("months_of_quarter", "only applies to monthly periods")
    return Recurrence(rec["period"], rec["rrule"], moq)


def _due_form_problem(raw: Mapping[str, Any]) -> str | None:
    if "days" in raw:
        extra = sorted(set(raw) - {"from", "days"})
        if "from" not in raw or extra:
            return "an offset due date is exactly {from: <date it counts from>, days: N}"
        return None
    if "months_after" not in raw or ("day" in raw) == ("business_day" in raw):
        return ("give months_after and one of day (1..31 or last) or business_day (and optionally from), "
                "or {from: ..., days: N}")
    return None


def _build_due(raw: Mapping[str, Any], period: PeriodKind, problem: Any) -> Due:
    form_problem = _due_form_problem(raw)
    if form_problem:
        problem("due", form_problem)
        return Due()
    anchor = raw.get("from")
    if period == "once" and anchor is None:
        problem("due", "a once-rule counts from a date of the contract: give from (e.g. "
                       "{from: later_of_start_and_signing, days: 14})")
    elif period == "once" and anchor in PERIOD_ANCHORS:
        problem("due.from", f"a once-rule has no period; count from one of "
                            f"{', '.join(a for a in DUE_ANCHORS if a not in PERIOD_ANCHORS)}")
    elif period != "once" and anchor in END_ANCHORS:
        problem("due.from", f"{anchor} is known only when a contract ends: only once-rules count from it")
    if "days" in raw:
        return Due(anchor=anchor, add_days=raw["days"], offset=True)
    day = raw.get("day")
    return Due(
        months_after=raw["months_after"],
        day=None if day in ("last", "contract") else day,
        contract_day=day == "contract",
        business_day=raw.get("business_day"),
        add_days=raw.get("add_days", 0),
        anchor=anchor,
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
    party, duty = raw.get("party", "office"), raw.get("duty")
    if party == "client" and duty is None:
        problem("duty", f"a client-party rule names the client's duty it stands for: one of {', '.join(DUTIES)}")
    if party != "client" and duty is not None:
        problem("duty", "only a client-party rule (party: client) stands for a client's duty")
    if due.contract_day and duty not in DAY_DUTIES:
        problem("due.day", f"day: contract takes the day a contract sets for the rule's duty: give duty, one of "
                           f"{', '.join(DAY_DUTIES)}")
    if party == "client" and raw.get("depends_on"):
        problem("depends_on", "the office's duties depend on the client's, not the client's on each other")
    lead_raw = raw.get("lead", {"days": 0})
    lead = Lead(int(next(iter(lead_raw.values()))), business="business_days" in lead_raw)
    checklist = tuple(_checklist_entry(item, index, problem) for index, item in enumerate(raw.get("checklist", ())))
    if len(problems) > before:
        return None
    return Rule(
        id=rule_id, code=raw["code"], title_pl=raw["title"]["pl"], title_en=raw["title"]["en"],
        category=raw["category"], legal_basis=raw["legal_basis"], when=condition, recurrence=recurrence,
        due=due, shift=Shift(raw.get("shift", Shift.NEXT_BUSINESS_DAY.value)), lead=lead, role=raw["role"],
        checklist=checklist,
        notice=tuple(raw.get("notice", ())), requires=tuple(raw.get("requires", ())),
        requires_power=tuple(raw.get("requires_power", ())),
        valid_from=valid_from, valid_to=valid_to, source=name, party=party, duty=duty,
        depends_on=tuple(raw.get("depends_on", ())),
    )


def _checklist_entry(raw: Any, index: int, problem: Callable[[str, str], None]) -> ChecklistEntry:
    """A validated checklist item: `{item, required: true}` is a required one, `{item, required_when: <condition>}`
    one required where the contract's terms meet the condition; `{item}` is its plain text."""
    if isinstance(raw, dict):
        if "required_when" in raw:
            condition, condition_problems = parse_condition(raw["required_when"],
                                                            f"checklist[{index}].required_when")
            for field_name, message in condition_problems:
                problem(field_name, message)
            return RequiredItem(raw["item"], condition)
        return RequiredItem(raw["item"]) if raw.get("required") else str(raw["item"])
    return str(raw)


def read_file(name: str, document: Any, problems: list[RuleProblem]) -> FileContent:
    """What one parsed rule file holds; its problems (naming the file, the item and the field) are appended."""
    loaded = FileContent()
    if document is None:
        problems.append(RuleProblem(name, None, None, "the file is empty; expected a mapping with 'rules:'"))
        return loaded
    too_deep = _deeper_than(document, MAX_DOCUMENT_DEPTH)
    if too_deep is not None:
        problems.append(RuleProblem(name, None, too_deep or None,
                                    f"values nest deeper than {MAX_DOCUMENT_DEPTH} levels (rules/README.md, Limits)"))
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
    "month": "2026-03", "quarter": "2026-Q1", "year": "2026", "fiscal_year": "2026 or 2025/2026",
    "fiscal_quarter": "2026-Q1 or 2025/2026-Q1", "once": "2026-01-01",
}



def _deeper_than(document: Any, limit: int) -> str | None:
    """The path of a value nested more than `limit` mappings and lists deep ("" for the top), or None.

    Iterative, so that a hostile depth cannot exhaust the stack here; the schema check and the condition parser
    recurse, and only see documents within the limit."""
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(document, 1, ())]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, Mapping | list):
            if depth > limit:
                return _field_path(path[:4])
            items = value.items() if isinstance(value, Mapping) else enumerate(value)
            stack.extend((child, depth + 1, (*path, key)) for key, child in items)
    return None


@dataclass(frozen=True)
class ParsedFile:
    """One rule file as the adapter read it: its name for messages (`rules/vat.yaml`), its bytes (for the
    version hash) and the parsed document (`readable` false when it could not be parsed: the adapter has
    reported why)."""

    name: str
    filename: str
    content: bytes
    document: Any
    readable: bool = True


def build_ruleset(files: Sequence[ParsedFile], problems: Sequence[RuleProblem] = ()) -> RuleSet:
    """The rule set of parsed files with every cross-file check; RuleSetError lists all problems found
    (`problems`: those the adapter found reading the files)."""
    found: list[RuleProblem] = list(problems)
    if len(files) > MAX_FILES:
        found.append(RuleProblem(files[MAX_FILES].name, None, None,
                                 f"the folder holds {len(files)} rule files; at most {MAX_FILES} are read"))
        raise RuleSetError(found)
    rules: list[Rule] = []
    overrides: list[DueOverride] = []
    days_off: list[date] = []
    first_seen: dict[str, str] = {}
    for file in files:
        loaded = read_file(file.name, file.document, found) if file.readable else FileContent()
        for rule in loaded.rules:
            if rule.id in first_seen:
                found.append(RuleProblem(file.name, rule.id, "id", f"duplicate rule id, first defined in "
                                                                    f"{first_seen[rule.id]}"))
                continue
            first_seen[rule.id] = file.name
            rules.append(rule)
            if len(rules) == MAX_RULES + 1:
                found.append(RuleProblem(file.name, rule.id, None, f"one rule set holds at most {MAX_RULES} rules; "
                                                                   f"this is rule no. {MAX_RULES + 1}"))
        overrides.extend(loaded.overrides)
        days_off.extend(loaded.days_off)
    _check_overrides(overrides, rules, found)
    if found:
        raise RuleSetError(found)
    return RuleSet(
        version=ruleset_version([(f.filename, f.content) for f in files]), rules=tuple(rules),
        overrides=tuple(overrides), extra_days_off=frozenset(days_off), files=tuple(f.filename for f in files),
    )


def schema_json() -> str:
    """The rule-file JSON Schema as written to rules/schema.json."""
    return json.dumps(RULE_FILE_SCHEMA, indent=2, ensure_ascii=False) + "\n"
