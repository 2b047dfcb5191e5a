"""The durable_rules wrapper: every operator, no-match, repeated terms, long runs, versions side by side."""

from __future__ import annotations

import asyncio
import copy
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scheduler.domain.conditions import Always, evaluate
from services.scheduler.domain.facts import TermsError, build_fact
from services.scheduler.domain.rules import RuleSet
from services.scheduler.engine import MatcherClosed, ObligationMatcher
from services.scheduler.rulefiles import load_ruleset

HEADER = """
    title: {pl: "T", en: "T"}
    category: other
    legal_basis: "test"
    recurrence: monthly
    due: {months_after: 1, day: 20}
    role: accountant
"""
# One rule per operator (and the combinators), all with code PFRON: the codes do not matter here.
CONDITIONS = {
    "op.eq_enum": "{client.vat: monthly}",
    "op.eq_true": "{client.vat_eu: true}",
    "op.eq_false": "{client.ppk: false}",
    "op.eq_int": "{client.employees: 0}",
    "op.ne": "{client.vat: {ne: none}}",
    "op.gt": "{client.employees: {gt: 0}}",
    "op.gte": "{client.employees: {gte: 25}}",
    "op.lt": "{client.employees: {lt: 10}}",
    "op.lte": "{client.employees: {lte: 10}}",
    "op.in": "{client.legal_form: {in: [llc, joint_stock]}}",
    "op.not_in": "{client.income_tax: {not_in: [cit, cit_estonian, none]}}",
    "op.service": "{service: payroll}",
    "op.service_any": "{service: [vat, zus]}",
    "op.not_service": "{not: {service: vat}}",
    "op.not_all": "{not: {all: [{client.vat: monthly}, {client.employees: {gt: 5}}]}}",
    "op.not_any": "{not: {any: [{client.vat_eu: true}, {client.in_krs: true}]}}",
    "op.not_not_gt": "{not: {not: {client.employees: {gt: 3}}}}",
    "op.any_nested": "{any: [{all: [{client.legal_person: true}, {client.employees: {gt: 0}}]}, "
                     "{client.legal_form: sole_trader}]}",
    "op.implicit_all": "{service: vat, client.vat: quarterly}",
    "op.legal_person": "{client.legal_person: true}",
    "op.always": "always",
}


