"""Contract versions may reach the scheduler out of order; the plan ends up the same as in order."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.common.messages import CONTRACT_CHANGED, CONTRACT_CREATED, ContractSnapshot, Envelope, TeamMember
from services.scheduler.models import occurrences
from tests.embedded.conftest import Office


def snapshot(contract_id: str, version: int, effective_from: date, vat: str) -> dict[str, Any]:
    terms = {"client": {"legal_form": "sole_trader", "books": "kpir", "income_tax": "pit_flat",
                        "income_tax_advances": "monthly", "vat": vat, "employees": 0},
             "contract": {"services": ["bookkeeping", "vat"], "start": "2026-10-01", "end": None}}
    return ContractSnapshot(
        contract_id=contract_id, number=f"K/{contract_id}", client_id="1", client_name="Klient", version=version,
        effective_from=effective_from, terms=terms,
        team={"accountant": TeamMember(login="anna", name="Anna", email="anna@biuro.example"), "manager": None},
    ).model_dump(mode="json")


async def plan_of(office: Office, contract_id: str) -> set[tuple[str, str, str]]:
    async with office.system.runtimes["scheduler"].ctx.db.reading() as session:
        rows = await session.execute(occurrences.select().where(occurrences.c.contract_id == contract_id,
                                                                occurrences.c.status != "withdrawn"))
        return {(r.code, r.period, r.due.isoformat()) for r in rows}


async def test_an_annex_delivered_before_the_contract_gives_the_same_plan(office: Office) -> None:
    scheduler = office.system.runtimes["scheduler"]
    signed = [(CONTRACT_CREATED, 1, date(2026, 10, 1), "monthly"), (CONTRACT_CHANGED, 2, date(2027, 1, 1), "quarterly")]
    for contract_id, order in (("in-order", signed), ("reversed", list(reversed(signed)))):
        for type_, version, effective, vat in order:
            await scheduler.on_message(Envelope(type=type_, producer="contracts", correlation_id="t",
                                                payload=snapshot(contract_id, version, effective, vat)))
    in_order, reversed_ = await plan_of(office, "in-order"), await plan_of(office, "reversed")
    assert in_order == reversed_
    assert ("JPK_V7M", "2026-12", "2027-01-25") in in_order  # the last monthly return (25.01.2027, a Monday)
    assert ("JPK_V7K", "2027-Q1", "2027-04-26") in in_order  # 25.04.2027 is a Sunday → Monday 26.04
