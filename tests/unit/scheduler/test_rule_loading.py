"""Loading rule files: the default pack is valid and complete; every error names file, rule and field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from services.scheduler.domain.rulefile import RULE_FILE_SCHEMA
from services.scheduler.domain.rules import OBLIGATION_CODES, RuleSet, RuleSetError
from services.scheduler.rulefiles import load_ruleset

from .conftest import RULES_DIR

GOOD_RULE = """
  - id: vat.test
    code: JPK_V7M
    title: {pl: "Test", en: "Test"}
    category: vat
    legal_basis: "ustawa o VAT art. 99"
    when: {all: [{service: vat}, {client.vat: monthly}]}
    recurrence: monthly
    due: {months_after: 1, day: 25}
    role: accountant
"""


def _write(tmp_path: Path, files: dict[str, str]) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def _errors(directory: Path) -> list[str]:
    with pytest.raises(RuleSetError) as caught:
        load_ruleset(directory)
    return [str(p) for p in caught.value.problems]


def test_the_default_pack_loads_and_covers_every_obligation_code(ruleset: RuleSet) -> None:
    assert {r.code for r in ruleset.rules} == OBLIGATION_CODES
    assert all(r.legal_basis for r in ruleset.rules)
    assert len({r.id for r in ruleset.rules}) == len(ruleset.rules)


def test_schema_json_in_the_rules_directory_is_the_schema_the_loader_uses() -> None:
    assert json.loads((RULES_DIR / "schema.json").read_text(encoding="utf-8")) == RULE_FILE_SCHEMA


def test_the_version_is_stable_and_changes_with_the_content(tmp_path: Path) -> None:
    copy = tmp_path / "rules"
    shutil.copytree(RULES_DIR, copy)
    first, again = load_ruleset(copy).version, load_ruleset(copy).version
    assert first == again == load_ruleset(RULES_DIR).version
    (copy / "vat.yaml").write_text((copy / "vat.yaml").read_text() + "\n# a comment\n")
    assert load_ruleset(copy).version != first


def test_a_valid_minimal_file_loads(tmp_path: Path) -> None:
    ruleset = load_ruleset(_write(tmp_path, {"vat.yaml": "rules:" + GOOD_RULE}))
    assert [r.id for r in ruleset.rules] == ["vat.test"]


@pytest.mark.parametrize(
    "change, expected",
    [
        ("day: 25", "rules/vat.yaml: rule 'vat.test': field 'due.day': must be 1..31, got 40"),
        ("code: JPK_V7M", "rules/vat.yaml: rule 'vat.test': field 'code': unknown obligation code 'JPK_V9'"),
        ("client.vat: monthly", "rules/vat.yaml: rule 'vat.test': field 'when.all[1].client.vatt': unknown term"),
        ("service: vat", "rules/vat.yaml: rule 'vat.test': field 'when.all[0].service': unknown service 'vet'"),
        ("client.vat: monthly", "rules/vat.yaml: rule 'vat.test': field 'when.all[1].client.vat': unknown value"),
        ("recurrence: monthly", "rules/vat.yaml: rule 'vat.test': field 'recurrence.rrule': not a valid"),
        ("role: accountant", "rules/vat.yaml: rule 'vat.test': field 'role': 'boss' is not one of"),
        ("category: vat", "rules/vat.yaml: rule 'vat.test': field 'category'"),
    ],
)
def test_each_kind_of_error_names_the_file_the_rule_and_the_field(
    tmp_path: Path, change: str, expected: str
) -> None:
    replacements = {
        "day: 25": "day: 40",
        "code: JPK_V7M": "code: JPK_V9",
        "service: vat": "service: vet",
        "role: accountant": "role: boss",
        "category: vat": "category: taxes",
    }
    rule = GOOD_RULE
    if expected.endswith("client.vatt': unknown term"):
        rule = rule.replace("client.vat: monthly", "client.vatt: monthly")
    elif "unknown value" in expected:
        rule = rule.replace("client.vat: monthly", "client.vat: weekly")
    elif "rrule" in expected:
        rule = rule.replace("recurrence: monthly", "recurrence: {rrule: 'FREQ=SOMETIMES', period: month}")
    else:
        rule = rule.replace(change, replacements[change])
    errors = _errors(_write(tmp_path, {"vat.yaml": "rules:" + rule}))
    assert any(e.startswith(expected) for e in errors), errors


def test_type_mismatches_in_conditions_are_errors(tmp_path: Path) -> None:
    rule = GOOD_RULE.replace(
        "when: {all: [{service: vat}, {client.vat: monthly}]}",
        "when: {all: [{client.employees: {gt: '5'}}, {client.vat_eu: 1}, {client.vat: {gt: 3}}]}",
    )
    errors = _errors(_write(tmp_path, {"vat.yaml": "rules:" + rule}))
    assert any("'when.all[0].client.employees.gt': must be a whole number" in e for e in errors), errors
    assert any("'when.all[1].client.vat_eu': must be true or false" in e for e in errors), errors
    assert any("'when.all[2].client.vat.gt': 'gt' compares numbers" in e for e in errors), errors


def test_errors_are_collected_across_rules_and_files(tmp_path: Path) -> None:
    bad_day = GOOD_RULE.replace("day: 25", "day: 0")
    bad_code = GOOD_RULE.replace("vat.test", "vat.other").replace("JPK_V7M", "NOPE")
    directory = _write(tmp_path, {
        "a.yaml": "rules:" + bad_day + bad_code,
        "b.yaml": "rules:" + GOOD_RULE.replace("vat.test", "vat.dup"),
        "c.yaml": "rules:" + GOOD_RULE.replace("vat.test", "vat.dup"),
        "d.yaml": "rules: [unclosed",
    })
    errors = _errors(directory)
    assert any(e.startswith("rules/a.yaml: rule 'vat.test': field 'due.day': must be 1..31, got 0") for e in errors)
    assert any(e.startswith("rules/a.yaml: rule 'vat.other': field 'code'") for e in errors)
    assert any(e.startswith("rules/c.yaml: rule 'vat.dup': field 'id': duplicate rule id, first defined in "
                            "rules/b.yaml") for e in errors)
    assert any(e.startswith("rules/d.yaml: not valid YAML") for e in errors)
    assert len(errors) == 4


def test_the_error_message_lists_one_problem_per_line(tmp_path: Path) -> None:
    directory = _write(tmp_path, {"a.yaml": "rules:" + GOOD_RULE.replace("day: 25", "day: 99").replace(
        "role: accountant", "role: nobody")})
    with pytest.raises(RuleSetError) as caught:
        load_ruleset(directory)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2 and all(line.startswith("rules/a.yaml: rule 'vat.test': field '") for line in lines)


def test_unknown_fields_and_missing_fields_are_reported(tmp_path: Path) -> None:
    rule = GOOD_RULE.replace("    role: accountant\n", "    owner: accountant\n")
    errors = _errors(_write(tmp_path, {"a.yaml": "rules:" + rule}))
    assert any("'role' is a required property" in e for e in errors), errors
    assert any("unknown field(s)" in e and "owner" in e for e in errors), errors


def test_overrides_are_validated(tmp_path: Path) -> None:
    overrides = """
