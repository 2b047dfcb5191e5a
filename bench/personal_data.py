"""How long the retention command and a client's export take, embedded (SQLite, in-process bus).

    .venv/bin/python -m bench.personal_data                 # 500 clients past retention among 500 others
    .venv/bin/python -m bench.personal_data --clients 2000

Imports N clients whose only contract ran in January 2020 (past retention on 2026-11-28) and N with a contract in
force, then times: the dry run, the erasure of the N (the contracts service's part, one transaction per client),
until every other service has handled its client.erased (the scheduler's and the notifier's copies renamed), and
one client's export. Prints the figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import Column, func, select

from services.common.clock import ManualClock
from services.common.migrate import upgrade
from services.common.settings import SERVICES, Settings
from services.gateway import users
from services.notifier.models import contracts as notifier_contracts
from services.scheduler.models import planned_contracts
from services.system import EmbeddedSystem
from tests.samples import nip, nip_seeds, pesel, regon

ROOT = Path(__file__).resolve().parents[1]
HEADER = ["client_name", "legal_form", "nip", "regon", "pesel", "street", "postal_code", "city", "emails", "books",
          "income_tax", "income_tax_advances", "vat", "contract_number", "signed_on", "start", "end",
          "notice_period_months", "services", "fee_monthly_net", "accountant", "manager"]


def rows(count: int) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, HEADER)
    writer.writeheader()
    for i, seed in enumerate(nip_seeds(100000000, count=2 * count)):
        old = i < count
        writer.writerow({
            "client_name": f"{'Dawny' if old else 'Obecny'} Klient {i:05d}", "legal_form": "sole_trader",
            "nip": nip(seed), "regon": regon(seed[:8]), "pesel": pesel("8001011234"), "street": f"ul. Prosta {i}",
            "postal_code": "00-850", "city": "Warszawa", "emails": f"k{i}@example.com", "books": "kpir",
            "income_tax": "pit_flat", "income_tax_advances": "monthly", "vat": "none",
            "contract_number": f"B/{i:05d}", "signed_on": "2019-12-15" if old else "2026-12-01",
            "start": "2020-01-01" if old else "2027-01-01", "end": "2020-01-31" if old else "",
            "notice_period_months": "3", "services": "bookkeeping", "fee_monthly_net": "300", "accountant": "anna",
            "manager": "maria"})
    return out.getvalue().encode()


async def main(count: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="terminarz-bench-gdpr-"))
    settings = Settings(data_dir=root / "data", rules_dir=ROOT / "rules", outbox_poll_seconds=0.2,
                        scheduler_tick_seconds=3600, log_level="WARNING")
    clock = ManualClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    await upgrade(settings, SERVICES)
    system = EmbeddedSystem(settings, clock=clock)
    await system.start()
    try:
        async with system.gateway.ctx.db.transaction() as session:
            for login, role in (("admin", "admin"), ("maria", "manager"), ("anna", "accountant")):
                await users.create_user(session=session, login=login, name=login.title(),
                                        email=f"{login}@biuro.example", role=role, password=None, now=clock.now())
            token = await users.issue_token(session=session, login="admin", name="bench", now=clock.now())
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=system.gateway.app), base_url="http://gateway",
                                headers={"Authorization": f"Bearer {token}"}, timeout=3600)
        imported = await api.post("/api/v1/imports/apply", content=rows(count), headers={"Content-Type": "text/csv"})
        assert imported.status_code == 201, imported.text[:500]

        async def renamed(service: str, column: Column[str]) -> int:
            async with system.runtimes[service].ctx.db.reading() as session:
                return int((await session.execute(select(func.count()).where(
                    column.like("Klient % (dane usunięte)")))).scalar_one())

        async def settle(check: Callable[[], Awaitable[bool]]) -> float:
            start = time.perf_counter()
            while not await check():  # noqa: ASYNC110 - polling another service's database
                await asyncio.sleep(0.05)
            return time.perf_counter() - start

        async def learned() -> bool:
            async with system.runtimes["notifier"].ctx.db.reading() as session:
                known = (await session.execute(select(func.count()).select_from(notifier_contracts))).scalar_one()
            return bool(known == 2 * count)

        await settle(learned)  # the notifier knows every contract

        started = time.perf_counter()
        dry = (await api.post("/api/v1/personal-data/erasure", json={"dry_run": True})).json()
        dry_s = time.perf_counter() - started
        assert len(dry["items"]) == count, dry["kept"]

        started = time.perf_counter()
        erased, calls, first = 0, 0, 0
        while True:  # as `terminarz clients erase` does: a batch a call until none remains
            done = (await api.post("/api/v1/personal-data/erasure", json={})).json()
            erased, calls = erased + sum(1 for i in done["items"] if i["erased_now"]), calls + 1
            first = first or done["items"][0]["client_id"]
            if not done["remaining"]:
                break
        erase_s = time.perf_counter() - started
        assert erased == count

        async def followed() -> bool:
            return (await renamed("scheduler", planned_contracts.c.client_name) == count
                    and await renamed("notifier", notifier_contracts.c.client_name) == count)

        follow_s = await settle(followed)

        started = time.perf_counter()
        exported = await api.get(f"/api/v1/clients/{first}/personal-data")
        export_s = time.perf_counter() - started
        assert exported.status_code == 200
        await api.aclose()
    finally:
        await system.stop()
    print(f"clients past retention: {count} (and {count} with a contract in force)")
    print(f"dry run:                {dry_s:8.2f} s")
    print(f"erasure (contracts):    {erase_s:8.2f} s  ({erase_s / count * 1000:.1f} ms a client, {calls} calls)")
    print(f"  others followed in:   {follow_s:8.2f} s more")
    print(f"one client's export:    {export_s:8.3f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=500)
    asyncio.run(main(parser.parse_args().clients))
