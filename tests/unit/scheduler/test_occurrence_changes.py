"""What a replan tells an existing case: every field a case takes from its rule, compared with the occurrence row
as it was stored (written by this scheduler or an older one, whose rows leave out what they did not know)."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from types import SimpleNamespace
from typing import Any

from services.common.calendar import BusinessCalendar
from services.scheduler.domain.planning import Occurrence, plan_terms
from services.scheduler.domain.rules import RuleSet
from services.scheduler.planner import CASE_FIELDS, occurrence_changes, occurrence_columns

from .test_planning import MONTHLY_VAT


def _occurrence(ruleset: RuleSet, calendar: BusinessCalendar, code: str) -> Occurrence:
    plan = plan_terms(MONTHLY_VAT, ruleset, calendar, date(2026, 4, 1), date(2026, 6, 30))
    return next(o for o in plan if o.code == code)


def _stored(occurrence: Occurrence, **detail_changes: Any) -> SimpleNamespace:
    """The occurrence as an `occurrences` row read back (its detail through JSON, as the database gives it)."""
    columns = occurrence_columns(occurrence)
    detail = {**json.loads(json.dumps(columns["detail"])), **detail_changes}
    return SimpleNamespace(**{**columns, "detail": {k: v for k, v in detail.items() if v is not None}})


def test_a_stored_occurrence_equal_to_the_plan_has_no_changes(ruleset: RuleSet, calendar: BusinessCalendar) -> None:
    terms = {**MONTHLY_VAT, "contract": {**MONTHLY_VAT["contract"], "client_duties": {"documents_day": 8}}}
    plan = plan_terms(terms, ruleset, calendar, date(2026, 1, 1), date(2026, 12, 31))
    assert {o.party for o in plan} == {"office", "client"} and any(o.depends_on for o in plan)
    assert [o for o in plan if occurrence_changes(_stored(o), o)] == []


def test_every_field_a_case_takes_from_its_rule_is_compared(ruleset: RuleSet, calendar: BusinessCalendar) -> None:
    assert set(CASE_FIELDS) == {"due", "generate_on", "code", "title_pl", "title_en", "checklist", "role", "notice",
                                "requires", "party", "duty", "depends_on"}
    jpk = _occurrence(ruleset, calendar, "JPK_V7M")
    assert jpk.depends_on == ("documents",) and jpk.notice == ("vat",) and jpk.requires == ()
    # A row written before the rule had `depends_on`, now required a UPO, with another code and no notice.
    stored = _stored(jpk, depends_on=None)
    planned = dataclasses.replace(jpk, requires=("upo",), code="JPK_VAT", notice=())
    assert occurrence_changes(stored, planned) == {
        "code": {"from": "JPK_V7M", "to": "JPK_VAT"},
        "notice": {"from": ["vat"], "to": []},
        "requires": {"from": [], "to": ["upo"]},
        "depends_on": {"from": [], "to": ["documents"]},
    }
    client_task = dataclasses.replace(jpk, party="client", duty="documents", depends_on=())
    assert occurrence_changes(_stored(jpk), client_task) == {
        "party": {"from": "office", "to": "client"}, "duty": {"from": None, "to": "documents"},
        "depends_on": {"from": ["documents"], "to": []}}


def test_a_checklist_item_becoming_required_is_a_change(ruleset: RuleSet, calendar: BusinessCalendar) -> None:
    jpk = _occurrence(ruleset, calendar, "JPK_V7M")
    stored = _stored(jpk, checklist=[i if isinstance(i, str) else i["item"] for i in
                                     occurrence_columns(jpk)["detail"]["checklist"]])
    assert list(occurrence_changes(stored, jpk)) == ["checklist"]
