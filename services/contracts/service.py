"""The contracts service: clients, contracts, their versions; publishes every change of terms."""

from __future__ import annotations

from services.common.runtime import ServiceSpec
from services.contracts.api import router
from services.contracts.models import inbox, metadata, outbox

spec = ServiceSpec(name="contracts", metadata=metadata, outbox=outbox, inbox=inbox, router=router)
