"""The contracts service layer: record clients and contracts, and publish each version of the terms.

Functions take the caller's session and never commit: the caller's transaction also holds the outbox row.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import inserted_id
from services.common.errors import NotFound, Problem
from services.common.messages import CONTRACT_CREATED, ContractSnapshot, TeamMember
from services.common.runtime import ServiceContext
from services.contracts.domain import ClientIn, ContractIn, terms_document
from services.contracts.models import clients, contract_versions, contracts, idempotency_keys


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
        )
    )
    return {"id": inserted_id(result), **data}


async def get_client(*, session: AsyncSession, client_id: int) -> dict[str, Any]:
    row = (await session.execute(select(clients).where(clients.c.id == client_id))).first()
    if row is None:
        raise NotFound("client", client_id)
    return {"id": row.id, **row.data}


async def list_clients(*, session: AsyncSession, q: str | None, limit: int, offset: int) -> dict[str, Any]:
    query = select(clients)
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
    team_members: dict[str, TeamMember | None],
) -> dict[str, Any]:
    client = await get_client(session=session, client_id=contract.client_id)
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
    await session.execute(
        contract_versions.insert().values(
            contract_id=contract_id,
            version=1,
            effective_from=contract.start,
            kind="signed",
            document=document,
            created_at=now,
        )
    )
    snapshot = _snapshot(contract_id, client, document, version=1, effective_from=contract.start)
    await ctx.messaging.emit(session, CONTRACT_CREATED, snapshot.model_dump(mode="json"))
    return await get_contract(session=session, contract_id=contract_id)


def _version_document(contract: ContractIn, team_members: dict[str, TeamMember | None]) -> dict[str, Any]:
    document = contract.model_dump(mode="json")
    members: dict[str, Any] = {}
    for role in ("accountant", "payroll", "manager"):
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
    client_in = ClientIn.model_validate({k: v for k, v in client.items() if k != "id"})
    contract_in = ContractIn.model_validate({k: v for k, v in document.items() if k != "team_members"})
    return ContractSnapshot(
        contract_id=str(contract_id),
        number=contract_in.number,
        client_id=str(client["id"]),
        client_name=client_in.name,
        version=version,
        effective_from=effective_from,
        terms=terms_document(client_in, contract_in),
        team={
            role: TeamMember.model_validate(m) if m else None for role, m in document["team_members"].items()
        },
        contact_emails=list(client_in.contact_emails),
        language=client_in.language,
    )


async def get_contract(*, session: AsyncSession, contract_id: int) -> dict[str, Any]:
    row = (await session.execute(select(contracts).where(contracts.c.id == contract_id))).first()
    if row is None:
        raise NotFound("contract", contract_id)
    versions = (
        await session.execute(
            select(contract_versions)
            .where(contract_versions.c.contract_id == contract_id)
            .order_by(contract_versions.c.version)
        )
    ).all()
    current = versions[-1].document
    return {
        "id": row.id,
        "number": row.number,
        "client_id": row.client_id,
        "status": row.status,
        "version": row.version,
        **{k: v for k, v in current.items() if k not in ("number", "client_id")},
        "versions": [
            {"version": v.version, "effective_from": v.effective_from.isoformat(), "kind": v.kind}
            for v in versions
        ],
    }


async def list_contracts(
    *, session: AsyncSession, client_id: int | None, status: str | None, limit: int, offset: int
) -> dict[str, Any]:
    query = select(contracts.c.id)
    if client_id is not None:
        query = query.where(contracts.c.client_id == client_id)
    if status is not None:
        query = query.where(contracts.c.status == status)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    ids = (
        (await session.execute(query.order_by(contracts.c.number).limit(limit).offset(offset)))
        .scalars()
        .all()
    )
    items = [await get_contract(session=session, contract_id=i) for i in ids]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


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
