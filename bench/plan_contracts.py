"""Plan N contracts over the 15-month horizon on PostgreSQL with the default rule pack, the way the scheduler
does it in production, and print the rates beside asyncpg COPY writing the same rows in the same run.

    .venv/bin/python -m bench.plan_contracts [--contracts 10000] [--database-url postgresql+asyncpg://...]

Targets: planning occurrences/s ÷ COPY rows/s ≥ 0.3 on both paths; the 10,000 contracts in under 20 s through
the event path (issue 8) and under 60 s through the bulk path (issue 4).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import random
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from services.common.bus.memory import InMemoryBus
from services.common.clock import ManualClock
from services.common.log import configure_logging, new_correlation_id
from services.common.messages import CONTRACT_CREATED, ContractSnapshot, Envelope, TeamMember
from services.common.migrate import upgrade
from services.common.runtime import ServiceRuntime
from services.common.settings import Settings
from services.scheduler.handlers import HORIZON_MONTHS, LOOKBACK_DAYS, planner_of, tick
from services.scheduler.service import spec

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
TARGET_CONTRACTS = 10_000
TARGET_SECONDS = 60.0  # the bulk path (issue 4)
TARGET_EVENT_SECONDS = 20.0  # the event path (issue 8)
TARGET_RATIO = 0.3
COPY_COLUMNS = ("id", "contract_id", "rule_id", "period", "code", "due", "generate_on", "role", "status",
                "rules_version", "contract_version", "detail", "requested_at", "withdrawn_at", "withdrawn_reason")

# --- realistic contracts ----------------------------------------------------------------------------

STAFF = [TeamMember(login=f"acc{i}", name=f"Księgowa {i}", email=f"acc{i}@biuro.example") for i in range(1, 13)]
PAYROLL = [TeamMember(login=f"kadry{i}", name=f"Kadrowa {i}", email=f"kadry{i}@biuro.example") for i in range(1, 5)]
MANAGERS = [TeamMember(login=f"kier{i}", name=f"Kierownik {i}", email=f"kier{i}@biuro.example") for i in range(1, 4)]


def _nip(rng: random.Random) -> str:
    """A NIP with a valid check digit (the scheduler only checks the format; the contracts service, the sum)."""
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(8)]
        check = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def _start(rng: random.Random) -> date:
    """Start dates through 2025–2026: mostly the first of a month, some mid-month, a few just after today."""
    month = rng.randint(0, 23)
    first = date(2025 + month // 12, month % 12 + 1, 1)
    return first if rng.random() < 0.8 else first + timedelta(days=rng.randint(1, 27))


def contract_terms(rng: random.Random) -> dict[str, Any]:
    """One terms.md document, drawn from the shapes an office has: sole traders on the scale, flat tax or
    ryczałt; partnerships; companies with full books, CIT, VAT-UE, payroll and PPK."""
    shape = rng.choices(["scale", "flat", "ryczalt", "partnership", "llc", "other_legal_person"],
                        weights=[25, 15, 15, 15, 25, 5])[0]
    services = ["bookkeeping"]
    employees = 0
    client: dict[str, Any]
    if shape in ("scale", "flat", "ryczalt"):
        employees = rng.choice([0, 0, 0, 0, 1, 2, 3, 5])
        vat = rng.choice(["monthly", "monthly", "quarterly", "none"] if shape != "ryczalt"
                         else ["none", "none", "monthly", "quarterly"])
        client = {
            "legal_form": "sole_trader",
            "books": "revenue_records" if shape == "ryczalt" else "kpir",
            "income_tax": {"scale": "pit_scale", "flat": "pit_flat", "ryczalt": "pit_ryczalt"}[shape],
            "income_tax_advances": rng.choice(["monthly", "monthly", "quarterly"]
                                              + (["simplified"] if shape != "ryczalt" else [])),
            "vat": vat,
            "vat_eu": vat != "none" and rng.random() < 0.15,
        }
        services += ["income_tax", "zus"] + (["owner_annual_return"] if rng.random() < 0.7 else [])
    elif shape == "partnership":
        form = rng.choice(["civil_partnership", "general_partnership", "professional_partnership",
                           "limited_partnership"])
        cit = form == "limited_partnership"  # sp.k. pays CIT since 2021
        employees = rng.choice([0, 0, 1, 3, 6, 10])
        vat = rng.choice(["monthly", "monthly", "quarterly"])
        client = {
            "legal_form": form,
            "books": "full" if cit or rng.random() < 0.4 else "kpir",
            "income_tax": "cit" if cit else rng.choice(["pit_scale", "pit_flat"]),
            "income_tax_advances": rng.choice(["monthly", "quarterly"]),
            "vat": vat,
            "vat_eu": rng.random() < 0.25,
        }
        services += ["income_tax", "zus"] + (["annual_statements"] if client["books"] == "full" else [])
    else:
        form = "llc" if shape == "llc" else rng.choice(["simple_joint_stock", "joint_stock", "foundation",
                                                         "association"])
        employees = rng.choice([0, 2, 5, 8, 12, 20, 30, 45, 80])
        nonprofit = form in ("foundation", "association")
        vat = "none" if nonprofit and rng.random() < 0.6 else rng.choice(["monthly", "monthly", "quarterly"])
        client = {
            "legal_form": form,
            "krs": f"{rng.randint(1, 999999):010d}",
            "books": "full",
            "income_tax": "cit_estonian" if not nonprofit and rng.random() < 0.12 else "cit",
            "income_tax_advances": rng.choice(["monthly", "monthly", "quarterly"]),
            "vat": vat,
            "vat_eu": vat != "none" and rng.random() < 0.4,
            "ppk": employees > 0 and rng.random() < 0.7,
            "fiscal_year_end": rng.choice(["12-31"] * 8 + ["03-31", "06-30"]),
            "in_krs": True,
            "intrastat": vat != "none" and rng.random() < 0.1,
            "pfron": employees >= 25 and rng.random() < 0.5,
        }
        services += ["income_tax", "zus", "annual_statements"]
    client = {"nip": _nip(rng), **client, "employees": employees}
    if client["vat"] != "none":
        services.append("vat")
    if employees > 0:
        services.append("payroll")
    start = _start(rng)
    # A few contracts are already ending (notice given): their plan stops at the end.
    end = start + timedelta(days=rng.randint(200, 700)) if rng.random() < 0.05 else None
    return {"client": client, "contract": {"services": services, "start": start.isoformat(),
                                           "end": end.isoformat() if end else None}}


def contract_created(rng: random.Random, n: int) -> Envelope:
    """contract.created for contract number n, as the contracts service publishes it."""
    terms = contract_terms(rng)
    has_payroll = "payroll" in terms["contract"]["services"]
    snapshot = ContractSnapshot(
        contract_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        number=f"UM/{n:05d}",
        client_id=str(n),
        client_name=f"Klient {n} {terms['client']['legal_form']}",
        version=1,
        effective_from=date.fromisoformat(terms["contract"]["start"]),
        terms=terms,
        team={"accountant": rng.choice(STAFF), "payroll": rng.choice(PAYROLL) if has_payroll else None,
              "manager": rng.choice(MANAGERS)},
        contact_emails=[f"klient{n}@example.pl"],
    )
    return Envelope(type=CONTRACT_CREATED, producer="contracts", correlation_id=new_correlation_id(),
                    occurred_at=NOW, payload=snapshot.model_dump(mode="json"))


EVENT_PATH = """  path          events: every contract.created published to the bus the consumer reads (InMemoryBus),
                handled in batches of up to {batch} messages, one transaction a batch (inbox claimed in bulk,
                the versions stored, one replan, request_due + outbox in bulk), acked after commit;
                """
ONE_BY_ONE_PATH = """  path          events one by one (--batch 1): ServiceRuntime.on_message(contract.created), one
                message at a time: inbox claim, store the version, replan, request_due (+ outbox), one transaction each;
                """
BULK_PATH = """  path          bulk: the scheduler's tick replans every stored contract from an empty plan,
                1,000 contracts a transaction (one read; COPY per 100 contracts, overlapped with planning
                the next 100), then requests due cases"""


# --- the run --------------------------------------------------------------------------------------

@dataclass
class Figures:
    contracts: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    occurrences: int = 0
    requested: int = 0
    outbox: int = 0
    copy_seconds: list[float] = field(default_factory=list)
    server: dict[str, str] = field(default_factory=dict)
    rules: str = ""

    @property
    def contracts_per_s(self) -> float:
        return self.contracts / self.seconds

    @property
    def occurrences_per_s(self) -> float:
        return self.occurrences / self.seconds

    @property
    def copy_rows_per_s(self) -> float:
        return self.occurrences / statistics.median(self.copy_seconds)

    @property
    def ratio(self) -> float:
        return self.occurrences_per_s / self.copy_rows_per_s


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def plan(settings: Settings, envelopes: list[Envelope], figures: Figures, *, relay: bool, batch: int,
               profile: cProfile.Profile | None) -> None:
    """Feed every contract.created through the scheduler's consumer. Batched: publish them all to the bus the
    scheduler consumes and wait until every one is handled (batches of `batch`, one transaction each). `batch`
    1: call the consumer once per message, one at a time, as before issue 8."""
    bus = InMemoryBus()
    runtime = ServiceRuntime(spec, settings=settings.model_copy(update={"bus_batch": batch}), bus=bus,
                             clock=ManualClock(NOW))
    all_handled = asyncio.Event()
    handled = 0
    one, many = runtime.on_message, runtime.on_batch

    def count(n: int) -> None:
        nonlocal handled
        handled += n
        if handled >= len(envelopes):
            all_handled.set()

    async def counted_one(envelope: Envelope) -> None:  # a lone delivery, or a failed batch's, one by one
        await one(envelope)
        count(1)

    async def counted_many(batch: Sequence[Envelope]) -> None:
        await many(batch)
        count(len(batch))

    # Subscribed with these when the runtime starts consuming.
    runtime.on_message = counted_one  # type: ignore[method-assign]
    runtime.on_batch = counted_many  # type: ignore[method-assign]
    if relay:
        await runtime.start()  # also the outbox relay (publishing to nobody) and the tick loop, as in production
    else:
        await runtime.start_consuming()  # load the rules, subscribe
    try:
        planner = planner_of(runtime.ctx)
        figures.rules = f"{planner.version} ({planner.rule_count} rules)"
        if profile is not None:
            profile.enable()
        cpu, started = time.process_time(), time.perf_counter()
        if batch > 1:
            await bus.publish_many(envelopes)
            await all_handled.wait()
        else:
            for envelope in envelopes:
                await runtime.on_message(envelope)
        figures.seconds = time.perf_counter() - started
        figures.cpu_seconds = time.process_time() - cpu
        if profile is not None:
            profile.disable()
        figures.contracts = len(envelopes)
        if await bus.dead_letter_count() != {spec.name: 0}:
            raise SystemExit(f"dead letters: {await bus.dead_letters()}")
    finally:
        await runtime.stop_work()
        await bus.close()
        await runtime.close()


async def replan_all(settings: Settings, dsn: str, figures: Figures) -> None:
    """The bulk path: a scheduler whose plan is empty (first start beside stored contracts, a restore, a
    rules change that touches everything) replans every contract in its tick, 1,000 contracts a transaction."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM occurrences; DELETE FROM outbox; "
                           "UPDATE planned_contracts SET planned_on = NULL, planned_rules_version = NULL")
        await conn.execute("VACUUM ANALYZE occurrences")
    finally:
        await conn.close()
    runtime = ServiceRuntime(spec, settings=settings, bus=InMemoryBus(), clock=ManualClock(NOW))
    assert spec.setup is not None and spec.teardown is not None
    await spec.setup(runtime.ctx)
    try:
        cpu, started = time.process_time(), time.perf_counter()
        result = await tick(runtime.ctx)
        figures.seconds = time.perf_counter() - started
        figures.cpu_seconds = time.process_time() - cpu
        figures.contracts = result["replanned"]
    finally:
        await spec.teardown(runtime.ctx)
        await runtime.ctx.db.dispose()


