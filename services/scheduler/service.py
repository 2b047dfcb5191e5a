"""The scheduler: turns contracts into planned obligations with the rule files and requests cases on time."""

from __future__ import annotations

from services.common.log import get_logger
from services.common.messages import CLIENT_ERASED, CONTRACT_CHANGED, CONTRACT_CREATED, CONTRACT_TERMINATED
from services.common.runtime import ServiceContext, ServiceSpec
from services.scheduler import handlers, personal, rulesets
from services.scheduler.api import router
from services.scheduler.models import inbox, metadata, outbox

log = get_logger(__name__)


async def setup(ctx: ServiceContext) -> None:
    result = await rulesets.apply_rules(ctx, ctx.settings.rules_dir)
    if result["status"] == "rejected":
        restored = await rulesets.restore_last_good(ctx)
        if restored is None:
            raise SystemExit(
                "the rules in {} are broken and no earlier good set is stored:\n{}".format(
                    ctx.settings.rules_dir,
                    "\n".join(f"  {e['file']}: rule {e['rule_id']!r}: field {e['field']!r}: {e['message']}"
                              for e in result["errors"])))
        ctx.extras["planner"] = restored
        log.warning("rules.kept_last_good", version=restored.version)


async def teardown(ctx: ServiceContext) -> None:
    planner = ctx.extras.pop("planner", None)
    if planner is not None:
        planner.close()


spec = ServiceSpec(
    name="scheduler",
    metadata=metadata,
    outbox=outbox,
    inbox=inbox,
    router=router,
    handlers={
        CONTRACT_CREATED: handlers.on_contract_event,
        CONTRACT_CHANGED: handlers.on_contract_event,
        CONTRACT_TERMINATED: handlers.on_contract_event,
        CLIENT_ERASED: personal.on_client_erased,
    },
    # Many contract events per transaction (bus batches); a failed batch comes again one message at a time.
    batch_handlers={
        CONTRACT_CREATED: handlers.on_contract_events,
        CONTRACT_CHANGED: handlers.on_contract_events,
        CONTRACT_TERMINATED: handlers.on_contract_events,
    },
    setup=setup,
    teardown=teardown,
    loops=[handlers.tick_loop],
)
