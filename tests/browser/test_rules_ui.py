"""The rules page in a real browser: an admin previews an edited rule set, and a broken one is refused."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.browser.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, open_from_menu
from tests.conftest import ROOT, wait_for
from tests.embedded.conftest import Office
from tests.samples import contract, sole_trader

pytestmark = pytest.mark.browser


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", target)
    return target


def edit_vat_rules(rules_dir: Path, change: Any) -> None:
    path = rules_dir / "vat.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document["rules"])
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")


async def test_admin_previews_a_rule_change_and_a_broken_set_is_refused(
    base_url: str, office: Office, rules_dir: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    async with office.api() as api:
        client = (await api.post("/api/v1/clients", json=sole_trader(vat_eu=True))).json()
        signed = (await api.post("/api/v1/contracts", json=contract(client["id"], number="R/1"))).json()

        async def planned() -> bool:
            plan = (await api.get(f"/api/v1/contracts/{signed['id']}/plan")).json()["items"]
            return any(o["code"] == "VAT_UE" for o in plan)

        await wait_for(planned, what="VAT-UE in the plan")

    def drop_vat_ue_and_move_jpk(rules: list[dict[str, Any]]) -> None:
        rules.remove(next(r for r in rules if r["id"] == "vat.vat_ue"))
        next(r for r in rules if r["id"] == "vat.jpk_v7m")["due"]["day"] = 27

    edit_vat_rules(rules_dir, drop_vat_ue_and_move_jpk)

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(f"{base_url}/login")
            await page.fill("input[name=login]", "admin")
            await page.fill("input[name=password]", "secret-admin")
            await page.click("button[type=submit]")
            await open_from_menu(page, "Reguły")
            in_force = await page.locator("#rules-version").inner_text()

            await page.get_by_role("button", name="Podgląd zmian").click()
            preview = page.locator("#rules-preview")
            await expect(preview).to_contain_text("Zostałyby wycofane")
            await expect(preview.locator("tr", has_text="VAT_UE").first).to_contain_text("R/1")
            # October's JPK_V7M (a case already) would move from 25.11 to Fri 27.11, and the admin sees it.
            moved = page.locator("#preview-changed tr", has_text="2026-10")
            await expect(moved).to_contain_text("termin: 25.11.2026 → 27.11.2026")
            await expect(moved).to_contain_text("sprawa istnieje")
            await expect(page.locator("#preview-contracts")).to_contain_text("R/1")
            await page.screenshot(path=str(ARTIFACTS / "rules_preview.png"), full_page=True)

            edit_vat_rules(rules_dir, lambda rules: rules[0]["due"].update(day=40))
            await page.get_by_role("button", name="Zastosuj reguły z folderu").click()
            errors = page.locator("#rule-errors")
            await expect(errors).to_contain_text("vat.jpk_v7m")
            await expect(errors).to_contain_text("due.day")
            await expect(page.locator("#rules-version")).to_have_text(in_force)  # the set in force stays
        finally:
            await browser.close()
