"""No dead ends in the contracts pages: a new contract can be started from the list, the import page hands out a
template file and says what each column means, and staff are shown by name."""

from __future__ import annotations

import csv
import io
import re

from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.embedded.web import browser, log_in
from tests.samples import contract, sole_trader


async def test_a_manager_starts_a_contract_from_the_list_by_choosing_the_client_first(office: Office) -> None:
    async with office.api() as api:
        client = (await api.post("/api/v1/clients", json=sole_trader())).json()
        await api.post("/api/v1/contracts", json=contract(client["id"], number="BR/1"))
    async with browser(office) as web:
        await log_in(web, "maria")
        listing = await web.get("/contracts")
        assert 'href="/contracts/new"' in listing.text
        assert "Anna Nowak" in listing.text  # the accountant by name, not by login
        chooser = await web.get("/contracts/new")
        assert chooser.status_code == 200 and "text/html" in chooser.headers["content-type"]
        assert f'href="/contracts/new?client_id={client["id"]}"' in chooser.text
        assert (await web.get("/contracts/new", params={"q": "nobody such"})).text.count("Nie znaleziono") == 1
        form = await web.get(f"/contracts/new?client_id={client['id']}")
        assert 'name="monthly_net"' in form.text
    async with browser(office) as web:
        await log_in(web, "anna")
        assert 'href="/contracts/new"' not in (await web.get("/contracts")).text  # accountants do not sign


async def test_the_import_page_offers_a_template_and_a_guide_to_every_column(office: Office) -> None:
    async with browser(office) as web:
        await log_in(web, "maria")
        page = await web.get("/imports")
        assert 'href="/imports/template.csv"' in page.text and "README" not in page.text
        assert "<title>Import klientów i umów" in page.text and page.text.count('id="columns"') == 1
        template = await web.get("/imports/template.csv")
        assert template.headers["content-type"].startswith("text/csv")
        assert "attachment" in template.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(template.content.decode("utf-8-sig"))))
        assert len(rows) == 2 and len(rows[0]) == len(rows[1])
        for column in rows[0]:
            assert f"<code>{column}</code>" in page.text, column
        assert "opłata miesięczna netto w zł" in page.text
    async with browser(office) as web:
        await log_in(web, "anna")
        assert (await web.get("/imports/template.csv")).status_code == 403


async def test_the_outgoing_mail_page_pages_by_twenty_newest_first_with_local_times(office: Office) -> None:
    async with office.api() as api:
        client = (await api.post("/api/v1/clients", json=sole_trader())).json()
        for n in range(22):  # one case, so one mail to its accountant, each
            await api.post("/api/v1/contracts", json=contract(client["id"], number=f"BR/{n}"))
    async with browser(office) as web:
        await log_in(web, "maria")

        async def every_mail() -> bool:  # all 22: a mail arriving between the two pages would shift them
            return int(re.search(r"Poczta wychodząca <span class=\"muted\">\((\d+)\)",
                                 (await web.get("/mail")).text).group(1)) >= 22  # type: ignore[union-attr]

        await wait_for(every_mail, what="the 22 mails")
        first = await web.get("/mail")
        total = int(re.search(r"\((\d+)\)</span>", first.text).group(1))  # type: ignore[union-attr]
        assert first.text.count('class="card mail"') == 20
        assert 'href="/mail?offset=20"' in first.text and "UTC" not in first.text
        second = await web.get("/mail", params={"offset": 20})
        assert second.text.count('class="card mail"') == min(20, total - 20)
        assert 'href="/mail?offset=0"' in second.text
