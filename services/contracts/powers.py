"""The client's powers of attorney for the office: the register, each power's state, and the signed document.

Kinds: UPL-1 (the tax office's e-filing: e-deklaracje, JPK), PEL (ZUS PUE/e-Płatnik), KRS (the authorisation to
file the financial statements, e-sprawozdania) and other. A power is valid from `granted_on` to `valid_until`
(none: indefinite) unless revoked. The document (PDF or image) is stored like a case's attachment
(services/cases/attachments.py: the content decides the type, `attachment_max_bytes` the size), in the
`powers` folder under the attachments folder, named by its id.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import plain
from services.common.errors import NotFound, Problem
from services.common.files import Upload, receive
from services.common.files import folder as attachments_folder
from services.common.runtime import ServiceContext
from services.common.scope import SERVICE_SCOPE, Scope
from services.common.settings import Settings
from services.contracts.handlers import visible_clients
from services.contracts.models import clients, powers

KINDS = ("UPL-1", "PEL", "KRS", "other")
KIND_PL = {"UPL-1": "UPL-1 (urząd skarbowy)", "PEL": "PEL (ZUS)", "KRS": "KRS / e-sprawozdania", "other": "inne"}
DOCUMENT_TYPES = ("application/pdf", "image/png", "image/jpeg")
EXPIRING_DAYS = 30  # a power ending within this many days is "expiring"


def folder(settings: Settings) -> Path:
    return attachments_folder(settings) / "powers"


def state(row: Any, today: date) -> dict[str, Any]:
    """A power's state on `today`: valid, expiring (within 30 days), expired, revoked or not yet in force."""
    if row["revoked_on"] is not None and row["revoked_on"] <= today:
        return {"state": "revoked", "days_left": None}
    if row["granted_on"] > today:
        return {"state": "future", "days_left": None}
    until = row["valid_until"]
    if until is None:
        return {"state": "valid", "days_left": None}
    if until < today:
        return {"state": "expired", "days_left": None}
    left = (until - today).days
    return {"state": "expiring" if left <= EXPIRING_DAYS else "valid", "days_left": left}


def covers(row: dict[str, Any], day: date) -> bool:
    """Whether a power is in force on `day` (granted, not expired, not revoked)."""
    return (row["granted_on"] <= day and (row["valid_until"] is None or row["valid_until"] >= day)
            and (row["revoked_on"] is None or row["revoked_on"] > day))


def as_json(row: Any, today: date) -> dict[str, Any]:
    r = plain(row) if hasattr(row, "_mapping") else dict(row)
    return {"id": str(r["id"]), "client_id": str(r["client_id"]), "kind": r["kind"],
            "granted_on": r["granted_on"].isoformat(),
            "valid_until": r["valid_until"].isoformat() if r["valid_until"] else None, "scope": r["scope"],
            "document": {"name": r["document_name"], "content_type": r["document_type"], "size": r["document_size"],
                         "sha256": r["document_sha256"]} if r["document_id"] else None,
            "created_by": r["created_by"], "created_at": r["created_at"].isoformat(),
            "revoked_on": r["revoked_on"].isoformat() if r["revoked_on"] else None, "revoked_by": r["revoked_by"],
            **state(r, today)}


async def _client_visible(session: AsyncSession, client_id: int, scope: Scope) -> None:
    if (await session.execute(select(clients.c.id).where(clients.c.id == client_id,
                                                         visible_clients(scope)))).first() is None:
        raise NotFound("client", client_id)


