"""Which powers of attorney a case needs and what is wrong with the client's (pure; the gateway's pages and API).

A rule names the powers its cases need (`requires_power: [UPL-1]`, rules/README.md); the gateway resolves them
from the case's rule id against the rules in force, so a rules change applies to existing cases at once. A case
warns when a needed power is missing (none in force on its due date) or ends within 30 days after the due date
or before it. A warning's `text` is in the current request's language (`i18n`: the page's; Polish for the API).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from services.common.errors import Problem
from services.gateway import format as fmt
from services.gateway.clients import ServiceClients
from services.gateway.i18n import N_, Translated
from services.gateway.i18n import gettext as _
from services.gateway.permissions import Caller

EXPIRING_DAYS = 30
KIND_LABEL = Translated({"UPL-1": N_("UPL-1"), "PEL": N_("PEL"), "KRS": N_("KRS"), "other": N_("inne")})
BLOCKED_PL = Translated({"UPL-1": N_("e-deklaracji nie można złożyć"), "PEL": N_("deklaracji ZUS nie można złożyć"),
                         "KRS": N_("sprawozdania do KRS nie można złożyć"),
                         "other": N_("nie można działać w imieniu klienta")})


def _in_force(power: dict[str, Any], day: date) -> bool:
    revoked = power.get("revoked_on")
    until = power.get("valid_until")
    return (date.fromisoformat(power["granted_on"]) <= day and (until is None or date.fromisoformat(until) >= day)
            and (revoked is None or date.fromisoformat(revoked) > day))


def warnings(powers: list[dict[str, Any]], needed: list[str], due: date, today: date) -> list[dict[str, str]]:
    """Per needed kind with a problem: {kind, state (missing | expiring | expired), until, text (the current
    language's)}.

    Missing: no power of the kind in force on the due date nor today ending later. Expiring: the power in force
    ends within 30 days after the due date, or before it."""
    result = []
    for kind in needed:
        mine = [p for p in powers if p["kind"] == kind and not p.get("revoked_on")]
        current = [p for p in mine if _in_force(p, due) or (_in_force(p, today) and today <= due)]
        if not current:
            text = _("Brak pełnomocnictwa {kind} — {blocked}").format(kind=KIND_LABEL.get(kind, kind),
                                                                       blocked=BLOCKED_PL.get(kind, ""))
            result.append({"kind": kind, "state": "missing", "until": "", "text": text})
            continue
        ends = [p["valid_until"] for p in current]
        if any(e is None for e in ends):
            continue
        until = max(date.fromisoformat(e) for e in ends)
        if until <= due + timedelta(days=EXPIRING_DAYS):
            expired = until < today
            text = (_("Pełnomocnictwo {kind} wygasło {day}") if expired else
                    _("Pełnomocnictwo {kind} wygasa {day}")).format(kind=KIND_LABEL.get(kind, kind), day=fmt.day(until))
            result.append({"kind": kind, "state": "expired" if expired else "expiring", "until": until.isoformat(),
                           "text": text})
    return result


# --- Resolving what the caller's cases and clients need ----------------------------------------------------------

OPEN_STATUSES = ("open", "in_progress")
CLIENT_CASES_READ = 500  # the open cases of one client read to know the powers it needs


async def needed_by_rule(svc: ServiceClients, caller: Caller) -> dict[str, list[str]]:
    """Rule id → the powers its cases need, from the rules in force (the scheduler)."""
    rules: dict[str, Any] = await svc.call("scheduler", "GET", "/rules", scope=caller.scope)
    return {r["id"]: list(r.get("requires_power") or []) for r in rules["rules"] if r.get("requires_power")}


async def client_powers(svc: ServiceClients, caller: Caller, client_id: Any) -> list[dict[str, Any]] | None:
    """A client's powers, None when the client is not visible or the contracts service does not answer."""
    try:
        page: dict[str, Any] = await svc.call("contracts", "GET", f"/clients/{client_id}/powers", scope=caller.scope)
    except Problem as problem:
        if problem.status == 404 or problem.status >= 500:
            return None
        raise
    items: list[dict[str, Any]] = page["items"]
    return items


async def case_warnings(svc: ServiceClients, caller: Caller, case: dict[str, Any],
                        today: date) -> list[dict[str, str]]:
    """The power warnings of one open case (none for a finished one, a one-off one or a client without record)."""
    if case.get("status") not in OPEN_STATUSES or not case.get("rule_id") or not case.get("client_id"):
        return []
    try:
        needed = (await needed_by_rule(svc, caller)).get(case["rule_id"], [])
    except Problem as problem:
        if problem.status < 500:
            raise
        return []
    if not needed:
        return []
    powers = await client_powers(svc, caller, case["client_id"])
    if powers is None:
        return []
    return warnings(powers, needed, date.fromisoformat(case["due"][:10]), today)


async def client_needs(svc: ServiceClients, caller: Caller, client_id: int) -> dict[str, date]:
    """Per power kind, the earliest due date of the client's open cases needing it."""
    try:
        needed = await needed_by_rule(svc, caller)
        page: dict[str, Any] = await svc.call("cases", "GET", "/cases", scope=caller.scope,
                                              params={"client_id": client_id, "tab": "open",
                                                      "limit": CLIENT_CASES_READ, "sort": "due"})
    except Problem as problem:
        if problem.status < 500:
            raise
        return {}
    earliest: dict[str, date] = {}
    for case in page["items"]:
        if case.get("status") not in OPEN_STATUSES:
            continue
        for kind in needed.get(case.get("rule_id") or "", []):
            due = date.fromisoformat(case["due"][:10])
            if kind not in earliest or due < earliest[kind]:
                earliest[kind] = due
    return earliest


def client_page_warnings(powers: list[dict[str, Any]], needs: dict[str, date], today: date) -> list[dict[str, str]]:
    """The client page's warnings: each kind its open cases need, checked against the earliest such case."""
    result: list[dict[str, str]] = []
    for kind, due in sorted(needs.items()):
        result.extend(warnings(powers, [kind], max(due, today), today))
    return result
