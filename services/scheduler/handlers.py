"""The scheduler service layer: keep each contract's plan in step with its terms and the rules, and request
cases when their time has come. Every function works inside the caller's transaction."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

from dateutil.relativedelta import relativedelta
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.log import get_logger
from services.common.messages import (
    CASE_REPLANNED,
    CASE_REQUESTED,
    CASE_WITHDRAWN,
    CONTRACT_TERMINATED,
    CaseReplanned,
    CaseRequested,
    CaseWithdrawn,
    ContractSnapshot,
    Envelope,
    TeamMember,
)
from services.common.runtime import ServiceContext
from services.scheduler.domain import Occurrence
from services.scheduler.domain.rules import checklist_json
from services.scheduler.models import occurrences, planned_contracts
from services.scheduler.planner import Detail, Planner, occurrence_changes, occurrence_columns

log = get_logger(__name__)

HORIZON_MONTHS = 15
# A contract entered today also gets cases for what fell due in the last month: nothing recent slips through
# the handover from the client's previous office unnoticed (the accountant closes what was already done).
LOOKBACK_DAYS = 31
# Key of the PostgreSQL advisory lock that lets one scheduler instance plan at a time.
PLANNER_LOCK = 0x7465726D  # "term"


def planner_of(ctx: ServiceContext) -> Planner:
    planner: Planner = ctx.extras["planner"]
    return planner


async def on_contract_event(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    """contract.created / changed / terminated: store the version, replan, request what is due."""
    await on_contract_events(ctx, session, [envelope])


async def on_contract_events(ctx: ServiceContext, session: AsyncSession, envelopes: Sequence[Envelope]) -> None:
    """Contract events in one transaction (a batch from the bus): for each, store the version; then replan all
    their contracts together (one read of what is stored, the new occurrences in bulk) and request what is due
    with one outbox write. A contract named twice in the batch is handled in order: its later events in a
    next round, which sees the first."""
    pending = [(envelope, ContractSnapshot.model_validate(envelope.payload)) for envelope in envelopes]
    # The engine matches the events' terms on its own thread while this one waits for the database (the lock,
    # the stored versions); the replan finds the answers remembered.
    matching = asyncio.create_task(  # noqa: RUF006 - awaited below, whatever happens
        planner_of(ctx).match_all([snapshot.terms for _, snapshot in pending]))
    try:
        await _lock_planner(session)
        while pending:
            round_: list[tuple[Envelope, ContractSnapshot]] = []
            later: list[tuple[Envelope, ContractSnapshot]] = []
            named: set[str] = set()
            for item in pending:
                contract_id = item[1].contract_id
                (later if contract_id in named else round_).append(item)
                named.add(contract_id)
            await _plan_contracts(ctx, session, round_, matching)
            pending = later
    finally:
        if not matching.done():
            matching.cancel()
        await asyncio.gather(matching, return_exceptions=True)  # its error, if any, is the replan's to raise


async def _plan_contracts(ctx: ServiceContext, session: AsyncSession,
                          items: Sequence[tuple[Envelope, ContractSnapshot]],
                          matching: asyncio.Task[None] | None = None) -> None:
    """Store each event's version of its contract (each contract once here), replan them, request what is due.
    `matching`: the engine's answers for these terms being computed; waited for before the replan."""
    ids = [snapshot.contract_id for _, snapshot in items]
    stored = {r.contract_id: r for r in await session.execute(
        select(planned_contracts).where(planned_contracts.c.contract_id.in_(ids)))}
    planner = planner_of(ctx)
    inserts: list[dict[str, Any]] = []
    # Replanned together per reason (the event type), new contracts apart: they have no occurrences yet.
    to_plan: dict[tuple[str, bool], dict[str, list[dict[str, Any]]]] = {}
    known: dict[str, _Contract] = {}
    correlations: dict[str, str] = {}
    for envelope, snapshot in items:
        row = stored.get(snapshot.contract_id)
        correlations[snapshot.contract_id] = envelope.correlation_id
        version = {
            "version": snapshot.version,
            "effective_from": snapshot.effective_from.isoformat(),
            "terms": envelope.payload["terms"],  # its JSON as sent: valid (parsed above) and in the terms.md shape
            "team": {k: (v.model_dump() if v else None) for k, v in snapshot.team.items()},
            "client_id": snapshot.client_id,  # carried to the cases (a finished case's notice names the client)
        }
        values: dict[str, Any] = {
            "number": snapshot.number,
            "client_name": snapshot.client_name,
            "terminated": envelope.type == CONTRACT_TERMINATED,
            "updated_at": ctx.clock.now(),
        }
        if row is None:
            # Marked planned now: the replan below is in this same transaction.
            versions = [version]
            inserts.append({"contract_id": snapshot.contract_id, "version": snapshot.version, "versions": versions,
                            "planned_on": ctx.clock.today(), "planned_rules_version": planner.version, **values})
        else:
            versions = [v for v in row.versions if v["version"] != snapshot.version] + [version]
            versions.sort(key=lambda v: (v["effective_from"], v["version"]))
            if snapshot.version < row.version:
                # An older version arriving late (redelivery, reordering) joins the history; the newer one
                # still decides the contract's name, number and whether it is terminated.
                log.info("contract.older_version_merged", contract_id=snapshot.contract_id,
                         version=snapshot.version)
                values = {"updated_at": values["updated_at"]}
            else:
                values["version"] = snapshot.version
            await session.execute(
                update(planned_contracts)
                .where(planned_contracts.c.contract_id == snapshot.contract_id)
                .values(versions=versions, **values)
            )
        # Only a replan stores occurrences and it needs the contract's row: a new contract has none yet. The new
        # version is planned with its terms as validated above, not read back from their JSON.
        planned = [{**v, "terms": snapshot.terms} if v is version else v for v in versions]
        to_plan.setdefault((envelope.type, row is None), {})[snapshot.contract_id] = planned
        if row is None or snapshot.version >= row.version:
            known[snapshot.contract_id] = _Contract(snapshot.number, snapshot.client_name, versions)
    if inserts:
        await session.execute(planned_contracts.insert(), inserts)
    # A new contract's occurrences whose time has come are written as requested and their case.requested emitted
    # here, in this transaction: no read of what was just written, no second write of it (see _replan's `due`).
    if matching is not None:
        await asyncio.gather(matching, return_exceptions=True)  # a failure: the replan meets it again and raises
    due_now: list[_Due] = []
    for (reason, new), contracts in to_plan.items():
        await _replan(ctx, session, contracts, reason=reason, new=new, correlations=correlations,
                      due=due_now if new else None)
    if due_now:
        await _emit_requests(ctx, session, due_now, known, correlations)
    known_before = [contract_id for (_, new), contracts in to_plan.items() if not new for contract_id in contracts]
    if known_before:
        await request_due(ctx, session, contract_ids=known_before, known=known, correlations=correlations,
                          limit=max(500, 50 * len(known_before)))


