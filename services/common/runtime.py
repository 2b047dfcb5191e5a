"""How a service is declared and run: its database, outbox relay, queue consumer, background loops and HTTP app.

A service module declares a `ServiceSpec` (name, tables, event handlers keyed by message type, HTTP routes,
set-up and background loops); `ServiceRuntime` wires it to a bus, a database and a clock. The same spec runs
alone in its own process (distributed) or beside the other four in one process (embedded).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.asgi import Correlation, DefaultHeaders
from services.common.bus import Batching, Bus
from services.common.clock import Clock
from services.common.db import Database
from services.common.errors import PROBLEM_JSON, Problem, install_problem_handlers
from services.common.limits import InputGuard
from services.common.log import (
    bound,
    get_logger,
)
from services.common.messages import Envelope
from services.common.messaging import Messaging, OutboxRelay, consume_once, prune
from services.common.metrics import HttpMetrics, Metrics, metrics_response, refresh_messaging
from services.common.settings import Settings

log = get_logger(__name__)

INTERNAL_TOKEN_HEADER = "X-Internal-Token"
# How long a stop lets a cancelled background loop end (a `finally` closing its connections) before cancelling again.
LOOP_STOP_GRACE = 10.0


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
# Several messages of the types it is registered for, in their order, inside the batch's one transaction.
BatchEventHandler = Callable[[ServiceContext, AsyncSession, Sequence[Envelope]], Awaitable[None]]


def each_in_the_batch(handler: EventHandler) -> BatchEventHandler:
    """A batch handler that runs a one-message handler for each message in the batch's one transaction (its
    correlation id bound): one commit and one inbox statement for the batch. Only for a handler that writes
    with plain statements and reads what it wrote before (nothing kept in the session between messages)."""

    async def each(ctx: ServiceContext, session: AsyncSession, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            with bound(correlation_id=envelope.correlation_id, message_id=str(envelope.id)):
                await handler(ctx, session, envelope)

    return each


Loop = Callable[[ServiceContext], Awaitable[None]]
T = TypeVar("T")


async def through_database_outages(work: Callable[[], Awaitable[T]], reachable: Callable[[], Awaitable[bool]], *,
                                   longest_wait: float = 5.0) -> T:
    """Run `work` (a message's handling); when it fails while the service's database cannot be reached, the
    message is not at fault: wait until the database answers again (backing off to `longest_wait` seconds) and
    run it again. So a database restart or a network cut of any length uses up none of the message's attempts
    and dead-letters nothing; the message stays unacknowledged meanwhile (a stop cancels the wait and the bus
    delivers it again later). A failure while the database answers is the message's own and is raised."""
    delay = 0.2
    while True:
        try:
            return await work()
        except Exception:
            if await reachable():
                raise
            log.warning("database.unreachable", waiting="the message is handled again once it answers")
            while not await reachable():
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest_wait)
            log.info("database.reachable_again")
Hook = Callable[[ServiceContext], Awaitable[None]]
# Reads a service's own figures (e.g. cases by status) into its gauges when /metrics is scraped.
Probe = Callable[[ServiceContext, Metrics], Awaitable[None]]


async def prune_messaging(ctx: ServiceContext) -> None:
    """Every service's housekeeping: old outbox events and inbox records deleted (`Settings.events_kept_days`)."""
    kept = timedelta(days=ctx.settings.events_kept_days)
    while True:
        await prune(ctx.db, ctx.messaging.outbox, ctx.messaging.inbox, now=ctx.clock.now(), kept=kept)
        await asyncio.sleep(ctx.settings.prune_every_hours * 3600)


@dataclass
class ServiceSpec:
    name: str
    metadata: MetaData
    outbox: Table
    inbox: Table
    router: APIRouter
    handlers: dict[str, EventHandler] = field(default_factory=dict)
    # Opt-in: types whose messages may be handled many per transaction (each type also needs its `handlers`
    # entry: a batch that fails is handled again one message at a time with it).
    batch_handlers: dict[str, BatchEventHandler] = field(default_factory=dict)
    setup: Hook | None = None
    teardown: Hook | None = None
    loops: list[Loop] = field(default_factory=list)
    # Internal services answer only callers holding the internal token (the gateway); the gateway is public.
    internal: bool = True
    # Extra app wiring (middleware, exception handlers) a service needs beyond the common ones.
    configure_app: Callable[[FastAPI, ServiceContext], None] | None = None
    probes: list[Probe] = field(default_factory=list)
    # Routes anyone may call (no internal token), served under `public_prefix`: e.g. the notifier's client
    # confirmation links. Embedded, the gateway mounts `ServiceRuntime.public_app()` at that prefix.
    public_router: APIRouter | None = None
    public_prefix: str = ""


