"""The embedded mode stopped with work in its queues: a new system on the same data folder finishes it, each
consumer's effect once, and what was dead-lettered is still listed."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from services.cases.models import cases
from services.common.bus.memory import InMemoryBus
from services.common.clock import ManualClock
from services.common.messages import Envelope
from services.common.migrate import upgrade
from services.common.runtime import ServiceRuntime
from services.common.settings import SERVICES, Settings
from services.contracts.models import outbox as contracts_outbox
from services.gateway import users
from services.notifier.models import mails
from services.scheduler.models import inbox as scheduler_inbox
from services.scheduler.models import occurrences, planned_contracts
from services.system import BUS_FILE, EmbeddedSystem
from tests.conftest import wait_for
from tests.embedded.conftest import ROOT, embedded_settings
from tests.unit.contracts.testdata import csv_row, to_csv

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
CONTRACTS = 12
# The logins csv_row puts on the teams.
STAFF = [(f"acc{i}", "accountant") for i in range(6)] + [("payroll1", "payroll"), ("boss", "manager")]


class Folder:
    """One office's data folder, run by one EmbeddedSystem after another."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.system: EmbeddedSystem | None = None
        self.token = ""

    def new_system(self) -> EmbeddedSystem:
        bus = InMemoryBus(path=self.settings.data_dir / BUS_FILE, max_attempts=self.settings.bus_max_attempts,
                          retry_delay=self.settings.bus_retry_delay_ms / 1000, close_grace=0.2)
        self.system = EmbeddedSystem(self.settings, clock=ManualClock(NOW), bus=bus)
        return self.system

    async def stop(self) -> None:
        if self.system is not None:
            await self.system.stop()
            self.system = None

    async def import_contracts(self, count: int) -> None:
        assert self.system is not None
        async with self.system.gateway.ctx.db.transaction() as session:
            for login, role in STAFF:
                await users.create_user(session=session, login=login, name=login, email=f"{login}@biuro.example",
                                        role=role, password=None, now=NOW)
            self.token = await users.issue_token(session=session, login="boss", name="test", now=NOW)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.system.gateway.app),
                                     base_url="http://gateway",
                                     headers={"Authorization": f"Bearer {self.token}"}) as api:
            response = await api.post("/api/v1/imports/apply", content=to_csv([csv_row(i) for i in range(count)]),
                                      headers={"Content-Type": "text/csv"})
        assert response.status_code == 201, response.text

    async def count(self, service: str, query: object) -> int:
        assert self.system is not None
        async with self.system.runtimes[service].ctx.db.reading() as session:
            return int(await session.scalar(query) or 0)  # type: ignore[call-overload]


@pytest.fixture
async def folder(tmp_path: Path) -> AsyncIterator[Folder]:
    settings = embedded_settings(tmp_path, bus_max_attempts=2)
    await upgrade(settings, SERVICES)
    office = Folder(settings)
    try:
        yield office
    finally:
        await office.stop()


def hold_after(runtime: ServiceRuntime, handled: int) -> asyncio.Event:
    """The runtime's consumer handles `handled` messages, then hangs on the next until the system stops. A batch
    that reaches past them: its first messages are handled (committed), then it hangs, acknowledged never."""
    held = asyncio.Event()
    original, original_batch = runtime.on_message, runtime.on_batch
    done = 0

    async def gated(envelope: Envelope) -> None:
        await gated_batch([envelope])

    async def gated_batch(envelopes: Sequence[Envelope]) -> None:
        nonlocal done
        room = handled - done
        if room > 0:
            done += min(room, len(envelopes))
            if len(envelopes) == 1:
                await original(envelopes[0])
            else:
                await original_batch(envelopes[:room])
        if len(envelopes) > room:
            held.set()
            await asyncio.Event().wait()

    # Subscribed with them when the runtime starts.
    runtime.on_message = gated  # type: ignore[method-assign]
    runtime.on_batch = gated_batch  # type: ignore[method-assign]
    return held


