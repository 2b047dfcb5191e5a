"""Two notifier replicas on one PostgreSQL database deliver each pending mail once, not once each."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.common.bus.memory import InMemoryBus
from services.common.clock import ManualClock
from services.common.migrate import upgrade
from services.common.runtime import ServiceRuntime
from services.common.settings import Settings
from services.notifier import handlers
from services.notifier.mailer import SmtpMailer
from services.notifier.models import mails
from services.system import load_spec
from tests.conftest import CapturedMail

pytestmark = pytest.mark.distributed


async def test_two_dispatchers_send_each_mail_once(pg_database: str, tmp_path: Path,
                                                   smtp_server: tuple[str, int, CapturedMail]) -> None:
    host, port, captured = smtp_server
    settings = Settings(mode="distributed", database_url=pg_database, smtp_host=host, smtp_port=port)
    await upgrade(settings, ("notifier",))
    clock = ManualClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    replicas = [ServiceRuntime(load_spec("notifier"), settings=settings, bus=InMemoryBus(), clock=clock)
                for _ in range(2)]
    async with replicas[0].ctx.db.transaction() as session:
        await session.execute(mails.insert(), [
            {"id": str(uuid.uuid4()), "kind": "case_created", "to_address": "anna@biuro.example",
             "subject": f"Sprawa {i}", "body": "…", "status": "pending", "attempts": 0, "created_at": clock.now()}
            for i in range(12)])
    try:
        handled = await asyncio.gather(*(handlers.dispatch_pending(r.ctx, SmtpMailer(settings)) for r in replicas))
    finally:
        for replica in replicas:
            await replica.ctx.db.dispose()

    assert sum(handled) == 12
    sent = Counter(str(m["Subject"]) for m in captured.messages)
    assert sent == Counter({f"Sprawa {i}": 1 for i in range(12)})
