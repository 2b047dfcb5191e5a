"""Who works a case: a manager's reassignment, a team change by annex, and absences with their substitutes.

The assignee stays the person responsible; while they are absent a substitute is set beside them
(`cases.substitute_login`, by `cases.absence_id`): the case is then visible to both and in both "mine" lists
(`mine_condition`). Every move is recorded in the case's history. Every function works inside the caller's
transaction.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from services.cases.models import absences, case_history, cases, contract_teams, team_changes
from services.common.clock import WARSAW
from services.common.db import plain
from services.common.errors import NotFound, Problem
from services.common.log import get_logger
from services.common.messages import (
    ABSENCE_CHANGED,
    CONTRACT_CREATED,
    AbsenceChanged,
    ContractSnapshot,
    Envelope,
)
from services.common.params import plain_or_none
from services.common.runtime import ServiceContext
from services.common.scope import Scope
from services.common.terms import LocalDate

log = get_logger(__name__)

OPEN_STATUSES = ("open", "in_progress")
# The team role whose holder commissions every case of the contract (the scheduler's `commissioner`).
COMMISSIONER_ROLE = "manager"
# The role whose holder gets the cases of a role nobody holds (the scheduler's fallback).
FALLBACK_ROLE = "accountant"
BATCH = 200


# --- What the API takes ---------------------------------------------------------------------------------


def _plain(value: str) -> str:
    plain_or_none(value)
    return value.strip()


class Person(BaseModel):
    """A staff member as the gateway passes them (it checks the login is an active account)."""

    login: str = Field(min_length=1, max_length=100)
    name: str = Field("", max_length=200)
    email: str = Field("", max_length=320)

    _text = field_validator("login", "name", "email")(_plain)


class AbsenceIn(BaseModel):
    login: str = Field(min_length=1, max_length=100)
    name: str = Field("", max_length=200)
    starts_on: LocalDate
    ends_on: LocalDate
    substitute: Person | None = None
    note: str = Field("", max_length=1000)

    _text = field_validator("login", "name", "note")(_plain)

    def problems(self) -> list[dict[str, str]]:
        """What the schema cannot say alone, each naming its field."""
        errors = []
        if self.ends_on < self.starts_on:
            errors.append({"field": "ends_on", "message": "the absence cannot end before it starts"})
        if self.substitute is not None and self.substitute.login == self.login:
            errors.append({"field": "substitute.login", "message": "a person cannot stand in for themselves"})
        return errors


class AbsenceEnd(BaseModel):
    ends_on: LocalDate  # the last day of the absence (before the day it was to end)


class Reassignment(BaseModel):
    to: Person
    reason: str = Field(min_length=1, max_length=500)

    _text = field_validator("reason")(_plain)


class ReassignAll(Reassignment):
    contract_id: str = Field(min_length=1, max_length=36)
    from_login: str = Field(min_length=1, max_length=100)

    _ids = field_validator("contract_id", "from_login")(_plain)


# --- Queries the lists use ------------------------------------------------------------------------------


def mine_condition(login: str | BindParameter[str]) -> ColumnElement[bool]:
    """A person's own cases: those assigned to them, and those they stand in for while the assignee is absent."""
    return or_(cases.c.assignee_login == login, cases.c.substitute_login == login)


async def _record(session: AsyncSession, ctx: ServiceContext, case_id: str, actor: str, event: str,
                  detail: str) -> None:
    await session.execute(
        case_history.insert().values(case_id=case_id, at=ctx.clock.now(), actor=actor, event=event, detail=detail))


def _day_start(day: date) -> datetime:
    """The UTC instant a Warsaw day begins."""
    return datetime.combine(day, time(0), tzinfo=WARSAW).astimezone(UTC)


# --- Absences -------------------------------------------------------------------------------------------


def _in_window(absence: Any) -> ColumnElement[bool]:
    """Cases of an absence: due in its window, or created in it (by the Warsaw day)."""
    return or_(
        cases.c.due.between(absence.starts_on, absence.ends_on),
        and_(cases.c.created_at >= _day_start(absence.starts_on),
             cases.c.created_at < _day_start(absence.ends_on + timedelta(days=1))),
    )


