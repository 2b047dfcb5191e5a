"""The cases service's case.replanned handler, called directly: what an open case keeps and what it takes."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select, update

from services.cases import handlers
from services.cases.models import case_history, cases
from services.common.messages import CASE_REPLANNED, CASE_REQUESTED, CaseReplanned, CaseRequested, Envelope, TeamMember
from tests.embedded.conftest import Office

KEY = {"contract_id": "c-77", "rule_id": "vat.jpk_v7m", "period": "2026-10"}


def _envelope(kind: str, payload: dict[str, Any]) -> Envelope:
    return Envelope(type=kind, producer="scheduler", correlation_id="test", payload=payload)


async def _request(office: Office) -> dict[str, Any]:
    ctx = office.system.runtimes["cases"].ctx
    request = CaseRequested(**KEY, code="JPK_V7M", title_pl="JPK_V7M", title_en="JPK_V7M", due=date(2026, 11, 25),
                            generate_on=date(2026, 11, 15), role="accountant", assignee=TeamMember(login="anna"),
                            checklist=["Uzgodnij rejestry", "Wyślij JPK"], rules_version="v1", contract_version=1)
    async with ctx.db.transaction() as session:
        await handlers.on_case_requested(ctx, session, _envelope(CASE_REQUESTED, request.model_dump(mode="json")))
        row = (await session.execute(select(cases).where(cases.c.rule_id == KEY["rule_id"]))).one()
    return dict(row._mapping)


async def _replan(office: Office, **changes: Any) -> tuple[dict[str, Any], list[str]]:
    ctx = office.system.runtimes["cases"].ctx
    message = CaseReplanned(**{**KEY, "due": date(2026, 11, 27), "generate_on": date(2026, 11, 17),
                               "title_pl": "JPK_V7M (nowy)", "title_en": "JPK_V7M (new)", "role": "accountant",
                               "checklist": ["Uzgodnij rejestry", "Wyślij JPK"], "rules_version": "v2",
                               "reason": "rules v2", **changes})
    async with ctx.db.transaction() as session:
        await handlers.on_case_replanned(ctx, session, _envelope(CASE_REPLANNED, message.model_dump(mode="json")))
        row = (await session.execute(select(cases).where(cases.c.rule_id == KEY["rule_id"]))).one()
        history = (await session.execute(select(case_history.c.event).where(case_history.c.case_id == row.id)
                                         .order_by(case_history.c.id))).scalars().all()
    return dict(row._mapping), list(history)


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


async def test_a_done_case_is_never_replanned(office: Office) -> None:
    case = await _request(office)
    ctx = office.system.runtimes["cases"].ctx
    async with ctx.db.transaction() as session:
        await session.execute(update(cases).where(cases.c.id == case["id"]).values(status="done"))
    after, history = await _replan(office)
    assert (after["due"], after["title"], after["rules_version"]) == (date(2026, 11, 25), "JPK_V7M", "v1")
    assert history == ["created"]