overrides:
  - code: JPK_V7M
    period: "2026"
    due: "2027-01-31"
    reason: "wrong period kind for a monthly rule"
  - code: NO_SUCH
    period: "2026-01"
    due: "2026-02-30"
    reason: "a date that does not exist"
  - rule: vat.nothing
    period: "2026-01"
    due: "2026-02-20"
    reason: "no such rule"
extra_days_off:
  - date: "2026-13-01"
    reason: "no such month"
"""
    errors = _errors(_write(tmp_path, {"vat.yaml": "rules:" + GOOD_RULE, "overrides.yaml": overrides}))
    assert any(e.startswith("rules/overrides.yaml: override 'JPK_V7M 2026': field 'period': '2026' is not a "
                            "month period label") for e in errors), errors
    assert any(e.startswith("rules/overrides.yaml: override 'NO_SUCH 2026-01': field 'due': not a calendar date")
               for e in errors), errors
    assert any(e.startswith("rules/overrides.yaml: override 'vat.nothing 2026-01': field 'code': no rule has")
               for e in errors), errors
    assert any(e.startswith("rules/overrides.yaml: extra day off '#1': field 'date'") for e in errors), errors


def test_a_missing_or_empty_directory_is_an_error(tmp_path: Path) -> None:
    assert "is not a directory" in _errors(tmp_path / "nope")[0]
    (tmp_path / "empty").mkdir()
    assert "holds no *.yaml" in _errors(tmp_path / "empty")[0]


def test_a_once_rule_counts_from_a_date_of_the_contract(tmp_path: Path) -> None:
    rule = GOOD_RULE.replace("recurrence: monthly", "recurrence: once")
    errors = _errors(_write(tmp_path, {"a.yaml": "rules:" + rule}))
    assert any("field 'due': a once-rule counts from a date of the contract" in e for e in errors), errors


@pytest.mark.parametrize(("recurrence", "due", "message"), [
    ("once", "{from: period_end, days: 5}", "field 'due.from': a once-rule has no period"),
    ("monthly", "{from: contract_end, days: 5}", "field 'due.from': contract_end is known only when a contract ends"),
    ("quarterly", "{from: termination_notice, months_after: 1, day: 25}",
     "field 'due.from': termination_notice is known only when a contract ends"),
    ("once", "{from: contract_end}", "field 'due': give months_after and one of day"),
    ("once", "{from: contract_end, days: 5, day: 3}", "field 'due': an offset due date is exactly"),
])  # fmt: skip
def test_a_due_date_counts_only_from_a_date_the_rule_can_have(
    tmp_path: Path, recurrence: str, due: str, message: str
) -> None:
    rule = GOOD_RULE.replace("recurrence: monthly", f"recurrence: {recurrence}").replace(
        "due: {months_after: 1, day: 25}", f"due: {due}")
    errors = _errors(_write(tmp_path, {"a.yaml": "rules:" + rule}))
    assert [e for e in errors if message in e] and all(e.startswith("rules/a.yaml: rule 'vat.test'") for e in errors), \
        errors


def test_a_once_rule_may_count_months_from_the_contracts_end(tmp_path: Path) -> None:
    rule = GOOD_RULE.replace("recurrence: monthly", "recurrence: once").replace(
        "due: {months_after: 1, day: 25}", "due: {from: contract_end, months_after: 1, day: 25}")
    [loaded] = load_ruleset(_write(tmp_path, {"a.yaml": "rules:" + rule})).rules
    assert (loaded.due.anchor, loaded.due.months_after, loaded.due.day, loaded.due.offset) == (
        "contract_end", 1, 25, False)
