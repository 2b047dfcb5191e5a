"""The slice in the distributed mode: five processes, RabbitMQ, PostgreSQL and SMTP, driven through the API.

Killing the cases service mid-flow and starting it again loses no case and creates none twice."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from tests.conftest import CapturedMail, wait_for
from tests.distributed.cluster import SERVICE_NAMES, Cluster, json_items, wait_for_requested_cases
from tests.samples import contract, sole_trader

pytestmark = pytest.mark.distributed


async def test_contract_to_case_to_email_across_five_processes(
    cluster: Cluster, smtp_server: tuple[str, int, CapturedMail]
) -> None:
    token = cluster.cli("users", "token", "admin").strip()
    mail = smtp_server[2]
    async with cluster.api(token) as api:
        client = await api.post("/api/v1/clients", json=sole_trader())
        assert client.status_code == 201, client.text
        first = await api.post("/api/v1/contracts", json=contract(client.json()["id"], number="D/1"),
                               headers={"X-Correlation-ID": "slice-flow-0001"})
        assert first.status_code == 201, first.text
        assert first.headers["X-Correlation-ID"] == "slice-flow-0001"

        async def october_vat() -> list[dict[str, Any]]:
            cases = await json_items(api, "/api/v1/cases")
            return [c for c in cases if c["code"] == "JPK_V7M" and c["period"] == "2026-10"]

        [case] = await wait_for(october_vat, timeout=60, what="the JPK_V7M case for October")
        assert case["due"] == "2026-11-25" and case["assignee_login"] == "anna"
        messages = await wait_for(lambda: mail.to("anna@biuro.example"), timeout=30, what="the e-mail to anna")
        assert case["title"] in messages[0]["Subject"]
        assert "25.11.2026" in messages[0].get_content()

        # One correlation id follows the flow through every service's JSON log lines.
        def services_logging_the_flow() -> set[str]:
            found = set()
            for path in cluster.log_dir.glob("*.log"):
                for line in path.read_text(errors="replace").splitlines():
                    if '"correlation_id": "slice-flow-0001"' in line:
                        found.add(json.loads(line)["service"])
            return found

        flow = await wait_for(lambda: services_logging_the_flow() >= set(SERVICE_NAMES) and services_logging_the_flow(),
                              what="the correlation id in every service's log")
        assert flow == set(SERVICE_NAMES)

        # Kill the cases service, sign another contract while it is down, start it again.
        cluster.kill("cases")
        other = await api.post("/api/v1/clients", json=sole_trader("Nowak Transport", seed="951217341"))
        assert other.status_code == 201, other.text
        second = await api.post("/api/v1/contracts", json=contract(other.json()["id"], number="D/2"))
        assert second.status_code == 201, second.text
        cluster.start("cases")
        await cluster.wait_ready("cases")

        contract_ids = [str(first.json()["id"]), str(second.json()["id"])]

        await wait_for_requested_cases(api, contract_ids, timeout=60)
        cases = await json_items(api, "/api/v1/cases", limit=1000)
        keys = Counter((c["contract_id"], c["rule_id"], c["period"]) for c in cases)
        assert keys and max(keys.values()) == 1, "a case was created twice"
