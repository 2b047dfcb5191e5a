"""The morning reminder run for N unconfirmed notices on PostgreSQL, to a local SMTP sink, beside raw aiosmtplib
sending the same messages over as many connections in the same run.

    .venv/bin/python -m bench.notifier_reminders [--notices 10000] [--connections 4]

Issue 10's targets: the 10,000 reminders in under 20 s, and (raw time ÷ our time) ≥ 0.7.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import aiosmtplib
import asyncpg  # type: ignore[import-untyped]

from services.common.accounts import mikrorachunek
from services.common.bus.memory import InMemoryBus
from services.common.clock import ManualClock
from services.common.log import configure_logging
from services.common.migrate import upgrade
from services.common.runtime import ServiceRuntime
from services.common.settings import Settings
from services.notifier import domain, jobs
from services.notifier.delivery import Dispatcher, close_bookkeeping
from services.notifier.mailer import SmtpMailer
from services.notifier.models import notice_items, notice_recipients, notices
from services.notifier.service import spec

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
MORNING = datetime(2026, 11, 28, 7, 5, tzinfo=UTC)  # 08:05 in Warsaw, just after the office's reminder hour
ISSUED = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
TARGET_NOTICES = 10_000
TARGET_SECONDS = 20.0
TARGET_RATIO = 0.7


@dataclass
class Round:
    day: date
    written: int = 0
    job_seconds: float = 0.0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    raw_seconds: float = 0.0
    raw_cpu_seconds: float = 0.0

    @property
    def ratio(self) -> float:
        return self.raw_seconds / self.seconds


@dataclass
class Figures:
    notices: int = 0
    rounds: list[Round] = field(default_factory=list)
    sink_count: int = 0

    def median(self, what: str) -> float:
        return statistics.median(getattr(r, what) for r in self.rounds)


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def seed(runtime: ServiceRuntime, n: int) -> None:
    """N notices issued yesterday, one recipient each, none confirmed: each recipient is due a reminder."""
    now = ISSUED
    account = mikrorachunek(nip="1234563218")
    rows, items, recipients = [], [], []
    for i in range(n):
        notice_id = str(uuid.uuid4())
        transfer = domain.transfer_for("vat", Decimal("1234.56"), "2026-10", "VAT-7",
                                       domain.ClientIdentity(name=f"Klient {i}", accounts={"mikrorachunek": account}))
        rows.append({"id": notice_id, "kind": "liability", "client_id": f"c{i}",
                     "client_name": f"Klient {i} sp. z o.o.", "contract_id": f"k{i}", "period": "2026-10",
                     "status": "issued", "requires_confirmation": True,
                     "due": date(2026, 11, 25), "issued_at": now, "created_at": now, "updated_at": now,
                     "accountant": {"login": "anna", "name": "Anna Nowak", "email": "anna@biuro.example"}})
        items.append({"notice_id": notice_id, "case_id": str(uuid.uuid4()), "revision": 1, "kind": "vat",
                      "amount": Decimal("1234.56"), "due": date(2026, 11, 25), "form": "VAT-7", "period": "2026-10",
                      "account": transfer.account, "account_kind": transfer.account_kind, "payee": transfer.payee,
                      "transfer_title": transfer.title, "tax_fields": transfer.tax_fields,
                      "qr_payload": transfer.qr_payload, "status": "active", "position": 0})
        recipients.append({"notice_id": notice_id, "email": f"klient{i}@firma{i % 97}.example", "name": f"Jan {i}",
                           "language": "pl", "token": secrets.token_urlsafe(32), "status": "delivered",
                           "first_sent_at": now})
    async with runtime.ctx.db.transaction() as session:
        for start in range(0, n, 2000):
            await session.execute(notices.insert(), rows[start:start + 2000])
            await session.execute(notice_items.insert(), items[start:start + 2000])
            await session.execute(notice_recipients.insert(), recipients[start:start + 2000])


async def our_run(runtime: ServiceRuntime, dsn: str, figures: Round) -> None:
    """The reminder job and the mail dispatcher in one process, as the notifier runs them: the job writes the
    reminders 500 recipients a transaction; the dispatcher claims and sends them meanwhile. Done when nothing
    waits or is being sent (asked through the partial indexes of the queue, 20 times a second)."""
    dispatcher = asyncio.create_task(Dispatcher(runtime.ctx, SmtpMailer(runtime.ctx.settings)).run())
    conn = await asyncpg.connect(dsn)
    busy = ("SELECT EXISTS (SELECT 1 FROM mails WHERE status = 'pending') "
            "OR EXISTS (SELECT 1 FROM mails WHERE status = 'sending')")
    try:
        cpu, started = time.process_time(), time.perf_counter()
        figures.written = await jobs.send_reminders(runtime.ctx)
        figures.job_seconds = time.perf_counter() - started
        while await conn.fetchval(busy):
            if dispatcher.done():
                dispatcher.result()  # raises what stopped it
                raise SystemExit("the dispatcher stopped")
            await asyncio.sleep(0.05)
        figures.seconds = time.perf_counter() - started
        figures.cpu_seconds = time.process_time() - cpu
        sent = await conn.fetchval("SELECT count(*) FROM mails m JOIN mail_claims c ON c.mail_id = m.id "
                                   "WHERE c.day = $1 AND m.status = 'sent'", figures.day)
        if sent != figures.written:
            raise SystemExit(f"{figures.written} reminders written on {figures.day}, {sent} sent")
    finally:
        dispatcher.cancel()
        try:
            await dispatcher
        except asyncio.CancelledError:
            pass
        await conn.close()


async def raw_run(dsn: str, port: int, connections: int, figures: Round) -> None:
    """The baseline: the same messages (bytes, recipients) sent with aiosmtplib over as many connections."""
    conn = await asyncpg.connect(dsn)
    try:
        messages = [(r["to_address"], r["raw"]) for r in await conn.fetch(
            "SELECT m.to_address, m.raw FROM mails m JOIN mail_claims c ON c.mail_id = m.id WHERE c.day = $1 "
            "ORDER BY m.created_at", figures.day)]
    finally:
        await conn.close()
    todo = list(reversed(messages))

    async def sender() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await smtp.connect()
        try:
            while todo:
                to_address, raw = todo.pop()
                await smtp.sendmail("biuro@bilans.example", [to_address], raw)
        finally:
            await smtp.quit()

    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(connections)))
    figures.raw_seconds = time.perf_counter() - started
    figures.raw_cpu_seconds = time.process_time() - cpu


def start_sink(port: int, count_file: Path) -> subprocess.Popen[bytes]:
    sink = subprocess.Popen([sys.executable, "-m", "bench.smtp_sink", "--port", str(port), "--count-file",
                             str(count_file)], stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1])
    assert sink.stdout is not None
    if sink.stdout.readline().strip() != b"ready":
        raise SystemExit("the SMTP sink did not start")
    return sink


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def main(args: argparse.Namespace) -> Figures:
    name = f"terminarz_bench_{uuid.uuid4().hex[:8]}"
    base = args.database_url.rsplit("/", 1)[0]
    port = free_port()
    count_file = Path(tempfile.mkdtemp()) / "sink.count"
    sink = start_sink(port, count_file)
    settings = Settings(database_url=f"{base}/{name}", smtp_host="127.0.0.1", smtp_port=port,
                        smtp_connections=args.connections, mail_from="Biuro Rachunkowe Bilans <biuro@bilans.example>",
                        office_name="Bilans", links_url="https://biuro.example")
    figures = Figures(notices=args.notices)
    dsn = _plain(settings.database_url_for("notifier"))
    try:
        await upgrade(settings, ("notifier",))
        clock = ManualClock(MORNING)
        runtime = ServiceRuntime(spec, settings=settings, bus=InMemoryBus(), clock=clock)
        try:
            await seed(runtime, args.notices)
            analyze = await asyncpg.connect(dsn)
            try:  # statistics, as a database in service has them
                await analyze.execute("VACUUM ANALYZE")
            finally:
                await analyze.close()
            # Each round is the next morning: ours, then raw on the same messages, back to back (the machine
            # may be shared: each ratio compares two runs a few seconds apart).
            for n in range(args.rounds):
                clock.set(MORNING + timedelta(days=n))
                this = Round(day=clock.today())
                await our_run(runtime, dsn, this)
                await raw_run(dsn, port, args.connections, this)
                figures.rounds.append(this)
        finally:
            await close_bookkeeping(runtime.ctx)
            await runtime.ctx.db.dispose()
    finally:
        sink.terminate()
        sink.wait(timeout=30)
        if not args.keep:
            admin = await asyncpg.connect(_plain(args.database_url))
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}_notifier" WITH (FORCE)')
            finally:
                await admin.close()
    figures.sink_count = int(count_file.read_text()) if count_file.exists() else -1
    return figures


def report(f: Figures, args: argparse.Namespace) -> bool:
    seconds, ratio = f.median("seconds"), f.median("ratio")
    written = f.rounds[0].written
    projected = seconds * TARGET_NOTICES / written
    time_ok = projected < TARGET_SECONDS
    ratio_ok = ratio >= TARGET_RATIO
    lines = [
        "",
        "bench/notifier_reminders — the morning reminder run on PostgreSQL to a local SMTP sink",
        f"  {f.notices:,} unconfirmed notices, one recipient each; {args.connections} SMTP connections; "
        f"{os.cpu_count()} CPUs; {len(f.rounds)} mornings",
        "",
        f"  {'morning':<12}{'written':>9}{'job s':>8}{'ours s':>8}{'ours/s':>8}{'CPU s':>7}"
        f"{'raw s':>8}{'raw/s':>8}{'raw CPU':>8}{'ratio':>7}",
    ]
    for r in f.rounds:
        lines.append(f"  {r.day.isoformat():<12}{r.written:>9,}{r.job_seconds:>8.2f}{r.seconds:>8.2f}"
                     f"{r.written / r.seconds:>8,.0f}{r.cpu_seconds:>7.2f}{r.raw_seconds:>8.2f}"
                     f"{r.written / r.raw_seconds:>8,.0f}{r.raw_cpu_seconds:>8.2f}{r.ratio:>7.3f}")
    lines += [
        "",
        "  job s: the reminder job writing them (rendered, MIME built, stored with their claims); ours s: until the",
        "  last is accepted by the server (the dispatcher sends while the job writes); raw: aiosmtplib sending the",
        "  same messages over as many connections; ratio: raw time ÷ our time.",
        f"  messages at the sink: {f.sink_count:,} ({2 * sum(r.written for r in f.rounds):,} expected)",
        "",
        f"  target  {TARGET_NOTICES:,} reminders in < {TARGET_SECONDS:.0f} s (median): {seconds:.1f} s"
        f"{'' if written == TARGET_NOTICES else f' ({projected:.1f} s projected)'}   "
        f"{'met' if time_ok else 'NOT MET'}",
        f"  target  ratio ≥ {TARGET_RATIO} (median): {ratio:.2f}   {'met' if ratio_ok else 'NOT MET'}",
        "",
    ]
    print("\n".join(lines))
    return time_ok and ratio_ok


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=TARGET_NOTICES)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="mornings measured (ours, then raw); medians count")
    parser.add_argument("--database-url", default=os.environ.get("TERMINARZ_BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--keep", action="store_true", help="keep the database for inspection")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    configure_logging(json=False, level=args.log_level)
    figures = asyncio.run(main(args))
    sys.exit(0 if report(figures, args) else 1)


if __name__ == "__main__":
    cli()
