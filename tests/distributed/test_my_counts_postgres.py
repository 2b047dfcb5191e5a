""""My cases" counts in two parts on PostgreSQL (the migrated schema): the same counts and page as the one
condition (tests/unit/cases/test_my_counts.py)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.migrate import upgrade
from services.common.settings import Settings
from tests.unit.cases.test_my_counts import check_counts

pytestmark = pytest.mark.distributed


async def test_my_counts_equal_the_one_condition_on_postgresql(pg_database: str) -> None:
    settings = Settings(mode="distributed", database_url=pg_database)
    await upgrade(settings, ("cases",))
    engine = create_async_engine(settings.database_url_for("cases"))
    try:
        await check_counts(engine)
    finally:
        await engine.dispose()
