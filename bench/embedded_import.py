"""A CSV import of N contracts in the embedded mode, timed until the scheduler has planned every one of them,
once per bus: the in-memory bus alone (messages in memory only: what the embedded mode ran before it kept
its messages in `data/bus.db`) and the durable bus the embedded mode runs now. Same machine, same run.

    .venv/bin/python -m bench.embedded_import [--contracts 10000] [--bus memory durable] [--repeat 1]

The machine is shared and its load moves: `--repeat N` alternates the buses N times and prints the median.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import func, select

from services.common.bus.memory import InMemoryBus
from services.common.clock import ManualClock
from services.common.log import configure_logging
from services.common.migrate import upgrade
from services.common.settings import SERVICES, Settings
from services.gateway import users
from services.scheduler.models import planned_contracts
from services.system import EmbeddedSystem
from tests.unit.contracts.testdata import csv_row, to_csv

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
# The logins csv_row puts on the contracts' teams: they must be users for the import to pass.
STAFF = [(f"acc{i}", "accountant") for i in range(6)] + [("payroll1", "payroll"), ("boss", "manager"),
                                                         ("admin", "admin")]


@dataclass
class Run:
    bus: str
    load: float = 0.0  # the 1-minute load average when the run started
    import_seconds: float = 0.0
    planned_seconds: float = 0.0
    drained_seconds: float = 0.0
    cases: int = 0


async def _count(system: EmbeddedSystem) -> int:
    async with system.runtimes["scheduler"].ctx.db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(planned_contracts)) or 0)


async def one_run(kind: str, text: str, contracts: int, workdir: Path, timeout: float) -> Run:
    settings = Settings(data_dir=workdir / kind / "data", rules_dir=ROOT / "rules", scheduler_tick_seconds=3600,
                        outbox_poll_seconds=2.0)
    await upgrade(settings, SERVICES)
    bus = InMemoryBus(path=settings.data_dir / "bus.db") if kind == "durable" else InMemoryBus()
    clock = ManualClock(NOW)
    system = EmbeddedSystem(settings, clock=clock, bus=bus)
    await system.start()
    run = Run(kind, load=os.getloadavg()[0])
    try:
        async with system.gateway.ctx.db.transaction() as session:
            for login, role in STAFF:
                await users.create_user(session=session, login=login, name=login, email=f"{login}@biuro.example",
                                        role=role, password=None, now=clock.now())
            token = await users.issue_token(session=session, login="admin", name="bench", now=clock.now())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=system.gateway.app), base_url="http://gw",
                                     headers={"Authorization": f"Bearer {token}"}, timeout=600) as api:
            started = time.perf_counter()
            response = await api.post("/api/v1/imports/apply", content=text.encode(),
                                      headers={"Content-Type": "text/csv"})
            run.import_seconds = time.perf_counter() - started
            if response.status_code != 201:
                raise SystemExit(f"import refused: {response.status_code} {response.text[:2000]}")
        deadline = started + timeout
        while await _count(system) < contracts:
            if time.perf_counter() > deadline:
                raise SystemExit(f"{kind}: only {await _count(system)} of {contracts} planned after {timeout:.0f} s")
            await asyncio.sleep(0.1)
        run.planned_seconds = time.perf_counter() - started
        while not bus.idle() or await _unpublished(system):
            if time.perf_counter() > deadline:
                raise SystemExit(f"{kind}: the bus did not drain in {timeout:.0f} s")
            await asyncio.sleep(0.1)
        run.drained_seconds = time.perf_counter() - started
        async with system.runtimes["cases"].ctx.db.reading() as session:
            run.cases = int(await session.scalar(select(func.count()).select_from(
                system.runtimes["cases"].spec.metadata.tables["cases"])) or 0)
    finally:
        await system.stop()
    return run


async def _unpublished(system: EmbeddedSystem) -> int:
    total = 0
    for runtime in system.runtimes.values():
        outbox = runtime.spec.outbox
        async with runtime.ctx.db.reading() as session:
            total += int(await session.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))) or 0)
    return total


async def main(args: argparse.Namespace) -> int:
    configure_logging(json=True, level=args.log_level)
    text = to_csv([csv_row(i) for i in range(args.contracts)])
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="terminarz-bench-") as tmp:
        for round_ in range(args.repeat):
            for kind in args.bus:
                print(f"{kind} #{round_ + 1}: importing {args.contracts:,} contracts …", file=sys.stderr)
                runs.append(await one_run(kind, text, args.contracts, Path(tmp) / str(round_), args.timeout))
    print(f"\nbench/embedded_import — a CSV import of {args.contracts:,} contracts in the embedded mode "
          f"(SQLite, clock {NOW.date()}, {os.cpu_count()} CPUs)")
    print(f"  {'bus':<10}{'load':>6}{'import (HTTP)':>15}{'all planned':>14}{'bus drained':>14}{'cases':>10}")
    for r in runs:
        print(f"  {r.bus:<10}{r.load:>6.1f}{r.import_seconds:>13.1f} s{r.planned_seconds:>12.1f} s"
              f"{r.drained_seconds:>12.1f} s{r.cases:>10,}")
    medians = {kind: (statistics.median(r.planned_seconds for r in runs if r.bus == kind),
                      statistics.median(r.drained_seconds for r in runs if r.bus == kind)) for kind in args.bus}
    if args.repeat > 1:
        for kind, (planned, drained) in medians.items():
            print(f"  {kind:<10}{'median':>21}{planned:>12.1f} s{drained:>12.1f} s")
    base = args.bus[0]
    for kind in args.bus[1:]:
        print(f"  {kind} ÷ {base}: all planned ×{medians[kind][0] / medians[base][0]:.2f}, "
              f"bus drained ×{medians[kind][1] / medians[base][1]:.2f}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contracts", type=int, default=10_000, help="how many contracts (10000)")
    parser.add_argument("--bus", nargs="+", choices=("memory", "durable"), default=["memory", "durable"],
                        help="which buses, in this order; the first is the baseline (memory durable)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over the buses; medians are compared (1)")
    parser.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds (1800)")
    parser.add_argument("--log-level", default="WARNING", help="the services' log level (WARNING)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
