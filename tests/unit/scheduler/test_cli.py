"""The CLI: `rules check` exit codes and messages, `plan` JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from services.scheduler.cli import app

from .conftest import RULES_DIR
from .test_golden import TERMS_C

runner = CliRunner()


def test_check_accepts_the_default_pack() -> None:
    result = runner.invoke(app, ["rules", "check", str(RULES_DIR)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: ")


def test_check_uses_the_environment_variable(monkeypatch: object) -> None:
    result = runner.invoke(app, ["rules", "check"], env={"TERMINARZ_RULES_DIR": str(RULES_DIR)})
    assert result.exit_code == 0, result.output


def test_check_prints_every_error_and_fails(tmp_path: Path) -> None:
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "bad.yaml").write_text("""
rules:
  - id: vat.bad
    code: JPK_V7M
    title: {pl: "T", en: "T"}
    category: vat
    legal_basis: "x y"
    when: {service: vat}
    recurrence: monthly
    due: {months_after: 1, day: 40}
    role: nobody
""", encoding="utf-8")
    result = runner.invoke(app, ["rules", "check", str(directory)])
    assert result.exit_code == 1
    assert "rules/bad.yaml: rule 'vat.bad': field 'due.day': must be 1..31, got 40" in result.output
    assert "rules/bad.yaml: rule 'vat.bad': field 'role'" in result.output


def test_plan_prints_json_occurrences(tmp_path: Path) -> None:
    terms = tmp_path / "terms.json"
    terms.write_text(json.dumps(TERMS_C), encoding="utf-8")
    result = runner.invoke(app, ["plan", "--terms", str(terms), "--from", "2026-01-01", "--to", "2026-03-31",
                                 "--format", "json", "--rules", str(RULES_DIR)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    first = {"rule_id", "code", "period", "due", "generate_on", "title_pl", "title_en", "role"}
    assert all(first <= set(row) for row in rows)
    jpk = [r for r in rows if r["code"] == "JPK_V7M"]
    assert [(r["period"], r["due"]) for r in jpk] == [("2025-12", "2026-01-26"), ("2026-01", "2026-02-25"),
                                                      ("2026-02", "2026-03-25")]
    assert {r["period"] for r in rows if r["code"] == "CIT_8"} == {"2025"}


def test_plan_table_and_bad_input(tmp_path: Path) -> None:
    terms = tmp_path / "terms.json"
    terms.write_text(json.dumps(TERMS_C), encoding="utf-8")
    table = runner.invoke(app, ["plan", "--terms", str(terms), "--from", "2026-01-01", "--to", "2026-01-31",
                                "--rules", str(RULES_DIR)])
    assert table.exit_code == 0 and "JPK_V7M" in table.output
    bad = dict(TERMS_C, client={**TERMS_C["client"], "vat": "weekly"})
    terms.write_text(json.dumps(bad), encoding="utf-8")
    result = runner.invoke(app, ["plan", "--terms", str(terms), "--from", "2026-01-01", "--to", "2026-01-31",
                                 "--rules", str(RULES_DIR)])
    assert result.exit_code == 2
    assert "client.vat" in result.output
