"""What any request may carry: a bounded body (413) and, when it is JSON, plain JSON (422 naming the field).

Python's JSON reader accepts NaN, Infinity, numbers too large for the database and lone surrogates, none of
which can be stored or passed on; they are refused here, once, for every route of every service.
"""

from __future__ import annotations

import json
import math
import re
from collections import deque
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import PROBLEM_JSON, Problem
from services.common.params import MAX_ID

MAX_JSON_DEPTH = 32  # our documents nest four levels; deeper is an attack on the parser, not data
MAX_JSON_ERRORS = 20
_REPLAY_CHUNK = 64 * 1024  # a buffered body reaches the app in pieces, so a streaming parser yields between them
_SURROGATE = re.compile("[\ud800-\udfff]")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def json_problems(document: Any) -> list[dict[str, str]]:
    """Where a parsed JSON document holds what is not plain JSON: {field, message} in document order."""
    problems: list[dict[str, str]] = []
    stack: list[tuple[str, Any, int]] = [("", document, 0)]
    while stack and len(problems) < MAX_JSON_ERRORS:
        path, value, depth = stack.pop()
        field = path or "body"
        if depth > MAX_JSON_DEPTH:
            problems.append({"field": field, "message": f"nested more than {MAX_JSON_DEPTH} levels deep"})
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append({"field": field, "message": "NaN and Infinity are not numbers JSON allows"})
        elif isinstance(value, int) and not isinstance(value, bool) and not -MAX_ID - 1 <= value <= MAX_ID:
            problems.append({"field": field, "message": f"a whole number must lie between {-MAX_ID - 1} and {MAX_ID}"})
        elif isinstance(value, str):
            match = _SURROGATE.search(value)
            if match:
                problems.append({"field": field, "message": (
                    f"contains a lone surrogate (U+{ord(match.group()):04X}) at character {match.start() + 1}, "
                    "which is not Unicode text")})
        elif isinstance(value, dict):
            children: list[tuple[str, Any, int]] = []
            for key, item in value.items():
                if _SURROGATE.search(key):
                    problems.append({"field": field, "message": "a key contains a lone surrogate, not Unicode text"})
                    continue
                children.append((_join(path, key), item, depth + 1))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            stack.extend(reversed([(_join(path, i), item, depth + 1) for i, item in enumerate(value)]))
    return problems


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class InputGuard:
    """ASGI middleware: refuse a body over `max_body_bytes` (413) and JSON bodies that are not plain JSON (422).

    The body is read here (never more than the limit) and handed on to the app unchanged.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._refuse(scope, receive, send, self._too_large(int(declared)))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client is gone; nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._refuse(scope, receive, send, self._too_large(None))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and _is_json(headers.get("content-type", "")):
            problem = self._json_problem(body)
            if problem is not None:
                await self._refuse(scope, receive, send, problem)
                return
        await self.app(scope, self._replay(body, receive), send)

    def _too_large(self, declared: int | None) -> Problem:
        size = f"{declared} bytes" if declared is not None else "larger"
        return Problem(413, "Request too large", (
            f"the request body is {size}; at most {self.max_body_bytes} bytes are accepted "
            "(TERMINARZ_MAX_BODY_BYTES). Split a large CSV file into smaller ones."),
            errors=[{"field": "body", "message": f"at most {self.max_body_bytes} bytes"}])

    @staticmethod
    def _json_problem(body: bytes) -> Problem | None:
        try:
            document = json.loads(body)
        except RecursionError:
            errors = [{"field": "body", "message": f"nested more than {MAX_JSON_DEPTH} levels deep"}]
        except UnicodeDecodeError as error:
            errors = [{"field": "body", "message": f"not UTF-8 text: byte {error.start + 1} is no character"}]
        except ValueError as error:
            errors = [{"field": "body", "message": f"not valid JSON: {error}"}]
        else:
            errors = json_problems(document)
        if not errors:
            return None
        return Problem(422, "Invalid request", "The JSON body holds values that are not plain JSON", errors=errors)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, problem: Problem) -> None:
        response = JSONResponse(problem.document(scope.get("path")), status_code=problem.status,
                                media_type=PROBLEM_JSON)
        await response(scope, receive, send)

    @staticmethod
    def _replay(body: bytes, receive: Receive) -> Receive:
        pieces = deque(body[i:i + _REPLAY_CHUNK] for i in range(0, len(body), _REPLAY_CHUNK)) or deque([b""])

        async def replayed() -> Message:
            if pieces:
                return {"type": "http.request", "body": pieces.popleft(), "more_body": bool(pieces)}
            return await receive()  # after the body: the client's disconnect, when it comes

        return replayed

# Free text people write on a case (a comment, a reason it does not apply): enough for a paragraph, not a book.
MAX_COMMENT_CHARS = 4000
MAX_REASON_CHARS = 1000
