"""Days pass: cases are requested when their generate-on date comes, and downtime is caught up."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.scheduler import handlers
from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.samples import contract, sole_trader


async def cases_for(office: Office, period: str) -> list[dict[str, Any]]:
    async with office.api() as api:
        items: list[dict[str, Any]] = (await api.get("/api/v1/cases", params={"limit": 500})).json()["items"]
    return [c for c in items if c["code"] == "JPK_V7M" and c["period"] == period]


async def test_a_case_is_created_on_its_generate_on_date_even_after_downtime(office: Office) -> None:
    async with office.api() as api:
        client = (await api.post("/api/v1/clients", json=sole_trader())).json()
        created = (await api.post("/api/v1/contracts", json=contract(client["id"]))).json()

        async def november_in_plan() -> dict[str, Any] | None:
            plan = (await api.get(f"/api/v1/contracts/{created['id']}/plan")).json()["items"]
            return next((o for o in plan if o["code"] == "JPK_V7M" and o["period"] == "2026-11"), None)

        november = await wait_for(november_in_plan, what="November's JPK_V7M in the plan")
    # 25.12.2026 is Christmas (Friday), 26.12 a holiday (Saturday), 27.12 a Sunday → Monday 28.12.
    assert (november["due"], november["generate_on"], november["status"]) == ("2026-12-28", "2026-12-18", "planned")
    await wait_for(lambda: cases_for(office, "2026-10"), what="the October case")

    scheduler = office.system.runtimes["scheduler"].ctx
    office.clock.set(datetime(2026, 12, 17, 22, 59, tzinfo=UTC))  # 23:59 in Warsaw: still the 17th
    await handlers.tick(scheduler)
    assert await cases_for(office, "2026-11") == []

    # The scheduler was down over the 18th; its first tick after start (the loop runs one at once) catches up.
    office.clock.set(datetime(2026, 12, 21, 7, 0, tzinfo=UTC))
    await handlers.tick(scheduler)
    [case] = await wait_for(lambda: cases_for(office, "2026-11"), what="the November case after catching up")
    assert case["due"] == "2026-12-28" and case["assignee_login"] == "anna"
    await handlers.tick(scheduler)  # a second tick changes nothing
    assert len(await cases_for(office, "2026-11")) == 1
