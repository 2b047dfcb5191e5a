"""Planning: contract start and end, annexes switching terms, the horizon, overrides, unique natural keys."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

from services.common.calendar import BusinessCalendar
from services.scheduler.domain.planning import Occurrence, TermsVersion, plan_contract, plan_terms
from services.scheduler.domain.rules import RequiredItem, RuleSet
from services.scheduler.rulefiles import load_ruleset

from .conftest import RULES_DIR

MONTHLY_VAT: dict[str, Any] = {
    "client": {"legal_form": "sole_trader", "income_tax": "pit_scale", "income_tax_advances": "monthly",
               "vat": "monthly", "employees": 0, "books": "kpir"},
    "contract": {"services": ["bookkeeping", "vat", "income_tax"], "start": "2026-03-16", "end": None},
}


def _codes(plan: list[Occurrence], code: str) -> list[tuple[str, str]]:
    return [(o.period, o.due.isoformat()) for o in plan if o.code == code]


def test_a_contract_starting_mid_month_covers_that_month(ruleset: RuleSet, calendar: BusinessCalendar) -> None:
    plan = plan_terms(MONTHLY_VAT, ruleset, calendar, date(2026, 1, 1), date(2026, 6, 30))
    assert _codes(plan, "JPK_V7M") == [("2026-03", "2026-04-27"), ("2026-04", "2026-05-25"),
                                       ("2026-05", "2026-06-25")]
    onboarding = [o for o in plan if o.code == "ONBOARDING"]
    assert [(o.period, o.due, o.generate_on) for o in onboarding] == [
        ("2026-03-16", date(2026, 3, 30), date(2026, 3, 16))]  # start + 14 days, created on the start day


def test_the_end_date_stops_periods_after_it(ruleset: RuleSet, calendar: BusinessCalendar) -> None:
    terms = copy.deepcopy(MONTHLY_VAT)
    terms["contract"]["end"] = "2026-05-10"
    plan = plan_terms(terms, ruleset, calendar, date(2026, 1, 1), date(2027, 12, 31))
    # May overlaps the contract, so its return is still the office's; June does not.
    assert _codes(plan, "JPK_V7M") == [("2026-03", "2026-04-27"), ("2026-04", "2026-05-25"),
                                       ("2026-05", "2026-06-25")]


def test_an_annex_switches_monthly_vat_to_quarterly_from_its_effective_date(
    ruleset: RuleSet, calendar: BusinessCalendar
) -> None:
    v1 = copy.deepcopy(MONTHLY_VAT)
    v1["contract"]["start"] = "2026-01-01"
    v2 = copy.deepcopy(v1)
    v2["client"]["vat"] = "quarterly"
    versions = [TermsVersion(1, date(2026, 1, 1), v1), TermsVersion(2, date(2026, 7, 1), v2)]
    plan = plan_contract(contract_id="c-1", versions=versions, ruleset=ruleset,
                         matched=ruleset.matching_rule_ids, calendar=calendar,
                         date_from=date(2026, 1, 1), date_to=date(2027, 1, 31))
    assert [p for p, _ in _codes(plan, "JPK_V7M")] == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05",
                                                       "2026-06"]
    assert _codes(plan, "JPK_V7K_RECORDS") == [("2026-07", "2026-08-25"), ("2026-08", "2026-09-25"),
                                               ("2026-10", "2026-11-25"), ("2026-11", "2026-12-28")]
    assert _codes(plan, "JPK_V7K") == [("2026-Q3", "2026-10-26"), ("2026-Q4", "2027-01-25")]
    assert {o.contract_version for o in plan if o.code == "JPK_V7M"} == {1}
    assert {o.contract_version for o in plan if o.code.startswith("JPK_V7K")} == {2}


def test_matched_ids_per_version_number_are_honoured(ruleset: RuleSet, calendar: BusinessCalendar) -> None:
    v1 = copy.deepcopy(MONTHLY_VAT)
    versions = [TermsVersion(1, date(2026, 3, 16), v1)]
    plan = plan_contract(contract_id="c-1", versions=versions, ruleset=ruleset, matched={1: ["vat.jpk_v7m"]},
                         calendar=calendar, date_from=date(2026, 1, 1), date_to=date(2026, 12, 31))
    assert {o.rule_id for o in plan} == {"vat.jpk_v7m"}


def test_the_horizon_filters_by_due_date(ruleset: RuleSet, calendar: BusinessCalendar) -> None:
    plan = plan_terms(MONTHLY_VAT, ruleset, calendar, date(2026, 5, 25), date(2026, 6, 20))
    assert [(o.code, o.period, o.due.isoformat()) for o in plan] == [("JPK_V7M", "2026-04", "2026-05-25")]
    # 20.06.2026 is a Saturday: the May advance is due Mon 22.06, so it needs a horizon reaching the 22nd.
    wider = plan_terms(MONTHLY_VAT, ruleset, calendar, date(2026, 5, 26), date(2026, 6, 22))
    assert [(o.code, o.period, o.due.isoformat()) for o in wider] == [("PIT_ADVANCE_M", "2026-05", "2026-06-22")]


def test_overrides_replace_the_due_date_of_one_period(ruleset: RuleSet, calendar: BusinessCalendar) -> None:
    llc = {"client": {"legal_form": "llc", "income_tax": "cit", "income_tax_advances": "monthly", "books": "full",
                      "vat": "none", "in_krs": True},
           "contract": {"services": ["income_tax", "annual_statements"], "start": "2020-01-01"}}
    plan = plan_terms(llc, ruleset, calendar, date(2022, 1, 1), date(2024, 12, 31))
    cit8 = {o.period: (o.due.isoformat(), o.overridden) for o in plan if o.code == "CIT_8"}
    assert cit8 == {"2021": ("2022-06-30", True), "2022": ("2023-06-30", True), "2023": ("2024-04-02", False)}
    # 31.03.2024 was Easter Sunday and 1.04 Easter Monday → Tue 2.04.2024.
    file_krs = {o.period: o.due.isoformat() for o in plan if o.code == "FS_FILE_KRS"}
    assert file_krs["2021"] == "2022-10-17"  # override 15.10.2022 is a Saturday → Mon 17.10


def test_a_rule_id_override_wins_over_a_code_override(tmp_path: Path, calendar: BusinessCalendar) -> None:
    directory = tmp_path / "rules"
    directory.mkdir()
    for source in RULES_DIR.glob("*.yaml"):
        (directory / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    (directory / "more.yaml").write_text(
        'overrides:\n  - code: JPK_V7M\n    period: "2026-04"\n    due: "2026-05-29"\n    reason: "by code"\n'
        '  - rule: vat.jpk_v7m\n    period: "2026-04"\n    due: "2026-05-28"\n    reason: "by rule id"\n'
        'extra_days_off:\n  - date: "2026-05-25"\n    reason: "a declared day off"\n', encoding="utf-8")
    ruleset = load_ruleset(directory)
    cal = BusinessCalendar(ruleset.extra_days_off)
    plan = plan_terms(MONTHLY_VAT, ruleset, cal, date(2026, 5, 1), date(2026, 6, 30))
    assert _codes(plan, "JPK_V7M") == [("2026-04", "2026-05-28"), ("2026-05", "2026-06-25")]
    assert _codes(plan, "PIT_ADVANCE_M") == [("2026-04", "2026-05-20"), ("2026-05", "2026-06-22")]


def test_a_non_calendar_fiscal_year(ruleset: RuleSet, calendar: BusinessCalendar) -> None:
    llc = {"client": {"legal_form": "llc", "income_tax": "cit", "income_tax_advances": "monthly", "books": "full",
                      "vat": "none", "fiscal_year_end": "06-30", "in_krs": True},
           "contract": {"services": ["income_tax", "annual_statements"], "start": "2025-01-01"}}
    plan = plan_terms(llc, ruleset, calendar, date(2026, 1, 1), date(2026, 12, 31))
    assert _codes(plan, "CIT_8") == [("2025/2026", "2026-09-30")]
    # Approval of 2024/2025 was due Wed 31.12.2025, before the horizon; 2025/2026 is due Thu 31.12.2026.
    assert _codes(plan, "FS_APPROVE") == [("2025/2026", "2026-12-31")]
    assert _codes(plan, "FS_FILE_KRS") == [("2024/2025", "2026-01-15")]


def test_natural_keys_are_unique_and_cases_are_created_before_they_are_due(
    ruleset: RuleSet, calendar: BusinessCalendar
) -> None:
    everything = {"client": {"legal_form": "llc", "income_tax": "cit", "income_tax_advances": "quarterly",
                             "vat": "quarterly", "vat_eu": True, "employees": 30, "ppk": True, "in_krs": True,
                             "books": "full", "intrastat": True, "pfron": True},
                  "contract": {"services": ["bookkeeping", "vat", "income_tax", "payroll", "zus",
                                            "annual_statements"], "start": "2024-02-10"}}
    plan = plan_terms(everything, ruleset, calendar, date(2024, 1, 1), date(2028, 12, 31))
    keys = [(o.rule_id, o.period) for o in plan]
    assert len(keys) == len(set(keys))
    assert all(o.generate_on <= o.due and calendar.is_business_day(o.due) for o in plan)
    assert {"INTRASTAT", "PFRON", "CIT_ADVANCE_Q", "JPK_V7K", "VAT_UE"} <= {o.code for o in plan}


def test_an_rrule_recurrence_selects_its_periods(tmp_path: Path, calendar: BusinessCalendar) -> None:
    (tmp_path / "r.yaml").write_text("""
