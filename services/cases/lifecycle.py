"""The lifecycle of a case: status changes, checklist ticks, comments, finishing with liabilities, one-off cases.

Statuses: open → in_progress → done; not_applicable (with a reason) from open or in_progress; a manager reopens
done or not_applicable back to in_progress; withdrawn (by the scheduler) is read-only. Every change writes
`case_history` in the same transaction, and the events it publishes go through the outbox.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.cases import watch
from services.cases.assignment import cover
from services.cases.models import case_attachments, case_comments, case_history, cases
from services.common.clock import local_date
from services.common.db import plain_rows
from services.common.errors import NotFound, Problem
from services.common.limits import MAX_COMMENT_CHARS, MAX_REASON_CHARS
from services.common.messages import (
    CASE_COMPLETED,
    CASE_CREATED,
    CASE_REOPENED,
    CaseCompleted,
    CaseCreated,
    CaseReopened,
    Liability,
    TeamMember,
)
from services.common.runtime import ServiceContext
from services.common.scope import Scope

STATUSES = ("open", "in_progress", "done", "not_applicable", "withdrawn")
OPEN_STATUSES = ("open", "in_progress")
FINISHED_STATUSES = ("done", "not_applicable")
# The form symbol of a liability's transfer title where the case's code says more than its kind.
FORM_OF_CODE = {"JPK_V7M": "VAT-7", "JPK_V7K": "VAT-7K"}
MAX_AMOUNT = Decimal("999999999999.99")
_AMOUNT = re.compile(r"^\d+(\.\d{1,2})?$")


@dataclass(frozen=True)
class Actor:
    """Who changes a case: the login from the caller's scope, the name the gateway knows for it."""

    login: str
    name: str = ""
    email: str = ""

    @property
    def member(self) -> TeamMember:
        return TeamMember(login=self.login, name=self.name, email=self.email)


def actor(scope: Scope, name: str = "") -> Actor:
    """The actor of a command made for `scope` (a call without a person's scope acts as "service")."""
    return Actor(login=scope.login or "service", name=name)


async def record(session: AsyncSession, ctx: ServiceContext, case_id: str, who: str, event: str,
                 detail: str = "") -> None:
    await session.execute(case_history.insert().values(case_id=case_id, at=ctx.clock.now(), actor=who, event=event,
                                                       detail=detail))


async def load_for_change(session: AsyncSession, case_id: str, scope: Scope) -> Any:
    """The case, locked for this transaction; 404 outside the caller's scope; 409 when it was withdrawn."""
    from services.cases.handlers import visible  # the one visibility condition of lists and single cases

    query = select(cases).where(cases.c.id == case_id, visible(scope))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound("case", case_id)
    if row.status == "withdrawn":
        raise Problem(409, "Case withdrawn",
                      f"case {case_id} was withdrawn (its obligation no longer applies): it can be read, not changed",
                      errors=[{"field": "status", "message": "the case is withdrawn"}])
    return row


def _wrong_status(row: Any, action: str, allowed: tuple[str, ...]) -> Problem:
    return Problem(409, "Wrong status", f"case {row.id} is {row.status}: it can be {action} only when "
                   f"{' or '.join(allowed)}", errors=[{"field": "status", "message": f"is {row.status}"}])


async def _set(session: AsyncSession, ctx: ServiceContext, row: Any, **values: Any) -> None:
    await session.execute(update(cases).where(cases.c.id == row.id).values(**values, updated_at=ctx.clock.now()))


async def start(ctx: ServiceContext, session: AsyncSession, *, case_id: str, scope: Scope, who: Actor) -> None:
    """open → in_progress."""
    row = await load_for_change(session, case_id, scope)
    if row.status != "open":
        raise _wrong_status(row, "started", ("open",))
    await _set(session, ctx, row, status="in_progress")
    await record(session, ctx, case_id, who.login, "started", "open → in_progress")


