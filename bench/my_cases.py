""""My cases" in the distributed mode: `GET /api/v1/cases?mine=true&status=open` through the gateway (a bearer
token per user, the gateway's visibility rule, the cases service's query) over 1,000,000 cases in PostgreSQL.

    .venv/bin/python -m bench.my_cases [--cases 1000000] [--staff 200] [--contracts 10000]

(a) 50 users, each calling it once a second (closed loop, 1 s think time): p50/p95 of the call; target p95 < 50 ms.
(b) No think time: calls per second through the gateway beside a bare endpoint (one process, no auth, no second
    hop) running the same SQL — the cases service's own `views.find_cases` with the same scope and filter — in the
    same run; target ratio >= 0.5. Also, at the same time, the bare endpoint selecting only the list's own
    columns (LIST_COLUMNS: what the page and the calendar feed show) against every column (`cases.*`, what the
    API answers): whether narrowing the page would pay.
The cases are written straight into the cases database with one INSERT … SELECT FROM generate_series (not through
events), each with a checklist, notice and required attachment as the VAT rule gives them; the gateway's users,
tokens and contract teams straight into its database. The query plans (EXPLAIN ANALYZE of the page and of the
counts per status the API runs) are printed, and the machine's load average beside the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg  # type: ignore[import-untyped]
import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from services.cases.models import cases
from services.cases.views import CaseFilter, find_cases, statements
from services.common.db import Database
from services.common.scope import Scope
from tests.conftest import free_port
from tests.distributed.cluster import TERMINARZ, Cluster

DEFAULT_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
FROZEN_TIME = "2026-11-28T09:00:00+00:00"  # a Saturday: the morning job has nothing to do during the run
TODAY = date(2026, 11, 28)
PAGE = 100  # the API's default page
TARGET_P95_MS = 50.0
TARGET_RATIO = 0.5


def staff_login(n: int) -> str:
    return f"staff{n:03d}"


def contracts_of(login: str, staff: int, contracts: int) -> list[str]:
    """Contract k (1-based) has staff((k - 1) % staff) on its team."""
    n = int(login.removeprefix("staff"))
    return [str(k) for k in range(n + 1, contracts + 1, staff)]


# The monthly VAT rule's checklist (rules/vat.yaml) as a case keeps it.
CHECKLIST = json.dumps([
    {"item": "Zaksięguj faktury sprzedaży i zakupu za miesiąc (KSeF)", "done": True},
    {"item": "Uzgodnij VAT należny i naliczony", "done": False},
    {"item": "Wyślij JPK_V7M i pobierz UPO", "required": True, "done": False},
    {"item": "Przekaż klientowi kwotę VAT do zapłaty na mikrorachunek", "done": False},
], ensure_ascii=False).replace("'", "''")


def load_sql(count: int, staff: int, contracts: int) -> str:
    """Cases over ~600 days of due dates (June 2025 to January 2027), 100 per contract; those due before
    November 2026 done, the rest open (every fifth in progress); every 20th commissioned by a colleague."""
    per_contract = max(1, count // contracts)
    step = max(1, 600 // per_contract)
    return f"""
    INSERT INTO cases (id, contract_id, contract_number, client_name, rule_id, code, period, rules_version,
        contract_version, title, title_en, due, generate_on, status, role, assignee_login, assignee_name,
        assignee_email, commissioner_login, commissioner_name, commissioner_email, checklist, notice, created_at,
        updated_at, completed_at, late_on_creation, deadline_state, requires)
    SELECT md5(i::text)::uuid::text, (i % {contracts} + 1)::text, (i % {contracts} + 1) || '/2025',
        'Klient ' || (i % {contracts} + 1), 'r' || (i / {contracts}), 'VAT', 'p' || (i / {contracts}), 'bench', 1,
        'Sprawa ' || i, 'Case ' || i, d.due, d.due - 10,
        CASE WHEN d.due < date '2026-11-01' THEN 'done' WHEN i % 5 = 0 THEN 'in_progress' ELSE 'open' END,
        'accountant', 'staff' || lpad(((i % {contracts}) % {staff})::text, 3, '0'), 'Pracownik', 'p@biuro.example',
        CASE WHEN i % 20 = 0 THEN 'staff' || lpad((((i % {contracts}) + 1) % {staff})::text, 3, '0') END,
        '', '', '{CHECKLIST}'::json, '["vat"]'::json, d.due - 20, d.due - 20,
        CASE WHEN d.due < date '2026-11-01' THEN d.due::timestamptz END, false,
        CASE WHEN d.due < date '2026-11-28' AND d.due >= date '2026-11-01' THEN 'overdue' ELSE 'on_time' END,
        '["upo"]'::json
    FROM generate_series(0, {count - 1}) AS i,
         LATERAL (SELECT date '2025-06-02' + ((i / {contracts}) * {step} + (i % 7)) AS due) AS d
    """


async def load(cluster: Cluster, args: argparse.Namespace) -> dict[str, str]:
    """Cases into the cases database, users with tokens and contract teams into the gateway's; the tokens."""
    base = cluster.env["TERMINARZ_DATABASE_URL"].replace("postgresql+asyncpg", "postgresql")
    began = time.perf_counter()
    conn = await asyncpg.connect(base + "_cases")
    try:
        await conn.execute(load_sql(args.cases, args.staff, args.contracts))
        await conn.execute("VACUUM (ANALYZE) cases")  # as autovacuum leaves it: index-only scans see it
        n = await conn.fetchval("SELECT count(*) FROM cases")
        open_n = await conn.fetchval("SELECT count(*) FROM cases WHERE status IN ('open', 'in_progress')")
        # An index-only scan reads the heap for every page not marked all-visible. The INSERT commits
        # synchronously: a VACUUM right after an asynchronous commit (synchronous_commit = off, as this bench
        # loaded until 2026-11-30) may not mark the pages, and every count then reads each case's page.
        visible, pages = await conn.fetchrow("SELECT relallvisible, relpages FROM pg_class WHERE relname = 'cases'")
    finally:
        await conn.close()
    print(f"loaded {n:,} cases ({open_n:,} open or in progress) in {time.perf_counter() - began:.1f} s; "
          f"{visible:,} of {pages:,} pages all-visible after VACUUM")

    from services.gateway import users
    from services.gateway.models import contract_access

    engine = create_async_engine(cluster.env["TERMINARZ_DATABASE_URL"] + "_gateway")
    tokens: dict[str, str] = {}
    now = datetime.now(UTC)
    async with async_sessionmaker(engine)() as session, session.begin():
        for n in range(args.staff):
            login = staff_login(n)
            await users.create_user(session=session, login=login, name=f"Pracownik {n}",
                                    email=f"{login}@biuro.example", role="accountant", password=None, now=now)
            tokens[login] = await users.issue_token(session=session, login=login, name="bench", now=now)
        await session.execute(contract_access.insert(), [
            {"contract_id": k, "client_id": k, "version": 1, "effective_from": date(2025, 1, 1), "role": "accountant",
             "login": staff_login((k - 1) % args.staff)} for k in range(1, args.contracts + 1)])
    await engine.dispose()
    return tokens


