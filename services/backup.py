"""Backup and restore: one archive of a deployment's data with its manifest, restored into an empty place.

Embedded: every SQLite database of the data folder is copied with SQLite's online backup API while the
system runs (one snapshot per database, writers never blocked), every other file of the folder as it is
(the secrets file, attachments). Distributed: one `pg_dump` per service database, each beside the row counts
of the very snapshot it dumped.

The databases' snapshots are taken one after another, consumers before their producers (notifier, cases,
scheduler, contracts), all before any is copied. So no consumer's copy can hold the effect of an event its
producer's copy has not emitted yet, and the outbox and inbox make the rest consistent: an event its
producer's copy had published but a consumer's copy had not recorded in its inbox is marked unpublished
again (`republish_unconsumed`), so after a restore the relay sends it once more and every consumer that
already had it skips it. Nothing in flight is lost and nothing happens twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from sqlalchemy import select, update

from services.common.bus import topic_matches
from services.common.clock import Clock
from services.common.db import Database
from services.common.log import get_logger
from services.common.migrate import ensure_database, known_revisions
from services.common.settings import SERVICES, Settings
from services.system import START_ORDER, load_spec

log = get_logger(__name__)

FORMAT = 1  # of the archive and its manifest; a newer one is refused
MANIFEST = "manifest.json"
AUTO_PREFIX = "terminarz-auto-"
STAMP = "%Y%m%dT%H%M%SZ"
# Consumers before their producers (the reverse of the start order): a snapshot taken later may hold events
# a consumer's earlier snapshot lacks (sent again on restore), never the other way round.
SNAPSHOT_ORDER = tuple(reversed(START_ORDER))
SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
BACKUP_CHECK_SECONDS = 600


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


# --- Archives and manifests --------------------------------------------------------------------------------

def archive_name(now: datetime, *, mode: str, auto: bool = False) -> str:
    suffix = ".tar.gz" if mode == "embedded" else ".tar"  # pg_dump's custom format is compressed already
    return f"{AUTO_PREFIX if auto else 'terminarz-'}{now.astimezone(UTC):{STAMP}}{suffix}"


def _version() -> str:
    try:
        return metadata.version("terminarz")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "unknown"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_archive(staging: Path, manifest: dict[str, Any], dest: Path, *, compress: bool) -> None:
    """manifest.json first, then every staged file; written beside `dest` and renamed, readable by the owner
    only (it holds the secrets file and personal data)."""
    members = sorted(p for p in staging.rglob("*") if p.is_file())
    manifest["files"] = {p.relative_to(staging).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
                         for p in members}
    body = json.dumps(manifest, indent=2, sort_keys=True).encode()
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz" if compress else "w") as tar:
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(body), int(datetime.now(UTC).timestamp()), 0o600
            tar.addfile(info, io.BytesIO(body))
            for path in members:
                tar.add(path, arcname=path.relative_to(staging).as_posix(), recursive=False)
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def read_manifest(archive: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive, "r:*") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest: dict[str, Any] = json.loads(member.read())
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise BackupError(f"{archive} is not a Terminarz backup archive ({exc})") from None
    if not isinstance(manifest.get("format"), int) or manifest["format"] > FORMAT:
        raise BackupError(f"{archive} was written by a newer Terminarz (archive format {manifest.get('format')}, "
                          f"this version reads up to {FORMAT}); install that version to restore it")
    return manifest


def check_schemas(manifest: dict[str, Any]) -> None:
    """Refuse an archive whose databases are at a schema revision this code has no migration for."""
    problems = []
    for entry in manifest["databases"].values():
        service, revision = entry.get("service"), entry.get("revision")
        if service is None or revision is None:
            continue
        known, head = known_revisions(service)
        if revision not in known:
            problems.append(f"{service} is at schema revision {revision}, which this Terminarz ({_version()}) "
                            f"does not know (its newest is {head})")
    if problems:
        raise BackupError("the archive was made by a newer Terminarz: " + "; ".join(problems)
                          + f". Install the version that made it (archive: {manifest.get('terminarz_version')}) "
                          "or a newer one, then restore; nothing was restored")


def service_rows(manifest: dict[str, Any], service: str) -> dict[str, int]:
    """Row counts per table of a service's database in the archive."""
    for entry in manifest["databases"].values():
        if entry.get("service") == service:
            rows: dict[str, int] = entry["rows"]
            return rows
    raise KeyError(service)


