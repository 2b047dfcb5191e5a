"""A batch consumer process for test_batch_redelivery: RabbitBus with batching + PostgreSQL inbox claimed in bulk,
optionally dying in the middle of a batch.

The same environment as `_crash_consumer` (its tables too); CRASH_AT: "before_commit" dies once the first batch's
effect rows are flushed into its open transaction; "after_commit" dies once the first batch committed, before
the bus acks it; empty handles normally. Every handled batch appends "<n> batch" and one "<id> new" line per
message to the handled file, "<id> duplicate" for each message the inbox already had. SIGTERM closes cleanly.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.bus import Batching
from services.common.bus.rabbit import RabbitBus
from services.common.db import Database
from services.common.log import configure_logging
from services.common.messages import Envelope
from services.common.messaging import Messaging, consume_once
from tests.distributed._crash_consumer import KEYS, QUEUE, die, effects, inbox, outbox, record


async def main() -> None:
    configure_logging(json=True)
    env = os.environ
    crash_at = env.get("CRASH_AT", "")
    handled_file = env["CRASH_HANDLED_FILE"]
    db = Database(env["CRASH_DATABASE_URL"])
    messaging = Messaging(producer="crash-test", outbox=outbox, inbox=inbox)
    bus = RabbitBus(env["CRASH_AMQP_URL"], exchange=env["CRASH_EXCHANGE"], queue_prefix=env["CRASH_PREFIX"],
                    retry_delay_ms=100)

    async def on_batch(envelopes: Sequence[Envelope]) -> None:
        async with db.transaction() as session:
            fresh = await messaging.claim_many(session, envelopes)
            if fresh:
                await session.execute(effects.insert(), [{"message_id": str(e.id), "value": e.payload["value"]}
                                                         for e in fresh])
                await session.flush()
            if crash_at == "before_commit":
                die()
        if crash_at == "after_commit":
            die()
        fresh_ids = {e.id for e in fresh}
        record(handled_file, f"{len(envelopes)} batch\n" + "".join(
            f"{e.id} {'new' if e.id in fresh_ids else 'duplicate'}\n" for e in envelopes))

    async def write_effect(session: AsyncSession, e: Envelope) -> None:
        await session.execute(effects.insert().values(message_id=str(e.id), value=e.payload["value"]))

    async def on_event(envelope: Envelope) -> None:  # a failed batch, or a retry, one message at a time
        fresh = await consume_once(db, messaging, envelope, write_effect)
        record(handled_file, f"1 single\n{envelope.id} {'new' if fresh else 'duplicate'}\n")

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await bus.start()
    # A long linger: the test publishes its messages at once and wants them in one batch.
    await bus.subscribe(QUEUE, KEYS, on_event, Batching(on_batch, size=50, linger=1.0))
    record(env["CRASH_READY_FILE"], str(os.getpid()))
    await stop.wait()
    await bus.close()
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
