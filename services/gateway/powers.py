"""Which powers of attorney a case needs and what is wrong with the client's (pure; the gateway's pages and API).

A rule names the powers its cases need (`requires_power: [UPL-1]`, rules/README.md); the gateway resolves them
from the case's rule id against the rules in force, so a rules change applies to existing cases at once. A case
warns when a needed power is missing (none in force on its due date) or ends within 30 days after the due date
or before it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

EXPIRING_DAYS = 30
KIND_LABEL = {"UPL-1": "UPL-1", "PEL": "PEL", "KRS": "KRS", "other": "inne"}
BLOCKED_PL = {"UPL-1": "e-deklaracji nie można złożyć", "PEL": "deklaracji ZUS nie można złożyć",
              "KRS": "sprawozdania do KRS nie można złożyć", "other": "nie można działać w imieniu klienta"}


def _pl_date(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def _in_force(power: dict[str, Any], day: date) -> bool:
    revoked = power.get("revoked_on")
    until = power.get("valid_until")
    return (date.fromisoformat(power["granted_on"]) <= day and (until is None or date.fromisoformat(until) >= day)
            and (revoked is None or date.fromisoformat(revoked) > day))


def warnings(powers: list[dict[str, Any]], needed: list[str], due: date, today: date) -> list[dict[str, str]]:
    """Per needed kind with a problem: {kind, state (missing | expiring | expired), until, text (Polish)}.

    Missing: no power of the kind in force on the due date nor today ending later. Expiring: the power in force
    ends within 30 days after the due date, or before it."""
    result = []
    for kind in needed:
        mine = [p for p in powers if p["kind"] == kind and not p.get("revoked_on")]
        current = [p for p in mine if _in_force(p, due) or (_in_force(p, today) and today <= due)]
        if not current:
            result.append({"kind": kind, "state": "missing", "until": "",
                           "text": f"Brak pełnomocnictwa {KIND_LABEL.get(kind, kind)} — {BLOCKED_PL.get(kind, '')}"})
            continue
        ends = [p["valid_until"] for p in current]
        if any(e is None for e in ends):
            continue
        until = max(date.fromisoformat(e) for e in ends)
        if until <= due + timedelta(days=EXPIRING_DAYS):
            word = "wygasło" if until < today else "wygasa"
            result.append({"kind": kind, "state": "expired" if until < today else "expiring",
                           "until": until.isoformat(),
                           "text": f"Pełnomocnictwo {KIND_LABEL.get(kind, kind)} {word} {_pl_date(until)}"})
    return result


def client_warnings(powers: list[dict[str, Any]], needed: list[str], today: date) -> list[dict[str, str]]:
    """The client page's warnings: the kinds its contracts' cases need, as of today."""
    return warnings(powers, needed, today, today)
