"""The public API fuzzed by Schemathesis from the gateway's own OpenAPI, with a token of each role.

Every answer must be a status the document lists, with the documented content type and body schema, and never
a 5xx; invalid input must be refused with a 4xx, and every route must refuse a request without a token. The run
is bounded (FUZZ_EXAMPLES per operation and phase) and derandomized (a fixed seed), so CI is reproducible;
the totals are printed at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi

from services.common.bus.memory import InMemoryBus
from services.common.clock import ManualClock
from services.common.migrate import upgrade
from services.common.runtime import ServiceRuntime
from services.common.settings import SERVICES, Settings
from services.gateway import users
from services.system import EmbeddedSystem, load_spec
from tests.embedded.conftest import ROOT, STAFF, embedded_settings
from tests.samples import contract, sole_trader

SEED = 20261128
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance",
          "response_headers_conformance", "negative_data_rejection", "ignored_auth", "unsupported_method")
CONFIG = SchemathesisConfig.from_dict({
    "seed": SEED,
    "suppress-health-check": ["all"],
    # Unknown query parameters are ignored, as HTTP APIs do; OpenAPI has no way to say so.
    "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True, "database": "none",
                   "allow-extra-parameters": False},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
               "stateful": {"enabled": False}},
    "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    "operations": [{
        # Any text is a CSV file to check: what is wrong inside it is the dry run's answer (200, `errors`),
        # so a "wrong type" of body (an object sent as text) is no request to refuse.
        "include-path-regex": "^/api/v1/imports/",
        "checks": {"negative_data_rejection": {"enabled": False}},
    }],
})


class FuzzedOffice:
    """The embedded system as one ASGI app: its lifespan starts the five services in Schemathesis's event loop.

    Starting them there (not in a pytest-asyncio loop) keeps every database connection in the loop that serves
    the requests. Staff with a token each, and one client with one contract, are there from the start.
    """

    def __init__(self) -> None:
        self.root: Path | None = None
        self.system: EmbeddedSystem | None = None
        self.tokens: dict[str, str] = {}
        self.statuses: Counter[int] = Counter()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        assert self.system is not None
        # The generated requests carry a stand-in per role (the tokens exist only once the office has started).
        scope = {**scope, "headers": [(name, self._real_token(value) if name == b"authorization" else value)
                                      for name, value in scope["headers"]]}

        async def counted(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.statuses[message["status"]] += 1
            await send(message)

        await self.system.gateway.app(scope, receive, counted)

    def _real_token(self, value: bytes) -> bytes:
        login = value.removeprefix(b"Bearer stand-in-for-").decode("latin-1")
        return f"Bearer {self.tokens[login]}".encode() if login in self.tokens else value

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.system is not None:
                    await self.system.stop()
                if self.root is not None:
                    shutil.rmtree(self.root, ignore_errors=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="terminarz-fuzz-"))
        settings = embedded_settings(self.root, rules_dir=ROOT / "rules")
        clock = ManualClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
        await upgrade(settings, SERVICES)
        self.system = EmbeddedSystem(settings, clock=clock)
        await self.system.start()
        async with self.system.gateway.ctx.db.transaction() as session:
            for login, name, email, role in STAFF:
                await users.create_user(session=session, login=login, name=name, email=email, role=role,
                                        password=None, now=clock.now())
                self.tokens[login] = await users.issue_token(session=session, login=login, name="fuzz",
                                                             now=clock.now())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.system.gateway.app),
                                     base_url="http://gateway",
                                     headers={"Authorization": f"Bearer {self.tokens['admin']}"}) as api:
            client = await api.post("/api/v1/clients", json=sole_trader())
            client.raise_for_status()
            (await api.post("/api/v1/contracts", json=contract(client.json()["id"]))).raise_for_status()


def _openapi_document() -> dict[str, Any]:
    """The gateway's OpenAPI, from an app that is built but never started (nothing is opened)."""
    runtime = ServiceRuntime(load_spec("gateway"), settings=Settings(data_dir=Path(tempfile.gettempdir())),
                             bus=InMemoryBus(), clock=ManualClock(datetime(2026, 11, 28, tzinfo=UTC)))
    document: dict[str, Any] = runtime.app.openapi()
    return document


OFFICE = FuzzedOffice()
schema = schemathesis.openapi.from_dict(_openapi_document(), config=CONFIG)
schema.app = OFFICE  # requests go in-process to the office, started by its lifespan on the first one


@pytest.fixture(scope="module", autouse=True)
def office() -> Iterator[FuzzedOffice]:
    """Start the office, stop it (and remove its data) after the last test; count what was answered."""
    with asgi.get_client(OFFICE) as client:  # starts the office's lifespan in Schemathesis's event loop
        assert client.get("/healthz").status_code == 200
    try:
        yield OFFICE
    finally:
        asgi.shutdown_lifespans()
        total = sum(OFFICE.statuses.values())
        print(f"\nfuzz: {total} requests; answers by status: {dict(sorted(OFFICE.statuses.items()))}")


def _fuzzed_as(login: str) -> Any:
    """A test sending every generated request with `login`'s token (Schemathesis knows it as the auth)."""

    class Token:
        def get(self, case: Any, ctx: Any) -> str:
            return f"stand-in-for-{login}"

        def set(self, case: Any, token: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}

    @schema.auth(Token, refresh_interval=None)
    @schema.parametrize()
    def test(case: Any) -> None:
        # What is checked is each answer, not its speed: the embedded office plans what the fuzz creates in the
        # same process, and on a busy 2-core CI machine one answer took longer than schemathesis's 10 s default.
        case.call_and_validate(timeout=60)

    test.__doc__ = f"As {login}: every answer is documented, none is a server error."
    return test


test_as_admin = _fuzzed_as("admin")
test_as_manager = _fuzzed_as("maria")
test_as_accountant = _fuzzed_as("anna")
test_as_payroll = _fuzzed_as("piotr")
