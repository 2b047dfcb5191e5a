"""The gateway: users, sessions, tokens, the visibility rule and the audit log; the web UI and the public REST API.

Organised by domain, each a folder with the same files — `api.py` (REST routes), `pages.py` (web pages),
`service.py` (what both do) — and its templates in `templates/<domain>/`. This module only wires them.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from services.common.messages import ABSENCE_CHANGED, CONTRACT_CHANGED, CONTRACT_CREATED, CONTRACT_TERMINATED
from services.common.runtime import ServiceContext, ServiceSpec, each_in_the_batch
from services.gateway import access, feed, openapi, web
from services.gateway.accounts import api as accounts_api
from services.gateway.accounts import pages as accounts_pages
from services.gateway.assignment import api as assignment_api
from services.gateway.assignment import pages as assignment_pages
from services.gateway.audit import api as audit_api
from services.gateway.audit import pages as audit_pages
from services.gateway.cases import api as cases_api
from services.gateway.cases import pages as cases_pages
from services.gateway.clients import ServiceClients
from services.gateway.contracts import api as contracts_api
from services.gateway.contracts import pages as contracts_pages
from services.gateway.dashboard import pages as dashboard_pages
from services.gateway.models import inbox, metadata, outbox
from services.gateway.notices import api as notices_api
from services.gateway.notices import pages as notices_pages
from services.gateway.personal import api as personal_api
from services.gateway.personal import pages as personal_pages
from services.gateway.reports import api as reports_api
from services.gateway.reports import pages as reports_pages
from services.gateway.rules import api as rules_api
from services.gateway.rules import pages as rules_pages
from services.gateway.system import api as system_api
from services.gateway.system import pages as system_pages

router = APIRouter()
for domain_router in (
    personal_api.router, cases_api.router, contracts_api.router, notices_api.router, rules_api.router,
    accounts_api.router, audit_api.router, reports_api.router, dashboard_pages.router, accounts_pages.router,
    cases_pages.router, contracts_pages.router, notices_pages.router, rules_pages.router, audit_pages.router,
    reports_pages.router, personal_pages.router, feed.router, assignment_api.router,
    assignment_pages.router, system_api.router, system_pages.router,
):
    router.include_router(domain_router)


async def setup(ctx: ServiceContext) -> None:
    if "clients" not in ctx.extras:
        ctx.extras["clients"] = ServiceClients(ctx.settings, ctx.extras.get("service_apps"))


async def teardown(ctx: ServiceContext) -> None:
    clients = ctx.extras.pop("clients", None)
    if clients is not None:
        await clients.close()


def configure_app(app: FastAPI, ctx: ServiceContext) -> None:
    """The web UI's stylesheet and refusal pages, and the API's OpenAPI document."""
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    web.install(app)
    openapi.install(app)


spec = ServiceSpec(
    name="gateway",
    metadata=metadata,
    outbox=outbox,
    inbox=inbox,
    router=router,
    handlers={
        CONTRACT_CREATED: access.on_contract_version,
        CONTRACT_CHANGED: access.on_contract_version,
        CONTRACT_TERMINATED: access.on_contract_version,
        ABSENCE_CHANGED: access.on_absence_changed,
    },
    # A large import's contract events, many per transaction.
    batch_handlers=dict.fromkeys((CONTRACT_CREATED, CONTRACT_CHANGED, CONTRACT_TERMINATED),
                                 each_in_the_batch(access.on_contract_version)),
    setup=setup,
    teardown=teardown,
    loops=[access.fill_contract_access],
    internal=False,
    configure_app=configure_app,
)
