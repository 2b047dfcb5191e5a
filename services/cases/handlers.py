"""The cases service layer: one plain function per event or command, each inside the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, String, bindparam, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.cases import watch
from services.cases.assignment import cover, mine_condition
from services.cases.models import case_history, cases
from services.common.clock import local_date
from services.common.db import plain, plain_rows
from services.common.log import get_logger
from services.common.messages import (
    CASE_CREATED,
    CASE_PARTY_CHANGED,
    CaseCreated,
    CasePartyChanged,
    CaseReplanned,
    CaseRequested,
    CaseWithdrawn,
    Envelope,
    TeamMember,
)
from services.common.runtime import ServiceContext
from services.common.scope import SERVICE_SCOPE, Scope

log = get_logger(__name__)

OPEN_STATUSES = ("open", "in_progress")
# History of a client task the office took over: the client's confirmation of sending it, cleared (personal.py finds
# the address in it).
CONFIRMATION_CLEARED = "client_confirmation_cleared"


async def on_case_requested(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    request = CaseRequested.model_validate(envelope.payload)
    existing = await _by_natural_key(session, request.contract_id, request.rule_id, request.period)
    if existing is not None:
        # The natural key says this case exists: a replayed or re-planned request changes nothing.
        log.info("case.already_exists", case_id=existing.id, rule_id=request.rule_id, period=request.period)
        return
    now = ctx.clock.now()
    # Born overdue is one fact, decided here with this service's own today at the instant it creates the case —
    # what the assignee sees: stored, announced (case.created tells the assignee), summarized for the managers
    # and counted from by the ladder alike. The scheduler's `late_on_creation` is its view when it asked (a
    # request due today and handled after midnight was not late there); it is not taken.
    late = request.due < local_date(now)
    if late != request.late_on_creation:
        log.info("case.late_on_creation_differs", rule_id=request.rule_id, period=request.period,
                 due=request.due.isoformat(), requested_late=request.late_on_creation, late=late)
    case_id = str(uuid.uuid4())
    assignee = request.assignee
    commissioner = request.commissioner
    await session.execute(
        cases.insert().values(
            id=case_id,
            contract_id=request.contract_id,
            contract_number=request.contract_number,
            client_name=request.client_name,
            rule_id=request.rule_id,
            code=request.code,
            period=request.period,
            rules_version=request.rules_version,
            contract_version=request.contract_version,
            title=request.title_pl,
            title_en=request.title_en,
            due=request.due,
            generate_on=request.generate_on,
            status="open",
            role=request.role,
            assignee_login=assignee.login if assignee else None,
            assignee_name=assignee.name if assignee else "",
            assignee_email=assignee.email if assignee else "",
            commissioner_login=commissioner.login if commissioner else None,
            commissioner_name=commissioner.name if commissioner else "",
            commissioner_email=commissioner.email if commissioner else "",
            checklist=[{**(dict(item) if isinstance(item, dict) else {"item": item}), "done": False}
                       for item in request.checklist],
            notice=request.notice,
            requires=request.requires,
            client_id=request.client_id or None,
            late_on_creation=late,
            party=request.party,
            duty=request.duty,
            depends_on=request.depends_on,
            created_at=now,
            updated_at=now,
        )
    )
    await _record(session, ctx, case_id, "scheduler", "created",
                  f"rule {request.rule_id}, period {request.period}, rules {request.rules_version}"
                  + (f"; created after its due date {request.due.isoformat()}" if late else ""))
    await cover(ctx, session, case_id, actor="absence")  # an absent assignee's substitute takes it too
    created = CaseCreated(
        case_id=case_id,
        contract_id=request.contract_id,
        contract_number=request.contract_number,
        client_name=request.client_name,
        rule_id=request.rule_id,
        code=request.code,
        period=request.period,
        title=request.title_pl,
        due=request.due,
        assignee=assignee,
        commissioner=commissioner,
        late_on_creation=late,
        party=request.party,
        duty=request.duty,
        client_id=request.client_id,
        title_en=request.title_en,
    )
    await ctx.messaging.emit(session, CASE_CREATED, created.model_dump(mode="json"))
    await watch.on_created(ctx, session, case_id)  # born overdue: overdue at once (case.created tells the assignee)
    log.info("case.created", case_id=case_id, rule_id=request.rule_id, period=request.period)


async def on_case_withdrawn(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    withdrawn = CaseWithdrawn.model_validate(envelope.payload)
    row = await _by_natural_key(session, withdrawn.contract_id, withdrawn.rule_id, withdrawn.period)
    if row is None or row.status not in OPEN_STATUSES:
        return  # finished work stays as it was done; a missing case has nothing to withdraw
    await session.execute(
        update(cases).where(cases.c.id == row.id).values(status="withdrawn", updated_at=ctx.clock.now())
    )
    await _record(session, ctx, row.id, "scheduler", "withdrawn", withdrawn.reason)


async def on_case_replanned(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    """case.replanned: an open or in-progress case takes everything its rule now gives it — due and generate-on
    dates, code, titles, checklist (ticked items stay ticked where their text remains), role, notice, requires,
    party and duty, depends_on — and the contract version its occurrence now follows, keeps its assignee and
    records what changed in its history. A client task the office takes over loses the client's confirmation of
    sending (`client_confirmation_cleared` in its history says which). Done, not-applicable and withdrawn cases
    are history and never touched; a replayed message changes nothing."""
    replanned = CaseReplanned.model_validate(envelope.payload)
    row = (await session.execute(select(cases).where(
        cases.c.contract_id == replanned.contract_id, cases.c.rule_id == replanned.rule_id,
        cases.c.period == replanned.period))).first()
    if row is None or row.status not in OPEN_STATUSES:
        return
    # Checklist items are plain texts or {item, required}; what was ticked stays ticked where the text remains.
    done = {(entry.get("item") if isinstance(entry, dict) else entry): entry.get("done", False)
            for entry in row.checklist if isinstance(entry, dict)}
    checklist = []
    for item in replanned.checklist:
        entry = dict(item) if isinstance(item, dict) else {"item": item}
        checklist.append({**entry, "done": done.get(entry.get("item"), False)})
    new: dict[str, Any] = {"due": replanned.due, "generate_on": replanned.generate_on, "title": replanned.title_pl,
                           "title_en": replanned.title_en, "checklist": checklist, "role": replanned.role}
    # A message from an older scheduler does not carry these (None): the case keeps its values.
    for name in ("code", "notice", "requires", "depends_on", "contract_version"):
        if getattr(replanned, name) is not None:
            new[name] = getattr(replanned, name)
    if replanned.party is not None:
        new.update(party=replanned.party, duty=replanned.duty)
    changed = {name: (getattr(row, name), value) for name, value in new.items() if getattr(row, name) != value}
    if not changed:
        return
    # The office does a client task's work now: the client's confirmation that it sent its documents no longer
    # describes the case (the history keeps it, and the notifier its proof).
    cleared = changed.get("party") == ("client", "office") and row.client_confirmed_at is not None
    confirmation = {"client_confirmed_at": None, "client_confirmed_by": None} if cleared else {}
    await session.execute(update(cases).where(cases.c.id == row.id).values(
        **new, **confirmation, rules_version=replanned.rules_version, updated_at=ctx.clock.now()))
    moves = [f"{name.replace('_', '-')} {_shown(old)} → {_shown(value)}" for name, (old, value) in changed.items()
             if name not in ("title", "title_en", "checklist")]
    moves += [f"{name.replace('_', ' ')} changed" for name in changed if name in ("title", "title_en", "checklist")]
    await _record(session, ctx, row.id, "scheduler", "replanned", f"{'; '.join(moves)} ({replanned.reason})")
    if cleared:
        await _record(session, ctx, row.id, "scheduler", CONFIRMATION_CLEARED,
                      f"zadaniem zajmuje się teraz biuro: usunięto potwierdzenie klienta "
                      f"({row.client_confirmed_by}, {local_date(row.client_confirmed_at).strftime('%d.%m.%Y')})")
    if "due" in changed:
        await cover(ctx, session, row.id, actor="absence")  # the new due date may fall in or out of an absence
    if "party" in changed or "duty" in changed:  # the notifier starts or withdraws the client's duty notice
        await ctx.messaging.emit(session, CASE_PARTY_CHANGED, CasePartyChanged(
            case_id=row.id, contract_id=row.contract_id, contract_number=row.contract_number,
            client_name=row.client_name, client_id=row.client_id or "", rule_id=row.rule_id,
            code=new.get("code", row.code),
            period=row.period, title=replanned.title_pl, title_en=replanned.title_en, due=replanned.due,
            assignee=TeamMember(login=row.assignee_login, name=row.assignee_name, email=row.assignee_email)
            if row.assignee_login else None,
            party=new.get("party", row.party), duty=new.get("duty", row.duty), previous_party=row.party,
            reason=f"{replanned.reason} (rules {replanned.rules_version})").model_dump(mode="json"))
    log.info("case.replanned", case_id=row.id, rule_id=replanned.rule_id, period=replanned.period,
             changed=sorted(changed))


def _shown(value: Any) -> str:
    """A value in a `replanned` history line: a list as its items ("upo, statement"), nothing as "—"."""
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "—"
    return "—" if value is None else str(value)


async def _by_natural_key(session: AsyncSession, contract_id: str, rule_id: str, period: str) -> Any:
    """The generated case for (contract, rule, period), if there is one: its id and status."""
    query = select(cases.c.id, cases.c.status).where(
        cases.c.contract_id == contract_id, cases.c.rule_id == rule_id, cases.c.period == period)
    return (await session.execute(query)).first()


async def _record(session: AsyncSession, ctx: ServiceContext, case_id: str, actor: str, event: str,
                  detail: str) -> None:
    await session.execute(
        case_history.insert().values(case_id=case_id, at=ctx.clock.now(), actor=actor, event=event, detail=detail)
    )


def visible(scope: Scope, *, parameters: bool = False) -> ColumnElement[bool]:
    """The cases a caller's scope sees: those of its contracts, and those the caller does (as assignee or
    substitute) or commissioned. `parameters`: the caller's login and contracts are the parameters `scope_login`
    and `scope_contracts` instead of their values (a statement built once for every caller, views.py)."""
    if scope.contracts is None:
        return true()
    if not parameters:
        return or_(cases.c.contract_id.in_(scope.contracts), mine_condition(scope.login),
                   cases.c.commissioner_login == scope.login)
    login = bindparam("scope_login", type_=String())
    return or_(cases.c.contract_id.in_(bindparam("scope_contracts", expanding=True, type_=String())),
               mine_condition(login), cases.c.commissioner_login == login)


async def list_cases(
    *,
    session: AsyncSession,
    scope: Scope = SERVICE_SCOPE,
    visible_to: str | None = None,
    status: str | None = None,
    contract_id: str | None = None,
    due_before: date | None = None,
    deadline_state: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Cases ordered by due date, within `scope`; `visible_to` limits them to a person's own (assignee, substitute
    or commissioner)."""
    query = select(cases).where(visible(scope))
    if visible_to is not None:
        query = query.where(or_(mine_condition(visible_to), cases.c.commissioner_login == visible_to))
    if status is not None:
        query = query.where(cases.c.status == status)
    if contract_id is not None:
        query = query.where(cases.c.contract_id == contract_id)
    if due_before is not None:
        query = query.where(cases.c.due <= due_before)
    if deadline_state is not None:  # a state of open cases: a finished case keeps its last one, unlisted here
        query = query.where(cases.c.deadline_state == deadline_state, cases.c.status.in_(OPEN_STATUSES))
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(query.order_by(cases.c.due, cases.c.title).limit(limit).offset(offset))
    return plain_rows(rows), int(total)


async def get_case(*, session: AsyncSession, case_id: str, scope: Scope = SERVICE_SCOPE) -> dict[str, Any] | None:
    """One case with its history; None when it does not exist or `scope` does not see it."""
    row = (await session.execute(select(cases).where(cases.c.id == case_id, visible(scope)))).first()
    if row is None:
        return None
    result = plain(row)
    history = await session.execute(
        select(case_history).where(case_history.c.case_id == case_id).order_by(case_history.c.at)
    )
    result["history"] = plain_rows(history)
    return result


CASE_STATUSES = ("open", "in_progress", "done", "not_applicable", "withdrawn")


async def count_cases(*, session: AsyncSession, today: date) -> tuple[dict[str, int], int]:
    """How many cases are in each status, and how many open ones are past their due date on `today`."""
    counts = dict.fromkeys(CASE_STATUSES, 0)
    for status, n in await session.execute(select(cases.c.status, func.count()).group_by(cases.c.status)):
        counts[status] = n
    overdue = (await session.execute(
        select(func.count()).select_from(cases).where(cases.c.status.in_(OPEN_STATUSES), cases.c.due < today)
    )).scalar_one()
    return counts, int(overdue)