class _Due(NamedTuple):
    """An occurrence to request now, as request_due reads it from a stored row."""

    contract_id: str
    rule_id: str
    code: str
    period: str
    due: date
    generate_on: date
    role: str
    detail: dict[str, Any]
    rules_version: str
    contract_version: int


class _Contract(NamedTuple):
    """What request_due reads of a planned contract."""

    number: str
    client_name: str
    versions: list[dict[str, Any]]


async def _lock_planner(session: AsyncSession) -> None:
    """PostgreSQL: one planner at a time across scheduler processes (released at commit)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PLANNER_LOCK})


def plan_window(today: date) -> tuple[date, date]:
    """The due dates a plan covers: from a month back to the horizon."""
    return today - timedelta(days=LOOKBACK_DAYS), today + relativedelta(months=HORIZON_MONTHS)


async def _replan(ctx: ServiceContext, session: AsyncSession, contracts: Mapping[str, list[dict[str, Any]]], *,
                  reason: str, new: bool = False, correlations: Mapping[str, str] | None = None,
                  due: list[_Due] | None = None) -> dict[str, int]:
    """Make each contract's stored plan equal the desired one over the plan window: add what is new, withdraw
    what is no longer owed, move what is planned, and tell the cases service (case.replanned) what changed for an
    occurrence whose case exists; nothing is requested twice. A few statements in all (one read of what is
    stored, bulk writes of what is new), however many contracts.

    `new`: the contracts' rows were just inserted, already marked planned; they have no occurrences yet.
    `correlations`: the correlation id of each contract's event, carried by the events emitted for it.
    `due` (only with `new`): the occurrences whose generate-on date has come are written as requested (what
    request_due would do next in this transaction) and appended to it; the caller emits their case.requested."""
    assert due is None or new, "only a new contract's occurrences are requested as they are written"
    correlation_of = (correlations or {}).get
    planner = planner_of(ctx)
    today = ctx.clock.today()
    now = ctx.clock.now()
    window_start, window_end = plan_window(today)
    ids = sorted(contracts)
    current: dict[tuple[str, str, str], Any] = {}
    # A natural key may exist with an earlier due date (outside `current`): such an occurrence stays as it is.
    earlier: set[tuple[str, str, str]] = set()
    if not new:
        for r in await session.execute(select(occurrences).where(occurrences.c.contract_id.in_(ids))):
            key = (r.contract_id, r.rule_id, r.period)
            if r.due >= window_start:
                current[key] = r
            else:
                earlier.add(key)
    # The engine's answers for every version of these contracts at once: one hand-over to its thread.
    await planner.match_all(v["terms"] for versions in contracts.values() for v in versions)
    writer = _OccurrenceWriter(session)
    wanted: set[tuple[str, str, str]] = set()
    revived: list[tuple[int, Occurrence]] = []
    moved: list[tuple[int, Occurrence]] = []
    replanned: list[tuple[Any, Occurrence]] = []
    # A batch of a hundred contract events is written in four COPYs, each stored while the next is planned.
    chunk = max(_CHUNK // 4, min(_CHUNK, len(ids) // 4))
    try:
        for chunk_start in range(0, len(ids), chunk):
            rows: list[dict[str, Any]] = []
            for contract_id in ids[chunk_start:chunk_start + chunk]:
                for occ in await planner.occurrences(contract_id, contracts[contract_id], window_start, window_end):
                    key = (contract_id, occ.rule_id, occ.period)
                    wanted.add(key)
                    row = current.get(key)
                    if row is None:
                        if due is not None:
                            columns = occurrence_columns(occ)
                            if occ.generate_on <= today:
                                rows.append({"contract_id": contract_id, "status": "requested",
                                             "rules_version": planner.version, **columns, "requested_at": now})
                                due.append(_Due(contract_id, occ.rule_id, occ.code, occ.period, occ.due,
                                                occ.generate_on, occ.role, columns["detail"], planner.version,
                                                occ.contract_version))
                            else:
                                rows.append({"contract_id": contract_id, "status": "planned",
                                             "rules_version": planner.version, **columns, "requested_at": None})
                        elif key not in earlier:
                            rows.append({"contract_id": contract_id, "status": "planned",
                                         "rules_version": planner.version, **occurrence_columns(occ)})
                    elif row.status == "withdrawn":
                        revived.append((row.id, occ))
                    elif row.status == "planned" and (row.due != occ.due or row.generate_on != occ.generate_on
                                                      or row.contract_version != occ.contract_version
                                                      or row.rules_version != planner.version):
                        moved.append((row.id, occ))
                    elif row.status == "requested" and occurrence_changes(row, occ):
                        replanned.append((row, occ))
                await writer.let_run()
            await writer.add(rows)
        added = await writer.finish() + len(revived)
    except BaseException:
        await writer.abandon()  # a COPY still running would make the rollback fail
        raise
    # The statements below wait for the bulk writes: one connection does one thing at a time.
    for occurrence_id, occ in revived:
        await session.execute(update(occurrences).where(occurrences.c.id == occurrence_id).values(
            status="planned", withdrawn_at=None, withdrawn_reason=None, rules_version=planner.version,
            **occurrence_columns(occ)))
    for occurrence_id, occ in moved:
        await session.execute(update(occurrences).where(occurrences.c.id == occurrence_id).values(
            rules_version=planner.version, **occurrence_columns(occ)))
    # The case exists: it follows, every field its rule gives it (the cases service keeps its assignee and leaves
    # finished cases alone).
    replans: list[tuple[str, dict[str, Any]]] = []
    for row, occ in replanned:
        await session.execute(update(occurrences).where(occurrences.c.id == row.id).values(
            rules_version=planner.version, **occurrence_columns(occ)))
        replans.append((CASE_REPLANNED, CaseReplanned(
            contract_id=row.contract_id, rule_id=occ.rule_id, period=occ.period, due=occ.due,
            generate_on=occ.generate_on, title_pl=occ.title_pl, title_en=occ.title_en,
            checklist=checklist_json(occ.checklist),
            role=occ.role, rules_version=planner.version, reason=reason, code=occ.code, notice=list(occ.notice),
            requires=list(occ.requires), party="client" if occ.party == "client" else "office", duty=occ.duty,
            depends_on=list(occ.depends_on), contract_version=occ.contract_version).model_dump(mode="json")))
    await ctx.messaging.emit_many(session, replans, correlation_ids=[correlation_of(p["contract_id"])
                                                                     for _, p in replans])
    withdrawals: list[tuple[str, dict[str, Any]]] = []
    withdrawn = 0
    for key, row in current.items():
        if key in wanted or row.status == "withdrawn":
            continue
        await session.execute(update(occurrences).where(occurrences.c.id == row.id).values(
            status="withdrawn", withdrawn_at=ctx.clock.now(), withdrawn_reason=reason))
        if row.status == "requested":
            # The case exists already: tell the cases service it is no longer owed.
            withdrawal = CaseWithdrawn(contract_id=row.contract_id, rule_id=row.rule_id, period=row.period,
                                       reason=reason)
            withdrawals.append((CASE_WITHDRAWN, withdrawal.model_dump(mode="json")))
        withdrawn += 1
    await ctx.messaging.emit_many(session, withdrawals, correlation_ids=[correlation_of(p["contract_id"])
                                                                         for _, p in withdrawals])
    if not new:
        await session.execute(update(planned_contracts).where(planned_contracts.c.contract_id.in_(ids))
                              .values(planned_on=today, planned_rules_version=planner.version))
    changed = len(moved) + len(replanned)
    if added or withdrawn or changed:
        log.info("plan.changed", contracts=len(ids), contract_id=ids[0] if len(ids) == 1 else None, added=added,
                 withdrawn=withdrawn, changed=changed, cases_replanned=len(replanned), reason=reason)
    return {"added": added, "withdrawn": withdrawn, "changed": changed, "cases_replanned": len(replanned)}


# Contracts planned between two bulk writes: PostgreSQL stores one chunk while the next is computed.
_CHUNK = 100


class _OccurrenceWriter:
    """New occurrences, written in bulk as they are planned. On PostgreSQL each chunk goes by COPY on the
    session's connection inside its transaction, one COPY in flight at a time, so the server stores a chunk
    while Python plans the next; elsewhere one executemany at the end."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.pending: list[dict[str, Any]] = []
        self.in_flight: asyncio.Task[Any] | None = None
        self.written = 0
        self.driver: Any = None
        self.columns: list[str] = []

    async def add(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        self.written += len(rows)
        if self.driver is None:
            self.driver = False
            if self.session.get_bind().dialect.name == "postgresql":
                raw = await (await self.session.connection()).get_raw_connection()
                driver = raw.driver_connection
                if driver is not None and driver.is_in_transaction():
                    self.driver = driver
        if self.driver is False:
            self.pending.extend(rows)
            return
        if not self.columns:
            self.columns = [c for c in rows[0] if c != "detail"]
        values = itemgetter(*self.columns)
        records = [(*values(row), _detail_json(row["detail"])) for row in rows]
        await self.wait()
        self.in_flight = asyncio.create_task(self.driver.copy_records_to_table(
            occurrences.name, records=records, columns=[*self.columns, "detail"]))

    async def let_run(self) -> None:
        """Let an in-flight COPY send its rows while the caller computes."""
        if self.in_flight is not None:
            await asyncio.sleep(0)

    async def wait(self) -> None:
        if self.in_flight is not None:
            task, self.in_flight = self.in_flight, None
            await task

    async def abandon(self) -> None:
        """On error: let a running COPY end (its own error is not the one to report)."""
        task, self.in_flight = self.in_flight, None
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def finish(self) -> int:
        await self.wait()
        if self.pending:
            await self.session.execute(occurrences.insert(), self.pending)
            self.pending = []
        return self.written


def _detail_json(detail: dict[str, Any]) -> str:
    return detail.json if isinstance(detail, Detail) else json.dumps(detail)


async def request_due(ctx: ServiceContext, session: AsyncSession, *, contract_ids: Sequence[str] | None = None,
                      limit: int = 500, known: Mapping[str, _Contract] | None = None,
                      correlations: Mapping[str, str] | None = None) -> int:
    """Emit case.requested for every planned occurrence (of these contracts) whose generate-on date has come.

    `known`: contracts the caller has just written, not read again. `correlations`: the correlation id of each
    contract's event (a batch), carried by its case.requested."""
    today = ctx.clock.today()
    query = (
        select(occurrences)
        .where(occurrences.c.status == "planned", occurrences.c.generate_on <= today)
        .order_by(occurrences.c.generate_on, occurrences.c.id)
        .limit(limit)
    )
    if contract_ids is not None:
        query = query.where(occurrences.c.contract_id.in_(list(contract_ids)))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = (await session.execute(query)).all()
    if not rows:
        return 0
    contracts: dict[str, Any] = dict(known or {})
    missing = sorted({row.contract_id for row in rows} - contracts.keys())
    if missing:
        contracts.update((c.contract_id, c) for c in await session.execute(
            select(planned_contracts.c.contract_id, planned_contracts.c.number, planned_contracts.c.client_name,
                   planned_contracts.c.versions).where(planned_contracts.c.contract_id.in_(missing))))
    await _emit_case_requests(ctx, session, rows, contracts, correlations)
    await session.execute(update(occurrences).where(occurrences.c.id.in_([row.id for row in rows])).values(
        status="requested", requested_at=ctx.clock.now()))
    log.info("cases.requested", count=len(rows),
             contract_id=contract_ids[0] if contract_ids is not None and len(contract_ids) == 1 else None,
             contracts=len({row.contract_id for row in rows}))
    return len(rows)


async def _emit_requests(ctx: ServiceContext, session: AsyncSession, due: Sequence[_Due],
                         known: Mapping[str, _Contract], correlations: Mapping[str, str]) -> None:
    """case.requested for new contracts' occurrences already written as requested, in request_due's order
    (generate-on date, then the order they were written in)."""
    ordered = sorted(due, key=attrgetter("generate_on"))  # stable: the write order within a day
    await _emit_case_requests(ctx, session, ordered, known, correlations)
    named = {d.contract_id for d in ordered}
    log.info("cases.requested", count=len(ordered), contract_id=ordered[0].contract_id if len(named) == 1 else None,
             contracts=len(named))


async def _emit_case_requests(ctx: ServiceContext, session: AsyncSession, rows: Sequence[Any],
                              contracts: Mapping[str, Any], correlations: Mapping[str, str] | None) -> None:
    """One case.requested per occurrence (a stored row or a _Due), in the order given, to the team in force today."""
    today = ctx.clock.today()
    requests: list[tuple[str, dict[str, Any]]] = []
    teams: dict[str, dict[str, TeamMember | None]] = {}
    for row in rows:
        contract = contracts[row.contract_id]
        team = teams.get(row.contract_id)
        if team is None:
            team = teams[row.contract_id] = {role: _member(member) for role, member in
                                             team_for(contract.versions, today).items()}
        detail = row.detail
        request = CaseRequested(
            contract_id=row.contract_id, contract_number=contract.number, client_name=contract.client_name,
            rule_id=row.rule_id, code=row.code, period=row.period, title_pl=detail["title_pl"],
            title_en=detail["title_en"], due=row.due, generate_on=row.generate_on, role=row.role,
            assignee=team.get(row.role) or team.get("accountant"),
            commissioner=team.get("manager"), checklist=detail.get("checklist", []),
            notice=detail.get("notice", []), requires=detail.get("requires", []),
            client_id=_client_of(contract.versions), rules_version=row.rules_version,
            contract_version=row.contract_version,
            late_on_creation=row.due < today,
            party=detail.get("party", "office"), duty=detail.get("duty"),
            depends_on=detail.get("depends_on", []),
        )
        requests.append((CASE_REQUESTED, request.model_dump(mode="json")))
    correlation_of = (correlations or {}).get
    await ctx.messaging.emit_many(session, requests, correlation_ids=[correlation_of(row.contract_id)
                                                                      for row in rows])


def _client_of(versions: Sequence[dict[str, Any]]) -> str:
    """The client of a contract as its newest stored version names it ("" for versions stored before it was)."""
    return next((str(v["client_id"]) for v in reversed(versions) if v.get("client_id")), "")


def team_for(versions: Sequence[dict[str, Any]], today: date) -> dict[str, Any]:
    """The team of the version in force today: cases go to whoever is responsible now, not to the people of an
    annex that takes effect later (before its start, a contract's first version's team)."""
    ordered = sorted(versions, key=itemgetter("effective_from", "version"))
    day = today.isoformat()
    current = next((v for v in reversed(ordered) if v["effective_from"] <= day), ordered[0])
    team: dict[str, Any] = current.get("team") or {}
    return team


def _member(value: dict[str, Any] | None) -> TeamMember | None:
    return TeamMember.model_validate(value) if value else None


async def tick(ctx: ServiceContext, *, batch: int = 1000) -> dict[str, int]:
    """Catch up: replan contracts not planned today or under an older rules version, then request what is due.

    Runs at start (so downtime is caught up), every few seconds after, and at once when rules are applied."""
    planner = planner_of(ctx)
    today = ctx.clock.today()
    replanned = requested = 0
    while True:
        async with ctx.db.transaction() as session:
            await _lock_planner(session)
            stale = (await session.execute(
                select(planned_contracts.c.contract_id, planned_contracts.c.versions,
                       planned_contracts.c.planned_rules_version)
                .where((planned_contracts.c.planned_on.is_(None)) | (planned_contracts.c.planned_on < today)
                       | (planned_contracts.c.planned_rules_version != planner.version))
                .order_by(planned_contracts.c.contract_id)
                .limit(batch))).all()
            # A case that moves says why: new rules, or the day's replan (the horizon moved).
            rules_changed = {c.contract_id: c.versions for c in stale
                             if c.planned_rules_version not in (None, planner.version)}
            daily = {c.contract_id: c.versions for c in stale if c.contract_id not in rules_changed}
            if rules_changed:
                await _replan(ctx, session, rules_changed, reason=f"rules {planner.version}")
            if daily:
                await _replan(ctx, session, daily, reason="replan")
            replanned += len(stale)
            count = await request_due(ctx, session, limit=batch)
            requested += count
        if len(stale) < batch and count < batch:
            return {"replanned": replanned, "requested": requested}


def wake_tick(ctx: ServiceContext) -> None:
    """Run the tick now rather than at its next interval (new rules were put in force)."""
    _wake(ctx).set()


def _wake(ctx: ServiceContext) -> asyncio.Event:
    event: asyncio.Event = ctx.extras.setdefault("tick_wake", asyncio.Event())
    return event


async def tick_loop(ctx: ServiceContext) -> None:
    wake = _wake(ctx)
    while True:
        wake.clear()  # a wake-up during this tick runs the next one at once
        await tick(ctx)
        # asyncio.timeout, not wait_for: on 3.11 wait_for drops a stop's cancellation that comes with the wake-up
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ctx.settings.scheduler_tick_seconds):
                await wake.wait()
