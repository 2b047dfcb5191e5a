"""The whole system in one process on SQLite and the in-memory bus, driven through the gateway API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.clock import ManualClock
from services.common.migrate import upgrade
from services.common.runtime import INTERNAL_TOKEN_HEADER
from services.common.settings import SERVICES, Settings
from services.gateway import users
from services.system import EmbeddedSystem

ROOT = Path(__file__).resolve().parents[2]
STAFF = (
    ("admin", "Administrator", "admin@biuro.example", "admin"),
    ("maria", "Maria Kierownik", "maria@biuro.example", "manager"),
    ("anna", "Anna Nowak", "anna@biuro.example", "accountant"),
    ("ola", "Ola Wiśniewska", "ola@biuro.example", "accountant"),
    ("piotr", "Piotr Kadrowy", "piotr@biuro.example", "payroll"),
)


@dataclass
class Office:
    system: EmbeddedSystem
    clock: ManualClock
    tokens: dict[str, str]

    def api(self, login: str = "admin") -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.system.gateway.app),
            base_url="http://gateway",
            headers={"Authorization": f"Bearer {self.tokens[login]}"},
        )


    async def internal(self, service: str, path: str, **params: Any) -> Any:
        """Ask a service's own (internal) API, as the gateway would."""
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.system.runtimes[service].app),
            base_url=f"http://{service}",
            headers={INTERNAL_TOKEN_HEADER: self.system.settings.internal_token},
        ) as client:
            response = await client.get(path, params=params)
            response.raise_for_status()
            return response.json()


def embedded_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "rules_dir": ROOT / "rules",
        "outbox_poll_seconds": 0.5,
        "bus_retry_delay_ms": 100,
        "scheduler_tick_seconds": 3600,
        # The daily overdue-fee check would mail the clients of every test whose contracts began months before the
        # fixture's day (no payments recorded); tests of it turn it on (test_fee_reminders.py).
        "fee_reminders": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def office(tmp_path: Path, rules_dir: Path) -> AsyncIterator[Office]:
    async with open_office(tmp_path, rules_dir=rules_dir) as running:
        yield running


@asynccontextmanager
async def open_office(tmp_path: Path, *, clock: ManualClock | None = None,
                      **overrides: object) -> AsyncIterator[Office]:
    """The embedded system with the staff above; `overrides` are settings (e.g. an SMTP server)."""
    settings = embedded_settings(tmp_path, **overrides)
    clock = clock or ManualClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    await upgrade(settings, SERVICES)
    system = EmbeddedSystem(settings, clock=clock)
    await system.start()
    tokens = {}
    async with system.gateway.ctx.db.transaction() as session:
        for login, name, email, role in STAFF:
            await users.create_user(session=session, login=login, name=name, email=email, role=role,
                                    password="secret-" + login, now=clock.now())
            tokens[login] = await users.issue_token(session=session, login=login, name="test", now=clock.now())
    try:
        yield Office(system, clock, tokens)
    finally:
        await system.stop()