# --- Messages in flight ------------------------------------------------------------------------------------

async def republish_unconsumed(urls: Mapping[str, str]) -> dict[str, int]:
    """Mark unpublished again every outbox event some consumer among `urls` should have and has no inbox
    record of. Returns how many per producer. Safe to repeat: consumers skip what their inbox knows."""
    specs = {name: load_spec(name) for name in urls}
    databases = {name: Database(url) for name, url in urls.items()}
    try:
        processed: dict[str, set[str]] = {}
        for name, spec in specs.items():
            if spec.handlers:
                async with databases[name].reading() as session:
                    processed[name] = set((await session.execute(select(spec.inbox.c.message_id))).scalars())
        consumers: dict[str, list[str]] = {}

        def consumers_of(type_: str) -> list[str]:
            if type_ not in consumers:
                consumers[type_] = [c for c in processed if any(topic_matches(k, type_) for k in specs[c].handlers)]
            return consumers[type_]

        republished: dict[str, int] = {}
        for name, spec in specs.items():
            outbox = spec.outbox
            async with databases[name].transaction() as session:
                rows = (await session.execute(select(outbox.c.seq, outbox.c.message_id, outbox.c.type)
                                              .where(outbox.c.published_at.is_not(None)))).all()
                missing = [seq for seq, message_id, type_ in rows
                           if any(message_id not in processed[c] for c in consumers_of(type_))]
                for start in range(0, len(missing), 500):
                    await session.execute(update(outbox).where(outbox.c.seq.in_(missing[start:start + 500]))
                                          .values(published_at=None))
            republished[name] = len(missing)
            if missing:
                log.info("backup.republish", producer=name, events=len(missing))
        return republished
    finally:
        for database in databases.values():
            await database.dispose()


# --- Embedded: the data folder -----------------------------------------------------------------------------

def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def _sqlite_copies(databases: list[tuple[Path, Path]]) -> None:
    """Pin a read snapshot of every database in the order given, then copy each from its snapshot with
    SQLite's online backup API (WAL: writers go on meanwhile)."""
    pinned: list[tuple[sqlite3.Connection, Path]] = []
    try:
        for source, target in databases:
            conn = sqlite3.connect(source, timeout=30, isolation_level=None)
            pinned.append((conn, target))
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the read snapshot starts here
        for conn, target in pinned:
            copy = sqlite3.connect(target)
            try:
                conn.backup(copy)
            finally:
                copy.close()
    finally:
        for conn, _ in pinned:
            conn.close()


def _describe_sqlite(path: Path) -> tuple[str | None, dict[str, int]]:
    """The copy's schema revision and rows per table; it leaves the copy one self-contained file."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        revision = None
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
        rows = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables if t != "alembic_version"}
        return revision, rows
    finally:
        conn.close()


def _stage_data_folder(data_dir: Path, staged: Path, exclude: list[Path], first: list[Path]) -> list[Path]:
    """Copy the data folder into `staged`: databases through the backup API (`first` in that order, then
    the others), everything else as is. Returns the database copies."""
    databases = []
    for path in sorted(data_dir.rglob("*")):
        if any(path == e or e in path.parents for e in exclude) or path.is_symlink():
            continue
        target = staged / path.relative_to(data_dir)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        sidecar = next((s for s in SQLITE_SIDECARS if path.name.endswith(s)), None)
        if sidecar and path.with_name(path.name[:-len(sidecar)]).exists():
            continue  # part of its database, which the backup API reads whole
        target.parent.mkdir(parents=True, exist_ok=True)
        if _is_sqlite(path):
            databases.append((path, target))
            continue
        try:
            shutil.copy2(path, target)
        except FileNotFoundError:
            continue  # went away while we walked (a temporary file)
    databases.sort(key=lambda pair: first.index(pair[0]) if pair[0] in first else len(first))
    _sqlite_copies(databases)
    return [target for _, target in databases]


def _staging_beside(dest: Path) -> tuple[Path, Path]:
    """The archive's absolute path and a scratch folder beside it (same file system: the rename is atomic)."""
    dest = dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest, Path(tempfile.mkdtemp(prefix=".terminarz-backup-", dir=dest.parent))


