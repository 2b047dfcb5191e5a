"""The fault matrix: one five-process cluster on real RabbitMQ, PostgreSQL and SMTP, hit mid-flow by each fault
in turn — kill -9 of every service, the broker link cut, the database restarted, two schedulers, two cases
processes, two notifiers. After each, every expected case exists exactly once, every mail went out exactly once
(or, when a notifier lost its connection between SMTP's 250 and its commit, a copy of a few with the same
Message-ID — the documented window) and no message is in a dead-letter queue. The table of counts is printed
in the terminal summary (tests/distributed/conftest.py).

The shared broker and database are never stopped (other tests use them): every service reaches both through TCP
proxies the test cuts (refusing new connections until the services notice), and the server ends the connections
to this test's databases alone.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from typing import Any
from urllib.parse import urlparse

import aio_pika
import asyncpg
import httpx
import pytest
import pytest_asyncio

from services.notifier.delivery import UNRECORDED_PER_CONNECTION
from tests.conftest import AMQP_URL, PG_URL, free_port, require_service, wait_for
from tests.distributed.cluster import SERVICE_NAMES, Cluster
from tests.distributed.conftest import FAULT_MATRIX, FaultRow
from tests.distributed.proxy import CuttableProxy
from tests.metrics import value
from tests.samples import contract, nip_seeds, sole_trader

pytestmark = [pytest.mark.distributed, pytest.mark.asyncio(loop_scope="module")]

CONTRACTS = 10  # per scenario: half before the fault, half during or after it
SMTP_CONNECTIONS = 2
WINDOW = UNRECORDED_PER_CONNECTION * SMTP_CONNECTIONS  # mails one notifier process may send twice
SETTLE_SECONDS = 90
READY_SECONDS = 120  # a process booting while six others work on two shared cores
CASE_LINK = re.compile(r"/cases/([0-9A-Za-z_-]+)")


class Smtp:
    """A real SMTP server (aiosmtpd): which case each accepted mail was about, and its Message-ID."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []  # (case id from the mail's link, Message-ID)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        found = CASE_LINK.search(str(message.get_body(("plain",)).get_content()))  # type: ignore[union-attr]
        self.received.append((found.group(1) if found else "", str(message["Message-ID"])))
        return "250 2.0.0 Ok"


