"""A rules change that switches an open case between the office's work and a client task (case.replanned carries
party and duty; the cases service announces the switch with case.party_changed): the notifier starts the client's
duty notice as for a created client task, or withdraws the pending one — no more reminders, the link says so."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import wait_for
from tests.embedded.conftest import ROOT, Office
from tests.embedded.test_client_duties import CLIENT_MAIL, at, browser, client_task, mails_to_client, notifier, sign

DOCUMENTS = "client.documents"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", target)
    return target


def edit_documents(directory: Path, *, office: bool, note: str = "") -> None:
    """The month's documents rule: the client's duty (as shipped), or — `office` — the office's own work (it fetches
    the documents itself) due on the 8th as the contracts say. `note` only makes another rules version."""
    path = directory / "client.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    rule = next(r for r in document["rules"] if r["id"] == DOCUMENTS)
    if office:
        rule["party"] = "office"
        rule.pop("duty", None)
        rule["due"] = {**rule["due"], "day": 8}
    else:
        rule.update(party="client", duty="documents", due={**rule["due"], "day": "contract"})
    rule["legal_basis"] = rule["legal_basis"].split(" [")[0] + (f" [{note}]" if note else "")
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")


async def apply_rules(office: Office) -> str:
    async with office.api() as api:
        applied = await api.post("/api/v1/rules/apply")
        assert applied.status_code == 200 and applied.json()["status"] == "active", applied.text
        return str(applied.json()["version"])


async def case_of(office: Office, case_id: str, party: str) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        async with office.api() as api:
            case: dict[str, Any] = (await api.get(f"/api/v1/cases/{case_id}")).json()
        return case if case["party"] == party else None
    return await wait_for(found, what=f"the case to become party {party}")  # type: ignore[no-any-return]


async def signed_in_october(office: Office, number: str, seed: str) -> str:
    """A contract signed on 20.10.2026; the planner's run of 26.10 (October's client task, due Mon 9.11) done."""
    office.clock.set(datetime(2026, 10, 20, 9, 0, tzinfo=UTC))
    contract_id = await sign(office, number, seed)
    await at(office, datetime(2026, 10, 26, 7, 0, tzinfo=UTC))
    return contract_id


async def notices_of(office: Office, contract_id: str) -> list[dict[str, Any]]:
    async with notifier(office) as api:
        items: list[dict[str, Any]] = (await api.get("/notices", params={"contract_id": contract_id})).json()["items"]
    return items


async def notice_in(office: Office, contract_id: str, status: str) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        return next((n for n in await notices_of(office, contract_id) if n["status"] == status), None)
    return await wait_for(found, what=f"the client task's notice {status}")  # type: ignore[no-any-return]


async def test_a_client_task_the_office_takes_over_stops_reminding_the_client_and_resumes_when_it_is_the_clients_again(
    office: Office, rules_dir: Path
) -> None:
    contract_id = await signed_in_october(office, "P/1", "951217341")
    task = await client_task(office, contract_id, "2026-10")  # due Mon 9.11
    await at(office, datetime(2026, 11, 10, 7, 30, tzinfo=UTC))  # past the due date: the notice goes
    [first] = await wait_for(lambda: mails_to_client(office), what="the client task's notice")
    link = re.search(r"/confirm/[\w-]+", first["body"])
    assert link is not None

    # The office now fetches the documents itself: the task becomes the office's own work.
    office.clock.set(datetime(2026, 11, 10, 10, 0, tzinfo=UTC))
    edit_documents(rules_dir, office=True)
    version = await apply_rules(office)
    case = await case_of(office, task["id"], "office")
    assert (case["status"], case["duty"], case["due"], case["assignee_login"]) == ("open", None, "2026-11-09", "anna")
    assert case["history"][-1]["detail"] == f"party client → office; duty documents → — (rules {version})"
    withdrawn = await notice_in(office, contract_id, "withdrawn")
    # No more reminders, whatever the days; the client's link says the office took the task over.
    for day in (11, 12, 13):
        await at(office, datetime(2026, 11, day, 7, 30, tzinfo=UTC))
    assert len(await mails_to_client(office)) == 1
    async with browser(office) as client:
        page = await client.get(link.group(0))
    assert page.status_code == 200 and "Tym zadaniem zajmuje się teraz biuro" in page.text

    # The rules give it back to the client: the same notice reminds the client daily again (past the due date).
    office.clock.set(datetime(2026, 11, 13, 10, 0, tzinfo=UTC))
    edit_documents(rules_dir, office=False, note="znów klient")
    await apply_rules(office)
    case = await case_of(office, task["id"], "client")
    assert case["duty"] == "documents"
    restored = await notice_in(office, contract_id, "issued")
    assert restored["id"] == withdrawn["id"] and len(await notices_of(office, contract_id)) == 1
    # That day's reminder was not written while the office had the task: it goes now (past the office's hour),
    # and daily after.
    assert [m["kind"] for m in await wait_for(lambda: _mails(office, 2), what="that day's reminder")] == [
        "duty", "reminder"]
    await at(office, datetime(2026, 11, 14, 7, 30, tzinfo=UTC))
    again = await wait_for(lambda: _mails(office, 3), what="the next day's reminder")
    assert "Dokumenty za październik 2026" in again[-1]["body"] and again[-1]["created_at"].startswith("2026-11-14")


async def _mails(office: Office, n: int) -> list[dict[str, Any]] | None:
    mails = await mails_to_client(office)
    return mails if len(mails) == n else None


async def test_an_office_case_that_becomes_a_client_task_reminds_the_client_as_a_created_one_would(
    office: Office, rules_dir: Path
) -> None:
    # Before: the office fetched the month's documents itself — an office case, nothing for the client.
    edit_documents(rules_dir, office=True)
    await apply_rules(office)
    contract_id = await signed_in_october(office, "P/2", "526104057")

    async def october() -> dict[str, Any] | None:
        async with office.api() as api:
            items = (await api.get("/api/v1/cases", params={"contract_id": contract_id, "party": "office"})).json()
        return next((c for c in items["items"] if c["rule_id"] == DOCUMENTS and c["period"] == "2026-10"), None)
    case = await wait_for(october, what="October's documents as an office case")
    assert await notices_of(office, contract_id) == []

    # The rules make it the client's duty: its notice is planned as a created task's (three days before the 9th).
    office.clock.set(datetime(2026, 10, 28, 9, 0, tzinfo=UTC))
    edit_documents(rules_dir, office=False, note="obowiązek klienta")
    await apply_rules(office)
    assert (await case_of(office, case["id"], "client"))["duty"] == "documents"
    planned = await notice_in(office, contract_id, "scheduled")
    assert (planned["due"], planned["subject"]) == ("2026-11-09", "Dokumenty za październik 2026 — termin 09.11.2026")
    await at(office, datetime(2026, 11, 5, 7, 30, tzinfo=UTC))
    assert await mails_to_client(office) == []
    await at(office, datetime(2026, 11, 6, 7, 30, tzinfo=UTC))
    [first] = await wait_for(lambda: mails_to_client(office), what="the reminder before the day")
    assert "Dokumenty za październik 2026" in first["subject"] and "09.11.2026" in first["subject"]
    assert "/confirm/" in first["body"]


async def test_a_client_task_the_client_confirmed_and_the_office_takes_over_no_longer_shows_it_as_confirmed(
    office: Office, rules_dir: Path
) -> None:
    contract_id = await signed_in_october(office, "P/3", "712345674")
    task = await client_task(office, contract_id, "2026-10")  # due Mon 9.11
    await at(office, datetime(2026, 11, 6, 7, 30, tzinfo=UTC))  # three days before: the first reminder
    [first] = await wait_for(lambda: mails_to_client(office), what="the client task's notice")
    link = re.search(r"/confirm/[\w-]+", first["body"])
    assert link is not None
    office.clock.set(datetime(2026, 11, 6, 9, 0, tzinfo=UTC))
    async with browser(office) as client:
        assert (await client.post(link.group(0))).status_code == 200

    async def confirmed() -> dict[str, Any] | None:
        async with office.api() as api:
            case: dict[str, Any] = (await api.get(f"/api/v1/cases/{task['id']}")).json()
        return case if case["client_confirmed_at"] else None
    assert (await wait_for(confirmed, what="the confirmation on the task"))["client_confirmed_by"] == CLIENT_MAIL

    # The office now fetches the documents itself: its case no longer says the client confirmed anything.
    office.clock.set(datetime(2026, 11, 10, 10, 0, tzinfo=UTC))
    edit_documents(rules_dir, office=True)
    await apply_rules(office)
    case = await case_of(office, task["id"], "office")
    assert (case["client_confirmed_at"], case["client_confirmed_by"]) == (None, None)
    events = [h["event"] for h in case["history"]]
    assert events[-2:] == ["replanned", "client_confirmation_cleared"] and "client_confirmed" in events
    assert case["history"][-1]["detail"] == (
        f"zadaniem zajmuje się teraz biuro: usunięto potwierdzenie klienta ({CLIENT_MAIL}, 06.11.2026)")
    # The proof stays with the notifier: its notice is still the client's confirmed one.
    [notice] = await notices_of(office, contract_id)
    assert (notice["status"], notice["confirmed_by"]) == ("confirmed", CLIENT_MAIL)
