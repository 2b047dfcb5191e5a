"""Files kept outside the databases (case attachments, powers of attorney): where their bytes live, what a file
really is (sniffed from its content, not taken from its name), and a safe name to show.

The bytes live under one folder (`TERMINARZ_ATTACHMENTS_DIR`, by default `<data_dir>/attachments`); in the
distributed mode every process that stores files must share it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import unicodedata
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import filetype

from services.common.errors import Problem
from services.common.settings import Settings

# What may be attached: the content types sniffing can tell, and the names' extensions that go with each.
ALLOWED = {
    "application/pdf": (".pdf",),
    "application/xml": (".xml",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "text/plain": (".txt",),
    "application/zip": (".zip",),
}
CHUNK = 64 * 1024  # bytes read from an upload at a time
SNIFF_BYTES = 8192  # how much of a file sniffing looks at


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
        text = head.decode("utf-8-sig") if len(head) < SNIFF_BYTES else _decode_prefix(head)
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


@dataclass(frozen=True)
class Stored:
    """A file received whole and checked, under its new id in the folder."""

    id: str
    name: str  # the uploaded name, cleaned
    content_type: str
    size: int
    sha256: str
    path: Path


async def receive(upload: Upload, *, folder: Path, filename: str | None, limit: int, accepted: Collection[str],
                  what: str) -> Stored:
    """Stream an upload into `folder` under a new id, refusing it whole (nothing left behind) when it is larger
    than `limit` (413), empty (422), of a type not `accepted` as its content shows (415), or named as another type
    than its content (415; XML named .txt passes). `what` names the file in the errors ("an attachment")."""
    name = clean_name(filename)
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    file_id = str(uuid.uuid4())
    partial = folder / f".{file_id}.part"
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with partial.open("wb") as out:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise Problem(413, "File too large", f"{what} may have at most {limit} bytes",
                                  errors=[{"field": "file", "message": f"larger than {limit} bytes"}])
                if len(head) < SNIFF_BYTES:
                    head += chunk[:SNIFF_BYTES - len(head)]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise Problem(422, "Empty file", f"{what} has no content",
                          errors=[{"field": "file", "message": "is empty"}])
        content_type = sniff(head)
        if content_type is None or content_type not in accepted:
            kinds = ", ".join(ALLOWED[mime][0].lstrip(".") for mime in accepted)
            raise Problem(415, "File type not allowed", f"{what} may be {kinds} (the content decides)",
                          errors=[{"field": "file", "message": f"its content is none of {kinds}"}])
        extension = os.path.splitext(name)[1].lower()
        named_as = next((mime for mime, exts in ALLOWED.items() if extension in exts), None)
        if named_as is not None and named_as != content_type and not (
                named_as == "text/plain" and content_type == "application/xml"):
            raise Problem(415, "File type not allowed", f"the file is named {extension} but its content is "
                          f"{content_type}",
                          errors=[{"field": "file", "message": f"its content is {content_type}, not {extension}"}])
        partial.replace(folder / file_id)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Stored(file_id, name, content_type, size, digest.hexdigest(), folder / file_id)
