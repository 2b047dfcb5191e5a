"""Embedded backup and restore: an archive taken while an import flows through the services restores into an
empty folder with every contract and case it lists, and what was in flight arrives exactly once."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services import backup
from services.common.clock import ManualClock
from services.common.migrate import known_revisions, upgrade
from services.common.runtime import INTERNAL_TOKEN_HEADER
from services.common.settings import SERVICES, Settings
from services.system import EmbeddedSystem
from tests.conftest import wait_for
from tests.embedded.conftest import ROOT, Office, embedded_settings
from tests.metrics import value
from tests.samples import nip, nip_seeds, pesel, regon

IMPORTED = 60


def import_csv(count: int) -> bytes:
    """Sole traders with monthly VAT from October 2026: each has cases due now."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["client_name", "legal_form", "nip", "regon", "pesel", "street", "postal_code", "city",
                     "emails", "books", "income_tax", "income_tax_advances", "vat", "contract_number", "signed_on",
                     "start", "notice_period_months", "services", "fee_monthly_net", "accountant", "manager"])
    for i, seed in enumerate(nip_seeds(100_000_000, count=count)):
        writer.writerow([f"Klient {i:04d}", "sole_trader", nip(seed), regon(seed[:8]), pesel("8001011234"),
                         "ul. Prosta 1", "00-850", "Warszawa", f"k{i}@example.com", "kpir", "pit_flat", "monthly",
                         "monthly", f"IMP/{i:04d}", "2026-09-15", "2026-10-01", "3", "bookkeeping;vat", "300",
                         "anna", "maria"])
    return out.getvalue().encode()


def internal(system: EmbeddedSystem, service: str) -> httpx.AsyncClient:
    """A service's own API, as the gateway calls it."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=system.runtimes[service].app),
                             base_url=f"http://{service}",
                             headers={INTERNAL_TOKEN_HEADER: system.settings.internal_token})


async def settled(system: EmbeddedSystem, contracts: int) -> list[dict[str, Any]] | None:
    """Every contract planned, every requested case made, every case's mail written: the cases, else None."""
    async def get(service: str, path: str) -> Any:
        async with internal(system, service) as client:
            response = await client.get(path, params={"limit": 1000})
            response.raise_for_status()
            return response.json()

    text = (await system.metrics.render()).decode()
    if any(value(text, "terminarz_outbox_backlog", service=s) for s in SERVICES):
        return None
    if value(text, "terminarz_inbox_messages", service="scheduler") != contracts:
        return None
    cases = await get("cases", "/cases")
    mails = await get("notifier", "/mails")
    # The cases service records each case.requested and, for contract teams, each contract's contract.created.
    if value(text, "terminarz_inbox_messages", service="cases") != cases["total"] + contracts:
        return None
    items: list[dict[str, Any]] = cases["items"]
    if sorted(m["related_id"] for m in mails["items"]) != sorted(c["id"] for c in items):
        return None  # a case without its mail, or a mail too many
    return items


def case_keys(cases: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(c["contract_number"], c["rule_id"], c["period"]) for c in cases}


async def test_backup_while_an_import_runs_restores_every_contract_and_case(office: Office, tmp_path: Path) -> None:
    settings = office.system.settings
    archives: list[tuple[Path, bool]] = []  # and whether the import was still running when it began

    async def import_file() -> httpx.Response:
        async with office.api("maria") as api:
            return await api.post("/api/v1/imports/apply", content=import_csv(IMPORTED),
                                  headers={"Content-Type": "text/csv"}, timeout=120)

    importing = asyncio.create_task(import_file())
    # Back up again and again while the import and the events it causes go through the five services.
    deadline = time.monotonic() + 300
    while not (importing.done() and await settled(office.system, IMPORTED)):
        assert time.monotonic() < deadline, "the import did not settle within 300 s"
        running = not importing.done()
        dest = tmp_path / "backups" / f"b{len(archives):03d}.tar.gz"
        await backup.backup(settings, dest, now=office.clock.now())
        archives.append((dest, running))
        await asyncio.sleep(0)
    assert (await importing).status_code == 201
    final = await settled(office.system, IMPORTED)
    assert final is not None

    manifests = [(path, running, backup.read_manifest(path)) for path, running in archives]
    assert any(running for _, running, _ in manifests), "no backup overlapped the import request"
    # The most telling archive: every contract stored, the cases still on their way.
    in_flight = [(p, m) for p, _, m in manifests
                 if backup.service_rows(m, "contracts")["contracts"] == IMPORTED
                 and backup.service_rows(m, "cases")["cases"] < len(final)]
    assert in_flight, "no backup caught events in flight"
    archive, manifest = in_flight[0]
    assert manifest["databases"]["data/cases.db"]["revision"] == known_revisions("cases")[1]

    restored_dir = tmp_path / "restored"
    await backup.restore(settings, archive, into=restored_dir)
    for name, entry in manifest["databases"].items():  # the folder holds exactly what the manifest lists
        with sqlite3.connect(restored_dir / name.removeprefix("data/")) as conn:
            for table, rows in entry["rows"].items():
                assert conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] == rows, (name, table)

    restored_settings = embedded_settings(tmp_path, data_dir=restored_dir)
    await upgrade(restored_settings, SERVICES)
    restored = EmbeddedSystem(restored_settings, clock=ManualClock(office.clock.now()))
    await restored.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=restored.gateway.app), base_url="http://g",
                                     headers={"Authorization": f"Bearer {office.tokens['maria']}"}) as api:
            contracts = (await api.get("/api/v1/contracts", params={"limit": 1})).json()
        assert contracts["total"] == backup.service_rows(manifest, "contracts")["contracts"] == IMPORTED
        # What was in flight arrives: the same cases as the system that never stopped, each once, each mailed.
        cases = await wait_for(lambda: settled(restored, IMPORTED), timeout=60, what="the restored system to settle")
        assert len(cases) == len(final)
        assert case_keys(cases) == case_keys(final)
    finally:
        await restored.stop()


