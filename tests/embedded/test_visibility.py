"""Who sees what: a team member their contracts (in lists, searches, counts and by id), a substitute the absent
person's while the absence lasts, managers everything; invisible things are "not found", never "forbidden"."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select

from services.common.messages import ABSENCE_CHANGED, AbsenceChanged, Envelope
from services.common.runtime import INTERNAL_TOKEN_HEADER
from services.common.scope import SCOPE_HEADER
from services.gateway import access
from services.gateway.models import absences, contract_access, inbox, one_time_steps
from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.embedded.test_contracts_api import _seed
from tests.samples import contract, sole_trader


async def _signed(api: httpx.AsyncClient, name: str, seed: str, **team: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    client = await api.post("/api/v1/clients", json=sole_trader(name, seed=_seed(seed)))
    assert client.status_code == 201, client.text
    created = await api.post("/api/v1/contracts", json=contract(client.json()["id"], number=f"BR/{seed[:4]}", **team))
    assert created.status_code == 201, created.text
    return client.json(), created.json()


async def _get(office: Office, login: str, path: str, **params: Any) -> httpx.Response:
    async with office.api(login) as api:
        return await api.get(path, params=params)


async def _numbers(office: Office, login: str, **params: Any) -> list[str]:
    page = (await _get(office, login, "/api/v1/contracts", **params)).json()
    assert page["total"] == len(page["items"])  # the count counts what the list shows, nothing invisible
    return sorted(c["number"] for c in page["items"])


async def _cases_of(office: Office, login: str) -> dict[str, Any]:
    page: dict[str, Any] = (await _get(office, login, "/api/v1/cases", limit=1000)).json()
    return page


async def test_an_accountant_sees_her_contracts_their_clients_and_cases_and_nothing_else(office: Office) -> None:
    async with office.api() as api:
        kowalski, anna_s = await _signed(api, "Jan Kowalski Usługi", "526104057", accountant="anna")
        nowak, ola_s = await _signed(api, "Nowak Handel", "731104057", accountant="ola", payroll="piotr",
                                     services=["bookkeeping", "vat", "payroll"])

        async def both_planned() -> bool:
            cases = (await api.get("/api/v1/cases", params={"limit": 1000})).json()["items"]
            return {c["contract_id"] for c in cases} == {str(anna_s["id"]), str(ola_s["id"])}

        await wait_for(both_planned, what="cases of both contracts")

    assert await _numbers(office, "anna") == [anna_s["number"]]
    assert await _numbers(office, "ola") == [ola_s["number"]]
    assert await _numbers(office, "piotr") == [ola_s["number"]]  # payroll on ola's contract
    assert await _numbers(office, "maria") == sorted([anna_s["number"], ola_s["number"]])
    clients = (await _get(office, "anna", "/api/v1/clients")).json()
    assert [c["name"] for c in clients["items"]] == ["Jan Kowalski Usługi"] and clients["total"] == 1
    # A search finds only what she sees: neither by name nor by NIP does Nowak's client show up.
    for q in ("Nowak", nowak["nip"][:6]):
        found = (await _get(office, "anna", "/api/v1/clients", q=q)).json()
        assert found == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert (await _numbers(office, "anna", employee="ola")) == []

    anna_cases = await _cases_of(office, "anna")
    assert {c["contract_id"] for c in anna_cases["items"]} == {str(anna_s["id"])}
    assert anna_cases["total"] == len(anna_cases["items"])
    ola_case = next(c for c in (await _cases_of(office, "ola"))["items"])

    for path, nothing_there in (
        (f"/api/v1/contracts/{ola_s['id']}", "/api/v1/contracts/999999"),
        (f"/api/v1/clients/{nowak['id']}", "/api/v1/clients/999999"),
        (f"/api/v1/contracts/{ola_s['id']}/plan", "/api/v1/contracts/999999/plan"),
        (f"/api/v1/cases/{ola_case['id']}", f"/api/v1/cases/{uuid.uuid4()}"),
    ):
        refused = await _get(office, "anna", path)
        missing = await _get(office, "anna", nothing_there)
        assert refused.status_code == missing.status_code == 404, (path, refused.text)
        assert refused.json()["title"] == missing.json()["title"]  # nothing tells "exists" from "does not"
    mine = await _get(office, "anna", f"/api/v1/clients/{kowalski['id']}")
    assert [c["number"] for c in mine.json()["contracts"]] == [anna_s["number"]]


async def test_a_client_shows_only_the_contracts_of_it_the_caller_sees(office: Office) -> None:
    async with office.api() as api:
        client, anna_s = await _signed(api, "Wspólny Klient", "526104057", accountant="anna")
        ola_s = await api.post("/api/v1/contracts", json=contract(client["id"], number="BR/OLA", accountant="ola"))
        assert ola_s.status_code == 201
    await wait_for(lambda: _numbers(office, "ola"), what="ola's contract visible to her")
    seen = (await _get(office, "anna", f"/api/v1/clients/{client['id']}")).json()
    assert [c["number"] for c in seen["contracts"]] == [anna_s["number"]]
    assert len((await _get(office, "maria", f"/api/v1/clients/{client['id']}")).json()["contracts"]) == 2


async def test_the_team_of_the_version_in_force_and_of_later_versions_sees_the_contract(office: Office) -> None:
    async with office.api() as api:
        _, signed = await _signed(api, "Zmiana Zespołu", "526104057", accountant="anna")
        annex = await api.post(f"/api/v1/contracts/{signed['id']}/annexes", json={
            "effective_from": "2027-01-01", "team": {"accountant": "ola", "manager": "maria"}})
        assert annex.status_code == 201, annex.text
    number = [signed["number"]]
    # 28.11.2026: anna is on the version in force, ola on the one from January.
    await wait_for(lambda: _numbers(office, "ola"), what="ola sees the contract she takes over in January")
    assert await _numbers(office, "anna") == number
    office.clock.set(datetime(2027, 1, 1, 9, 0, tzinfo=UTC))
    assert await _numbers(office, "ola") == number
    assert await _numbers(office, "anna") == []  # her version is no longer in force
    assert (await _get(office, "anna", f"/api/v1/contracts/{signed['id']}")).status_code == 404


async def _absence(office: Office, *, occurred_at: datetime, cancelled: bool = False,
                   starts_on: date = date(2026, 12, 1), ends_on: date = date(2026, 12, 5)) -> None:
    """Publish absence.changed as the cases service would, and wait until the gateway has handled it."""
    payload = AbsenceChanged(absence_id="urlop-anna-1", login="anna", substitute="ola", starts_on=starts_on,
                             ends_on=ends_on, cancelled=cancelled)
    envelope = Envelope(type=ABSENCE_CHANGED, producer="cases", correlation_id="absence", occurred_at=occurred_at,
                        payload=payload.model_dump(mode="json"))
    await office.system.bus.publish(envelope)

    async def handled() -> bool:
        async with office.system.gateway.ctx.db.reading() as session:
            query = select(inbox.c.message_id).where(inbox.c.message_id == str(envelope.id))
            return (await session.execute(query)).first() is not None

    await wait_for(handled, what="absence.changed handled by the gateway")


async def _absence_row(office: Office) -> Any:
    async with office.system.gateway.ctx.db.reading() as session:
        return (await session.execute(select(absences))).first()


async def test_a_substitute_reads_the_absent_persons_contracts_only_while_the_absence_lasts(office: Office) -> None:
    async with office.api() as api:
        _, signed = await _signed(api, "Urlop Klient", "526104057", accountant="anna")
    number = [signed["number"]]
    await wait_for(lambda: _numbers(office, "anna"), what="anna's contract")
    first = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    await _absence(office, occurred_at=first)

    assert await _numbers(office, "ola") == []  # the absence has not begun
    for day in (1, 5):
        office.clock.set(datetime(2026, 12, day, 9, 0, tzinfo=UTC))
        assert await _numbers(office, "ola") == number
        assert (await _get(office, "ola", f"/api/v1/contracts/{signed['id']}")).status_code == 200
        assert await _numbers(office, "anna") == number  # the absent person still sees her contracts
        assert await _numbers(office, "piotr") == []
    office.clock.set(datetime(2026, 12, 6, 9, 0, tzinfo=UTC))
    assert await _numbers(office, "ola") == []  # over

    office.clock.set(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    await _absence(office, occurred_at=first + timedelta(hours=1), cancelled=True)
    assert await _numbers(office, "ola") == []
    # A message older than the one applied (delivered late) changes nothing.
    await _absence(office, occurred_at=first + timedelta(minutes=30))
    assert (await _absence_row(office)).cancelled is True
    assert await _numbers(office, "ola") == []


async def _access_rows(office: Office) -> int:
    async with office.system.gateway.ctx.db.reading() as session:
        return int((await session.execute(select(func.count()).select_from(contract_access))).scalar_one())


async def test_after_an_upgrade_the_team_table_is_filled_once_from_the_contracts_service(
        office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = office.system.gateway.ctx
    await wait_for(lambda: _filled(office), what="the first start's fill (nothing to fill)")
    async with office.api() as api:
        numbers = []
        for i in range(5):
            _, signed = await _signed(api, f"Klient {i}", f"5{i}6104057", accountant="anna")
            numbers.append(signed["number"])


    async def all_five() -> bool:
        return await _numbers(office, "anna") == sorted(numbers)

    await wait_for(all_five, what="the five contracts' events handled")

    # An upgrade: the gateway's table is new and empty, the contracts service has five contracts.
    async with ctx.db.transaction() as session:
        await session.execute(delete(contract_access))
        await session.execute(delete(one_time_steps))
    assert await _numbers(office, "anna") == []
    monkeypatch.setattr(access, "PAGE", 2)  # three pages
    await access.fill_contract_access(ctx)
    assert await _numbers(office, "anna") == sorted(numbers)
    assert await _numbers(office, "ola") == []

    async with ctx.db.transaction() as session:  # once: a later start does not fill it again
        await session.execute(delete(contract_access))
    await access.fill_contract_access(ctx)
    assert await _access_rows(office) == 0


async def _filled(office: Office) -> bool:
    async with office.system.gateway.ctx.db.reading() as session:
        return (await session.execute(select(one_time_steps.c.name))).first() is not None


@pytest.mark.parametrize("service", ["contracts", "cases", "scheduler"])
async def test_a_service_refuses_a_malformed_scope_naming_the_header(office: Office, service: str) -> None:
    path = {"contracts": "/contracts", "cases": "/cases", "scheduler": "/plan?contract_id=1"}[service]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.runtimes[service].app),
                                 base_url=f"http://{service}") as internal:
        response = await internal.get(path, headers={INTERNAL_TOKEN_HEADER: office.system.settings.internal_token,
                                                     SCOPE_HEADER: '{"login": "anna"}'})
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [SCOPE_HEADER]