async def get_context(request: Request) -> ServiceContext:
    """FastAPI dependency: the service's context. The dependencies here are `async def` though they never wait: a
    plain `def` one runs in a worker thread, a hand-over per dependency per request (bench/my_cases.py)."""
    ctx: ServiceContext = request.app.state.ctx
    return ctx


async def require_internal_token(request: Request) -> None:
    expected = request.app.state.ctx.settings.internal_token
    sent = request.headers.get(INTERNAL_TOKEN_HEADER, "")
    # No token configured answers no one; the comparison takes the same time wherever the strings differ.
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Problem(401, "Unauthorized", "this service answers only other Terminarz services")


# Pages may load scripts, styles and images only from us; nothing inline, no framing, no plugins.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def install_security_headers(app: FastAPI, settings: Settings) -> None:
    """Every response of every service: CSP, no framing, no MIME sniffing, no referrer to other sites.

    A response that sets its own header (the API docs page's CSP, the confirmation page's referrer policy) keeps it.
    """
    fixed = {
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    if settings.https:
        fixed["Strict-Transport-Security"] = "max-age=31536000"

    # A response may be stricter than the defaults (the confirmation page sends no referrer at all).
    app.add_middleware(DefaultHeaders, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, **fixed})


def swagger_ui(title: str, openapi_url: str) -> HTMLResponse:
    """FastAPI's docs page (scripts from its CDN) with a CSP that allows exactly its one inline script."""
    page = get_swagger_ui_html(openapi_url=openapi_url, title=title)
    body = bytes(page.body).decode()
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in re.findall(r"<script>(.*?)</script>", body, flags=re.DOTALL)
    )
    cdn = "https://cdn.jsdelivr.net"
    policy = (f"default-src 'none'; script-src {cdn} {hashes}; style-src {cdn}; "
              f"img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; frame-ancestors 'none'")
    return HTMLResponse(body, headers={"Content-Security-Policy": policy})


