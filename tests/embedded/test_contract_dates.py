"""What a contract's own dates do to its cases, through the public API: a contract signed after its start is
onboarded from the signing, a case requested after its due date says so, a termination plans the offboarding,
and a future-dated annex's team takes cases only from its date."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from services.scheduler import handlers
from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.samples import contract, sole_trader


async def _items(api: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    response = await api.get(path, params=params)
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _sign(api: httpx.AsyncClient, *, number: str, start: str, signed_on: str, seed: str = "526104057",
                **changes: Any) -> str:
    client = await api.post("/api/v1/clients", json=sole_trader(f"Klient {number}", seed=seed))
    assert client.status_code == 201, client.text
    body = {**contract(client.json()["id"], number=number, start=start), "signed_on": signed_on, **changes}
    signed = await api.post("/api/v1/contracts", json=body)
    assert signed.status_code == 201, signed.text
    return str(signed.json()["id"])


async def _cases(api: httpx.AsyncClient, contract_id: str, code: str) -> list[dict[str, Any]]:
    return [c for c in await _items(api, "/api/v1/cases", contract_id=contract_id, limit=500) if c["code"] == code]


async def test_a_contract_signed_after_its_start_is_onboarded_from_the_signing_and_late_cases_say_so(
    office: Office
) -> None:
    scheduler = office.system.runtimes["scheduler"].ctx
    office.clock.set(datetime(2026, 11, 29, 9, 0, tzinfo=UTC))  # Sunday 29.11.2026
    async with office.api() as api:
        # The contract: signed 29.11, running from 1.11.
        november = await _sign(api, number="U/1", start="2026-11-01", signed_on="2026-11-29")
        # Signed on 29.11 too, but running from 1.10: October's JPK_V7M was due on 25.11, before the signing.
        october = await _sign(api, number="U/2", start="2026-10-01", signed_on="2026-11-29", seed="951217341")

        async def onboarding_planned() -> list[dict[str, Any]]:
            return [o for o in await _items(api, f"/api/v1/contracts/{november}/plan") if o["code"] == "ONBOARDING"]

        [onboarding] = await wait_for(onboarding_planned, what="the onboarding in the plan")
        # 29.11 + 14 days = Sun 13.12 → Mon 14.12, created 14 days before: 30.11 (not due 16.11, overdue at birth).
        assert (onboarding["due"], onboarding["generate_on"], onboarding["status"]) == (
            "2026-12-14", "2026-11-30", "planned")

        [late] = await wait_for(lambda: _cases(api, october, "JPK_V7M"), what="October's JPK_V7M case")
        assert (late["period"], late["due"], late["late_on_creation"]) == ("2026-10", "2026-11-25", True)
        history = (await api.get(f"/api/v1/cases/{late['id']}")).json()["history"]
        assert "created after its due date 2026-11-25" in history[0]["detail"]

        office.clock.set(datetime(2026, 11, 30, 7, 0, tzinfo=UTC))
        await handlers.tick(scheduler)
        [case] = await wait_for(lambda: _cases(api, november, "ONBOARDING"), what="the onboarding case")
        assert (case["due"], case["late_on_creation"]) == ("2026-12-14", False)


async def test_a_termination_plans_the_offboarding_from_the_notice_and_the_end(office: Office) -> None:
    async with office.api() as api:
        cid = await _sign(api, number="K/1", start="2026-10-01", signed_on="2026-09-25")
        # Notice given on Fri 20.11.2026 (recorded on 28.11); the last day is Sun 31.01.2027.
        ended = await api.post(f"/api/v1/contracts/{cid}/termination",
                               json={"end": "2027-01-31", "reason": "wypowiedzenie", "notice_on": "2026-11-20"})
        assert ended.status_code == 201, ended.text

        async def offboarding() -> dict[str, tuple[str, str]]:
            plan = await _items(api, f"/api/v1/contracts/{cid}/plan")
            return {o["rule_id"]: (o["due"], o["generate_on"]) for o in plan if o["code"] == "OFFBOARDING"}

        planned = await wait_for(offboarding, what="the offboarding planned")
        assert planned == {
            "offboarding.notice": ("2026-11-27", "2026-11-20"),  # notice + 7 days, Fri 27.11
            "offboarding.power_of_attorney": ("2027-02-08", "2027-01-25"),  # end + 7 = Sun 7.02 → Mon 8.02
            "offboarding.final_returns": ("2027-02-25", "2027-01-26"),  # the 25th of the month after the end
            "offboarding.documents": ("2027-02-15", "2027-02-01"),  # end + 14 = Sun 14.02 → Mon 15.02
        }
        # The notice's case was due yesterday: created at once, and marked as born overdue.
        [notice] = await wait_for(lambda: _cases(api, cid, "OFFBOARDING"), what="the notice's case")
        assert (notice["rule_id"], notice["late_on_creation"]) == ("offboarding.notice", True)


async def test_a_future_dated_annex_sends_cases_to_its_team_only_from_its_date(office: Office) -> None:
    scheduler = office.system.runtimes["scheduler"].ctx
    async with office.api() as api:
        cid = await _sign(api, number="Z/1", start="2026-10-01", signed_on="2026-10-01")
        await wait_for(lambda: _cases(api, cid, "JPK_V7M"), what="October's case")
        annex = await api.post(f"/api/v1/contracts/{cid}/annexes", json={
            "effective_from": "2027-01-01", "team": {"accountant": "ola", "manager": "maria"}})
        assert annex.status_code == 201, annex.text

        async def case_for(period: str) -> dict[str, Any] | None:
            return next((c for c in await _cases(api, cid, "JPK_V7M") if c["period"] == period), None)

        # November's return is created on 18.12.2026, before the annex: Anna is still responsible.
        office.clock.set(datetime(2026, 12, 18, 7, 0, tzinfo=UTC))
        await handlers.tick(scheduler)
        assert (await wait_for(lambda: case_for("2026-11"), what="November's case"))["assignee_login"] == "anna"
        # December's is created on 15.01.2027, under the annex: Ola.
        office.clock.set(datetime(2027, 1, 15, 7, 0, tzinfo=UTC))
        await handlers.tick(scheduler)
        assert (await wait_for(lambda: case_for("2026-12"), what="December's case"))["assignee_login"] == "ola"
