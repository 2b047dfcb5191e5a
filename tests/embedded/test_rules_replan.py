"""A rules change that moves dates: the preview lists exactly what moves, per contract, and applying it moves the
planned occurrences and the open cases (which keep their assignee and record the move); done cases stay."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select, update

from services.cases.models import cases
from services.scheduler import handlers
from services.scheduler.models import occurrences, planned_contracts
from tests.conftest import wait_for
from tests.embedded.conftest import ROOT, Office
from tests.embedded.test_client_duties import at, client_task, sign
from tests.samples import contract, sole_trader

JPK = "vat.jpk_v7m"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", target)
    return target


def edit_jpk_v7m(directory: Path, *, without: tuple[str, ...] = (), **changes: Any) -> None:
    """Change (or, `without`, drop) fields of the JPK_V7M rule in the rules folder."""
    path = directory / "vat.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    rule = next(r for r in document["rules"] if r["id"] == JPK)
    rule.update(changes)
    for name in without:
        rule.pop(name, None)
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")


async def _items(api: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    response = await api.get(path, params=params)
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def two_contracts_one_case_done(office: Office, **terms: Any) -> dict[str, dict[str, Any]]:
    """Contracts A and B, monthly VAT from 1 October 2026 to 31 January 2027 (the clock stands at 28 November):
    JPK_V7M for 2026-10 (due 25.11) is a case for each; B's is done and B is terminated. The rest of JPK_V7M is planned:
    2026-11 (due Mon 28.12: 25-27.12 are holidays and a Sunday), 2026-12 (25.01.2027), 2027-01 (25.02.2027).
    `terms`: more of the contracts' terms (e.g. client_duties)."""
    found: dict[str, dict[str, Any]] = {}
    async with office.api() as api:
        for name, seed in (("A", "526104057"), ("B", "951217341")):
            client = await api.post("/api/v1/clients", json=sole_trader(f"Klient {name}", seed=seed))
            assert client.status_code == 201, client.text
            body = {**contract(client.json()["id"], number=f"R/{name}"), "end": "2027-01-31", **terms}
            signed = await api.post("/api/v1/contracts", json=body)
            assert signed.status_code == 201, signed.text
            cid = str(signed.json()["id"])

            async def october_case(cid: str = cid) -> list[dict[str, Any]]:
                return [c for c in await _items(api, "/api/v1/cases", contract_id=cid)
                        if c["rule_id"] == JPK and c["period"] == "2026-10"]

            [case] = await wait_for(october_case, what=f"contract {name}'s October JPK_V7M case")
            found[name] = {"contract_id": cid, "case": case}
    async with office.system.runtimes["cases"].ctx.db.transaction() as session:
        await session.execute(update(cases).where(cases.c.id == found["B"]["case"]["id"]).values(status="done"))
    # B is also terminated (on the day it was to end anyway): until then its plan follows the rules like any other.
    async with office.api() as api:
        ended = await api.post(f"/api/v1/contracts/{found['B']['contract_id']}/termination",
                               json={"end": "2027-01-31", "reason": "klient zamyka działalność"})
        assert ended.status_code == 201, ended.text
        await wait_for(lambda: _offboarding_notice(api, found["B"]["contract_id"]), what="B's termination planned")
    return found


async def _offboarding_notice(api: httpx.AsyncClient, contract_id: str) -> bool:
    return any(o["rule_id"] == "offboarding.notice" for o in await _items(api, f"/api/v1/contracts/{contract_id}/plan"))


def _jpk(plan: list[dict[str, Any]]) -> dict[str, tuple[str, str, str]]:
    return {o["period"]: (o["due"], o["generate_on"], o["status"]) for o in plan if o["rule_id"] == JPK}


async def _plan(office: Office, contract_id: str) -> list[dict[str, Any]]:
    async with office.api() as api:
        return await _items(api, f"/api/v1/contracts/{contract_id}/plan")


async def _case(office: Office, case_id: str) -> dict[str, Any]:
    async with office.api() as api:
        response = await api.get(f"/api/v1/cases/{case_id}")
        response.raise_for_status()
        case: dict[str, Any] = response.json()
        return case


def _moved(preview: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["contract_number"], o["period"]): o["changes"] for o in preview["changed"] if o["rule_id"] == JPK}


