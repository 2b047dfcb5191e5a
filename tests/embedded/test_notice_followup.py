"""What follows a notice: the accountant told once when it is still unconfirmed close to its due date, the
reminders stopping after the cut-off, business-day reminders; and the staff mails the cases service decides,
each sent once per decision."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.common.messages import (
    CASE_COMPLETED,
    CASE_DIGEST,
    CASE_DUE_SOON,
    CASE_ESCALATED,
    CASE_OVERDUE_SUMMARY,
    NOTICE_ESCALATED,
    CaseRef,
    TeamMember,
)
from tests.conftest import CapturedMail, wait_for
from tests.embedded.conftest import ROOT, Office, open_office
from tests.embedded.test_notices import (
    NOV_28_AFTERNOON,
    browser,
    case_of,
    issue_notice,
    link_in,
    notices_of,
    notifier,
    publish,
    run_jobs,
    sign,
)
from tests.notice_samples import ANNA, case_completed, parts

MORNING = datetime(2026, 11, 29, 7, 5, tzinfo=UTC)  # 08:05 in Warsaw


@pytest.fixture
async def office(tmp_path: Path, smtp_server: tuple[str, int, CapturedMail]) -> AsyncIterator[Office]:
    host, port, _ = smtp_server
    async with open_office(tmp_path, rules_dir=ROOT / "rules", smtp_host=host, smtp_port=port, mail_poll_seconds=0.2,
                           notice_escalate_days_before_due=2, reminder_stop_days_after_due=3) as running:
        yield running


def to_anna(mail: CapturedMail, start: str) -> list[Any]:
    return [m for m in mail.to("anna@biuro.example") if m["Subject"].startswith(start)]


async def test_the_accountant_is_told_once_before_the_due_date_and_reminders_stop_after_the_cut_off(
    office: Office, smtp_server: tuple[str, int, CapturedMail]
) -> None:
    mail = smtp_server[2]
    escalated: list[Any] = []

    async def on_escalated(e: Any) -> None:
        escalated.append(e.payload)

    await office.system.bus.subscribe("test-cases", [NOTICE_ESCALATED], on_escalated)
    client_id, contract_id, _ = await sign(office, "Kappa", "526104057", ["kappa@firma.example"])
    case = await case_of(office, contract_id)
    await publish(office, CASE_COMPLETED, case_completed(case["id"], contract_id, client_id, client_name="Kappa",
                                                         amount="99.00", due=date(2026, 12, 2)))
    await wait_for(lambda: notices_of(office, client_id=client_id), what="the draft")
    office.clock.set(NOV_28_AFTERNOON)
    await run_jobs(office)
    [message] = await wait_for(lambda: mail.to("kappa@firma.example"), what="the notice")
    link = link_in(parts(message)["text"])

    office.clock.set(MORNING)  # 29 November: 3 days before the due date
    assert await run_jobs(office) == {"released": 0, "escalated": 0, "reminded": 1}
    office.clock.set(MORNING + timedelta(days=1))  # 30 November: 2 days before it
    assert await run_jobs(office) == {"released": 0, "escalated": 1, "reminded": 1}
    assert (await run_jobs(office))["escalated"] == 0  # once
    [told] = await wait_for(lambda: to_anna(mail, "Klient jeszcze nie potwierdził"), what="the accountant's mail")
    assert "Kappa" in told["Subject"] and "kappa@firma.example: doręczone do serwera" in parts(told)["text"]
    await wait_for(lambda: escalated, what="notice.escalated for the cases service")
    assert escalated[0]["reason"] == "unconfirmed_before_due" and escalated[0]["case_ids"] == [case["id"]]

    for day in range(2, 7):  # reminded 1–5 December: through the due date (2 December) plus 3 days
        office.clock.set(MORNING + timedelta(days=day))
        assert (await run_jobs(office))["reminded"] == 1, day
    office.clock.set(MORNING + timedelta(days=7))  # 6 December: the cut-off passed
    assert await run_jobs(office) == {"released": 0, "escalated": 1, "reminded": 0}
    office.clock.set(MORNING + timedelta(days=8))
    assert (await run_jobs(office))["reminded"] == 0
    await wait_for(lambda: to_anna(mail, "Bez potwierdzenia, przypomnienia wstrzymane"), what="the cut-off mail")
    [notice] = await notices_of(office, client_id=client_id)
    assert notice["status"] == "expired"
    await wait_for(lambda: len(escalated) == 2, what="the second notice.escalated")
    assert escalated[1]["reason"] == "reminders_stopped"

    async with browser(office) as client:  # a late confirmation still counts
        assert "Potwierdzone" in (await client.post(link)).text
    assert (await notices_of(office, client_id=client_id))[0]["status"] == "confirmed"


async def test_reminders_on_business_days_only_when_the_office_says_so(
    tmp_path: Path, smtp_server: tuple[str, int, CapturedMail]
) -> None:
    host, port, mail = smtp_server
    async with open_office(tmp_path, rules_dir=ROOT / "rules", smtp_host=host, smtp_port=port, mail_poll_seconds=0.2,
                           reminder_days="business") as office:
        await issue_notice(office, mail, "lambda@firma.example", "526104057", "Lambda")  # Saturday 28 November
        office.clock.set(MORNING)  # Sunday
        assert (await run_jobs(office))["reminded"] == 0
        office.clock.set(MORNING + timedelta(days=1))  # Monday
        assert (await run_jobs(office))["reminded"] == 1
        [message] = await wait_for(lambda: [m for m in mail.to("lambda@firma.example")
                                            if m["Subject"].startswith("Przypomnienie")], what="Monday's reminder")
        assert "Lambda" in parts(message)["text"]


async def test_nothing_to_pay_is_still_told_without_a_payment_code(
    office: Office, smtp_server: tuple[str, int, CapturedMail]
) -> None:
    mail = smtp_server[2]
    client_id, contract_id, _ = await sign(office, "Mi", "526104057", ["mi@firma.example"])
    case = await case_of(office, contract_id)
    await publish(office, CASE_COMPLETED, case_completed(case["id"], contract_id, client_id, client_name="Mi",
                                                         amount="0", due=date(2026, 11, 25)))
    await wait_for(lambda: notices_of(office, client_id=client_id), what="the draft")
    office.clock.set(NOV_28_AFTERNOON)
    await run_jobs(office)
    [message] = await wait_for(lambda: mail.to("mi@firma.example"), what="the notice")
    found = parts(message)
    assert "0,00\u00a0zł (nic do zapłaty)" in found["text"] and "Tytuł przelewu" not in found["text"]
    assert found["images"] == {} and "Nic do zapłaty w tym okresie." in found["html"]


def ref(case_id: str, title: str = "JPK_V7M") -> dict[str, Any]:
    return CaseRef(case_id=case_id, title=title, client_name="Omikron", contract_number="BR/1", period="2026-10",
                   due=date(2026, 11, 25)).model_dump(mode="json")


async def test_staff_mails_go_once_per_decision_and_the_digest_lists_unconfirmed_notices(
    office: Office, smtp_server: tuple[str, int, CapturedMail]
) -> None:
    mail = smtp_server[2]
    await issue_notice(office, mail, "omikron@firma.example", "526104057", "Omikron")
    maria = TeamMember(login="maria", name="Maria Kierownik", email="maria@biuro.example").model_dump()
    escalation = {"case": ref("c1"), "contract_id": "1", "step": 1, "reason": "2 dni po terminie",
                  "recipients": [ANNA.model_dump(), maria]}
    for payload in (escalation, escalation, {**escalation, "step": 2}):  # the same decision twice, then a new step
        await publish(office, CASE_ESCALATED, payload)
    soon = {"case": ref("c2"), "contract_id": "1", "day": "2026-11-30", "days_left": 2, "recipient": ANNA.model_dump()}
    await publish(office, CASE_DUE_SOON, soon)
    await publish(office, CASE_DUE_SOON, soon)
    await publish(office, CASE_DIGEST, {"recipient": ANNA.model_dump(), "day": "2026-11-30",
                                        "due_today": [ref("c3", "PIT-4")], "overdue": [ref("c1")]})
    await publish(office, CASE_OVERDUE_SUMMARY, {"recipient": maria, "day": "2026-11-30", "total": 40,
                                                 "reason": "umowa podpisana po terminach",
                                                 "cases": [ref(f"o{i}") for i in range(10)]})

    def subjects(address: str) -> list[str]:
        return sorted(m["Subject"] for m in mail.to(address))

    await wait_for(lambda: len(mail.to("maria@biuro.example")) == 3, what="maria's three mails")
    await wait_for(lambda: len([s for s in subjects("anna@biuro.example") if not s.startswith("Nowa sprawa")]) == 4,
                   what="anna's four mails")
    assert [s for s in subjects("maria@biuro.example") if s.startswith("Eskalacja")] == [
        "Eskalacja (1): JPK_V7M — Omikron", "Eskalacja (2): JPK_V7M — Omikron"]
    assert len([s for s in subjects("anna@biuro.example") if s.startswith("Zbliża się termin")]) == 1
    [digest] = [m for m in mail.to("anna@biuro.example") if m["Subject"].startswith("Terminarz na 30.11.2026")]
    text = parts(digest)["text"]
    assert "Termin dziś (1):" in text and "PIT-4 — Omikron" in text
    assert "Zawiadomienia klientów czekające na potwierdzenie (1):" in text and "Omikron, październik 2026" in text
    [summary] = [m for m in mail.to("maria@biuro.example") if m["Subject"].startswith("40 spraw")]
    assert "… i 30 więcej." in parts(summary)["text"]
    async with notifier(office) as api:  # the local record says the same: one mail per decision
        kinds = [m["kind"] for m in (await api.get("/mails", params={"to": "anna@biuro.example"})).json()["items"]]
    assert kinds.count("case_escalated") == 2 and kinds.count("case_due_soon") == 1 and kinds.count("case_digest") == 1
