"""The contracts service layer: record clients and contracts, and publish each version of the terms.

Functions take the caller's session and never commit: the caller's transaction also holds the outbox row.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, delete, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import inserted_id
from services.common.errors import NotFound, Problem, validation_errors
from services.common.messages import (
    CLIENT_CHANGED,
    CONTRACT_CHANGED,
    CONTRACT_CREATED,
    CONTRACT_TERMINATED,
    ClientAccounts,
    ClientChanged,
    ClientRecipient,
    ContractSnapshot,
    TeamMember,
)
from services.common.runtime import ServiceContext
from services.common.scope import SERVICE_SCOPE, Scope
from services.common.settings import Settings
from services.common.terms import TeamRole
from services.contracts.domain import AnnexIn, ClientIn, ContractIn, TaxProfile, terms_document
from services.contracts.importing import ImportLimits, ImportReport, RowError, parse_import
from services.contracts.models import (
    clients,
    contract_services,
    contract_team,
    contract_versions,
    contracts,
    idempotency_keys,
)

TEAM_ROLES = tuple(role.value for role in TeamRole)
# What an annex may change; `start`, `number` and the client stay as signed.
ANNEX_TERMS = ("tax_profile", "services", "fee", "team", "end", "notice_period_months", "signed_on", "client_duties")
# Keys of a version document that are not ContractIn fields: the people behind the team's logins, the
# client's tax profile when an annex changed it (the client's terms as of that version), and the day notice
# of termination was given (a termination's version).
_EXTRA_KEYS = ("team_members", "tax_profile", "notice_on")


async def create_client(ctx: ServiceContext, session: AsyncSession, client: ClientIn) -> dict[str, Any]:
    taken = (await session.execute(select(clients.c.id).where(clients.c.nip == client.nip))).first()
    if taken is not None:
        raise Problem(
            409,
            "Client exists",
            f"client {taken.id} already has NIP {client.nip}",
            errors=[{"field": "nip", "message": f"already used by client {taken.id}"}],
        )
    now = ctx.clock.now()
    data = client.model_dump(mode="json")
    result = await session.execute(
        clients.insert().values(
            name=client.name,
            nip=client.nip,
            regon=client.regon,
            krs=client.krs,
            legal_form=client.tax_profile.legal_form.value,
            data=data,
            created_at=now,
            updated_at=now,
            announced_at=now,
        )
    )
    client_id = inserted_id(result)
    await _announce(ctx, session, client_id=client_id, client=client, updated_at=now, mark=False)
    return {"id": client_id, **data}


# What a client edit may change; the tax profile changes by an annex of a contract (it is versioned there).
CLIENT_FIELDS = ("name", "nip", "regon", "pesel", "krs", "address", "contact_emails", "language", "recipients",
                 "accounts", "ppk_institution", "notices")
ANNOUNCE_BATCH = 500


def client_changed(client_id: int, client: ClientIn, updated_at: datetime) -> ClientChanged:
    """The client as the notifier needs it (client.changed): recipients (or the contact e-mails), accounts."""
    return ClientChanged(
        client_id=str(client_id), name=client.name, nip=client.nip, pesel=client.pesel, language=client.language,
        recipients=[ClientRecipient.model_validate(r.model_dump()) for r in client.recipients_or_contacts()],
        accounts=ClientAccounts.model_validate(client.accounts.model_dump()),
        ppk_institution=client.ppk_institution, notices=client.notices, updated_at=updated_at,
    )


async def _announce(ctx: ServiceContext, session: AsyncSession, *, client_id: int, client: ClientIn,
                    updated_at: datetime, mark: bool = True) -> None:
    """client.changed in the caller's transaction (outbox), and the client marked as known to the notifier
    (`mark=False`: the caller's insert or update sets `announced_at` itself)."""
    await ctx.messaging.emit(session, CLIENT_CHANGED,
                             client_changed(client_id, client, updated_at).model_dump(mode="json"))
    if mark:
        await session.execute(update(clients).where(clients.c.id == client_id).values(announced_at=updated_at))


async def announce_clients(ctx: ServiceContext) -> int:
    """At start: client.changed once for every client never announced (those recorded before the contacts and
    accounts existed), a batch a transaction. Idempotent: an announced client is marked; a second process doing
    the same at once only repeats an identical event, which the notifier applies once more harmlessly."""
    announced = 0
    while True:
        async with ctx.db.transaction() as session:
            rows = (await session.execute(
                select(clients.c.id, clients.c.data, clients.c.updated_at)
                .where(clients.c.announced_at.is_(None), clients.c.erased_at.is_(None))  # erased: nothing to tell
                .order_by(clients.c.id).limit(ANNOUNCE_BATCH))).all()
            for row in rows:
                await _announce(ctx, session, client_id=row.id, client=ClientIn.model_validate(row.data),
                                updated_at=row.updated_at)
        announced += len(rows)
        if len(rows) < ANNOUNCE_BATCH:
            return announced


async def update_client(ctx: ServiceContext, session: AsyncSession, *, client_id: int, changes: dict[str, Any],
                        scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    """Change a client's name, address, identifiers, contacts or accounts (what `changes` names, the rest stays);
    every problem of the edit at once, nothing stored unless all is valid; client.changed in the same transaction.
    Answers the client and `changed`, the fields whose value changed."""
    row = (await session.execute(select(clients).where(clients.c.id == client_id, visible_clients(scope))
                                 .with_for_update())).first()
    if row is None:
        raise NotFound("client", client_id)
    if row.erased_at is not None:
        raise Problem(409, "Client erased", f"client {client_id}'s personal data was erased; it cannot change",
                      errors=[{"field": "", "message": "the client's personal data was erased after retention"}])
    problems: list[dict[str, Any]] = []
    if "tax_profile" in changes:
        problems.append({"field": "tax_profile", "message": (
            "a client's tax profile changes by an annex of its contract (from a date), not by editing the client")})
    problems += [{"field": key, "message": "is not a field of a client: " + ", ".join(CLIENT_FIELDS)}
                 for key in changes if key not in CLIENT_FIELDS and key != "tax_profile"]
    merged = {**row.data, **{k: v for k, v in changes.items() if k in CLIENT_FIELDS}}
    if isinstance(changes.get("accounts"), dict):  # an account left out stays; null clears one
        merged["accounts"] = {**(row.data.get("accounts") or {}), **changes["accounts"]}
    client: ClientIn | None = None
    try:
        client = ClientIn.model_validate(merged)
    except ValidationError as error:
        problems += validation_errors(error.errors())
    _refuse(problems)
    assert client is not None
    if client.nip != row.nip:
        taken = (await session.execute(select(clients.c.id).where(clients.c.nip == client.nip))).first()
        if taken is not None:
            raise Problem(409, "Client exists", f"client {taken.id} already has NIP {client.nip}",
                          errors=[{"field": "nip", "message": f"already used by client {taken.id}"}])
    data = client.model_dump(mode="json")
    changed = sorted(k for k in CLIENT_FIELDS if data.get(k) != row.data.get(k))
    if changed:
        now = ctx.clock.now()
        await session.execute(update(clients).where(clients.c.id == client_id).values(
            name=client.name, nip=client.nip, regon=client.regon, krs=client.krs, data=data, updated_at=now,
            announced_at=now))
        await _announce(ctx, session, client_id=client_id, client=client, updated_at=now, mark=False)
    return {"id": client_id, **data, "changed": changed}


def visible_contracts(scope: Scope) -> ColumnElement[bool]:
    """The contracts a caller's scope holds (the gateway decided which), as a condition on `contracts`."""
    if scope.contracts is None:
        return true()
    return contracts.c.id.in_([int(c) for c in scope.contracts if c.isdigit()])


def visible_clients(scope: Scope) -> ColumnElement[bool]:
    """The clients of the contracts a caller's scope holds."""
    if scope.contracts is None:
        return true()
    return clients.c.id.in_(select(contracts.c.client_id).where(visible_contracts(scope)))


async def get_client(*, session: AsyncSession, client_id: int, scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    row = (await session.execute(select(clients).where(clients.c.id == client_id, visible_clients(scope)))).first()
    if row is None:
        raise NotFound("client", client_id)
    return {"id": row.id, **row.data}


async def list_clients(*, session: AsyncSession, q: str | None, limit: int, offset: int,
                       scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    query = select(clients).where(visible_clients(scope))
    if q:
        like = f"%{q.strip()}%"
        query = query.where(
            or_(clients.c.name.ilike(like), clients.c.nip.like(like.replace(" ", "").replace("-", "")))
        )
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(query.order_by(clients.c.name).limit(limit).offset(offset))
    return {"items": [{"id": r.id, **r.data} for r in rows], "total": total, "limit": limit, "offset": offset}


async def create_contract(
    ctx: ServiceContext,
    session: AsyncSession,
    contract: ContractIn,
    team_members: Mapping[str, TeamMember | None],
) -> dict[str, Any]:
    contract_id = await _insert_contract(ctx, session, contract=contract, team_members=team_members)
    return await get_contract(session=session, contract_id=contract_id)


async def _insert_contract(
    ctx: ServiceContext,
    session: AsyncSession,
    *,
    contract: ContractIn,
    team_members: Mapping[str, TeamMember | None],
    client: dict[str, Any] | None = None,
) -> int:
    """Store a signed contract as version 1 and emit contract.created; returns its id."""
    if client is None:
        try:
            client = await get_client(session=session, client_id=contract.client_id)
        except NotFound:
            raise Problem(422, "Invalid contract", "the contract names a client that does not exist", errors=[
                {"field": "client_id", "message": f"no client with id {contract.client_id}"}]) from None
    if client.get("erased_at"):
        raise Problem(409, "Client erased", f"client {client['id']}'s personal data was erased after retention",
                      errors=[{"field": "client_id", "message": "the client's personal data was erased"}])
    if (await session.execute(select(contracts.c.id).where(contracts.c.number == contract.number))).first():
        raise Problem(
            409,
            "Contract exists",
            f"a contract numbered {contract.number!r} exists",
            errors=[{"field": "number", "message": "already used by another contract"}],
        )
    now = ctx.clock.now()
    result = await session.execute(
        contracts.insert().values(
            number=contract.number,
            client_id=contract.client_id,
            status="active",
            version=1,
            created_at=now,
            updated_at=now,
        )
    )
    contract_id = inserted_id(result)
    document = _version_document(contract, team_members)
    await _add_version(
        ctx, session, contract_id=contract_id, version=1, effective_from=contract.start, kind="signed",
        document=document,
    )
    snapshot = _snapshot(contract_id, client, document, version=1, effective_from=contract.start)
    await ctx.messaging.emit(session, CONTRACT_CREATED, snapshot.model_dump(mode="json"))
    return contract_id


async def _add_version(
    ctx: ServiceContext,
    session: AsyncSession,
    *,
    contract_id: int,
    version: int,
    effective_from: date,
    kind: str,
    document: dict[str, Any],
    reason: str | None = None,
) -> None:
    """Store one version of the terms and index its services and team for the lists' filters."""
    await session.execute(
        contract_versions.insert().values(
            contract_id=contract_id,
            version=version,
            effective_from=effective_from,
            kind=kind,
            document=document,
            reason=reason,
            created_at=ctx.clock.now(),
        )
    )
    await session.execute(delete(contract_services).where(contract_services.c.contract_id == contract_id))
    await session.execute(delete(contract_team).where(contract_team.c.contract_id == contract_id))
    names = sorted({s["name"] if isinstance(s, dict) else str(s) for s in document["services"]})
    await session.execute(contract_services.insert(), [{"contract_id": contract_id, "service": n} for n in names])
    team = [{"contract_id": contract_id, "role": r, "login": login}
            for r, login in (document.get("team") or {}).items() if login]
    if team:
        await session.execute(contract_team.insert(), team)


def _version_document(contract: ContractIn, team_members: Mapping[str, TeamMember | None]) -> dict[str, Any]:
    document = contract.model_dump(mode="json")
    members: dict[str, Any] = {}
    for role in TEAM_ROLES:
        login = getattr(contract.team, role)
        member = team_members.get(role)
        if login is None:
            members[role] = None
        elif member is not None and member.login == login:
            members[role] = member.model_dump()
        else:
            members[role] = TeamMember(login=login).model_dump()
    document["team_members"] = members
    return document


def _snapshot(
    contract_id: int, client: dict[str, Any], document: dict[str, Any], *, version: int, effective_from: date
) -> ContractSnapshot:
    client_data = {k: v for k, v in client.items() if k not in ("id", "contracts")}
    if document.get("tax_profile"):
        client_data["tax_profile"] = document["tax_profile"]
    client_in = ClientIn.model_validate(client_data)
    contract_in = ContractIn.model_validate({k: v for k, v in document.items() if k not in _EXTRA_KEYS})
    return ContractSnapshot(
        contract_id=str(contract_id),
        number=contract_in.number,
        client_id=str(client["id"]),
        client_name=client_in.name,
        version=version,
        effective_from=effective_from,
        terms=terms_document(client_in, contract_in, notice_on=(
            date.fromisoformat(document["notice_on"]) if document.get("notice_on") else None)),
        team={
            role: TeamMember.model_validate(m) if m else None for role, m in document["team_members"].items()
        },
        contact_emails=list(client_in.contact_emails),
        language=client_in.language,
    )


# --- Annexes and termination ----------------------------------------------------------------------


async def _for_change(session: AsyncSession, *, contract_id: int) -> tuple[Any, Any]:
    """The contract (locked against a concurrent change) and its newest version; 409 once terminated."""
    row = (
        await session.execute(select(contracts).where(contracts.c.id == contract_id).with_for_update())
    ).first()
    if row is None:
        raise NotFound("contract", contract_id)
    if row.status == "terminated":
        raise Problem(
            409,
            "Contract terminated",
            f"contract {row.number} is terminated; its terms can no longer change",
            errors=[{"field": "status", "message": "the contract is already terminated"}],
        )
    erased = (await session.execute(select(clients.c.erased_at).where(clients.c.id == row.client_id))).scalar()
    if erased is not None:
        raise Problem(409, "Client erased", f"the personal data of contract {row.number}'s client was erased",
                      errors=[{"field": "client_id", "message": "the client's personal data was erased"}])
    latest = (
        await session.execute(
            select(contract_versions)
            .where(contract_versions.c.contract_id == contract_id)
            .order_by(contract_versions.c.version.desc())
            .limit(1)
        )
    ).one()
    return row, latest


def _contract_errors(document: dict[str, Any]) -> tuple[ContractIn | None, list[dict[str, Any]]]:
    """The merged terms as a ContractIn, or the problems naming each invalid field."""
    try:
        return ContractIn.model_validate({k: v for k, v in document.items() if k not in _EXTRA_KEYS}), []
    except ValidationError as error:
        return None, validation_errors(error.errors())


def _refuse(problems: list[dict[str, Any]]) -> None:
    if problems:
        raise Problem(422, "Invalid request", "Some fields are invalid", errors=problems)


async def add_annex(
    ctx: ServiceContext,
    session: AsyncSession,
    *,
    contract_id: int,
    annex: AnnexIn,
    team_members: Mapping[str, TeamMember | None],
) -> dict[str, Any]:
    """A new version with the annex's terms merged over the newest version, in force from effective_from."""
    row, latest = await _for_change(session, contract_id=contract_id)
    changes: dict[str, Any] = annex.changes()
    effective_from: date = annex.effective_from
    problems: list[dict[str, Any]] = []
    start = date.fromisoformat(latest.document["start"])
    if effective_from < start:
        problems.append({"field": "effective_from",
                         "message": f"is before the contract's start {start.isoformat()}"})
    elif effective_from < latest.effective_from:
        problems.append({"field": "effective_from", "message": (
            f"is before {latest.effective_from.isoformat()}, when version {latest.version} took effect; "
            "an annex cannot change terms already replaced")})
    if not changes:
        problems.append({"field": "", "message": "an annex changes at least one term: "
                         + ", ".join(ANNEX_TERMS)})
    document = {**latest.document, **changes}
    if "client_duties" in changes:
        # Merged over the current duties: {"documents_day": 10} changes that day only; null ends a duty.
        given = changes["client_duties"] or {}
        document["client_duties"] = {k: v for k, v in {**(latest.document.get("client_duties") or {}),
                                                       **given}.items() if v is not None}
    if "tax_profile" in changes:
        client = await get_client(session=session, client_id=row.client_id)
        current = latest.document.get("tax_profile") or client["tax_profile"]
        try:
            profile = TaxProfile.model_validate({**current, **(changes["tax_profile"] or {})})
            document["tax_profile"] = profile.model_dump(mode="json")
        except ValidationError as error:
            problems += [{"field": f"tax_profile.{e['field']}", "message": e["message"]}
                         for e in validation_errors(error.errors())]
    contract, errors = _contract_errors(document)
    problems += errors
    if contract is not None and contract.end is not None and contract.end < effective_from - timedelta(days=1):
        problems.append({"field": "end", "message": (
            f"the contract would end before the annex takes effect on {effective_from.isoformat()}; "
            "record a termination instead")})
    _refuse(problems)
    assert contract is not None
    members = dict(team_members) if "team" in changes else {
        role: TeamMember.model_validate(m) if m else None for role, m in latest.document["team_members"].items()
    }
    document = {**_version_document(contract, members),
                **({"tax_profile": document["tax_profile"]} if document.get("tax_profile") else {})}
    return await _new_version(
        ctx, session, row=row, document=document, effective_from=effective_from, kind="annex",
        event=CONTRACT_CHANGED,
    )


async def terminate(
    ctx: ServiceContext, session: AsyncSession, *, contract_id: int, end: date, reason: str,
    notice_on: date | None = None,
) -> dict[str, Any]:
    """Terminate: the newest terms with `end` set (and the day notice was given, `notice_on`, by default the
    day it is recorded), as a new version replacing the newest one.

    The version takes effect when the newest one did, so whatever plan follows the version in force sees
    the end from then on; an end before that (a day before an annex's effective date at the earliest)
    would leave the older versions open-ended, so it is refused.
    """
    row, latest = await _for_change(session, contract_id=contract_id)
    problems: list[dict[str, Any]] = []
    start = date.fromisoformat(latest.document["start"])
    if end < start:
        problems.append({"field": "end", "message": f"is before the contract's start {start.isoformat()}"})
    elif end < latest.effective_from - timedelta(days=1):
        problems.append({"field": "end", "message": (
            f"is before version {latest.version} takes effect on {latest.effective_from.isoformat()}; "
            f"end the contract on {(latest.effective_from - timedelta(days=1)).isoformat()} or later")})
    # Recorded after the end (a contract ended last month is entered today), the notice is taken as the end.
    notice = notice_on or min(ctx.clock.today(), end)
    if notice > ctx.clock.today():
        problems.append({"field": "notice_on", "message": f"is after today {ctx.clock.today().isoformat()}"})
    elif notice > end:
        problems.append({"field": "notice_on", "message": f"is after the end {end.isoformat()}"})
    document = {**latest.document, "end": end.isoformat(), "notice_on": notice.isoformat()}
    problems += _contract_errors(document)[1]
    _refuse(problems)
    await session.execute(update(contracts).where(contracts.c.id == row.id).values(status="terminated"))
    return await _new_version(
        ctx, session, row=row, document=document, effective_from=latest.effective_from, kind="termination",
        event=CONTRACT_TERMINATED, reason=reason,
    )


async def _new_version(
    ctx: ServiceContext,
    session: AsyncSession,
    *,
    row: Any,
    document: dict[str, Any],
    effective_from: date,
    kind: str,
    event: str,
    reason: str | None = None,
) -> dict[str, Any]:
    version = row.version + 1
    await _add_version(ctx, session, contract_id=row.id, version=version, effective_from=effective_from,
                       kind=kind, document=document, reason=reason)
    await session.execute(
        update(contracts).where(contracts.c.id == row.id).values(version=version, updated_at=ctx.clock.now())
    )
    client = await get_client(session=session, client_id=row.client_id)
    snapshot = _snapshot(row.id, client, document, version=version, effective_from=effective_from)
    await ctx.messaging.emit(session, event, snapshot.model_dump(mode="json"))
    return await get_contract(session=session, contract_id=row.id)


# --- Reading --------------------------------------------------------------------------------------


def _version_summary(v: Any) -> dict[str, Any]:
    doc = v.document
    return {
        "version": v.version,
        "effective_from": v.effective_from.isoformat(),
        "kind": v.kind,
        "reason": v.reason,
        "recorded_at": v.created_at.isoformat(),
        "services": doc["services"],
        "fee": doc["fee"],
        "team": doc["team"],
        "end": doc.get("end"),
        "notice_on": doc.get("notice_on"),
        "notice_period_months": doc.get("notice_period_months"),
        "tax_profile": doc.get("tax_profile"),
    }


def _contract_view(row: Any, versions: Sequence[Any], client_name: str) -> dict[str, Any]:
    current = versions[-1].document
    return {
        "id": row.id,
        "number": row.number,
        "client_id": row.client_id,
        "client_name": client_name,
        "status": row.status,
        "version": row.version,
        **{k: v for k, v in current.items() if k not in ("number", "client_id")},
        "versions": [_version_summary(v) for v in versions],
    }


async def _contract_views(session: AsyncSession, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Contracts with all their versions, in the order of `ids`, in three queries whatever their number."""
    if not ids:
        return []
    rows = {
        r.id: r
        for r in await session.execute(
            select(contracts, clients.c.name.label("client_name"))
            .join(clients, clients.c.id == contracts.c.client_id)
            .where(contracts.c.id.in_(ids))
        )
    }
    versions: dict[int, list[Any]] = {}
    for v in await session.execute(
        select(contract_versions)
        .where(contract_versions.c.contract_id.in_(ids))
        .order_by(contract_versions.c.contract_id, contract_versions.c.version)
    ):
        versions.setdefault(v.contract_id, []).append(v)
    return [_contract_view(rows[i], versions[i], rows[i].client_name) for i in ids if i in rows]


async def get_contract(*, session: AsyncSession, contract_id: int, scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    views = await _contract_views(session, [contract_id]) if scope.sees(str(contract_id)) else []
    if not views:
        raise NotFound("contract", contract_id)
    return views[0]


async def list_contracts(
    *,
    session: AsyncSession,
    client_id: int | None,
    status: str | None,
    limit: int,
    offset: int,
    employee: str | None = None,
    service: str | None = None,
    scope: Scope = SERVICE_SCOPE,
) -> dict[str, Any]:
    """Contracts by number; `employee` is a login anywhere on the team, `service` one of the newest terms."""
    query = select(contracts.c.id).where(visible_contracts(scope))
    if client_id is not None:
        query = query.where(contracts.c.client_id == client_id)
    if status is not None:
        query = query.where(contracts.c.status == status)
    if employee:
        query = query.where(
            select(contract_team.c.contract_id)
            .where(contract_team.c.contract_id == contracts.c.id, contract_team.c.login == employee)
            .exists()
        )
    if service:
        query = query.where(
            select(contract_services.c.contract_id)
            .where(contract_services.c.contract_id == contracts.c.id, contract_services.c.service == service)
            .exists()
        )
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    ids = (
        (await session.execute(query.order_by(contracts.c.number).limit(limit).offset(offset)))
        .scalars()
        .all()
    )
    return {"items": await _contract_views(session, ids), "total": total, "limit": limit, "offset": offset}


# --- Bulk import ----------------------------------------------------------------------------------


def import_limits(settings: Settings) -> ImportLimits:
    return ImportLimits(max_rows=settings.import_max_rows, max_columns=settings.import_max_columns,
                        max_field_chars=settings.import_max_field_chars)


async def check_import(
    *, session: AsyncSession, text: str, users: Sequence[TeamMember], limits: ImportLimits
) -> tuple[ImportReport, list[RowError]]:
    """The dry run: every problem of the file against the book as it is, including unknown team logins.

    Reading a large file is seconds of CPU: it runs in a worker thread, so the service answers meanwhile.
    """
    nips = (await session.execute(select(clients.c.nip))).scalars().all()
    numbers = (await session.execute(select(contracts.c.number))).scalars().all()
    return await asyncio.to_thread(_check_file, text, nips, numbers, users, limits)


def _check_file(
    text: str, nips: Sequence[str], numbers: Sequence[str], users: Sequence[TeamMember], limits: ImportLimits
) -> tuple[ImportReport, list[RowError]]:
    report = parse_import(text, existing_nips=nips, existing_contract_numbers=numbers, limits=limits)
    known = {u.login for u in users}
    errors = list(report.errors)
    for row in report.rows:
        for role in TEAM_ROLES:
            login = getattr(row.contract.team, role)
            if login is not None and login not in known:
                errors.append(RowError(row.row, role, f"no active user with login {login!r}"))
    errors.sort(key=lambda e: e.row)
    return report, errors


def import_report(report: ImportReport, errors: Sequence[RowError]) -> dict[str, Any]:
    bad = {e.row for e in errors}
    return {
        "ok": not errors and bool(report.rows),
        "data_rows": report.data_rows,
        "valid_rows": len([r for r in report.rows if r.row not in bad]),
        "delimiter": report.delimiter,
        "errors": [{"row": e.row, "field": e.field, "message": e.message} for e in errors],
    }


async def apply_import(
    ctx: ServiceContext, session: AsyncSession, *, text: str, users: Sequence[TeamMember]
) -> dict[str, Any]:
    """Store every row's client and contract, or nothing: any error in the file refuses the whole file."""
    report, errors = await check_import(session=session, text=text, users=users,
                                        limits=import_limits(ctx.settings))
    if errors or not report.rows:
        summary = import_report(report, errors)
        raise Problem(
            422,
            "Import refused",
            f"{len(errors)} problem(s) in {len({e.row for e in errors})} row(s); nothing was imported",
            errors=summary["errors"],
        )
    people = {u.login: u for u in users}
    contract_ids: list[int] = []
    for row in report.rows:
        client = await create_client(ctx, session, row.client)
        team: dict[str, TeamMember | None] = {
            role: people.get(getattr(row.contract.team, role) or "") for role in TEAM_ROLES
        }
        contract_ids.append(
            await _insert_contract(
                ctx, session, contract=row.contract.attach(client["id"]), team_members=team, client=client
            )
        )
    return {"imported": len(contract_ids), "clients": len(contract_ids), "contract_ids": contract_ids}


async def client_contracts(*, session: AsyncSession, client_id: int,
                           scope: Scope = SERVICE_SCOPE) -> list[dict[str, Any]]:
    ids = (
        await session.execute(
            select(contracts.c.id).where(contracts.c.client_id == client_id, visible_contracts(scope))
            .order_by(contracts.c.number)
        )
    ).scalars().all()
    return await _contract_views(session, ids)


async def team_access(*, session: AsyncSession, after: int, limit: int) -> dict[str, Any]:
    """Every version's team of the contracts after id `after` (a page of `limit` contracts by id), and the id to
    continue after (None on the last page): what the gateway's visibility rule is filled from after an upgrade."""
    rows = (await session.execute(
        select(contracts.c.id, contracts.c.client_id).where(contracts.c.id > after)
        .order_by(contracts.c.id).limit(limit))).all()
    versions: dict[int, list[dict[str, Any]]] = {}
    if rows:
        for v in await session.execute(
            select(contract_versions.c.contract_id, contract_versions.c.version, contract_versions.c.effective_from,
                   contract_versions.c.document)
            .where(contract_versions.c.contract_id.in_([r.id for r in rows]))
            .order_by(contract_versions.c.contract_id, contract_versions.c.version)
        ):
            versions.setdefault(v.contract_id, []).append({
                "version": v.version, "effective_from": v.effective_from.isoformat(),
                "team": {role: v.document["team"].get(role) for role in TEAM_ROLES}})
    items = [{"contract_id": r.id, "client_id": r.client_id, "versions": versions.get(r.id, [])} for r in rows]
    return {"items": items, "next": rows[-1].id if len(rows) == limit else None}


# --- Idempotency-Key ------------------------------------------------------------------------------


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def replay(session: AsyncSession, *, key: str, endpoint: str, body_hash: str) -> dict[str, Any] | None:
    row = (
        await session.execute(
            select(idempotency_keys).where(
                idempotency_keys.c.key == key, idempotency_keys.c.endpoint == endpoint
            )
        )
    ).first()
    if row is None:
        return None
    if row.request_hash != body_hash:
        raise Problem(
            422,
            "Idempotency-Key reused",
            "this Idempotency-Key was used for a different request; use a new key for a new request",
            errors=[{"field": "Idempotency-Key", "message": "already used with another body"}],
        )
    response: dict[str, Any] = row.response
    return response


async def remember(
    ctx: ServiceContext,
    session: AsyncSession,
    *,
    key: str,
    endpoint: str,
    body_hash: str,
    response: dict[str, Any],
) -> None:
    await session.execute(
        idempotency_keys.insert().values(
            key=key,
            endpoint=endpoint,
            request_hash=body_hash,
            status_code=201,
            response=response,
            created_at=ctx.clock.now(),
        )
    )
