"""Dates that do not come from calendar periods: CIT quarters of a tax year that is not the calendar year, the
duties of a contract that ends (counted from its end and from the notice), a one-time case of a contract
signed after its start, and PIT-8AR only for a payer that withheld flat-rate tax.

Expected dates are written out by hand (weekdays from a printed calendar; holidays as in test_golden.py);
none of them is computed by the code under test.
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from services.common.calendar import BusinessCalendar
from services.scheduler.domain.planning import Occurrence, TermsVersion, plan_contract, plan_terms
from services.scheduler.domain.rules import RuleSet

LLC_QUARTERLY_CIT: dict[str, Any] = {
    "client": {"legal_form": "llc", "books": "full", "income_tax": "cit", "income_tax_advances": "quarterly",
               "vat": "none", "fiscal_year_end": "12-31"},
    "contract": {"services": ["bookkeeping", "income_tax"], "start": "2025-01-01", "end": None},
}

# Quarterly CIT advances are due on the 20th of the month after each quarter of the TAX year (CIT art. 25
# ust. 1b); 2026–2027 due dates, shifted past Saturdays, Sundays and holidays.
TAX_YEAR_QUARTERS = {
    # Tax year April–March: quarters Apr–Jun, Jul–Sep, Oct–Dec, Jan–Mar.
    "03-31": [
        ("2025/2026-Q3", "2026-01-20"),  # Oct–Dec 2025; Tue
        ("2025/2026-Q4", "2026-04-20"),  # Jan–Mar 2026; Mon
        ("2026/2027-Q1", "2026-07-20"),  # Apr–Jun 2026; Mon
        ("2026/2027-Q2", "2026-10-20"),  # Jul–Sep 2026; Tue
        ("2026/2027-Q3", "2027-01-20"),  # Oct–Dec 2026; Wed
        ("2026/2027-Q4", "2027-04-20"),  # Jan–Mar 2027; Tue
        ("2027/2028-Q1", "2027-07-20"),  # Apr–Jun 2027; Tue
        ("2027/2028-Q2", "2027-10-20"),  # Jul–Sep 2027; Wed
    ],
    # Tax year July–June: the calendar's due dates, but the quarters (and so the periods) are the tax year's.
    "06-30": [
        ("2025/2026-Q2", "2026-01-20"),  # Oct–Dec 2025
        ("2025/2026-Q3", "2026-04-20"),  # Jan–Mar 2026
        ("2025/2026-Q4", "2026-07-20"),  # Apr–Jun 2026
        ("2026/2027-Q1", "2026-10-20"),  # Jul–Sep 2026
        ("2026/2027-Q2", "2027-01-20"),  # Oct–Dec 2026
        ("2026/2027-Q3", "2027-04-20"),  # Jan–Mar 2027
        ("2026/2027-Q4", "2027-07-20"),  # Apr–Jun 2027
        ("2027/2028-Q1", "2027-10-20"),  # Jul–Sep 2027
    ],
    # Tax year June–May: quarters Jun–Aug, Sep–Nov, Dec–Feb, Mar–May.
    "05-31": [
        ("2025/2026-Q3", "2026-03-20"),  # Dec 2025–Feb 2026; Fri
        ("2025/2026-Q4", "2026-06-22"),  # Mar–May 2026; 20.06 is a Saturday → Mon 22.06
        ("2026/2027-Q1", "2026-09-21"),  # Jun–Aug 2026; 20.09 is a Sunday → Mon 21.09
        ("2026/2027-Q2", "2026-12-21"),  # Sep–Nov 2026; 20.12 is a Sunday → Mon 21.12
        ("2026/2027-Q3", "2027-03-22"),  # Dec 2026–Feb 2027; 20.03 is a Saturday → Mon 22.03
        ("2026/2027-Q4", "2027-06-21"),  # Mar–May 2027; 20.06 is a Sunday → Mon 21.06
        ("2027/2028-Q1", "2027-09-20"),  # Jun–Aug 2027; Mon
        ("2027/2028-Q2", "2027-12-20"),  # Sep–Nov 2027; Mon
    ],
    # A calendar tax year keeps the calendar quarters' labels (the natural keys of cases already made).
    "12-31": [
        ("2025-Q4", "2026-01-20"), ("2026-Q1", "2026-04-20"), ("2026-Q2", "2026-07-20"), ("2026-Q3", "2026-10-20"),
        ("2026-Q4", "2027-01-20"), ("2027-Q1", "2027-04-20"), ("2027-Q2", "2027-07-20"), ("2027-Q3", "2027-10-20"),
    ],
}


def _dates(plan: list[Occurrence], code: str) -> list[tuple[str, str]]:
    return [(o.period, o.due.isoformat()) for o in plan if o.code == code]


@pytest.mark.parametrize("year_end", sorted(TAX_YEAR_QUARTERS))
def test_quarterly_cit_advances_follow_the_quarters_of_the_tax_year(
    year_end: str, ruleset: RuleSet, calendar: BusinessCalendar
) -> None:
    terms = copy.deepcopy(LLC_QUARTERLY_CIT)
    terms["client"]["fiscal_year_end"] = year_end
    plan = plan_terms(terms, ruleset, calendar, date(2026, 1, 1), date(2027, 12, 31))
    assert _dates(plan, "CIT_ADVANCE_Q") == TAX_YEAR_QUARTERS[year_end]


def test_the_quarter_of_a_tax_year_covers_its_three_months(ruleset: RuleSet, calendar: BusinessCalendar) -> None:
    terms = copy.deepcopy(LLC_QUARTERLY_CIT)
    terms["client"]["fiscal_year_end"] = "05-31"
    [q1] = [o for o in plan_terms(terms, ruleset, calendar, date(2026, 9, 1), date(2026, 9, 30))
            if o.code == "CIT_ADVANCE_Q"]
    assert (q1.period, q1.period_start, q1.period_end) == ("2026/2027-Q1", date(2026, 6, 1), date(2026, 8, 31))


SOLE_TRADER: dict[str, Any] = {
    "client": {"legal_form": "sole_trader", "books": "kpir", "income_tax": "pit_flat",
               "income_tax_advances": "monthly", "vat": "monthly"},
    "contract": {"services": ["bookkeeping", "vat", "income_tax"], "start": "2025-01-01", "end": None,
                 "signed_on": "2024-12-20"},
}
OFFBOARDING = ("offboarding.notice", "offboarding.power_of_attorney", "offboarding.final_returns",
               "offboarding.documents")


def _plan(versions: list[TermsVersion], ruleset: RuleSet, calendar: BusinessCalendar) -> list[Occurrence]:
    return plan_contract(contract_id="c-1", versions=versions, ruleset=ruleset, matched=ruleset.matching_rule_ids,
                         calendar=calendar, date_from=date(2026, 1, 1), date_to=date(2027, 12, 31))


def test_offboarding_is_planned_when_a_termination_arrives_counted_from_the_end_and_the_notice(
    ruleset: RuleSet, calendar: BusinessCalendar
) -> None:
    signed = TermsVersion(1, date(2025, 1, 1), SOLE_TRADER)
    open_ended = _plan([signed], ruleset, calendar)
    assert not [o for o in open_ended if o.code == "OFFBOARDING"]

    # Notice given on Mon 30.11.2026; the contract's last day is Sun 28.02.2027.
    ended = copy.deepcopy(SOLE_TRADER)
    ended["contract"].update(end="2027-02-28", notice_on="2026-11-30")
    plan = _plan([signed, TermsVersion(2, date(2025, 1, 1), ended)], ruleset, calendar)
    offboarding = {o.rule_id: (o.period, o.due.isoformat(), o.generate_on.isoformat())
                   for o in plan if o.code == "OFFBOARDING"}
    assert offboarding == {
        # notice + 7 days = Mon 07.12.2026, created on the day of the notice (lead 7 days)
        "offboarding.notice": ("2025-01-01", "2026-12-07", "2026-11-30"),
        # end + 7 days = Sun 07.03.2027 → Mon 08.03; created 14 days before
        "offboarding.power_of_attorney": ("2025-01-01", "2027-03-08", "2027-02-22"),
        # the 25th of the month after the last month: Thu 25.03.2027; created 30 days before
        "offboarding.final_returns": ("2025-01-01", "2027-03-25", "2027-02-23"),
        # end + 14 days = Sun 14.03.2027 → Mon 15.03; created 14 days before
        "offboarding.documents": ("2025-01-01", "2027-03-15", "2027-03-01"),
    }
    # The contract's own periods stop with it: February 2027 is its last JPK_V7M.
    assert max(o.period for o in plan if o.code == "JPK_V7M") == "2027-02"


def test_a_fixed_term_contract_plans_what_counts_from_its_end_but_not_from_a_notice(
    ruleset: RuleSet, calendar: BusinessCalendar
) -> None:
    fixed = copy.deepcopy(SOLE_TRADER)
    fixed["contract"]["end"] = "2026-12-31"
    plan = _plan([TermsVersion(1, date(2025, 1, 1), fixed)], ruleset, calendar)
    assert {o.rule_id for o in plan if o.code == "OFFBOARDING"} == set(OFFBOARDING) - {"offboarding.notice"}


def test_onboarding_of_a_contract_signed_after_its_start_counts_from_the_signing(
    ruleset: RuleSet, calendar: BusinessCalendar
) -> None:
    # The case: signed on Sun 29.11.2026, running from 1.11.2026. Counted from the start it was due
    # Mon 16.11 — overdue the moment it was created; from the signing it is due 13.12 (a Sunday) → Mon 14.12.
    late = copy.deepcopy(SOLE_TRADER)
    late["contract"].update(start="2026-11-01", signed_on="2026-11-29")
    [onboarding] = [o for o in plan_terms(late, ruleset, calendar, date(2026, 10, 1), date(2027, 1, 31))
                    if o.code == "ONBOARDING"]
    assert (onboarding.period, onboarding.due, onboarding.generate_on) == (
        "2026-11-01", date(2026, 12, 14), date(2026, 11, 30))

    # Signed before its start, the start counts: 1.12.2026 + 14 days = Tue 15.12.
    early = copy.deepcopy(SOLE_TRADER)
    early["contract"].update(start="2026-12-01", signed_on="2026-11-20")
    [onboarding] = [o for o in plan_terms(early, ruleset, calendar, date(2026, 10, 1), date(2027, 1, 31))
                    if o.code == "ONBOARDING"]
    assert onboarding.due == date(2026, 12, 15)


def test_an_annex_signed_later_does_not_move_the_onboarding(ruleset: RuleSet, calendar: BusinessCalendar) -> None:
    signed = copy.deepcopy(SOLE_TRADER)
    signed["contract"].update(start="2026-11-01", signed_on="2026-11-29")
    annex = copy.deepcopy(signed)
    annex["contract"]["signed_on"] = "2027-01-15"
    annex["client"]["vat"] = "quarterly"
    plan = plan_contract(contract_id="c-1", versions=[TermsVersion(1, date(2026, 11, 1), signed),
                                                      TermsVersion(2, date(2027, 2, 1), annex)],
                         ruleset=ruleset, matched=ruleset.matching_rule_ids, calendar=calendar,
                         date_from=date(2026, 10, 1), date_to=date(2027, 3, 31))
    assert [o.due for o in plan if o.code == "ONBOARDING"] == [date(2026, 12, 14)]


@pytest.mark.parametrize(("withheld", "expected"), [(True, [("2026", "2027-02-01")]), (False, [])])
def test_pit_8ar_is_planned_only_for_a_payer_that_withheld_flat_rate_tax(
    withheld: bool, expected: list[tuple[str, str]], ruleset: RuleSet, calendar: BusinessCalendar
) -> None:
    employer = copy.deepcopy(SOLE_TRADER)
    employer["client"].update(employees=4, flat_rate_withholding=withheld)
    employer["contract"]["services"].append("payroll")
    plan = plan_terms(employer, ruleset, calendar, date(2026, 6, 1), date(2027, 3, 31))
    # 31.01.2027 is a Sunday → Mon 1.02.2027.
    assert _dates(plan, "PIT_8AR") == expected
    assert _dates(plan, "PIT_4R") == [("2026", "2027-02-01")]  # every employer files PIT-4R


def test_the_planners_memo_never_lends_one_contracts_dates_to_another(ruleset: RuleSet) -> None:
    from services.scheduler.planner import Planner

    # Contracts of one shape and one start month that differ only in the days rules count from: the memo
    # shares a rule's plan across contracts of a shape, so a wrong key would give one the other's dates.
    variants: list[dict[str, Any]] = []
    for signed_on in ("2026-10-20", "2026-11-03", "2026-11-29"):
        for end, notice in ((None, None), ("2027-03-31", None), ("2027-03-31", "2026-12-01"),
                            ("2027-01-31", "2026-11-30")):
            terms = copy.deepcopy(SOLE_TRADER)
            terms["contract"].update(start="2026-11-01", signed_on=signed_on, end=end, notice_on=notice)
            variants.append(terms)
    planner = Planner(ruleset)
    try:
        for index, terms in enumerate(variants * 2):
            versions = [TermsVersion(1, date(2026, 11, 1), terms)]
            matched = {1: ruleset.matching_rule_ids(terms)}
            expected = plan_contract(contract_id=f"c-{index}", versions=versions, ruleset=ruleset, matched=matched,
                                     calendar=planner.calendar, date_from=date(2026, 10, 28),
                                     date_to=date(2028, 2, 28))
            assert planner.plan(f"c-{index}", versions, matched, date(2026, 10, 28), date(2028, 2, 28)) == expected
        assert planner.memo_hits > 0
    finally:
        planner.close()


def test_the_planners_memo_never_lends_one_contracts_duty_days_or_checklist_to_another(ruleset: RuleSet) -> None:
    """Rules that read the terms themselves — a client's duty due on the day its contract sets, an onboarding
    item required only for some services — must plan per contract, whatever the memo holds."""
    from services.scheduler.planner import Planner

    variants: list[dict[str, Any]] = []
    for day in (8, 15, None):
        for services in (["bookkeeping", "vat"], ["bookkeeping", "payroll"], ["bookkeeping"]):
            terms = copy.deepcopy(SOLE_TRADER)
            terms["contract"].update(start="2026-11-01", signed_on="2026-10-20", services=services)
            if day is not None:
                terms["contract"]["client_duties"] = {"documents_day": day, "payroll_data_day": day}
            variants.append(terms)
    planner = Planner(ruleset)
    try:
        plans = []
        for index, terms in enumerate(variants * 2):
            versions = [TermsVersion(1, date(2026, 11, 1), terms)]
            matched = {1: ruleset.matching_rule_ids(terms)}
            expected = plan_contract(contract_id=f"c-{index}", versions=versions, ruleset=ruleset, matched=matched,
                                     calendar=planner.calendar, date_from=date(2026, 10, 28),
                                     date_to=date(2027, 3, 31))
            assert planner.plan(f"c-{index}", versions, matched, date(2026, 10, 28), date(2027, 3, 31)) == expected
            plans.append(expected)
        documents = {o.due for plan in plans for o in plan if o.duty == "documents" and o.period == "2026-11"}
        assert documents == {date(2026, 12, 8), date(2026, 12, 15)}  # Tue, Tue: each contract its own day
    finally:
        planner.close()
