"""Files on a case (proof of filing: the UPO of an e-filed return, a signed statement), kept outside the database.

The bytes live in one folder (`TERMINARZ_ATTACHMENTS_DIR`, by default `<data_dir>/attachments`), each file named
by its attachment id; the database keeps its case, kind, name, type (found by sniffing the content, not taken from
the name), size and sha256. Uploads larger than `attachment_max_bytes` or of another type are refused (413/415).
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
import uuid
from pathlib import Path
from typing import Any, Protocol

import filetype
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.cases.lifecycle import Actor, record
from services.cases.models import case_attachments, cases
from services.common.errors import NotFound, Problem
from services.common.runtime import ServiceContext
from services.common.scope import Scope
from services.common.settings import Settings

KINDS = ("upo", "statement", "other")
KIND_PL = {"upo": "UPO", "statement": "oświadczenie", "other": "inny"}
# What may be attached: the content types sniffing can tell, and the names' extensions that go with each.
ALLOWED = {
    "application/pdf": (".pdf",),
    "application/xml": (".xml",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "text/plain": (".txt",),
    "application/zip": (".zip",),
}
_CHUNK = 64 * 1024
_SNIFF_BYTES = 8192


class Upload(Protocol):
    async def read(self, size: int = -1) -> bytes: ...


def folder(settings: Settings) -> Path:
    return settings.attachments_dir or settings.data_dir / "attachments"


def sniff(head: bytes) -> str | None:
    """The content type of a file from its first bytes: one of ALLOWED, or None for anything else."""
    kind = filetype.guess(head)
    if kind is not None:
        mime = "application/zip" if kind.mime in ("application/zip", "application/x-zip-compressed") else kind.mime
        return mime if mime in ALLOWED else None
    try:
        text = head.decode("utf-8-sig") if len(head) < _SNIFF_BYTES else _decode_prefix(head)
    except UnicodeDecodeError:
        return None
    if any(ch == "\x00" or (unicodedata.category(ch) == "Cc" and ch not in "\t\r\n\f") for ch in text):
        return None
    stripped = text.lstrip()
    if stripped.startswith("<?xml") or (stripped.startswith("<") and stripped.rstrip().endswith(">")):
        return "application/xml"
    return "text/plain"


def _decode_prefix(head: bytes) -> str:
    """UTF-8 text of a prefix that may end inside a multi-byte character."""
    for cut in range(4):
        try:
            return head[:len(head) - cut].decode("utf-8-sig")
        except UnicodeDecodeError:
            continue
    raise UnicodeDecodeError("utf-8", head, 0, 1, "not UTF-8 text")


def clean_name(name: str | None) -> str:
    """The file's own name (no folders, no control characters), at most 255 characters; "plik" for none."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return (base or "plik")[-255:]


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
    name = clean_name(filename)
    limit = ctx.settings.attachment_max_bytes
    target_dir = folder(ctx.settings)
    target_dir.mkdir(parents=True, exist_ok=True)
    attachment_id = str(uuid.uuid4())
    partial = target_dir / f".{attachment_id}.part"
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with partial.open("wb") as out:
            while chunk := await upload.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise Problem(413, "File too large", f"an attachment may have at most {limit} bytes",
                                  errors=[{"field": "file", "message": f"larger than {limit} bytes"}])
                if len(head) < _SNIFF_BYTES:
                    head += chunk[:_SNIFF_BYTES - len(head)]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise Problem(422, "Empty file", "the attachment has no content",
                          errors=[{"field": "file", "message": "is empty"}])
        content_type = sniff(head)
        if content_type is None:
            raise Problem(415, "File type not allowed",
                          "attachments may be PDF, XML, PNG, JPEG, plain text or ZIP (the content decides)",
                          errors=[{"field": "file", "message": "its content is none of pdf, xml, png, jpeg, txt, zip"}])
        extension = os.path.splitext(name)[1].lower()
        named_as = next((mime for mime, exts in ALLOWED.items() if extension in exts), None)
        if named_as is not None and named_as != content_type and not (
                named_as == "text/plain" and content_type == "application/xml"):
            raise Problem(415, "File type not allowed",
                          f"the file is named {extension} but its content is {content_type}",
                          errors=[{"field": "file", "message": f"its content is {content_type}, not {extension}"}])
        partial.replace(target_dir / attachment_id)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    values = {"id": attachment_id, "case_id": case_id, "kind": kind, "filename": name, "content_type": content_type,
              "size": size, "sha256": digest.hexdigest(), "uploaded_by": who.login, "uploaded_at": ctx.clock.now()}
    try:
        await session.execute(case_attachments.insert().values(**values))
        await record(session, ctx, case_id, who.login, "attached", f"{KIND_PL[kind]}: {name} ({size} B)")
    except BaseException:
        (target_dir / attachment_id).unlink(missing_ok=True)
        raise
    return values


async def list_for(session: AsyncSession, case_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(select(case_attachments).where(case_attachments.c.case_id == case_id)
                                 .order_by(case_attachments.c.uploaded_at, case_attachments.c.filename))
    return [dict(r._mapping) for r in rows]


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
    return dict(row._mapping), path
