"""The `terminarz` command: run the system, serve one service, migrate, manage users, check rules, plan."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from services.common.apiclient import TOKEN_HELP, URL_HELP, call_api, request_api
from services.common.keys import SECRETS_FILE, require_secrets
from services.common.log import CONSOLE_OFF, bound, configure_logging, get_logger
from services.common.migrate import upgrade
from services.common.settings import SERVICES, Settings, get_settings

app = typer.Typer(help="Terminarz: an accounting office's contracts, obligations, cases and client notices.",
                  no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
users_app = typer.Typer(help="Staff accounts and API tokens.", no_args_is_help=True)
outbox_app = typer.Typer(help="The events each service stored for publishing.", no_args_is_help=True)
clients_app = typer.Typer(help="Clients' personal data: erase after retention, export (GDPR).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(outbox_app, name="outbox")
app.add_typer(clients_app, name="clients")

try:  # the scheduler's commands: `rules check`, `plan`
    from services.scheduler.cli import plan_command, rules_app

    app.add_typer(rules_app, name="rules")
    app.command("plan")(plan_command)
except ImportError:  # pragma: no cover - only while the scheduler is being built
    pass

log = get_logger("terminarz")


# The gateway passes a caller's visible contracts in a header (X-Terminarz-Scope); for a payroll specialist on a few
# thousand contracts it is larger than h11's default 16 KiB, so the internal services accept headers up to 1 MiB.
INTERNAL_MAX_HEADER_BYTES = 1024 * 1024


def server_config(app: Any, *, service: str, host: str, port: int) -> uvicorn.Config:
    """How `serve` runs one service's app with uvicorn."""
    header_limit = None if service == "gateway" else INTERNAL_MAX_HEADER_BYTES
    return uvicorn.Config(app, host=host, port=port, lifespan="off", log_level="warning",
                          h11_max_incomplete_event_size=header_limit)


def _settings() -> Settings:
    settings = get_settings()
    configure_logging(json=settings.json_logs, level=settings.log_level)
    return settings


def _require_rules_folder(settings: Settings) -> None:
    """The scheduler reads its rules at start: a missing folder is said in one line, not a traceback."""
    if not settings.rules_dir.is_dir():
        raise typer.BadParameter(
            f"the rules folder {settings.rules_dir.resolve()} does not exist: run from the Terminarz folder "
            "(where rules/ is) or set TERMINARZ_RULES_DIR", param_hint="TERMINARZ_RULES_DIR")