async def covering_absence(session: AsyncSession, *, login: str | None, due: date, today: date) -> Any:
    """The absence of `login` (with a substitute, not cancelled) whose window holds `due` or `today`."""
    if login is None:
        return None
    query = select(absences).where(
        absences.c.login == login, absences.c.cancelled.is_(False), absences.c.substitute_login.is_not(None),
        or_(and_(absences.c.starts_on <= due, absences.c.ends_on >= due),
            and_(absences.c.starts_on <= today, absences.c.ends_on >= today)),
    ).order_by(absences.c.starts_on).limit(1)
    return (await session.execute(query)).first()


async def _set_substitute(ctx: ServiceContext, session: AsyncSession, case: Any, absence: Any, actor: str) -> None:
    await session.execute(update(cases).where(cases.c.id == case.id).values(
        substitute_login=absence.substitute_login, substitute_name=absence.substitute_name, absence_id=absence.id,
        updated_at=ctx.clock.now()))
    await _record(session, ctx, case.id, actor, "substituted",
                  f"{absence.login} absent {absence.starts_on.isoformat()} – {absence.ends_on.isoformat()}: "
                  f"{absence.substitute_login} stands in")


async def _clear_substitute(ctx: ServiceContext, session: AsyncSession, case: Any, actor: str, why: str) -> None:
    await session.execute(update(cases).where(cases.c.id == case.id).values(
        substitute_login=None, substitute_name="", absence_id=None, updated_at=ctx.clock.now()))
    await _record(session, ctx, case.id, actor, "handed_back",
                  f"{case.substitute_login} → {case.assignee_login}: {why}")


async def cover(ctx: ServiceContext, session: AsyncSession, case_id: str, *, actor: str) -> None:
    """Set (or clear) a case's substitute by its assignee's absences: call after a case is created, or its assignee
    or due date changes. An open case of an absent assignee, due or created in the absence, goes to their
    substitute; one no absence covers any more goes back, unless the substitute has started it."""
    case = (await session.execute(select(cases).where(cases.c.id == case_id))).first()
    if case is None or case.status not in OPEN_STATUSES:
        return
    absence = await covering_absence(session, login=case.assignee_login, due=case.due, today=ctx.clock.today())
    if absence is not None and absence.id != case.absence_id:
        await _set_substitute(ctx, session, case, absence, actor)
    elif absence is None and case.substitute_login is not None:
        # Started work stays with the substitute of the assignee's own (ended) absence; anything else goes back.
        owner = (await session.execute(select(absences.c.login).where(absences.c.id == case.absence_id))).scalar()
        if case.status == "open" or owner != case.assignee_login:
            await _clear_substitute(ctx, session, case, actor, f"{case.assignee_login} is not absent for this case")


def _absence_dict(row: Any) -> dict[str, Any]:
    return plain(row)


async def _emit_absence(ctx: ServiceContext, session: AsyncSession, row: Any) -> None:
    event = AbsenceChanged(absence_id=row.id, login=row.login, substitute=row.substitute_login,
                           starts_on=row.starts_on, ends_on=row.ends_on, cancelled=row.cancelled)
    await ctx.messaging.emit(session, ABSENCE_CHANGED, event.model_dump(mode="json"))


async def _absence(session: AsyncSession, absence_id: str) -> Any:
    row = (await session.execute(select(absences).where(absences.c.id == absence_id))).first()
    if row is None:
        raise NotFound("absence", absence_id)
    return row


