"""The distributed cluster fixture: five services as processes on PostgreSQL, RabbitMQ and SMTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import CapturedMail
from tests.distributed.cluster import SERVICE_NAMES, Cluster


@pytest.fixture
async def cluster(pg_database: str, amqp_url: str, smtp_server: tuple[str, int, CapturedMail],
                  tmp_path: Path) -> AsyncIterator[Cluster]:
    host, port, _ = smtp_server
    cluster = Cluster(database_url=pg_database, amqp_url=amqp_url, smtp=(host, port),
                      frozen_time="2026-11-28T09:00:00+00:00", log_dir=tmp_path)
    cluster.cli("db", "upgrade")
    for login, role in (("maria", "manager"), ("anna", "accountant"), ("admin", "admin")):
        cluster.cli("users", "create", login, "--name", login.title(), "--email", f"{login}@biuro.example",
                    "--role", role)
    try:
        for name in SERVICE_NAMES:
            cluster.start(name)
        for name in SERVICE_NAMES:
            await cluster.wait_ready(name)
        yield cluster
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop_all()
        await cluster.delete_broker_objects()


