"""The reports on a sizeable office in the embedded mode (SQLite): how long each takes through the gateway API, beside
a plain list of 100 cases measured in the same run.

    .venv/bin/python -m bench.reports [--contracts 500] [--repeat 3]

The contracts come from a CSV import; the cases (24 per contract over the last 12 months, a mix of statuses) and
the notices (one a month per contract, two liabilities each) are written straight into the services' tables, as
their handlers would leave them. No rules are loaded besides offboarding, so nothing else is generated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from services.cases.models import cases
from services.common.bus.memory import InMemoryBus
from services.common.clock import ManualClock
from services.common.log import configure_logging
from services.common.migrate import upgrade
from services.common.settings import SERVICES, Settings
from services.gateway import users
from services.notifier.models import notice_items, notices
from services.system import EmbeddedSystem
from tests.unit.contracts.testdata import csv_row, to_csv

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
STAFF = [(f"acc{i}", "accountant") for i in range(6)] + [("payroll1", "payroll"), ("boss", "manager"),
                                                         ("admin", "admin")]
KINDS = ("vat", "pit", "cit", "zus", "ppk", "pfron")


def _rows(contracts: list[dict[str, Any]], seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                                list[dict[str, Any]]]:
    rng = random.Random(seed)
    case_rows, notice_rows, item_rows = [], [], []
    today = NOW.date()
    for c in contracts:
        for month in range(12):
            first = date(2025 + (11 + month) // 12, (11 + month) % 12 + 1, 1)
            for n in range(2):
                due = first + timedelta(days=14 + 5 * n)
                status = rng.choice(("done", "done", "done", "open", "in_progress", "not_applicable", "withdrawn"))
                completed = datetime.combine(due + timedelta(days=rng.randint(-5, 3)), datetime.min.time(),
                                             UTC) + timedelta(hours=10)
                case_rows.append({
                    "id": str(uuid.uuid4()), "contract_id": str(c["id"]), "contract_number": c["number"],
                    "client_name": c["client_name"], "rule_id": f"bench.{n}", "period": f"{first:%Y-%m}",
                    "title": "Sprawa", "title_en": "", "due": due, "status": status,
                    "assignee_login": c["team"]["accountant"], "assignee_name": c["team"]["accountant"],
                    "assignee_email": "", "commissioner_name": "", "checklist": [], "notice": [],
                    "late_on_creation": False, "created_at": NOW, "updated_at": NOW,
                    "completed_at": completed if status == "done" and completed.date() <= today else None})
            issued = datetime.combine(first + timedelta(days=rng.randint(5, 25)), datetime.min.time(), UTC)
            if issued > NOW:
                continue
            notice_id = str(uuid.uuid4())
            confirmed = rng.random() < 0.7
            notice_rows.append({
                "id": notice_id, "kind": "liability", "client_id": str(c["client_id"]),
                "client_name": c["client_name"], "contract_id": str(c["id"]), "period": f"{first:%Y-%m}",
                "status": "confirmed" if confirmed else "issued", "requires_confirmation": True,
                "due": first + timedelta(days=24), "issued_at": issued,
                "confirmed_at": issued + timedelta(days=1) if confirmed else None, "created_at": issued,
                "updated_at": issued})
            for position, kind in enumerate(rng.sample(KINDS, 2)):
                item_rows.append({"notice_id": notice_id, "kind": kind,
                                  "amount": Decimal(rng.randint(100, 500000)) / 100, "due": first + timedelta(days=24),
                                  "account_kind": "mikrorachunek", "status": "active", "position": position})
    return case_rows, notice_rows, item_rows


async def _unpublished(system: EmbeddedSystem) -> int:
    total = 0
    for runtime in system.runtimes.values():
        outbox = runtime.spec.outbox
        async with runtime.ctx.db.reading() as session:
            total += int(await session.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))) or 0)
    return total


async def _timed(api: httpx.AsyncClient, path: str, repeat: int, **params: str) -> tuple[float, float, int]:
    """Median wall time and process CPU time of one request (the machine is shared: CPU time is the steadier
    figure), and the answer's size."""
    times, cpu, size = [], [], 0
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = await api.get(path, params=params)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.text[:500]}")
        size = len(response.content)
    return statistics.median(times), statistics.median(cpu), size


