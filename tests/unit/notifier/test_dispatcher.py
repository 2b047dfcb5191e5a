"""The dispatcher with a fake SMTP server: every claimed mail is sent once and recorded, whatever the order in
which connections finish, and a connection never runs more than a few unrecorded mails ahead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from services.common.bus.memory import InMemoryBus
from services.common.clock import ManualClock
from services.common.migrate import upgrade
from services.common.runtime import ServiceRuntime
from services.common.settings import Settings
from services.notifier import delivery
from services.notifier.delivery import UNRECORDED_PER_CONNECTION, Dispatcher, insert_mails, mail_row
from services.notifier.mailer import OutgoingMail, SendResult
from services.notifier.models import mails
from services.notifier.service import spec


class FakeConnection:
    def __init__(self, server: FakeServer, delay: float) -> None:
        self.server = server
        self.delay = delay

    async def send(self, sender: str, recipient: str, raw: str) -> SendResult:
        await asyncio.sleep(self.delay)
        self.server.accepted.append(recipient)
        if recipient.startswith("nie-ma"):
            return SendResult("refused", "550 5.1.1 User unknown")
        if recipient.startswith("pelna"):
            return SendResult("retry", "452 4.2.2 Mailbox full")
        return SendResult("sent", "250 2.0.0 Ok")

    async def close(self) -> None:
        return None


class FakeServer:
    """What the dispatcher needs of SmtpMailer: its connections, the sender, `configured`, `close`."""

    def __init__(self, delays: list[float]) -> None:
        self.accepted: list[str] = []
        self.connections = [FakeConnection(self, d) for d in delays]
        self.configured = True
        self.envelope_sender = "biuro@example.com"

    async def close(self) -> None:
        return None


@pytest.fixture
async def notifier(tmp_path: Path) -> AsyncIterator[ServiceRuntime]:
    settings = Settings(data_dir=tmp_path, mail_retry_seconds=60)  # type: ignore[call-arg]
    await upgrade(settings, ("notifier",))
    runtime = ServiceRuntime(spec, settings=settings, bus=InMemoryBus(), clock=ManualClock(datetime(2026, 11, 28,
                                                                                                    tzinfo=UTC)))
    try:
        yield runtime
    finally:
        await runtime.ctx.db.dispose()


async def write(runtime: ServiceRuntime, addresses: list[str]) -> None:
    async with runtime.ctx.db.transaction() as session:
        await insert_mails(runtime.ctx, session, [
            mail_row(runtime.ctx, kind="reminder", mail=OutgoingMail(a, "", "Przypomnienie", "x")) for a in addresses])


async def test_uneven_connections_and_slow_recording_send_each_mail_once(
    notifier: ServiceRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded_slowly = delivery.record
    most_ahead = 0

    async def slow_record(ctx: object, results: list[delivery.Result]) -> None:
        nonlocal most_ahead
        most_ahead = max(most_ahead, max(sum(1 for r in results if r.connection == c) for c in range(4)))
        await asyncio.sleep(0.03)
        await recorded_slowly(ctx, results)  # type: ignore[arg-type]

    monkeypatch.setattr(delivery, "record", slow_record)
    addresses = [f"k{i}@firma.example" for i in range(57)] + ["nie-ma@firma.example", "pelna@firma.example"]
    await write(notifier, addresses)
    server = FakeServer([0.001, 0.004, 0.0, 0.02])
    dispatcher = Dispatcher(notifier.ctx, server)  # type: ignore[arg-type]
    handled = 0
    while batch := await dispatcher.dispatch_once():
        handled += batch
    assert handled == len(addresses)
    assert sorted(server.accepted) == sorted(addresses)  # each once
    assert most_ahead <= UNRECORDED_PER_CONNECTION
    async with notifier.ctx.db.reading() as session:
        status = {r.to_address: (r.status, r.attempts) for r in await session.execute(select(mails))}
    assert status["nie-ma@firma.example"] == ("failed", 1)  # a 5xx is final
    assert status["pelna@firma.example"] == ("pending", 1)  # a 4xx waits for its retry
    assert {s for a, s in status.items() if a.startswith("k")} == {("sent", 1)}


async def test_an_address_that_refused_before_is_healthy_again_after_a_250(notifier: ServiceRuntime) -> None:
    from services.notifier.models import addresses

    now = notifier.ctx.clock.now()
    async with notifier.ctx.db.transaction() as session:
        await session.execute(addresses.insert().values(email="wraca@firma.example", status="failing",
                                                        reply="550 5.2.1 Mailbox disabled", failed_at=now,
                                                        updated_at=now))
    await write(notifier, ["wraca@firma.example"])
    server = FakeServer([0.0])
    assert await Dispatcher(notifier.ctx, server).dispatch_once() == 1  # type: ignore[arg-type]
    async with notifier.ctx.db.reading() as session:
        [health] = (await session.execute(select(addresses.c.status))).all()
    assert health.status == "ok"
