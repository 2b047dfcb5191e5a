"""Two cases-service processes on PostgreSQL run the morning job at the same moment (and their own loops at start):
every state change, escalation step, born-overdue summary and digest is published exactly once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from services.cases import watch
from services.cases.models import case_alerts, cases, outbox
from services.common.runtime import INTERNAL_TOKEN_HEADER
from services.common.settings import Settings
from tests.conftest import free_port, wait_while_progressing
from tests.distributed.cluster import Cluster, running_cluster

pytestmark = pytest.mark.distributed

MONDAY = date(2026, 11, 30)
NOW = "2026-11-30T06:30:00+00:00"  # 07:30 in Warsaw, a business morning
CASES = 600
PEOPLE = 12


@pytest.fixture
async def cluster(pg_database: str, amqp_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(database_url=pg_database, amqp_url=amqp_url, frozen_time=NOW, log_dir=tmp_path, env={
        "TERMINARZ_CASE_MANAGERS": "Maria <maria@biuro.example>, Jan <jan@biuro.example>",
        "TERMINARZ_CASE_WATCH_TICK_SECONDS": "0.5", "TERMINARZ_LOG_LEVEL": "WARNING",
    }) as cluster:
        yield cluster


def rows() -> list[dict[str, Any]]:
    """Cases created a month ago due from 20 business days back to 10 ahead, and every 10th born overdue today."""
    created = datetime(2026, 10, 30, 9, tzinfo=UTC)
    out = []
    for i in range(CASES):
        due = MONDAY + timedelta(days=(i % 40) - 25)
        born = i % 10 == 0 and due < MONDAY
        login = f"osoba{i % PEOPLE}"
        out.append({
            "id": str(uuid.uuid4()), "contract_id": f"k{i % 50}", "contract_number": f"{i % 50}/2026",
            "client_name": f"Klient {i % 50}", "rule_id": f"r{i}", "code": "VAT", "period": "2026-10",
            "title": f"Sprawa {i}", "title_en": "", "due": due, "status": "open", "role": "accountant",
            "assignee_login": login, "assignee_name": login.title(), "assignee_email": f"{login}@biuro.example",
            "commissioner_login": "szef" if i % 3 else None, "commissioner_name": "Szef" if i % 3 else "",
            "commissioner_email": "szef@biuro.example" if i % 3 else "",
            "checklist": [], "notice": [], "late_on_creation": born,
            "created_at": datetime(2026, 11, 27, 14, tzinfo=UTC) if born else created,
            "updated_at": created,
        })
    return out


async def outbox_events(url: str) -> list[tuple[str, dict[str, Any]]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.execute(select(outbox.c.type, outbox.c.body).order_by(outbox.c.seq))
            return [(kind, json.loads(body)["payload"]) for kind, body in found]
    finally:
        await engine.dispose()


async def test_two_cases_processes_running_the_morning_job_at_once_publish_each_decision_once(
    cluster: Cluster
) -> None:
    url = Settings(database_url=cluster.env["TERMINARZ_DATABASE_URL"]).database_url_for("cases")
    engine = create_async_engine(url)
    data = rows()
    async with engine.begin() as conn:
        await conn.execute(cases.insert(), data)
    await engine.dispose()

    second = free_port()
    cluster.start("cases")
    cluster.start("cases", port=second)
    await cluster.wait_ready("cases")
    await cluster.wait_ready("cases", port=second)
    headers = {INTERNAL_TOKEN_HEADER: cluster.env["TERMINARZ_INTERNAL_TOKEN"]}

    async def run(port: int) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as api:
            response = await api.post("/jobs/morning")
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

    # What one run alone decides, counted from the data.
    steps = [1, 3, 5]
    expected: Counter[str] = Counter()
    for row in data:
        state = watch.deadline_state(row["due"], MONDAY, 3)
        if state in ("due_soon", "overdue"):
            expected[f"case.{state}"] += 1
        if state == "overdue":
            days = watch.business_days_between(watch.ladder_start(row["due"], row["created_at"]), MONDAY)
            expected["case.escalated"] += sum(1 for threshold in steps if days >= threshold)
    expected["case.overdue_summary"] = 2  # one per manager
    expected["case.digest"] = PEOPLE

    # Both processes at once, twice each (their own loops run it too as they start). A call returns what it
    # did itself: it comes back for the cases other work held, and `left` counts those still held after its wait.
    answers = await asyncio.gather(run(cluster.ports["cases"]), run(second), run(cluster.ports["cases"]), run(second))

    published: Counter[str] = Counter()

    async def all_published() -> bool:
        published.clear()
        published.update(kind for kind, _ in await outbox_events(url))
        assert all(published[k] <= n for k, n in expected.items()), f"published twice: {dict(published)}"
        return published == expected

    # A process's own start-up run may still hold rows the calls above skipped; it finishes them (slowly on a
    # loaded machine): wait while the count grows, fail when it stops short.
    try:
        await wait_while_progressing(all_published, lambda: dict(published), stall=90,
                                     what=f"the morning's decisions {dict(expected)}")
    except AssertionError as stalled:
        raise AssertionError(f"{stalled}\nthe calls answered {answers}\n{await _why_short(url, data, steps)}") from None
    await asyncio.gather(run(cluster.ports["cases"]), run(second))
    events = await outbox_events(url)
    assert Counter(kind for kind, _ in events) == expected

    keys: Counter[tuple[Any, ...]] = Counter()
    for kind, p in events:
        if kind == "case.escalated":
            keys[(kind, p["case"]["case_id"], p["step"])] += 1
        elif kind in ("case.due_soon", "case.overdue"):
            keys[(kind, p["case"]["case_id"])] += 1
        else:
            keys[(kind, p["recipient"]["email"], p["day"])] += 1
    assert [key for key, n in keys.items() if n > 1] == [], "a decision was published twice"
    summary = [p for kind, p in events if kind == "case.overdue_summary"]
    born = sum(1 for row in data if row["late_on_creation"])
    assert sorted((s["recipient"]["email"], s["total"]) for s in summary) == [
        ("jan@biuro.example", born), ("maria@biuro.example", born)]


async def _why_short(url: str, data: list[dict[str, Any]], steps: list[int]) -> str:
    """What a stalled run left: the escalations not published, with each case's row and alerts, and what the
    database's sessions were doing. Seen under a heavily loaded PostgreSQL: the born-overdue cases' step 1, skipped
    by every run while the summary's transaction held them (tests/distributed/test_morning_job_held_cases.py)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            events = [(kind, json.loads(body)["payload"])
                      for kind, body in await conn.execute(select(outbox.c.type, outbox.c.body))]
            published = {(p["case"]["case_id"], p["step"]) for kind, p in events if kind == "case.escalated"}
            missing = []
            for row in data:
                if watch.deadline_state(row["due"], MONDAY, 3) != "overdue":
                    continue
                days = watch.business_days_between(watch.ladder_start(row["due"], row["created_at"]), MONDAY)
                missing += [(row["id"], n) for n, t in enumerate(steps, 1)
                            if days >= t and (row["id"], n) not in published]
            lines = [f"{len(missing)} escalations missing; first: {missing[:3]}"]
            for case_id, _ in missing[:3]:
                stored = (await conn.execute(select(cases).where(cases.c.id == case_id))).one()._mapping
                alerts = (await conn.execute(select(case_alerts).where(case_alerts.c.case_id == case_id))).all()
                lines.append(f"case {case_id}: due {stored['due']} created {stored['created_at']} state "
                             f"{stored['deadline_state']} status {stored['status']} born {stored['late_on_creation']};"
                             f" alerts {[tuple(a) for a in alerts]}")
            activity = await conn.execute(text(
                "SELECT pid, state, wait_event_type, wait_event, now() - xact_start, left(query, 120)"
                " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))
            lines += [f"session {tuple(r)}" for r in activity]
            return "\n".join(lines)
    finally:
        await engine.dispose()

