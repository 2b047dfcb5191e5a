"""Personal data in the scheduler: its copy of each contract's terms names the client (name, NIP, REGON); erased on
client.erased, keeping the plan (occurrences, dates, ids) as it was. The export of what it holds of a client."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.messages import ClientErased, Envelope
from services.common.personal import Scrub, marker, rows_as_dicts, scrub_outbox
from services.common.runtime import ServiceContext
from services.common.scope import SERVICE_SCOPE, Scope
from services.scheduler.models import outbox, planned_contracts

# Where a client's personal data sits here: the name column, and the identifiers inside each stored version's terms.
PERSONAL_COLUMNS = (planned_contracts.c.client_name,)
TERMS_IDENTIFIERS = ("nip", "regon", "pesel")


async def on_client_erased(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    """client.erased: each of the client's contracts is renamed to the placeholder and its terms lose the client's
    identifiers (they are optional in the terms, so the plan can still be read); the stored events too."""
    erased = ClientErased.model_validate(envelope.payload)
    if not erased.contract_ids:
        return
    rows = (await session.execute(select(planned_contracts).where(
        planned_contracts.c.contract_id.in_(erased.contract_ids)))).all()
    names: set[str] = set()
    identifiers: set[str] = set()
    for row in rows:
        names.add(row.client_name)
        versions = []
        for version in row.versions:
            client = dict((version.get("terms") or {}).get("client") or {})
            identifiers.update(str(client[k]) for k in TERMS_IDENTIFIERS if client.get(k))
            client.update({k: None for k in TERMS_IDENTIFIERS if k in client})
            versions.append({**version, "terms": {**(version.get("terms") or {}), "client": client}})
        await session.execute(update(planned_contracts).where(planned_contracts.c.contract_id == row.contract_id)
                              .values(client_name=erased.placeholder, versions=versions))
    scrub = Scrub.of(((n, erased.placeholder) for n in names - {erased.placeholder}), identifiers=identifiers)
    if scrub.replacements:
        await scrub_outbox(session, outbox, markers=[marker("contract_id", c) for c in erased.contract_ids],
                           scrub=scrub)


async def export(session: AsyncSession, *, client_id: int, contract_ids: Sequence[int],
                 scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    """The scheduler's copy of the client's contracts (named by the gateway) that the caller's scope holds."""
    ids = [str(c) for c in contract_ids if scope.sees(str(c))]
    rows = (await session.execute(select(planned_contracts).where(planned_contracts.c.contract_id.in_(ids))
                                  .order_by(planned_contracts.c.contract_id))).all() if ids else []
    return {"service": "scheduler", "client_id": client_id, "tables": {"planned_contracts": rows_as_dicts(rows)}}
