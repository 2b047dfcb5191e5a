"""A consumer that crashes mid-message on RabbitMQ: the message comes again, the effect happens once."""

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
from tests.distributed import _crash_consumer as consumer

pytestmark = pytest.mark.distributed

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Setup:
    amqp_url: str
    database_url: str
    exchange: str
    prefix: str
    workdir: Path


@pytest.fixture
async def setup(amqp_url: str, pg_database: str, tmp_path: Path) -> AsyncIterator[Setup]:
    database_url = f"{pg_database}_crash"
    admin = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await admin.execute(f'CREATE DATABASE "{database_url.rsplit("/", 1)[1]}"')
    finally:
        await admin.close()
    db = Database(database_url)
    async with db.engine.begin() as conn:
        await conn.run_sync(consumer.metadata.create_all)
    await db.dispose()

    suffix = uuid.uuid4().hex[:10]
    yield Setup(amqp_url, database_url, f"test.events.{suffix}", f"test.{suffix}", tmp_path)

    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    for name in ("", ".retry", ".dead"):
        await channel.queue_delete(f"test.{suffix}.{consumer.QUEUE}{name}")
    for exchange in (f"test.events.{suffix}", f"test.events.{suffix}.dlx"):
        await channel.exchange_delete(exchange)
    await connection.close()


class Consumer:
    """One consumer OS process running tests/distributed/_crash_consumer.py."""

    def __init__(self, setup: Setup, name: str, crash_at: str) -> None:
        self.setup = setup
        self.ready = setup.workdir / f"{name}.ready"
        self.handled = setup.workdir / "handled.txt"
        self.log = setup.workdir / f"{name}.log"
        self.crash_at = crash_at
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "CRASH_AMQP_URL": self.setup.amqp_url,
            "CRASH_DATABASE_URL": self.setup.database_url,
            "CRASH_EXCHANGE": self.setup.exchange,
            "CRASH_PREFIX": self.setup.prefix,
            "CRASH_READY_FILE": str(self.ready),
            "CRASH_HANDLED_FILE": str(self.handled),
            "CRASH_AT": self.crash_at,
        }
        with self.log.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.distributed._crash_consumer", cwd=ROOT, env=env,
                stdout=log, stderr=log,
            )
        await wait_for(lambda: self.ready.exists() or self.exited(), timeout=20, what=f"{self.log} ready")
        assert self.ready.exists(), self.log.read_text()

    def exited(self) -> bool:
        return self.process is not None and self.process.returncode is not None

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


async def table_counts(setup: Setup, message_id: str) -> tuple[int, int]:
    """(effect rows for the message, inbox rows for the message)."""
    db = Database(setup.database_url)
    try:
        async with db.reading() as session:
            effects = await session.scalar(
                select(func.count()).select_from(consumer.effects)
                .where(consumer.effects.c.message_id == message_id)
            )
            inbox = await session.scalar(
                select(func.count()).select_from(consumer.inbox)
                .where(consumer.inbox.c.message_id == message_id)
            )
        return int(effects or 0), int(inbox or 0)
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("crash_at", "after_crash", "second_sees"),
    [
        # The effect was flushed but never committed: it is gone with the process, the retry does it for real.
        ("before_commit", (0, 0), "new"),
        # Committed but never acked: RabbitMQ redelivers, the inbox turns the redelivery into a no-op.
        ("after_commit", (1, 1), "duplicate"),
    ],
)
async def test_a_consumer_that_crashes_mid_message_gets_it_again_and_the_effect_happens_once(
    setup: Setup, crash_at: str, after_crash: tuple[int, int], second_sees: str
) -> None:
    first = Consumer(setup, "first", crash_at)
    await first.start()

    publisher = RabbitBus(setup.amqp_url, exchange=setup.exchange, queue_prefix=setup.prefix)
    await publisher.start()
    sent = Envelope(type="contract.created", producer="tests", correlation_id=uuid.uuid4().hex,
                    payload={"value": "contract C-7 created"})
    await publisher.publish(sent)
    await publisher.close()
    message_id = str(sent.id)

    assert await first.exit_code() == 1, first.log.read_text()
    assert "dying on purpose" in first.log.read_text()
    assert await table_counts(setup, message_id) == after_crash

    second = Consumer(setup, "second", "")
    await second.start()
    try:
        handled = await wait_for(
            lambda: second.handled.exists() and second.handled.read_text().split(), timeout=20,
            what="the redelivered message handled by the second consumer",
        )
    finally:
        assert await second.stop() == 0, second.log.read_text()

    assert handled == [message_id, second_sees]
    assert await table_counts(setup, message_id) == (1, 1)
    # Acked for good: after the second consumer closed, nothing went back to the queue.
    connection = await aio_pika.connect_robust(setup.amqp_url)
    queue = await (await connection.channel()).declare_queue(f"{setup.prefix}.{consumer.QUEUE}", passive=True)
    await connection.close()
    assert queue.declaration_result.message_count == 0
