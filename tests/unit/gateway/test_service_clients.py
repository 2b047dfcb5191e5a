"""The gateway's calls to the other services: only a success is a success."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from services.common.errors import Problem
from services.common.scope import SERVICE_SCOPE
from services.common.settings import Settings
from services.gateway.clients import ServiceClients


async def test_a_redirect_from_a_service_is_a_502_not_an_empty_success() -> None:
    app = FastAPI()

    @app.post("/contracts/")
    async def moved() -> RedirectResponse:
        return RedirectResponse("/contracts", status_code=307)

    clients = ServiceClients(Settings(), apps={"contracts": app})
    try:
        with pytest.raises(Problem) as refused:
            await clients.call("contracts", "POST", "/contracts/", json={}, scope=SERVICE_SCOPE)
    finally:
        await clients.close()
    assert refused.value.status == 502
    assert "answered 307" in str(refused.value.detail)
