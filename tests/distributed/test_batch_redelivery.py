"""Batches on RabbitMQ: a consumer that takes many deliveries per transaction acks them only after its commit.
Killed before the commit, the whole batch comes again and each effect happens once; killed after the commit but
before the acks, the whole batch comes again and the inbox turns every message into a no-op."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import asyncpg
import pytest
from sqlalchemy import func, select

from services.common.bus.rabbit import RabbitBus
from services.common.db import Database
from services.common.messages import Envelope
from tests.conftest import PG_URL, wait_for
from tests.distributed import _crash_consumer as tables

pytestmark = pytest.mark.distributed

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 12


@dataclass
class Setup:
    amqp_url: str
    database_url: str
    exchange: str
    prefix: str
    workdir: Path


@pytest.fixture
async def setup(amqp_url: str, pg_database: str, tmp_path: Path) -> AsyncIterator[Setup]:
    database_url = f"{pg_database}_batch"
    admin = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await admin.execute(f'CREATE DATABASE "{database_url.rsplit("/", 1)[1]}"')
    finally:
        await admin.close()
    db = Database(database_url)
    async with db.engine.begin() as conn:
        await conn.run_sync(tables.metadata.create_all)
    await db.dispose()
    suffix = uuid.uuid4().hex[:10]
    yield Setup(amqp_url, database_url, f"test.events.{suffix}", f"test.{suffix}", tmp_path)
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    for name in ("", ".retry", ".dead"):
        await channel.queue_delete(f"test.{suffix}.{tables.QUEUE}{name}")
    for exchange in (f"test.events.{suffix}", f"test.events.{suffix}.dlx"):
        await channel.exchange_delete(exchange)
    await connection.close()


class Consumer:
    """One OS process running tests/distributed/_batch_crash_consumer.py."""

    def __init__(self, setup: Setup, name: str, crash_at: str) -> None:
        self.ready = setup.workdir / f"{name}.ready"
        self.handled = setup.workdir / f"{name}.handled"
        self.log = setup.workdir / f"{name}.log"
        self.env = {
            **os.environ, "PYTHONPATH": str(ROOT), "CRASH_AMQP_URL": setup.amqp_url,
            "CRASH_DATABASE_URL": setup.database_url, "CRASH_EXCHANGE": setup.exchange,
            "CRASH_PREFIX": setup.prefix, "CRASH_READY_FILE": str(self.ready),
            "CRASH_HANDLED_FILE": str(self.handled), "CRASH_AT": crash_at,
        }
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.distributed._batch_crash_consumer", cwd=ROOT, env=self.env,
                stdout=log, stderr=log)
        await wait_for(lambda: self.ready.exists() or self.process.returncode is not None,  # type: ignore[union-attr]
                       timeout=20, what=f"{self.log} ready")
        assert self.ready.exists(), self.log.read_text()

    async def exit_code(self) -> int:
        assert self.process is not None
        try:
            return await asyncio.wait_for(self.process.wait(), timeout=20)
        except TimeoutError:
            self.process.kill()
            raise AssertionError(f"consumer did not exit: {self.log.read_text()}") from None

    async def stop(self) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await self.exit_code()

    def lines(self) -> list[str]:
        return self.handled.read_text().splitlines() if self.handled.exists() else []


async def counts(setup: Setup) -> tuple[int, int, int]:
    """(effect rows, distinct messages with an effect, inbox rows)."""
    db = Database(setup.database_url)
    try:
        async with db.reading() as session:
            effects = await session.scalar(select(func.count()).select_from(tables.effects))
            distinct = await session.scalar(select(func.count(func.distinct(tables.effects.c.message_id))))
            inbox = await session.scalar(select(func.count()).select_from(tables.inbox))
        return int(effects or 0), int(distinct or 0), int(inbox or 0)
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("crash_at", "after_crash", "second_sees"),
    [
        # The batch's effects were flushed but never committed: gone with the process, all done by the second.
        ("before_commit", (0, 0, 0), "new"),
        # Committed but never acked: every message comes again, the inbox makes each a no-op.
        ("after_commit", (MESSAGES, MESSAGES, MESSAGES), "duplicate"),
    ],
)
async def test_a_batch_consumer_killed_mid_batch_gets_the_whole_batch_again_and_each_effect_happens_once(
    setup: Setup, crash_at: str, after_crash: tuple[int, int, int], second_sees: str,
) -> None:
    first = Consumer(setup, "first", crash_at)
    await first.start()
    publisher = RabbitBus(setup.amqp_url, exchange=setup.exchange, queue_prefix=setup.prefix)
    await publisher.start()
    sent = [Envelope(type="contract.created", producer="tests", correlation_id=uuid.uuid4().hex,
                     payload={"value": f"contract C-{n} created"}) for n in range(MESSAGES)]
    await publisher.publish_many(sent)
    await publisher.close()

    assert await first.exit_code() == 1, first.log.read_text()
    assert "dying on purpose" in first.log.read_text()
    assert first.lines() == []
    assert await counts(setup) == after_crash

    second = Consumer(setup, "second", "")
    await second.start()
    try:
        await wait_for(lambda: len([line for line in second.lines() if "batch" not in line
                                    and "single" not in line]) >= MESSAGES,
                       timeout=30, what="every message handled by the second consumer")
    finally:
        assert await second.stop() == 0, second.log.read_text()
    seen = [line.split() for line in second.lines() if "batch" not in line and "single" not in line]
    assert sorted(message_id for message_id, _ in seen) == sorted(str(e.id) for e in sent)
    assert {outcome for _, outcome in seen} == {second_sees}
    assert any(line.split()[0] != "1" for line in second.lines() if "batch" in line), second.lines()
    assert await counts(setup) == (MESSAGES, MESSAGES, MESSAGES)
    connection = await aio_pika.connect_robust(setup.amqp_url)
    queue = await (await connection.channel()).declare_queue(f"{setup.prefix}.{tables.QUEUE}", passive=True)
    await connection.close()
    assert queue.declaration_result.message_count == 0  # acked for good
