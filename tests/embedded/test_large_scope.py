"""A caller who may see many thousands of contracts: the service behind, served as `terminarz serve` serves it
(distributed, over HTTP), takes their scope header (with uvicorn's defaults a header of 200 KB was refused)."""

from __future__ import annotations

import asyncio
import json

import httpx
import uvicorn

from services.cli import server_config
from services.common.runtime import INTERNAL_TOKEN_HEADER
from services.common.scope import SCOPE_HEADER
from tests.conftest import free_port, wait_for
from tests.embedded.conftest import Office


async def test_a_scope_of_five_thousand_contracts_reaches_a_served_service(office: Office) -> None:
    port = free_port()
    config = server_config(office.system.runtimes["contracts"].app, service="contracts", host="127.0.0.1",
                           port=port)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    scope = {"login": "piotr", "role": "payroll", "contracts": [str(n) for n in range(100_000, 120_000)]}
    try:
        await wait_for(lambda: server.started, what="the contracts service on its port")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.get("/contracts", headers={
                INTERNAL_TOKEN_HEADER: office.system.settings.internal_token, SCOPE_HEADER: json.dumps(scope)})
    finally:
        server.should_exit = True
        await task
    assert len(json.dumps(scope)) > 150_000
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 0
