"""Hostile rule files (issue 7, finding 6): each limit is a clear RuleSetError naming the file, never a crash,
and any text at all either loads or is refused, in bounded time and memory."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.scheduler.domain.conditions import MAX_WHEN_DEPTH
from services.scheduler.domain.rules import (
    MAX_ALIASES,
    MAX_DOCUMENT_DEPTH,
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_NODES,
    MAX_RULES,
    RuleSet,
    RuleSetError,
)
from services.scheduler.rulefiles import load_ruleset

RULE = """
  - id: x.r{n}
    code: PFRON
    title: {{pl: "T", en: "T"}}
    category: other
    legal_basis: "test"
    when: {when}
    recurrence: {recurrence}
    due: {{months_after: 1, day: 20}}
    role: accountant
"""


def rule(n: int = 0, when: str = "always", recurrence: str = "monthly") -> str:
    return RULE.format(n=n, when=when, recurrence=recurrence)


def nested_when(levels: int) -> str:
    return "{not: " * levels + "{service: vat}" + "}" * levels


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """A rule whose checklist is `levels` lists of `width` aliases of the list before: width**levels values."""
    lists = [f'&a0 [{", ".join(["lol"] * width)}]']
    lists += [f"&a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "rules:" + rule() + f"    checklist: [{', '.join(lists)}]\n"


def refused(directory: Path) -> list[str]:
    with pytest.raises(RuleSetError) as caught:
        load_ruleset(directory)
    return [str(p) for p in caught.value.problems]


def folder(tmp_path: Path, **files: str) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir(parents=True)
    for name, text in files.items():
        (directory / f"{name}.yaml").write_text(text, encoding="utf-8")
    return directory


def test_a_when_nested_150_levels_is_refused_naming_the_file(tmp_path: Path) -> None:
    [problem] = refused(folder(tmp_path, deep=f"rules:{rule(when=nested_when(150))}"))
    assert problem.startswith("rules/deep.yaml: refused: values nest deeper than")


def test_a_when_nested_past_its_limit_names_the_rule_and_field(tmp_path: Path) -> None:
    assert MAX_WHEN_DEPTH + 6 < MAX_DOCUMENT_DEPTH  # the `when` limit is the one reached first here
    [problem] = refused(folder(tmp_path, deep=f"rules:{rule(when=nested_when(MAX_WHEN_DEPTH + 1))}"))
    assert problem.startswith("rules/deep.yaml: rule 'x.r0': field 'when.not.not.not")
    assert f"deeper than {MAX_WHEN_DEPTH} levels" in problem
    load_ruleset(folder(tmp_path / "ok", ok=f"rules:{rule(when=nested_when(MAX_WHEN_DEPTH - 1))}"))


def test_yaml_nested_3000_levels_is_refused(tmp_path: Path) -> None:
    for style, text in {"flow": "rules: " + "[" * 3000 + "]" * 3000,
                        "block": "rules:\n  " + "- " * 3000 + "x\n"}.items():
        [problem] = refused(folder(tmp_path / style, deep=text))
        assert problem.startswith("rules/deep.yaml: refused: values nest deeper than"), problem


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    started = time.monotonic()
    [problem] = refused(folder(tmp_path, laughs=billion_laughs()))
    assert problem.startswith(f"rules/laughs.yaml: refused: more than {MAX_NODES:,} values")
    assert time.monotonic() - started < 30  # a safety bound: before the limit it ran for minutes


def test_too_many_aliases_are_refused(tmp_path: Path) -> None:
    text = "base: &b [x]\nmore: [" + ", ".join(["*b"] * (MAX_ALIASES + 1)) + "]\nrules:" + rule()
    [problem] = refused(folder(tmp_path, aliases=text))
    assert problem.startswith(f"rules/aliases.yaml: refused: more than {MAX_ALIASES} aliases")


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    [problem] = refused(folder(tmp_path, loop="rules: &r [*r]"))
    assert problem.startswith("rules/loop.yaml: refused: an alias refers to a value that contains it")


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    padding = "# " + "x" * 98 + "\n"
    text = "rules:" + rule() + padding * (MAX_FILE_BYTES // len(padding) + 1)
    [problem] = refused(folder(tmp_path, big=text))
    assert problem.startswith("rules/big.yaml: refused: ") and f"at most {MAX_FILE_BYTES:,}" in problem


def test_more_files_than_the_limit_are_refused(tmp_path: Path) -> None:
    files = {f"f{i:03d}": f"rules:{rule(i)}" for i in range(MAX_FILES + 1)}
    [problem] = refused(folder(tmp_path, **files))
    assert problem.startswith(f"{tmp_path / 'rules'}: holds {MAX_FILES + 1} rule files; at most {MAX_FILES}")


def test_more_rules_than_one_set_holds_are_refused_naming_the_file(tmp_path: Path) -> None:
    half = MAX_RULES // 2 + 1
    first = "rules:" + "".join(rule(i) for i in range(half))
    second = "rules:" + "".join(rule(i) for i in range(half, 2 * half))
    [problem] = refused(folder(tmp_path, a=first, b=second))
    assert problem.startswith(f"rules/b.yaml: rule 'x.r{MAX_RULES}': one rule set holds at most {MAX_RULES} rules")


def test_an_rrule_finer_than_a_day_is_refused(tmp_path: Path) -> None:
    secondly = '{rrule: "FREQ=SECONDLY;INTERVAL=1", period: month}'
    [problem] = refused(folder(tmp_path, fine=f"rules:{rule(recurrence=secondly)}"))
    assert problem.startswith("rules/fine.yaml: rule 'x.r0': field 'recurrence.rrule': FREQ=SECONDLY")


# --- fuzzing -------------------------------------------------------------------------------------------

# Bounds for one file, far above what the default pack needs (about 0.1 s and a few MB), far below what the
# hostile files above took before the limits (minutes, gigabytes).
SECONDS_PER_FILE = 10.0
BYTES_PER_FILE = 200 * 1024 * 1024

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=20),
                    st.sampled_from(["always", "monthly", "vat", "client.vat", "rules", "when", "not", "all", "any",
                                     "service", "PFRON", "2026-01-01", "last", "accountant"]))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.sampled_from(
        ["rules", "overrides", "extra_days_off", "id", "code", "title", "pl", "en", "category", "legal_basis", "when",
         "recurrence", "due", "months_after", "day", "role", "not", "all", "any", "service", "client.vat",
         "client.employees", "gt", "in", "rrule", "period", "lead", "days", "from", "reason", "date", "x"]),
        inner, max_size=5)), max_leaves=40)
# Text that YAML reads specially: anchors, aliases, tags, flow collections, indentation, merge keys.
yaml_noise = st.lists(st.sampled_from([*"&*!<>[]{}:-,?|'\"#%@` \n\tabcx01", "<<", "!!python/object", "&a ", "*a",
                                       "rules:", "\n  - "]), max_size=120).map("".join)


def as_rule_file(document: object) -> str:
    return yaml.safe_dump({"rules": [document]}, allow_unicode=True)


def deep_or_aliased(depth: int, aliases: int) -> str:
    return ("a: &a [x, y]\nb: [" + ", ".join(["*a"] * aliases) + "]\nrules: " + "[" * depth + "]" * depth)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(documents.map(as_rule_file), documents.map(lambda d: yaml.safe_dump(d)), yaml_noise,
                 st.builds(deep_or_aliased, st.integers(0, 200), st.integers(0, 150)),
                 st.builds(billion_laughs, st.integers(1, 9), st.integers(1, 12))))
def test_any_rule_file_loads_or_is_refused_in_bounded_time_and_memory(tmp_path_factory: pytest.TempPathFactory,
                                                                       text: str) -> None:
    directory = tmp_path_factory.mktemp("fuzz")
    (directory / "f.yaml").write_text(text, encoding="utf-8")
    tracemalloc.start()
    started = time.monotonic()
    try:
        result = load_ruleset(directory)
        assert isinstance(result, RuleSet)
    except RuleSetError as error:
        assert error.problems and all(str(p).startswith(f"{directory.name}/f.yaml") for p in error.problems)
    finally:
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < SECONDS_PER_FILE
    assert peak < BYTES_PER_FILE
