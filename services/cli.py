"""The `terminarz` command: run the system, serve one service, migrate, manage users, check rules, plan."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
import uvicorn

from services.common.log import configure_logging, get_logger
from services.common.migrate import upgrade
from services.common.settings import SERVICES, Settings, get_settings

app = typer.Typer(help="Terminarz: an accounting office's contracts, obligations, cases and client notices.",
                  no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
users_app = typer.Typer(help="Staff accounts and API tokens.", no_args_is_help=True)
outbox_app = typer.Typer(help="The events each service stored for publishing.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(outbox_app, name="outbox")

try:  # the scheduler's commands: `rules check`, `plan`
    from services.scheduler.cli import plan_command, rules_app

    app.add_typer(rules_app, name="rules")
    app.command("plan")(plan_command)
except ImportError:  # pragma: no cover - only while the scheduler is being built
    pass

log = get_logger("terminarz")


def _settings() -> Settings:
    settings = get_settings()
    configure_logging(json=settings.json_logs, level=settings.log_level)
    return settings


async def _serve_until_signal(server: uvicorn.Server, start: Callable[[], Awaitable[Any]],
                              stop: Callable[[], Awaitable[Any]]) -> None:
    """Serve until SIGTERM or Ctrl+C, then stop the services in order (consumers, relays, bus, databases).

    Uvicorn re-raises the signal that stopped it once it has shut down, which would end the process before
    `stop` ran; the handlers installed here are the ones it restores and re-raises into, and they only note
    the signal. A second signal while stopping acts as usual (it ends the process: nothing is lost, the
    queues are on disk)."""
    received: list[int] = []
    await start()
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


@app.command()
def run(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the web UI and the API.")] = 8000,
    demo: Annotated[bool, typer.Option(help="Load demo staff, clients and contracts on first run.")] = True,
) -> None:
    """Run all five services in one process (embedded mode): migrate, load demo data, serve."""
    settings = _settings()
    if settings.mode != "embedded":
        raise typer.BadParameter("`run` is the embedded mode; use `terminarz serve SERVICE` for distributed")
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
                logins = await load_demo(system, system.clock)
            typer.echo(f"\nTerminarz is running: http://{host}:{port}  (data in {settings.data_dir.resolve()})")
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
    from services.system import standalone

    async def main() -> None:
        runtime = standalone(service, settings)
        config = uvicorn.Config(runtime.app, host=host or settings.host, port=port or settings.service_port(service),
                                lifespan="off", log_level="warning")
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
