"""HTTP API of the scheduler (internal): each contract's plan, the rules in force, apply and preview."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from services.common.db import plain_rows
from services.common.errors import NotFound, Problem
from services.common.params import MAX_ID, ClientIdPath, ContractIdList
from services.common.runtime import ServiceContext, get_context
from services.common.scope import Scope, request_scope
from services.scheduler import personal, rulesets
from services.scheduler.models import occurrences, rule_sets
from services.scheduler.planner import Planner, RuleSetError, problem_dict

router = APIRouter()


@router.get("/plan")
async def plan(contract_id: Annotated[int, Query(ge=1, le=MAX_ID)], ctx: ServiceContext = Depends(get_context),
               include_withdrawn: bool = False, scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """A contract's occurrences (planned, requested and, on request, withdrawn), by due date; a contract outside
    the caller's scope is not found."""
    if not scope.sees(str(contract_id)):
        raise NotFound("contract", contract_id)
    query = select(occurrences).where(occurrences.c.contract_id == str(contract_id))
    if not include_withdrawn:
        query = query.where(occurrences.c.status != "withdrawn")
    async with ctx.db.reading() as session:
        rows = (await session.execute(query.order_by(occurrences.c.due, occurrences.c.rule_id))).all()
    return {"items": [
        {"rule_id": r.rule_id, "code": r.code, "period": r.period, "due": r.due, "generate_on": r.generate_on,
         "role": r.role, "status": r.status, "title_pl": r.detail.get("title_pl"), "title_en": r.detail.get("title_en"),
         "rules_version": r.rules_version, "contract_version": r.contract_version}
        for r in rows]}


@router.get("/clients/{client_id}/personal-data")
async def client_personal_data(
    client_id: ClientIdPath,
    ctx: ServiceContext = Depends(get_context),
    contract_id: ContractIdList = [],  # noqa: B006 - FastAPI copies the default
    scope: Scope = Depends(request_scope),
) -> dict[str, Any]:
    """The scheduler's copy of a client's contracts (`contract_id`, repeated: the gateway names them)."""
    async with ctx.db.reading() as session:
        return await personal.export(session, client_id=client_id, contract_ids=contract_id, scope=scope)


@router.get("/rules")
async def rules_in_force(ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    planner = rulesets.current_planner(ctx)
    async with ctx.db.reading() as session:
        history = (await session.execute(
            select(rule_sets.c.version, rule_sets.c.status, rule_sets.c.rule_count, rule_sets.c.errors,
                   rule_sets.c.loaded_at).order_by(rule_sets.c.id.desc()).limit(20))).all()
    return {"version": planner.version, "rules": planner.rule_summaries(),
            "history": plain_rows(history)}


@router.post("/rules/apply")
async def apply(ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    """Load the configured rules folder; a broken set is rejected and the one in force stays."""
    result = await rulesets.apply_rules(ctx, ctx.settings.rules_dir)
    if result["status"] == "rejected":
        raise Problem(422, "Rule set rejected", "the rules in force did not change", errors=result["errors"])
    return result


@router.post("/rules/preview")
async def preview(ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    """What putting the configured rules folder in force would add and withdraw, per contract."""
    try:
        candidate = Planner.load(ctx.settings.rules_dir)
    except RuleSetError as error:
        raise Problem(422, "Rule set rejected", errors=[problem_dict(p) for p in error.problems]) from None
    try:
        async with ctx.db.reading() as session:
            return await rulesets.preview(ctx, session, candidate)
    finally:
        candidate.close()
