"""The notifier service: tells staff about their cases and clients about what they owe, and keeps proof."""

from __future__ import annotations

from services.common.messages import CASE_CREATED
from services.common.runtime import ServiceSpec
from services.notifier import handlers
from services.notifier.api import router
from services.notifier.models import inbox, metadata, outbox

spec = ServiceSpec(
    name="notifier",
    metadata=metadata,
    outbox=outbox,
    inbox=inbox,
    router=router,
    handlers={CASE_CREATED: handlers.on_case_created},
    loops=[handlers.mail_dispatcher],
)
