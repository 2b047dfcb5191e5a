"""Two contracts-service processes on PostgreSQL run the daily overdue-fee check at the same moment (and their own
loops at start): each overdue contract month is announced (fee.overdue) exactly once, and a payment settles its
month (fee.settled) once, whichever process records it or runs the check next."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.runtime import INTERNAL_TOKEN_HEADER
from services.common.settings import Settings
from services.contracts.models import outbox
from tests.conftest import free_port, wait_for
from tests.distributed.cluster import Cluster, running_cluster
from tests.samples import contract, nip, nip_seeds, sole_trader

pytestmark = pytest.mark.distributed

NOW = "2026-11-28T09:00:00+00:00"  # 10:00 in Warsaw, past the reminder hour
CONTRACTS = 24
ANNA = {"login": "anna", "name": "Anna", "email": "anna@biuro.example"}


@pytest.fixture
async def cluster(pg_database: str, amqp_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(database_url=pg_database, amqp_url=amqp_url, frozen_time=NOW, log_dir=tmp_path,
                               env={"TERMINARZ_FEE_REMINDERS": "true", "TERMINARZ_LOG_LEVEL": "WARNING"}) as cluster:
        yield cluster


def seeds() -> list[str]:
    return list(nip_seeds(526104007, step=7, count=CONTRACTS))


async def fee_events(url: str) -> list[tuple[str, dict[str, Any]]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.execute(select(outbox.c.type, outbox.c.body).where(
                outbox.c.type.in_(("fee.overdue", "fee.settled"))).order_by(outbox.c.seq))
            return [(kind, json.loads(body)["payload"]) for kind, body in found]
    finally:
        await engine.dispose()


async def test_two_processes_announce_each_overdue_month_once_and_settle_it_once(cluster: Cluster) -> None:
    url = Settings(database_url=cluster.env["TERMINARZ_DATABASE_URL"]).database_url_for("contracts")
    second = free_port()
    cluster.start("contracts")
    cluster.start("contracts", port=second)
    await cluster.wait_ready("contracts")
    await cluster.wait_ready("contracts", port=second)
    headers = {INTERNAL_TOKEN_HEADER: cluster.env["TERMINARZ_INTERNAL_TOKEN"]}
    first = cluster.ports["contracts"]

    # 24 contracts from August at 984.00 gross a month: August paid by all, September by every other client; October
    # (due Monday 16.11, the 15th being a Sunday) by none; November is not due yet.
    statement = ["Data;Kwota;Tytuł;NIP"]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{first}", headers=headers, timeout=60) as api:
        for i, seed in enumerate(seeds()):
            client = await api.post("/clients", json=sole_trader(f"Klient {i}", seed=seed))
            assert client.status_code == 201, client.text
            terms = {**contract(client.json()["id"], number=f"F/{i}", start="2026-08-01"),
                     "team_members": {"accountant": ANNA, "manager": ANNA}}
            signed = await api.post("/contracts", json=terms)
            assert signed.status_code == 201, signed.text
            statement.append(f"10.09.2026;984,00;FV 8/2026;{nip(seed)}")
            if i % 2 == 0:
                statement.append(f"12.10.2026;984,00;FV 9/2026;{nip(seed)}")
        imported = await api.post("/payments/import", params={"recorded_by": "maria"},
                                  json={"csv": "\n".join(statement)})
        assert imported.status_code == 201 and imported.json()["matched"] == len(statement) - 1, imported.text

    async def run(port: int) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as api:
            response = await api.post("/jobs/fee-reminders")
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

    await asyncio.gather(run(first), run(second), run(first), run(second))
    expected = CONTRACTS + CONTRACTS // 2  # October of every contract, September of every other

    async def announced() -> list[tuple[str, dict[str, Any]]] | None:
        events = [e for e in await fee_events(url) if e[0] == "fee.overdue"]
        return events if len(events) >= expected else None

    events = await wait_for(announced, timeout=60, what=f"{expected} overdue months announced")
    keys = Counter((p["contract_id"], p["month"]) for _, p in events)
    assert len(keys) == expected and set(keys.values()) == {1}, keys
    assert Counter(month for _, month in keys) == {"2026-10": CONTRACTS, "2026-09": CONTRACTS // 2}
    assert {p["outstanding"] for _, p in events} == {"984.00"}

    # Client 1 pays October (through the second process) while both run the check: settled once.
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{second}", headers=headers, timeout=60) as api:
        paid = await api.post("/payments/import", params={"recorded_by": "maria"}, json={
            "csv": f"Data;Kwota;Tytuł;NIP\n27.11.2026;984,00;FV 10/2026;{nip(seeds()[1])}"})
        assert paid.status_code == 201 and paid.json()["matched"] == 1, paid.text
    await asyncio.gather(run(first), run(second))
    settled = [p for kind, p in await fee_events(url) if kind == "fee.settled"]
    assert [(p["month"], p["paid"]) for p in settled] == [("2026-10", "984.00")]
    assert len([e for e in await fee_events(url) if e[0] == "fee.overdue"]) == expected
