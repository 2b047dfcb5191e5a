"""Prometheus metrics: one registry per process, every series labelled by the service that produced it.

Counters and histograms are updated as work happens (messages handled, HTTP requests). Figures that live in a
database (outbox backlog, inbox size, cases by status, mails by status) are read when `/metrics` is scraped,
so every replica reports the truth of the shared database and nothing drifts after a restart. Series carry
no personal data: labels are service names, message types, route templates and status words, never ids,
names or addresses.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.db import Database
from services.common.errors import PROBLEM_JSON, Problem
from services.common.log import get_logger
from services.common.messages import Envelope
from services.common.messaging import Messaging

log = get_logger(__name__)

# Handlers range from a millisecond (a duplicate) to seconds (a contract's replan over fifteen months).
HANDLER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Requests that matched no route are counted under one label, not under their (unbounded) paths.
UNMATCHED_ROUTE = "unmatched"

Refresh = Callable[[], Awaitable[None]]


@dataclass
class Handling:
    """What `Metrics.handling` learns from its caller: whether the inbox found the message a duplicate."""

    duplicate: bool = False


@dataclass
class _Watched:
    service: str
    refresh: Refresh


@dataclass
class Metrics:
    """The process's registry and the series every service shares; services add their own gauges by name."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    _watched: list[_Watched] = field(default_factory=list)
    _buses: list[Any] = field(default_factory=list)
    _gauges: dict[str, Gauge] = field(default_factory=dict)

    def __post_init__(self) -> None:
        r = self.registry
        self.messages_handled = Counter(
            "terminarz_messages_handled", "Messages whose handler ran and committed, by type.",
            ["service", "type"], registry=r)
        self.messages_duplicate = Counter(
            "terminarz_messages_duplicate", "Redelivered messages the inbox recognised and skipped.",
            ["service", "type"], registry=r)
        self.messages_failed = Counter(
            "terminarz_messages_failed", "Handler runs that raised; the bus retries, then dead-letters.",
            ["service", "type"], registry=r)
        self.handler_seconds = Histogram(
            "terminarz_message_handler_seconds", "Time to handle one message, inbox record included.",
            ["service", "type"], buckets=HANDLER_BUCKETS, registry=r)
        self.http_seconds = Histogram(
            "terminarz_http_request_duration_seconds", "HTTP request latency by route template.",
            ["service", "method", "route"], buckets=HTTP_BUCKETS, registry=r)
        self.http_requests = Counter(
            "terminarz_http_requests", "HTTP requests by route template and status code.",
            ["service", "method", "route", "status"], registry=r)
        self.outbox_backlog = Gauge(
            "terminarz_outbox_backlog", "Events committed to the outbox and not yet published.",
            ["service"], registry=r)
        self.outbox_oldest_age = Gauge(
            "terminarz_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox event (0 when the backlog is empty).", ["service"], registry=r)
        self.inbox_size = Gauge(
            "terminarz_inbox_messages", "Messages recorded in the inbox as processed.", ["service"], registry=r)
        self.dead_letters = Gauge(
            "terminarz_dead_lettered_messages", "Messages that exhausted their attempts, kept for an operator.",
            ["queue"], registry=r)
        self.probe_failures = Counter(
            "terminarz_metrics_probe_failures", "Scrapes whose database or bus figures could not be read.",
            ["service"], registry=r)

    def gauge(self, name: str, documentation: str, labels: Sequence[str]) -> Gauge:
        """A service's own gauge (e.g. `terminarz_cases`), created once per registry."""
        gauge = self._gauges.get(name)
        if gauge is None:
            gauge = self._gauges[name] = Gauge(name, documentation, list(labels), registry=self.registry)
        return gauge

    def watch(self, service: str, refresh: Refresh, *, bus: Any = None) -> None:
        """Read a service's database figures at every scrape; its bus is asked for dead letters once."""
        self._watched.append(_Watched(service, refresh))
        if bus is not None and all(b is not bus for b in self._buses):
            self._buses.append(bus)

    @contextmanager
    def handling(self, service: str, type_: str) -> Iterator[Handling]:
        """Time one message's handling and count how it ended: handled, duplicate or failed."""
        outcome = Handling()
        started = time.perf_counter()
        try:
            yield outcome
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                self.messages_failed.labels(service, type_).inc()
            raise
        if outcome.duplicate:
            self.messages_duplicate.labels(service, type_).inc()
            return
        self.messages_handled.labels(service, type_).inc()
        self.handler_seconds.labels(service, type_).observe(time.perf_counter() - started)

    def handled_batch(self, service: str, envelopes: Sequence[Envelope], fresh: Sequence[Envelope],
                      seconds_each: float) -> None:
        """Count a committed batch: its fresh messages handled (each taking its share of the time), the rest
        duplicates."""
        new = {id(e) for e in fresh}
        for envelope in envelopes:
            if id(envelope) in new:
                self.messages_handled.labels(service, envelope.type).inc()
                self.handler_seconds.labels(service, envelope.type).observe(seconds_each)
            else:
                self.messages_duplicate.labels(service, envelope.type).inc()

    async def render(self) -> bytes:
        """The exposition text, after reading the figures kept in databases and buses."""
        await asyncio.gather(*(self._refresh(w) for w in self._watched))
        for bus in self._buses:
            await self._refresh_dead_letters(bus)
        return generate_latest(self.registry)

    async def _refresh(self, watched: _Watched) -> None:
        try:
            await watched.refresh()
        except Exception as exc:  # a scrape must still answer; the failure is itself a series
            self.probe_failures.labels(watched.service).inc()
            log.warning("metrics.probe_failed", service=watched.service, error=repr(exc))

    async def _refresh_dead_letters(self, bus: Any) -> None:
        count = getattr(bus, "dead_letter_count", None)
        if count is None:  # a bus that cannot tell yet
            return
        try:
            counts: dict[str, int] = await count()
        except Exception as exc:
            log.warning("metrics.dead_letters_unreadable", error=repr(exc))
            return
        for queue, n in counts.items():
            self.dead_letters.labels(queue).set(n)