async def create_absence(*, ctx: ServiceContext, session: AsyncSession, body: AbsenceIn, actor: str) -> dict[str, Any]:
    """Register an absence; the absent person's open cases due or created in it go to the substitute at once.
    An absence overlapping another of the same person, or a substitute absent in that time, is refused (422
    naming the dates)."""
    if problems := body.problems():
        raise Problem(422, "Invalid absence", errors=problems)
    overlapping = (await session.execute(select(absences).where(
        absences.c.login == body.login, absences.c.cancelled.is_(False),
        absences.c.starts_on <= body.ends_on, absences.c.ends_on >= body.starts_on))).first()
    if overlapping is not None:
        raise Problem(422, "Overlapping absence", f"{body.login} is already absent in part of that time",
                      errors=[{"field": "starts_on", "message": (
                          f"overlaps the absence {overlapping.starts_on.isoformat()} – "
                          f"{overlapping.ends_on.isoformat()}")}])
    substitute = body.substitute
    if substitute is not None:
        away = (await session.execute(select(absences).where(
            absences.c.login == substitute.login, absences.c.cancelled.is_(False),
            absences.c.starts_on <= body.ends_on, absences.c.ends_on >= body.starts_on))).first()
        if away is not None:  # a substitute who is away covers nothing: choose another
            raise Problem(422, "Substitute absent", errors=[{"field": "substitute.login", "message": (
                f"{substitute.login} is absent {away.starts_on.isoformat()} – {away.ends_on.isoformat()}")}])
    now = ctx.clock.now()
    absence_id = str(uuid.uuid4())
    await session.execute(absences.insert().values(
        id=absence_id, login=body.login, name=body.name, starts_on=body.starts_on, ends_on=body.ends_on,
        substitute_login=substitute.login if substitute else None,
        substitute_name=substitute.name if substitute else "",
        substitute_email=substitute.email if substitute else "", note=body.note, cancelled=False, created_by=actor,
        created_at=now, updated_at=now))
    row = await _absence(session, absence_id)
    await _emit_absence(ctx, session, row)
    moved = 0
    if substitute is not None:
        found = await session.execute(select(cases).where(
            cases.c.assignee_login == body.login, cases.c.status.in_(OPEN_STATUSES), _in_window(row),
            cases.c.substitute_login.is_(None)))
        for case in found.all():
            await _set_substitute(ctx, session, case, row, actor)
            moved += 1
    log.info("absence.created", absence_id=absence_id, login=body.login, moved=moved)
    return {**_absence_dict(row), "moved": moved}


async def _hand_back(ctx: ServiceContext, session: AsyncSession, absence: Any, actor: str, why: str) -> int:
    """What the substitute has not started (open) goes back to the assignee; started work stays with both."""
    found = await session.execute(select(cases).where(cases.c.absence_id == absence.id, cases.c.status == "open"))
    handed = 0
    for case in found.all():
        await _clear_substitute(ctx, session, case, actor, why)
        handed += 1
    return handed


async def end_absence(*, ctx: ServiceContext, session: AsyncSession, absence_id: str, body: AbsenceEnd,
                      actor: str) -> dict[str, Any]:
    """End an absence early: `ends_on` becomes its last day; the cases the substitute has not started go back."""
    row = await _absence(session, absence_id)
    if row.cancelled:
        raise Problem(409, "Absence cancelled", f"absence {absence_id} was cancelled")
    if not row.starts_on <= body.ends_on < row.ends_on:
        raise Problem(422, "Invalid end", errors=[{"field": "ends_on", "message": (
            f"must be from {row.starts_on.isoformat()} and before {row.ends_on.isoformat()} "
            "(to undo the whole absence, cancel it)")}])
    await session.execute(update(absences).where(absences.c.id == absence_id).values(
        ends_on=body.ends_on, updated_at=ctx.clock.now()))
    row = await _absence(session, absence_id)
    await _emit_absence(ctx, session, row)
    handed = await _hand_back(ctx, session, row, actor, f"absence ended early on {body.ends_on.isoformat()}")
    log.info("absence.ended", absence_id=absence_id, handed_back=handed)
    return {**_absence_dict(row), "handed_back": handed}


async def cancel_absence(*, ctx: ServiceContext, session: AsyncSession, absence_id: str,
                         actor: str) -> dict[str, Any]:
    """Cancel an absence (as if not registered); the cases the substitute has not started go back."""
    row = await _absence(session, absence_id)
    if row.cancelled:
        return {**_absence_dict(row), "handed_back": 0}  # cancelling twice changes nothing
    await session.execute(update(absences).where(absences.c.id == absence_id).values(
        cancelled=True, updated_at=ctx.clock.now()))
    row = await _absence(session, absence_id)
    await _emit_absence(ctx, session, row)
    handed = await _hand_back(ctx, session, row, actor, "absence cancelled")
    log.info("absence.cancelled", absence_id=absence_id, handed_back=handed)
    return {**_absence_dict(row), "handed_back": handed}


