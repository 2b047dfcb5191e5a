"""The report aggregates on PostgreSQL: the Warsaw day and month of a UTC timestamp (AT TIME ZONE there, a
registered function on SQLite) give the same counts as the embedded tests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.cases import reports as case_reports
from services.cases.models import cases
from services.common.db import Database
from services.common.migrate import upgrade
from services.common.scope import Scope
from services.common.settings import Settings
from services.notifier import reports as notifier_reports
from services.notifier.models import notice_items, notices

pytestmark = pytest.mark.distributed
ANNA = Scope(login="anna", role="accountant", contracts=["1"])


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _case(contract_id: str, due: str, status: str, completed: str | None = None,
          login: str = "anna") -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "contract_id": contract_id, "contract_number": f"K/{contract_id}",
            "client_name": "Alfa", "rule_id": uuid.uuid4().hex[:8], "period": due[:7], "title": "Sprawa",
            "title_en": "", "due": date.fromisoformat(due), "status": status, "assignee_login": login,
            "assignee_name": "Anna", "assignee_email": "", "commissioner_name": "", "checklist": [], "notice": [],
            "late_on_creation": False, "created_at": utc("2026-09-01T08:00:00"),
            "updated_at": utc("2026-09-01T08:00:00"), "completed_at": utc(completed) if completed else None,
            "party": "office", "duty": None, "received_on": None}  # one shape for every row of the executemany


async def test_execution_and_notified_months_follow_warsaw_time_on_postgresql(pg_database: str) -> None:
    settings = Settings(mode="distributed", database_url=pg_database)
    await upgrade(settings, ("cases", "notifier"))
    cases_db = Database(settings.database_url_for("cases"))
    notifier_db = Database(settings.database_url_for("notifier"))
    try:
        async with cases_db.transaction() as session:
            await session.execute(cases.insert(), [
                _case("1", "2026-10-20", "done", "2026-10-20T21:30:00"),  # 23:30 in Warsaw: on time
                _case("1", "2026-10-20", "done", "2026-10-20T22:30:00"),  # 00:30 the next day: late
                _case("1", "2026-11-10", "open"), _case("1", "2026-11-28", "open"),
                _case("1", "2026-11-20", "not_applicable"), _case("2", "2026-11-05", "open", login="ola"),  # not anna's
                # The client's tasks: documents due 9.11 received 12.11 (late), and ones due 10.11 still awaited.
                _case("1", "2026-11-09", "done", "2026-11-12T10:00:00") | {
                    "party": "client", "duty": "documents", "received_on": date(2026, 11, 12)},
                _case("1", "2026-11-10", "open") | {"party": "client", "duty": "bank_statements"},
            ])
        async with cases_db.reading() as session:
            rows = await case_reports.execution(session=session, scope=ANNA, first=date(2026, 10, 1),
                                                last=date(2026, 11, 1), today=date(2026, 11, 28))
            overdue = await case_reports.overdue(session=session, scope=ANNA, today=date(2026, 11, 28))
        assert [(r["month"], r["due"], r["done_on_time"], r["done_late"], r["overdue"], r["not_applicable"],
                 r["open"]) for r in rows] == [("2026-10", 2, 1, 1, 0, 0, 0), ("2026-11", 3, 0, 0, 1, 1, 1)]
        assert [(r["month"], r["client_due"], r["client_on_time"], r["client_late"], r["client_overdue"])
                for r in rows] == [("2026-10", 0, 0, 0, 0), ("2026-11", 2, 0, 1, 1)]
        # The office's overdue case; the client's task still awaited is the client's lateness, counted apart.
        assert (overdue["total"], overdue["client_tasks"]["total"]) == (1, 1)
        async with notifier_db.transaction() as session:
            await session.execute(notices.insert(), [{
                "id": "n1", "kind": "liability", "client_id": "1", "contract_id": "1", "status": "confirmed",
                "requires_confirmation": True, "issued_at": utc("2026-10-31T23:30:00"),  # 1 November in Warsaw
                "confirmed_at": utc("2026-11-02T10:00:00"), "created_at": utc("2026-10-31T23:30:00"),
                "updated_at": utc("2026-10-31T23:30:00")}])
            await session.execute(notice_items.insert(), [
                {"notice_id": "n1", "kind": "vat", "amount": Decimal("1000.10"), "due": date(2026, 11, 25),
                 "account_kind": "mikrorachunek", "status": "active", "position": 0},
                {"notice_id": "n1", "kind": "zus", "amount": Decimal("99.00"), "due": date(2026, 11, 25),
                 "account_kind": "zus", "status": "retired", "position": 1}])
        async with notifier_db.reading() as session:
            notified = await notifier_reports.notified(session=session, scope=ANNA, first=date(2026, 10, 1),
                                                       last=date(2026, 11, 1))
        assert notified["notices"] == [{"contract_id": "1", "month": "2026-11", "sent": 1, "confirmed": 1}]
        assert notified["liabilities"] == [{"contract_id": "1", "month": "2026-11", "kind": "vat", "count": 1,
                                            "amount": "1000.10", "confirmed_count": 1,
                                            "confirmed_amount": "1000.10"}]
    finally:
        await cases_db.dispose()
        await notifier_db.dispose()
