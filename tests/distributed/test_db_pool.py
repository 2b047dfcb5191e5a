"""The services' PostgreSQL pool: a connection the server ended while it lay idle in the pool is replaced before use,
and plain reads need no transaction (services/common/db.py)."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text

from services.common import db as db_module
from services.common.db import Database
from tests.conftest import PG_URL


async def _backend_pid(db: Database) -> int:
    async with db.reading() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(pid: int) -> None:
    admin = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def test_a_pooled_connection_ended_by_the_server_while_idle_is_replaced_before_use(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_module, "PING_IF_IDLE_SECONDS", 0.0)  # any idle time counts: no waiting in the test
    db = Database(PG_URL)
    try:
        first = await _backend_pid(db)
        await _terminate(first)  # as a database restart ends it
        second = await _backend_pid(db)  # answered, on a new connection
        assert second != first
    finally:
        await db.dispose()


async def test_a_connection_in_constant_use_is_not_pinged_and_a_dead_one_fails_once_then_the_pool_recovers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_module, "PING_IF_IDLE_SECONDS", 3600.0)
    db = Database(PG_URL)
    try:
        first = await _backend_pid(db)
        await _terminate(first)
        with pytest.raises(Exception, match=r"(?i)connection|closed|terminat"):
            await _backend_pid(db)
        assert await _backend_pid(db) != first
    finally:
        await db.dispose()


async def test_reading_runs_outside_a_transaction_and_writing_inside_one() -> None:
    db = Database(PG_URL)
    try:
        # SET LOCAL lasts until the end of the transaction it is in: the next statement sees it only when both are
        # in one.
        async with db.reading() as session:
            await session.execute(text("SET LOCAL statement_timeout = 12345"))
            assert (await session.execute(text("SHOW statement_timeout"))).scalar_one() == "0"
        async with db.transaction() as session:
            await session.execute(text("SET LOCAL statement_timeout = 12345"))
            assert (await session.execute(text("SHOW statement_timeout"))).scalar_one() == "12345ms"
    finally:
        await db.dispose()