async def not_applicable(ctx: ServiceContext, session: AsyncSession, *, case_id: str, scope: Scope, who: Actor,
                         reason: str) -> None:
    """open or in_progress → not_applicable, with the reason (e.g. no payroll this month)."""
    reason = _text(reason, "reason", MAX_REASON_CHARS)
    row = await load_for_change(session, case_id, scope)
    if row.status not in OPEN_STATUSES:
        raise _wrong_status(row, "marked not applicable", OPEN_STATUSES)
    await _set(session, ctx, row, status="not_applicable", status_reason=reason, completed_at=ctx.clock.now())
    await record(session, ctx, case_id, who.login, "not_applicable", f"{row.status} → not_applicable: {reason}")


async def reopen(ctx: ServiceContext, session: AsyncSession, *, case_id: str, scope: Scope, who: Actor,
                 reason: str = "") -> None:
    """done or not_applicable → in_progress, by a manager; a done case's notice is withdrawn (case.reopened)
    until it is finished again."""
    if not scope.manages:
        raise Problem(403, "Forbidden", "only a manager reopens a case",
                      errors=[{"field": "status", "message": "reopening needs a manager"}])
    reason = reason.strip()[:MAX_REASON_CHARS]
    row = await load_for_change(session, case_id, scope)
    if row.status not in FINISHED_STATUSES:
        raise _wrong_status(row, "reopened", FINISHED_STATUSES)
    # A client task reopened is awaited again (what arrived was not all): the dependent cases show it awaited, and
    # the notifier resumes its reminders (case.reopened, notifier/duties.py).
    received = {"received_on": None, "received_count": None} if row.party == "client" else {}
    await _set(session, ctx, row, status="in_progress", status_reason=None, completed_at=None, **received)
    await record(session, ctx, case_id, who.login, "reopened",
                 f"{row.status} → in_progress" + (f": {reason}" if reason else ""))
    if row.status == "done" and row.completions:
        reopened = CaseReopened(case_id=case_id, contract_id=row.contract_id, reason=reason,
                                reopened_by=who.member)
        await ctx.messaging.emit(session, CASE_REOPENED, reopened.model_dump(mode="json"))


async def tick(ctx: ServiceContext, session: AsyncSession, *, case_id: str, scope: Scope, who: Actor, index: int,
               done: bool) -> list[dict[str, Any]]:
    """Tick (or untick) checklist item `index` (from 0) of an open or in-progress case; the new checklist."""
    row = await load_for_change(session, case_id, scope)
    if row.status not in OPEN_STATUSES:
        raise _wrong_status(row, "ticked", OPEN_STATUSES)
    checklist = [dict(entry) for entry in row.checklist]
    if not 0 <= index < len(checklist):
        raise Problem(422, "No such checklist item", f"case {case_id} has {len(checklist)} checklist items",
                      errors=[{"field": "index", "message": f"must be 0 to {len(checklist) - 1}"}])
    if bool(checklist[index].get("done")) == done:
        return checklist  # already so: nothing changes, nothing is recorded
    checklist[index]["done"] = done
    await _set(session, ctx, row, checklist=checklist)
    await record(session, ctx, case_id, who.login, "ticked" if done else "unticked", str(checklist[index]["item"]))
    return checklist


async def comment(ctx: ServiceContext, session: AsyncSession, *, case_id: str, scope: Scope, who: Actor,
                  text: str) -> dict[str, Any]:
    """A comment on a case (withdrawn ones included: they stay readable and may be discussed)."""
    from services.cases.handlers import visible

    text = _text(text, "text", MAX_COMMENT_CHARS)
    exists = (await session.execute(select(cases.c.id).where(cases.c.id == case_id, visible(scope)))).first()
    if exists is None:
        raise NotFound("case", case_id)
    values = {"case_id": case_id, "at": ctx.clock.now(), "author": who.login, "author_name": who.name, "text": text}
    await session.execute(case_comments.insert().values(**values))
    return values