class ServiceRuntime:
    def __init__(self, spec: ServiceSpec, *, settings: Settings, bus: Bus, clock: Clock,
                 extras: dict[str, Any] | None = None, metrics: Metrics | None = None) -> None:
        self.spec = spec
        db = Database(settings.database_url_for(spec.name))
        messaging = Messaging(producer=spec.name, outbox=spec.outbox, inbox=spec.inbox, clock=clock)
        messaging.outbox_signal = db.outbox_signal
        self.ctx = ServiceContext(spec.name, settings, clock, db, messaging, bus, dict(extras or {}))
        self.relay = OutboxRelay(db=db, messaging=messaging, bus=bus, poll_seconds=settings.outbox_poll_seconds)
        self._loops: list[asyncio.Task[None]] = []
        # Embedded: the five services share one registry, their series told apart by the `service` label.
        self.metrics = metrics or Metrics()
        self.metrics.watch(spec.name, self._refresh_metrics, bus=bus)
        self.app = self._build_app()
        self.started = False
        self._consuming = False

    async def start_consuming(self) -> None:
        """Set up and subscribe (once). In one process every queue must exist before any relay publishes:
        the in-memory bus delivers only to queues that exist, so events waiting in an outbox at start-up
        would be marked published and lost."""
        if self._consuming:
            return
        self._consuming = True
        if self.spec.setup is not None:
            await self.spec.setup(self.ctx)
        if self.spec.handlers:
            settings = self.ctx.settings
            batching = (Batching(self.on_batch, size=settings.bus_batch, linger=settings.bus_batch_linger_ms / 1000)
                        if self.spec.batch_handlers and settings.bus_batch > 1 else None)
            await self.ctx.bus.subscribe(self.spec.name, sorted(self.spec.handlers), self.on_message, batching)

    async def start(self) -> None:
        await self.start_consuming()
        await self.relay.start()
        loops = [*self.spec.loops, prune_messaging] if self.ctx.settings.events_kept_days else self.spec.loops
        for loop in loops:
            self._loops.append(asyncio.create_task(self._guarded(loop), name=f"{self.spec.name}-{loop.__name__}"))
        self.started = True
        log.info("service.started", service=self.spec.name, database=self.ctx.db.engine.url.render_as_string())

    async def stop_work(self) -> None:
        """Stop the loops and the relay; the bus is closed next (it cancels running handlers), then `close`."""
        self.started = False
        for task in self._loops:
            task.cancel()
        # A loop that lets its cancellation pass (asyncio.wait_for did on Python 3.11 when its wait ended at the
        # same moment) is cancelled again, named in the log, rather than waited for forever.
        running = set(self._loops)
        while running:
            _, running = await asyncio.wait(running, timeout=LOOP_STOP_GRACE)
            for task in running:
                log.warning("service.loop_cancelled_again", loop=task.get_name(), waited_seconds=LOOP_STOP_GRACE)
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
        with (
            bound(service=self.spec.name, correlation_id=envelope.correlation_id, message_id=str(envelope.id)),
            self.metrics.handling(self.spec.name, envelope.type) as handling,
        ):
            processed = await through_database_outages(
                lambda: consume_once(self.ctx.db, self.ctx.messaging, envelope,
                                     lambda session, env: handler(self.ctx, session, env)),
                self._database_reachable,
            )
            handling.duplicate = not processed
            if processed:
                log.info("message.handled", type=envelope.type)

    async def _database_reachable(self) -> bool:
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for may drop a stop's cancellation, and the wait for the
            # database in `through_database_outages` would then go on after the stop
            async with asyncio.timeout(5):
                await self.ctx.db.ping()
        except Exception:
            return False
        return True

    async def on_batch(self, envelopes: Sequence[Envelope]) -> None:
        """Several messages in one transaction: the inbox claimed for all at once (a message already there, or
        twice in the batch, is skipped), then each run of consecutive messages with a batch handler handled
        together and any other message by its one-message handler, in order; the bus acks after the commit."""
        started = time.perf_counter()
        with bound(service=self.spec.name, batch=len(envelopes)):
            async with self.ctx.db.transaction() as session:
                fresh = await self.ctx.messaging.claim_many(session, envelopes)
                run: list[Envelope] = []
                for envelope in fresh:
                    batch_handler = self.spec.batch_handlers.get(envelope.type)
                    if run and batch_handler is not self.spec.batch_handlers.get(run[0].type):
                        await self._handle_run(session, run)
                        run = []
                    if batch_handler is not None:
                        run.append(envelope)
                        continue
                    handler = self.spec.handlers.get(envelope.type)
                    if handler is not None:
                        with bound(correlation_id=envelope.correlation_id, message_id=str(envelope.id)):
                            await handler(self.ctx, session, envelope)
                if run:
                    await self._handle_run(session, run)
            seconds = (time.perf_counter() - started) / max(len(envelopes), 1)
            self.metrics.handled_batch(self.spec.name, envelopes, fresh, seconds)
            for envelope in fresh:
                log.info("message.handled", type=envelope.type, correlation_id=envelope.correlation_id,
                         message_id=str(envelope.id))

    async def _handle_run(self, session: AsyncSession, run: list[Envelope]) -> None:
        with bound(correlation_id=run[0].correlation_id if len(run) == 1 else None):
            await self.spec.batch_handlers[run[0].type](self.ctx, session, run)

    async def _refresh_metrics(self) -> None:
        ctx = self.ctx
        await refresh_messaging(self.metrics, ctx.name, db=ctx.db, messaging=ctx.messaging, now=ctx.clock.now())
        for probe in self.spec.probes:
            await probe(ctx, self.metrics)

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
        # Internal services show their OpenAPI document only to the internal token (and have no docs page).
        app = FastAPI(title=f"Terminarz {spec.name}", version="1", docs_url=None, redoc_url=None,
                      openapi_url=None if spec.internal else "/openapi.json")
        app.state.ctx = self.ctx
        install_problem_handlers(app)
        install_security_headers(app, self.ctx.settings)
        # Added before the correlation middleware, so it runs inside it: refusals are logged with their id.
        body_limit = self.ctx.settings.max_body_bytes * (2 if spec.internal else 1)
        app.add_middleware(InputGuard, max_body_bytes=body_limit)

        app.add_middleware(Correlation, service=spec.name)

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

        if spec.internal:
            @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_internal_token)])
            async def internal_openapi() -> dict[str, Any]:
                return app.openapi()
        else:
            @app.get("/docs", include_in_schema=False)
            async def docs() -> HTMLResponse:
                return swagger_ui(f"{app.title} - Swagger UI", "/openapi.json")

        @app.get("/metrics", include_in_schema=False)
        async def metrics(request: Request) -> Response:
            # Internal services answer like /healthz (internal network only); the public gateway wants the token.
            token = None if spec.internal else self.ctx.settings.internal_token
            return await metrics_response(request, self.metrics, token=token)

        app.add_middleware(HttpMetrics, metrics=self.metrics, service=spec.name)

        dependencies = [Depends(require_internal_token)] if spec.internal else []
        app.include_router(spec.router, dependencies=dependencies)
        if spec.public_router is not None:
            app.include_router(spec.public_router, prefix=spec.public_prefix)
        if spec.configure_app is not None:
            spec.configure_app(app, self.ctx)
        return app
