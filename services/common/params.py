"""Request parameters typed at the edge of every service: ids, paging, search text, the Idempotency-Key.

A malformed value is a 422 naming the parameter before any handler runs; nothing builds a URL, a header or
a query from text that did not pass through one of these types.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Header, Path, Query
from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from services.common.text import unsafe_character

MAX_ID = 2**63 - 1  # the largest key PostgreSQL's BIGINT and SQLite's INTEGER hold
MAX_OFFSET = 1_000_000_000  # paging past a billion rows is a mistake, not a use
MAX_SEARCH = 200
_VISIBLE_ASCII = re.compile(r"^[\x21-\x7e]+$")


def plain_or_none(value: str | None) -> str | None:
    if value is not None:
        reason = unsafe_character(value)
        if reason is not None:
            raise PydanticCustomError("unsafe_text", "{reason}", {"reason": reason})
    return value


def _visible_ascii(value: str | None) -> str | None:
    if value is not None and not _VISIBLE_ASCII.match(value):
        raise PydanticCustomError(
            "header_text", "use visible ASCII characters only (letters, digits, punctuation; no spaces)", {}
        )
    return value


ClientIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="the client's id")]
ContractIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="the contract's id")]
CaseIdPath = Annotated[UUID, Path(description="the case's id (a UUID)")]
ClientIdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="only this client's")]
ContractIdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="only this contract's")]
# Several contracts, the parameter repeated (`?contract_id=1&contract_id=2`), e.g. a client's, named by the gateway.
ContractIdList = Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]],
                           Query(max_length=1000, description="these contracts' (repeated)")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="how many to skip (paging)")]
# Free text to search by, a login or a service name to filter by: bounded, one line of plain text.
SearchText = Annotated[str | None, Query(max_length=MAX_SEARCH), AfterValidator(plain_or_none)]
LoginFilter = Annotated[str | None, Query(max_length=64, description="a login"), AfterValidator(plain_or_none)]
NameFilter = Annotated[str | None, Query(max_length=64), AfterValidator(plain_or_none)]
ContractStatus = Literal["active", "terminated"]
CaseStatus = Literal["open", "in_progress", "done", "withdrawn"]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Any unique string of visible ASCII (at most 200 characters); a retry with the same key and "
        "body returns the first answer and changes nothing, the same key with another body is refused (422).",
    ),
    AfterValidator(_visible_ascii),
]
