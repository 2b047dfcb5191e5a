"""The visibility rule and the audit log on PostgreSQL: the same queries as on SQLite, and the table append-only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.common.db import Database
from services.common.messages import ABSENCE_CHANGED, AbsenceChanged, Envelope
from services.common.migrate import upgrade
from services.common.settings import Settings
from services.gateway import access, users
from services.gateway.audit import service as audit
from services.gateway.permissions import scope_of

pytestmark = pytest.mark.distributed
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


async def test_team_versions_substitutes_and_the_audit_search_on_postgresql(pg_database: str) -> None:
    settings = Settings(mode="distributed", database_url=pg_database)
    await upgrade(settings, ("gateway",))
    db = Database(settings.database_url_for("gateway"))
    try:
        async with db.transaction() as session:
            for login in ("anna", "ola"):
                await users.create_user(session=session, login=login, name=login.title(),
                                        email=f"{login}@biuro.example", role="accountant", password=None, now=NOW)
            # Contract 1: anna until an annex hands it to ola from January. Contract 2: ola's. Contract 3: anna's,
            # starting next year.
            team = {"accountant": "anna", "payroll": None, "manager": "maria"}
            await access.record_version(session, contract_id=1, client_id=1, version=1,
                                        effective_from=date(2026, 10, 1), team=team)
            await access.record_version(session, contract_id=1, client_id=1, version=2,
                                        effective_from=date(2027, 1, 1), team={**team, "accountant": "ola"})
            await access.record_version(session, contract_id=2, client_id=2, version=1,
                                        effective_from=date(2026, 10, 1), team={**team, "accountant": "ola"})
            await access.record_version(session, contract_id=3, client_id=3, version=1,
                                        effective_from=date(2027, 2, 1), team=team)
            absence = AbsenceChanged(absence_id="a1", login="ola", substitute="anna", starts_on=date(2026, 12, 1),
                                     ends_on=date(2026, 12, 5))
            await access.on_absence_changed(None, session, Envelope(  # type: ignore[arg-type]
                type=ABSENCE_CHANGED, producer="cases", correlation_id="c", occurred_at=NOW,
                payload=absence.model_dump(mode="json")))
            for n in range(3):
                await audit.write(session=session, login="maria", action="contract.annex", target=f"contract:{n}",
                                  at=NOW + timedelta(days=n), correlation_id=f"r{n}")

        async def sees(login: str, day: date) -> list[str] | None:
            async with db.reading() as session:
                user = await users.get_user(session=session, login=login)
                assert user is not None
                return (await scope_of(session=session, user=user, today=day)).contracts

        assert await sees("anna", date(2026, 11, 28)) == ["1", "3"]
        assert await sees("ola", date(2026, 11, 28)) == ["1", "2"]
        assert await sees("anna", date(2026, 12, 2)) == ["1", "2", "3"]  # standing in for ola
        assert await sees("anna", date(2027, 1, 1)) == ["3"]
        async with db.reading() as session:
            found = await audit.search(session=session, action="contract.", target="contract:1",
                                       since=date(2026, 11, 29), until=date(2026, 11, 29))
        assert [r["correlation_id"] for r in found["items"]] == ["r1"] and found["total"] == 1
        for statement in ("UPDATE audit_log SET login = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(DBAPIError, match="append-only"):
                async with db.transaction() as session:
                    await session.execute(text(statement))
    finally:
        await db.dispose()
