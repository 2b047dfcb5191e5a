"""Golden plans: every due date in 2026-2027 for three sample contracts, derived by hand from the statutes.

Holidays used (ustawa o dniach wolnych od pracy art. 1; Easter 2026 = 5 April, 2027 = 28 March):
2026: 1.01 Thu, 6.01 Tue, 5.04 Sun, 6.04 Mon, 1.05 Fri, 3.05 Sun, 24.05 Sun, 4.06 Thu, 15.08 Sat, 1.11 Sun,
      11.11 Wed, 24.12 Thu, 25.12 Fri, 26.12 Sat.
2027: 1.01 Fri, 6.01 Wed, 28.03 Sun, 29.03 Mon, 1.05 Sat, 3.05 Mon, 16.05 Sun, 27.05 Thu, 15.08 Sun, 1.11 Mon,
      11.11 Thu, 24.12 Fri, 25.12 Sat, 26.12 Sun.
A due date on a Saturday, Sunday or holiday moves past the whole run of free days (art. 12 §5 Ordynacja
podatkowa; art. 31 u.s.u.s. for ZUS). The tables are written out literally; nothing here is computed by
the code under test.
"""

from __future__ import annotations

from datetime import date

import pytest

from services.common.calendar import BusinessCalendar
from services.scheduler.domain.planning import Occurrence, plan_terms
from services.scheduler.domain.rules import RuleSet
from services.scheduler.engine import ObligationMatcher

# Period → due date for "the 15th of the next month" (ZUS of legal persons, PPK).
DUE_15TH = {
    "2025-12": "2026-01-15",
    "2026-01": "2026-02-16",  # 15.02.2026 is a Sunday → Mon 16.02
    "2026-02": "2026-03-16",  # 15.03.2026 is a Sunday → Mon 16.03
    "2026-03": "2026-04-15",
    "2026-04": "2026-05-15",
    "2026-05": "2026-06-15",
    "2026-06": "2026-07-15",
    "2026-07": "2026-08-17",  # 15.08.2026 is a Saturday and Assumption Day, 16.08 a Sunday → Mon 17.08
    "2026-08": "2026-09-15",
    "2026-09": "2026-10-15",
    "2026-10": "2026-11-16",  # 15.11.2026 is a Sunday → Mon 16.11
    "2026-11": "2026-12-15",
    "2026-12": "2027-01-15",
    "2027-01": "2027-02-15",
    "2027-02": "2027-03-15",
    "2027-03": "2027-04-15",
    "2027-04": "2027-05-17",  # 15.05.2027 is a Saturday, 16.05 Pentecost Sunday → Mon 17.05
    "2027-05": "2027-06-15",
    "2027-06": "2027-07-15",
    "2027-07": "2027-08-16",  # 15.08.2027 is a Sunday (and Assumption Day) → Mon 16.08
    "2027-08": "2027-09-15",
    "2027-09": "2027-10-15",
    "2027-10": "2027-11-15",
    "2027-11": "2027-12-15",
}

# Period → due date for "the 20th of the next month" (PIT/CIT advances, PIT withheld, ZUS of others).
DUE_20TH = {
    "2025-12": "2026-01-20",
    "2026-01": "2026-02-20",
    "2026-02": "2026-03-20",
    "2026-03": "2026-04-20",
    "2026-04": "2026-05-20",
    "2026-05": "2026-06-22",  # 20.06.2026 is a Saturday → Mon 22.06
    "2026-06": "2026-07-20",
    "2026-07": "2026-08-20",
    "2026-08": "2026-09-21",  # 20.09.2026 is a Sunday → Mon 21.09
    "2026-09": "2026-10-20",
    "2026-10": "2026-11-20",
    "2026-11": "2026-12-21",  # 20.12.2026 is a Sunday → Mon 21.12
    "2026-12": "2027-01-20",  # the December advance is due 20 January (art. 44 ust. 6 PIT)
    "2027-01": "2027-02-22",  # 20.02.2027 is a Saturday → Mon 22.02
    "2027-02": "2027-03-22",  # 20.03.2027 is a Saturday → Mon 22.03
    "2027-03": "2027-04-20",
    "2027-04": "2027-05-20",
    "2027-05": "2027-06-21",  # 20.06.2027 is a Sunday → Mon 21.06
    "2027-06": "2027-07-20",
    "2027-07": "2027-08-20",
    "2027-08": "2027-09-20",
    "2027-09": "2027-10-20",
    "2027-10": "2027-11-22",  # 20.11.2027 is a Saturday → Mon 22.11
    "2027-11": "2027-12-20",
}

