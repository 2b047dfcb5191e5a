"""Bad input at the edges answers a 4xx problem naming the field, never a 5xx, and changes nothing (finding 4)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.common.errors import Problem
from services.common.runtime import INTERNAL_TOKEN_HEADER
from services.gateway import users
from services.gateway.models import audit_log
from tests.embedded.conftest import Office
from tests.embedded.test_contracts_api import _csv, _import_rows
from tests.samples import contract, sole_trader

TOO_BIG = 2**63  # one past the largest id the database stores


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = response.json()
    return body


def _fields(response: httpx.Response, status: int = 422) -> set[str]:
    return {e["field"] for e in _problem(response, status).get("errors", [])}


async def _audit_rows(office: Office) -> int:
    async with office.system.gateway.ctx.db.reading() as session:
        return int((await session.execute(select(func.count()).select_from(audit_log))).scalar_one())


async def _signed(api: httpx.AsyncClient) -> dict[str, Any]:
    client = await api.post("/api/v1/clients", json=sole_trader())
    assert client.status_code == 201, client.text
    created = await api.post("/api/v1/contracts", json=contract(client.json()["id"]))
    assert created.status_code == 201, created.text
    signed: dict[str, Any] = created.json()
    return signed


async def test_termination_and_annex_of_a_bad_or_missing_id_change_nothing_and_audit_nothing(office: Office) -> None:
    body = {"end": "2027-03-31", "reason": "wypowiedzenie"}
    async with office.api() as api:
        signed = await _signed(api)
        before = await _audit_rows(office)
        question = await api.post("/api/v1/contracts/%3F/termination", json=body)
        tab = await api.post("/api/v1/contracts/%09/termination", json=body)
        missing = await api.post("/api/v1/contracts/999/termination", json=body)
        annex = await api.post("/api/v1/contracts/999/annexes",
                               json={"effective_from": "2027-01-01", "fee": {"monthly_net": "1.00"}})
        polish = await api.post("/api/v1/contracts/%C5%BC%C3%B3%C5%82w/termination", json=body)
        still = (await api.get(f"/api/v1/contracts/{signed['id']}")).json()
    assert _fields(question) == {"contract_id"}
    assert _fields(tab) == {"contract_id"}
    assert _fields(polish) == {"contract_id"}  # once a 500: the id went into the Location header
    assert _problem(missing, 404)["detail"] == "contract 999 does not exist"
    assert _problem(annex, 404)["detail"] == "contract 999 does not exist"
    assert still["status"] == "active" and still["version"] == 1
    assert await _audit_rows(office) == before


@pytest.mark.parametrize("path", [
    "/api/v1/clients/%3F", "/api/v1/clients/%09", f"/api/v1/clients/{TOO_BIG}", "/api/v1/clients/0",
    f"/api/v1/contracts/{TOO_BIG}", "/api/v1/contracts/-1", f"/api/v1/contracts/{TOO_BIG}/plan",
    "/api/v1/cases/%3F", "/api/v1/cases/not-a-uuid",
])
async def test_a_malformed_id_in_a_path_is_a_422_naming_it(office: Office, path: str) -> None:
    async with office.api() as api:
        response = await api.get(path)
    fields = _fields(response)
    assert fields and all(f.endswith("_id") for f in fields), fields


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/api/v1/clients", {"offset": TOO_BIG}, "offset"),
    ("/api/v1/contracts", {"offset": TOO_BIG}, "offset"),
    ("/api/v1/contracts", {"client_id": TOO_BIG}, "client_id"),
    ("/api/v1/contracts", {"client_id": "?"}, "client_id"),
    ("/api/v1/cases", {"offset": TOO_BIG}, "offset"),
    ("/api/v1/cases", {"contract_id": "x"}, "contract_id"),
    ("/api/v1/clients", {"q": "a\x00b"}, "q"),
])
async def test_malformed_filters_are_a_422_naming_them(office: Office, path: str, params: dict[str, Any],
                                                       field: str) -> None:
    async with office.api() as api:
        response = await api.get(path, params=params)
    assert _fields(response) == {field}


async def test_a_well_formed_id_that_does_not_exist_is_a_404(office: Office) -> None:
    async with office.api() as api:
        client = await api.get("/api/v1/clients/123")
        case = await api.get("/api/v1/cases/00000000-0000-4000-8000-000000000000")
        plan = await api.get("/api/v1/contracts/123/plan")
    assert _problem(client, 404)["detail"] == "client 123 does not exist"
    _problem(case, 404)
    _problem(plan, 404)


@pytest.mark.parametrize(("raw", "field"), [
    (b'{"name": NaN, "nip": "5261040573"}', "name"),
    (b'{"name": "Jan", "tax_profile": {"employees": Infinity}}', "tax_profile.employees"),
    (b'{"name": "Jan", "contact_emails": ["a@b.pl", -Infinity]}', "contact_emails[1]"),
    (b'{"name": "Jan \\ud800 Kowalski"}', "name"),
    (b'{"address": {"\\udfff": "x"}}', "address"),
    (b'{"name": "Jan", "tax_profile": {"employees": 1e400}}', "tax_profile.employees"),
    (b'{"client_id": 9223372036854775808}', "client_id"),
])
async def test_json_that_is_not_plain_json_is_a_422_naming_the_field(office: Office, raw: bytes, field: str) -> None:
    headers = {"Content-Type": "application/json"}
    async with office.api("maria") as api:
        gateway = await api.post("/api/v1/clients", content=raw, headers=headers)
        contracts = await api.post("/api/v1/contracts", content=raw, headers=headers)
        listed = (await api.get("/api/v1/clients")).json()
    assert _fields(gateway) == {field}
    assert _fields(contracts) == {field}
    assert listed["total"] == 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.runtimes["contracts"].app),
                                 base_url="http://contracts",
                                 headers={INTERNAL_TOKEN_HEADER: office.system.settings.internal_token}) as internal:
        inside = await internal.post("/clients", content=raw, headers=headers)
    assert _fields(inside) == {field}


async def test_a_body_that_is_not_json_is_a_422(office: Office) -> None:
    async with office.api("maria") as api:
        broken = await api.post("/api/v1/clients", content=b'{"name": ', headers={"Content-Type": "application/json"})
        latin2 = await api.post("/api/v1/clients", content='{"name": "Łódź"}'.encode("iso-8859-2"),
                                headers={"Content-Type": "application/json"})
    assert _fields(broken) == {"body"}
    assert _fields(latin2) == {"body"}


@pytest.mark.parametrize("byte", [0x81, 0x83, 0x88, 0x90, 0x98])
async def test_csv_bytes_neither_utf8_nor_windows_1250_are_a_422_saying_where(office: Office, byte: int) -> None:
    data = "client_name,nip\r\nJan Kowalski,5261040573\r\nŁódź sp. z o.o.,".encode("cp1250") + bytes([byte]) + b"\r\n"
    async with office.api("maria") as api:
        response = await api.post("/api/v1/imports/dry-run", content=data, headers={"Content-Type": "text/csv"})
        multipart = await api.post("/api/v1/imports/apply", files={"file": ("k.csv", data, "text/csv")})
    for answer in (response, multipart):
        problem = _problem(answer, 422)
        [error] = problem["errors"]
        assert error["field"] == "file"
        assert f"0x{byte:02X}" in error["message"] and "line 3" in error["message"], error["message"]
        assert f"byte {len(data) - 2}" in error["message"], error["message"]


@pytest.mark.parametrize("header", ["Idempotency-Key", "X-Correlation-Id"])
async def test_non_ascii_headers_are_refused_or_replaced_not_a_500(office: Office, header: str) -> None:
    async with office.api("maria") as api:
        response = await api.post("/api/v1/clients", json=sole_trader(), headers={header: "klucz-żółw".encode()})
    if header == "Idempotency-Key":
        assert _fields(response) == {"Idempotency-Key"}
    else:
        assert response.status_code == 201, response.text
        assert re.fullmatch(r"[0-9a-f-]+", response.headers["X-Correlation-Id"])  # a fresh id, not the text


@pytest.mark.parametrize(("change", "field"), [
    ({"name": "Jan\x00Kowalski"}, "name"),
    ({"name": "Jan\x1bKowalski"}, "name"),
    ({"name": "Jan \u202eikswolwoK"}, "name"),
    ({"address": {"street": "ul. Prosta\u2066 20", "postal_code": "00-850", "city": "Warszawa"}}, "address.street"),
    ({"address": {"street": "ul. Prosta 20", "postal_code": "00-850", "city": "Warsz\x85awa"}}, "address.city"),
])
async def test_names_refuse_control_and_bidi_override_characters(office: Office, change: dict[str, Any],
                                                                 field: str) -> None:
    async with office.api("maria") as api:
        response = await api.post("/api/v1/clients", json={**sole_trader(), **change})
    problem = _problem(response, 422)
    [error] = [e for e in problem["errors"] if e["field"] == field]
    assert re.search(r"U\+[0-9A-F]{4}", error["message"]), error["message"]


async def test_a_contract_number_and_a_team_login_refuse_control_characters(office: Office) -> None:
    async with office.api("maria") as api:
        client = (await api.post("/api/v1/clients", json=sole_trader())).json()
        number = await api.post("/api/v1/contracts", json={**contract(client["id"]), "number": "BR/2026\x00/1"})
        team = contract(client["id"])
        team["team"]["accountant"] = "an\u202ena"
        login = await api.post("/api/v1/contracts", json=team)
        listed = (await api.get("/api/v1/contracts")).json()
    assert _fields(number) == {"number"}
    assert _fields(login) == {"team.accountant"}
    assert listed["total"] == 0


async def _web(office: Office, login: str = "maria") -> httpx.AsyncClient:
    web = httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.gateway.app), base_url="http://gateway")
    form = (await web.get("/login")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token, form
    answer = await web.post("/login", data={"login": login, "password": f"secret-{login}",
                                            "csrf_token": token[1]})
    assert answer.status_code == 303, answer.text
    return web


@pytest.mark.parametrize(("path", "status"), [
    ("/cases/%3F", 404), ("/cases/%09", 404), (f"/clients/{TOO_BIG}", 404), (f"/contracts/{TOO_BIG}", 404),
    (f"/clients?offset={TOO_BIG}", 422), (f"/contracts?offset={TOO_BIG}", 422),
    (f"/contracts/new?client_id={TOO_BIG}", 422),
])
async def test_web_pages_refuse_malformed_ids(office: Office, path: str, status: int) -> None:
    web = await _web(office)
    try:
        response = await web.get(path)
    finally:
        await web.aclose()
    # A page in the layout (with the way back), not a JSON document: an id that cannot exist is simply not found.
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert 'href="/cases"' in response.text


async def test_web_contract_form_with_a_malformed_client_id_is_not_a_500(office: Office) -> None:
    web = await _web(office)
    try:
        form = (await web.get("/clients/new")).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token
        for client_id in ("?", "²", str(TOO_BIG)):
            response = await web.post("/contracts/new", data={"csrf_token": token[1], "client_id": client_id,
                                                              "number": "X/1"})
            assert response.status_code in (404, 422), (client_id, response.status_code, response.text)
    finally:
        await web.aclose()


async def test_web_import_names_undecodable_bytes_and_applies_a_file_posted_as_multipart(office: Office) -> None:
    web = await _web(office)
    try:
        page = (await web.get("/imports")).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        bad = await web.post("/imports/dry-run", data={"csrf_token": token[1]},
                             files={"file": ("k.csv", b"client_name\r\nab\x81\r\n", "text/csv")})
        good = _csv(_import_rows(3)).decode()
        applied = await web.post("/imports/apply", files={"csrf_token": (None, token[1]), "csv": (None, good)})
    finally:
        await web.aclose()
    assert bad.status_code == 422 and "0x81" in bad.text and "line 2" in bad.text
    assert applied.status_code == 200, applied.text
    listed = await office.internal("contracts", "/contracts")
    assert listed["total"] == 3


@pytest.mark.parametrize(("service", "path", "field"), [
    ("contracts", f"/clients/{TOO_BIG}", "client_id"),
    ("contracts", "/contracts/%3F", "contract_id"),
    ("contracts", f"/contracts?client_id={TOO_BIG}", "client_id"),
    ("contracts", f"/clients?offset={TOO_BIG}", "offset"),
    ("contracts", "/contracts?status=deleted", "status"),
    ("cases", "/cases/%3F", "case_id"),
    ("cases", "/cases?contract_id=abc", "contract_id"),
    ("cases", "/cases?visible_to=a%00b", "visible_to"),
    ("scheduler", "/plan?contract_id=%09", "contract_id"),
    ("scheduler", f"/plan?contract_id={TOO_BIG}", "contract_id"),
    ("notifier", "/mails?to=a%00b", "to"),
])
async def test_internal_services_type_their_ids_and_filters_too(office: Office, service: str, path: str,
                                                                field: str) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=office.system.runtimes[service].app),
                                 base_url=f"http://{service}",
                                 headers={INTERNAL_TOKEN_HEADER: office.system.settings.internal_token}) as internal:
        response = await internal.get(path)
    assert _fields(response) == {field}


@pytest.mark.parametrize(("login", "name", "field"), [
    ("ewa", "Ewa\x00Nowak", "name"), ("ewa", "Ewa \u202eNowak", "name"), ("e\u2066wa", "Ewa Nowak", "login"),
    ("e\x1bwa", "Ewa Nowak", "login"),
])
async def test_user_names_refuse_control_and_bidi_characters(office: Office, login: str, name: str,
                                                             field: str) -> None:
    with pytest.raises(Problem) as refused:
        async with office.system.gateway.ctx.db.transaction() as session:
            await users.create_user(session=session, login=login, name=name, email="ewa@biuro.example",
                                    role="accountant", password=None, now=office.clock.now())
    assert refused.value.status == 422
    assert [e["field"] for e in refused.value.errors] == [field]
    assert "U+" in refused.value.errors[0]["message"]
