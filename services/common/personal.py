"""Personal data (GDPR): the retention rule, what an erased client is called, and scrubbing known values out of
stored text and stored events.

Each service lists where it keeps a client's personal data in its own `personal.py` (one list, read by both the
erasure and the export); this module holds what they share.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Table, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

# Values shorter than this are not scrubbed out of free text: they would hit unrelated words.
_MIN_SCRUBBED = 3


def erasable_from(last_day: date, years: int) -> date:
    """The first day a client's personal data may be erased when its records concern `last_day` (the last day of
    its last contract): 1 January after `years` whole years following the end of that year.
    2026-06-30 with 5 years: kept through 2031, erasable from 2032-01-01."""
    return date(last_day.year + years + 1, 1, 1)


def erased_name(client_id: int | str) -> str:
    """What an erased client is called everywhere from then on (the UI is Polish)."""
    return f"Klient {client_id} (dane usunięte)"


def erased_email(client_id: int | str) -> str:
    """What stands for an erased client's e-mail addresses: a valid form, an address that can never receive."""
    return f"klient-{client_id}@usunieto.invalid"


@dataclass(frozen=True)
class Scrub:
    """Known personal values and what each becomes; applied to free text and JSON documents. An identifier
    (NIP, REGON, PESEL) that is a whole JSON value becomes null, so a stored event stays valid."""

    replacements: Mapping[str, str] = field(default_factory=dict)
    identifiers: frozenset[str] = frozenset()

    @classmethod
    def of(cls, pairs: Iterable[tuple[str | None, str]], identifiers: Iterable[str | None] = ()) -> Scrub:
        ids = {v.strip() for v in identifiers if v and len(v.strip()) >= _MIN_SCRUBBED}
        values = {v.strip(): r for v, r in pairs if v and len(v.strip()) >= _MIN_SCRUBBED}
        return cls({**values, **{i: "" for i in ids}}, frozenset(ids))

    def text(self, value: str) -> str:
        # Longest first: a name that contains another value is replaced whole.
        for old in sorted(self.replacements, key=len, reverse=True):
            if old in value:
                value = value.replace(old, self.replacements[old])
        return value

    def optional(self, value: str | None) -> str | None:
        return None if value is None else self.text(value)

    def json(self, value: Any) -> Any:
        """A JSON-like document with every string (and dict key) scrubbed."""
        if isinstance(value, str):
            return None if value.strip() in self.identifiers else self.text(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k): self.json(v) for k, v in value.items()}
        return value


def marker(key: str, value: int | str) -> str:
    """How an id appears in a stored event's JSON body, e.g. `"client_id":"12"`."""
    return json.dumps({key: str(value)}, separators=(",", ":"))[1:-1]


async def scrub_outbox(session: AsyncSession, outbox: Table, *, markers: Iterable[str], scrub: Scrub) -> int:
    """Rewrite the stored events (published or not) whose body holds any of `markers`: their payload scrubbed, so
    a redelivery later carries no personal data. Returns how many changed."""
    wanted = [m for m in markers]
    changed = 0
    for start in range(0, len(wanted), 200):
        chunk = wanted[start:start + 200]
        rows = (await session.execute(
            select(outbox.c.seq, outbox.c.body).where(or_(*(outbox.c.body.contains(m, autoescape=True)
                                                           for m in chunk))))).all()
        for row in rows:
            envelope = json.loads(row.body)
            envelope["payload"] = scrub.json(envelope.get("payload"))
            body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
            if body != row.body:
                await session.execute(update(outbox).where(outbox.c.seq == row.seq).values(body=body))
                changed += 1
    return changed


def rows_as_dicts(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Table rows as JSON-ready dicts (dates and decimals as text), for an export."""
    out = []
    for row in rows:
        item: dict[str, Any] = {}
        for key, value in row._mapping.items():
            if isinstance(value, (str, int, float, bool, list, dict)) or value is None:
                item[str(key)] = value
            else:
                item[str(key)] = value.isoformat() if hasattr(value, "isoformat") else str(value)
        out.append(item)
    return out