async def refresh_messaging(metrics: Metrics, service: str, *, db: Database, messaging: Messaging,
                            now: datetime) -> None:
    """The series every service has: outbox backlog, age of its oldest unpublished event, inbox size."""
    outbox, inbox = messaging.outbox, messaging.inbox
    async with db.reading() as session:
        backlog, oldest = (await session.execute(
            select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None)))).one()
        processed = (await session.execute(select(func.count()).select_from(inbox))).scalar_one()
    metrics.outbox_backlog.labels(service).set(backlog)
    metrics.outbox_oldest_age.labels(service).set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    metrics.inbox_size.labels(service).set(processed)


class HttpMetrics:
    """ASGI middleware: latency and status of every request, labelled by the route template that served it
    (`/api/v1/contracts/{contract_id}`), so ids never become labels."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, service: str) -> None:
        self.app = app
        self.metrics = metrics
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            # The router writes the matched route into the scope it was given (the same dict as ours).
            route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            method = str(scope.get("method", ""))
            self.metrics.http_seconds.labels(self.service, method, route).observe(time.perf_counter() - started)
            self.metrics.http_requests.labels(self.service, method, route, str(status)).inc()


def scrape_allowed(request: Request, token: str) -> bool:
    """The public gateway's /metrics answers only a caller holding the internal token (as the
    X-Internal-Token header, or as a bearer token, which Prometheus sends with `authorization:`)."""
    given = request.headers.get("X-Internal-Token")
    if given is None:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        given = credentials if scheme.lower() == "bearer" else ""
    return hmac.compare_digest(given.encode(), token.encode())


async def metrics_response(request: Request, metrics: Metrics, *, token: str | None) -> Response:
    if token is not None and not scrape_allowed(request, token):
        problem = Problem(401, "Unauthorized", "the public service's metrics need the internal token")
        return JSONResponse(problem.document(request.url.path), status_code=401, media_type=PROBLEM_JSON)
    return Response(await metrics.render(), media_type=CONTENT_TYPE_LATEST)