# Period → due date for "the 25th of the next month" (JPK_V7M, JPK_V7K, VAT-UE).
DUE_25TH = {
    "2025-12": "2026-01-26",  # 25.01.2026 is a Sunday → Mon 26.01
    "2026-01": "2026-02-25",
    "2026-02": "2026-03-25",
    "2026-03": "2026-04-27",  # 25.04.2026 is a Saturday → Mon 27.04
    "2026-04": "2026-05-25",
    "2026-05": "2026-06-25",
    "2026-06": "2026-07-27",  # 25.07.2026 is a Saturday → Mon 27.07
    "2026-07": "2026-08-25",
    "2026-08": "2026-09-25",
    "2026-09": "2026-10-26",  # 25.10.2026 is a Sunday → Mon 26.10
    "2026-10": "2026-11-25",
    "2026-11": "2026-12-28",  # 25.12.2026 Fri Christmas, 26.12 Sat holiday, 27.12 Sunday → Mon 28.12
    "2026-12": "2027-01-25",
    "2027-01": "2027-02-25",
    "2027-02": "2027-03-25",
    "2027-03": "2027-04-26",  # 25.04.2027 is a Sunday → Mon 26.04
    "2027-04": "2027-05-25",
    "2027-05": "2027-06-25",
    "2027-06": "2027-07-26",  # 25.07.2027 is a Sunday → Mon 26.07
    "2027-07": "2027-08-25",
    "2027-08": "2027-09-27",  # 25.09.2027 is a Saturday → Mon 27.09
    "2027-09": "2027-10-25",
    "2027-10": "2027-11-25",
    "2027-11": "2027-12-27",  # 25.12.2027 Sat Christmas, 26.12 Sunday → Mon 27.12
}

# Yearly obligations (period = the calendar year before the due date).
END_OF_JANUARY = {
    "2025": "2026-02-02",  # 31.01.2026 is a Saturday → Mon 02.02
    "2026": "2027-02-01",  # 31.01.2027 is a Sunday → Mon 01.02
}
END_OF_FEBRUARY = {
    "2025": "2026-03-02",  # 28.02.2026 is a Saturday → Mon 02.03
    "2026": "2027-03-01",  # 28.02.2027 is a Sunday → Mon 01.03
}
APRIL_30 = {"2025": "2026-04-30", "2026": "2027-04-30"}  # Thu 30.04.2026, Fri 30.04.2027
MAY_20 = {"2025": "2026-05-20", "2026": "2027-05-20"}  # Wed 20.05.2026, Thu 20.05.2027
MARCH_31 = {"2025": "2026-03-31", "2026": "2027-03-31"}  # Tue 31.03.2026, Wed 31.03.2027
JUNE_30 = {"2025": "2026-06-30", "2026": "2027-06-30"}  # Tue 30.06.2026, Wed 30.06.2027
JULY_15 = {"2025": "2026-07-15", "2026": "2027-07-15"}  # Wed 15.07.2026, Thu 15.07.2027 (30.06 + 15 days)