def _stage_embedded(settings: Settings, dest: Path) -> tuple[Path, Path, list[Path], dict[str, Path]]:
    """Copy the data folder beside `dest`; returns the archive path, the scratch folder, the database copies
    and which of them belongs to which service."""
    data_dir, backup_dir = settings.data_dir.resolve(), settings.backup_dir.resolve()
    if not data_dir.is_dir():
        raise BackupError(f"no data folder at {data_dir}: nothing to back up (TERMINARZ_DATA_DIR)")
    if data_dir in dest.resolve().parents and backup_dir not in dest.resolve().parents:
        raise BackupError(f"{dest} is inside the data folder: write the backup elsewhere (e.g. {backup_dir})")
    dest, staging = _staging_beside(dest)
    try:
        staged = staging / "data"
        staged.mkdir()
        # The service databases, by the file name each service uses in the data folder.
        files = {s: Path(settings.database_url_for(s).split("///", 1)[1]) for s in SNAPSHOT_ORDER}
        # A backup folder kept inside the data folder is never archived.
        copies = _stage_data_folder(data_dir, staged, exclude=[backup_dir, staging], first=list(files.values()))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    services = {s: staged / f.relative_to(data_dir) for s, f in files.items()}
    return dest, staging, copies, {s: p for s, p in services.items() if p in copies}


def _finish_embedded(staging: Path, copies: list[Path], services: dict[str, Path], manifest: dict[str, Any],
                     dest: Path) -> None:
    by_path = {p: s for s, p in services.items()}
    for copy in copies:
        revision, rows = _describe_sqlite(copy)
        manifest["databases"][copy.relative_to(staging).as_posix()] = {
            "service": by_path.get(copy), "revision": revision, "rows": rows}
    _write_archive(staging, manifest, dest, compress=True)


async def backup_embedded(settings: Settings, dest: Path, now: datetime) -> dict[str, Any]:
    dest, staging, copies, services = await asyncio.to_thread(_stage_embedded, settings, dest)
    try:
        republished = await republish_unconsumed({s: f"sqlite+aiosqlite:///{p}" for s, p in services.items()})
        manifest = {"format": FORMAT, "terminarz_version": _version(), "mode": "embedded",
                    "created_at": now.astimezone(UTC).isoformat(), "databases": {},
                    "republish_on_restore": republished}
        await asyncio.to_thread(_finish_embedded, staging, copies, services, manifest, dest)
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def _extract_verified(archive: Path, manifest: dict[str, Any], into: Path, prefix: str) -> None:
    """Extract the members under `prefix` and check each against the manifest's checksum."""
    with tarfile.open(archive, "r:*") as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
        tar.extractall(into, members=members, filter="data")
    for name, expected in manifest["files"].items():
        if not name.startswith(prefix):
            continue
        path = into / name
        if not path.is_file() or _sha256(path) != expected["sha256"]:
            raise BackupError(f"{archive}: {name} is missing or damaged (checksum differs); nothing was restored")


