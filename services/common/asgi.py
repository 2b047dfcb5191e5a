"""Plain ASGI middlewares for what every response gets (headers, the correlation id and its log line).

Starlette's `@app.middleware("http")` (BaseHTTPMiddleware) runs the app in a task of its own and streams its answer
through a memory channel: a fifth of a cheap API call's CPU with two or three of them stacked (bench/my_cases.py).
These wrap `send` instead and run in the request's own task."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.log import CORRELATION_HEADER, accepted_correlation_id, bound, get_logger, new_correlation_id

log = get_logger(__name__)

QUIET_PATHS = ("/healthz", "/readyz")


class DefaultHeaders:
    """Sets `headers` on every HTTP answer that does not set them itself (`only_if(path)`: on those paths only)."""

    def __init__(self, app: ASGIApp, headers: Mapping[str, str],
                 only_if: Callable[[str], bool] | None = None) -> None:
        self.app = app
        self.headers = dict(headers)
        self.only_if = only_if

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.only_if is not None and not self.only_if(scope["path"])):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Correlation:
    """Gives each request a correlation id (the caller's, when well-formed), binds it and the service's name to
    every log line of the request, answers it in the header and logs the request with its status and time."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = _header(scope, CORRELATION_HEADER.lower().encode("latin-1"))
        cid = accepted_correlation_id(sent) or new_correlation_id()
        started = time.perf_counter()
        status: dict[str, Any] = {}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                MutableHeaders(scope=message)[CORRELATION_HEADER] = cid
            await send(message)

        with bound(correlation_id=cid, service=self.service):
            await self.app(scope, receive, send_with_id)
            if scope["path"] not in QUIET_PATHS:
                log.info("http.request", method=scope["method"], path=scope["path"], status=status.get("code"),
                         ms=round((time.perf_counter() - started) * 1000, 1))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None