async def test_a_due_day_change_is_previewed_and_moves_planned_occurrences_and_open_cases(
    office: Office, rules_dir: Path
) -> None:
    contracts = await two_contracts_one_case_done(office)
    edit_jpk_v7m(rules_dir, due={"months_after": 1, "day": 27})
    # By hand: the 27th instead of the 25th, moved past free days; created 10 days before.
    # 2026-10: Wed 25.11 → Fri 27.11. 2026-11: both land on Mon 28.12 (25-27.12 free): no change.
    # 2026-12: Mon 25.01 → Wed 27.01. 2027-01: Thu 25.02 → Sat 27.02 → Mon 1.03.
    expected = {
        "2026-10": {"due": {"from": "2026-11-25", "to": "2026-11-27"},
                    "generate_on": {"from": "2026-11-15", "to": "2026-11-17"}},
        "2026-12": {"due": {"from": "2027-01-25", "to": "2027-01-27"},
                    "generate_on": {"from": "2027-01-15", "to": "2027-01-17"}},
        "2027-01": {"due": {"from": "2027-02-25", "to": "2027-03-01"},
                    "generate_on": {"from": "2027-02-15", "to": "2027-02-19"}},
    }
    async with office.api() as api:
        preview = (await api.post("/api/v1/rules/preview")).json()
    assert preview["added"] == [] and preview["withdrawn"] == []
    assert _moved(preview) == {(number, period): change for number in ("R/A", "R/B")
                               for period, change in expected.items()}
    assert {c["contract_number"]: (c["added"], c["changed"], c["withdrawn"]) for c in preview["contracts"]} == {
        "R/A": (0, 3, 0), "R/B": (0, 3, 0)}
    assert {o["status"] for o in preview["changed"] if o["period"] == "2026-10"} == {"requested"}

    async with office.api() as api:
        applied = await api.post("/api/v1/rules/apply")
        assert applied.status_code == 200, applied.text

    # Applying wakes the scheduler's loop: nobody has to wait for the next tick.
    async def a_moved() -> dict[str, Any] | None:
        case = await _case(office, contracts["A"]["case"]["id"])
        return case if case["due"] == "2026-11-27" else None

    case_a = await wait_for(a_moved, what="A's open October case to follow the new due day")
    assert (case_a["generate_on"], case_a["status"], case_a["assignee_login"]) == ("2026-11-17", "open", "anna")
    assert case_a["rules_version"] == applied.json()["version"]
    [move] = [h for h in case_a["history"] if h["event"] == "replanned"]
    assert "due 2026-11-25 → 2026-11-27" in move["detail"] and "generate-on 2026-11-15 → 2026-11-17" in move["detail"]

    for name in ("A", "B"):
        assert _jpk(await _plan(office, contracts[name]["contract_id"])) == {
            "2026-10": ("2026-11-27", "2026-11-17", "requested"),
            "2026-11": ("2026-12-28", "2026-12-18", "planned"),
            "2026-12": ("2027-01-27", "2027-01-17", "planned"),
            "2027-01": ("2027-03-01", "2027-02-19", "planned"),
        }
    done = await _case(office, contracts["B"]["case"]["id"])
    assert (done["due"], done["generate_on"], done["status"]) == ("2026-11-25", "2026-11-15", "done")
    assert [h["event"] for h in done["history"]] == ["created"]

    # Replanning again (the next tick) changes nothing more: one move recorded, not two.
    await handlers.tick(office.system.runtimes["scheduler"].ctx)
    assert [h["event"] for h in (await _case(office, contracts["A"]["case"]["id"]))["history"]] == [
        "created", "replanned"]


