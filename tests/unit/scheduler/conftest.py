"""Shared fixtures: the repository's default rule pack, a calendar and one engine for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.calendar import BusinessCalendar
from services.scheduler.domain.rules import RuleSet
from services.scheduler.engine import ObligationMatcher
from services.scheduler.rulefiles import load_ruleset

REPO = Path(__file__).resolve().parents[3]
RULES_DIR = REPO / "rules"


@pytest.fixture(scope="session")
def ruleset() -> RuleSet:
    return load_ruleset(RULES_DIR)


@pytest.fixture(scope="session")
def calendar(ruleset: RuleSet) -> BusinessCalendar:
    return BusinessCalendar(ruleset.extra_days_off)


@pytest.fixture(scope="session")
def matcher(ruleset: RuleSet) -> Iterator[ObligationMatcher]:
    # One engine per rules version for the whole run: durable_rules cannot free a ruleset.
    with ObligationMatcher(ruleset) as built:
        yield built