async def _serve_until_signal(server: uvicorn.Server, start: Callable[[], Awaitable[Any]],
                              stop: Callable[[], Awaitable[Any]]) -> None:
    """Serve until SIGTERM or Ctrl+C, then stop the services in order (consumers, relays, bus, databases).

    Uvicorn re-raises the signal that stopped it once it has shut down, which would end the process before
    `stop` ran; the handlers installed here are the ones it restores and re-raises into, and they only note
    the signal. A second signal while stopping acts as usual (it ends the process: nothing is lost, the
    queues are on disk)."""
    received: list[int] = []
    await start()
    _settle_memory()
    previous = {sig: signal.signal(sig, lambda sig, _frame: received.append(sig))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        await server.serve()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            log.info("stopping", signal=signal.Signals(received[0]).name)
        await stop()


def _settle_memory() -> None:
    """Once started: what the process keeps for good (modules, the apps, engines, caches) is moved out of the
    garbage collector's sight. Its full collections otherwise walked those ~100,000-230,000 objects each time,
    100-160 ms in which a service answered nothing, several times a minute under load: the tail of every
    latency figure (bench/my_cases.py). Collecting first leaves no garbage frozen with them."""
    gc.collect()
    gc.freeze()


@app.command()
def run(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the web UI and the API.")] = 8000,
    demo: Annotated[bool, typer.Option(help="Load demo staff, clients and contracts on first run.")] = True,
    quiet: Annotated[bool, typer.Option(help="Print only warnings and errors after the start banner.")] = False,
    verbose: Annotated[bool, typer.Option(help="Print every log line of every service (as `serve` does).")] = False,
) -> None:
    """Run all five services in one process (embedded mode): migrate, load demo data, serve."""
    settings = _settings()
    if not verbose and not settings.json_logs:
        configure_logging(json=False, level=settings.log_level, console="quiet" if quiet else "brief")
    if settings.mode != "embedded":
        raise typer.BadParameter("`run` is the embedded mode; use `terminarz serve SERVICE` for distributed")
    _require_rules_folder(settings)
    if "TERMINARZ_PUBLIC_URL" not in os.environ:  # links in e-mails point where this server listens
        settings = settings.model_copy(update={"public_url": f"http://{host}:{port}"})
    from services.demo import load_demo
    from services.gateway import users
    from services.system import EmbeddedSystem

    async def main() -> None:
        await upgrade(settings, SERVICES)
        system = EmbeddedSystem(settings)
        config = uvicorn.Config(system.gateway.app, host=host, port=port, lifespan="off", log_level="warning")
        server = uvicorn.Server(config)

        async def start() -> None:
            await system.start()
            async with system.gateway.ctx.db.reading() as session:
                empty = not await users.list_users(session=session)
            logins: list[tuple[str, str]] = []
            if demo and empty:
                with bound(**CONSOLE_OFF):
                    logins = await load_demo(system, system.clock)
            secrets_file = settings.data_dir.resolve() / SECRETS_FILE
            where = f"data in {settings.data_dir.resolve()}" + (
                f", secrets in {secrets_file}" if secrets_file.exists() else "")
            typer.echo(f"\nTerminarz is running: http://{host}:{port}  ({where})")
            if logins:
                typer.echo("Demo logins (login / password): " + ", ".join(f"{u} / {p}" for u, p in logins))
            typer.echo("Stop with Ctrl+C.\n")

        await _serve_until_signal(server, start, system.stop)

    asyncio.run(main())


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help=f"One of: {', '.join(SERVICES)}.")],
    host: Annotated[str | None, typer.Option(help="Address to listen on (default TERMINARZ_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: the service's own, e.g. gateway 8000).")] = None,
) -> None:
    """Run one service in its own process against RabbitMQ and PostgreSQL (distributed mode)."""
    settings = _settings()
    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    require_secrets(settings)
    if service == "scheduler":
        _require_rules_folder(settings)
    from services.system import standalone

    async def main() -> None:
        runtime = standalone(service, settings)
        config = server_config(runtime.app, service=service, host=host or settings.host,
                               port=port or settings.service_port(service))
        server = uvicorn.Server(config)

        async def start() -> None:
            await runtime.ctx.bus.start()
            await runtime.start()

        async def stop() -> None:
            await runtime.stop_work()
            await runtime.ctx.bus.close()
            await runtime.close()

        await _serve_until_signal(server, start, stop)

    asyncio.run(main())


@db_app.command("upgrade")
def db_upgrade(
    services: Annotated[list[str] | None, typer.Argument(help="Services to migrate (default: all).")] = None,
) -> None:
    """Create the services' databases if needed and migrate them to the newest schema."""
    settings = _settings()
    chosen = tuple(services or SERVICES)
    unknown = [s for s in chosen if s not in SERVICES]
    if unknown:
        raise typer.BadParameter(f"unknown service(s): {', '.join(unknown)}")
    asyncio.run(upgrade(settings, chosen))
    typer.echo(f"migrated: {', '.join(chosen)}")


@db_app.command("reconcile")
def db_reconcile() -> None:
    """After restoring databases by hand: publish again every event a consumer has no inbox record of."""
    settings = _settings()
    from services.backup import republish_unconsumed

    urls = {s: settings.database_url_for(s) for s in SERVICES}
    republished = asyncio.run(republish_unconsumed(urls))
    typer.echo("events to publish again: " + ", ".join(f"{s} {n}" for s, n in republished.items()))