# What the "my cases" page and the calendar feed show of a case, and what a row links, filters and sorts by: the
# narrowed page measured against `cases.*` (the JSON checklist, notice, requires and liabilities left out).
LIST_COLUMNS = tuple(cases.c[name] for name in (
    "id", "contract_id", "contract_number", "client_id", "client_name", "rule_id", "code", "period", "title",
    "title_en", "due", "status", "deadline_state", "late_on_creation", "role", "assignee_login", "assignee_name",
    "commissioner_login", "commissioner_name", "substitute_login", "substitute_name"))


def the_filter(login: str) -> CaseFilter:
    """What `GET /api/v1/cases?mine=true&status=open` asks the cases service for."""
    return CaseFilter(mine_of=login, status="open", limit=PAGE)


def the_query(login: str, scope: Scope) -> tuple[Any, Any]:
    """The page and the counts per status `views.find_cases` runs for `mine=true&status=open` (same conditions,
    same order)."""
    return statements(scope, the_filter(login), TODAY)


async def explain(url: str, args: argparse.Namespace) -> None:
    login = staff_login(7)
    scope = Scope(login=login, role="accountant", contracts=contracts_of(login, args.staff, args.contracts))
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        for name, query in zip(("page", "counts per status"), the_query(login, scope), strict=True):
            sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
            plan = (await conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql))).scalars().all()
            print(f"\n--- EXPLAIN ANALYZE, {name} of {login}'s open cases ({len(scope.contracts or [])} contracts "
                  f"in scope)\n" + "\n".join(plan))
    await engine.dispose()