async def count(dsn: str, figures: Figures) -> list[asyncpg.Record]:
    """What planning wrote, and the same rows for the COPY baseline."""
    conn = await asyncpg.connect(dsn)
    try:
        figures.occurrences = await conn.fetchval("SELECT count(*) FROM occurrences")
        figures.requested = await conn.fetchval("SELECT count(*) FROM occurrences WHERE status = 'requested'")
        figures.outbox = await conn.fetchval("SELECT count(*) FROM outbox")
        planned = await conn.fetchval("SELECT count(*) FROM planned_contracts WHERE planned_on IS NOT NULL")
        if planned != figures.contracts:
            raise SystemExit(f"only {planned} of {figures.contracts} contracts were planned")
        for name in ("server_version", "synchronous_commit", "fsync", "shared_buffers"):
            figures.server[name] = await conn.fetchval(f"SHOW {name}")
        rows: list[asyncpg.Record] = await conn.fetch(f"SELECT {', '.join(COPY_COLUMNS)} FROM occurrences ORDER BY id")
        return rows
    finally:
        await conn.close()


async def copy_baseline(dsn: str, rows: list[asyncpg.Record], figures: Figures, repeats: int) -> None:
    """The raw rate: the same rows written with COPY into a fresh copy of the table (same indexes and
    constraints), in one transaction, committed."""
    conn = await asyncpg.connect(dsn)
    try:
        for i in range(repeats):
            table = f"occurrences_copy_{i}"
            await conn.execute(f"CREATE TABLE {table} (LIKE occurrences INCLUDING ALL)")
            started = time.perf_counter()
            async with conn.transaction():
                await conn.copy_records_to_table(table, records=rows, columns=COPY_COLUMNS)
            figures.copy_seconds.append(time.perf_counter() - started)
            copied = await conn.fetchval(f"SELECT count(*) FROM {table}")
            assert copied == len(rows), (copied, len(rows))
            await conn.execute(f"DROP TABLE {table}")
    finally:
        await conn.close()