async def test_a_lead_time_change_is_previewed_and_moves_generate_on_dates_of_plans_and_open_cases(
    office: Office, rules_dir: Path
) -> None:
    contracts = await two_contracts_one_case_done(office)
    edit_jpk_v7m(rules_dir, lead={"days": 45})
    # By hand: every JPK_V7M occurrence is now created 45 days before its due date instead of 10.
    expected = {
        "2026-10": {"generate_on": {"from": "2026-11-15", "to": "2026-10-11"}},  # due 25.11.2026
        "2026-11": {"generate_on": {"from": "2026-12-18", "to": "2026-11-13"}},  # due 28.12.2026
        "2026-12": {"generate_on": {"from": "2027-01-15", "to": "2026-12-11"}},  # due 25.01.2027
        "2027-01": {"generate_on": {"from": "2027-02-15", "to": "2027-01-11"}},  # due 25.02.2027
    }
    async with office.api() as api:
        preview = (await api.post("/api/v1/rules/preview")).json()
        assert preview["added"] == [] and preview["withdrawn"] == []
        assert _moved(preview) == {(number, period): change for number in ("R/A", "R/B")
                                   for period, change in expected.items()}
        applied = await api.post("/api/v1/rules/apply")
        assert applied.status_code == 200, applied.text

    async def a_moved() -> dict[str, Any] | None:
        case = await _case(office, contracts["A"]["case"]["id"])
        return case if case["generate_on"] == "2026-10-11" else None

    case_a = await wait_for(a_moved, what="A's open October case to carry the new generate-on date")
    assert (case_a["due"], case_a["assignee_login"]) == ("2026-11-25", "anna")
    done = await _case(office, contracts["B"]["case"]["id"])
    assert (done["generate_on"], done["status"]) == ("2026-11-15", "done")

    async def november_requested() -> dict[str, tuple[str, str, str]] | None:
        plan = _jpk(await _plan(office, contracts["A"]["contract_id"]))
        return plan if plan["2026-11"][2] == "requested" else None

    # November's JPK_V7M is now to be created on 13.11, which has passed: it is requested at once.
    plan = await wait_for(november_requested, what="November's JPK_V7M requested under the longer lead")
    assert plan == {
        "2026-10": ("2026-11-25", "2026-10-11", "requested"),
        "2026-11": ("2026-12-28", "2026-11-13", "requested"),
        "2026-12": ("2027-01-25", "2026-12-11", "planned"),
        "2027-01": ("2027-02-25", "2027-01-11", "planned"),
    }


async def test_a_rule_that_comes_to_require_a_upo_and_the_clients_documents_updates_its_open_cases_not_done_ones(
    office: Office, rules_dir: Path
) -> None:
    # Before: JPK_V7M without `depends_on` (as the quarterly JPK_V7K was, when its cases were made).
    edit_jpk_v7m(rules_dir, without=("depends_on",))
    async with office.api() as api:
        assert (await api.post("/api/v1/rules/apply")).status_code == 200
    # The clients send their documents by the 8th (October's: Sun 8.11 → Mon 9.11.2026, awaited still on 28.11).
    contracts = await two_contracts_one_case_done(office, client_duties={"documents_day": 8})
    a_id, b_id = contracts["A"]["case"]["id"], contracts["B"]["case"]["id"]
    before = await _case(office, a_id)
    assert (before["requires"], before["depends_on"], before.get("client_duties", [])) == ([], [], [])
    async with office.api("anna") as api:  # A's work has begun: its first item is ticked
        assert (await api.post(f"/api/v1/cases/{a_id}/start")).status_code == 200
        assert (await api.put(f"/api/v1/cases/{a_id}/checklist/0", json={"done": True})).status_code == 200

    edit_jpk_v7m(rules_dir, requires=["upo"], depends_on=["documents"])
    added = {"requires": {"from": [], "to": ["upo"]}, "depends_on": {"from": [], "to": ["documents"]}}
    async with office.api() as api:
        preview = (await api.post("/api/v1/rules/preview")).json()
        assert preview["added"] == [] and preview["withdrawn"] == []
        assert _moved(preview) == {(number, period): added for number in ("R/A", "R/B")
                                   for period in ("2026-10", "2026-11", "2026-12", "2027-01")}
        applied = await api.post("/api/v1/rules/apply")
        assert applied.status_code == 200, applied.text

    async def a_follows() -> dict[str, Any] | None:
        case = await _case(office, a_id)
        return case if case["requires"] == ["upo"] else None

    case_a = await wait_for(a_follows, what="A's open October case to take the rule's new requires and depends_on")
    assert case_a["depends_on"] == ["documents"]
    assert (case_a["status"], case_a["assignee_login"], case_a["due"]) == ("in_progress", "anna", "2026-11-25")
    assert case_a["rules_version"] == applied.json()["version"]
    assert [item["done"] for item in case_a["checklist"]] == [True, False, False, False]  # the tick stays
    [move] = [h for h in case_a["history"] if h["event"] == "replanned"]
    assert move["detail"] == f"requires — → upo; depends-on — → documents (rules {applied.json()['version']})"
    # What the new fields do: the case shows the client's documents, and is not done without a UPO.
    assert [(d["state"], d["text"]) for d in case_a["client_duties"]] == [
        ("overdue", "Dokumenty za październik 2026 jeszcze nie wpłynęły, termin minął 09.11.2026")]
    async with office.api("anna") as api:
        required = next(i for i, item in enumerate(case_a["checklist"]) if item.get("required"))
        assert (await api.put(f"/api/v1/cases/{a_id}/checklist/{required}", json={"done": True})).status_code == 200
        blocked = await api.post(f"/api/v1/cases/{a_id}/finish", json={"liabilities": {"vat": "0"}})
        assert blocked.status_code == 409 and blocked.json()["errors"] == [{"field": "attachments", "message": "upo"}]

    # B's October case was done before the change: history, not rewritten.
    done = await _case(office, b_id)
    assert (done["status"], done["requires"], done["depends_on"]) == ("done", [], [])
    assert [h["event"] for h in done["history"]] == ["created"]
    # The next replan finds nothing more to carry.
    await handlers.tick(office.system.runtimes["scheduler"].ctx)
    assert [h["event"] for h in (await _case(office, a_id))["history"]].count("replanned") == 1


