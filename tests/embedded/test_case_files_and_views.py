"""Attachments on a case (type by content, size limit, sha256, outside the database, `requires`), one-off cases,
and the lists people work from: "my cases" tabs, filters, sorting, paging and counts per status."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import update

from services.cases.models import cases
from tests.conftest import wait_for
from tests.embedded.conftest import Office, open_office
from tests.embedded.test_case_lifecycle import events, vat_case
from tests.samples import contract, sole_trader

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
UPO_XML = '<?xml version="1.0" encoding="UTF-8"?>\n<Potwierdzenie><Numer>abc</Numer></Potwierdzenie>'
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(range(256))


async def test_files_are_stored_by_id_outside_the_database_typed_by_their_content(office: Office) -> None:
    case = await vat_case(office)
    url = f"/api/v1/cases/{case['id']}/attachments"
    async with office.api("anna") as api:
        pdf = await api.post(url, files={"file": ("UPO marzec.pdf", PDF, "application/pdf")}, data={"kind": "upo"})
        assert pdf.status_code == 201, pdf.text
        xml = await api.post(url, files={"file": ("upo.xml", UPO_XML.encode(), "text/xml")}, data={"kind": "upo"})
        assert xml.status_code == 201, xml.text
        exe = await api.post(url, files={"file": ("zeznanie.pdf", EXE, "application/pdf")})
        disguised = await api.post(url, files={"file": ("skan.png", PDF, "image/png")})
        bad_kind = await api.post(url, files={"file": ("a.txt", b"abc")}, data={"kind": "photo"})
        shown = (await api.get(f"/api/v1/cases/{case['id']}")).json()
        downloaded = await api.get(f"{url}/{pdf.json()['id']}")
    assert (exe.status_code, disguised.status_code, bad_kind.status_code) == (415, 415, 422)
    assert [(a["filename"], a["kind"], a["content_type"]) for a in shown["attachments"]] == [
        ("UPO marzec.pdf", "upo", "application/pdf"), ("upo.xml", "upo", "application/xml")]
    assert shown["attachments"][0]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert downloaded.status_code == 200 and downloaded.content == PDF
    assert downloaded.headers["content-type"] == "application/pdf"
    assert "attachment" in downloaded.headers["content-disposition"]
    stored = office.system.settings.data_dir / "attachments" / pdf.json()["id"]
    assert stored.read_bytes() == PDF  # the bytes on disk, named by the attachment's id
    assert [h["event"] for h in shown["history"]][-2:] == ["attached", "attached"]

    async with office.api("ola") as api:  # not on the contract's team
        assert (await api.get(f"{url}/{pdf.json()['id']}")).status_code == 404


async def test_a_file_over_the_size_limit_is_refused_and_leaves_nothing(tmp_path: Path, rules_dir: Path) -> None:
    async with open_office(tmp_path, rules_dir=rules_dir, attachment_max_bytes=2048) as office:
        case = await vat_case(office)
        async with office.api("anna") as api:
            big = await api.post(f"/api/v1/cases/{case['id']}/attachments",
                                 files={"file": ("duzy.txt", b"a" * 4096, "text/plain")})
            shown = (await api.get(f"/api/v1/cases/{case['id']}")).json()
        assert big.status_code == 413, big.text
        assert shown["attachments"] == []
        folder = office.system.settings.data_dir / "attachments"
        assert not folder.exists() or list(folder.iterdir()) == []


async def test_a_rule_requiring_a_upo_keeps_the_case_open_until_one_is_attached(office: Office) -> None:
    case = await vat_case(office)
    async with office.system.runtimes["cases"].ctx.db.transaction() as session:  # as `requires: [upo]` makes it
        await session.execute(update(cases).where(cases.c.id == case["id"]).values(requires=["upo"], checklist=[]))
    async with office.api("anna") as api:
        blocked = await api.post(f"/api/v1/cases/{case['id']}/finish", json={"liabilities": {"vat": "10"}})
        assert blocked.status_code == 409 and blocked.json()["errors"] == [{"field": "attachments", "message": "upo"}]
        await api.post(f"/api/v1/cases/{case['id']}/attachments", files={"file": ("inne.txt", b"notatka")},
                       data={"kind": "other"})
        still = await api.post(f"/api/v1/cases/{case['id']}/finish", json={"liabilities": {"vat": "10"}})
        assert still.status_code == 409
        await api.post(f"/api/v1/cases/{case['id']}/attachments", files={"file": ("upo.pdf", PDF)},
                       data={"kind": "upo"})
        done = await api.post(f"/api/v1/cases/{case['id']}/finish", json={"liabilities": {"vat": "10"}})
        assert done.status_code == 200, done.text


async def test_staff_create_a_one_off_case_for_a_contract_they_see(office: Office) -> None:
    case = await vat_case(office)
    body = {"title": "Aktualizacja VAT-R po zmianie adresu", "due": "2026-12-15",
            "checklist": ["Przygotuj VAT-R", {"item": "Wyślij i pobierz UPO", "required": True}]}
    async with office.api("anna") as api:
        created = await api.post(f"/api/v1/contracts/{case['contract_id']}/cases", json=body)
        assert created.status_code == 201, created.text
        not_team = await api.post(f"/api/v1/contracts/{case['contract_id']}/cases", json={**body, "assignee": "ola"})
        no_title = await api.post(f"/api/v1/contracts/{case['contract_id']}/cases", json={**body, "title": ""})
    async with office.api("ola") as api:
        unseen = await api.post(f"/api/v1/contracts/{case['contract_id']}/cases", json=body)
    one_off = created.json()
    assert (one_off["rule_id"], one_off["assignee_login"], one_off["commissioner_login"]) == (None, "anna", "maria")
    assert one_off["due"] == "2026-12-15" and one_off["status"] == "open"
    assert [e["required"] for e in one_off["checklist"] if "required" in e] == [True]
    assert one_off["client_name"] == case["client_name"] and one_off["client_id"] == case["client_id"]
    assert (not_team.status_code, no_title.status_code, unseen.status_code) == (422, 422, 404)
    assert one_off["id"] in [e["case_id"] for e in await events(office, "case.created")]

    async def mail_to_anna() -> list[dict[str, Any]]:
        items = (await office.internal("notifier", "/mails", to="anna@biuro.example"))["items"]
        return [m for m in items if "VAT-R" in m["subject"]]

    await wait_for(mail_to_anna, what="the new-case mail of the one-off case")


async def _set(office: Office, case_id: str, **values: Any) -> None:
    async with office.system.runtimes["cases"].ctx.db.transaction() as session:
        await session.execute(update(cases).where(cases.c.id == case_id).values(**values))


async def test_my_cases_tabs_filters_sorting_paging_and_counts(office: Office) -> None:
    async with office.api() as api:
        first = (await api.post("/api/v1/clients", json=sole_trader("Alfa Sp. z o.o."))).json()
        second = (await api.post("/api/v1/clients", json=sole_trader("Beta Handel", seed="734209561"))).json()
        await api.post("/api/v1/contracts", json=contract(first["id"]))
        await api.post("/api/v1/contracts", json=contract(second["id"], number="BR/2026/101", accountant="ola"))

    async def listed(login: str = "admin", **params: Any) -> dict[str, Any]:
        async with office.api(login) as api:
            response = await api.get("/api/v1/cases", params=params)
            assert response.status_code == 200, response.text
            page: dict[str, Any] = response.json()
            return page

    async def both() -> bool:
        page = await listed()
        return {c["assignee_login"] for c in page["items"]} == {"anna", "ola"}

    await wait_for(both, what="cases of both contracts")
    mine = await listed("anna", mine="true")
    assert mine["total"] > 0 and {c["assignee_login"] for c in mine["items"]} == {"anna"}
    today = office.clock.today()  # 2026-11-28, a Saturday: no generated case falls due today or tomorrow
    contract_id = mine["items"][0]["contract_id"]
    case_ids = []
    async with office.api("anna") as api:
        for title, due in (("Sprawa na dziś", today), ("Sprawa na niedzielę", date(2026, 11, 29)),
                           ("Sprawa zrobiona", date(2026, 11, 20))):
            made = await api.post(f"/api/v1/contracts/{contract_id}/cases", json={"title": title, "due": str(due)})
            case_ids.append(made.json()["id"])
    await _set(office, case_ids[1], status="in_progress")
    await _set(office, case_ids[2], status="done")
    tab_today = await listed("anna", mine="true", tab="today")
    assert [c["id"] for c in tab_today["items"]] == [case_ids[0]]
    week = await listed("anna", mine="true", tab="week")
    assert [c["id"] for c in week["items"]] == [case_ids[0], case_ids[1]]  # today to Sunday
    overdue = await listed("anna", mine="true", tab="overdue")
    assert all(c["due"] < today.isoformat() and c["status"] in ("open", "in_progress") for c in overdue["items"])
    assert case_ids[2] not in [c["id"] for c in overdue["items"]]  # done is not overdue
    every = await listed("anna", mine="true")
    assert every["counts"]["done"] == 1 and every["counts"]["in_progress"] == 1 and every["counts"]["open"] > 1
    assert sum(every["counts"].values()) == every["total"]
    only_done = await listed("anna", mine="true", status="done")
    assert only_done["total"] == 1 and only_done["counts"] == every["counts"]  # counts ignore the status filter

    by_client = await listed(client="beta")
    assert by_client["total"] > 0 and {c["client_name"] for c in by_client["items"]} == {"Beta Handel"}
    by_assignee = await listed(assignee="ola", code="JPK_V7M")
    assert {(c["assignee_login"], c["code"]) for c in by_assignee["items"]} == {("ola", "JPK_V7M")}
    ranged = await listed(due_from="2026-11-25", due_to="2026-11-30")
    assert ranged["items"] and all("2026-11-25" <= c["due"] <= "2026-11-30" for c in ranged["items"])
    by_name = await listed(sort="client")
    names = [c["client_name"] for c in by_name["items"]]
    assert names == sorted(names)
    by_status = await listed(sort="status")
    order = ["open", "in_progress", "done", "not_applicable", "withdrawn"]
    assert [order.index(c["status"]) for c in by_status["items"]] == sorted(
        order.index(c["status"]) for c in by_status["items"])
    page_one = await listed(limit=2)
    page_two = await listed(limit=2, offset=2)
    assert len(page_one["items"]) == 2 and page_one["total"] == page_two["total"]
    assert not {c["id"] for c in page_one["items"]} & {c["id"] for c in page_two["items"]}
    # Scope: ola's list, total and counts hold only what her contracts hold.
    olas = await listed("ola")
    assert {c["assignee_login"] for c in olas["items"]} == {"ola"}
    assert sum(olas["counts"].values()) == olas["total"] < (await listed())["total"]
    assert (await listed("ola", client="alfa"))["total"] == 0
