"""The gateway: users, sessions, tokens and the audit log; the web UI and the public REST API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from services.common.runtime import ServiceContext, ServiceSpec
from services.gateway import api, openapi, web
from services.gateway.clients import ServiceClients
from services.gateway.models import inbox, metadata, outbox

router = APIRouter()
router.include_router(api.router)
router.include_router(web.router)


async def setup(ctx: ServiceContext) -> None:
    if "clients" not in ctx.extras:
        ctx.extras["clients"] = ServiceClients(ctx.settings, ctx.extras.get("service_apps"))


async def teardown(ctx: ServiceContext) -> None:
    clients = ctx.extras.pop("clients", None)
    if clients is not None:
        await clients.close()


def configure_app(app: FastAPI, ctx: ServiceContext) -> None:
    """The web UI's stylesheet; logged-out pages go to the login form; a rejected form gets a page saying so."""
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    async def to_login(request: Request, exc: Exception) -> Response:
        return RedirectResponse("/login", status_code=303)

    async def form_rejected(request: Request, exc: Exception) -> Response:
        web_session = getattr(request.state, "web_session", None)
        return web.csrf_rejected_page(request, web_session.user if web_session else None)

    app.add_exception_handler(web.LoginRequired, to_login)
    app.add_exception_handler(web.CsrfRejected, form_rejected)
    app.add_exception_handler(RequestValidationError, web.malformed_address_page)
    openapi.install(app)


spec = ServiceSpec(
    name="gateway",
    metadata=metadata,
    outbox=outbox,
    inbox=inbox,
    router=router,
    setup=setup,
    teardown=teardown,
    internal=False,
    configure_app=configure_app,
)
