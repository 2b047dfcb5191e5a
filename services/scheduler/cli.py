"""The scheduler's command line: `terminarz rules check` and `terminarz plan` (thin over the domain)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any, Literal

import typer

from services.common.apiclient import TOKEN_HELP, URL_HELP, call_api
from services.common.calendar import BusinessCalendar
from services.scheduler.domain.facts import TermsError, parse_terms
from services.scheduler.domain.planning import Occurrence, PlanningError, plan_terms
from services.scheduler.domain.rules import RuleSet, RuleSetError
from services.scheduler.rulefiles import load_ruleset

app = typer.Typer(help="Obligation rules and plans.", no_args_is_help=True)
rules_app = typer.Typer(help="Rule files: check them before the scheduler loads them.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


def default_rules_dir() -> Path:
    """TERMINARZ_RULES_DIR, or ./rules."""
    configured = os.environ.get("TERMINARZ_RULES_DIR")
    return Path(configured) if configured else Path.cwd() / "rules"


def _load_or_exit(directory: Path) -> RuleSet:
    try:
        return load_ruleset(directory)
    except RuleSetError as error:
        for problem in error.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"{len(error.problems)} error(s); the rules were not loaded.", err=True)
        raise typer.Exit(code=1) from None


@rules_app.command("check")
def check_command(
    directory: Path = typer.Argument(None, help="Rules directory (default: $TERMINARZ_RULES_DIR or ./rules)."),
) -> None:
    """Validate the rule files; print every error, or a summary when they are valid."""
    ruleset = _load_or_exit(directory or default_rules_dir())
    codes = sorted({r.code for r in ruleset.rules})
    typer.echo(
        f"OK: {len(ruleset.rules)} rules in {len(ruleset.files)} files, {len(codes)} obligation codes, "
        f"{len(ruleset.overrides)} overrides, {len(ruleset.extra_days_off)} extra days off; version {ruleset.version}"
    )


def _row(occurrence: Occurrence) -> dict[str, Any]:
    row = asdict(occurrence)
    for key, value in row.items():
        if isinstance(value, date):
            row[key] = value.isoformat()
        elif isinstance(value, tuple):
            row[key] = list(value)
    return row


def _table(occurrences: list[Occurrence]) -> str:
    header = f"{'due':<10}  {'create on':<10}  {'code':<18}  {'period':<12}  {'role':<10}  title"
    lines = [header, "-" * len(header)]
    for o in occurrences:
        moved = "*" if o.due != o.nominal_due else " "
        lines.append(f"{o.due.isoformat():<10}{moved} {o.generate_on.isoformat():<10}  {o.code:<18}  "
                     f"{o.period:<12}  {o.role:<10}  {o.title_pl}")
    lines.append(f"{len(occurrences)} case(s); * = moved from the nominal due date (free day or override)")
    return "\n".join(lines)


def plan_command(
    terms: Path = typer.Option(None, "--terms", exists=True, dir_okay=False, help="Contract terms JSON (terms.md)."),
    contract: str = typer.Option(None, "--contract", help="A stored contract's id instead of --terms (asks the API)."),
    date_from: str = typer.Option(..., "--from", help="First due date to include (YYYY-MM-DD)."),
    date_to: str = typer.Option(..., "--to", help="Last due date to include (YYYY-MM-DD)."),
    output: str = typer.Option("table", "--format", help="json or table."),
    rules: Path = typer.Option(None, "--rules", help="Rules directory (default: $TERMINARZ_RULES_DIR or ./rules)."),
    url: str = typer.Option(None, "--url", help=URL_HELP),
    token: str = typer.Option(None, "--token", help=TOKEN_HELP),
) -> None:
    """Plan the cases one contract's terms create, by due date within [--from, --to]."""
    if (terms is None) == (contract is None):
        raise typer.BadParameter("give either --terms FILE or --contract ID", param_hint="--terms/--contract")
    fmt: Literal["json", "table"]
    if output not in ("json", "table"):
        raise typer.BadParameter(f"must be json or table, got {output!r}", param_hint="--format")
    fmt = "json" if output == "json" else "table"
    try:
        start, end = date.fromisoformat(date_from), date.fromisoformat(date_to)
    except ValueError as exc:
        raise typer.BadParameter(f"dates are YYYY-MM-DD: {exc}", param_hint="--from/--to") from None
    if end < start:
        raise typer.BadParameter(f"--to {end} is before --from {start}", param_hint="--to")
    if contract is not None:
        _print_stored_plan(contract, start, end, fmt, url=url, token=token)
        return
    ruleset = _load_or_exit(rules or default_rules_dir())
    try:
        document = json.loads(terms.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        typer.echo(f"{terms}: not valid JSON: {exc}", err=True)
        raise typer.Exit(code=2) from None
    # The engine import stays here: `rules check` must not need the C extension.
    from services.scheduler.engine import ObligationMatcher

    try:
        document = parse_terms(document)
        with ObligationMatcher(ruleset) as matcher:
            matched = matcher.match_sync(document)
        occurrences = plan_terms(document, ruleset, BusinessCalendar(ruleset.extra_days_off), start, end,
                                 matched=matched)
    except (TermsError, PlanningError) as error:
        typer.echo(f"{terms}: {error}", err=True)
        raise typer.Exit(code=2) from None
    if fmt == "json":
        typer.echo(json.dumps([_row(o) for o in occurrences], indent=2, ensure_ascii=False))
    else:
        typer.echo(_table(occurrences))


def _print_stored_plan(contract: str, start: date, end: date, fmt: str, *, url: str | None,
                       token: str | None) -> None:
    """A stored contract's plan as the scheduler holds it (planned and requested occurrences)."""
    items = call_api("GET", f"/contracts/{contract}/plan", url=url, token=token)["items"]
    rows = [i for i in items if start.isoformat() <= i["due"] <= end.isoformat()]
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    typer.echo(f"{'due':<10}  {'create on':<10}  {'code':<18}  {'period':<10}  {'status':<10}  title")
    for r in rows:
        typer.echo(f"{r['due']:<10}  {r['generate_on']:<10}  {r['code']:<18}  {r['period']:<10}  {r['status']:<10}  "
                   f"{r['title_pl']}")
    typer.echo(f"{len(rows)} occurrence(s) of contract {contract}")


@rules_app.command("preview")
def preview_command(url: str = typer.Option(None, "--url", help=URL_HELP),
                    token: str = typer.Option(None, "--token", help=TOKEN_HELP)) -> None:
    """What putting the edited rules folder in force would add, change and withdraw, per contract (admin)."""
    result = call_api("POST", "/rules/preview", url=url, token=token)
    typer.echo(f"in force: {result['in_force']}  →  candidate: {result['candidate_version']}")
    for label, key in (("would be ADDED", "added"), ("would CHANGE", "changed"), ("would be WITHDRAWN", "withdrawn")):
        typer.echo(f"\n{len(result.get(key, []))} occurrence(s) {label}:")
        for o in result.get(key, []):
            changes = "; ".join(f"{field} {c['from']} → {c['to']}" if field in ("due", "generate_on", "role")
                                else f"{field} changed" for field, c in o.get("changes", {}).items())
            case = " [case exists]" if o.get("status") == "requested" else ""
            typer.echo(f"  {o['due']}  {o['code']:<18} {o['period']:<12} {o['contract_number']:<14} "
                       f"{o['client_name']} ({o.get('assignee') or '—'}){case}" + (f"  {changes}" if changes else ""))


@rules_app.command("apply")
def apply_command(url: str = typer.Option(None, "--url", help=URL_HELP),
                  token: str = typer.Option(None, "--token", help=TOKEN_HELP)) -> None:
    """Put the edited rules folder in force; a broken set is rejected and the rules in force stay (admin)."""
    result = call_api("POST", "/rules/apply", url=url, token=token)
    typer.echo(f"rules version {result['version']} in force ({result['rules']} rules); contracts replan now")


app.command("plan")(plan_command)