def _is_empty_folder(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def restore_embedded(archive: Path, manifest: dict[str, Any], into: Path) -> None:
    into = into.resolve()
    if not _is_empty_folder(into):
        raise BackupError(f"{into} is not empty: a restore goes into an empty folder. Stop Terminarz, move the "
                          "current data folder aside (or name another with --into), then restore")
    into.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{into.name}.restoring-", dir=into.parent))
    try:
        _extract_verified(archive, manifest, staging, "data/")
        for name in manifest["databases"]:
            result = _integrity(staging / name)
            if result != "ok":
                raise BackupError(f"{archive}: database {name} fails SQLite's integrity check ({result})")
        if into.exists():
            into.rmdir()
        (staging / "data").mkdir(exist_ok=True)
        os.replace(staging / "data", into)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --- Distributed: one PostgreSQL database per service -------------------------------------------------------

def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy/asyncpg URL as a libpq connection string without the password, which goes in PGPASSWORD
    (never on a command line other users can read)."""
    parts = urlsplit(url.replace("+asyncpg", "", 1))
    env = {**os.environ}
    if parts.password:
        env["PGPASSWORD"] = parts.password
    netloc = parts.hostname or ""
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if parts.port:
        netloc += f":{parts.port}"
    query = urlencode([("sslmode" if k == "ssl" else k, v) for k, v in parse_qsl(parts.query)])
    return f"postgresql://{netloc}{parts.path}" + (f"?{query}" if query else ""), env


def _asyncpg(url: str) -> str:
    return url.replace("postgresql+asyncpg", "postgresql", 1)


async def _run(*command: str, env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(*command, env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise BackupError(f"{command[0]} failed ({process.returncode}): {stderr.decode(errors='replace').strip()}")


async def _table_rows(conn: Any) -> dict[str, int]:
    tables = [r["tablename"] for r in await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
    return {t: await conn.fetchval(f'SELECT count(*) FROM "{t}"') for t in tables if t != "alembic_version"}


async def _revision(conn: Any) -> str | None:
    if await conn.fetchval("SELECT to_regclass('public.alembic_version')") is None:
        return None
    value: str | None = await conn.fetchval("SELECT version_num FROM alembic_version")
    return value


async def backup_distributed(settings: Settings, dest: Path, now: datetime) -> dict[str, Any]:
    import asyncpg

    if shutil.which("pg_dump") is None:
        raise BackupError("pg_dump is not installed here: install the PostgreSQL client (package postgresql-client)")
    dest, staging = await asyncio.to_thread(_staging_beside, dest)
    try:
        (staging / "postgres").mkdir()
        databases = {}
        pinned: list[tuple[str, Any, str]] = []
        try:
            # Every database's snapshot first, consumers before producers; then the counts and the dump of
            # each read that same snapshot (the exporting transaction stays open until pg_dump is done).
            for service in SNAPSHOT_ORDER:
                conn = await asyncpg.connect(_asyncpg(settings.database_url_for(service)))
                pinned.append((service, conn, ""))
                await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                pinned[-1] = (service, conn, await conn.fetchval("SELECT pg_export_snapshot()"))
            for service, conn, snapshot in pinned:
                url = settings.database_url_for(service)
                conninfo, env = _libpq(url)
                member = f"postgres/{service}.dump"
                await _run("pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                           f"--snapshot={snapshot}", f"--file={staging / member}", conninfo, env=env)
                databases[member] = {"service": service, "database": urlsplit(url).path.lstrip("/"),
                                     "revision": await _revision(conn), "rows": await _table_rows(conn)}
        finally:
            for _, conn, _ in pinned:
                await conn.close()
        manifest = {"format": FORMAT, "terminarz_version": _version(), "mode": "distributed",
                    "created_at": now.astimezone(UTC).isoformat(), "databases": databases}
        await asyncio.to_thread(_write_archive, staging, manifest, dest, compress=False)
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


async def _database_is_empty(url: str) -> bool:
    import asyncpg

    base, _, name = _asyncpg(url).rpartition("/")
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name.split("?")[0]):
            return True
    finally:
        await admin.close()
    conn = await asyncpg.connect(_asyncpg(url))
    try:
        return not await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()


async def restore_distributed(settings: Settings, archive: Path, manifest: dict[str, Any],
                              only: str | None) -> dict[str, int]:
    import asyncpg

    if shutil.which("pg_restore") is None:
        raise BackupError("pg_restore is not installed here: install the PostgreSQL client (postgresql-client)")
    entries = {name: e for name, e in manifest["databases"].items() if only is None or e["service"] == only}
    if not entries:
        raise BackupError(f"the archive has no database of service {only!r}")
    in_use = []
    for entry in entries.values():
        url = settings.database_url_for(entry["service"])
        if not await _database_is_empty(url):
            in_use.append(f"{urlsplit(url).path.lstrip('/')} ({entry['service']})")
    if in_use:
        raise BackupError(f"database(s) {', '.join(in_use)} not empty: a restore goes into empty databases. Stop "
                          "the services, drop those databases (or point TERMINARZ_DATABASE_URL elsewhere), then "
                          "restore; nothing was restored")
    staging = Path(tempfile.mkdtemp(prefix=".terminarz-restore-"))
    try:
        await asyncio.to_thread(_extract_verified, archive, manifest, staging, "postgres/")
        for name, entry in entries.items():
            url = settings.database_url_for(entry["service"])
            await ensure_database(url)
            conninfo, env = _libpq(url)
            await _run("pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={conninfo}",
                       str(staging / name), env=env)
            conn = await asyncpg.connect(_asyncpg(url))
            try:
                rows = await _table_rows(conn)
            finally:
                await conn.close()
            if rows != entry["rows"]:
                raise BackupError(f"{entry['service']}: restored rows {rows} differ from the manifest's "
                                  f"{entry['rows']}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    present = {s: settings.database_url_for(s) for s in SERVICES
               if not await _database_is_empty(settings.database_url_for(s))}
    return await republish_unconsumed(present)


# --- Entry points ------------------------------------------------------------------------------------------

async def backup(settings: Settings, dest: Path | None, *, now: datetime) -> tuple[Path, dict[str, Any]]:
    """Write one archive of the deployment (the data folder embedded, the service databases distributed)."""
    dest = dest or settings.backup_dir / archive_name(now, mode=settings.mode)
    if settings.mode == "embedded":
        manifest = await backup_embedded(settings, dest, now)
    else:
        if not settings.database_url:
            raise BackupError("distributed mode needs TERMINARZ_DATABASE_URL to know which databases to back up")
        manifest = await backup_distributed(settings, dest, now)
    log.info("backup.written", archive=str(dest), databases=len(manifest["databases"]))
    return dest, manifest


async def restore(settings: Settings, archive: Path, *, into: Path | None = None,
                  service: str | None = None) -> dict[str, Any]:
    """Restore an archive into an empty folder (embedded) or empty databases (distributed; `service`: one)."""
    manifest = read_manifest(archive)
    check_schemas(manifest)
    if manifest["mode"] != settings.mode:
        raise BackupError(f"{archive} holds a {manifest['mode']} deployment and this is set up as {settings.mode} "
                          f"(TERMINARZ_MODE); restore it where it came from")
    if manifest["mode"] == "embedded":
        if service is not None:
            raise BackupError("an embedded backup is restored whole: one data folder, no --service")
        await asyncio.to_thread(restore_embedded, archive, manifest, into or settings.data_dir)
    else:
        manifest["republished"] = await restore_distributed(settings, archive, manifest, service)
    log.info("backup.restored", archive=str(archive), created_at=manifest["created_at"])
    return manifest


def _auto_archives(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"{AUTO_PREFIX}*.tar*"))


async def scheduled_backup(settings: Settings, now: datetime) -> Path | None:
    """Once a day: a new archive if the newest automatic one is a day old, then only the newest N are kept."""
    archives = _auto_archives(settings.backup_dir)
    if archives:
        stamp = archives[-1].name.removeprefix(AUTO_PREFIX).split(".")[0]
        if now - datetime.strptime(stamp, STAMP).replace(tzinfo=UTC) < timedelta(days=1):
            return None
    dest, _ = await backup(settings, settings.backup_dir / archive_name(now, mode=settings.mode, auto=True), now=now)
    for old in _auto_archives(settings.backup_dir)[:-settings.backup_keep]:
        old.unlink()
        log.info("backup.pruned", archive=str(old))
    return dest


async def daily_backups(settings: Settings, clock: Clock) -> None:
    """Background task of the embedded system when TERMINARZ_BACKUP_KEEP is set."""
    while True:
        try:
            await scheduled_backup(settings, clock.now())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("backup.scheduled_failed", backup_dir=str(settings.backup_dir))
        await asyncio.sleep(BACKUP_CHECK_SECONDS)