async def drop(admin_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def report(figures: Figures, args: argparse.Namespace, database: str, path: str, target_seconds: float) -> None:
    f = figures
    per_contract = f.occurrences / f.contracts
    projected = TARGET_CONTRACTS / f.contracts_per_s
    copies = ", ".join(f"{s:.2f}" for s in f.copy_seconds)
    lines = [
        "",
        "bench/plan_contracts — plan contracts with the default rule pack on PostgreSQL",
        *path.splitlines(),
        f"  database      {database} (PostgreSQL {f.server['server_version']}, synchronous_commit="
        f"{f.server['synchronous_commit']}, fsync={f.server['fsync']}, shared_buffers={f.server['shared_buffers']})",
        f"  clock         {NOW.date()}; window: {LOOKBACK_DAYS} days back, {HORIZON_MONTHS} months ahead; "
        f"rules {f.rules}; seed {args.seed}",
        "",
        f"  {'contracts':<28}{f.contracts:>12,}",
        f"  {'occurrences planned':<28}{f.occurrences:>12,}   ({per_contract:.1f} per contract)",
        f"  {'cases requested (outbox)':<28}{f.requested:>12,}   ({f.outbox:,} outbox rows)",
        f"  {'wall time':<28}{f.seconds:>12.2f} s ({f.cpu_seconds:.2f} s CPU in this process)",
        f"  {'contracts/s':<28}{f.contracts_per_s:>12,.0f}",
        f"  {'occurrences/s':<28}{f.occurrences_per_s:>12,.0f}",
        f"  {'COPY rows/s (baseline)':<28}{f.copy_rows_per_s:>12,.0f}   (copy_records_to_table of the same "
        f"{f.occurrences:,} rows; median of {len(f.copy_seconds)}: {copies} s)",
        f"  {'ratio planning ÷ COPY':<28}{f.ratio:>12.3f}",
        "",
    ]
    time_line = (f"{TARGET_CONTRACTS:,} contracts in < {target_seconds:.0f} s: "
                 + (f"{f.seconds:.1f} s" if f.contracts == TARGET_CONTRACTS
                    else f"{projected:.1f} s projected from {f.contracts:,}"))
    lines.append(f"  target  {time_line:<58}{'met' if projected < target_seconds else 'NOT MET'}")
    ratio_line = f"ratio ≥ {TARGET_RATIO}: {f.ratio:.3f}"
    lines.append(f"  target  {ratio_line:<58}{'met' if f.ratio >= TARGET_RATIO else 'NOT MET'}")
    print("\n".join(lines))


async def main(args: argparse.Namespace) -> int:
    configure_logging(json=True, level=args.log_level)
    rng = random.Random(args.seed)
    envelopes = [contract_created(rng, n) for n in range(1, args.contracts + 1)]
    base = args.database_url.rsplit("/", 1)[0]
    prefix = f"terminarz_bench_{uuid.uuid4().hex[:8]}"
    settings = Settings(mode="distributed", database_url=f"{base}/{prefix}", rules_dir=ROOT / "rules",
                        scheduler_tick_seconds=3600, log_level=args.log_level)
    database_url = settings.database_url_for("scheduler")
    database = database_url.rsplit("/", 1)[1]
    figures = Figures()
    profile = cProfile.Profile() if args.profile else None
    try:
        await upgrade(settings, ("scheduler",))
        print(f"planning {len(envelopes):,} contracts in {database} …", file=sys.stderr)
        await plan(settings, envelopes, figures, relay=args.relay, batch=args.batch, profile=profile)
        rows = await count(_plain(database_url), figures)
        print(f"copying {len(rows):,} rows with COPY ({args.copy_repeats}×) …", file=sys.stderr)
        await copy_baseline(_plain(database_url), rows, figures, args.copy_repeats)
        bulk: Figures | None = None
        if not args.events_only:
            print(f"replanning {len(envelopes):,} contracts from an empty plan (the tick) …", file=sys.stderr)
            bulk = Figures(copy_seconds=figures.copy_seconds, server=figures.server, rules=figures.rules)
            await replan_all(settings, _plain(database_url), bulk)
            await count(_plain(database_url), bulk)
    finally:
        if not args.keep:
            await drop(_plain(args.database_url), database)
    where = database + (" (kept)" if args.keep else ", dropped")
    event_path = EVENT_PATH.format(batch=args.batch) if args.batch > 1 else ONE_BY_ONE_PATH
    report(figures, args, where, event_path + ("the outbox relay and tick loop running beside it (--relay)"
                                               if args.relay else
                                               "rules loaded as at start; outbox relay and tick loop not running"),
           TARGET_EVENT_SECONDS)
    if bulk is not None:
        report(bulk, args, where, BULK_PATH, TARGET_SECONDS)
    if profile is not None:
        profile.dump_stats(args.profile)
        print(f"\n  profile of the planning phase: {args.profile} (python -m pstats {args.profile})")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contracts", type=int, default=TARGET_CONTRACTS, help="how many contracts (10000)")
    parser.add_argument("--database-url", default=DEFAULT_URL,
                        help="a PostgreSQL URL whose server gets a fresh database (dropped at the end)")
    parser.add_argument("--seed", type=int, default=4, help="seed of the generated contracts (4)")
    parser.add_argument("--batch", type=int, default=Settings().bus_batch,
                        help="messages per transaction on the event path (TERMINARZ_BUS_BATCH, 250); 1: one by one")
    parser.add_argument("--copy-repeats", type=int, default=3, help="COPY runs; the median counts (3)")
    parser.add_argument("--log-level", default="WARNING", help="the service's log level (WARNING)")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the planning phase to FILE")
    parser.add_argument("--relay", action="store_true",
                        help="also run the outbox relay and the tick loop beside the planning (runtime.start())")
    parser.add_argument("--keep", action="store_true", help="keep the database for inspection")
    parser.add_argument("--events-only", action="store_true", help="skip the bulk replan (tick) measurement")
    args = parser.parse_args(argv)
    if args.contracts < 1 or args.copy_repeats < 1 or args.batch < 1:
        parser.error("--contracts, --copy-repeats and --batch must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
