"""The cases service's case.replanned handler, called directly: what an open case keeps and what it takes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from services.cases import duties, handlers, personal
from services.cases.models import case_history, cases, outbox
from services.common.messages import (
    CASE_PARTY_CHANGED,
    CASE_REPLANNED,
    CASE_REQUESTED,
    CLIENT_ERASED,
    CaseReplanned,
    CaseRequested,
    ClientErased,
    Envelope,
    NoticeConfirmed,
    TeamMember,
)
from tests.embedded.conftest import Office

KEY = {"contract_id": "c-77", "rule_id": "vat.jpk_v7m", "period": "2026-10"}


def _envelope(kind: str, payload: dict[str, Any]) -> Envelope:
    return Envelope(type=kind, producer="scheduler", correlation_id="test", payload=payload)


async def _request(office: Office, **fields: Any) -> dict[str, Any]:
    ctx = office.system.runtimes["cases"].ctx
    request = CaseRequested(**{**KEY, "code": "JPK_V7M", "title_pl": "JPK_V7M", "title_en": "JPK_V7M",
                               "due": date(2026, 11, 25), "generate_on": date(2026, 11, 15), "role": "accountant",
                               "assignee": TeamMember(login="anna"), "checklist": ["Uzgodnij rejestry", "Wyślij JPK"],
                               "rules_version": "v1", "contract_version": 1, **fields})
    async with ctx.db.transaction() as session:
        await handlers.on_case_requested(ctx, session, _envelope(CASE_REQUESTED, request.model_dump(mode="json")))
        row = (await session.execute(select(cases).where(cases.c.rule_id == KEY["rule_id"]))).one()
    return dict(row._mapping)


async def _replan(office: Office, **changes: Any) -> tuple[dict[str, Any], list[str]]:
    row, history = await _replan_detail(office, **changes)
    return row, [event for event, _ in history]


async def _replan_detail(office: Office, **changes: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Replan the case (by default: two days later, new titles); the case and its history (event, detail).
    A field given as None is left out of the message, as a scheduler older than the field sends it."""
    ctx = office.system.runtimes["cases"].ctx
    message = CaseReplanned(**{**KEY, "due": date(2026, 11, 27), "generate_on": date(2026, 11, 17),
                               "title_pl": "JPK_V7M (nowy)", "title_en": "JPK_V7M (new)", "role": "accountant",
                               "checklist": ["Uzgodnij rejestry", "Wyślij JPK"], "rules_version": "v2",
                               "reason": "rules v2", **changes})
    payload = message.model_dump(mode="json", exclude_none=True)
    async with ctx.db.transaction() as session:
        await handlers.on_case_replanned(ctx, session, _envelope(CASE_REPLANNED, payload))
        row = (await session.execute(select(cases).where(cases.c.rule_id == KEY["rule_id"]))).one()
        history = (await session.execute(select(case_history.c.event, case_history.c.detail)
                                         .where(case_history.c.case_id == row.id)
                                         .order_by(case_history.c.id))).all()
    return dict(row._mapping), [(event, detail) for event, detail in history]


async def test_an_open_case_takes_the_new_dates_titles_and_checklist_and_keeps_its_assignee_and_ticks(
    office: Office
) -> None:
    case = await _request(office)
    ctx = office.system.runtimes["cases"].ctx
    ticked = [{**case["checklist"][0], "done": True}, case["checklist"][1]]
    async with ctx.db.transaction() as session:
        await session.execute(update(cases).where(cases.c.id == case["id"]).values(status="in_progress",
                                                                                   checklist=ticked))
    # Rules may come to mark items: {item, required} is taken beside plain texts.
    new_list: list[Any] = [{"item": "Uzgodnij rejestry", "required": True}, "Sprawdź białą listę", "Wyślij JPK"]
    moved, history = await _replan(office, checklist=new_list)
    assert (moved["due"], moved["generate_on"], moved["title"], moved["title_en"]) == (
        date(2026, 11, 27), date(2026, 11, 17), "JPK_V7M (nowy)", "JPK_V7M (new)")
    assert (moved["status"], moved["assignee_login"], moved["rules_version"]) == ("in_progress", "anna", "v2")
    assert moved["checklist"] == [{"item": "Uzgodnij rejestry", "required": True, "done": True},
                                  {"item": "Sprawdź białą listę", "done": False},
                                  {"item": "Wyślij JPK", "done": False}]
    assert history == ["created", "replanned"]

    # The same message again (a redelivery past the inbox, or the next replan): nothing more happens.
    again, history = await _replan(office, checklist=new_list)
    assert again == moved and history == ["created", "replanned"]


