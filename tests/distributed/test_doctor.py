"""`terminarz doctor` on a distributed deployment: real PostgreSQL, RabbitMQ and SMTP, and what it says when
one of them, a secret or a migration is not right."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from services.common.db import Database
from services.common.migrate import known_revisions, upgrade
from services.common.settings import SERVICES, Settings
from services.doctor import diagnose
from tests.conftest import CapturedMail, free_port
from tests.embedded.conftest import ROOT

pytestmark = pytest.mark.distributed


async def test_doctor_names_what_to_fix_in_a_distributed_deployment(
        pg_database: str, amqp_url: str, smtp_server: tuple[str, int, CapturedMail]) -> None:
    host, port, _ = smtp_server
    env = {"TERMINARZ_MODE": "distributed", "TERMINARZ_DATABASE_URL": pg_database, "TERMINARZ_AMQP_URL": amqp_url,
           "TERMINARZ_SMTP_HOST": host, "TERMINARZ_SMTP_PORT": str(port), "TERMINARZ_RULES_DIR": str(ROOT / "rules"),
           "TERMINARZ_PUBLIC_URL": "https://terminarz.example.com"}
    for service in SERVICES:  # nothing listens there
        env[f"TERMINARZ_{service.upper()}_URL"] = f"http://127.0.0.1:{free_port()}"
    inherited = {k: v for k, v in os.environ.items() if k not in ("TERMINARZ_SECRET_KEY", "TERMINARZ_INTERNAL_TOKEN")}
    result = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "services.cli", "doctor"],
                                     env={**inherited, **env}, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    out = result.stdout
    name = pg_database.rsplit("/", 1)[1]
    assert "FAIL  settings    TERMINARZ_SECRET_KEY is not set" in out
    assert "FAIL  settings    TERMINARZ_INTERNAL_TOKEN is not set" in out
    assert f"FAIL  database    cases: database {name}_cases does not exist yet" in out
    assert "fix: run terminarz db upgrade (the migration Job in Kubernetes)" in out
    assert f"ok    smtp        {host}:{port} answers" in out
    assert "ok    broker      RabbitMQ at" in out
    assert "WARN  services    contracts does not answer at" in out

    settings = Settings(mode="distributed", database_url=pg_database, amqp_url=amqp_url, smtp_host=host,
                        smtp_port=port, rules_dir=ROOT / "rules", public_url="https://terminarz.example.com",
                        secret_key="k" * 48, internal_token="t" * 48)
    await upgrade(settings, SERVICES)
    cases = Database(settings.database_url_for("cases"))
    async with cases.transaction() as session:  # as if a newer Terminarz had migrated it
        await session.execute(text("UPDATE alembic_version SET version_num = 'cases_0099'"))
    await cases.dispose()
    closed = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    findings = await diagnose(settings.model_copy(update={"amqp_url": closed}))
    problems = [f for f in findings if f.status == "fail"]
    assert [f.area for f in problems] == ["broker", "migrations"]
    assert problems[0].detail.startswith(f"cannot connect to RabbitMQ at 127.0.0.1:{urlsplit(closed).port}/")
    assert problems[1].detail == "cases: schema cases_0099 is newer than this Terminarz knows (its newest is " \
                                 f"{known_revisions('cases')[1]})"
    assert "check TERMINARZ_AMQP_URL" in problems[0].fix
    assert [f.area for f in findings if f.status == "ok"].count("migrations") == len(SERVICES) - 1
