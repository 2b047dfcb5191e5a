"""A message handled while the service's database is away is not the message's fault: it is handled again once
the database answers, using up none of its attempts (so a long database restart dead-letters nothing)."""

from __future__ import annotations

import pytest

from services.common.runtime import through_database_outages


class Database:
    """Down for its first `down` pings; the work fails while it is down."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.pings = 0
        self.runs = 0

    async def reachable(self) -> bool:
        self.pings += 1
        return self.pings > self.down

    async def work(self) -> str:
        self.runs += 1
        if self.pings < self.down + 1 and self.runs == 1:
            raise ConnectionRefusedError("connection refused")
        return "handled"


async def test_work_failing_while_the_database_is_away_is_run_again_once_it_answers() -> None:
    db = Database(down=4)
    assert await through_database_outages(db.work, db.reachable, longest_wait=0.01) == "handled"
    assert db.runs == 2 and db.pings == 5  # no error reached the bus: the message keeps all its attempts


async def test_a_failure_while_the_database_answers_is_the_messages_own() -> None:
    async def broken() -> None:
        raise ValueError("rule file mismatch")

    async def up() -> bool:
        return True

    with pytest.raises(ValueError, match="rule file mismatch"):
        await through_database_outages(broken, up)
