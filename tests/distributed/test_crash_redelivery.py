"""A consumer that crashes mid-message on RabbitMQ: the message comes again, the effect happens once."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from services.common.db import Database
from services.common.messages import Envelope
from tests.conftest import wait_for
from tests.distributed import _crash_consumer as tables
from tests.distributed.consumer_process import ConsumerProcess, ConsumerSetup

pytestmark = pytest.mark.distributed


def consumer(setup: ConsumerSetup, name: str, crash_at: str) -> ConsumerProcess:
    return ConsumerProcess(setup, name, crash_at, module="tests.distributed._crash_consumer")


async def table_counts(setup: ConsumerSetup, message_id: str) -> tuple[int, int]:
    """(effect rows for the message, inbox rows for the message)."""
    db = Database(setup.database_url)
    try:
        async with db.reading() as session:
            effects = await session.scalar(
                select(func.count()).select_from(tables.effects)
                .where(tables.effects.c.message_id == message_id)
            )
            inbox = await session.scalar(
                select(func.count()).select_from(tables.inbox)
                .where(tables.inbox.c.message_id == message_id)
            )
        return int(effects or 0), int(inbox or 0)
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("crash_at", "after_crash", "second_sees"),
    [
        # The effect was flushed but never committed: it is gone with the process, the retry does it for real.
        ("before_commit", (0, 0), "new"),
        # Committed but never acked: RabbitMQ redelivers, the inbox turns the redelivery into a no-op.
        ("after_commit", (1, 1), "duplicate"),
    ],
)
async def test_a_consumer_that_crashes_mid_message_gets_it_again_and_the_effect_happens_once(
    consumer_setup: ConsumerSetup, crash_at: str, after_crash: tuple[int, int], second_sees: str
) -> None:
    first = consumer(consumer_setup, "first", crash_at)
    await first.start()

    publisher = consumer_setup.publisher()
    await publisher.start()
    sent = Envelope(type="contract.created", producer="tests", correlation_id=uuid.uuid4().hex,
                    payload={"value": "contract C-7 created"})
    await publisher.publish(sent)
    await publisher.close()
    message_id = str(sent.id)

    assert await first.exit_code() == 1, first.log.read_text()
    assert "dying on purpose" in first.log.read_text()
    assert first.lines() == []
    assert await table_counts(consumer_setup, message_id) == after_crash

    second = consumer(consumer_setup, "second", "")
    await second.start()
    try:
        handled = await wait_for(
            lambda: second.handled.exists() and second.handled.read_text().split(), timeout=20,
            what="the redelivered message handled by the second consumer",
        )
    finally:
        assert await second.stop() == 0, second.log.read_text()

    assert handled == [message_id, second_sees]
    assert await table_counts(consumer_setup, message_id) == (1, 1)
    # Acked for good: after the second consumer closed, nothing went back to the queue.
    assert await consumer_setup.waiting() == 0
