"""Batches on RabbitMQ: a consumer that takes many deliveries per transaction acks them only after its commit.
Killed before the commit, the whole batch comes again and each effect happens once; killed after the commit but
before the acks, the whole batch comes again and the inbox turns every message into a no-op."""

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

MESSAGES = 12


def consumer(setup: ConsumerSetup, name: str, crash_at: str) -> ConsumerProcess:
    return ConsumerProcess(setup, name, crash_at, module="tests.distributed._batch_crash_consumer")


async def counts(setup: ConsumerSetup) -> tuple[int, int, int]:
    """(effect rows, distinct messages with an effect, inbox rows)."""
    db = Database(setup.database_url)
    try:
        async with db.reading() as session:
            effects = await session.scalar(select(func.count()).select_from(tables.effects))
            distinct = await session.scalar(select(func.count(func.distinct(tables.effects.c.message_id))))
            inbox = await session.scalar(select(func.count()).select_from(tables.inbox))
        return int(effects or 0), int(distinct or 0), int(inbox or 0)
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("crash_at", "after_crash", "second_sees"),
    [
        # The batch's effects were flushed but never committed: gone with the process, all done by the second.
        ("before_commit", (0, 0, 0), "new"),
        # Committed but never acked: every message comes again, the inbox makes each a no-op.
        ("after_commit", (MESSAGES, MESSAGES, MESSAGES), "duplicate"),
    ],
)
async def test_a_batch_consumer_killed_mid_batch_gets_the_whole_batch_again_and_each_effect_happens_once(
    consumer_setup: ConsumerSetup, crash_at: str, after_crash: tuple[int, int, int], second_sees: str,
) -> None:
    first = consumer(consumer_setup, "first", crash_at)
    await first.start()
    publisher = consumer_setup.publisher()
    await publisher.start()
    sent = [Envelope(type="contract.created", producer="tests", correlation_id=uuid.uuid4().hex,
                     payload={"value": f"contract C-{n} created"}) for n in range(MESSAGES)]
    await publisher.publish_many(sent)
    await publisher.close()

    assert await first.exit_code() == 1, first.log.read_text()
    assert "dying on purpose" in first.log.read_text()
    assert first.lines() == []
    assert await counts(consumer_setup) == after_crash

    second = consumer(consumer_setup, "second", "")
    await second.start()
    try:
        await wait_for(lambda: len([line for line in second.lines() if "batch" not in line
                                    and "single" not in line]) >= MESSAGES,
                       timeout=30, what="every message handled by the second consumer")
    finally:
        assert await second.stop() == 0, second.log.read_text()
    seen = [line.split() for line in second.lines() if "batch" not in line and "single" not in line]
    assert sorted(message_id for message_id, _ in seen) == sorted(str(e.id) for e in sent)
    assert {outcome for _, outcome in seen} == {second_sees}
    assert any(line.split()[0] != "1" for line in second.lines() if "batch" in line), second.lines()
    assert await counts(consumer_setup) == (MESSAGES, MESSAGES, MESSAGES)
    assert await consumer_setup.waiting() == 0  # acked for good
