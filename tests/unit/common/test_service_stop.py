"""A service's stop ends its background loops, even one that lets a cancellation pass."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import APIRouter

from services.common import runtime as runtime_module
from services.common.bus.memory import InMemoryBus
from services.common.clock import ManualClock
from services.common.db import new_metadata
from services.common.messaging import add_messaging_tables
from services.common.runtime import ServiceContext, ServiceRuntime, ServiceSpec
from services.common.settings import Settings

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)


async def test_a_loop_that_lets_its_cancellation_pass_is_cancelled_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime_module, "LOOP_STOP_GRACE", 0.2)
    rounds_after_the_stop = 0
    running = asyncio.Event()

    async def deaf_once(ctx: ServiceContext) -> None:
        """Like a loop whose `asyncio.wait_for` returned its wake-up and dropped the cancellation (Python 3.11)."""
        nonlocal rounds_after_the_stop
        deaf = True
        running.set()
        while True:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                if not deaf:
                    raise
                deaf = False
            if not deaf:
                rounds_after_the_stop += 1

    spec = ServiceSpec(name="probe", metadata=metadata, outbox=outbox, inbox=inbox, router=APIRouter(),
                       loops=[deaf_once])
    settings = Settings(data_dir=tmp_path, secret_key="k" * 40, internal_token="t" * 40, events_kept_days=0)
    runtime = ServiceRuntime(spec, settings=settings, bus=InMemoryBus(),
                             clock=ManualClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC)))
    async with runtime.ctx.db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await runtime.start()
    async with asyncio.timeout(10):
        await running.wait()  # the loop is running: its first cancellation comes inside it
    async with asyncio.timeout(10):  # before the fix: forever
        await runtime.stop()
    assert rounds_after_the_stop > 0  # it did go on after the first cancellation, until the second