@dataclass
class Matrix:
    cluster: Cluster
    smtp: Smtp
    broker: CuttableProxy
    database: CuttableProxy
    database_prefix: str
    token: str
    outage: float = 0.0  # how long it was away
    down_since: float = 0.0  # when the broker or the database went away (time.monotonic), 0 while they are up
    per_contract: int = 0  # cases one contract gets (all contracts have the same terms), from the warm-up
    seeds: Iterator[str] = field(default_factory=lambda: nip_seeds(526300000))

    def api(self) -> httpx.AsyncClient:
        return self.cluster.api(self.token)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def matrix(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> AsyncIterator[Matrix]:
    require_service("RabbitMQ", AMQP_URL, 5672)
    require_service("PostgreSQL", PG_URL, 5432)
    from aiosmtpd.controller import Controller

    smtp = Smtp()
    controller = Controller(smtp, hostname="127.0.0.1", port=free_port())
    controller.start()
    target = urlparse(AMQP_URL)
    broker = CuttableProxy(target.hostname or "127.0.0.1", target.port or 5672)
    await broker.open()
    pg = urlparse(PG_URL)
    database = CuttableProxy(pg.hostname or "127.0.0.1", pg.port or 5432)
    await database.open()
    prefix = f"tz_test_{uuid.uuid4().hex[:10]}"
    log_dir = tmp_path_factory.mktemp("fault-matrix")
    proxied_pg = PG_URL.rsplit("/", 1)[0].replace(f":{pg.port or 5432}", f":{database.port}")
    cluster = Cluster(database_url=f"{proxied_pg}/{prefix}",
                      amqp_url=AMQP_URL.replace(f":{target.port or 5672}/", f":{broker.port}/"),
                      smtp=("127.0.0.1", controller.port), frozen_time="2026-11-28T09:00:00+00:00", log_dir=log_dir)
    cluster.env.update({
        "TERMINARZ_LOG_LEVEL": "WARNING", "TERMINARZ_SMTP_CONNECTIONS": str(SMTP_CONNECTIONS),
        "TERMINARZ_MAIL_POLL_SECONDS": "0.3", "TERMINARZ_MAIL_CLAIM_SECONDS": "6", "TERMINARZ_SMTP_TIMEOUT": "3",
        # Retries far shorter than the outages (5 × 0.2 s): a message that fails while the database is away waits
        # for it instead of using up its attempts (runtime.through_database_outages), so nothing is dead-lettered.
        "TERMINARZ_BUS_RETRY_DELAY_MS": "200",
    })
    try:
        # The CLI in a thread: this event loop runs the proxies the CLI's database connections go through.
        await asyncio.to_thread(cluster.cli, "db", "upgrade")
        for name in SERVICE_NAMES:
            cluster.start(name)
        await asyncio.to_thread(cluster.cli, "users", "create", "admin", "--name", "Admin",
                                "--email", "admin@biuro.example", "--role", "admin")
        token = (await asyncio.to_thread(cluster.cli, "users", "token", "admin")).strip()
        matrix = Matrix(cluster, smtp, broker, database, prefix, token)
        for name in SERVICE_NAMES:
            await cluster.wait_ready(name, timeout=READY_SECONDS)
        async with matrix.api() as api:  # the contracts' team (one process less each than the CLI)
            for login, role in (("anna", "accountant"), ("maria", "manager")):
                created = await api.post("/api/v1/users", json={
                    "login": login, "name": login.title(), "email": f"{login}@biuro.example", "role": role})
                assert created.status_code == 201, created.text
        row = FaultRow("no fault (warm-up)")
        request.config.stash.setdefault(FAULT_MATRIX, []).append(row)
        await warm_up(matrix, row)
        yield matrix
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        for name in list(cluster.processes):
            cluster.kill(name)  # the matrix ends as it went; a graceful stop is tested elsewhere (and takes longer)
        await broker.close()
        await database.close()
        controller.stop()
        cluster.env["TERMINARZ_AMQP_URL"] = AMQP_URL  # clean up past the proxy
        await cluster.delete_broker_objects()
        admin = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
        try:
            for row in await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", f"{prefix}%"):
                await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
        finally:
            await admin.close()


# --- What the matrix observes, from the outside -------------------------------------------------------------

async def all_cases(api: httpx.AsyncClient) -> list[dict[str, Any]] | None:
    """Every case through the gateway, or None while the gateway (or the cases service) cannot answer."""
    found: list[dict[str, Any]] = []
    try:
        while True:
            response = await api.get("/api/v1/cases", params={"limit": 1000, "offset": len(found)})
            if response.status_code != 200:
                return None
            page = response.json()["items"]
            found += page
            if len(page) < 1000:
                return found
    except httpx.TransportError:
        return None


async def mails_in_flight(cluster: Cluster) -> float | None:
    """Mails written but not yet reported sent (pending, or claimed by a sender), from the notifier's gauge."""
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            text = (await client.get(f"http://127.0.0.1:{cluster.ports['notifier']}/metrics")).text
    except httpx.TransportError:
        return None
    return sum(value(text, "terminarz_mails", service="notifier", status=status) or 0
               for status in ("pending", "sending"))


async def dead_letters(cluster: Cluster) -> int:
    """Messages in this cluster's dead-letter queues, read straight from the broker (not through the proxy)."""
    total = 0
    connection = await aio_pika.connect(AMQP_URL)
    try:
        for service in SERVICE_NAMES:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(
                    f"{cluster.env['TERMINARZ_QUEUE_PREFIX']}.{service}.dead", passive=True)
            except aio_pika.exceptions.ChannelNotFoundEntity:
                continue  # a service that consumes nothing has no queues
            total += queue.declaration_result.message_count or 0
            await channel.close()
    finally:
        await connection.close()
    return total


async def sign_contracts(matrix: Matrix, scenario: str, numbers: range) -> list[str]:
    ids = []
    async with matrix.api() as api:
        for i in numbers:
            terms = sole_trader(f"Klient {scenario} {i}", seed=next(matrix.seeds), vat_eu=True)
            client = await api.post("/api/v1/clients", json=terms)
            assert client.status_code == 201, client.text
            created = await api.post("/api/v1/contracts",
                                     json=contract(client.json()["id"], number=f"FM/{scenario}/{i}"))
            assert created.status_code == 201, created.text
            ids.append(str(created.json()["id"]))
    return ids


async def cases_of(matrix: Matrix, contract_ids: list[str]) -> list[dict[str, Any]] | None:
    async with matrix.api() as api:
        found = await all_cases(api)
    wanted = set(contract_ids)
    return None if found is None else [c for c in found if c["contract_id"] in wanted]


# --- One scenario --------------------------------------------------------------------------------------------

Step = Callable[[Matrix], Awaitable[None]]


async def nothing(matrix: Matrix) -> None:
    return None


@dataclass
class Scenario:
    name: str
    fault: Step = nothing  # mid-flow: half the contracts signed, their first mails out
    recover: Step = nothing
    before: Step = nothing  # before the flow starts (a second process)
    api_during_fault: bool = True  # the gateway can sign contracts between fault and recovery
    window: bool = False  # a notifier may lose what SMTP accepted before it committed: copies allowed


def kill(name: str) -> Scenario:
    api_needs_it = name in ("contracts", "gateway")

    async def fault(matrix: Matrix) -> None:
        matrix.cluster.kill(name)
        if not api_needs_it:
            matrix.cluster.start(name)  # boots (seconds) while the rest of the contracts are signed

    async def recover(matrix: Matrix) -> None:
        if api_needs_it:
            matrix.cluster.start(name)
        await matrix.cluster.wait_ready(name, timeout=READY_SECONDS)

    # Without contracts or the gateway nothing can be signed; the notifier dies between 250s and commits.
    return Scenario(f"kill -9 {name}", fault, recover, api_during_fault=not api_needs_it, window=name == "notifier")


async def cut_broker(matrix: Matrix) -> None:
    await matrix.broker.cut()
    matrix.down_since = time.monotonic()

    async def every_service_sees_it() -> bool:
        return all([await readiness(matrix.cluster, name, "bus") == "down" for name in SERVICE_NAMES])

    await wait_for(every_service_sees_it, timeout=30, what="every service to report the broker unreachable")


async def restore_broker(matrix: Matrix) -> None:
    await matrix.broker.open()
    matrix.outage = time.monotonic() - matrix.down_since
    for name in SERVICE_NAMES:
        await matrix.cluster.wait_ready(name, timeout=READY_SECONDS)


async def readiness(cluster: Cluster, name: str, check: str) -> str:
    """What a service's /readyz says of its broker ("bus") or "database" ("unknown" while it does not answer)."""
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            body = (await client.get(f"http://127.0.0.1:{cluster.ports[name]}/readyz")).json()
    except httpx.TransportError:
        return "unknown"
    return "up" if body["checks"][check] == "ok" else "down"


DATABASE_AWAY_SECONDS = 3.0


async def stop_database(matrix: Matrix) -> None:
    """A database restart as the services live it: the server ends every connection (what a fast shutdown
    sends), new ones are refused until every service has noticed; only this test's databases are touched."""
    admin = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        ended = await admin.fetchval(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname LIKE $1 AND pid <> pg_backend_pid()) AS terminated", f"{matrix.database_prefix}%")
    finally:
        await admin.close()
    await matrix.database.cut()
    assert ended >= len(SERVICE_NAMES), f"only {ended} connections to end"
    matrix.down_since = time.monotonic()

    async def every_service_sees_it() -> bool:
        return all([await readiness(matrix.cluster, name, "database") == "down" for name in SERVICE_NAMES])

    await wait_for(every_service_sees_it, timeout=30, what="every service to report the database unreachable")
    # Away longer than the bus's retries (5 × 0.2 s): what is in flight must wait for it, not be dead-lettered.
    await asyncio.sleep(max(0.0, DATABASE_AWAY_SECONDS - (time.monotonic() - matrix.down_since)))


async def start_database(matrix: Matrix) -> None:
    await matrix.database.open()
    matrix.outage = time.monotonic() - matrix.down_since
    await wait_all_ready(matrix)


async def wait_all_ready(matrix: Matrix) -> None:
    for name in SERVICE_NAMES:
        await matrix.cluster.wait_ready(name, timeout=READY_SECONDS)


async def heal(matrix: Matrix) -> None:
    """After a scenario, passed or not: the broker and the database reachable, one process of each service."""
    await matrix.broker.open()
    await matrix.database.open()
    matrix.down_since = 0.0
    cluster = matrix.cluster
    for name in SERVICE_NAMES:
        processes = cluster.processes.get(name, [])
        while len(processes) > 1:
            cluster.kill_replica(name, len(processes) - 1)
        if not processes or processes[0].poll() is not None:
            cluster.kill(name)
            cluster.start(name)
    await wait_all_ready(matrix)


def replicas(name: str) -> Scenario:
    port = free_port()

    async def before(matrix: Matrix) -> None:
        matrix.cluster.start(name, port=port)  # boots while the first contracts are signed

    async def both_running(matrix: Matrix) -> None:
        await matrix.cluster.wait_ready(name, port=port, timeout=READY_SECONDS)

    # The second process is up before the second half is signed; `heal` ends it afterwards.
    return Scenario(f"two {name} processes", before=before, fault=both_running)


SCENARIOS = [
    *(kill(name) for name in SERVICE_NAMES),
    Scenario("broker link cut", cut_broker, restore_broker),
    Scenario("database restarted", stop_database, start_database, api_during_fault=False, window=True),
    *(replicas(name) for name in ("scheduler", "cases", "notifier")),
]


async def run(matrix: Matrix, scenario: Scenario, row: FaultRow) -> None:
    cluster, smtp = matrix.cluster, matrix.smtp
    dead_before = await dead_letters(cluster)
    await scenario.before(matrix)
    slug = re.sub(r"\W+", "-", scenario.name)
    half = CONTRACTS // 2
    contract_ids = await sign_contracts(matrix, slug, range(half))

    async def flowing() -> bool:
        cases = await cases_of(matrix, contract_ids)
        ids = {c["id"] for c in cases or []}
        return any(case_id in ids for case_id, _ in smtp.received)

    await wait_for(flowing, timeout=SETTLE_SECONDS, interval=0.5, what=f"{scenario.name}: the first cases mailed")
    await scenario.fault(matrix)
    if scenario.api_during_fault:
        contract_ids += await sign_contracts(matrix, slug, range(half, CONTRACTS))
    await scenario.recover(matrix)
    if matrix.down_since:
        row.note, matrix.down_since = f"away {matrix.outage:.1f} s", 0.0
    if not scenario.api_during_fault:
        contract_ids += await sign_contracts(matrix, slug, range(half, CONTRACTS))

    row.expected = CONTRACTS * matrix.per_contract

    async def settled() -> list[dict[str, Any]] | None:
        cases = await cases_of(matrix, contract_ids)
        if cases is None or len(cases) < row.expected:
            return None
        mailed = {case_id for case_id, _ in smtp.received}
        if not all(c["id"] in mailed for c in cases) or await mails_in_flight(cluster) != 0:
            return None
        return cases

    cases: list[dict[str, Any]] = await wait_for(settled, timeout=SETTLE_SECONDS, interval=0.5,
                                                 what=f"{scenario.name}: every case created and mailed")
    keys = Counter((c["contract_id"], c["rule_id"], c["period"]) for c in cases)
    row.created = len(keys)
    row.duplicates = sum(n - 1 for n in keys.values())
    ids = {c["id"] for c in cases}
    mails = [(case_id, message_id) for case_id, message_id in smtp.received if case_id in ids]
    row.mails = len({case_id for case_id, _ in mails})
    copies = Counter(mails)
    row.mail_copies = sum(n - 1 for n in copies.values())
    row.dead_letters = await dead_letters(cluster) - dead_before

    assert row.created == row.expected, f"{scenario.name}: expected {row.expected} cases, found {row.created}"
    assert row.duplicates == 0, f"{scenario.name}: a case was created twice"
    assert row.mails == row.created, f"{scenario.name}: a case without its mail"
    # One mail per case: a second mail about a case is only ever the same message sent again (same Message-ID).
    per_case = Counter(case_id for case_id, _ in copies)
    assert max(per_case.values()) == 1, f"{scenario.name}: two different mails about one case"
    if scenario.window:
        assert max(copies.values()) <= 2 and row.mail_copies <= WINDOW, (scenario.name, row.mail_copies)
    else:
        assert row.mail_copies == 0, f"{scenario.name}: {row.mail_copies} mails sent twice"
    assert row.dead_letters == 0, f"{scenario.name}: {row.dead_letters} messages dead-lettered"


async def warm_up(matrix: Matrix, row: FaultRow) -> None:
    """Two contracts and no fault: how many cases one contract gets under the rules, every scenario's yardstick."""
    contract_ids = await sign_contracts(matrix, "warm-up", range(2))

    async def planned() -> list[dict[str, Any]] | None:
        cases = await cases_of(matrix, contract_ids)
        if not cases:
            return None
        per_contract = Counter(c["contract_id"] for c in cases)
        async with matrix.api() as api:
            for contract_id in contract_ids:
                plan = (await api.get(f"/api/v1/contracts/{contract_id}/plan")).json()["items"]
                if per_contract[contract_id] != sum(1 for o in plan if o["status"] == "requested"):
                    return None
        return cases

    cases: list[dict[str, Any]] = await wait_for(planned, timeout=SETTLE_SECONDS, interval=0.25,
                                                 what="the warm-up contracts' cases")
    counts = set(Counter(c["contract_id"] for c in cases).values())
    assert len(counts) == 1, counts
    matrix.per_contract = counts.pop()
    row.expected = row.created = len(cases)
    ids = {c["id"] for c in cases}
    await wait_for(lambda: {case_id for case_id, _ in matrix.smtp.received} >= ids,
                   timeout=SETTLE_SECONDS, interval=0.25, what="the warm-up mails")
    row.mails = len(ids)
    row.dead_letters = await dead_letters(matrix.cluster)
    assert matrix.per_contract > 0 and row.dead_letters == 0
    row.passed = True


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_fault(matrix: Matrix, scenario: Scenario, request: pytest.FixtureRequest) -> None:
    row = FaultRow(scenario.name)
    request.config.stash.setdefault(FAULT_MATRIX, []).append(row)
    try:
        await run(matrix, scenario, row)
    finally:
        await heal(matrix)
    row.passed = True