# --- The bare endpoint: the same SQL in one process, no gateway, no auth ---------------------------------

@asynccontextmanager
async def _bare_lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.db = Database(os.environ["BENCH_CASES_DB"])  # the services' own pool and reading sessions
    yield
    await app.state.db.dispose()


bare_app = FastAPI(lifespan=_bare_lifespan)


@bare_app.get("/bare")
async def bare(login: str, every_column: bool = True) -> dict[str, Any]:
    """The cases service's list for `mine=true&status=open`, as the API runs it; `every_column=false`: only
    LIST_COLUMNS of each case."""
    staff, contracts = int(os.environ["BENCH_STAFF"]), int(os.environ["BENCH_CONTRACTS"])
    scope = Scope(login=login, role="accountant", contracts=contracts_of(login, staff, contracts))
    async with bare_app.state.db.reading() as session:
        return await find_cases(session, scope, the_filter(login), TODAY,
                                columns=None if every_column else LIST_COLUMNS)


# --- Load ------------------------------------------------------------------------------------------------


class KeepAlive:
    """A caller: one HTTP/1.1 keep-alive connection making GET requests, with asyncio's streams only. The load
    generator shares the machine's CPUs with what it measures, so it is kept lean: 0.3 ms of CPU a call (measured
    beside 5-7 ms in each of the gateway and the cases service), where a general client parses and checks more."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        address = url.removeprefix("http://").rstrip("/")
        self.host, _, port = address.partition(":")
        self.port = int(port or 80)
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in {"Host": address, **(headers or {})}.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, params: dict[str, str] | None = None,
                  headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """The status and body of `GET path?params`."""
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        target = path + ("?" + urlencode(params) if params else "")
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.writer.write(f"GET {target} HTTP/1.1\r\n{self.headers}{extra}\r\n".encode("latin-1"))
        status = int((await self.reader.readline()).split()[1])
        length = None
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length is None:
            raise AssertionError(f"GET {target}: no Content-Length in the answer ({status})")
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


def load_average() -> float:
    return os.getloadavg()[0]


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def think_time_users(port: int, tokens: dict[str, str], users_n: int, seconds: float) -> list[float]:
    """`users_n` users, each: call, wait 1 s, call again (closed loop) for `seconds`; the call durations."""
    durations: list[float] = []
    logins = sorted(tokens)[:users_n]
    deadline = time.perf_counter() + seconds

    async def user(login: str) -> None:
        api = KeepAlive(f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {tokens[login]}"})
        try:
            await asyncio.sleep(hash(login) % 1000 / 1000)  # spread the first calls over a second
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                status, body = await api.get("/api/v1/cases", {"mine": "true", "status": "open"})
                durations.append(time.perf_counter() - began)
                if status != 200:
                    raise AssertionError(f"{status} {body[:300]!r}")
                await asyncio.sleep(1.0)
        finally:
            await api.close()

    await asyncio.gather(*(user(login) for login in logins))
    return durations


def _params(login: str, bare: bool, list_columns: bool) -> dict[str, str]:
    if not bare:
        return {"mine": "true", "status": "open"}
    return {"login": login, **({"every_column": "false"} if list_columns else {})}


async def one_caller(url: str, path: str, tokens: dict[str, str], calls: int, bare: bool,
                     list_columns: bool = False, first: int = 0) -> list[float]:
    """One caller at a time (no concurrency): the floor of a call on this machine now; the calls are for the
    users from the `first` on, one each."""
    durations = []
    logins = sorted(tokens)
    api = KeepAlive(url)
    try:
        for n in range(first, first + calls):
            login = logins[n % len(logins)]
            headers = {} if bare else {"Authorization": f"Bearer {tokens[login]}"}
            began = time.perf_counter()
            status, body = await api.get(path, _params(login, bare, list_columns), headers)
            durations.append(time.perf_counter() - began)
            if status != 200:
                raise AssertionError(f"{status} {body[:300]!r}")
    finally:
        await api.close()
    return durations


async def flat_out(url: str, path: str, tokens: dict[str, str], workers: int, seconds: float,
                   bare: bool, list_columns: bool = False) -> tuple[int, float]:
    """`workers` callers with no think time for `seconds`: how many calls answered, and the elapsed time."""
    done = 0
    errors: list[str] = []
    logins = sorted(tokens)
    deadline = time.perf_counter() + seconds
    began = time.perf_counter()

    async def worker(index: int) -> None:
        nonlocal done
        login = logins[index % len(logins)]
        api = KeepAlive(url, {} if bare else {"Authorization": f"Bearer {tokens[login]}"})
        params = _params(login, bare, list_columns)
        try:
            while time.perf_counter() < deadline:
                status, body = await api.get(path, params)
                if status != 200:
                    errors.append(f"{status} {body[:300]!r}")
                    continue
                done += 1
        finally:
            await api.close()

    await asyncio.gather(*(worker(i) for i in range(workers)))
    if errors:
        print(f"{path}: {len(errors)} calls failed, the first: {errors[0]}")
    return done, time.perf_counter() - began


def start_bare(cluster: Cluster, cases_url: str, port: int, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [TERMINARZ[0], "-m", "uvicorn", "bench.my_cases:bare_app", "--port", str(port), "--log-level", "warning"],
        env={**cluster.env, "BENCH_CASES_DB": cases_url, "BENCH_STAFF": str(args.staff),
             "BENCH_CONTRACTS": str(args.contracts)}, start_new_session=True)


async def main(args: argparse.Namespace) -> int:
    prefix = f"terminarz_bench_{uuid.uuid4().hex[:8]}"
    base = args.database_url.rsplit("/", 1)[0]
    with tempfile.TemporaryDirectory() as logs:
        cluster = Cluster(database_url=f"{base}/{prefix}", amqp_url=args.amqp_url, smtp=("127.0.0.1", free_port()),
                          frozen_time=FROZEN_TIME, log_dir=Path(logs))
        cluster.env["TERMINARZ_LOG_LEVEL"] = "WARNING"
        bare_process = None
        try:
            cluster.cli("db", "upgrade")
            tokens = await load(cluster, args)
            for name in ("contracts", "cases", "gateway"):
                cluster.start(name)
            for name in ("contracts", "cases", "gateway"):
                await cluster.wait_ready(name)
            cases_url = cluster.env["TERMINARZ_DATABASE_URL"] + "_cases"
            await explain(cases_url, args)

            bare_port = free_port()
            bare_process = start_bare(cluster, cases_url, bare_port, args)
            async with httpx.AsyncClient(timeout=2) as probe:
                for _ in range(200):
                    try:
                        if (await probe.get(f"http://127.0.0.1:{bare_port}/bare", params={"login": "staff001"})) \
                                .status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
            gateway = cluster.ports["gateway"]
            # Warm both paths (connection pools, the planner's statistics, the page cache).
            warm = await flat_out(f"http://127.0.0.1:{gateway}", "/api/v1/cases", tokens, 4, 3, bare=False)
            warm_bare = await flat_out(f"http://127.0.0.1:{bare_port}", "/bare", tokens, 4, 3, bare=True)
            print(f"warm-up: gateway {warm[0]} calls in {warm[1]:.1f} s, bare {warm_bare[0]} in {warm_bare[1]:.1f} s")

            bare_url = f"http://127.0.0.1:{bare_port}"
            loads = [load_average()]
            # Each side calls for users the other has not just called for (the page cache), the bare variants
            # alternately.
            alone = await one_caller(f"http://127.0.0.1:{gateway}", "/api/v1/cases", tokens, 30, bare=False,
                                     first=100)
            alone_bare, alone_list = [], []
            for n in range(30):
                alone_bare += await one_caller(bare_url, "/bare", tokens, 1, bare=True, first=130 + n)
                alone_list += await one_caller(bare_url, "/bare", tokens, 1, bare=True, list_columns=True,
                                               first=160 + n)
            loads.append(load_average())
            durations = await think_time_users(gateway, tokens, args.users, args.seconds)
            loads.append(load_average())
            p50, p95 = quantile(durations, 0.5) * 1000, quantile(durations, 0.95) * 1000
            calls, elapsed = await flat_out(f"http://127.0.0.1:{gateway}", "/api/v1/cases", tokens, args.workers,
                                            args.seconds / 2, bare=False)
            bare_calls, bare_elapsed = await flat_out(bare_url, "/bare", tokens, args.workers, args.seconds / 2,
                                                      bare=True)
            # The list's columns and every column at the same time, half the callers each: the same machine, cache
            # and load for both.
            half = max(1, args.workers // 2)
            (list_calls, list_elapsed), (every_calls, every_elapsed) = await asyncio.gather(
                flat_out(bare_url, "/bare", tokens, half, args.seconds / 2, bare=True, list_columns=True),
                flat_out(bare_url, "/bare", tokens, half, args.seconds / 2, bare=True))
            loads.append(load_average())
            rate, bare_rate = calls / elapsed, bare_calls / bare_elapsed
            list_rate, every_rate = list_calls / list_elapsed, every_calls / every_elapsed
            print(f"\n{args.cases:,} cases, {args.staff} staff, {args.contracts:,} contracts; page of {PAGE}; "
                  f"load average (1 min) during the run: {', '.join(f'{x:.1f}' for x in loads)} "
                  f"on {os.cpu_count()} CPUs")
            print(f"(a) {args.users} users, 1 s think time, {args.seconds:.0f} s: {len(durations)} calls, "
                  f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, mean {statistics.mean(durations) * 1000:.1f} ms — "
                  f"target p95 < {TARGET_P95_MS:.0f} ms: {'met' if p95 < TARGET_P95_MS else 'NOT met'}")
            print(f"one caller alone, 30 calls each: gateway p50 {quantile(alone, 0.5) * 1000:.1f} ms, "
                  f"bare endpoint p50 {quantile(alone_bare, 0.5) * 1000:.1f} ms, "
                  f"bare with the list's columns only (alternating with it) p50 "
                  f"{quantile(alone_list, 0.5) * 1000:.1f} ms")
            ratio = rate / bare_rate
            print(f"(b) {args.workers} callers, no think time: gateway {rate:.0f} calls/s, bare endpoint (same SQL) "
                  f"{bare_rate:.0f} calls/s, ratio {ratio:.2f} — target >= {TARGET_RATIO}: "
                  f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}")
            print(f"    bare, the list's columns against every column (cases.*), {half} callers each at the same time: "
                  f"{list_rate:.1f} against {every_rate:.1f} calls/s ({list_rate / every_rate:.2f}×)")
        except BaseException:
            print(cluster.logs(), file=sys.stderr)
            raise
        finally:
            if bare_process is not None:
                bare_process.terminate()
                bare_process.wait(timeout=10)
            cluster.stop_all()
            await cluster.delete_broker_objects()
            if not args.keep:
                admin = await asyncpg.connect(base.replace("postgresql+asyncpg", "postgresql") + "/postgres")
                try:
                    for row in await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1",
                                                 f"{prefix}%"):
                        await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
                finally:
                    await admin.close()
    return 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--staff", type=int, default=200)
    parser.add_argument("--contracts", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=50, help="users in (a), each once a second")
    parser.add_argument("--workers", type=int, default=16, help="callers with no think time in (b)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of (a); (b) runs half of it per side")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE)
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP)
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
