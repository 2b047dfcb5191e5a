"""The gateway's calls to the other services: only a success is a success; each says for whom it is made."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from services.common.errors import Problem
from services.common.scope import SCOPE_HEADER, SERVICE_SCOPE, Scope
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


async def test_every_call_says_for_whom_it_is_made() -> None:
    app = FastAPI()

    @app.get("/contracts")
    async def echo(request: Request) -> dict[str, str | None]:
        return {"scope": request.headers.get(SCOPE_HEADER)}

    clients = ServiceClients(Settings(), apps={"contracts": app})
    anna = Scope(login="anna", role="accountant", contracts=["7", "12"])
    try:
        as_anna = await clients.call("contracts", "GET", "/contracts", scope=anna)
        as_office = await clients.call("contracts", "GET", "/contracts", scope=SERVICE_SCOPE)
    finally:
        await clients.close()
    assert Scope.model_validate_json(as_anna["scope"]) == anna
    assert Scope.model_validate_json(as_office["scope"]).contracts is None
