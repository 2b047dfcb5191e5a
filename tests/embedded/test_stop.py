"""Stopping the embedded system: every background loop ends, whatever woke it as the stop came."""

from __future__ import annotations

import asyncio

from services.notifier.delivery import mail_signal
from services.notifier.notices import JOBS_SIGNAL
from services.scheduler.handlers import wake_tick
from tests.conftest import wait_for
from tests.embedded.conftest import Office


async def test_a_service_stops_when_its_loops_are_woken_as_the_stop_comes(office: Office) -> None:
    """Seen in CI: the office's stop hung for good right after a test whose morning job left the notifier writing
    mail. A mail written (or a notice ready, or rules put in force) wakes a loop waiting on its signal; on Python 3.11
    `asyncio.wait_for` then returns the wake-up and drops a cancellation that arrives with it, the loop goes on, and
    the stop waits for it forever."""
    notifier, scheduler = office.system.runtimes["notifier"], office.system.runtimes["scheduler"]
    notifier_signals = [mail_signal(notifier.ctx), notifier.ctx.extras[JOBS_SIGNAL]]
    scheduler_signal = scheduler.ctx.extras["tick_wake"]

    def waiting(signals: list[asyncio.Event]) -> bool:
        return all(s._waiters for s in signals)  # a loop is parked on each, between two rounds

    await wait_for(lambda: waiting([*notifier_signals, scheduler_signal]), what="the loops waiting for work")
    for signal in notifier_signals:
        signal.set()  # mail written, a notice ready: the same moment as the stop below
    async with asyncio.timeout(20):
        await notifier.stop_work()
    wake_tick(scheduler.ctx)  # rules put in force, as the stop comes
    async with asyncio.timeout(20):
        await scheduler.stop_work()