@pytest.fixture(scope="module")
def operator_rules(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    directory: Path = tmp_path_factory.mktemp("ops") / "rules"
    directory.mkdir()
    body = "".join(f"\n  - id: {rid}\n    code: PFRON\n    when: {cond}{HEADER}" for rid, cond in CONDITIONS.items())
    (directory / "ops.yaml").write_text("rules:" + body, encoding="utf-8")
    return load_ruleset(directory)


@pytest.fixture(scope="module")
def operator_matcher(operator_rules: RuleSet) -> Any:
    with ObligationMatcher(operator_rules) as built:
        yield built


# The five terms every document gives; the operator rules read none of books and income_tax_advances.
REQUIRED = {"legal_form": "sole_trader", "books": "kpir", "income_tax": "pit_scale", "income_tax_advances": "monthly",
            "vat": "none"}


def terms(**client: Any) -> dict[str, Any]:
    services = client.pop("services", [])
    return {"client": {**REQUIRED, **client}, "contract": {"services": services, "start": "2026-01-01"}}


LLC = terms(legal_form="llc", vat="monthly", vat_eu=True, employees=12, ppk=True, in_krs=True,
            income_tax="cit", services=["vat", "payroll"])
SOLE = terms(legal_form="sole_trader", vat="quarterly", vat_eu=False, employees=0, ppk=False,
             income_tax="pit_flat", services=["vat", "zus"])
NOBODY = terms(legal_form="foundation", vat="none", employees=30, income_tax="none", in_krs=True, vat_eu=True)


@pytest.mark.parametrize(
    "document, expected",
    [
        (LLC, {"op.eq_enum", "op.eq_true", "op.ne", "op.gt", "op.in", "op.service", "op.service_any",
               "op.not_not_gt", "op.any_nested", "op.legal_person", "op.always"}),
        (SOLE, {"op.eq_false", "op.eq_int", "op.ne", "op.lt", "op.lte", "op.not_in", "op.service_any",
                "op.not_all", "op.not_any", "op.any_nested", "op.implicit_all", "op.always"}),
        (NOBODY, {"op.gt", "op.gte", "op.not_service", "op.not_all", "op.not_not_gt", "op.legal_person",
                  "op.any_nested", "op.always", "op.eq_true", "op.eq_false"}),
    ],
)
def test_each_operator_matches_exactly_where_it_should(
    operator_matcher: ObligationMatcher, operator_rules: RuleSet, document: dict[str, Any], expected: set[str]
) -> None:
    assert set(operator_matcher.match_sync(document)) == expected
    assert set(operator_rules.matching_rule_ids(document)) == expected


client_terms = st.fixed_dictionaries({
    "legal_form": st.sampled_from(["sole_trader", "llc", "joint_stock", "general_partnership", "foundation"]),
    "vat": st.sampled_from(["none", "monthly", "quarterly"]),
    "vat_eu": st.booleans(),
    "ppk": st.booleans(),
    "in_krs": st.booleans(),
    "employees": st.integers(min_value=0, max_value=40),
    "income_tax": st.sampled_from(["pit_scale", "pit_flat", "pit_ryczalt", "cit", "cit_estonian", "none"]),
    "income_tax_advances": st.sampled_from(["monthly", "quarterly", "simplified", "none"]),
    "books": st.sampled_from(["full", "kpir", "revenue_records"]),
    "intrastat": st.booleans(),
    "pfron": st.booleans(),
})
service_sets = st.sets(st.sampled_from(["bookkeeping", "vat", "income_tax", "payroll", "zus", "annual_statements",
                                        "owner_annual_return"]))


@settings(max_examples=200, deadline=None)
@given(client_terms, service_sets)
def test_the_engine_agrees_with_the_reference_evaluator(
    operator_matcher: ObligationMatcher, operator_rules: RuleSet, matcher: ObligationMatcher, ruleset: RuleSet,
    client: dict[str, Any], services: set[str],
) -> None:
    document = {"client": client, "contract": {"services": sorted(services), "start": "2026-01-01"}}
    assert operator_matcher.match_sync(document) == operator_rules.matching_rule_ids(document)
    assert matcher.match_sync(document) == ruleset.matching_rule_ids(document)


def test_terms_that_match_no_rule_mean_no_obligations(matcher: ObligationMatcher, ruleset: RuleSet) -> None:
    # The default pack's onboarding and offboarding rules match every contract (offboarding is planned only once
    # the contract has an end); nothing else matches these terms.
    always = {r.id for r in ruleset.rules if isinstance(r.when, Always)}
    assert always == {"onboarding.start", "offboarding.notice", "offboarding.power_of_attorney",
                      "offboarding.final_returns", "offboarding.documents"}
    assert always <= set(matcher.match_sync(terms()))
    assert [r for r in matcher.match_sync(terms()) if r not in always] == []


def test_no_match_at_all_returns_an_empty_list(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("rules:\n  - id: x.only_llc\n    code: PFRON\n    when: {client.legal_form: "
                                     "llc}" + HEADER, encoding="utf-8")
    with ObligationMatcher(load_ruleset(tmp_path)) as only_llc:
        assert only_llc.match_sync(SOLE) == []
        assert only_llc.match_sync(SOLE) == []  # nothing was left behind by the unmatched fact
        assert only_llc.match_sync(LLC) == ["x.only_llc"]


def test_the_same_terms_twice_give_the_same_answer(matcher: ObligationMatcher) -> None:
    first = matcher.match_sync(LLC)
    assert matcher.match_sync(LLC) == first
    assert matcher.match_sync(copy.deepcopy(LLC)) == first


def test_the_callers_terms_are_not_modified(matcher: ObligationMatcher) -> None:
    document = copy.deepcopy(LLC)
    matcher.match_sync(document)
    assert document == LLC


def test_two_thousand_contracts_in_a_row(matcher: ObligationMatcher, ruleset: RuleSet) -> None:
    documents = [LLC, SOLE, NOBODY, terms()]
    expected = [ruleset.matching_rule_ids(d) for d in documents]
    for i in range(2000):
        assert matcher.match_sync(documents[i % 4]) == expected[i % 4]


async def test_async_match_runs_on_the_engine_thread_and_concurrent_calls_are_serialised(
    matcher: ObligationMatcher, ruleset: RuleSet
) -> None:
    documents = [LLC, SOLE, NOBODY] * 30
    results = await asyncio.gather(*(matcher.match(d) for d in documents))
    assert results == [ruleset.matching_rule_ids(d) for d in documents]
    assert threading.current_thread() is threading.main_thread()


def test_different_rule_versions_side_by_side(tmp_path: Path, ruleset: RuleSet) -> None:
    rule = "rules:\n  - id: x.employer\n    code: PFRON\n    when: {client.employees: {gt: LIMIT}}" + HEADER
    old_dir, new_dir = tmp_path / "v1", tmp_path / "v2"
    old_dir.mkdir()
    new_dir.mkdir()
    (old_dir / "r.yaml").write_text(rule.replace("LIMIT", "0"), encoding="utf-8")
    (new_dir / "r.yaml").write_text(rule.replace("LIMIT", "20"), encoding="utf-8")
    old, new = load_ruleset(old_dir), load_ruleset(new_dir)
    assert old.version != new.version
    with ObligationMatcher(old) as old_matcher, ObligationMatcher(new) as new_matcher:
        assert old_matcher.match_sync(LLC) == ["x.employer"]  # 12 employees
        assert new_matcher.match_sync(LLC) == []
        assert old_matcher.match_sync(NOBODY) == new_matcher.match_sync(NOBODY) == ["x.employer"]


def test_a_closed_matcher_says_so(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("rules:\n  - id: x.a\n    code: PFRON\n    when: always" + HEADER,
                                     encoding="utf-8")
    closing = ObligationMatcher(load_ruleset(tmp_path))
    closing.close()
    with pytest.raises(MatcherClosed):
        closing.match_sync(LLC)


def test_invalid_terms_are_reported_with_the_field(matcher: ObligationMatcher) -> None:
    with pytest.raises(TermsError) as caught:
        matcher.match_sync(terms(employees="five", vat="weekly", vat_eu="yes", services=["astrology"]))
    fields = {p.field for p in caught.value.problems}
    assert fields == {"client.employees", "client.vat", "client.vat_eu", "contract.services"}


def test_the_fact_flattens_terms_and_derives_legal_person() -> None:
    fact = build_fact(LLC)
    assert fact["client__legal_person"] is True
    assert fact["service__payroll"] is True and fact["service__zus"] is False
    assert fact["client__fiscal_year_end"] == "12-31"
    assert build_fact(SOLE)["client__legal_person"] is False


def test_the_reference_evaluator_handles_always(operator_rules: RuleSet) -> None:
    assert evaluate(operator_rules.rule("op.always").when, build_fact(terms()))