@app.command()
def backup(
    file: Annotated[Path | None, typer.Argument(
        help="Archive to write (default: TERMINARZ_BACKUP_DIR/terminarz-<UTC time>.tar.gz).")] = None,
) -> None:
    """Write one consistent archive of the data while Terminarz runs: embedded, the data folder (SQLite's
    online backup); distributed, pg_dump of each service database. With a manifest: version, time, schema
    revisions, row counts."""
    settings = _settings()
    from services.backup import BackupError
    from services.backup import backup as make_backup
    from services.common.clock import SystemClock

    try:
        dest, manifest = asyncio.run(make_backup(settings, file, now=SystemClock().now()))
    except BackupError as error:
        typer.echo(f"backup failed: {error}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"backup written: {dest}")
    for name, entry in manifest["databases"].items():
        rows = ", ".join(f"{t} {n}" for t, n in entry["rows"].items() if n and t not in ("outbox", "inbox"))
        typer.echo(f"  {name}: schema {entry['revision'] or '-'}; {rows or 'empty'}")
    pending = sum((manifest.get("republish_on_restore") or {}).values())
    if pending:
        typer.echo(f"  {pending} event(s) were in flight: a restore publishes them again (consumers skip repeats)")


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="An archive written by `terminarz backup`.", exists=True,
                                         dir_okay=False)],
    into: Annotated[Path | None, typer.Option(
        help="Embedded: the (empty or new) folder to restore into (default: TERMINARZ_DATA_DIR).")] = None,
    service: Annotated[str | None, typer.Option(
        help="Distributed: restore this one service's database only (see docs/operations.md).")] = None,
) -> None:
    """Restore an archive into an empty data folder (embedded) or empty databases (distributed). An archive
    from a newer Terminarz (a schema revision this version does not know) is refused."""
    settings = _settings()
    from services.backup import BackupError
    from services.backup import restore as run_restore

    if service is not None and service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    try:
        manifest = asyncio.run(run_restore(settings, file, into=into, service=service))
    except BackupError as error:
        typer.echo(f"restore refused: {error}", err=True)
        raise typer.Exit(code=1) from None
    where = (into or settings.data_dir).resolve() if manifest["mode"] == "embedded" else "the service databases"
    typer.echo(f"restored the backup of {manifest['created_at']} (Terminarz {manifest['terminarz_version']}) "
               f"into {where}")
    typer.echo("start Terminarz as usual: it migrates the schema if the archive is older than this version")


@app.command()
def doctor() -> None:
    """Check this deployment: settings (secrets, public URL, SMTP), database and broker connections, schema
    migrations, the rules folder; print what to fix. Exits 1 when something must be fixed."""
    settings = _settings()
    from services.doctor import diagnose, render

    findings = asyncio.run(diagnose(settings))
    typer.echo(render(findings))
    if any(f.status == "fail" for f in findings):
        raise typer.Exit(code=1)


@outbox_app.command("redeliver")
def outbox_redeliver(
    service: Annotated[str, typer.Argument(help=f"Whose events: one of {', '.join(SERVICES)}.")],
    since: Annotated[datetime | None, typer.Option(help="Only events stored from then on (UTC).")] = None,
    types: Annotated[list[str] | None, typer.Option("--type", help="Only events of this type (repeatable).")] = None,
) -> None:
    """Publish a service's events again, e.g. those the embedded mode lost on a stop before it kept its bus in
    data/bus.db. Every consumer skips what it already handled; the events go out when the service runs."""
    settings = _settings()
    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    from services.common.db import Database
    from services.common.messaging import redeliver
    from services.system import load_spec

    async def main() -> int:
        db = Database(settings.database_url_for(service))
        try:
            return await redeliver(db, load_spec(service).outbox, types=types or (),
                                   since=since.replace(tzinfo=since.tzinfo or UTC) if since else None)
        finally:
            await db.dispose()

    count = asyncio.run(main())
    typer.echo(f"{count} event(s) of {service} will be published again")


def _gateway_db(settings: Settings) -> Any:
    from services.common.db import Database

    return Database(settings.database_url_for("gateway"))


