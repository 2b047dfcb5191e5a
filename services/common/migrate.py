"""Alembic for every service: each service has its own migrations folder and database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, inspect, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.log import get_logger
from services.common.settings import Settings

log = get_logger(__name__)
SERVICES_DIR = Path(__file__).resolve().parent.parent


def alembic_config(service: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    return config


async def ensure_database(url: str) -> None:
    """PostgreSQL: create the service's database when it does not exist yet (SQLite creates its file)."""
    if not url.startswith("postgresql"):
        if url.startswith("sqlite"):
            Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        return
    import asyncpg

    base, _, name = url.replace("postgresql+asyncpg", "postgresql").rpartition("/")
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await admin.execute(f'CREATE DATABASE "{name}"')
            except asyncpg.DuplicateDatabaseError:
                pass  # another process created it at the same moment
    finally:
        await admin.close()


async def upgrade(settings: Settings, services: tuple[str, ...]) -> None:
    for service in services:
        url = settings.database_url_for(service)
        await ensure_database(url)
        # Alembic's env.py runs its own event loop: give it a thread of its own.
        await asyncio.to_thread(command.upgrade, alembic_config(service, url), "head")
        log.info("db.upgraded", service=service)


def known_revisions(service: str) -> tuple[set[str], str | None]:
    """The schema revisions this code has migrations for, and the newest (head)."""
    script = ScriptDirectory.from_config(alembic_config(service, "sqlite://"))
    return {r.revision for r in script.walk_revisions()}, script.get_current_head()


async def current_revision(url: str) -> str | None:
    """The schema revision a database is at; None when it was never migrated."""
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            def read(connection: Connection) -> str | None:
                if not inspect(connection).has_table("alembic_version"):
                    return None
                return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()

            return await conn.run_sync(read)
    finally:
        await engine.dispose()


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's migrations/env.py (online mode, async engine)."""
    from alembic import context

    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(main())


def revision(service: str, url: str, message: str, **kwargs: Any) -> None:
    """Developer helper: autogenerate a migration for one service against an up-to-date database."""
    command.revision(alembic_config(service, url), message=message, autogenerate=True, **kwargs)
