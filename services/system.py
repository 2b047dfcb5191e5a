"""Composition root: builds the five services for the embedded mode (one process) or one of them alone."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from services.common.bus import Bus
from services.common.bus.memory import InMemoryBus
from services.common.clock import Clock, ManualClock, SystemClock
from services.common.keys import ensure_secrets, require_secrets
from services.common.metrics import Metrics
from services.common.runtime import ServiceRuntime, ServiceSpec
from services.common.settings import SERVICES, Settings

# Start order: producers before consumers is not required (queues buffer), but it keeps start-up logs readable.
START_ORDER = ("contracts", "scheduler", "cases", "notifier", "gateway")
BUS_FILE = "bus.db"


def load_spec(name: str) -> ServiceSpec:
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; one of {', '.join(SERVICES)}")
    spec: ServiceSpec = importlib.import_module(f"services.{name}.service").spec
    return spec


def make_clock(settings: Settings) -> Clock:
    return ManualClock(settings.frozen_time) if settings.frozen_time else SystemClock()


def make_bus(settings: Settings) -> Bus:
    if settings.mode == "distributed":
        if not settings.amqp_url:
            raise SystemExit("distributed mode needs TERMINARZ_AMQP_URL (e.g. amqp://guest:guest@127.0.0.1:5672/)")
        from services.common.bus.rabbit import RabbitBus

        return RabbitBus(settings.amqp_url, exchange=settings.exchange, queue_prefix=settings.queue_prefix,
                         prefetch=settings.prefetch, max_attempts=settings.bus_max_attempts,
                         retry_delay_ms=settings.bus_retry_delay_ms)
    return embedded_bus(settings)


def embedded_bus(settings: Settings) -> InMemoryBus:
    """The in-process bus, its queues kept in the data folder (`bus.db`) so a stop or a crash loses nothing."""
    return InMemoryBus(path=settings.data_dir / BUS_FILE, max_attempts=settings.bus_max_attempts,
                       retry_delay=settings.bus_retry_delay_ms / 1000)


class EmbeddedSystem:
    """All five services in one process on an in-memory bus; the gateway reaches the others in-process."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None, bus: InMemoryBus | None = None) -> None:
        settings = ensure_secrets(settings)  # made in the data folder on first start
        self.settings = settings
        self.clock = clock or make_clock(settings)
        self.bus = bus or embedded_bus(settings)
        self.runtimes: dict[str, ServiceRuntime] = {}
        self.metrics = Metrics()  # one registry for the five; each series names its service
        self._backups: asyncio.Task[None] | None = None
        for name in START_ORDER:
            extras: dict[str, Any] = {}
            if name == "gateway":
                extras["service_apps"] = {n: rt.app for n, rt in self.runtimes.items()}
            self.runtimes[name] = ServiceRuntime(load_spec(name), settings=settings, bus=self.bus,
                                                 clock=self.clock, extras=extras, metrics=self.metrics)
        # One port embedded: the public routes of a service (the notifier's confirmation links) live on the gateway.
        for runtime in self.runtimes.values():
            if runtime.spec.public_router is not None and runtime is not self.gateway:
                self.gateway.app.mount(runtime.spec.public_prefix, runtime.public_app())

    @property
    def gateway(self) -> ServiceRuntime:
        return self.runtimes["gateway"]

    async def start(self) -> None:
        await self.bus.start()
        for runtime in self.runtimes.values():  # every queue before any relay publishes
            await runtime.start_consuming()
        for runtime in self.runtimes.values():
            await runtime.start()
        if self.settings.backup_keep > 0:
            from services.backup import daily_backups

            self._backups = asyncio.create_task(daily_backups(self.settings, self.clock), name="daily-backups")

    async def stop(self) -> None:
        if self._backups is not None:
            self._backups.cancel()
            await asyncio.gather(self._backups, return_exceptions=True)
        for runtime in reversed(self.runtimes.values()):
            await runtime.stop_work()
        await self.bus.close()
        for runtime in reversed(self.runtimes.values()):
            await runtime.close()


def standalone(name: str, settings: Settings) -> ServiceRuntime:
    """One service in its own process (distributed mode); refuses to start without strong secrets."""
    require_secrets(settings)
    return ServiceRuntime(load_spec(name), settings=settings, bus=make_bus(settings), clock=make_clock(settings))
