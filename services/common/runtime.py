"""How a service is declared and run: its database, outbox relay, queue consumer, background loops and HTTP app.

A service module declares a `ServiceSpec` (name, tables, event handlers keyed by message type, HTTP routes,
set-up and background loops); `ServiceRuntime` wires it to a bus, a database and a clock. The same spec runs
alone in its own process (distributed) or beside the other four in one process (embedded).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.bus import Bus
from services.common.clock import Clock
from services.common.db import Database
from services.common.errors import PROBLEM_JSON, Problem, install_problem_handlers
from services.common.log import CORRELATION_HEADER, bound, get_logger, new_correlation_id
from services.common.messages import Envelope
from services.common.messaging import Messaging, OutboxRelay, consume_once
from services.common.settings import Settings

log = get_logger(__name__)

INTERNAL_TOKEN_HEADER = "X-Internal-Token"


@dataclass
class ServiceContext:
    """What a service's handlers, routes and loops are given: the minimum each needs, nothing global."""

    name: str
    settings: Settings
    clock: Clock
    db: Database
    messaging: Messaging
    bus: Bus
    extras: dict[str, Any] = field(default_factory=dict)


EventHandler = Callable[[ServiceContext, AsyncSession, Envelope], Awaitable[None]]
Loop = Callable[[ServiceContext], Awaitable[None]]
Hook = Callable[[ServiceContext], Awaitable[None]]


@dataclass
class ServiceSpec:
    name: str
    metadata: MetaData
    outbox: Table
    inbox: Table
    router: APIRouter
    handlers: dict[str, EventHandler] = field(default_factory=dict)
    setup: Hook | None = None
    teardown: Hook | None = None
    loops: list[Loop] = field(default_factory=list)
    # Internal services answer only callers holding the internal token (the gateway); the gateway is public.
    internal: bool = True
    # Extra app wiring (middleware, exception handlers) a service needs beyond the common ones.
    configure_app: Callable[[FastAPI, ServiceContext], None] | None = None
    # Routes anyone may call (no internal token), served under `public_prefix`: e.g. the notifier's client
    # confirmation links. Embedded, the gateway mounts `ServiceRuntime.public_app()` at that prefix.
    public_router: APIRouter | None = None
    public_prefix: str = ""


def get_context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


def require_internal_token(request: Request) -> None:
    expected = request.app.state.ctx.settings.internal_token
    if request.headers.get(INTERNAL_TOKEN_HEADER) != expected:
        raise Problem(401, "Unauthorized", "this service answers only other Terminarz services")


class ServiceRuntime:
    def __init__(self, spec: ServiceSpec, *, settings: Settings, bus: Bus, clock: Clock,
                 extras: dict[str, Any] | None = None) -> None:
        self.spec = spec
        db = Database(settings.database_url_for(spec.name))
        messaging = Messaging(producer=spec.name, outbox=spec.outbox, inbox=spec.inbox, clock=clock)
        messaging.outbox_signal = db.outbox_signal
        self.ctx = ServiceContext(spec.name, settings, clock, db, messaging, bus, dict(extras or {}))
        self.relay = OutboxRelay(db=db, messaging=messaging, bus=bus, poll_seconds=settings.outbox_poll_seconds)
        self._loops: list[asyncio.Task[None]] = []
        self.app = self._build_app()
        self.started = False

    async def start(self) -> None:
        if self.spec.setup is not None:
            await self.spec.setup(self.ctx)
        await self.relay.start()
        if self.spec.handlers:
            await self.ctx.bus.subscribe(self.spec.name, sorted(self.spec.handlers), self.on_message)
        for loop in self.spec.loops:
            self._loops.append(asyncio.create_task(self._guarded(loop), name=f"{self.spec.name}-{loop.__name__}"))
        self.started = True
        log.info("service.started", service=self.spec.name, database=self.ctx.db.engine.url.render_as_string())

    async def stop_work(self) -> None:
        """Stop the loops and the relay; the bus is closed next (it cancels running handlers), then `close`."""
        self.started = False
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops.clear()
        await self.relay.stop()

    async def stop(self) -> None:
        """Both steps, for a runtime whose bus has no consumers of its own (benchmarks, tools)."""
        await self.stop_work()
        await self.close()

    async def close(self) -> None:
        """After the bus is closed: nothing uses the database any more."""
        if self.spec.teardown is not None:
            await self.spec.teardown(self.ctx)
        await self.ctx.db.dispose()

    async def on_message(self, envelope: Envelope) -> None:
        handler = self.spec.handlers.get(envelope.type)
        if handler is None:
            return
        with bound(service=self.spec.name, correlation_id=envelope.correlation_id, message_id=str(envelope.id)):
            processed = await consume_once(
                self.ctx.db, self.ctx.messaging, envelope,
                lambda session, env: handler(self.ctx, session, env),
            )
            if processed:
                log.info("message.handled", type=envelope.type)

    async def _guarded(self, loop: Loop) -> None:
        """A background loop that fails is logged and restarted, never silently gone."""
        while True:
            try:
                with bound(service=self.spec.name):
                    await loop(self.ctx)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("service.loop_failed", loop=loop.__name__)
                await asyncio.sleep(5)

    def public_app(self) -> FastAPI:
        """The service's public routes alone, as an app another app mounts at `spec.public_prefix`."""
        if self.spec.public_router is None:
            raise ValueError(f"the {self.spec.name} service declares no public routes")
        app = FastAPI(title=f"Terminarz {self.spec.name} (public)", docs_url=None, redoc_url=None, openapi_url=None)
        app.state.ctx = self.ctx
        install_problem_handlers(app)
        app.include_router(self.spec.public_router)
        return app

    def _build_app(self) -> FastAPI:
        spec = self.spec
        app = FastAPI(
            title=f"Terminarz {spec.name}",
            version="1",
            docs_url="/docs" if not spec.internal else None,
            redoc_url=None,
        )
        app.state.ctx = self.ctx
        install_problem_handlers(app)

        @app.middleware("http")
        async def correlation(request: Request, call_next: Any) -> Any:
            cid = request.headers.get(CORRELATION_HEADER) or new_correlation_id()
            started = time.perf_counter()
            with bound(correlation_id=cid, service=spec.name):
                response = await call_next(request)
                if request.url.path not in ("/healthz", "/readyz"):
                    log.info("http.request", method=request.method, path=request.url.path,
                             status=response.status_code, ms=round((time.perf_counter() - started) * 1000, 1))
            response.headers[CORRELATION_HEADER] = cid
            return response

        @app.get("/healthz", include_in_schema=False)
        async def healthz() -> dict[str, str]:
            return {"status": "ok", "service": spec.name}

        @app.get("/readyz", include_in_schema=False)
        async def readyz() -> JSONResponse:
            checks: dict[str, str] = {}
            for what, probe in (("database", self.ctx.db.ping), ("bus", self.ctx.bus.ping)):
                try:
                    await probe()
                    checks[what] = "ok"
                except Exception as exc:
                    checks[what] = f"unreachable: {exc}"
            ready = all(v == "ok" for v in checks.values()) and self.started
            body = {"status": "ready" if ready else "not ready", "service": spec.name, "checks": checks}
            return JSONResponse(body, status_code=200 if ready else 503,
                                media_type="application/json" if ready else PROBLEM_JSON)

        dependencies = [Depends(require_internal_token)] if spec.internal else []
        app.include_router(spec.router, dependencies=dependencies)
        if spec.public_router is not None:
            app.include_router(spec.public_router, prefix=spec.public_prefix)
        if spec.configure_app is not None:
            spec.configure_app(app, self.ctx)
        return app
