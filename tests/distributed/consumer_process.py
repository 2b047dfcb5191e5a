"""A test consumer (_crash_consumer or _batch_crash_consumer) run as an OS process, and the set-up it runs in: what
the redelivery tests (test_crash_redelivery, test_batch_redelivery) share."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import aio_pika

from services.common.bus.rabbit import RabbitBus
from tests.conftest import wait_for
from tests.distributed._crash_consumer import QUEUE

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ConsumerSetup:
    """A database with the consumers' tables, an exchange and queue prefix of their own (the `consumer_setup`
    fixture in conftest.py makes one and deletes it afterwards) and a folder for the processes' files."""

    amqp_url: str
    database_url: str
    exchange: str
    prefix: str
    workdir: Path

    def publisher(self) -> RabbitBus:
        """A bus on the consumers' exchange (start it before publishing, close it after)."""
        return RabbitBus(self.amqp_url, exchange=self.exchange, queue_prefix=self.prefix)

    async def waiting(self) -> int | None:
        """How many messages wait in the consumers' queue (none once every delivery was acked for good)."""
        connection = await aio_pika.connect_robust(self.amqp_url)
        try:
            queue = await (await connection.channel()).declare_queue(f"{self.prefix}.{QUEUE}", passive=True)
        finally:
            await connection.close()
        return queue.declaration_result.message_count


class ConsumerProcess:
    """One OS process running `module` (tests.distributed._crash_consumer or ._batch_crash_consumer); it writes
    what it handled to `<name>.handled` and its log to `<name>.log` in the set-up's workdir."""

    def __init__(self, setup: ConsumerSetup, name: str, crash_at: str, *, module: str) -> None:
        self.module = module
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
                sys.executable, "-m", self.module, cwd=ROOT, env=self.env, stdout=log, stderr=log)
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

    def lines(self) -> list[str]:
        return self.handled.read_text().splitlines() if self.handled.exists() else []
