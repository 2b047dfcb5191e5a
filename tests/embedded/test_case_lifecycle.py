"""A case worked through the gateway's API: statuses and their history, required checklist items, finishing with the
client's liabilities (case.completed reaches the notifier), reopening, not applicable, withdrawn, scope."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update

from services.cases.models import cases, outbox
from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.samples import contract, sole_trader

REQUIRED = "Wyślij JPK_V7M i pobierz UPO"  # rules/vat.yaml marks it required


async def vat_case(office: Office, accountant: str = "anna") -> dict[str, Any]:
    """A contract for a monthly VAT payer; its October JPK_V7M case (assigned to `accountant`)."""
    async with office.api() as api:
        client = (await api.post("/api/v1/clients", json=sole_trader())).json()
        created = await api.post("/api/v1/contracts", json=contract(client["id"], accountant=accountant))
        assert created.status_code == 201, created.text

    async def found() -> dict[str, Any] | None:
        async with office.api() as api:
            items = (await api.get("/api/v1/cases", params={"code": "JPK_V7M"})).json()["items"]
        return next((c for c in items if c["period"] == "2026-10"), None)

    case: dict[str, Any] = await wait_for(found, what="the October JPK_V7M case")
    return case


async def events(office: Office, kind: str) -> list[dict[str, Any]]:
    """The payloads the cases service published (its outbox) of one event type, oldest first."""
    async with office.system.runtimes["cases"].ctx.db.reading() as session:
        rows = await session.execute(select(outbox.c.body).where(outbox.c.type == kind).order_by(outbox.c.seq))
        return [json.loads(body)["payload"] for body in rows.scalars()]


async def test_an_accountant_works_a_vat_case_to_done_and_the_notifier_gets_the_amount(office: Office) -> None:
    case = await vat_case(office)
    case_id = case["id"]
    assert case["client_id"], "the case knows its client (for the notice)"
    required = next(i for i, e in enumerate(case["checklist"]) if e["item"] == REQUIRED)
    assert case["checklist"][required]["required"] is True
    async with office.api("anna") as api:
        started = await api.post(f"/api/v1/cases/{case_id}/start")
        assert started.status_code == 200, started.text
        assert started.json()["status"] == "in_progress"
        again = await api.post(f"/api/v1/cases/{case_id}/start")
        assert again.status_code == 409

        blocked = await api.post(f"/api/v1/cases/{case_id}/finish", json={"liabilities": {"vat": "100"}})
        assert blocked.status_code == 409
        assert REQUIRED in blocked.json()["detail"]
        assert [e["message"] for e in blocked.json()["errors"]] == [REQUIRED]

        ticked = await api.put(f"/api/v1/cases/{case_id}/checklist/{required}", json={"done": True})
        assert ticked.status_code == 200, ticked.text
        assert ticked.json()["checklist"][required]["done"] is True

        no_amount = await api.post(f"/api/v1/cases/{case_id}/finish", json={})
        assert no_amount.status_code == 422
        assert [e["field"] for e in no_amount.json()["errors"]] == ["liabilities.vat"]
        negative = await api.post(f"/api/v1/cases/{case_id}/finish", json={"liabilities": {"vat": "-5"}})
        assert negative.status_code == 422 and "negative" in negative.json()["errors"][0]["message"]

        done = await api.post(f"/api/v1/cases/{case_id}/finish", json={"liabilities": {"vat": "1 200,50"}})
        assert done.status_code == 200, done.text
        finished = done.json()
    assert finished["status"] == "done" and finished["completed_at"]
    assert finished["liabilities"] == [{"kind": "vat", "amount": "1200.50"}]
    assert [(h["event"], h["actor"]) for h in finished["history"]] == [
        ("created", "scheduler"), ("started", "anna"), ("ticked", "anna"), ("done", "anna")]
    assert "1 200,50 zł" in finished["history"][-1]["detail"]

    completed = await events(office, "case.completed")
    assert len(completed) == 1
    assert completed[0]["revision"] == 1 and completed[0]["client_id"] == case["client_id"]
    liability = completed[0]["liabilities"][0]
    assert (liability["kind"], liability["amount"], liability["due"], liability["form"]) == (
        "vat", "1200.50", "2026-11-25", "VAT-7")
    assert completed[0]["completed_by"]["name"] == "Anna Nowak"

    async def notice() -> list[dict[str, Any]]:
        return (await office.internal("notifier", "/notices", case_id=case_id))["items"]

    notices = await wait_for(notice, what="the client's notice made from case.completed")
    assert str(notices[0]["client_id"]) == str(case["client_id"])


async def test_only_a_manager_reopens_and_finishing_again_publishes_the_correction(office: Office) -> None:
    case = await vat_case(office)
    case_id = case["id"]
    required = next(i for i, e in enumerate(case["checklist"]) if e.get("required"))
    async with office.api("anna") as api:
        await api.put(f"/api/v1/cases/{case_id}/checklist/{required}", json={"done": True})
        assert (await api.post(f"/api/v1/cases/{case_id}/finish",
                               json={"liabilities": {"vat": "0"}})).status_code == 200
        refused = await api.post(f"/api/v1/cases/{case_id}/reopen", json={"reason": "pomyłka"})
        assert refused.status_code == 403
    async with office.api("maria") as api:
        reopened = await api.post(f"/api/v1/cases/{case_id}/reopen", json={"reason": "korekta kwoty"})
        assert reopened.status_code == 200, reopened.text
        assert reopened.json()["status"] == "in_progress" and reopened.json()["completed_at"] is None
        not_again = await api.post(f"/api/v1/cases/{case_id}/reopen", json={})
        assert not_again.status_code == 409
        corrected = await api.post(f"/api/v1/cases/{case_id}/finish", json={"liabilities": {"vat": "1300.00"}})
        assert corrected.status_code == 200, corrected.text
    assert [e["revision"] for e in await events(office, "case.completed")] == [1, 2]
    assert [e["liabilities"][0]["amount"] for e in await events(office, "case.completed")] == ["0.00", "1300.00"]
    reopened_events = await events(office, "case.reopened")
    assert len(reopened_events) == 1 and reopened_events[0]["reason"] == "korekta kwoty"
    assert reopened_events[0]["reopened_by"]["login"] == "maria"
    history = [h["event"] for h in corrected.json()["history"]]
    assert history == ["created", "ticked", "done", "reopened", "done"]


async def test_not_applicable_needs_a_reason_and_a_withdrawn_case_stays_readable_but_unchangeable(
    office: Office
) -> None:
    case = await vat_case(office)
    case_id = case["id"]
    async with office.api("anna") as api:
        no_reason = await api.post(f"/api/v1/cases/{case_id}/not-applicable", json={"reason": "  "})
        assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
        na = await api.post(f"/api/v1/cases/{case_id}/not-applicable", json={"reason": "brak sprzedaży"})
        assert na.status_code == 200
        assert (na.json()["status"], na.json()["status_reason"]) == ("not_applicable", "brak sprzedaży")
        assert (await api.post(f"/api/v1/cases/{case_id}/finish", json={})).status_code == 409
    assert await events(office, "case.completed") == []  # nothing finished, nothing told

    ctx = office.system.runtimes["cases"].ctx
    async with ctx.db.transaction() as session:
        await session.execute(update(cases).where(cases.c.id == case_id).values(status="withdrawn"))
    async with office.api("anna") as api:
        readable = await api.get(f"/api/v1/cases/{case_id}")
        assert readable.status_code == 200 and readable.json()["status"] == "withdrawn"
        for call in (api.post(f"/api/v1/cases/{case_id}/start"),
                     api.put(f"/api/v1/cases/{case_id}/checklist/0", json={"done": True}),
                     api.post(f"/api/v1/cases/{case_id}/finish", json={"liabilities": {"vat": "1"}})):
            response = await call
            assert response.status_code == 409, response.text
            assert "withdrawn" in response.json()["detail"]
    async with office.api("maria") as api:
        assert (await api.post(f"/api/v1/cases/{case_id}/reopen", json={})).status_code == 409


async def test_a_case_outside_the_callers_contracts_is_not_found_for_every_action(office: Office) -> None:
    case = await vat_case(office)  # anna's contract; ola is on no team of it
    case_id = case["id"]
    async with office.api("ola") as api:
        answers = [
            await api.get(f"/api/v1/cases/{case_id}"),
            await api.post(f"/api/v1/cases/{case_id}/start"),
            await api.put(f"/api/v1/cases/{case_id}/checklist/0", json={"done": True}),
            await api.post(f"/api/v1/cases/{case_id}/comments", json={"text": "hej"}),
            await api.post(f"/api/v1/cases/{case_id}/finish", json={"liabilities": {"vat": "1"}}),
            await api.post(f"/api/v1/cases/{case_id}/attachments", files={"file": ("a.txt", b"tekst")}),
        ]
        listed = (await api.get("/api/v1/cases")).json()
    assert [a.status_code for a in answers] == [404] * len(answers)
    assert all(case["title"] not in a.text and "Kowalski" not in a.text for a in answers)
    assert listed["total"] == 0 and sum(listed["counts"].values()) == 0
    async with office.api("anna") as api:
        assert (await api.get(f"/api/v1/cases/{case_id}")).json()["checklist"][0]["done"] is False


async def test_comments_are_kept_with_author_and_time_and_bounded(office: Office) -> None:
    case = await vat_case(office)
    async with office.api("anna") as api:
        added = await api.post(f"/api/v1/cases/{case['id']}/comments", json={"text": "Klient dośle faktury."})
        assert added.status_code == 201, added.text
        too_long = await api.post(f"/api/v1/cases/{case['id']}/comments", json={"text": "x" * 4001})
        assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "text"
        empty = await api.post(f"/api/v1/cases/{case['id']}/comments", json={"text": ""})
        assert empty.status_code == 422
        shown = (await api.get(f"/api/v1/cases/{case['id']}")).json()
    assert [(c["author"], c["author_name"], c["text"]) for c in shown["comments"]] == [
        ("anna", "Anna Nowak", "Klient dośle faktury.")]
    assert shown["comments"][0]["at"].startswith("2026-11-28T09:00")
