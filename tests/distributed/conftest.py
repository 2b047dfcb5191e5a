"""The distributed cluster fixture: five services as processes on PostgreSQL, RabbitMQ and SMTP; the set-up of a
test consumer process for the redelivery tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import asyncpg
import pytest

from services.common.db import Database
from tests.conftest import PG_URL, CapturedMail
from tests.distributed import _crash_consumer as consumer_tables
from tests.distributed.cluster import SERVICE_NAMES, Cluster, running_cluster
from tests.distributed.consumer_process import ConsumerSetup


@pytest.fixture
async def cluster(pg_database: str, amqp_url: str, smtp_server: tuple[str, int, CapturedMail],
                  tmp_path: Path) -> AsyncIterator[Cluster]:
    host, port, _ = smtp_server
    async with running_cluster(database_url=pg_database, amqp_url=amqp_url, smtp=(host, port), log_dir=tmp_path,
                               users=(("maria", "manager"), ("anna", "accountant"), ("admin", "admin")),
                               services=SERVICE_NAMES) as cluster:
        yield cluster


@pytest.fixture
async def consumer_setup(amqp_url: str, pg_database: str, tmp_path: Path) -> AsyncIterator[ConsumerSetup]:
    """A database with the test consumers' tables, an exchange and queue prefix of their own (deleted afterwards)."""
    database_url = f"{pg_database}_consumer"
    admin = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await admin.execute(f'CREATE DATABASE "{database_url.rsplit("/", 1)[1]}"')
    finally:
        await admin.close()
    db = Database(database_url)
    async with db.engine.begin() as conn:
        await conn.run_sync(consumer_tables.metadata.create_all)
    await db.dispose()

    suffix = uuid.uuid4().hex[:10]
    yield ConsumerSetup(amqp_url, database_url, f"test.events.{suffix}", f"test.{suffix}", tmp_path)

    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    for name in ("", ".retry", ".dead"):
        await channel.queue_delete(f"test.{suffix}.{consumer_tables.QUEUE}{name}")
    for exchange in (f"test.events.{suffix}", f"test.events.{suffix}.dlx"):
        await channel.exchange_delete(exchange)
    await connection.close()


# --- The fault matrix's table (tests/distributed/test_fault_matrix.py), shown in CI logs without -s -------------

@dataclass
class FaultRow:
    scenario: str
    expected: int = 0  # cases the signed contracts must get
    created: int = 0  # distinct cases found (by contract, rule, period)
    duplicates: int = 0  # cases found more than once
    mails: int = 0  # cases whose mail the SMTP server received
    mail_copies: int = 0  # mails the server received again (same Message-ID)
    dead_letters: int = 0
    passed: bool = False
    note: str = ""  # e.g. how long the broker or the database was away


FAULT_MATRIX = pytest.StashKey[list[FaultRow]]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    rows = config.stash.get(FAULT_MATRIX, [])
    if not rows:
        return
    terminalreporter.section("fault matrix")
    header = ("scenario", "expected", "created", "duplicates", "mails", "mail copies", "dead letters", "result",
              "note")
    table = [header] + [(r.scenario, str(r.expected), str(r.created), str(r.duplicates), str(r.mails),
                         str(r.mail_copies), str(r.dead_letters), "ok" if r.passed else "FAILED", r.note)
                        for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        terminalreporter.write_line("  ".join(cell.ljust(w) if i in (0, len(line) - 1) else cell.rjust(w)
                                              for i, (cell, w) in enumerate(zip(line, widths, strict=True))).rstrip())
