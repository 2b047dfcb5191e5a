"""From `POST /api/v1/contracts` to the contract's first due case visible through `GET /api/v1/cases`, in the
distributed mode: five service processes, RabbitMQ and PostgreSQL, contracts posted at a steady rate.

    .venv/bin/python -m bench.case_latency [--contracts 200] [--rate 10]

Issue 8's target: p95 < 1 s over 200 contracts posted at 10 a second. The baseline measured in the same run is
the gateway's answer to the same `GET /api/v1/cases` the watcher polls (the floor of "visible through the API").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
from aiosmtpd.controller import Controller

from tests.conftest import free_port, wait_for
from tests.distributed.cluster import SERVICE_NAMES, Cluster, running_cluster
from tests.samples import contract, nip_seeds, sole_trader

DEFAULT_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
# 28.11.2026: a contract running from 1.10.2026 owes October's JPK_V7M (due 25.11), requested the moment the
# contract is planned; that is the case the clock runs to.
FROZEN_TIME = "2026-11-28T09:00:00+00:00"
START = "2026-10-01"
TARGET_P95 = 1.0


@dataclass
class Run:
    posted: dict[str, float] = field(default_factory=dict)  # contract id → when its POST was sent
    post_seconds: list[float] = field(default_factory=list)
    seen: dict[str, float] = field(default_factory=dict)  # contract id → when a case of it was first listed
    poll_seconds: list[float] = field(default_factory=list)


class _Sink:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"  # the notifier mails every new case; the bench does not read them


def _quantile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of all values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def _watch(api: httpx.AsyncClient, run: Run, poll: float, stop: asyncio.Event) -> None:
    """One reader listing the cases, as a user's screen would, noting when each contract's first case shows."""
    while not stop.is_set():
        began = time.perf_counter()
        response = await api.get("/api/v1/cases", params={"limit": 1000})
        arrived = time.perf_counter()
        response.raise_for_status()
        run.poll_seconds.append(arrived - began)
        for case in response.json()["items"]:
            run.seen.setdefault(str(case["contract_id"]), arrived)
        await asyncio.sleep(max(0.0, poll - (time.perf_counter() - began)))


async def _post(api: httpx.AsyncClient, run: Run, client_id: int, number: str) -> None:
    sent = time.perf_counter()
    response = await api.post("/api/v1/contracts", json=contract(client_id, number=number, start=START))
    response.raise_for_status()
    run.post_seconds.append(time.perf_counter() - sent)
    run.posted[str(response.json()["id"])] = sent


async def measure(cluster: Cluster, args: argparse.Namespace) -> tuple[Run, int]:
    token = cluster.cli("users", "token", "admin").strip()
    total = args.contracts + args.warmup
    async with cluster.api(token) as api:
        print(f"registering {total} clients …", file=sys.stderr)
        clients = []
        for index, seed in enumerate(nip_seeds(700_000_001, count=total)):
            created = await api.post("/api/v1/clients", json=sole_trader(f"Klient {index}", seed=seed))
            created.raise_for_status()
            clients.append(created.json()["id"])
        run = Run()
        stop = asyncio.Event()
        watcher = asyncio.create_task(_watch(api, run, args.poll, stop))
        try:
            # Warm-up contracts (connections, the rules engine's first match) are posted and not counted.
            for index in range(args.warmup):
                await _post(api, run, clients[index], f"W/{index}")
            warm = set(run.posted)
            await wait_for(lambda: warm <= run.seen.keys(), timeout=120, what="the warm-up contracts' cases")
            run.posted.clear()
            run.post_seconds.clear()
            print(f"posting {args.contracts} contracts at {args.rate}/s …", file=sys.stderr)
            began = time.perf_counter()
            posts = []
            for index in range(args.contracts):
                await asyncio.sleep(max(0.0, began + index / args.rate - time.perf_counter()))
                posts.append(asyncio.create_task(
                    _post(api, run, clients[args.warmup + index], f"L/{index}")))
            await asyncio.gather(*posts)
            with contextlib.suppress(AssertionError):  # what never shows is reported as missing
                await wait_for(lambda: run.posted.keys() <= run.seen.keys(), timeout=args.timeout)
        finally:
            stop.set()
            await watcher
    return run, len(run.posted.keys() - run.seen.keys())


def report(run: Run, missing: int, args: argparse.Namespace) -> None:
    latencies = [run.seen[cid] - sent for cid, sent in run.posted.items() if cid in run.seen]
    polls = run.poll_seconds
    lines = [
        "",
        "bench/case_latency — POST /api/v1/contracts → its first due case in GET /api/v1/cases",
        "  distributed mode: five processes (terminarz serve …), RabbitMQ, PostgreSQL; clock frozen at "
        f"{FROZEN_TIME[:10]}",
        f"  {args.contracts} contracts at {args.rate}/s (after {args.warmup} warm-up contracts); one watcher lists "
        f"the cases every {args.poll * 1000:.0f} ms",
        "",
        f"  {'':<34}{'p50':>9}{'p95':>9}{'max':>9}",
        f"  {'POST → case listed':<34}{_quantile(latencies, .5):>8.3f}s{_quantile(latencies, .95):>8.3f}s"
        f"{max(latencies):>8.3f}s   ({len(latencies)} of {len(run.posted)} seen)",
        f"  {'POST /api/v1/contracts answered':<34}{_quantile(run.post_seconds, .5):>8.3f}s"
        f"{_quantile(run.post_seconds, .95):>8.3f}s{max(run.post_seconds):>8.3f}s",
        f"  {'GET /api/v1/cases (baseline)':<34}{_quantile(polls, .5):>8.3f}s{_quantile(polls, .95):>8.3f}s"
        f"{max(polls):>8.3f}s   ({len(polls)} lists; mean {statistics.fmean(polls):.3f}s)",
        "",
    ]
    p95 = _quantile(latencies, .95)
    verdict = "met" if p95 < TARGET_P95 and not missing else "NOT MET"
    lines.append(f"  target  p95 < {TARGET_P95:.0f} s: {p95:.3f} s"
                 + (f", {missing} contract(s) never showed a case" if missing else "") + f"   {verdict}")
    print("\n".join(lines))


async def main(args: argparse.Namespace) -> int:
    prefix = f"tz_bench_latency_{uuid.uuid4().hex[:8]}"
    base = args.database_url.rsplit("/", 1)[0]
    sink = Controller(_Sink(), hostname="127.0.0.1", port=free_port())
    sink.start()
    try:
        with tempfile.TemporaryDirectory(prefix="terminarz-latency-") as logs:
            async with running_cluster(
                database_url=f"{base}/{prefix}", amqp_url=args.amqp_url, smtp=(sink.hostname, sink.port),
                frozen_time=FROZEN_TIME, log_dir=Path(logs), env={"TERMINARZ_LOG_LEVEL": args.log_level},
                users=(("admin", "admin"), ("maria", "manager"), ("anna", "accountant")), services=SERVICE_NAMES,
            ) as cluster:
                run, missing = await measure(cluster, args)
    finally:
        sink.stop()
        admin = await asyncpg.connect(args.database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            for row in await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", f"{prefix}%"):
                await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
        finally:
            await admin.close()
    report(run, missing, args)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contracts", type=int, default=200, help="contracts measured (200)")
    parser.add_argument("--rate", type=float, default=10.0, help="contracts posted per second (10)")
    parser.add_argument("--warmup", type=int, default=5, help="contracts posted first and not counted (5)")
    parser.add_argument("--poll", type=float, default=0.025, help="seconds between two lists of the cases (0.025)")
    parser.add_argument("--timeout", type=float, default=60.0, help="how long to wait for the last cases (60 s)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE,
                        help="a PostgreSQL server on which fresh databases are made (dropped at the end)")
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP, help="RabbitMQ; the run uses its own exchange and queues")
    parser.add_argument("--log-level", default="INFO", help="the services' log level (INFO, as deployed)")
    args = parser.parse_args(argv)
    if args.contracts < 1 or args.rate <= 0 or args.warmup < 0:
        parser.error("--contracts must be at least 1, --rate positive, --warmup not negative")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
