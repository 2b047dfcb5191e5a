"""Distributed backup and restore on PostgreSQL: `terminarz backup` (pg_dump of the five service databases)
while the system runs, `terminarz restore` into empty databases, and the restore of one service alone."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.clock import ManualClock
from services.common.migrate import known_revisions, upgrade
from services.common.settings import SERVICES, Settings
from services.gateway import users
from services.system import EmbeddedSystem
from tests.conftest import PG_URL, wait_for
from tests.embedded.conftest import ROOT
from tests.embedded.test_backup import internal, settled
from tests.samples import contract, sole_trader

pytestmark = pytest.mark.distributed
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def settings_for(database_url: str) -> Settings:
    # No overdue-fee reminders: the sample contract's October fee is unpaid on NOW, and its notice would be one
    # more mail than the cases the test compares (test_fee_reminders.py covers them).
    return Settings(mode="distributed", database_url=database_url, rules_dir=ROOT / "rules",
                    outbox_poll_seconds=0.3, scheduler_tick_seconds=3600, fee_reminders=False)


@asynccontextmanager
async def running(database_url: str) -> AsyncIterator[EmbeddedSystem]:
    """The five services on their PostgreSQL databases (an in-memory bus is enough for this test)."""
    system = EmbeddedSystem(settings_for(database_url), clock=ManualClock(NOW))
    await system.start()
    try:
        yield system
    finally:
        await system.stop()


async def terminarz(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TERMINARZ_MODE": "distributed", "TERMINARZ_DATABASE_URL": database_url}
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "services.cli", *args], env=env,
                                   cwd=ROOT, capture_output=True, text=True, timeout=300)


async def sign(system: EmbeddedSystem, token: str, client: dict[str, Any], number: str) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=system.gateway.app), base_url="http://g",
                                 headers={"Authorization": f"Bearer {token}"}) as api:
        created = (await api.post("/api/v1/clients", json=client)).json()
        assert (await api.post("/api/v1/contracts", json=contract(created["id"], number=number))).status_code == 201


async def mails(system: EmbeddedSystem) -> list[dict[str, Any]]:
    async with internal(system, "notifier") as notifier:
        items: list[dict[str, Any]] = (await notifier.get("/mails", params={"limit": 1000})).json()["items"]
        return items


def keys(cases: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(c["contract_number"], c["rule_id"], c["period"]) for c in cases}


async def drop(database: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    admin = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_backup_restore_and_the_restore_of_one_service(pg_database: str, tmp_path: Path) -> None:
    original, elsewhere = pg_database, pg_database + "r"  # both dropped after the test (same name prefix)
    await upgrade(settings_for(original), SERVICES)
    async with running(original) as system:
        async with system.gateway.ctx.db.transaction() as session:
            for login, role in (("maria", "manager"), ("anna", "accountant")):
                await users.create_user(session=session, login=login, name=login.title(), role=role,
                                        email=f"{login}@biuro.example", password=None, now=NOW)
            token = await users.issue_token(session=session, login="maria", name="test", now=NOW)
        await sign(system, token, sole_trader(), "D/1")
        first = await wait_for(lambda: settled(system, 1), what="the first contract's cases and mails")

        archive = tmp_path / "backup.tar"
        made = await terminarz(original, "backup", str(archive))  # while the system runs
        assert made.returncode == 0, made.stderr
        assert f"backup written: {archive}" in made.stdout
        assert f"cases.dump: schema {known_revisions('cases')[1]}" in made.stdout

        await sign(system, token, sole_trader("Nowak Transport", seed="951217341"), "D/2")
        both = await wait_for(lambda: settled(system, 2), what="the second contract's cases and mails")
    later = len(both) - len(first)

    # The whole archive into empty databases elsewhere: the first contract, its cases, the same tokens.
    restored = await terminarz(elsewhere, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    async with running(elsewhere) as system:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=system.gateway.app), base_url="http://g",
                                     headers={"Authorization": f"Bearer {token}"}) as api:
            contracts = (await api.get("/api/v1/contracts")).json()
        assert [c["number"] for c in contracts["items"]] == ["D/1"]
        assert keys(await wait_for(lambda: settled(system, 1), what="the restored system")) == keys(first)

    again = await terminarz(elsewhere, "restore", str(archive))
    assert again.returncode == 1
    assert f"{elsewhere.rsplit('/', 1)[1]}_contracts (contracts)" in again.stderr
    assert "not empty: a restore goes into empty databases" in again.stderr

    # One service alone: the cases database is lost and restored from the (older) archive. What the others
    # sent it since is sent again, so its cases come back; their mails go out a second time.
    await drop(original.rsplit("/", 1)[1] + "_cases")
    alone = await terminarz(original, "restore", str(archive), "--service", "cases")
    assert alone.returncode == 0, alone.stderr
    async with running(original) as system:
        back = await wait_for(lambda: _cases(system, len(both)), timeout=60, what="the lost cases again")
        assert keys(back) == keys(both)
        assert len(await mails(system)) == len(both) + later


async def _cases(system: EmbeddedSystem, expected: int) -> list[dict[str, Any]] | None:
    async with internal(system, "cases") as cases:
        items: list[dict[str, Any]] = (await cases.get("/cases", params={"limit": 1000})).json()["items"]
    return items if len(items) == expected and len(await mails(system)) > expected else None