async def list_absences(*, session: AsyncSession, login: str | None = None, current_on: date | None = None,
                        limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Absences, newest first; `current_on`: those not cancelled and not over on that day."""
    query = select(absences)
    if login is not None:
        query = query.where(or_(absences.c.login == login, absences.c.substitute_login == login))
    if current_on is not None:
        query = query.where(absences.c.cancelled.is_(False), absences.c.ends_on >= current_on)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(query.order_by(absences.c.starts_on.desc(), absences.c.created_at.desc())
                                 .limit(limit).offset(offset))
    return [_absence_dict(r) for r in rows], int(total)


async def get_absence(*, session: AsyncSession, absence_id: str) -> dict[str, Any]:
    return _absence_dict(await _absence(session, absence_id))


# --- Reassignment by a manager ----------------------------------------------------------------------------


def _visible(scope: Scope) -> ColumnElement[bool]:
    from services.cases.handlers import visible  # the one visibility condition of the lists

    return visible(scope)


async def _reassign(ctx: ServiceContext, session: AsyncSession, case: Any, to: Person, *, actor: str,
                    event: str, detail: str) -> None:
    await session.execute(update(cases).where(cases.c.id == case.id).values(
        assignee_login=to.login, assignee_name=to.name, assignee_email=to.email, updated_at=ctx.clock.now()))
    await _record(session, ctx, case.id, actor, event, f"{case.assignee_login or '—'} → {to.login}: {detail}")
    await cover(ctx, session, case.id, actor=actor)


async def reassign_case(*, ctx: ServiceContext, session: AsyncSession, case_id: str, body: Reassignment,
                        scope: Scope) -> dict[str, Any]:
    """Hand one open case to another person; 404 outside the caller's scope, 409 when it is finished."""
    case = (await session.execute(select(cases).where(cases.c.id == case_id, _visible(scope)))).first()
    if case is None:
        raise NotFound("case", case_id)
    if case.status not in OPEN_STATUSES:
        raise Problem(409, "Case finished", f"case {case_id} is {case.status}; only open cases are reassigned")
    if case.assignee_login == body.to.login:
        raise Problem(422, "Same person", errors=[{"field": "to.login",
                                                    "message": f"the case is already assigned to {body.to.login}"}])
    await _reassign(ctx, session, case, body.to, actor=scope.login or "service", event="reassigned",
                    detail=body.reason)
    row = (await session.execute(select(cases).where(cases.c.id == case_id))).one()
    return plain(row)


async def reassign_all(*, ctx: ServiceContext, session: AsyncSession, body: ReassignAll,
                       scope: Scope) -> dict[str, Any]:
    """Hand every open case of `from_login` on one contract to another person."""
    if body.from_login == body.to.login:
        raise Problem(422, "Same person", errors=[{"field": "to.login",
                                                    "message": "choose someone other than from_login"}])
    found = await session.execute(select(cases).where(
        cases.c.contract_id == body.contract_id, cases.c.assignee_login == body.from_login,
        cases.c.status.in_(OPEN_STATUSES), _visible(scope)).order_by(cases.c.due))
    moved = []
    for case in found.all():
        await _reassign(ctx, session, case, body.to, actor=scope.login or "service", event="reassigned",
                        detail=body.reason)
        moved.append(case.id)
    log.info("cases.reassigned", contract_id=body.contract_id, from_login=body.from_login, to=body.to.login,
             count=len(moved))
    return {"moved": len(moved), "case_ids": moved}


# --- Team change by annex -----------------------------------------------------------------------------------


async def on_contract_version(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    """contract.created / changed / terminated: keep the version's team; for an annex, each role it gives to
    another person becomes a team change, applied now when its date has come, else by the daily step."""
    snapshot = ContractSnapshot.model_validate(envelope.payload)
    team = {role: (member.model_dump() if member else None) for role, member in snapshot.team.items()}
    await session.execute(delete(contract_teams).where(contract_teams.c.contract_id == snapshot.contract_id,
                                                       contract_teams.c.version == snapshot.version))
    await session.execute(contract_teams.insert().values(contract_id=snapshot.contract_id, version=snapshot.version,
                                                         effective_from=snapshot.effective_from, team=team))
    if envelope.type == CONTRACT_CREATED:
        return
    previous = (await session.execute(select(contract_teams.c.team).where(
        contract_teams.c.contract_id == snapshot.contract_id, contract_teams.c.version < snapshot.version)
        .order_by(contract_teams.c.version.desc()).limit(1))).scalar()
    for role, member in sorted(team.items()):
        if member is None:
            continue  # nobody to hand the role's cases to
        # Before the cases service kept teams (an upgrade), the previous holder is unknown: None.
        old = (previous or {}).get(role) if previous is not None else None
        old_login = old["login"] if old else None
        if previous is not None and old_login == member["login"]:
            continue
        exists = (await session.execute(select(team_changes.c.id).where(
            team_changes.c.contract_id == snapshot.contract_id, team_changes.c.version == snapshot.version,
            team_changes.c.role == role))).first()
        if exists is not None:
            continue
        await session.execute(team_changes.insert().values(
            contract_id=snapshot.contract_id, version=snapshot.version, effective_from=snapshot.effective_from,
            role=role, old_login=old_login, new_login=member["login"], new_name=member.get("name", ""),
            new_email=member.get("email", "")))
        log.info("team_change.recorded", contract_id=snapshot.contract_id, version=snapshot.version, role=role,
                 effective_from=snapshot.effective_from.isoformat())
    await _apply_due(ctx, session, contract_id=snapshot.contract_id)


async def _apply_due(ctx: ServiceContext, session: AsyncSession, *, contract_id: str | None = None) -> int:
    """Apply the team changes whose date has come (of one contract, or a batch of all), oldest first; rows taken
    by another process are skipped (it applies them)."""
    query = select(team_changes).where(team_changes.c.applied_at.is_(None),
                                       team_changes.c.effective_from <= ctx.clock.today())
    if contract_id is not None:
        query = query.where(team_changes.c.contract_id == contract_id)
    query = query.order_by(team_changes.c.effective_from, team_changes.c.version, team_changes.c.id).limit(BATCH)
    rows = (await session.execute(query.with_for_update(skip_locked=True))).all()
    for change in rows:
        await _apply(ctx, session, change)
    return len(rows)


async def _apply(ctx: ServiceContext, session: AsyncSession, change: Any) -> None:
    """The open cases of the role due from the annex's date go to the new person (done cases never move)."""
    new = Person(login=change.new_login, name=change.new_name, email=change.new_email)
    detail = f"annex (contract version {change.version}) from {change.effective_from.isoformat()}, role {change.role}"
    base = and_(cases.c.contract_id == change.contract_id, cases.c.status.in_(OPEN_STATUSES),
                cases.c.due >= change.effective_from)
    # The old holder's cases (a case a manager gave to someone else stays there); unknown holder: any other.
    holder = (cases.c.assignee_login == change.old_login if change.old_login is not None
              else or_(cases.c.assignee_login.is_(None), cases.c.assignee_login != change.new_login))
    role = cases.c.role == change.role
    if change.role == FALLBACK_ROLE:
        # The scheduler gives a role nobody holds to the accountant: those cases follow the accountant too.
        team = (await session.execute(select(contract_teams.c.team).where(
            contract_teams.c.contract_id == change.contract_id, contract_teams.c.version == change.version))).scalar()
        held = sorted(r for r, member in (team or {}).items() if member)
        role = or_(role, cases.c.role.is_(None), cases.c.role.not_in(held))
    moved = 0
    for case in (await session.execute(select(cases).where(base, role, holder))).all():
        await _reassign(ctx, session, case, new, actor="annex", event="team_changed", detail=detail)
        moved += 1
    if change.role == COMMISSIONER_ROLE:
        commissioner = (cases.c.commissioner_login == change.old_login if change.old_login is not None
                        else or_(cases.c.commissioner_login.is_(None), cases.c.commissioner_login != new.login))
        for case in (await session.execute(select(cases).where(base, commissioner))).all():
            await session.execute(update(cases).where(cases.c.id == case.id).values(
                commissioner_login=new.login, commissioner_name=new.name, updated_at=ctx.clock.now()))
            await _record(session, ctx, case.id, "annex", "team_changed",
                          f"commissioner {case.commissioner_login or '—'} → {new.login}: {detail}")
    await session.execute(update(team_changes).where(team_changes.c.id == change.id).values(
        applied_at=ctx.clock.now()))
    log.info("team_change.applied", contract_id=change.contract_id, version=change.version, role=change.role,
             moved=moved)


async def apply_due_team_changes(ctx: ServiceContext) -> int:
    """The daily step: apply every team change whose date has come. Idempotent (an applied change is marked in
    the same transaction), safe with several cases-service processes."""
    applied = 0
    while True:
        async with ctx.db.transaction() as session:
            count = await _apply_due(ctx, session)
        applied += count
        if count < BATCH:
            return applied


async def team_change_loop(ctx: ServiceContext) -> None:
    """Runs the daily step at start (catching up after downtime) and every `assignment_tick_seconds` after."""
    while True:
        await apply_due_team_changes(ctx)
        await asyncio.sleep(ctx.settings.assignment_tick_seconds)
