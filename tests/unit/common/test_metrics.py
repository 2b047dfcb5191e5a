"""A service's /metrics on a real SQLite database: what its handlers did, its outbox and inbox, its HTTP routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.bus.memory import InMemoryBus
from services.common.clock import ManualClock
from services.common.db import new_metadata
from services.common.messages import Envelope
from services.common.messaging import add_messaging_tables
from services.common.runtime import INTERNAL_TOKEN_HEADER, ServiceContext, ServiceRuntime, ServiceSpec
from services.common.settings import Settings
from tests.conftest import wait_for
from tests.metrics import value


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="k" * 40, internal_token="t" * 40)

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)
router = APIRouter()


@router.get("/things/{thing_id}")
async def get_thing(thing_id: int) -> dict[str, int]:
    return {"id": thing_id}


class Flaky:
    """A handler that fails on its first attempt, as one would while its database restarts."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, ctx: ServiceContext, session: AsyncSession, envelope: Envelope) -> None:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("database restarting")


@pytest.fixture
async def runtime(tmp_path: Path) -> ServiceRuntime:
    settings = _settings(tmp_path)
    spec = ServiceSpec(name="probe", metadata=metadata, outbox=outbox, inbox=inbox, router=router,
                       handlers={"thing.happened": Flaky()})
    clock = ManualClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    rt = ServiceRuntime(spec, settings=settings, bus=InMemoryBus(), clock=clock)
    async with rt.ctx.db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return rt


async def scrape(rt: ServiceRuntime, path: str = "/metrics", **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=rt.app), base_url="http://probe") as client:
        return await client.get(path, headers=headers)


async def test_handled_failed_and_duplicate_messages_are_counted_apart(runtime: ServiceRuntime) -> None:
    envelope = Envelope(type="thing.happened", producer="elsewhere", correlation_id="c1", payload={})
    with pytest.raises(ConnectionError):
        await runtime.on_message(envelope)  # the bus would retry it
    await runtime.on_message(envelope)  # the retry succeeds
    await runtime.on_message(envelope)  # a redelivery: the inbox knows it

    text = (await scrape(runtime)).text
    assert value(text, "terminarz_messages_failed_total", service="probe", type="thing.happened") == 1
    assert value(text, "terminarz_messages_handled_total", service="probe", type="thing.happened") == 1
    assert value(text, "terminarz_messages_duplicate_total", service="probe", type="thing.happened") == 1
    assert value(text, "terminarz_message_handler_seconds_count", service="probe", type="thing.happened") == 1
    assert value(text, "terminarz_inbox_messages", service="probe") == 1
    await runtime.ctx.db.dispose()


async def test_outbox_backlog_and_age_of_its_oldest_event(runtime: ServiceRuntime) -> None:
    clock = runtime.ctx.clock
    assert isinstance(clock, ManualClock)
    async with runtime.ctx.db.transaction() as session:  # the relay is not running: nothing is published
        await runtime.ctx.messaging.emit(session, "thing.happened", {})
    clock.advance(timedelta(seconds=90))
    async with runtime.ctx.db.transaction() as session:
        await runtime.ctx.messaging.emit(session, "thing.happened", {})
    clock.advance(timedelta(seconds=10))

    text = (await scrape(runtime)).text
    assert value(text, "terminarz_outbox_backlog", service="probe") == 2
    assert value(text, "terminarz_outbox_oldest_unpublished_age_seconds", service="probe") == 100

    assert await runtime.relay.relay_once() == 2
    text = (await scrape(runtime)).text
    assert value(text, "terminarz_outbox_backlog", service="probe") == 0
    assert value(text, "terminarz_outbox_oldest_unpublished_age_seconds", service="probe") == 0
    await runtime.ctx.db.dispose()


async def test_http_latency_is_labelled_by_route_template_never_by_the_id(runtime: ServiceRuntime) -> None:
    headers = {INTERNAL_TOKEN_HEADER: runtime.ctx.settings.internal_token}
    assert (await scrape(runtime, "/things/4711", **headers)).status_code == 200
    assert (await scrape(runtime, "/things/4712", **headers)).status_code == 200
    assert (await scrape(runtime, "/no/such/page/4713")).status_code == 404

    text = (await scrape(runtime)).text  # an internal service: no token, like /healthz
    assert value(text, "terminarz_http_request_duration_seconds_count",
                 service="probe", method="GET", route="/things/{thing_id}") == 2
    assert value(text, "terminarz_http_requests_total",
                 service="probe", method="GET", route="unmatched", status="404") == 1
    assert "4711" not in text and "4713" not in text
    await runtime.ctx.db.dispose()


async def test_dead_lettered_messages_are_counted_per_queue(tmp_path: Path) -> None:
    spec = ServiceSpec(name="probe", metadata=metadata, outbox=outbox, inbox=inbox, router=router,
                       handlers={"thing.happened": Flaky()})
    bus = InMemoryBus(max_attempts=1)  # no retries: the first failure dead-letters the message
    runtime = ServiceRuntime(spec, settings=_settings(tmp_path), bus=bus,
                             clock=ManualClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC)))
    async with runtime.ctx.db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await runtime.start()
    try:
        assert value((await scrape(runtime)).text, "terminarz_dead_lettered_messages", queue="probe") == 0
        await bus.publish(Envelope(type="thing.happened", producer="elsewhere", correlation_id="c", payload={}))
        await wait_for(bus.idle, what="the message to be dead-lettered")
        text = (await scrape(runtime)).text
        assert value(text, "terminarz_dead_lettered_messages", queue="probe") == 1
        assert value(text, "terminarz_messages_failed_total", service="probe", type="thing.happened") == 1
    finally:
        await runtime.stop_work()
        await bus.close()
        await runtime.close()
