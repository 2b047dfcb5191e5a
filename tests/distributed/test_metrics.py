"""Distributed mode: every service process serves its own /metrics; an outbox backs up while the broker is
unreachable and drains once it is back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from services.common.runtime import INTERNAL_TOKEN_HEADER
from tests.conftest import CapturedMail, wait_for
from tests.distributed.cluster import SERVICE_NAMES, Cluster, json_items, running_cluster
from tests.distributed.proxy import CuttableProxy
from tests.metrics import value
from tests.samples import contract, sole_trader

pytestmark = pytest.mark.distributed

DEV_INTERNAL_TOKEN = "terminarz-internal-dev-token"  # what the test cluster runs with unless it sets one


def internal_token(cluster: Cluster) -> str:
    return cluster.env.get("TERMINARZ_INTERNAL_TOKEN", DEV_INTERNAL_TOKEN)


async def scrape(cluster: Cluster, service: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"http://127.0.0.1:{cluster.ports[service]}/metrics", headers=headers)


async def test_each_service_process_serves_its_own_series(
        cluster: Cluster, smtp_server: tuple[str, int, CapturedMail]) -> None:
    token = cluster.cli("users", "token", "maria").strip()
    async with cluster.api(token) as api:
        client = (await api.post("/api/v1/clients", json=sole_trader())).json()
        assert (await api.post("/api/v1/contracts", json=contract(client["id"]))).status_code == 201
        cases = await wait_for(lambda: json_items(api, "/api/v1/cases", limit=1000), what="the cases")
    _, _, mail = smtp_server
    await wait_for(lambda: len(mail.to("anna@biuro.example")) >= len(cases), timeout=60, what="a mail per case")

    texts = {}
    for service in SERVICE_NAMES:
        headers = {INTERNAL_TOKEN_HEADER: internal_token(cluster)} if service == "gateway" else {}
        response = await scrape(cluster, service, **headers)
        assert response.status_code == 200, (service, response.text)
        texts[service] = response.text
        # Each process has its own registry: its series, under its own name, and nobody else's.
        assert value(response.text, "terminarz_outbox_backlog", service=service) is not None, service
        assert value(response.text, "terminarz_inbox_messages", service=service) is not None, service
        for other in set(SERVICE_NAMES) - {service}:
            assert f'service="{other}"' not in response.text, (service, other)

    assert value(texts["scheduler"], "terminarz_messages_handled_total",
                 service="scheduler", type="contract.created") == 1
    assert value(texts["cases"], "terminarz_message_handler_seconds_count",
                 service="cases", type="case.requested") == len(cases)
    assert value(texts["cases"], "terminarz_cases", service="cases", status="open") == len(cases)
    assert value(texts["cases"], "terminarz_cases_overdue", service="cases") is not None

    async def mails_sent() -> bool:
        text = (await scrape(cluster, "notifier")).text
        return value(text, "terminarz_mails", service="notifier", status="sent") == len(cases)

    await wait_for(mails_sent, what="the notifier to count every mail sent")
    assert value(texts["gateway"], "terminarz_http_requests_total", service="gateway", method="POST",
                 route="/api/v1/contracts", status="201") == 1
    assert value(texts["contracts"], "terminarz_http_request_duration_seconds_count", service="contracts",
                 method="POST", route="/contracts") == 1
    assert (await scrape(cluster, "gateway")).status_code == 401  # the public service wants the token


# --- The broker goes away -------------------------------------------------------------------------------

@pytest.fixture
async def broker_proxy(amqp_url: str) -> AsyncIterator[CuttableProxy]:
    target = urlparse(amqp_url)
    proxy = CuttableProxy(target.hostname or "127.0.0.1", target.port or 5672)
    await proxy.open()
    yield proxy
    await proxy.close()


@pytest.fixture
async def contracts_alone(pg_database: str, amqp_url: str, broker_proxy: CuttableProxy,
                          tmp_path: Path) -> AsyncIterator[Cluster]:
    """The contracts service alone, reaching the broker through the proxy, on a clock that moves."""
    proxied = amqp_url.replace(f":{urlparse(amqp_url).port or 5672}/", f":{broker_proxy.port}/")
    async with running_cluster(database_url=pg_database, amqp_url=proxied, smtp=("127.0.0.1", 1), frozen_time=None,
                               log_dir=tmp_path, databases=("contracts",), services=("contracts",)) as cluster:
        try:
            yield cluster
        finally:
            cluster.env["TERMINARZ_AMQP_URL"] = amqp_url  # clean up past the proxy: the test may have left it cut


async def test_outbox_backs_up_while_the_broker_is_away_and_drains_after(
        contracts_alone: Cluster, broker_proxy: CuttableProxy) -> None:
    cluster = contracts_alone
    base = f"http://127.0.0.1:{cluster.ports['contracts']}"
    headers = {INTERNAL_TOKEN_HEADER: internal_token(cluster)}

    async def figures() -> tuple[float | None, float | None]:
        text = (await scrape(cluster, "contracts")).text
        return (value(text, "terminarz_outbox_backlog", service="contracts"),
                value(text, "terminarz_outbox_oldest_unpublished_age_seconds", service="contracts"))

    async def ready() -> int:
        async with httpx.AsyncClient(timeout=10) as client:
            return (await client.get(f"{base}/readyz")).status_code

    assert await figures() == (0, 0)
    await broker_proxy.cut()
    await wait_for(lambda: _equals(ready(), 503), what="/readyz to report the broker unreachable")

    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as api:
        for i in range(3):
            client: dict[str, Any] = (await api.post("/clients", json=sole_trader(
                f"Klient {i}", seed=f"52610405{i}"))).json()
            created = await api.post("/contracts", json=contract(client["id"], number=f"BR/2026/{i}"))
            assert created.status_code == 201, created.text

    backlog, _ = await figures()
    assert backlog == 6  # committed, waiting for the broker: each client's client.changed, each contract.created
    await wait_for(lambda: _age_above(figures(), 1.0), what="the oldest unpublished event to age")

    await broker_proxy.open()
    await wait_for(lambda: _equals(figures(), (0, 0)), timeout=60, what="the outbox to drain after reconnecting")
    assert await ready() == 200


async def _equals(awaitable: Any, expected: Any) -> bool:
    return bool(await awaitable == expected)


async def _age_above(awaitable: Any, seconds: float) -> bool:
    backlog, age = await awaitable
    return backlog == 6 and age is not None and age > seconds