@pytest.mark.parametrize("status", ["done", "not_applicable", "withdrawn"])
async def test_a_finished_or_withdrawn_case_is_never_replanned(office: Office, status: str) -> None:
    case = await _request(office)
    ctx = office.system.runtimes["cases"].ctx
    async with ctx.db.transaction() as session:
        await session.execute(update(cases).where(cases.c.id == case["id"]).values(status=status))
    after, history = await _replan(office, requires=["upo"], depends_on=["documents"], notice=["vat"])
    assert (after["due"], after["title"], after["rules_version"]) == (date(2026, 11, 25), "JPK_V7M", "v1")
    assert (after["requires"], after["depends_on"], after["notice"]) == ([], [], [])
    assert history == ["created"]


async def test_an_open_case_takes_every_field_its_rule_gives_it_and_the_history_says_which(office: Office) -> None:
    await _request(office, notice=["vat"])
    # The rule now: another code, the UPO required, the client's documents first, no notice; dates unchanged.
    after, history = await _replan_detail(office, due=date(2026, 11, 25), generate_on=date(2026, 11, 15),
                                          title_pl="JPK_V7M", title_en="JPK_V7M", code="JPK_VAT", notice=[],
                                          requires=["upo"], party="office", duty=None, depends_on=["documents"])
    assert (after["code"], after["notice"], after["requires"], after["depends_on"]) == (
        "JPK_VAT", [], ["upo"], ["documents"])
    assert (after["party"], after["duty"], after["status"], after["assignee_login"], after["rules_version"]) == (
        "office", None, "open", "anna", "v2")
    assert history[-1] == ("replanned", "code JPK_V7M → JPK_VAT; notice vat → —; requires — → upo; "
                                        "depends-on — → documents (rules v2)")


async def test_a_client_rule_turns_the_case_into_a_client_task(office: Office) -> None:
    await _request(office)
    after, history = await _replan_detail(office, party="client", duty="documents", depends_on=[])
    assert (after["party"], after["duty"], after["depends_on"]) == ("client", "documents", [])
    assert "party office → client; duty — → documents" in history[-1][1]
    # The switch is announced once (the notifier starts the client's duty notice); a replay announces nothing.
    await _replan_detail(office, party="client", duty="documents", depends_on=[])
    assert [(p["case_id"], p["previous_party"], p["party"], p["duty"], p["due"]) for p in await _switches(office)] == [
        (after["id"], "office", "client", "documents", "2026-11-27")]


async def _switches(office: Office) -> list[dict[str, Any]]:
    """The case.party_changed events the cases service published (its outbox)."""
    async with office.system.runtimes["cases"].ctx.db.reading() as session:
        bodies = (await session.execute(select(outbox.c.body).where(outbox.c.type == CASE_PARTY_CHANGED)
                                        .order_by(outbox.c.seq))).scalars().all()
    return [json.loads(body)["payload"] for body in bodies]


async def test_a_message_without_the_rules_newer_fields_leaves_them_as_they_are(office: Office) -> None:
    """case.replanned from a scheduler older than `requires`, `depends_on` and the rest (e.g. replayed events)."""
    await _request(office, notice=["vat"], requires=["upo"], depends_on=["documents"])
    after, history = await _replan_detail(office, code=None, notice=None, requires=None, party=None, duty=None,
                                          depends_on=None)
    assert (after["due"], after["title"]) == (date(2026, 11, 27), "JPK_V7M (nowy)")  # what it carries, it changes
    assert (after["code"], after["notice"], after["requires"], after["depends_on"], after["party"]) == (
        "JPK_V7M", ["vat"], ["upo"], ["documents"], "office")
    assert history[-1][1] == ("due 2026-11-25 → 2026-11-27; generate-on 2026-11-15 → 2026-11-17; title changed; "
                              "title en changed (rules v2)")
    assert await _switches(office) == []  # nothing said about the party: no switch