async def finish(ctx: ServiceContext, session: AsyncSession, *, case_id: str, scope: Scope, who: Actor,
                 amounts: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """open or in_progress → done. Refused (409) while a required checklist item is open or a required attachment
    is missing; a case whose rule gives a notice needs an amount per liability (422 naming the one missing or
    wrong) and publishes case.completed with them (a revision after each reopen: the notifier's correction)."""
    row = await load_for_change(session, case_id, scope)
    if row.status not in OPEN_STATUSES:
        raise _wrong_status(row, "finished", OPEN_STATUSES)
    missing = [str(e["item"]) for e in row.checklist if e.get("required") and not e.get("done")]
    if missing:
        raise Problem(409, "Required checklist items open",
                      f"case {case_id} cannot be done while required items are open: {'; '.join(missing)}",
                      errors=[{"field": "checklist", "message": item} for item in missing])
    needed = list(row.requires or [])
    if needed:
        have = set((await session.execute(select(case_attachments.c.kind).where(
            case_attachments.c.case_id == case_id))).scalars())
        lacking = [kind for kind in needed if kind not in have]
        if lacking:
            raise Problem(409, "Required attachments missing",
                          f"case {case_id} cannot be done without an attachment of kind: {', '.join(lacking)}",
                          errors=[{"field": "attachments", "message": kind} for kind in lacking])
    liabilities = _liabilities(list(row.notice or []), amounts or {})
    revision = (row.completions or 0) + 1
    # A client task finished as such: what was due arrived today, unless marked received with its day.
    received = {"received_on": row.received_on or ctx.clock.today()} if row.party == "client" else {}
    await _set(session, ctx, row, status="done", completed_at=ctx.clock.now(), status_reason=None,
               liabilities=liabilities if row.notice else None, completions=revision, **received)
    detail = f"{row.status} → done"
    if liabilities:
        detail += "; " + ", ".join(f"{item['kind'].upper()} {_pln(Decimal(item['amount']))}" for item in liabilities)
    await record(session, ctx, case_id, who.login, "done", detail)
    if row.notice:
        completed = CaseCompleted(
            case_id=case_id, contract_id=row.contract_id or "", client_id=row.client_id or "",
            client_name=row.client_name, contract_number=row.contract_number, rule_id=row.rule_id, code=row.code,
            period=row.period, title=row.title, revision=revision, completed_by=who.member,
            assignee=TeamMember(login=row.assignee_login, name=row.assignee_name, email=row.assignee_email)
            if row.assignee_login else None,
            liabilities=[Liability.model_validate({"kind": item["kind"], "amount": item["amount"], "due": row.due,
                                                   "form": FORM_OF_CODE.get(row.code or "", "")})
                         for item in liabilities],
        )
        await ctx.messaging.emit(session, CASE_COMPLETED, completed.model_dump(mode="json"))
    elif row.party == "client":
        # A client task done: the notifier stops reminding the client (services/cases/duties.py).
        completed = CaseCompleted(
            case_id=case_id, contract_id=row.contract_id or "", client_id=row.client_id or "",
            client_name=row.client_name, contract_number=row.contract_number, rule_id=row.rule_id, code=row.code,
            period=row.period, title=row.title, revision=revision, completed_by=who.member, party="client")
        await ctx.messaging.emit(session, CASE_COMPLETED, completed.model_dump(mode="json"))
    return liabilities


def _liabilities(kinds: list[str], amounts: dict[str, Any]) -> list[dict[str, str]]:
    """One {kind, amount} per liability the case's notice lists, from the amounts as typed; every problem named."""
    errors = []
    result = []
    for kind in kinds:
        raw = amounts.get(kind)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            errors.append({"field": f"liabilities.{kind}", "message": "an amount in PLN is required (0 allowed)"})
            continue
        try:
            amount = parse_amount(raw)
        except ValueError as error:
            errors.append({"field": f"liabilities.{kind}", "message": str(error)})
            continue
        result.append({"kind": kind, "amount": str(amount)})
    unknown = sorted(set(amounts) - set(kinds))
    errors += [{"field": f"liabilities.{kind}", "message": "this case's notice has no such liability"}
               for kind in unknown]
    if errors:
        raise Problem(422, "Invalid liabilities", "the amounts of the case's liabilities are missing or wrong",
                      errors=errors)
    return result


def parse_amount(raw: Any) -> Decimal:
    """An amount in PLN as people type it: "1 200,00", "1200.00", "1.200,50", 0. Never negative, two decimals."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, Decimal)):
        raise ValueError("an amount is a number such as 1200.00 or 1 200,00")
    text = str(raw).strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    if text.startswith("-"):
        raise ValueError("an amount cannot be negative")
    if not _AMOUNT.match(text):
        raise ValueError(f"not an amount: {str(raw)[:40]!r} (e.g. 1200.00 or 1 200,00)")
    try:
        amount = Decimal(text).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise ValueError(f"not an amount: {str(raw)[:40]!r}") from None
    if amount > MAX_AMOUNT:
        raise ValueError("the amount is too large")
    return amount


def _pln(amount: Decimal) -> str:
    whole, _, cents = f"{amount:.2f}".partition(".")
    groups = f"{int(whole):,}".replace(",", " ")
    return f"{groups},{cents} zł"


def _text(value: Any, field: str, limit: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise Problem(422, "Invalid input", f"{field} is required", errors=[{"field": field,
                                                                             "message": "is required"}])
    if len(text) > limit:
        raise Problem(422, "Invalid input", f"{field} is too long",
                      errors=[{"field": field, "message": f"at most {limit} characters"}])
    return text


# --- One-off cases --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OneOff:
    """A case staff make by hand for a contract: no rule, their title, due date, assignee and checklist."""

    contract_id: str
    title: str
    due: date
    assignee: TeamMember | None
    checklist: list[str | dict[str, Any]]
    contract_number: str = ""
    client_id: str = ""
    client_name: str = ""
    commissioner: TeamMember | None = None


async def create_one_off(ctx: ServiceContext, session: AsyncSession, *, scope: Scope, who: Actor,
                         case: OneOff) -> str:
    """Create a one-off case (a contract the caller sees); it publishes case.created like a generated one."""
    if not scope.sees(case.contract_id):
        raise NotFound("contract", case.contract_id)
    now = ctx.clock.now()
    late = case.due < local_date(now)  # born overdue: one fact, stored and announced alike (handlers.py)
    case_id = str(uuid.uuid4())
    checklist = []
    for item in case.checklist:
        entry = dict(item) if isinstance(item, dict) else {"item": item}
        checklist.append({**entry, "done": False})
    await session.execute(cases.insert().values(
        id=case_id, contract_id=case.contract_id, contract_number=case.contract_number, client_id=case.client_id,
        client_name=case.client_name, rule_id=None, code=None, period=None, title=case.title[:300], title_en="",
        due=case.due, status="open", role=None,
        assignee_login=case.assignee.login if case.assignee else None,
        assignee_name=case.assignee.name if case.assignee else "",
        assignee_email=case.assignee.email if case.assignee else "",
        commissioner_login=case.commissioner.login if case.commissioner else None,
        commissioner_name=case.commissioner.name if case.commissioner else "",
        commissioner_email=case.commissioner.email if case.commissioner else "",
        checklist=checklist, notice=[], requires=[], created_by=who.login,
        late_on_creation=late, created_at=now, updated_at=now,
    ))
    await record(session, ctx, case_id, who.login, "created", f"one-off case, due {case.due.isoformat()}")
    await cover(ctx, session, case_id, actor="absence")  # an absent assignee's substitute takes it too
    await watch.on_created(ctx, session, case_id)  # born overdue: overdue at once, its ladder counts from today
    created = CaseCreated(case_id=case_id, contract_id=case.contract_id, contract_number=case.contract_number,
                          client_name=case.client_name, rule_id=None, code=None, period=None, title=case.title,
                          due=case.due, assignee=case.assignee, commissioner=case.commissioner,
                          late_on_creation=late)
    await ctx.messaging.emit(session, CASE_CREATED, created.model_dump(mode="json"))
    return case_id


async def comments_of(session: AsyncSession, case_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(select(case_comments).where(case_comments.c.case_id == case_id)
                                 .order_by(case_comments.c.at, case_comments.c.id))
    return plain_rows(rows)
