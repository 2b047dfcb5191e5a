"""Rows answered by the services are keyed by plain `str` (services/common/db.py): pydantic encodes SQLAlchemy's
`quoted_name` keys ~30 times slower, which made a page of 100 cases cost 10-17 ms to encode."""

from __future__ import annotations

from datetime import date

from pydantic import TypeAdapter
from sqlalchemy import Column, Date, Integer, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.db import plain, plain_rows

metadata = MetaData()
things = Table("things", metadata, Column("id", Integer, primary_key=True), Column("name", String(20)),
               Column("due", Date))


async def test_rows_come_back_as_dicts_with_plain_string_keys_and_encode_the_same() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(insert(things), [{"id": 1, "name": "VAT", "due": date(2026, 12, 25)},
                                            {"id": 2, "name": "ZUS", "due": date(2026, 12, 15)}])
        as_result = plain_rows(await conn.execute(select(things).order_by(things.c.id)))
        rows = (await conn.execute(select(things).order_by(things.c.id))).all()
    await engine.dispose()
    assert as_result == plain_rows(rows) == [plain(row) for row in rows] == [
        {"id": 1, "name": "VAT", "due": date(2026, 12, 25)}, {"id": 2, "name": "ZUS", "due": date(2026, 12, 15)}]
    assert all(type(key) is str for row in as_result for key in row)
    assert {type(key) for key in rows[0]._mapping} != {str}  # what they were: SQLAlchemy's own str subclass
    assert TypeAdapter(list[dict[str, object]]).dump_json(as_result) == \
        b'[{"id":1,"name":"VAT","due":"2026-12-25"},{"id":2,"name":"ZUS","due":"2026-12-15"}]'
