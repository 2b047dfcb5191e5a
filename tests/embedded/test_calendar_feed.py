"""The private calendar feed: made on the account page, read by a calendar program without logging in, with the
person's own open cases as all-day events on the due date; a new address or revoking it shuts the old one."""

from __future__ import annotations

import re
from datetime import date

import httpx
from icalendar import Calendar
from sqlalchemy import select, update

from services.cases.models import cases
from services.gateway.models import calendar_feeds
from tests.embedded.conftest import Office
from tests.embedded.test_case_watch import ANNA, OLA, request_case
from tests.embedded.web import browser, log_in, post_form

FEED = re.compile(r'value="(http://[^"]+/calendar/[A-Za-z0-9_-]+\.ics)"')


async def make_feed(office: Office, login: str) -> str:
    async with browser(office) as web:
        assert (await log_in(web, login)).status_code == 303
        page = await post_form(web, "/account", "/account/calendar", {})
        assert page.status_code == 200, page.text
        found = FEED.search(page.text)
        assert found, "the new address is shown on the account page"
        return found.group(1).replace("http://127.0.0.1:8000", "")


async def read(office: Office, path: str) -> httpx.Response:
    # No cookie, no token: a calendar program subscribing to the address.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.gateway.app),
                                 base_url="http://gateway") as program:
        return await program.get(path)


async def test_the_feed_lists_ones_open_cases_as_all_day_events_and_a_new_address_shuts_the_old(
    office: Office
) -> None:
    first = await request_case(office, "vat", date(2026, 12, 10))
    await request_case(office, "pit", date(2026, 12, 21))
    done = await request_case(office, "zus", date(2026, 12, 15))
    await request_case(office, "other", date(2026, 12, 11), assignee=OLA, commissioner=None)
    ctx = office.system.runtimes["cases"].ctx
    async with ctx.db.transaction() as session:
        await session.execute(update(cases).where(cases.c.id == done).values(status="done"))

    path = await make_feed(office, "anna")
    answer = await read(office, path)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(answer.content)
    events = [(str(e["summary"]), e.decoded("dtstart"), e.decoded("dtend")) for e in calendar.walk("VEVENT")]
    # Anna's open cases, not the finished one, not Ola's; all-day on the due date.
    assert events == [("Sprawa vat — Kowalski sp. z o.o.", date(2026, 12, 10), date(2026, 12, 11)),
                      ("Sprawa pit — Kowalski sp. z o.o.", date(2026, 12, 21), date(2026, 12, 22))]
    assert "VALUE=DATE" in answer.text
    assert str(calendar.walk("VEVENT")[0]["uid"]) == f"case-{first}@terminarz"

    # Only a hash is kept.
    gateway = office.system.gateway.ctx
    async with gateway.db.reading() as session:
        stored = (await session.execute(select(calendar_feeds.c.token_hash))).scalars().all()
    token = path.rsplit("/", 1)[1].removesuffix(".ics")
    assert len(stored) == 1 and token not in stored[0]

    # A new address: the old one is gone, the new one works; revoking: nothing works.
    newer = await make_feed(office, "anna")
    assert newer != path
    assert (await read(office, path)).status_code == 404
    assert (await read(office, newer)).status_code == 200
    async with browser(office) as web:
        await log_in(web, "anna")
        assert (await post_form(web, "/account", "/account/calendar/revoke", {})).status_code == 303
        assert "Nie masz adresu kalendarza" in (await web.get("/account")).text
    assert (await read(office, newer)).status_code == 404


async def test_a_made_up_or_malformed_token_gets_404_and_says_nothing(office: Office) -> None:
    assert (await read(office, "/calendar/" + "x" * 43 + ".ics")).status_code == 404
    assert (await read(office, "/calendar/short.ics")).status_code in (404, 422)
    ola = await make_feed(office, "ola")
    assert ANNA.login not in (await read(office, ola)).text


async def test_the_feed_speaks_its_owners_language(office: Office) -> None:
    await request_case(office, "vat", date(2026, 12, 10))
    path = await make_feed(office, "anna")
    async with browser(office) as web:
        await log_in(web, "anna")
        assert (await post_form(web, "/account", "/account/language", {"language": "en"})).status_code == 303
    calendar = Calendar.from_ical((await read(office, path)).content)
    event = calendar.walk("VEVENT")[0]
    assert str(calendar["x-wr-calname"]).startswith("Terminarz — cases: ")
    assert str(event["summary"]) == "vat — Kowalski sp. z o.o."  # the rule's English title
    assert str(event["description"]).splitlines() == ["Due: 10/12/2026", "Status: open", "Contract: 1/2026",
                                                      "Period: 2026-10"]
