"""Reminders exactly once a day on PostgreSQL, whatever the number of notifier processes and restarts: two
notifier runtimes on one database run the morning job at the same moment, a third starts after one stops."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.common.bus.memory import InMemoryBus
from services.common.clock import ManualClock
from services.common.messages import CASE_COMPLETED, CONTRACT_CREATED
from services.common.migrate import upgrade
from services.common.runtime import ServiceRuntime
from services.common.settings import Settings
from services.notifier import jobs
from services.notifier.service import spec
from tests.conftest import CapturedMail, wait_for
from tests.notice_samples import case_completed, contract_snapshot, envelope
from tests.samples import nip, nip_seeds

pytestmark = pytest.mark.distributed


@pytest.fixture
async def settings(pg_database: str, smtp_server: tuple[str, int, CapturedMail]) -> Settings:
    host, port, _ = smtp_server
    settings = Settings(database_url=pg_database, smtp_host=host, smtp_port=port,  # type: ignore[call-arg]
                        notice_send_time="00:00", notifier_tick_seconds=3600, mail_poll_seconds=0.2)
    await upgrade(settings, ("notifier",))
    return settings


async def runtime(settings: Settings, clock: ManualClock) -> ServiceRuntime:
    started = ServiceRuntime(spec, settings=settings, bus=InMemoryBus(), clock=clock)
    await started.start()
    return started


@pytest.fixture
async def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))


@pytest.fixture
async def two(settings: Settings, clock: ManualClock) -> AsyncIterator[list[ServiceRuntime]]:
    runtimes = [await runtime(settings, clock), await runtime(settings, clock)]
    try:
        yield runtimes
    finally:
        for rt in runtimes:
            if rt.started:
                await rt.stop()


def reminders(mail: CapturedMail) -> list[Any]:
    return [m for m in mail.messages if str(m["Subject"]).startswith("Przypomnienie")]


async def test_two_processes_and_a_restart_send_one_reminder_per_recipient_a_day(
    two: list[ServiceRuntime], settings: Settings, clock: ManualClock, smtp_server: tuple[str, int, CapturedMail]
) -> None:
    mail = smtp_server[2]
    first, second = two
    emails = [f"k{i}@firma.example" for i in range(30)] + ["wspolny@firma.example"] * 10
    for i, (email, seed) in enumerate(zip(emails, nip_seeds(526300001, count=len(emails)), strict=True)):
        client_nip = nip(seed)
        await first.on_message(envelope(CONTRACT_CREATED, contract_snapshot(
            f"k{i}", f"c{i}", name=f"Klient {i}", nip=client_nip, emails=[email])))
        await first.on_message(envelope(CASE_COMPLETED, case_completed(
            f"case{i}", f"k{i}", f"c{i}", client_name=f"Klient {i}", amount="10.00", due=date(2026, 12, 28))))
    await jobs.tick(first.ctx)  # the job loop may have released some already
    await wait_for(lambda: len(mail.messages) == 40, what="the 40 notices")

    recipients = len(set(emails))
    for day in range(3):
        clock.set(datetime(2026, 11, 29, 7, 5, tzinfo=UTC) + timedelta(days=day))  # 08:05 in Warsaw
        written = await asyncio.gather(*(jobs.send_reminders(rt.ctx) for rt in (first, second, first, second)))
        assert sum(written) == recipients
        await wait_for(lambda day=day: len(reminders(mail)) == recipients * (day + 1),
                       what=f"the reminders of day {day + 1}")
    counts = Counter(m["To"].addresses[0].addr_spec for m in reminders(mail))
    assert set(counts.values()) == {3}  # every recipient, once a day, for three days
    shared = [m for m in reminders(mail) if m["To"].addresses[0].addr_spec == "wspolny@firma.example"][-1]
    assert shared["Subject"] == "Przypomnienie: 10 informacje czekają na potwierdzenie"

    await first.stop()  # a restart on the same day writes nothing again
    third = await runtime(settings, clock)
    try:
        assert await jobs.send_reminders(third.ctx) == 0
        assert await jobs.send_reminders(second.ctx) == 0
    finally:
        await third.stop()
    assert len(reminders(mail)) == recipients * 3
