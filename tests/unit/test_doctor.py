"""`terminarz doctor` on an embedded office: what it finds on a fresh machine, after migrating, and with a
broken rules folder, each with what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

from services.common.migrate import upgrade
from services.common.settings import SERVICES, Settings
from services.doctor import Finding, diagnose, render

ROOT = Path(__file__).resolve().parents[2]


def about(findings: list[Finding], area: str, status: str | None = None) -> list[Finding]:
    return [f for f in findings if f.area == area and (status is None or f.status == status)]


async def test_a_fresh_machine_is_told_to_migrate_and_a_migrated_one_is_in_order(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", rules_dir=ROOT / "rules", secret_key="k" * 48,
                        internal_token="t" * 48)
    fresh = await diagnose(settings)
    missing = about(fresh, "database", "warn")
    assert [f.detail for f in missing] == [f"{s}: database {s}.db does not exist yet" for s in SERVICES]
    assert all("terminarz db upgrade" in f.fix for f in missing)
    assert not about(fresh, "database", "fail")  # `terminarz run` migrates by itself: a warning, not a failure

    await upgrade(settings, SERVICES)
    migrated = await diagnose(settings)
    assert [f for f in migrated if f.status != "ok"] == []
    assert len(about(migrated, "migrations", "ok")) == len(SERVICES)
    assert render(migrated).endswith("Everything checked is in order.")


async def test_broken_rules_and_development_secrets_are_named_with_the_fix(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "vat.yaml").write_text((rules / "vat.yaml").read_text().replace("due:", "due_on:", 1))
    settings = Settings(data_dir=tmp_path / "data", rules_dir=rules, public_url="http://biuro.example/",
                        secret_key="terminarz-dev-secret-change-me", internal_token="change-me")
    findings = await diagnose(settings)

    [broken] = about(findings, "rules")
    assert broken.status == "fail" and "vat.yaml" in broken.detail
    assert f"terminarz rules check {rules}" in broken.fix
    # Embedded on one machine: published example secrets are a warning, a sloppy public URL too.
    secrets = about(findings, "settings", "warn")
    assert {f.detail.split(" ")[0] for f in secrets} >= {"TERMINARZ_SECRET_KEY", "TERMINARZ_INTERNAL_TOKEN",
                                                          "TERMINARZ_PUBLIC_URL"}
    text = render(findings)
    assert "FAIL  rules" in text
    assert "fix: set TERMINARZ_SECRET_KEY and TERMINARZ_INTERNAL_TOKEN to different random values" in text
    assert "1 problem(s) to fix" in text
