"""One request cannot stall the others, and inputs have limits (finding 5)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from services.common.settings import Settings
from services.contracts import handlers
from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.embedded.test_contracts_api import _csv, _import_rows

CSV = {"Content-Type": "text/csv"}


async def test_healthz_and_lists_answer_while_a_50000_row_dry_run_is_checked(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check of the file is held at its start; everything else must still answer meanwhile."""
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    parse: Callable[..., Any] = handlers.parse_import

    def held_parse(*args: Any, **kwargs: Any) -> Any:
        started.set()
        release.wait(timeout=30)  # on the event loop, this would block every request until it gives up
        finished.set()
        return parse(*args, **kwargs)

    monkeypatch.setattr(handlers, "parse_import", held_parse)
    data = _csv(_import_rows(50_000))
    async with office.api("maria") as api, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=office.system.gateway.app), base_url="http://gateway"
    ) as plain:
        dry_run = asyncio.create_task(api.post("/api/v1/imports/dry-run", content=data, headers=CSV))
        await wait_for(started.is_set, timeout=120, what="the dry run to start checking the file")
        health = await plain.get("/healthz")
        clients = await api.get("/api/v1/clients")
        answered_while_held = not finished.is_set()
        release.set()
        report = await dry_run
    assert health.status_code == 200 and clients.status_code == 200
    assert answered_while_held
    assert report.status_code == 200, report.text
    assert report.json()["ok"] is True and report.json()["valid_rows"] == 50_000


async def test_a_50_mb_body_is_refused_with_413_before_it_is_read(office: Office) -> None:
    assert Settings().max_body_bytes < 50 * 1024 * 1024
    body = b"client_name\r\n" + b"x" * (50 * 1024 * 1024)
    async with office.api("maria") as api:
        response = await api.post("/api/v1/imports/dry-run", content=body, headers=CSV)
        multipart = await api.post("/api/v1/imports/dry-run", files={"file": ("big.csv", body, "text/csv")})
        json_body = await api.post("/api/v1/clients", content=b'{"name": "' + body[13:] + b'"}',
                                   headers={"Content-Type": "application/json"})
    for answer in (response, multipart, json_body):
        assert answer.status_code == 413, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "TERMINARZ_MAX_BODY_BYTES" in answer.json()["detail"]


async def test_a_body_streamed_without_a_length_is_cut_off_at_the_limit(office: Office) -> None:
    async def chunks() -> Any:
        for _ in range(40):
            yield b"x" * (1024 * 1024)

    async with office.api("maria") as api:
        response = await api.post("/api/v1/imports/dry-run", content=chunks(), headers=CSV)
    assert response.status_code == 413, response.text


async def test_a_60000_column_header_is_refused_at_once(office: Office) -> None:
    header = ",".join(f"c{i}" for i in range(60_000)).encode()
    async with office.api("maria") as api:
        response = await api.post("/api/v1/imports/dry-run", content=header + b"\r\n" + b"x," * 10, headers=CSV)
    assert response.status_code == 200, response.text
    errors = response.json()["errors"]
    assert len(errors) == 1 and errors[0]["row"] == 1
    assert "60000 columns" in errors[0]["message"] and "TERMINARZ_IMPORT_MAX_COLUMNS" in errors[0]["message"]
