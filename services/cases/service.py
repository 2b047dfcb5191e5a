"""The cases service: turns case requests into cases handed to people, and keeps them visible."""

from __future__ import annotations

from services.cases import handlers
from services.cases.api import router
from services.cases.models import inbox, metadata, outbox
from services.common.messages import CASE_REPLANNED, CASE_REQUESTED, CASE_WITHDRAWN
from services.common.runtime import ServiceSpec

spec = ServiceSpec(
    name="cases",
    metadata=metadata,
    outbox=outbox,
    inbox=inbox,
    router=router,
    handlers={
        CASE_REQUESTED: handlers.on_case_requested,
        CASE_WITHDRAWN: handlers.on_case_withdrawn,
        CASE_REPLANNED: handlers.on_case_replanned,
    },
)
