"""What the visibility rule reads, kept in the gateway's own tables: each contract version's team (from the
contracts service's events) and absences with their substitutes (from the cases service's), so that working out
what a person sees is one local query, with no call to another service per request.

After an upgrade the team table starts empty while the contracts service has contracts: `fill_contract_access`
(a loop that ends when done) fills it once from the contracts service's `/access` pages.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.log import get_logger
from services.common.messages import AbsenceChanged, ContractSnapshot, Envelope
from services.common.runtime import ServiceContext
from services.common.scope import SERVICE_SCOPE
from services.gateway.clients import ServiceClients
from services.gateway.models import absences, contract_access, one_time_steps

log = get_logger(__name__)

FILLED = "contract_access.filled"
PAGE = 200


async def on_contract_version(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    """contract.created / changed / terminated: the team of that version, whatever order versions arrive in."""
    snapshot = ContractSnapshot.model_validate(envelope.payload)
    await record_version(session, contract_id=int(snapshot.contract_id), client_id=int(snapshot.client_id),
                         version=snapshot.version, effective_from=snapshot.effective_from,
                         team={role: member.login if member else None for role, member in snapshot.team.items()})


async def record_version(session: AsyncSession, *, contract_id: int, client_id: int, version: int,
                         effective_from: date, team: dict[str, str | None]) -> None:
    """Replace one version's team rows (a replay writes the same rows again)."""
    await session.execute(delete(contract_access).where(contract_access.c.contract_id == contract_id,
                                                        contract_access.c.version == version))
    rows = [{"contract_id": contract_id, "client_id": client_id, "version": version,
             "effective_from": effective_from, "role": role, "login": login} for role, login in sorted(team.items())]
    if rows:
        await session.execute(contract_access.insert(), rows)


async def on_absence_changed(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    """absence.changed: the absence as it is now; a message older than the one applied changes nothing."""
    absence = AbsenceChanged.model_validate(envelope.payload)
    applied = (await session.execute(select(absences.c.changed_at)
                                     .where(absences.c.absence_id == absence.absence_id))).scalar()
    # Equal times are two changes in one instant (an absence ended as soon as registered): the later one applies.
    if applied is not None and applied > envelope.occurred_at:
        return
    await session.execute(delete(absences).where(absences.c.absence_id == absence.absence_id))
    await session.execute(absences.insert().values(
        absence_id=absence.absence_id, login=absence.login, substitute=absence.substitute,
        starts_on=absence.starts_on, ends_on=absence.ends_on, cancelled=absence.cancelled,
        changed_at=envelope.occurred_at))


async def fill_contract_access(ctx: ServiceContext) -> None:
    """Once per installation: every contract's teams from the contracts service (paged by contract id).

    Events consumed meanwhile write the same rows, so the two may overlap; a failure (the contracts service not
    up yet) ends the loop, which the runtime starts again a little later, from the beginning."""
    async with ctx.db.reading() as session:
        if (await session.execute(select(one_time_steps.c.name).where(one_time_steps.c.name == FILLED))).first():
            return
    clients: ServiceClients = ctx.extras["clients"]
    after, contracts = 0, 0
    while True:
        page = await clients.call("contracts", "GET", "/access", params={"after": after, "limit": PAGE},
                                  scope=SERVICE_SCOPE)
        async with ctx.db.transaction() as session:
            for item in page["items"]:
                for version in item["versions"]:
                    await record_version(session, contract_id=item["contract_id"], client_id=item["client_id"],
                                         version=version["version"],
                                         effective_from=date.fromisoformat(version["effective_from"]),
                                         team=version["team"])
        contracts += len(page["items"])
        if page["next"] is None:
            break
        after = page["next"]
    try:
        async with ctx.db.transaction() as session:
            await session.execute(one_time_steps.insert().values(name=FILLED, done_at=ctx.clock.now()))
    except IntegrityError:
        pass  # another gateway process finished the same fill first
    log.info("contract_access.filled", contracts=contracts)
