"""Which client tasks an office case waits for: its own month's, and for a quarterly case the quarter's last month's
(the quarterly JPK_V7K files the records of the 3rd month; the first two months have their own records cases)."""

from __future__ import annotations

from pathlib import Path

from services.cases.duties import task_period
from services.scheduler.rulefiles import load_ruleset

ROOT = Path(__file__).resolve().parents[3]


def test_a_quarterly_case_waits_for_the_documents_of_the_quarters_last_month() -> None:
    assert task_period("2026-10") == "2026-10"
    assert task_period("2026-Q3") == "2026-09"
    assert task_period("2027-Q1") == "2027-03"
    assert task_period("2026") == "2026"  # a year: as it is (no monthly task matches it)


def test_every_vat_rule_filed_for_the_clients_documents_depends_on_them() -> None:
    rules = {r.id: r for r in load_ruleset(ROOT / "rules").rules}
    for rule_id in ("vat.jpk_v7m", "vat.jpk_v7k_records", "vat.jpk_v7k"):
        assert rules[rule_id].depends_on == ("documents",), rule_id
