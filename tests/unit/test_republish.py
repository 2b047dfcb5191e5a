"""After databases are restored from snapshots taken one after another: an event a consumer should have and
has no inbox record of is published again; one every consumer has, or nobody consumes, is not."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from services.backup import republish_unconsumed
from services.cases.models import inbox as cases_inbox
from services.common.db import Database
from services.common.migrate import upgrade
from services.common.settings import Settings
from services.scheduler.models import outbox as scheduler_outbox
from services.system import load_spec


async def test_only_events_a_consumer_lacks_are_published_again(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    await upgrade(settings, ("scheduler", "cases"))
    urls = {s: settings.database_url_for(s) for s in ("scheduler", "cases")}
    scheduler, cases = Database(urls["scheduler"]), Database(urls["cases"])
    assert "case.requested" in load_spec("cases").handlers and "rules.loaded" not in load_spec("cases").handlers
    published = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    async with scheduler.transaction() as session:
        await session.execute(scheduler_outbox.delete())
        for message_id, type_ in (("m-consumed", "case.requested"), ("m-in-flight", "case.requested"),
                                  ("m-nobody-wants", "rules.loaded")):
            await session.execute(scheduler_outbox.insert().values(
                message_id=message_id, type=type_, body="{}", created_at=published, published_at=published,
                attempts=1))
        await session.execute(scheduler_outbox.insert().values(
            message_id="m-never-sent", type="case.requested", body="{}", created_at=published, attempts=0))
    async with cases.transaction() as session:
        await session.execute(cases_inbox.insert().values(message_id="m-consumed", type="case.requested",
                                                          processed_at=published))

    assert await republish_unconsumed(urls) == {"scheduler": 1, "cases": 0}
    assert await republish_unconsumed(urls) == {"scheduler": 0, "cases": 0}  # repeating it changes nothing more

    async with scheduler.reading() as session:
        pending = set((await session.execute(
            select(scheduler_outbox.c.message_id).where(scheduler_outbox.c.published_at.is_(None)))).scalars())
    assert pending == {"m-in-flight", "m-never-sent"}
    await scheduler.dispose()
    await cases.dispose()
