"""Async SQLAlchemy: one database per service (SQLite embedded, PostgreSQL distributed), a transaction helper."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from pydantic_core import from_json
from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator

from services.common.months import sqlite_warsaw_date

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC and always come back timezone-aware (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC timestamp is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Database:
    """A service's database: engine, sessions, and a signal that wakes its outbox relay after a commit."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        # JSON columns (a case's checklist, notice, requires…) decoded by pydantic's parser, ~2.3 times faster than
        # `json.loads`: a page of 100 cases decodes 400 of them (bench/my_cases.py). Same values; writing is unchanged.
        kwargs: dict[str, Any] = {"echo": echo, "json_deserializer": from_json}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=5, max_overflow=10)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            event.listen(self.engine.sync_engine, "checkin", _note_checkin)
            event.listen(self.engine.sync_engine, "checkout", _ping_if_idle)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # Reading on PostgreSQL runs each statement on its own, with no BEGIN and ROLLBACK around them: at READ
        # COMMITTED (the default) every statement sees its own snapshot inside a transaction as well, so only
        # the two round trips go (a third of the cases service's database work per "my cases" call,
        # bench/my_cases.py). The same pool. SQLite keeps its transaction: there, it is one snapshot for all.
        self._read_sessionmaker = self.sessionmaker if self.is_sqlite else async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
        self.outbox_signal = asyncio.Event()
        # SQLite allows one writer; in one process we queue writers here instead of failing with
        # "database is locked" when a deferred transaction upgrades to a write.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits on success, rolls back on error, then nudges the outbox relay."""
        if self._write_lock is not None:
            async with self._write_lock, self.sessionmaker() as session, session.begin():
                yield session
        else:
            async with self.sessionmaker() as session, session.begin():
                yield session
        for callback in session.info.pop("after_commit", []):
            callback()


    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session to read with, never to write (on PostgreSQL each statement stands alone: a write would be kept
        at once, not rolled back with the session)."""
        async with self._read_sessionmaker() as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


# A pooled connection idle for longer than this is tested before use (SQLAlchemy's pre-ping: BEGIN, an empty
# statement and ROLLBACK, three round trips), so one the database ended while it lay in the pool (a restart) is
# replaced, not handed out. One in constant use is not tested every time (that was a quarter of a cheap read's
# database work, bench/my_cases.py): a database restart takes longer than this, and a connection found dead in
# use makes SQLAlchemy replace every connection the pool held before it.
PING_IF_IDLE_SECONDS = 1.0


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    checked_in = record.info.get("checked_in")
    if checked_in is None or time.monotonic() - checked_in < PING_IF_IDLE_SECONDS:
        return  # just opened, or in use a moment ago
    try:
        dbapi_connection.ping()
    except Exception as exc:
        raise DisconnectionError("the pooled connection no longer answers") from exc


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run a callback (e.g. wake a relay) once the session's transaction has committed."""
    callbacks: list[Callable[[], None]] = session.info.setdefault("after_commit", [])
    if callback not in callbacks:
        callbacks.append(callback)


def plain(row: Any) -> dict[str, Any]:
    """A row as a dict keyed by plain `str`.

    SQLAlchemy names a table's columns with `quoted_name`, a `str` subclass; `dict(row._mapping)` keeps those keys,
    and pydantic's JSON encoder (FastAPI's answers) handles them ~30 times slower than `str`: a page of 100 cases
    took 10–17 ms to encode instead of 0.4 ms (bench/my_cases.py)."""
    return {str(key): value for key, value in row._mapping.items()}


def plain_rows(rows: Any) -> list[dict[str, Any]]:
    """Every row of a result (the keys converted once for all rows) or of a list of rows as `plain` gives it."""
    if not hasattr(rows, "keys"):
        return [plain(row) for row in rows]
    keys = [str(key) for key in rows.keys()]  # noqa: SIM118 - a Result iterates its rows, not its keys
    return [dict(zip(keys, row, strict=True)) for row in rows]


def inserted_id(result: Any) -> int:
    """The primary key an INSERT produced (CursorResult, which the typed Result hides)."""
    return int(result.inserted_primary_key[0])


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # A commit is on disk when it returns (the builds' usual default, made explicit): the embedded bus forgets a
    # message once its handler's commit returned, so a power cut must not take that commit back.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # Reports group timestamps by Warsaw date (services/common/months.py); PostgreSQL has AT TIME ZONE.
    dbapi_connection.create_function("warsaw_date", 1, sqlite_warsaw_date, deterministic=True)
