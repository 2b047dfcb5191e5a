"""Shared fixtures: where the real broker and database are, and waiting on conditions with a deadline."""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import pytest

AMQP_URL = os.environ.get("TERMINARZ_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
PG_URL = os.environ.get("TERMINARZ_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]

# A hung test fails after its timeout (pytest-timeout, `timeout` in pyproject.toml; `signal` method, so the run goes
# on) with every thread's stack. A thread's stack shows only the event loop waiting; this many seconds before the
# timeout every pending asyncio task's stack goes to stderr too (the failed test's report), naming the stuck await.
TASK_DUMP_LEAD = 30.0


def _timeout_of(item: pytest.Item) -> float:
    """The test's pytest-timeout: its `timeout` marker, else --timeout, PYTEST_TIMEOUT or the ini value; 0 for none."""
    marker = item.get_closest_marker("timeout")
    value: Any = None
    if marker is not None:
        value = marker.args[0] if marker.args else marker.kwargs.get("timeout")
    if value is None:
        value = item.config.getoption("timeout", None)
    if value is None:
        value = os.environ.get("PYTEST_TIMEOUT")
    if value is None:
        try:
            value = item.config.getini("timeout")
        except ValueError:  # pytest-timeout not loaded (-p no:timeout)
            value = None
    return float(value or 0)


def _await_chain(awaitable: Any) -> list[tuple[Any, int]]:
    """The frames a coroutine (or async generator) is suspended in, following what each awaits, outermost first.

    A task's own stack (`Task.print_stack`) shows only its outermost frame before Python 3.12, which hides the await
    that is stuck. An async generator's `__anext__()` is opaque (no link to the generator): the chain ends there, and
    the generators mid-step are printed on their own."""
    frames = []
    while awaitable is not None:
        frame = next((getattr(awaitable, a) for a in ("cr_frame", "ag_frame", "gi_frame")
                      if getattr(awaitable, a, None) is not None), None)
        if frame is not None:
            frames.append((frame, frame.f_lineno))
        awaitable = next((getattr(awaitable, a) for a in ("cr_await", "ag_await", "gi_yieldfrom")
                          if getattr(awaitable, a, None) is not None), None)
    return frames


def dump_asyncio_tasks(why: str, file: Any = None) -> None:
    """Print where every pending asyncio task (of any loop, found among the garbage collector's objects) waits."""
    out = file or sys.stderr
    objects = gc.get_objects()
    tasks = [o for o in objects if isinstance(o, asyncio.Task) and not o.done()]
    stepping = [o for o in objects if inspect.isasyncgen(o) and o.ag_running and o.ag_frame is not None]
    print(f"\n===== {why}: {len(tasks)} pending asyncio task(s) =====", file=out)
    for task in tasks:
        print(f"--- {task!r}", file=out)
        print("".join(traceback.format_list(traceback.StackSummary.extract(_await_chain(task.get_coro())))), file=out)
    for generator in stepping:
        print(f"--- async generator mid-step {generator!r}", file=out)
        print("".join(traceback.format_list(traceback.StackSummary.extract(_await_chain(generator)))), file=out)
    print("===== end of asyncio tasks =====", file=out, flush=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    """Arm the task dump for setup, call and teardown together (the hang seen in CI was in a fixture's teardown)."""
    timeout = _timeout_of(item)
    timer = None
    if timeout > 0:
        lead = min(TASK_DUMP_LEAD, timeout / 10)
        timer = threading.Timer(timeout - lead, dump_asyncio_tasks,
                                (f"{item.nodeid} still running after {timeout - lead:.0f} s",))
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()


@pytest.fixture
def rules_dir() -> Path:
    """The rules the office runs with; a test module overrides this to edit them."""
    return ROOT / "rules"


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url.replace("+asyncpg", ""))
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def require_service(name: str, url: str, port: int) -> None:
    """Distributed tests need the real thing: skip with the reason locally, fail under CI=true."""
    if _reachable(url, port):
        return
    message = f"{name} is not reachable at {url}; start it (see README) to run the distributed tests"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def amqp_url() -> str:
    require_service("RabbitMQ", AMQP_URL, 5672)
    return AMQP_URL


@pytest.fixture
async def pg_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database prefix (each service appends `_<service>`); dropped afterwards."""
    require_service("PostgreSQL", PG_URL, 5432)
    import asyncpg  # type: ignore[import-untyped]

    name = f"tz_test_{uuid.uuid4().hex[:10]}"
    base = PG_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    admin = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", f"{name}%")
        for row in rows:
            await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await admin.close()


async def wait_for(
    condition: Callable[[], Awaitable[T] | T], *, timeout: float = 20.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll a condition until it returns something truthy; fail with `what` when the deadline passes."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        result = condition()
        if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
            result = await result  # type: ignore[misc]
        if result:
            return result  # type: ignore[return-value]
        last = result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}: last value {last!r}")
        await asyncio.sleep(interval)


async def wait_while_progressing(
    condition: Callable[[], Awaitable[bool] | bool], progress: Callable[[], object], *, stall: float = 120.0,
    timeout: float = 900.0, interval: float = 0.5, what: str = "",
) -> None:
    """Poll a condition that a long batch of work will make true; fail when the work stalls, not when it is slow.

    `progress` returns a snapshot of the work done (counts); every change of it restarts the `stall` deadline, so a
    loaded machine that is merely slow passes while a stuck pipeline still fails within `stall` seconds. `timeout`
    bounds the whole wait. Either callable may be a coroutine function (`progress` is read after `condition`).
    """

    async def call(fn: Callable[[], Any]) -> Any:
        result = fn()
        return await result if isinstance(result, Awaitable) else result

    started = time.monotonic()
    seen, moved = None, started
    while not await call(condition):
        now = time.monotonic()
        snapshot = await call(progress)
        if snapshot != seen:
            seen, moved = snapshot, now
        if now - moved > stall or now - started > timeout:
            why = f"no progress for {stall:.0f}s" if now - moved > stall else f"not done after {timeout:.0f}s"
            raise AssertionError(f"{why} waiting for {what or condition}: progress stuck at {seen!r}")
        await asyncio.sleep(interval)


class CapturedMail:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    def to(self, address: str) -> list[Any]:
        return [m for m in self.messages if address in m["To"]]


@pytest.fixture
def smtp_server() -> Iterator[tuple[str, int, CapturedMail]]:
    """A real SMTP server (aiosmtpd) inside the test; yields host, port and what it received."""
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    captured = CapturedMail()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            captured.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield "127.0.0.1", port, captured
    finally:
        controller.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