@users_app.command("create")
def users_create(
    login: str,
    name: Annotated[str, typer.Option(help="Full name, shown in the UI and e-mails.")],
    email: Annotated[str, typer.Option(help="Where the person's notifications go.")],
    role: Annotated[str, typer.Option(help="admin, manager, accountant or payroll.")] = "accountant",
    password: Annotated[str | None, typer.Option(help="Password for the web UI (omit for API-only users).")] = None,
) -> None:
    """Create a staff user."""
    settings = _settings()
    from services.common.clock import SystemClock
    from services.common.errors import Problem
    from services.gateway import users

    async def main() -> None:
        await upgrade(settings, ("gateway",))
        db = _gateway_db(settings)
        try:
            async with db.transaction() as session:
                await users.create_user(session=session, login=login, name=name, email=email, role=role,
                                        password=password, now=SystemClock().now())
        except Problem as problem:
            raise typer.BadParameter(f"{problem.detail or problem.title} {problem.errors or ''}".strip()) from None
        finally:
            await db.dispose()

    asyncio.run(main())
    typer.echo(f"created user {login} ({role})")


@users_app.command("token")
def users_token(login: str, name: Annotated[str, typer.Option(help="What the token is for.")] = "cli") -> None:
    """Issue an API token for a user and print it (it is shown once; only its hash is kept)."""
    settings = _settings()
    from services.common.clock import SystemClock
    from services.common.errors import Problem
    from services.gateway import users

    async def main() -> str:
        db = _gateway_db(settings)
        try:
            async with db.transaction() as session:
                return await users.issue_token(session=session, login=login, name=name, now=SystemClock().now())
        except Problem as problem:
            raise typer.BadParameter(problem.detail or problem.title) from None
        finally:
            await db.dispose()

    typer.echo(asyncio.run(main()))


@clients_app.command("erase")
def clients_erase(
    client: Annotated[int | None, typer.Option("--client", help="Only this client (refused, with the reason, "
                                               "while a contract is in force or retention lasts).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List who would be erased and why; change nothing.")]
    = False,
    url: Annotated[str | None, typer.Option("--url", help=URL_HELP)] = None,
    token: Annotated[str | None, typer.Option("--token", help=TOKEN_HELP)] = None,
) -> None:
    """Erase the personal data of terminated clients past retention (TERMINARZ_RETENTION_YEARS, 5 years after
    the end of the year their last contract ended) in every service; the figures stay. Admin token."""
    chosen: list[dict[str, Any]] = []
    while True:  # a call erases a batch; `remaining` says whether more are due
        result = call_api("POST", "/personal-data/erasure", url=url, token=token,
                          json={"client_id": client, "dry_run": dry_run})
        for item in result["items"]:
            status = item["status"] if dry_run or not item.get("erased_now", True) else "erased now"
            typer.echo(f"client {item['client_id']} ({item['name']}): {status}: {item['reason']}")
        chosen += [i for i in result["items"] if i["status"] == "erasable" or i.get("erased_now")]
        if dry_run or not result.get("remaining"):
            break
    verb = "would erase" if dry_run else "erased"
    kept = result.get("kept") or {}
    typer.echo(f"{verb}: {len(chosen)} client(s); retention {result['retention_years']} years, today "
               f"{result['today']}" + (f"; kept: {kept.get('in_force', 0)} with a contract in force, "
                                       f"{kept.get('retained', 0)} inside retention" if client is None else ""))


@clients_app.command("export")
def clients_export(
    client_id: Annotated[int, typer.Argument(help="The client's id.")],
    file: Annotated[Path | None, typer.Argument(help="Where to write it: *.zip for a ZIP of CSV files and the "
                                                "JSON, anything else JSON (default: print the JSON).")] = None,
    url: Annotated[str | None, typer.Option("--url", help=URL_HELP)] = None,
    token: Annotated[str | None, typer.Option("--token", help=TOKEN_HELP)] = None,
) -> None:
    """Everything Terminarz holds about one client (a data subject's access request), from every service.
    Manager or admin token; the export is audited."""
    as_zip = file is not None and file.suffix.lower() == ".zip"
    response = request_api("GET", f"/clients/{client_id}/personal-data", url=url, token=token,
                           format="zip" if as_zip else "json")
    if file is None:
        typer.echo(response.text)
        return
    file.write_bytes(response.content)
    os.chmod(file, 0o600)  # personal data: readable by its owner only
    typer.echo(f"written: {file}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
