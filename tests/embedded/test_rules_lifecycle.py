"""Rules change while the office works: preview, apply, reject a broken set, replan exactly what changed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.scheduler import handlers
from tests.conftest import wait_for
from tests.embedded.conftest import ROOT, Office
from tests.samples import contract, sole_trader


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A copy of the default pack the test may edit, as an admin edits the office's rules folder."""
    target = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", target)
    return target


def edit_rules(directory: Path, file: str, change: Any) -> None:
    path = directory / file
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")


async def sign_vat_eu_contract(office: Office) -> str:
    async with office.api() as api:
        client = await api.post("/api/v1/clients", json=sole_trader(vat_eu=True))
        assert client.status_code == 201, client.text
        created = await api.post("/api/v1/contracts", json=contract(client.json()["id"]))
        assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def plan_of(office: Office, contract_id: str) -> list[dict[str, Any]]:
    async with office.api() as api:
        response = await api.get(f"/api/v1/contracts/{contract_id}/plan")
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items


async def test_removing_a_rule_is_previewed_then_withdraws_exactly_its_occurrences(
    office: Office, rules_dir: Path
) -> None:
    contract_id = await sign_vat_eu_contract(office)
    before = await wait_for(lambda: plan_of(office, contract_id), what="the plan")
    vat_ue = {(o["rule_id"], o["period"]) for o in before if o["code"] == "VAT_UE"}
    assert vat_ue and ("vat.vat_ue", "2026-10") in vat_ue

    edit_rules(rules_dir, "vat.yaml", lambda doc: doc["rules"].remove(
        next(r for r in doc["rules"] if r["id"] == "vat.vat_ue")))
    async with office.api() as api:
        preview = (await api.post("/api/v1/rules/preview")).json()
        assert preview["added"] == []
        assert {(o["rule_id"], o["period"]) for o in preview["withdrawn"]} == vat_ue
        assert all(o["contract_id"] == contract_id for o in preview["withdrawn"])
        applied = await api.post("/api/v1/rules/apply")
        assert applied.status_code == 200, applied.text
        assert applied.json()["version"] == preview["candidate_version"]

    await handlers.tick(office.system.runtimes["scheduler"].ctx)  # what the scheduler's loop does next
    after = await plan_of(office, contract_id)
    assert {(o["rule_id"], o["period"]) for o in before} - vat_ue == {(o["rule_id"], o["period"]) for o in after}

    async def october_vat_ue_case() -> list[dict[str, Any]]:
        async with office.api() as api:
            cases = (await api.get("/api/v1/cases", params={"status": "withdrawn"})).json()["items"]
        return [c for c in cases if c["rule_id"] == "vat.vat_ue"]

    [withdrawn] = await wait_for(october_vat_ue_case, what="the generated VAT-UE case to be withdrawn")
    assert withdrawn["period"] == "2026-10"


async def test_a_broken_rule_file_is_rejected_and_the_rules_in_force_keep_working(
    office: Office, rules_dir: Path
) -> None:
    async with office.api() as api:
        in_force = (await api.get("/api/v1/rules")).json()["version"]

    def break_due_day(doc: dict[str, Any]) -> None:
        next(r for r in doc["rules"] if r["id"] == "vat.jpk_v7m")["due"]["day"] = 40

    edit_rules(rules_dir, "vat.yaml", break_due_day)
    async with office.api() as api:
        rejected = await api.post("/api/v1/rules/apply")
        assert rejected.status_code == 422
        [error] = rejected.json()["errors"]
        assert error["file"].endswith("vat.yaml")
        assert error["rule_id"] == "vat.jpk_v7m"
        assert error["field"] == "due.day"
        assert (await api.get("/api/v1/rules")).json()["version"] == in_force

    contract_id = await sign_vat_eu_contract(office)
    plan = await wait_for(lambda: plan_of(office, contract_id), what="a plan made with the rules in force")
    assert {o["rules_version"] for o in plan} == {in_force}
    assert any(o["code"] == "JPK_V7M" and o["due"] == "2026-11-25" for o in plan)


async def test_a_scheduler_starting_on_a_broken_folder_keeps_the_last_good_rules(
    office: Office, rules_dir: Path
) -> None:
    from services.scheduler.service import setup

    scheduler = office.system.runtimes["scheduler"].ctx
    good = scheduler.extras["planner"].version
    edit_rules(rules_dir, "zus.yaml", lambda doc: doc["rules"][0].update(role="janitor"))
    scheduler.extras.pop("planner").close()  # as after a restart: nothing in memory
    await setup(scheduler)
    assert scheduler.extras["planner"].version == good
    async with office.api() as api:
        history = (await api.get("/api/v1/rules")).json()["history"]
    assert history[0]["status"] == "rejected"
    assert any("role" in (e["field"] or "") for e in history[0]["errors"])


HOSTILE_RULES = {
    # A `when` nested 150 levels: the scheduler used to die with RecursionError building its engine.
    "deep_when.yaml": "rules:\n  - id: x.deep\n    code: PFRON\n    title: {pl: T, en: T}\n    category: other\n"
                      "    legal_basis: test\n    recurrence: monthly\n    due: {months_after: 1, day: 20}\n"
                      "    role: accountant\n    when: " + "{not: " * 150 + "{service: vat}" + "}" * 150 + "\n",
    "deep_yaml.yaml": "rules: " + "[" * 3000 + "]" * 3000 + "\n",
    # An alias bomb: 9**9 values once expanded (took 78 s and 5.6 GB before the limits).
    "laughs.yaml": "overrides: [" + ", ".join(
        ["&a0 [" + ", ".join(["lol"] * 9) + "]"] + [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]"
                                                   for i in range(1, 9)]) + "]\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_RULES))
async def test_a_hostile_rule_file_is_refused_and_the_last_good_rules_stay_on_apply_preview_and_start(
    office: Office, rules_dir: Path, name: str
) -> None:
    from services.scheduler.service import setup

    scheduler = office.system.runtimes["scheduler"].ctx
    good = scheduler.extras["planner"].version
    (rules_dir / name).write_text(HOSTILE_RULES[name], encoding="utf-8")
    async with office.api() as api:
        for path in ("/api/v1/rules/preview", "/api/v1/rules/apply"):
            response = await api.post(path)
            assert response.status_code == 422, (path, response.text)
            assert [e["file"] for e in response.json()["errors"]] == [f"rules/{name}"]
        assert (await api.get("/api/v1/rules")).json()["version"] == good

    scheduler.extras.pop("planner").close()  # as after a restart
    await setup(scheduler)
    assert scheduler.extras["planner"].version == good