rules:
  - id: x.records
    code: JPK_V7K_RECORDS
    title: {pl: "T", en: "T"}
    category: vat
    legal_basis: "test"
    when: always
    recurrence: {rrule: "FREQ=MONTHLY;BYMONTH=1,2,4,5,7,8,10,11", period: month}
    due: {months_after: 1, business_day: 3}
    role: accountant
    lead: {business_days: 2}
""", encoding="utf-8")
    ruleset: RuleSet = load_ruleset(tmp_path)
    terms = {"client": MONTHLY_VAT["client"], "contract": {"services": [], "start": "2026-01-01"}}
    plan = plan_terms(terms, ruleset, calendar, date(2026, 1, 1), date(2026, 6, 30))
    # 3rd business day: Feb 2026 → 4.02 (Mon 2, Tue 3, Wed 4); Mar → 4.03; Jun → 3.06 (Mon 1 .. Wed 3).
    assert [(o.period, o.due.isoformat(), o.generate_on.isoformat()) for o in plan] == [
        ("2026-01", "2026-02-04", "2026-02-02"), ("2026-02", "2026-03-04", "2026-03-02"),
        ("2026-04", "2026-05-06", "2026-05-04"),  # 1.05 holiday, 2-3 weekend: Mon 4, Tue 5, Wed 6
        ("2026-05", "2026-06-03", "2026-06-01")]


def test_the_onboarding_case_requires_the_powers_the_services_need(ruleset: RuleSet,
                                                                    calendar: BusinessCalendar) -> None:
    """UPL-1 is required where the office files tax returns (VAT here), PEL where it files for ZUS (not here)."""
    plan = plan_terms(MONTHLY_VAT, ruleset, calendar, date(2026, 1, 1), date(2026, 6, 30))
    [onboarding] = [o for o in plan if o.code == "ONBOARDING"]
    required = [i.item for i in onboarding.checklist if isinstance(i, RequiredItem)]
    plain = [i for i in onboarding.checklist if isinstance(i, str)]
    assert [r.split(" ")[1] for r in required] == ["UPL-1"]
    assert any(p.startswith("Pełnomocnictwo ZUS PEL") for p in plain)
    payroll = copy.deepcopy(MONTHLY_VAT)
    payroll["contract"]["services"] = ["bookkeeping", "payroll"]
    payroll["client"]["vat"] = "none"
    payroll["client"]["employees"] = 2
    [with_payroll] = [o for o in plan_terms(payroll, ruleset, calendar, date(2026, 1, 1), date(2026, 6, 30))
                      if o.code == "ONBOARDING"]
    assert [i.item.split(" ")[1] for i in with_payroll.checklist if isinstance(i, RequiredItem)] == ["ZUS"]


def test_e_filed_rules_name_the_power_they_need(ruleset: RuleSet) -> None:
    needs = {r.id: r.requires_power for r in ruleset.rules}
    assert needs["vat.jpk_v7m"] == ("UPL-1",) and needs["zus.dra_other"] == ("PEL",)
    assert needs["fs.file_krs"] == ("KRS",) and needs["pit.advance_monthly"] == ()
