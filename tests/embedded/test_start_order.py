"""Starting the embedded system with events still waiting in an outbox (after a crash, or a restore)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from services.common.clock import ManualClock
from services.common.migrate import upgrade
from services.common.runtime import INTERNAL_TOKEN_HEADER
from services.common.settings import SERVICES
from services.system import EmbeddedSystem
from tests.conftest import wait_for
from tests.embedded.conftest import embedded_settings
from tests.samples import contract, sole_trader


def internal(system: EmbeddedSystem, service: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=system.runtimes[service].app),
                             base_url=f"http://{service}",
                             headers={INTERNAL_TOKEN_HEADER: system.settings.internal_token})


async def test_events_waiting_in_an_outbox_at_start_reach_every_consumer(tmp_path: Path) -> None:
    """They must not go out before the services that consume them are listening: the in-memory bus delivers
    only to queues that exist, and the relay marks what it sent as published."""
    settings = embedded_settings(tmp_path)
    await upgrade(settings, SERVICES)
    system = EmbeddedSystem(settings, clock=ManualClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC)))
    async with internal(system, "contracts") as contracts:  # nothing is running yet: the event stays put
        client = (await contracts.post("/clients", json=sole_trader())).json()
        team = {"accountant": {"login": "anna", "name": "Anna Nowak", "email": "anna@biuro.example"}}
        created = await contracts.post("/contracts", json=contract(client["id"]) | {"team_members": team})
        assert created.status_code == 201, created.text
    await system.start()
    try:
        async def mailed_vat_case() -> bool:
            async with internal(system, "cases") as cases, internal(system, "notifier") as notifier:
                items: list[dict[str, Any]] = (await cases.get("/cases")).json()["items"]
                mails = (await notifier.get("/mails")).json()["items"]
            vat = [c["id"] for c in items if c["code"] == "JPK_V7M"]
            return bool(vat) and vat[0] in {m["related_id"] for m in mails}

        await wait_for(mailed_vat_case, what="the waiting contract's VAT case and its mail")
    finally:
        await system.stop()
