"""The life of rule sets: load the folder, reject a broken set and keep the last good one, preview a change."""

from __future__ import annotations

import tempfile
from datetime import date
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.log import get_logger
from services.common.messages import RULES_LOADED, RULES_REJECTED
from services.common.runtime import ServiceContext
from services.scheduler.handlers import plan_window, team_for, wake_tick
from services.scheduler.models import occurrences, planned_contracts, rule_sets
from services.scheduler.planner import Planner, RuleSetError, occurrence_changes, problem_dict, read_rule_files

log = get_logger(__name__)


async def apply_rules(ctx: ServiceContext, directory: Path) -> dict[str, Any]:
    """Load the folder; if valid, it is in force from now and the tick replans every contract at once (open
    cases follow through case.replanned and case.withdrawn).

    A broken set is recorded and announced (rules.rejected) and the set in force stays."""
    files = read_rule_files(directory)
    try:
        candidate = Planner.load(directory)
    except RuleSetError as error:
        errors = [problem_dict(p) for p in error.problems]
        async with ctx.db.transaction() as session:
            await session.execute(rule_sets.insert().values(
                version="rejected", status="rejected", rule_count=0, errors=errors, files=files,
                loaded_at=ctx.clock.now()))
            await ctx.messaging.emit(session, RULES_REJECTED, {"directory": str(directory), "errors": errors})
        log.error("rules.rejected", directory=str(directory), errors=len(errors))
        return {"status": "rejected", "errors": errors,
                "in_force": current_planner(ctx).version if "planner" in ctx.extras else None}
    await _activate(ctx, candidate, files)
    wake_tick(ctx)
    return {"status": "active", "version": candidate.version, "rules": candidate.rule_count}


async def _activate(ctx: ServiceContext, planner: Planner, files: dict[str, str]) -> None:
    async with ctx.db.transaction() as session:
        active = (await session.execute(
            select(rule_sets.c.version).where(rule_sets.c.status == "active"))).scalar_one_or_none()
        if active != planner.version:
            await session.execute(update(rule_sets).where(rule_sets.c.status == "active").values(status="superseded"))
            await session.execute(rule_sets.insert().values(
                version=planner.version, status="active", rule_count=planner.rule_count, files=files,
                loaded_at=ctx.clock.now()))
            await ctx.messaging.emit(session, RULES_LOADED, {"version": planner.version, "rules": planner.rule_count,
                                                             "previous": active})
            log.info("rules.loaded", version=planner.version, previous=active, rules=planner.rule_count)
    old: Planner | None = ctx.extras.get("planner")
    ctx.extras["planner"] = planner  # swapped whole: a rules version is never half in force
    if old is not None and old is not planner:
        old.close()


async def restore_last_good(ctx: ServiceContext) -> Planner | None:
    """The last active set, from the files kept in the database (the folder may hold a broken one)."""
    async with ctx.db.reading() as session:
        files = (await session.execute(
            select(rule_sets.c.files).where(rule_sets.c.status == "active"))).scalar_one_or_none()
    if not files:
        return None
    with tempfile.TemporaryDirectory(prefix="terminarz-rules-") as tmp:
        for name, content in files.items():
            path = Path(tmp) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        return Planner.load(Path(tmp))


def current_planner(ctx: ServiceContext) -> Planner:
    planner: Planner = ctx.extras["planner"]
    return planner


_PREVIEW_CHUNK = 500


async def preview(ctx: ServiceContext, session: AsyncSession, candidate: Planner) -> dict[str, Any]:
    """What a candidate rule set would change over the plan window, per contract: occurrences added, withdrawn,
    and changed (due or generate-on moved; title, checklist or role changed) — for a changed one whose case
    exists (`status` requested), the open case would follow.

    `added`, `withdrawn` and `changed` list every occurrence (by due date); `contracts` sums them per contract."""
    start, end = plan_window(ctx.clock.today())
    found: dict[str, list[dict[str, Any]]] = {"added": [], "withdrawn": [], "changed": []}
    # Every contract, terminated ones too: until their end they still have cases a rule change may move.
    contracts = (await session.execute(select(planned_contracts).order_by(planned_contracts.c.number))).all()
    per_contract: list[dict[str, Any]] = []
    stored_by_contract: dict[str, dict[tuple[str, str], Any]] = {}
    for index, contract in enumerate(contracts):
        if index % _PREVIEW_CHUNK == 0:  # what is stored, read a chunk of contracts at a time
            chunk = [c.contract_id for c in contracts[index:index + _PREVIEW_CHUNK]]
            stored_by_contract = {}
            for row in await session.execute(select(occurrences).where(
                    occurrences.c.contract_id.in_(chunk), occurrences.c.due >= start,
                    occurrences.c.status != "withdrawn")):
                stored_by_contract.setdefault(row.contract_id, {})[(row.rule_id, row.period)] = row
        wanted = {(o.rule_id, o.period): o for o in
                  await candidate.occurrences(contract.contract_id, contract.versions, start, end)}
        stored = stored_by_contract.get(contract.contract_id, {})
        who = _accountant(contract.versions, ctx.clock.today())
        about = {"contract_id": contract.contract_id, "contract_number": contract.number,
                 "client_name": contract.client_name}
        counts = {"added": 0, "withdrawn": 0, "changed": 0}
        for key in wanted.keys() - stored.keys():
            o = wanted[key]
            found["added"].append({**about, "rule_id": o.rule_id, "code": o.code, "period": o.period,
                                   "due": o.due.isoformat(), "generate_on": o.generate_on.isoformat(),
                                   "for": o.role, "assignee": who})
            counts["added"] += 1
        for key in stored.keys() - wanted.keys():
            r = stored[key]
            found["withdrawn"].append({**about, "rule_id": r.rule_id, "code": r.code, "period": r.period,
                                       "due": r.due.isoformat(), "status": r.status, "assignee": who})
            counts["withdrawn"] += 1
        for key in stored.keys() & wanted.keys():
            r, o = stored[key], wanted[key]
            changes = occurrence_changes(r, o)
            if changes:
                found["changed"].append({**about, "rule_id": r.rule_id, "code": r.code, "period": r.period,
                                         "due": o.due.isoformat(), "status": r.status, "assignee": who,
                                         "changes": changes})
                counts["changed"] += 1
        if any(counts.values()):
            per_contract.append({**about, "assignee": who, **counts})
    order = itemgetter("due", "contract_number", "rule_id", "period")
    return {"candidate_version": candidate.version, "in_force": current_planner(ctx).version,
            **{kind: sorted(items, key=order) for kind, items in found.items()}, "contracts": per_contract}


def _accountant(versions: list[dict[str, Any]], today: date) -> str | None:
    member = team_for(versions, today).get("accountant")
    return member.get("login") if member else None
