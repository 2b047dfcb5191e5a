"""Five Terminarz services as OS processes against real RabbitMQ, PostgreSQL and an SMTP server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from services.common.keys import new_secret
from tests.conftest import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
TERMINARZ = [sys.executable, "-m", "services.cli"]
SERVICE_NAMES = ("contracts", "scheduler", "cases", "notifier", "gateway")
FROZEN_TIME = "2026-11-28T09:00:00+00:00"  # the services' clock in most distributed tests


class Cluster:
    def __init__(self, *, database_url: str, amqp_url: str, smtp: tuple[str, int], frozen_time: str | None,
                 log_dir: Path, rules_dir: Path | None = None) -> None:
        """`frozen_time` None: the services run on the real clock."""
        suffix = uuid.uuid4().hex[:8]
        self.ports = {name: free_port() for name in SERVICE_NAMES}
        self.env = {
            **os.environ,
            "TERMINARZ_MODE": "distributed",
            "TERMINARZ_DATABASE_URL": database_url,
            "TERMINARZ_AMQP_URL": amqp_url,
            # Each test run gets its own exchange and queues on the shared broker.
            "TERMINARZ_EXCHANGE": f"terminarz.test.{suffix}",
            "TERMINARZ_QUEUE_PREFIX": f"tz-test-{suffix}",
            "TERMINARZ_BUS_RETRY_DELAY_MS": "200",
            "TERMINARZ_SMTP_HOST": smtp[0],
            "TERMINARZ_SMTP_PORT": str(smtp[1]),
            "TERMINARZ_RULES_DIR": str(rules_dir or ROOT / "rules"),
            "TERMINARZ_SCHEDULER_TICK_SECONDS": "1",
            "TERMINARZ_OUTBOX_POLL_SECONDS": "0.3",
            "TERMINARZ_LOG_LEVEL": "INFO",
            # As embedded (tests/embedded/conftest.py): the daily overdue-fee check would mail the clients of
            # contracts begun months before the frozen day; no distributed test is about it.
            "TERMINARZ_FEE_REMINDERS": "false",
            # Distributed services refuse to start without their secrets: fresh ones for each cluster.
            "TERMINARZ_SECRET_KEY": new_secret(),
            "TERMINARZ_INTERNAL_TOKEN": new_secret(),
        }
        if frozen_time is not None:
            self.env["TERMINARZ_FROZEN_TIME"] = frozen_time
        for name, port in self.ports.items():
            self.env[f"TERMINARZ_{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
        self.log_dir = log_dir
        self.processes: dict[str, list[subprocess.Popen[bytes]]] = {}

    def cli(self, *args: str) -> str:
        result = subprocess.run([*TERMINARZ, *args], env=self.env, cwd=ROOT, capture_output=True, timeout=180)
        if result.returncode != 0:
            raise AssertionError(f"terminarz {' '.join(args)} failed:\n{result.stderr.decode()[-3000:]}")
        return result.stdout.decode()

    def start(self, name: str, *, port: int | None = None) -> subprocess.Popen[bytes]:
        replica = len(self.processes.get(name, []))
        log = open(self.log_dir / f"{name}-{replica}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [*TERMINARZ, "serve", name, "--port", str(port or self.ports[name])],
            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.processes.setdefault(name, []).append(process)
        return process

    async def wait_ready(self, name: str, *, port: int | None = None, timeout: float = 60) -> None:
        url = f"http://127.0.0.1:{port or self.ports[name]}/readyz"

        async def ready() -> bool:
            for process in self.processes.get(name, []):
                if process.poll() is not None and process.returncode not in (-9, -15):
                    raise AssertionError(f"{name} exited with {process.returncode}; see {self.log_dir}")
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    return (await client.get(url)).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(ready, timeout=timeout, what=f"{name} to be ready")

    def kill(self, name: str) -> None:
        """SIGKILL: the process gets no chance to finish what it was doing."""
        for process in self.processes.pop(name, []):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def kill_replica(self, name: str, index: int) -> None:
        process = self.processes[name].pop(index)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.processes):
            for process in self.processes[name]:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            for process in self.processes[name]:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()

    async def delete_broker_objects(self) -> None:
        """Quorum queues outlive their consumers: remove this run's queues and exchanges from the shared broker."""
        import aio_pika

        prefix, exchange = self.env["TERMINARZ_QUEUE_PREFIX"], self.env["TERMINARZ_EXCHANGE"]
        connection = await aio_pika.connect(self.env["TERMINARZ_AMQP_URL"])
        try:
            channel = await connection.channel()
            for service in SERVICE_NAMES:
                for suffix in ("", ".retry", ".dead"):
                    await channel.queue_delete(f"{prefix}.{service}{suffix}")
            for name in (exchange, f"{exchange}.dlx"):
                await channel.exchange_delete(name)
        finally:
            await connection.close()

    def api(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.ports['gateway']}",
                                 headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def logs(self) -> str:
        logs = sorted(self.log_dir.glob("*.log"))
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in logs)


@asynccontextmanager
async def running_cluster(
    *, database_url: str, amqp_url: str, log_dir: Path, smtp: tuple[str, int] | None = None,
    frozen_time: str | None = FROZEN_TIME, env: Mapping[str, str] | None = None, databases: Sequence[str] = (),
    users: Sequence[tuple[str, str]] = (), services: Sequence[str] = (),
) -> AsyncIterator[Cluster]:
    """A cluster with its databases upgraded (every service's, or those in `databases`), `users` created (login,
    role; e-mail `<login>@biuro.example`) and `services` started and ready; a test starts any others itself. On the
    way out: the logs printed on a failure inside, every process stopped, this run's queues and exchanges deleted
    from the shared broker. `smtp` None: a port nothing listens on (for tests that read no mail)."""
    cluster = Cluster(database_url=database_url, amqp_url=amqp_url, smtp=smtp or ("127.0.0.1", free_port()),
                      frozen_time=frozen_time, log_dir=log_dir)
    cluster.env.update(env or {})
    cluster.cli("db", "upgrade", *databases)
    for login, role in users:
        cluster.cli("users", "create", login, "--name", login.title(), "--email", f"{login}@biuro.example",
                    "--role", role)
    try:
        for name in services:
            cluster.start(name)
        for name in services:
            await cluster.wait_ready(name)
        yield cluster
    except BaseException:
        print(cluster.logs(), file=sys.stderr)
        raise
    finally:
        cluster.stop_all()
        await cluster.delete_broker_objects()


async def json_items(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(path, params=params)
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def wait_for_requested_cases(api: httpx.AsyncClient, contract_ids: Sequence[str], *, timeout: float,
                                   what: str = "every requested case to exist") -> None:
    """Wait until every contract's plan has requested occurrences and each of them has its case (rule, period)."""

    async def every_requested_case_exists() -> bool:
        cases = await json_items(api, "/api/v1/cases", limit=1000)
        for contract_id in contract_ids:
            plan = await json_items(api, f"/api/v1/contracts/{contract_id}/plan")
            requested = {(o["rule_id"], o["period"]) for o in plan if o["status"] == "requested"}
            created = {(c["rule_id"], c["period"]) for c in cases if c["contract_id"] == contract_id}
            if not requested or requested != created:
                return False
        return True

    await wait_for(every_requested_case_exists, timeout=timeout, what=what)