async def test_cases_made_before_their_rule_had_depends_on_take_it_at_the_next_daily_replan(office: Office) -> None:
    """The quarterly JPK_V7K came to depend on the documents in a rules change whose replan did not carry
    `depends_on`: its cases, and the occurrences behind them, kept none. The next daily replan carries it."""
    async with office.api() as api:
        client = await api.post("/api/v1/clients", json=sole_trader("Klient S", seed="526104057"))
        signed = await api.post("/api/v1/contracts", json=contract(client.json()["id"], number="R/S"))
        assert signed.status_code == 201, signed.text
        contract_id = str(signed.json()["id"])

        async def october_case() -> list[dict[str, Any]]:
            return [c for c in await _items(api, "/api/v1/cases", contract_id=contract_id)
                    if c["rule_id"] == JPK and c["period"] == "2026-10"]

        [case] = await wait_for(october_case, what="the October JPK_V7M case")
    scheduler = office.system.runtimes["scheduler"].ctx
    # As written before the rule said `depends_on` (and as the replan then left them): the case and its occurrence.
    async with office.system.runtimes["cases"].ctx.db.transaction() as session:
        await session.execute(update(cases).where(cases.c.id == case["id"]).values(depends_on=[]))
    async with scheduler.db.transaction() as session:
        mine = (occurrences.c.contract_id == contract_id) & (occurrences.c.status == "requested")
        for row in (await session.execute(select(occurrences.c.id, occurrences.c.detail).where(mine))).all():
            detail = {k: v for k, v in row.detail.items() if k != "depends_on"}
            await session.execute(update(occurrences).where(occurrences.c.id == row.id).values(detail=detail))
        # Planned yesterday: the tick replans it today (as it replans every contract once a day).
        await session.execute(update(planned_contracts).where(planned_contracts.c.contract_id == contract_id)
                              .values(planned_on=scheduler.clock.today() - timedelta(days=1)))
    assert (await _case(office, case["id"]))["depends_on"] == []

    await handlers.tick(scheduler)

    async def healed() -> dict[str, Any] | None:
        shown = await _case(office, case["id"])
        return shown if shown["depends_on"] == ["documents"] else None

    shown = await wait_for(healed, what="the case to take its rule's depends_on")
    assert [h["detail"] for h in shown["history"] if h["event"] == "replanned"] == [
        "depends-on — → documents (replan)"]


async def test_an_annex_that_moves_an_open_case_makes_it_name_the_contract_version_it_now_follows(
    office: Office
) -> None:
    office.clock.set(datetime(2026, 10, 20, 9, 0, tzinfo=UTC))
    contract_id = await sign(office, "R/V", "526104057")  # documents by the 8th
    await at(office, datetime(2026, 10, 26, 7, 0, tzinfo=UTC))
    task = await client_task(office, contract_id, "2026-10")
    assert (task["due"], task["contract_version"]) == ("2026-11-09", 1)
    async with office.api() as api:
        # From the start of the contract the documents are due by the 10th: October's by Tue 10.11.2026.
        annex = await api.post(f"/api/v1/contracts/{contract_id}/annexes",
                               json={"effective_from": "2026-10-01", "client_duties": {"documents_day": 10}})
        assert annex.status_code == 201, annex.text

    async def moved() -> dict[str, Any] | None:
        case = await _case(office, task["id"])
        return case if case["due"] == "2026-11-10" else None

    case = await wait_for(moved, what="the open client task to follow the annex")
    assert (case["contract_version"], case["status"], case["assignee_login"]) == (2, "open", "anna")
    assert "contract-version 1 → 2" in [h for h in case["history"] if h["event"] == "replanned"][-1]["detail"]
