"""Files on a case (proof of filing: the UPO of an e-filed return, a signed statement), kept outside the database.

The bytes live in one folder (`TERMINARZ_ATTACHMENTS_DIR`, by default `<data_dir>/attachments`), each file named
by its attachment id; the database keeps its case, kind, name, type (found by sniffing the content, not taken from
the name), size and sha256. Uploads larger than `attachment_max_bytes` or of another type are refused (413/415).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.cases.lifecycle import Actor, record
from services.cases.models import case_attachments, cases
from services.common.db import plain, plain_rows
from services.common.errors import NotFound, Problem
from services.common.files import ALLOWED, Upload, folder, receive
from services.common.runtime import ServiceContext
from services.common.scope import Scope

KINDS = ("upo", "statement", "other")
KIND_PL = {"upo": "UPO", "statement": "oświadczenie", "other": "inny"}
async def store(ctx: ServiceContext, session: AsyncSession, *, case_id: str, scope: Scope, who: Actor, kind: str,
                filename: str | None, upload: Upload) -> dict[str, Any]:
    """Save an uploaded file on a case the caller sees (any status but withdrawn): its row and its bytes."""
    from services.cases.handlers import visible

    if kind not in KINDS:
        raise Problem(422, "Invalid input", f"unknown attachment kind {kind[:20]!r}",
                      errors=[{"field": "kind", "message": f"one of {', '.join(KINDS)}"}])
    row = (await session.execute(select(cases.c.id, cases.c.status).where(cases.c.id == case_id,
                                                                          visible(scope)))).first()
    if row is None:
        raise NotFound("case", case_id)
    if row.status == "withdrawn":
        raise Problem(409, "Case withdrawn", f"case {case_id} was withdrawn: it can be read, not changed")
    stored = await receive(upload, folder=folder(ctx.settings), filename=filename,
                           limit=ctx.settings.attachment_max_bytes, accepted=ALLOWED, what="an attachment")
    attachment_id, name, size = stored.id, stored.name, stored.size
    values = {"id": attachment_id, "case_id": case_id, "kind": kind, "filename": name,
              "content_type": stored.content_type, "size": size, "sha256": stored.sha256, "uploaded_by": who.login,
              "uploaded_at": ctx.clock.now()}
    try:
        await session.execute(case_attachments.insert().values(**values))
        await record(session, ctx, case_id, who.login, "attached", f"{KIND_PL[kind]}: {name} ({size} B)")
    except BaseException:
        stored.path.unlink(missing_ok=True)
        raise
    return values


async def list_for(session: AsyncSession, case_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(select(case_attachments).where(case_attachments.c.case_id == case_id)
                                 .order_by(case_attachments.c.uploaded_at, case_attachments.c.filename))
    return plain_rows(rows)


async def find(ctx: ServiceContext, session: AsyncSession, *, case_id: str, attachment_id: str,
               scope: Scope) -> tuple[dict[str, Any], Path]:
    """One attachment of a case the caller sees, and where its bytes are; 404 otherwise."""
    from services.cases.handlers import visible

    row = (await session.execute(
        select(case_attachments).join(cases, cases.c.id == case_attachments.c.case_id)
        .where(case_attachments.c.id == attachment_id, case_attachments.c.case_id == case_id, visible(scope))
    )).first()
    if row is None:
        raise NotFound("attachment", attachment_id)
    path = folder(ctx.settings) / row.id
    if not path.is_file():
        raise Problem(410, "File missing", f"the file of attachment {attachment_id} is not in the attachments folder")
    return plain(row), path
