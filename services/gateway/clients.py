"""How the gateway calls the other services: HTTP with the internal token, the correlation id and the scope.

Every call says for whom it is made (`scope`): a person's `Caller.scope`, whose visible contracts the service
filters by, or `SERVICE_SCOPE` for the gateway's own office-wide work. Embedded, the calls go straight to the
in-process apps (no sockets); distributed, to each service's URL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from services.common.errors import Problem
from services.common.log import CORRELATION_HEADER, current_correlation_id
from services.common.runtime import INTERNAL_TOKEN_HEADER
from services.common.scope import Scope
from services.common.settings import Settings

DOWNSTREAM = ("contracts", "scheduler", "cases", "notifier")


class ServiceClients:
    def __init__(self, settings: Settings, apps: dict[str, Any] | None = None) -> None:
        self._clients: dict[str, httpx.AsyncClient] = {}
        for name in DOWNSTREAM:
            headers = {INTERNAL_TOKEN_HEADER: settings.internal_token or ""}  # unset: every call is refused
            if apps and name in apps:
                client = httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[name]),
                                           base_url=f"http://{name}", headers=headers, timeout=60)
            else:
                client = httpx.AsyncClient(base_url=settings.service_url(name), headers=headers, timeout=60)
            self._clients[name] = client

    async def call(self, service: str, method: str, path: str, *, scope: Scope, json: Any = None,
                   params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                   data: dict[str, Any] | None = None, files: dict[str, Any] | None = None) -> Any:
        """Call a service for `scope`; its problem documents come back to our caller as they were (same status,
        fields)."""
        response = await self._request(service, method, path, scope=scope, json=json, params=params,
                                        headers=headers, data=data, files=files)
        return response.json() if response.content else None

    async def raw(self, service: str, method: str, path: str, *, scope: Scope,
                  params: dict[str, Any] | None = None) -> str:
        """The same, for an answer that is not JSON (a CSV file): its text."""
        return (await self._request(service, method, path, scope=scope, params=params)).text

    async def json_bytes(self, service: str, path: str, *, scope: Scope,
                         params: dict[str, Any] | None = None) -> bytes:
        """GET a JSON answer as the service encoded it, to hand on unchanged: decoding and encoding again a page
        of 100 cases was a third of the gateway's cost of the call (bench/my_cases.py)."""
        return (await self._request(service, "GET", path, scope=scope, params=params)).content

    async def _request(self, service: str, method: str, path: str, *, scope: Scope, json: Any = None,
                       params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                       data: dict[str, Any] | None = None, files: dict[str, Any] | None = None) -> httpx.Response:
        extra = {**(headers or {}), **scope.header()}
        cid = current_correlation_id()
        if cid:
            extra[CORRELATION_HEADER] = cid
        clean_params = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._clients[service].request(method, path, json=json, params=clean_params,
                                                            headers=extra, data=data, files=files)
        except httpx.TransportError as exc:
            raise Problem(503, "Service unavailable", f"the {service} service cannot be reached: {exc}") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"title": response.text[:200]}
            raise Problem(response.status_code, body.get("title", "Error"), body.get("detail"),
                          errors=body.get("errors"))
        if not 200 <= response.status_code < 300:
            # A redirect or an informational answer means the path reached no route as meant: never a success.
            raise Problem(502, "Bad gateway", f"the {service} service answered {response.status_code} to {method}")
        return response

    async def find(self, service: str, path: str, *, scope: Scope) -> Any | None:
        """GET one thing; None when the service answers 404 (it does not exist, or `scope` may not see it)."""
        try:
            return await self.call(service, "GET", path, scope=scope)
        except Problem as problem:
            if problem.status != 404:
                raise
            return None

    async def stream(self, service: str, path: str, *, scope: Scope) -> tuple[dict[str, str], AsyncIterator[bytes]]:
        """GET a file: its headers, and its bytes as they arrive (the response closes when they are read); a
        problem as `call` raises it."""
        extra = {**scope.header()}
        cid = current_correlation_id()
        if cid:
            extra[CORRELATION_HEADER] = cid
        client = self._clients[service]
        try:
            response = await client.send(client.build_request("GET", path, headers=extra), stream=True)
        except httpx.TransportError as exc:
            raise Problem(503, "Service unavailable", f"the {service} service cannot be reached: {exc}") from exc
        if response.status_code != 200:
            await response.aread()
            await response.aclose()
            try:
                body = response.json()
            except ValueError:
                body = {"title": response.text[:200]}
            raise Problem(response.status_code, body.get("title", "Error"), body.get("detail"),
                          errors=body.get("errors"))
        headers = {k: v for k, v in response.headers.items()
                   if k.lower() in ("content-type", "content-length", "content-disposition", "x-content-sha256")}

        async def body_of() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_bytes():
                    yield chunk
            finally:
                await response.aclose()

        return headers, body_of()

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