async def list_for(session: AsyncSession, *, client_id: int, today: date,
                   scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    """A client's powers (newest grant first) and, per kind, the best state it has today."""
    await _client_visible(session, client_id, scope)
    rows = (await session.execute(select(powers).where(powers.c.client_id == client_id)
                                  .order_by(powers.c.granted_on.desc(), powers.c.id.desc()))).all()
    items = [as_json(r, today) for r in rows]
    return {"items": items, "kinds": {kind: best_state([i for i in items if i["kind"] == kind]) for kind in KINDS}}


def best_state(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The state of a kind: of its powers, the one in force longest (valid, then expiring), else "missing" or
    "expired"."""
    order = {"valid": 0, "expiring": 1, "expired": 2, "future": 3, "revoked": 4}
    if not items:
        return {"state": "missing", "valid_until": None, "days_left": None}
    best = min(items, key=lambda i: (order[i["state"]], -(i["days_left"] or 10**6)))
    if best["state"] in ("revoked", "future"):
        return {"state": "missing", "valid_until": None, "days_left": None}
    return {"state": best["state"], "valid_until": best["valid_until"], "days_left": best["days_left"]}


async def create(ctx: ServiceContext, session: AsyncSession, *, client_id: int, kind: str, granted_on: date,
                 valid_until: date | None, scope_text: str, created_by: str, filename: str | None,
                 upload: Upload | None, scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    """Register a power of a client the caller sees, with its document when one is uploaded."""
    errors = []
    if kind not in KINDS:
        errors.append({"field": "kind", "message": f"one of {', '.join(KINDS)}"})
    if valid_until is not None and valid_until < granted_on:
        errors.append({"field": "valid_until", "message": f"is before granted_on ({granted_on.isoformat()})"})
    if len(scope_text) > 2000:
        errors.append({"field": "scope", "message": "at most 2000 characters"})
    if errors:
        raise Problem(422, "Invalid input", errors=errors)
    await _client_visible(session, client_id, scope)
    document: dict[str, Any] = {}
    target: Path | None = None
    if upload is not None:
        document, target = await _store_document(ctx, filename, upload)
    try:
        power_id = (await session.execute(powers.insert().values(
            client_id=client_id, kind=kind, granted_on=granted_on, valid_until=valid_until, scope=scope_text.strip(),
            created_by=created_by, created_at=ctx.clock.now(), **document).returning(powers.c.id))).scalar_one()
    except BaseException:
        if target is not None:
            target.unlink(missing_ok=True)
        raise
    row = (await session.execute(select(powers).where(powers.c.id == power_id))).one()
    return as_json(row, ctx.clock.today())


async def _store_document(ctx: ServiceContext, filename: str | None, upload: Upload) -> tuple[dict[str, Any], Path]:
    """Save an uploaded document (PDF, PNG or JPEG by content, at most `attachment_max_bytes`)."""
    stored = await receive(upload, folder=folder(ctx.settings), filename=filename,
                           limit=ctx.settings.attachment_max_bytes, accepted=DOCUMENT_TYPES, what="a power's document")
    return ({"document_id": stored.id, "document_name": stored.name, "document_type": stored.content_type,
             "document_size": stored.size, "document_sha256": stored.sha256}, stored.path)


async def revoke(ctx: ServiceContext, session: AsyncSession, *, client_id: int, power_id: int, revoked_by: str,
                 on: date | None = None, scope: Scope = SERVICE_SCOPE) -> dict[str, Any]:
    """Record a power revoked (from `on`, default today); a revoked one stays in the register."""
    await _client_visible(session, client_id, scope)
    mine = (powers.c.id == power_id) & (powers.c.client_id == client_id)
    row = (await session.execute(select(powers).where(mine))).first()
    if row is None:
        raise NotFound("power", power_id)
    if row.revoked_on is not None:
        raise Problem(409, "Already revoked", f"power {power_id} was revoked on {row.revoked_on.isoformat()}")
    await session.execute(update(powers).where(mine).values(revoked_on=on or ctx.clock.today(),
                                                            revoked_by=revoked_by))
    return as_json((await session.execute(select(powers).where(mine))).one(), ctx.clock.today())


async def document(ctx: ServiceContext, session: AsyncSession, *, client_id: int, power_id: int,
                   scope: Scope = SERVICE_SCOPE) -> tuple[dict[str, Any], Path]:
    """A power's document and where its bytes are; 404 for none, 410 when the file is gone."""
    await _client_visible(session, client_id, scope)
    row = (await session.execute(select(powers).where(powers.c.id == power_id,
                                                      powers.c.client_id == client_id))).first()
    if row is None or row.document_id is None:
        raise NotFound("document of power", power_id)
    path = folder(ctx.settings) / row.document_id
    if not path.is_file():
        raise Problem(410, "File missing", f"the document of power {power_id} is not in the attachments folder")
    return plain(row), path

