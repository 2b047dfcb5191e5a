"""The one wrapper around durable_rules: finds which rules of a RuleSet a contract's terms match.

This is the evaluator the scheduler plans with in production; `domain/conditions.py` says which is the test oracle.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import durable.engine as durable

from services.common.terms import TermsDocument
from services.scheduler.domain.conditions import NEGATED, AllOf, Always, AnyOf, CompareOp, Condition, Not
from services.scheduler.domain.facts import FACT_KIND, FACT_KIND_KEY, build_fact, fact_key
from services.scheduler.domain.rules import RuleSet

_DURABLE_OP: dict[CompareOp, str] = {"ne": "$neq", "gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}


def to_durable(condition: Condition, negate: bool = False) -> dict[str, Any]:
    """Compile a condition to durable_rules JSON; `not` is pushed down (De Morgan), as it has no $not."""
    if isinstance(condition, Always):
        # Every fact carries kind=terms; a value no fact carries makes "never".
        return {FACT_KIND_KEY: "__never__" if negate else FACT_KIND}
    if isinstance(condition, Not):
        return to_durable(condition.item, not negate)
    if isinstance(condition, AllOf | AnyOf):
        parts = [to_durable(c, negate) for c in condition.items]
        if len(parts) == 1:
            return parts[0]
        conjunction = isinstance(condition, AllOf) != negate
        return {"$and" if conjunction else "$or": parts}
    op: CompareOp = NEGATED[condition.op] if negate else condition.op
    key = fact_key(condition.term)
    if op == "eq":
        return {key: condition.value}
    return {_DURABLE_OP[op]: {key: condition.value}}


class _QuietHost(durable.Host):
    """A Host without its two background dispatch/timer threads.

    Fact rules run their actions synchronously inside assert_fact; the timer threads only serve events
    and timers we do not use, and would otherwise call into the engine off our thread and could pick up
    an action between our assert and its completion.
    """

    def _run(self) -> None:
        return None


class MatcherClosed(RuntimeError):
    """The matcher was closed; build a new one for the current rules version."""


class ObligationMatcher:
    """Evaluates terms against one rules version, all engine calls on one dedicated thread.

    Each rule's condition becomes one rule of a single durable_rules ruleset named after the rules
    version (a ruleset cannot be replaced, so a new version means a new matcher). A contract's terms are
    asserted as a fact (facts match every rule, events only the first) on the one default session and
    retracted right after, so sessions and stored facts never accumulate.
    """

    def __init__(self, ruleset: RuleSet) -> None:
        self._ruleset = ruleset
        self._name = f"obligations_{ruleset.version}"
        # Rule ids are mapped to r0..rN: engine names stay plain whatever ids authors choose.
        self._rule_ids = {f"r{i}": rule.id for i, rule in enumerate(ruleset.rules)}
        self._hits: list[tuple[str, str]] = []
        self._fact_ids = itertools.count(1)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"rules-{ruleset.version}")
        self._thread: threading.Thread | None = None
        self._closed = False
        self._host: durable.Host = self._executor.submit(self._build).result()

    @property
    def version(self) -> str:
        return self._ruleset.version

    @property
    def ruleset(self) -> RuleSet:
        return self._ruleset

    def _build(self) -> durable.Host:
        self._thread = threading.current_thread()
        definition: dict[str, Any] = {}
        for name, rule_id in self._rule_ids.items():
            condition = to_durable(self._ruleset.rule(rule_id).when)
            definition[name] = {"all": [{"m": condition}], "run": self._action(name)}
        # The Host deletes `run` from the dict it is given; it gets a dict built only for it.
        return _QuietHost({self._name: definition} if definition else {})

    def _action(self, name: str) -> Any:
        def run(c: Any) -> None:
            # dict(c.m) fails inside an action; the message's data is c.m._d.
            self._hits.append((name, str(c.m._d.get("id"))))

        return run

    def _match_here(self, terms: TermsDocument | Mapping[str, Any]) -> list[str]:
        assert threading.current_thread() is self._thread, "durable_rules must only be called on its thread"
        if not self._rule_ids:
            return []
        fact: dict[str, Any] = build_fact(terms)
        # A unique id per assertion: the engine refuses a fact equal to one it has already seen.
        fact["id"] = f"{self._name}-{next(self._fact_ids)}"
        self._hits.clear()
        try:
            self._host.assert_fact(self._name, dict(fact))
        except durable.MessageNotHandledException:
            return []  # matches no rule: the contract has no obligations; nothing was stored
        try:
            hits = [self._rule_ids[name] for name, fact_id in self._hits if fact_id == fact["id"]]
        finally:
            self._hits.clear()
            self._host.retract_fact(self._name, dict(fact))
        order = {rule.id: i for i, rule in enumerate(self._ruleset.rules)}
        return sorted(set(hits), key=order.__getitem__)

    def _submit_check(self) -> None:
        if self._closed:
            raise MatcherClosed(f"the matcher for rules {self.version} is closed")

    def match_sync(self, terms: TermsDocument | Mapping[str, Any]) -> list[str]:
        """Rule ids whose conditions the terms meet, in rule-set order (blocks; for the CLI and tests)."""
        self._submit_check()
        return self._executor.submit(self._match_here, terms).result()

    async def match(self, terms: TermsDocument | Mapping[str, Any]) -> list[str]:
        """Rule ids whose conditions the terms meet, computed on the matcher's thread."""
        self._submit_check()
        return await asyncio.wrap_future(self._executor.submit(self._match_here, terms))

    async def match_many(self, documents: Sequence[TermsDocument | Mapping[str, Any]]) -> list[list[str]]:
        """`match` for several documents with one hand-over to the matcher's thread (each hand-over waits for the
        thread to wake and take the GIL: about a millisecond, more than matching one document), one after another
        on that thread as `match` would."""
        self._submit_check()
        return await asyncio.wrap_future(self._executor.submit(self._match_all_here, list(documents)))

    def _match_all_here(self, documents: list[TermsDocument | Mapping[str, Any]]) -> list[list[str]]:
        return [self._match_here(terms) for terms in documents]

    def close(self) -> None:
        """Stop the matcher's thread; the C ruleset stays allocated (the engine cannot free it)."""
        self._closed = True
        self._executor.shutdown(wait=True)

    def __enter__(self) -> ObligationMatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
