"""Two schedulers at once, one of them killed mid-generation and started again: every case exactly once."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import free_port
from tests.distributed.cluster import Cluster, json_items, wait_for_requested_cases
from tests.samples import contract, nip_seeds, sole_trader

pytestmark = pytest.mark.distributed

CONTRACTS = 16


async def test_two_schedulers_and_a_crash_create_each_case_once(cluster: Cluster) -> None:
    second_port = free_port()
    cluster.start("scheduler", port=second_port)
    await cluster.wait_ready("scheduler", port=second_port)
    token = cluster.cli("users", "token", "admin").strip()
    contract_ids: list[str] = []
    async with cluster.api(token) as api:
        for i, seed in enumerate(nip_seeds(526104001, count=CONTRACTS)):
            if i == CONTRACTS // 2:
                cluster.kill_replica("scheduler", 0)  # SIGKILL while contract events are being planned
            client = await api.post("/api/v1/clients", json=sole_trader(f"Klient {i}", seed=seed, vat_eu=True))
            assert client.status_code == 201, client.text
            created = await api.post("/api/v1/contracts", json=contract(client.json()["id"], number=f"X/{i}"))
            assert created.status_code == 201, created.text
            contract_ids.append(str(created.json()["id"]))
        cluster.start("scheduler")  # the killed one comes back on its own port
        await cluster.wait_ready("scheduler")

        await wait_for_requested_cases(api, contract_ids, timeout=90, what="every contract's requested cases to exist")
        cases = await json_items(api, "/api/v1/cases", limit=1000)
    keys = Counter((c["contract_id"], c["rule_id"], c["period"]) for c in cases)
    assert max(keys.values()) == 1, [k for k, n in keys.items() if n > 1]
    # Each contract: the same obligations (JPK_V7M, VAT-UE, PIT advance, ... for October), nothing missing.
    per_contract = Counter(c["contract_id"] for c in cases)
    assert set(per_contract) == set(contract_ids)
    assert len(set(per_contract.values())) == 1
