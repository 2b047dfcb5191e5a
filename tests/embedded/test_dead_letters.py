"""An admin sees what a service could not handle and hands it back to the service, audited; others may not."""

from __future__ import annotations

from pathlib import Path

from services.common.messages import CASE_REQUESTED, Envelope
from tests.conftest import wait_for
from tests.embedded.conftest import open_office


async def test_an_admin_lists_a_dead_letter_retries_it_and_the_retry_is_audited(tmp_path: Path) -> None:
    async with open_office(tmp_path, bus_max_attempts=2) as office:
        # A case request the cases service refuses every time (no contract, no rule): a producer's bug.
        broken = Envelope(type=CASE_REQUESTED, producer="scheduler", correlation_id="req-broken", payload={"x": 1})
        await office.system.bus.publish(broken)

        async def listed() -> list[dict[str, object]]:
            async with office.api("admin") as api:
                response = await api.get("/api/v1/system/dead-letters")
            assert response.status_code == 200, response.text
            queues = {q["queue"]: q["items"] for q in response.json()["queues"]}
            assert set(queues) == {"contracts", "scheduler", "cases", "notifier", "gateway"}
            return queues["cases"]  # type: ignore[no-any-return]

        dead = await wait_for(listed, timeout=20, what="the refused request among the cases' dead letters")
        assert [(d["message_id"], d["type"], d["attempts"], d["correlation_id"]) for d in dead] == [
            (str(broken.id), CASE_REQUESTED, 2, "req-broken")]
        assert "validation" in str(dead[0]["error"]).lower()

        async with office.api("maria") as api:  # a manager runs the office, not its machinery
            assert (await api.get("/api/v1/system/dead-letters")).status_code == 403
            assert (await api.post("/api/v1/system/dead-letters/cases/retry")).status_code == 403

        async with office.api("admin") as api:
            response = await api.post("/api/v1/system/dead-letters/cases/retry",
                                      json={"message_ids": [str(broken.id)]})
            assert response.json() == {"queue": "cases", "retried": 1}
            assert (await api.post("/api/v1/system/dead-letters/nowhere/retry")).status_code == 422
        # Still broken: tried twice more, then back among the dead letters — not lost, not looping.
        await wait_for(lambda: office.system.bus.idle(), timeout=20, what="the retry handled")
        assert [(d["message_id"], d["attempts"]) for d in await listed()] == [(str(broken.id), 2)]

        async with office.api("admin") as api:
            audit = (await api.get("/api/v1/audit", params={"action": "system."})).json()["items"]
        assert [(a["login"], a["target"], a["detail"]["retried"]) for a in audit] == [("admin", "queue:cases", 1)]
