"""What each service shows to whom: security headers everywhere, internal services only to the internal token."""

from __future__ import annotations

import httpx

from services.common.runtime import INTERNAL_TOKEN_HEADER
from services.common.settings import SERVICES
from tests.embedded.conftest import Office
from tests.embedded.web import browser, log_in
from tests.samples import contract, sole_trader

OLD_INTERNAL_TOKEN = "terminarz-internal-dev-token"


def _service(office: Office, name: str, token: str | None = None) -> httpx.AsyncClient:
    headers = {INTERNAL_TOKEN_HEADER: token} if token else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.runtimes[name].app),
                             base_url=f"http://{name}", headers=headers)


def _assert_protective_headers(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url}"
    policy = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy, where
    assert response.headers.get("x-frame-options") == "DENY", where
    assert response.headers.get("x-content-type-options") == "nosniff", where
    assert response.headers.get("referrer-policy") in ("same-origin", "no-referrer", "strict-origin"), where


async def test_every_service_answers_with_protective_headers(office: Office) -> None:
    async with browser(office) as client:
        answers = [await client.get("/login"), await client.get("/static/terminarz.css"),
                   await client.get("/api/v1/cases"), await client.get("/openapi.json")]
        await log_in(client, "admin")
        answers += [await client.get("/cases"), await client.get("/nowhere")]
    for name in SERVICES:
        async with _service(office, name, office.system.settings.internal_token) as service:
            answers += [await service.get("/healthz"), await service.get("/readyz")]
    for response in answers:
        _assert_protective_headers(response)
    pages = [r for r in answers if r.headers.get("content-type", "").startswith("text/html")]
    assert pages and all("default-src 'self'" in r.headers["content-security-policy"] for r in pages)


async def test_the_api_docs_page_allows_only_its_own_inline_script(office: Office) -> None:
    async with browser(office) as client:
        docs = await client.get("/docs")
    policy = docs.headers["content-security-policy"]
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert "'sha256-" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    _assert_protective_headers(docs)


async def test_internal_services_refuse_the_old_built_in_token(office: Office) -> None:
    async with office.api() as api:
        client = (await api.post("/api/v1/clients", json=sole_trader())).json()
        signed = (await api.post("/api/v1/contracts", json=contract(client["id"]))).json()
    async with _service(office, "contracts", OLD_INTERNAL_TOKEN) as outsider:
        terminated = await outsider.post(f"/contracts/{signed['id']}/termination",
                                         json={"end": "2027-03-31", "reason": "forged"})
        listed = await outsider.get("/clients")
    assert terminated.status_code == 401 and listed.status_code == 401
    async with office.api() as api:
        assert (await api.get(f"/api/v1/contracts/{signed['id']}")).json()["status"] == "active"


async def test_internal_openapi_needs_the_internal_token_and_health_stays_open(office: Office) -> None:
    for name in ("contracts", "scheduler", "cases", "notifier"):
        async with _service(office, name) as outsider:
            described = await outsider.get("/openapi.json")
            docs = await outsider.get("/docs")
            health = await outsider.get("/healthz")
            ready = await outsider.get("/readyz")
        async with _service(office, name, office.system.settings.internal_token) as gateway:
            for_gateway = await gateway.get("/openapi.json")
        assert described.status_code == 401, name
        assert docs.status_code in (401, 404), name
        assert health.status_code == 200 and ready.status_code == 200, name
        assert for_gateway.status_code == 200 and for_gateway.json()["paths"], name
    async with browser(office) as public:
        assert (await public.get("/openapi.json")).status_code == 200  # the gateway's API is public

