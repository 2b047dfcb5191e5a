"""The slice in the embedded mode: a contract entered through the API becomes a case and an e-mail."""

from __future__ import annotations

from typing import Any

from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.samples import contract, sole_trader


async def _cases(office: Office, login: str = "admin", **params: Any) -> list[dict[str, Any]]:
    async with office.api(login) as api:
        response = await api.get("/api/v1/cases", params=params)
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items


async def test_contract_becomes_a_case_for_its_accountant_and_an_email(office: Office) -> None:
    async with office.api() as api:
        client = await api.post("/api/v1/clients", json=sole_trader())
        assert client.status_code == 201, client.text
        created = await api.post("/api/v1/contracts", json=contract(client.json()["id"]))
        assert created.status_code == 201, created.text

    async def vat_case() -> dict[str, Any] | None:
        return next((c for c in await _cases(office) if c["code"] == "JPK_V7M" and c["period"] == "2026-10"), None)

    case = await wait_for(vat_case, what="the October JPK_V7M case")
    assert case["due"] == "2026-11-25"  # the 25th of the month after the period, a Wednesday
    assert case["assignee_login"] == "anna"
    assert case["commissioner_login"] == "maria"
    assert case["client_name"] == "Jan Kowalski Usługi"
    assert case["rules_version"] and case["contract_version"] == 1

    async def mail_to_anna() -> list[dict[str, Any]]:
        items = await office.internal("notifier", "/mails", to="anna@biuro.example")
        # Written as pending in the case's transaction; the dispatcher claims it ("sending" for a moment) and then
        # keeps it (no SMTP configured).
        settled = [m for m in items["items"] if m["status"] not in ("pending", "sending")]
        return [m for m in settled if case["title"] in m["subject"]]

    mails = await wait_for(mail_to_anna, what="the e-mail to anna about the case, past its dispatch")
    assert mails[0]["status"] == "kept"  # no SMTP configured: kept in the local outbox the UI shows
    assert "25.11.2026" in mails[0]["body"]


async def test_people_see_only_their_own_cases(office: Office) -> None:
    async with office.api() as api:
        client = (await api.post("/api/v1/clients", json=sole_trader())).json()
        await api.post("/api/v1/contracts", json=contract(client["id"], accountant="ola"))
    await wait_for(lambda: _cases(office, "ola"), what="ola's cases")
    assert await _cases(office, "anna") == []
    assert {c["assignee_login"] for c in await _cases(office, "maria")} == {"ola"}  # a manager sees all


async def test_api_needs_a_valid_token(office: Office) -> None:
    async with office.api() as api:
        response = await api.get("/api/v1/cases", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_invalid_client_is_refused_naming_each_field(office: Office) -> None:
    bad = sole_trader()
    bad["nip"] = "1234567890"
    bad["contact_emails"] = ["not-an-email"]
    async with office.api() as api:
        response = await api.post("/api/v1/clients", json=bad)
        listed = await api.get("/api/v1/clients")
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"nip", "contact_emails[0]"} <= fields
    assert listed.json()["total"] == 0


async def test_unknown_team_member_is_refused(office: Office) -> None:
    async with office.api() as api:
        client = (await api.post("/api/v1/clients", json=sole_trader())).json()
        response = await api.post("/api/v1/contracts", json=contract(client["id"], accountant="nobody"))
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "team.accountant", "message": "no active user with login 'nobody'"}
    ]


async def test_an_accountant_cannot_create_contracts(office: Office) -> None:
    async with office.api("anna") as api:
        response = await api.post("/api/v1/clients", json=sole_trader())
    assert response.status_code == 403
