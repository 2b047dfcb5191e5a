"""The gateway: users, sessions, tokens and the audit log; the web UI and the public REST API."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

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
    """The web UI needs the session cookie, and logged-out pages go to the login form."""
    app.add_middleware(SessionMiddleware, secret_key=ctx.settings.secret_key,
                       session_cookie="terminarz_session", same_site="lax", https_only=False)

    async def to_login(request: Request, exc: Exception) -> Response:
        return RedirectResponse("/login", status_code=303)

    app.add_exception_handler(web.LoginRequired, to_login)
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