async def main(args: argparse.Namespace) -> None:
    configure_logging(json=True, level="WARNING")
    with tempfile.TemporaryDirectory(prefix="terminarz-bench-") as tmp:
        rules = Path(tmp) / "rules"
        rules.mkdir()
        shutil.copy(ROOT / "rules" / "offboarding.yaml", rules)
        settings = Settings(data_dir=Path(tmp) / "data", rules_dir=rules, scheduler_tick_seconds=3600)
        await upgrade(settings, SERVICES)
        clock = ManualClock(NOW)
        bus = InMemoryBus()
        system = EmbeddedSystem(settings, clock=clock, bus=bus)
        await system.start()
        try:
            async with system.gateway.ctx.db.transaction() as session:
                for login, role in STAFF:
                    await users.create_user(session=session, login=login, name=login, role=role, password=None,
                                            email=f"{login}@biuro.example", now=clock.now())
                token = await users.issue_token(session=session, login="boss", name="bench", now=clock.now())
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=system.gateway.app), base_url="http://gw",
                                         headers={"Authorization": f"Bearer {token}"}, timeout=600) as api:
                text = to_csv([{**csv_row(i), "start": "2025-12-01", "signed_on": "2025-11-20"}
                               for i in range(args.contracts)])
                imported = await api.post("/api/v1/imports/apply", content=text.encode(),
                                          headers={"Content-Type": "text/csv"})
                if imported.status_code != 201:
                    raise SystemExit(f"import refused: {imported.status_code} {imported.text[:1000]}")
                contracts: list[dict[str, Any]] = []
                while len(contracts) < args.contracts:
                    page = (await api.get("/api/v1/contracts", params={"limit": 500,
                                                                       "offset": len(contracts)})).json()
                    contracts += page["items"]
                deadline = time.perf_counter() + 600
                while not bus.idle() or await _unpublished(system):  # time the reports alone, not the import's events
                    if time.perf_counter() > deadline:
                        raise SystemExit("the bus did not drain in 600 s")
                    await asyncio.sleep(0.2)
                case_rows, notice_rows, item_rows = _rows(contracts, seed=11)
                async with system.runtimes["cases"].ctx.db.transaction() as session:
                    await session.execute(cases.insert(), case_rows)
                async with system.runtimes["notifier"].ctx.db.transaction() as session:
                    await session.execute(notices.insert(), notice_rows)
                    await session.execute(notice_items.insert(), item_rows)
                print(f"bench/reports — {args.contracts:,} contracts, {len(case_rows):,} cases, "
                      f"{len(notice_rows):,} notices with {len(item_rows):,} liabilities; embedded (SQLite), "
                      f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; median of {args.repeat}")
                measured = [
                    ("baseline: GET /api/v1/cases?limit=100", await _timed(api, "/api/v1/cases", args.repeat,
                                                                          limit="100")),
                    ("financial summary (JSON)", await _timed(api, "/api/v1/reports/financial", args.repeat,
                                                              month="2026-11")),
                    ("financial summary (XLSX)", await _timed(api, "/api/v1/reports/financial", args.repeat,
                                                              month="2026-11", format="xlsx")),
                    ("execution, 12 months", await _timed(api, "/api/v1/reports/execution", args.repeat)),
                    ("overdue", await _timed(api, "/api/v1/reports/overdue", args.repeat)),
                    ("workload", await _timed(api, "/api/v1/reports/workload", args.repeat)),
                ]
                if args.profile:
                    import cProfile
                    import pstats

                    profile = cProfile.Profile()
                    profile.enable()
                    await api.get("/api/v1/reports/financial", params={"month": "2026-11"})
                    profile.disable()
                    pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
                print(f"  {'':<42}{'wall':>9}    {'CPU':>9}    {'answer':>9}")
                for name, (seconds, cpu, size) in measured:
                    print(f"  {name:<42}{seconds * 1000:>9.0f} ms {cpu * 1000:>9.0f} ms {size / 1024:>9.0f} KiB")
        finally:
            await system.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one financial summary (JSON)")
    asyncio.run(main(parser.parse_args()))