async def test_an_open_case_takes_the_contract_version_its_occurrence_now_follows_a_done_one_keeps_its_own(
    office: Office
) -> None:
    """An annex re-plans the case: the open case names the contract version it now follows; a message from a
    scheduler older than the field leaves the version as it was."""
    await _request(office)
    after, history = await _replan_detail(office, contract_version=2, reason="contract.changed")
    assert (after["contract_version"], after["due"], after["status"]) == (2, date(2026, 11, 27), "open")
    assert "contract-version 1 → 2" in history[-1][1]

    older, _ = await _replan_detail(office, due=date(2026, 11, 30), contract_version=None)
    assert (older["due"], older["contract_version"]) == (date(2026, 11, 30), 2)

    ctx = office.system.runtimes["cases"].ctx
    async with ctx.db.transaction() as session:
        await session.execute(update(cases).where(cases.c.id == after["id"]).values(status="done"))
    done, _ = await _replan_detail(office, due=date(2026, 12, 1), contract_version=3)
    assert (done["due"], done["contract_version"]) == (date(2026, 11, 30), 2)


async def _confirmed_client_task(office: Office) -> dict[str, Any]:
    """A client task (documents) its client confirmed sending through a reminder's link on 12.11.2026."""
    case = await _request(office, party="client", duty="documents", code="CLIENT_DOCUMENTS")
    ctx = office.system.runtimes["cases"].ctx
    confirmed = NoticeConfirmed(notice_id="n-1", client_id="k-1", contract_id=KEY["contract_id"],
                                case_ids=[case["id"]], recipient=CLIENT, confirmed_at=datetime(2026, 11, 12, 8, 15,
                                                                                               tzinfo=UTC))
    async with ctx.db.transaction() as session:
        await duties.on_notice_confirmed(ctx, session, confirmed)
        row = (await session.execute(select(cases).where(cases.c.id == case["id"]))).one()
    assert (row.client_confirmed_by, row.client_confirmed_at) == (CLIENT, confirmed.confirmed_at)
    return dict(row._mapping)


CLIENT = "ksiegowosc@klient.example"


async def test_a_confirmed_client_task_the_office_takes_over_no_longer_shows_the_clients_confirmation(
    office: Office
) -> None:
    task = await _confirmed_client_task(office)
    after, history = await _replan_detail(office, party="office", duty=None, code="CLIENT_DOCUMENTS")
    assert (after["party"], after["client_confirmed_at"], after["client_confirmed_by"]) == ("office", None, None)
    # What was cleared stays in the history (the client's own entry too), after the replan that switched it.
    assert [event for event, _ in history] == ["created", "client_confirmed", "replanned",
                                               "client_confirmation_cleared"]
    assert history[-1][1] == (f"zadaniem zajmuje się teraz biuro: usunięto potwierdzenie klienta "
                              f"({CLIENT}, 12.11.2026)")
    # A replay clears nothing more.
    again, history = await _replan_detail(office, party="office", duty=None, code="CLIENT_DOCUMENTS")
    assert again == after and len(history) == 4

    # The client's erasure still finds its address in that history, though the task no longer holds it.
    ctx = office.system.runtimes["cases"].ctx
    erased = ClientErased(client_id="k-1", contract_ids=[KEY["contract_id"]], placeholder="[usunięto]",
                          erased_at=datetime(2027, 1, 1, tzinfo=UTC))
    async with ctx.db.transaction() as session:
        await personal.on_client_erased(ctx, session, _envelope(CLIENT_ERASED, erased.model_dump(mode="json")))
        details = (await session.execute(select(case_history.c.detail).where(
            case_history.c.case_id == task["id"]))).scalars().all()
    assert not [d for d in details if CLIENT in d]
    assert "zadaniem zajmuje się teraz biuro: usunięto potwierdzenie klienta ([usunięto], 12.11.2026)" in details


async def test_a_client_task_that_stays_the_clients_keeps_its_confirmation(office: Office) -> None:
    await _confirmed_client_task(office)
    after, history = await _replan_detail(office, party="client", duty="documents", code="CLIENT_DOCUMENTS")
    assert (after["due"], after["client_confirmed_by"]) == (date(2026, 11, 27), CLIENT)
    assert "client_confirmation_cleared" not in [event for event, _ in history]