# Quarterly obligations of contract (b), which starts on 1 January 2026.
QUARTER_20TH = {
    "2026-Q1": "2026-04-20",
    "2026-Q2": "2026-07-20",
    "2026-Q3": "2026-10-20",
    "2026-Q4": "2027-01-20",  # Q4 is due 20 January (art. 21 ust. 1b ustawy o ryczałcie)
    "2027-Q1": "2027-04-20",
    "2027-Q2": "2027-07-20",
    "2027-Q3": "2027-10-20",
}
QUARTER_25TH = {
    "2026-Q1": "2026-04-27",  # 25.04.2026 is a Saturday → Mon 27.04
    "2026-Q2": "2026-07-27",  # 25.07.2026 is a Saturday → Mon 27.07
    "2026-Q3": "2026-10-26",  # 25.10.2026 is a Sunday → Mon 26.10
    "2026-Q4": "2027-01-25",
    "2027-Q1": "2027-04-26",  # 25.04.2027 is a Sunday → Mon 26.04
    "2027-Q2": "2027-07-26",  # 25.07.2027 is a Sunday → Mon 26.07
    "2027-Q3": "2027-10-25",
}
# JPK_V7K records only, for the 1st and 2nd month of each quarter.
RECORDS_25TH = {
    "2026-01": "2026-02-25",
    "2026-02": "2026-03-25",
    "2026-04": "2026-05-25",
    "2026-05": "2026-06-25",
    "2026-07": "2026-08-25",
    "2026-08": "2026-09-25",
    "2026-10": "2026-11-25",
    "2026-11": "2026-12-28",  # 25.12.2026 Fri Christmas, 26.12 Sat holiday, 27.12 Sunday → Mon 28.12
    "2027-01": "2027-02-25",
    "2027-02": "2027-03-25",
    "2027-04": "2027-05-25",
    "2027-05": "2027-06-25",
    "2027-07": "2027-08-25",
    "2027-08": "2027-09-27",  # 25.09.2027 is a Saturday → Mon 27.09
    "2027-10": "2027-11-25",
    "2027-11": "2027-12-27",  # 25.12.2027 Sat Christmas, 26.12 Sunday → Mon 27.12
}


def _monthly_from(table: dict[str, str], first_period: str) -> dict[str, str]:
    return {period: due for period, due in table.items() if period >= first_period}


Expected = set[tuple[str, str, str, str]]  # (rule id, code, period, due)


def _rows(rule_id: str, code: str, table: dict[str, str]) -> Expected:
    return {(rule_id, code, period, due) for period, due in table.items()}


# (a) Sole trader on the 19 % flat tax, monthly advances, monthly VAT, 3 employees (payroll + ZUS, no
# PPK, no flat-rate tax withheld: no PIT-8AR), with the owner's annual return; the contract started on 1 June 2025.
TERMS_A = {
    "client": {"legal_form": "sole_trader", "nip": "1234563218", "books": "kpir", "income_tax": "pit_flat",
               "income_tax_advances": "monthly", "vat": "monthly", "vat_eu": False, "employees": 3,
               "ppk": False, "in_krs": False},
    "contract": {"services": ["bookkeeping", "vat", "income_tax", "payroll", "zus", "owner_annual_return"],
                 "start": "2025-06-01", "end": None},
}
EXPECTED_A: Expected = (
    _rows("vat.jpk_v7m", "JPK_V7M", DUE_25TH)
    | _rows("pit.advance_monthly", "PIT_ADVANCE_M", DUE_20TH)
    | _rows("payroll.pit_withheld", "PIT_WITHHELD", DUE_20TH)
    | _rows("zus.dra_other", "ZUS_DRA", DUE_20TH)  # a sole trader pays ZUS by the 20th
    | _rows("payroll.pit_4r", "PIT_4R", END_OF_JANUARY)
    | _rows("payroll.pit_11_office", "PIT_11", END_OF_JANUARY)
    | _rows("payroll.pit_11_taxpayer", "PIT_11", END_OF_FEBRUARY)
    | _rows("pit.pit_36l", "PIT_36L", APRIL_30)
    | _rows("zus.health_annual", "ZUS_HEALTH_ANNUAL", MAY_20)
)

# (b) Sole trader on ryczałt, quarterly VAT and quarterly ryczałt, no employees; starts 1 January 2026.
TERMS_B = {
    "client": {"legal_form": "sole_trader", "nip": "1234563218", "books": "revenue_records",
               "income_tax": "pit_ryczalt", "income_tax_advances": "quarterly", "vat": "quarterly",
               "vat_eu": False, "employees": 0, "ppk": False, "in_krs": False},
    "contract": {"services": ["bookkeeping", "vat", "income_tax", "zus", "owner_annual_return"],
                 "start": "2026-01-01", "end": None},
}
EXPECTED_B: Expected = (
    {("onboarding.start", "ONBOARDING", "2026-01-01", "2026-01-15")}  # start + 14 days, Thu 15.01.2026
    | _rows("vat.jpk_v7k_records", "JPK_V7K_RECORDS", RECORDS_25TH)
    | _rows("vat.jpk_v7k", "JPK_V7K", QUARTER_25TH)
    | _rows("pit.ryczalt_quarterly", "RYCZALT_Q", QUARTER_20TH)
    | _rows("zus.dra_other", "ZUS_DRA", _monthly_from(DUE_20TH, "2026-01"))
    # Only 2026 overlaps the contract: the return for 2026 is due in 2027.
    | {("pit.pit_28", "PIT_28", "2026", APRIL_30["2026"])}
    | {("zus.health_annual", "ZUS_HEALTH_ANNUAL", "2026", MAY_20["2026"])}
)

