"""Personal data in the cases service: the client's name on its cases and in their history (free text may hold it),
erased on client.erased; the export of a client's cases. Counts, dates, statuses and ids stay for the reports."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.cases.handlers import CONFIRMATION_CLEARED
from services.cases.models import case_history, cases, outbox
from services.common.messages import ClientErased, Envelope
from services.common.personal import Scrub, marker, rows_as_dicts, scrub_outbox
from services.common.runtime import ServiceContext
from services.common.scope import SERVICE_SCOPE, Scope

# Where a client's personal data sits here: the columns replaced whole and the free text scrubbed of it.
PERSONAL_COLUMNS = (cases.c.client_name,)
FREE_TEXT = (case_history.c.detail,)
# A mail address in a confirmation's history line: "klient potwierdził wysłanie (jan@firma.pl, 12.11.2026)".
_ADDRESS = re.compile(r"[^\s(),;<>]+@[^\s(),;<>]+")


async def on_client_erased(ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
    """client.erased: the client's name on its contracts' cases becomes the placeholder, and so wherever it was
    written into their history or the events stored here. Again, nothing is left to change."""
    erased = ClientErased.model_validate(envelope.payload)
    ids = erased.contract_ids
    if not ids:
        return
    names = set((await session.execute(select(cases.c.client_name).distinct().where(
        cases.c.contract_id.in_(ids)))).scalars()) - {erased.placeholder, ""}
    # The addresses its people confirmed client tasks from (duties.py) go as well, from the history text too — also
    # those of confirmations cleared when the office took a task over (handlers.on_case_replanned): only the
    # history, which the scheduler and the client wrote, still names them.
    addresses = set((await session.execute(select(cases.c.client_confirmed_by).distinct().where(
        cases.c.contract_id.in_(ids), cases.c.client_confirmed_by.is_not(None)))).scalars())
    confirmations = (await session.execute(
        select(case_history.c.detail).join(cases, cases.c.id == case_history.c.case_id)
        .where(cases.c.contract_id.in_(ids), case_history.c.event.in_(("client_confirmed", CONFIRMATION_CLEARED)))
    )).scalars()
    addresses |= {address for detail in confirmations for address in _ADDRESS.findall(detail or "")}
    addresses -= {erased.placeholder, ""}
    scrub = Scrub.of([*((name, erased.placeholder) for name in names),
                      *((address, erased.placeholder) for address in addresses)])
    await session.execute(update(cases).where(cases.c.contract_id.in_(ids)).values(client_name=erased.placeholder))
    await session.execute(update(cases).where(cases.c.contract_id.in_(ids), cases.c.client_confirmed_by.is_not(None))
                          .values(client_confirmed_by=erased.placeholder))
    if scrub.replacements:
        history = (await session.execute(
            select(case_history.c.id, case_history.c.detail).join(cases, cases.c.id == case_history.c.case_id)
            .where(cases.c.contract_id.in_(ids)))).all()
        for row in history:
            detail = scrub.text(row.detail or "")
            if detail != (row.detail or ""):
                await session.execute(update(case_history).where(case_history.c.id == row.id).values(detail=detail))
        # Staff digests list cases by name without their contract: found by the name itself.
        await scrub_outbox(session, outbox, markers=[marker("contract_id", c) for c in ids] + sorted(names),
                           scrub=scrub)


async def export(session: AsyncSession, *, client_id: int, contract_ids: Sequence[int],
                 scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    """The cases of the client's contracts (the gateway names them: this service does not know clients) that the
    caller's scope holds, with their history."""
    ids = [str(c) for c in contract_ids if scope.sees(str(c))]
    found = (await session.execute(select(cases).where(cases.c.contract_id.in_(ids))
                                   .order_by(cases.c.due, cases.c.id))).all() if ids else []
    history = (await session.execute(select(case_history).where(
        case_history.c.case_id.in_([c.id for c in found])).order_by(case_history.c.case_id, case_history.c.at)
    )).all() if found else []
    return {"service": "cases", "client_id": client_id,
            "tables": {"cases": rows_as_dicts(found), "case_history": rows_as_dicts(history)}}