async def test_events_not_yet_handled_at_a_stop_are_handled_after_the_restart_each_once(folder: Folder) -> None:
    system = folder.new_system()
    held = hold_after(system.runtimes["scheduler"], 3)
    await system.start()
    await folder.import_contracts(CONTRACTS)
    unpublished = select(func.count()).select_from(contracts_outbox).where(contracts_outbox.c.published_at.is_(None))
    await wait_for(held.is_set, what="the scheduler holding its fourth contract")

    async def all_published() -> bool:
        return await folder.count("contracts", unpublished) == 0

    await wait_for(all_published, what="every contract event published")
    assert await folder.count("scheduler", select(func.count()).select_from(planned_contracts)) == 3
    await folder.stop()

    system = folder.new_system()
    await system.start()
    planned = select(func.count()).select_from(planned_contracts)

    async def all_planned() -> bool:
        return await folder.count("scheduler", planned) == CONTRACTS

    await wait_for(all_planned, what=f"all {CONTRACTS} contracts planned")
    requested = select(func.count()).select_from(occurrences).where(occurrences.c.status == "requested")
    made = select(func.count()).select_from(cases)
    case_mails = select(func.count()).select_from(mails).where(mails.c.kind == "case_created")

    async def all_cases_and_mails() -> bool:
        wanted = await folder.count("scheduler", requested)
        return (await folder.count("cases", made) == wanted
                and await folder.count("notifier", case_mails) == wanted)

    await wait_for(all_cases_and_mails, what="a case and a mail for every requested occurrence")
    await wait_for(system.bus.idle, what="the bus to drain")

    contract_events = select(func.count()).select_from(scheduler_inbox).where(
        scheduler_inbox.c.type == "contract.created")
    assert await folder.count("scheduler", contract_events) == CONTRACTS
    async with system.runtimes["scheduler"].ctx.db.reading() as session:
        wanted = {(r.contract_id, r.rule_id, r.period) for r in await session.execute(
            select(occurrences).where(occurrences.c.status == "requested"))}
    async with system.runtimes["cases"].ctx.db.reading() as session:
        keys = [(r.contract_id, r.rule_id, r.period) for r in await session.execute(select(cases))]
    assert len(wanted) > CONTRACTS  # several cases a contract: the test is about more than the first hop
    assert sorted(keys) == sorted(wanted)
    one_mail_a_case = select(func.count(func.distinct(mails.c.related_id))).where(mails.c.kind == "case_created")
    assert await folder.count("notifier", one_mail_a_case) == len(keys)
    assert await system.bus.dead_letter_count() == {"scheduler": 0, "cases": 0, "notifier": 0, "gateway": 0}


async def test_events_lost_before_the_bus_kept_them_on_disk_come_again_with_outbox_redeliver(
    folder: Folder,
) -> None:
    system = folder.new_system()
    held = hold_after(system.runtimes["scheduler"], 3)
    await system.start()
    await folder.import_contracts(CONTRACTS)
    await wait_for(held.is_set, what="the scheduler holding its fourth contract")
    await folder.stop()
    # What a stop did to an office before this bus: the contract events were marked published, then lost.
    for path in folder.settings.data_dir.glob(BUS_FILE + "*"):
        path.unlink()

    command = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "outbox", "redeliver", "contracts", "--type", "contract.created",
        cwd=ROOT, env={**os.environ, "TERMINARZ_DATA_DIR": str(folder.settings.data_dir)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output = (await command.communicate())[0].decode()
    assert command.returncode == 0, output
    assert f"{CONTRACTS} event(s) of contracts will be published again" in output

    system = folder.new_system()
    await system.start()
    planned = select(func.count()).select_from(planned_contracts)

    async def all_planned() -> bool:
        return await folder.count("scheduler", planned) == CONTRACTS

    await wait_for(all_planned, what=f"all {CONTRACTS} contracts planned")
    contract_events = select(func.count()).select_from(scheduler_inbox).where(
        scheduler_inbox.c.type == "contract.created")
    assert await folder.count("scheduler", contract_events) == CONTRACTS  # the first three: skipped by the inbox


async def test_dead_letters_are_still_listed_after_a_restart(folder: Folder) -> None:
    system = folder.new_system()
    failures: list[str] = []
    handle = system.runtimes["notifier"].on_message

    async def broken_templates(envelope: Envelope) -> None:
        if envelope.type != "case.created":  # the notifier also follows contracts: that still works
            await handle(envelope)
            return
        failures.append(str(envelope.id))
        raise RuntimeError("template case_created.txt missing")

    handle_batch = system.runtimes["notifier"].on_batch

    async def broken_batch(envelopes: Sequence[Envelope]) -> None:
        if any(e.type == "case.created" for e in envelopes):
            raise RuntimeError("template case_created.txt missing")  # then one by one, each failing above
        await handle_batch(envelopes)

    system.runtimes["notifier"].on_message = broken_templates  # type: ignore[method-assign]
    system.runtimes["notifier"].on_batch = broken_batch  # type: ignore[method-assign]
    await system.start()
    await folder.import_contracts(2)
    requested = select(func.count()).select_from(occurrences).where(occurrences.c.status == "requested")

    async def every_case_dead_lettered() -> bool:
        wanted = await folder.count("scheduler", requested)
        return (wanted > 0 and await folder.count("cases", select(func.count()).select_from(cases)) == wanted
                and (await system.bus.dead_letter_count())["notifier"] == wanted)

    await wait_for(every_case_dead_lettered, what="the notifier's dead letters")
    created = await folder.count("cases", select(func.count()).select_from(cases))
    assert len(failures) == 2 * created  # bus_max_attempts=2
    await folder.stop()

    system = folder.new_system()
    await system.start()
    dead = await system.bus.dead_letters("notifier")
    assert sorted(d.message_id for d in dead) == sorted(set(failures))
    assert {(d.type, d.attempts) for d in dead} == {("case.created", 2)}
    assert all("template case_created.txt missing" in d.error for d in dead)
    assert (await system.bus.dead_letter_count())["notifier"] == created
    # A dead letter waits for a person: it is not retried on its own after the restart.
    assert await folder.count("notifier", select(func.count()).select_from(mails)) == 0