# (c) LLC with full books, monthly CIT advances, monthly VAT with VAT-UE, 12 employees with PPK, flat-rate tax
# withheld (PIT-8AR), in the KRS, calendar fiscal year; the contract started on 1 January 2025.
TERMS_C = {
    "client": {"legal_form": "llc", "nip": "5260250274", "books": "full", "income_tax": "cit",
               "income_tax_advances": "monthly", "vat": "monthly", "vat_eu": True, "employees": 12,
               "ppk": True, "fiscal_year_end": "12-31", "in_krs": True, "flat_rate_withholding": True},
    "contract": {"services": ["bookkeeping", "vat", "income_tax", "payroll", "zus", "annual_statements"],
                 "start": "2025-01-01", "end": None},
}
EXPECTED_C: Expected = (
    _rows("vat.jpk_v7m", "JPK_V7M", DUE_25TH)
    | _rows("vat.vat_ue", "VAT_UE", DUE_25TH)
    | _rows("cit.advance_monthly", "CIT_ADVANCE_M", DUE_20TH)
    | _rows("payroll.pit_withheld", "PIT_WITHHELD", DUE_20TH)
    | _rows("zus.dra_legal_person", "ZUS_DRA", DUE_15TH)  # a legal person pays ZUS by the 15th
    | _rows("payroll.ppk", "PPK", DUE_15TH)
    | _rows("payroll.pit_4r", "PIT_4R", END_OF_JANUARY)
    | _rows("payroll.pit_8ar", "PIT_8AR", END_OF_JANUARY)
    | _rows("payroll.pit_11_office", "PIT_11", END_OF_JANUARY)
    | _rows("payroll.pit_11_taxpayer", "PIT_11", END_OF_FEBRUARY)
    | _rows("cit.cit_8", "CIT_8", MARCH_31)
    | _rows("fs.prepare", "FS_PREPARE", MARCH_31)
    | _rows("fs.approve", "FS_APPROVE", JUNE_30)
    | _rows("fs.file_krs", "FS_FILE_KRS", JULY_15)
)

CASES = {"a_sole_trader_flat": (TERMS_A, EXPECTED_A), "b_sole_trader_ryczalt_quarterly": (TERMS_B, EXPECTED_B),
         "c_llc_full_books": (TERMS_C, EXPECTED_C)}


def _as_rows(plan: list[Occurrence]) -> Expected:
    return {(o.rule_id, o.code, o.period, o.due.isoformat()) for o in plan}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_due_date_in_2026_and_2027_matches_the_hand_derived_table(
    name: str, ruleset: RuleSet, calendar: BusinessCalendar, matcher: ObligationMatcher
) -> None:
    terms, expected = CASES[name]
    matched = matcher.match_sync(terms)
    plan = plan_terms(terms, ruleset, calendar, date(2026, 1, 1), date(2027, 12, 31), matched=matched)
    actual = _as_rows(plan)
    assert sorted(actual - expected) == [], "planned but not in the table"
    assert sorted(expected - actual) == [], "in the table but not planned"


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_engine_and_the_reference_evaluator_pick_the_same_rules(
    name: str, ruleset: RuleSet, matcher: ObligationMatcher
) -> None:
    terms, _ = CASES[name]
    assert matcher.match_sync(terms) == ruleset.matching_rule_ids(terms)


def test_each_case_is_created_before_it_is_due_and_every_moved_date_is_a_business_day(
    ruleset: RuleSet, calendar: BusinessCalendar
) -> None:
    for terms, _ in CASES.values():
        for o in plan_terms(terms, ruleset, calendar, date(2026, 1, 1), date(2027, 12, 31)):
            assert o.generate_on <= o.due
            assert o.nominal_due <= o.due
            assert o.due.weekday() < 5
