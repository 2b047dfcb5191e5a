"""Embedded mode: the one /metrics an office scrapes shows all five services, each series under its own name."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.metrics import samples, value
from tests.samples import contract, sole_trader


async def scrape(office: Office, service: str = "gateway", **headers: str) -> httpx.Response:
    app = office.system.runtimes[service].app
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{service}") as client:
        return await client.get("/metrics", headers=headers)


async def test_one_scrape_shows_every_service_and_no_personal_data(office: Office) -> None:
    client = sole_trader()
    async with office.api("maria") as api:
        created = (await api.post("/api/v1/clients", json=client)).json()
        assert (await api.post("/api/v1/contracts", json=contract(created["id"]))).status_code == 201

    async def settled() -> list[dict[str, Any]] | None:
        cases = (await office.internal("cases", "/cases", limit=1000))["items"]
        mails = (await office.internal("notifier", "/mails"))["items"]
        return cases if cases and len(mails) == len(cases) and all(m["status"] == "kept" for m in mails) else None

    cases = await wait_for(settled, what="every case and its mail")
    today = office.clock.today().isoformat()
    overdue = [c for c in cases if c["status"] in ("open", "in_progress") and c["due"] < today]

    response = await scrape(office, Authorization=f"Bearer {office.system.settings.internal_token}")
    assert response.status_code == 200
    text = response.text
    assert value(text, "terminarz_messages_handled_total", service="scheduler", type="contract.created") == 1
    assert value(text, "terminarz_messages_handled_total", service="cases", type="case.requested") == len(cases)
    assert value(text, "terminarz_messages_handled_total", service="notifier", type="case.created") == len(cases)
    assert value(text, "terminarz_message_handler_seconds_count", service="cases", type="case.requested") == len(cases)
    # The notifier follows the client (client.changed: its recipients and accounts) and the contract (its team),
    # then each case.
    assert value(text, "terminarz_inbox_messages", service="notifier") == len(cases) + 2
    for service in ("contracts", "scheduler", "cases", "notifier", "gateway"):
        assert value(text, "terminarz_outbox_backlog", service=service) == 0, service
        assert value(text, "terminarz_outbox_oldest_unpublished_age_seconds", service=service) == 0, service
    assert value(text, "terminarz_cases", service="cases", status="open") == len(cases)
    assert value(text, "terminarz_cases_overdue", service="cases") == len(overdue) > 0
    assert value(text, "terminarz_mails", service="notifier", status="kept") == len(cases)
    assert value(text, "terminarz_mails", service="notifier", status="failed") == 0
    # The gateway's API route, and the cases service's own route the gateway called in-process.
    assert value(text, "terminarz_http_requests_total", service="gateway", method="POST",
                 route="/api/v1/contracts", status="201") == 1
    assert value(text, "terminarz_http_requests_total", service="contracts", method="POST",
                 route="/contracts", status="201") == 1
    for personal in (client["name"], client["nip"], client["pesel"], "klient@example.com", "anna@biuro.example"):
        assert personal not in text, personal
    assert {labels for (name, labels) in samples(text) if name == "terminarz_outbox_backlog"} == {
        frozenset({("service", s)}) for s in ("contracts", "scheduler", "cases", "notifier", "gateway")}


async def test_the_public_gateway_wants_the_internal_token_the_internal_services_do_not(office: Office) -> None:
    refused = await scrape(office)
    wrong = await scrape(office, **{"X-Internal-Token": "guess"})
    assert refused.status_code == wrong.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "terminarz_" not in refused.text
    internal = await scrape(office, "cases")  # meant for the internal network only, like /healthz
    assert internal.status_code == 200 and "terminarz_cases" in internal.text