async def test_restore_refuses_a_folder_in_use(office: Office, tmp_path: Path) -> None:
    archive, _ = await backup.backup(office.system.settings, tmp_path / "b.tar.gz", now=office.clock.now())
    with pytest.raises(backup.BackupError, match="is not empty: a restore goes into an empty folder"):
        await backup.restore(office.system.settings, archive)  # the running system's own data folder


@pytest.fixture
async def migrated(tmp_path: Path) -> Settings:
    settings = embedded_settings(tmp_path, backup_dir=tmp_path / "data" / "backups", backup_keep=2)
    await upgrade(settings, SERVICES)
    return settings


def rewrite_archive(source: Path, dest: Path, change: Any) -> None:
    """Unpack, let `change` edit the files, pack again with a manifest whose checksums match."""
    unpacked = dest.parent / "unpacked"
    with tarfile.open(source) as tar:
        tar.extractall(unpacked, filter="data")
    manifest = json.loads((unpacked / backup.MANIFEST).read_text())
    (unpacked / backup.MANIFEST).unlink()
    change(unpacked, manifest)
    backup._write_archive(unpacked, manifest, dest, compress=True)


async def test_an_archive_of_a_newer_schema_is_refused_with_what_to_do(migrated: Settings, tmp_path: Path) -> None:
    archive, _ = await backup.backup(migrated, tmp_path / "b.tar.gz", now=datetime.now(UTC))

    def newer(unpacked: Path, manifest: dict[str, Any]) -> None:
        with sqlite3.connect(unpacked / "data" / "cases.db") as conn:
            conn.execute("UPDATE alembic_version SET version_num = 'cases_0099'")
        manifest["databases"]["data/cases.db"]["revision"] = "cases_0099"
        manifest["terminarz_version"] = "9.0.0"

    rewrite_archive(archive, tmp_path / "newer.tar.gz", newer)
    target = tmp_path / "restored"
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.cli", "restore", str(tmp_path / "newer.tar.gz"), "--into", str(target)],
        env={**os.environ, "TERMINARZ_DATA_DIR": str(tmp_path / "unused")}, cwd=ROOT, capture_output=True,
        text=True, timeout=120)
    assert result.returncode == 1
    assert "restore refused: the archive was made by a newer Terminarz: cases is at schema revision " \
           "cases_0099, which this Terminarz" in result.stderr
    assert "Install the version that made it (archive: 9.0.0)" in result.stderr
    assert not target.exists()


async def test_a_damaged_archive_is_refused_and_nothing_is_restored(migrated: Settings, tmp_path: Path) -> None:
    archive, _ = await backup.backup(migrated, tmp_path / "b.tar.gz", now=datetime.now(UTC))
    manifest = backup.read_manifest(archive)
    manifest["files"]["data/contracts.db"]["sha256"] = "0" * 64  # as if the file had been damaged in storage
    with pytest.raises(backup.BackupError, match=r"data/contracts\.db is missing or damaged"):
        await asyncio.to_thread(backup.restore_embedded, archive, manifest, tmp_path / "r")
    assert not (tmp_path / "r").exists()


async def test_the_whole_folder_is_archived_and_daily_backups_keep_the_newest(migrated: Settings) -> None:
    data = migrated.data_dir
    (data / "secrets.json").write_text('{"secret_key": "s3cret"}')
    (data / "attachments" / "2026").mkdir(parents=True)
    (data / "attachments" / "2026" / "scan.pdf").write_bytes(b"%PDF-1.4 scan")
    with sqlite3.connect(data / "bus.db") as conn:  # a database no service owns is archived all the same
        conn.execute("CREATE TABLE queued (id INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO queued VALUES (1), (2)")

    day = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    made = [await backup.scheduled_backup(migrated, day + timedelta(hours=h)) for h in (0, 5, 24, 48, 72)]
    assert [m is not None for m in made] == [True, False, True, True, True]  # at most one a day
    kept = sorted(p.name for p in migrated.backup_dir.iterdir())
    assert kept == ["terminarz-auto-20261130T020000Z.tar.gz", "terminarz-auto-20261201T020000Z.tar.gz"]

    newest = migrated.backup_dir / kept[-1]
    with tarfile.open(newest) as tar:
        names = set(tar.getnames())
    assert {"manifest.json", "data/secrets.json", "data/attachments/2026/scan.pdf", "data/bus.db",
            *(f"data/{s}.db" for s in SERVICES)} <= names
    assert not [n for n in names if "backups" in n or n.endswith(("-wal", "-shm"))]
    assert oct(newest.stat().st_mode & 0o777) == "0o600"  # it holds the secrets and personal data
    manifest = backup.read_manifest(newest)
    assert manifest["databases"]["data/bus.db"] == {"service": None, "revision": None, "rows": {"queued": 2}}
    assert manifest["created_at"] == "2026-12-01T02:00:00+00:00"

    restored = migrated.data_dir.parent / "restored"
    await backup.restore(migrated, newest, into=restored)
    assert (restored / "secrets.json").read_text() == '{"secret_key": "s3cret"}'
    assert (restored / "attachments" / "2026" / "scan.pdf").read_bytes() == b"%PDF-1.4 scan"

