"""Clients and contracts through the public API: validation, idempotency, annexes, termination, lists, import."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from tests.conftest import wait_for
from tests.embedded.conftest import Office
from tests.samples import contract, nip, nip_seeds, pesel, regon, sole_trader


async def _client_and_contract(api: httpx.AsyncClient, **contract_args: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    client = await api.post("/api/v1/clients", json=sole_trader())
    assert client.status_code == 201, client.text
    created = await api.post("/api/v1/contracts", json=contract(client.json()["id"], **contract_args))
    assert created.status_code == 201, created.text
    return client.json(), created.json()


async def _plan(api: httpx.AsyncClient, contract_id: int) -> list[dict[str, Any]]:
    response = await api.get(f"/api/v1/contracts/{contract_id}/plan")
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _fields(response: httpx.Response) -> set[str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return {e["field"] for e in response.json()["errors"]}


async def test_invalid_contract_is_refused_naming_every_field(office: Office) -> None:
    async with office.api() as api:
        client = (await api.post("/api/v1/clients", json=sole_trader())).json()
        bad = contract(client["id"], services=["bookkeeping", "tax_advice"])
        bad["number"] = ""
        bad["fee"] = {"monthly_net": 800.5}  # a float loses cents: refused
        bad["start"] = "01.10.2026"
        response = await api.post("/api/v1/contracts", json=bad)
        listed = await api.get("/api/v1/contracts")
    assert response.status_code == 422
    assert {"number", "fee.monthly_net", "start", "services[1].name"} <= _fields(response)
    assert listed.json()["total"] == 0


async def test_invalid_annex_and_termination_name_their_fields(office: Office) -> None:
    async with office.api() as api:
        _, signed = await _client_and_contract(api)
        annex = await api.post(f"/api/v1/contracts/{signed['id']}/annexes", json={
            "effective_from": "2026-09-01",  # before the start
            "fee": {"monthly_net": "-5"},
            "tax_profile": {"vat": "yearly"},
        })
        early = await api.post(f"/api/v1/contracts/{signed['id']}/termination",
                               json={"end": "2026-09-30", "reason": "x"})
        no_reason = await api.post(f"/api/v1/contracts/{signed['id']}/termination", json={"end": "2026-12-31"})
        # The clock stands at 28.11.2026: notice cannot be dated tomorrow, nor after the last day.
        future_notice = await api.post(f"/api/v1/contracts/{signed['id']}/termination",
                                       json={"end": "2027-03-31", "reason": "x", "notice_on": "2026-11-29"})
        late_notice = await api.post(f"/api/v1/contracts/{signed['id']}/termination",
                                     json={"end": "2026-10-31", "reason": "x", "notice_on": "2026-11-02"})
        unchanged = await api.get(f"/api/v1/contracts/{signed['id']}")
        client = (await api.get("/api/v1/clients", params={"q": "Kowalski"})).json()["items"][0]
        with_notice = await api.post("/api/v1/contracts", json={
            **contract(client["id"], number="BR/2026/101"), "notice_on": "2026-11-01"})
    assert annex.status_code == 422
    assert {"effective_from", "fee.monthly_net", "tax_profile.vat"} <= _fields(annex)
    assert early.status_code == 422 and _fields(early) == {"end"}
    assert no_reason.status_code == 422 and _fields(no_reason) == {"reason"}
    assert future_notice.status_code == 422 and _fields(future_notice) == {"notice_on"}
    assert late_notice.status_code == 422 and _fields(late_notice) == {"notice_on"}
    assert unchanged.json()["version"] == 1 and unchanged.json()["status"] == "active"
    # A new contract has no notice: only a termination gives one.
    assert with_notice.status_code == 422 and _fields(with_notice) == {"notice_on"}


async def test_same_idempotency_key_creates_one_contract(office: Office) -> None:
    async with office.api() as api:
        client = (await api.post("/api/v1/clients", json=sole_trader())).json()
        body = contract(client["id"])
        key = {"Idempotency-Key": "contract-100-try"}
        first = await api.post("/api/v1/contracts", json=body, headers=key)
        retry = await api.post("/api/v1/contracts", json=body, headers=key)
        other = await api.post("/api/v1/contracts", json={**body, "number": "BR/2026/101"}, headers=key)
        listed = (await api.get("/api/v1/contracts")).json()

        annex = {"effective_from": "2027-01-01", "fee": {"monthly_net": "900.00"}}
        akey = {"Idempotency-Key": "annex-1"}
        a1 = await api.post(f"/api/v1/contracts/{first.json()['id']}/annexes", json=annex, headers=akey)
        a2 = await api.post(f"/api/v1/contracts/{first.json()['id']}/annexes", json=annex, headers=akey)
    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert other.status_code == 422 and _fields(other) == {"Idempotency-Key"}
    assert listed["total"] == 1
    assert a1.status_code == a2.status_code == 201
    assert a2.json()["version"] == a1.json()["version"] == 2


async def test_annex_is_a_new_version_and_the_plan_follows_it_from_its_date(office: Office) -> None:
    async with office.api() as api:
        _, signed = await _client_and_contract(api)
        cid = signed["id"]

        def codes(items: list[dict[str, Any]], year: str) -> set[str]:
            return {i["code"] for i in items if i["period"].startswith(year)}

        await wait_for(lambda: _has(api, cid, "JPK_V7M", "2027"), what="JPK_V7M planned for 2027")
        before = {(i["code"], i["period"]) for i in await _plan(api, cid)}
        response = await api.post(f"/api/v1/contracts/{cid}/annexes", json={
            "effective_from": "2027-01-01", "tax_profile": {"vat": "quarterly"}, "fee": {"monthly_net": "700.00"},
        })
        assert response.status_code == 201, response.text
        annexed = response.json()
        assert annexed["version"] == 2
        assert [(v["version"], v["kind"], v["effective_from"]) for v in annexed["versions"]] == [
            (1, "signed", "2026-10-01"), (2, "annex", "2027-01-01")]
        assert annexed["fee"]["monthly_net"] == "700.00"
        assert annexed["versions"][0]["fee"]["monthly_net"] == "800.00"  # the history keeps the old terms

        await wait_for(lambda: _has(api, cid, "JPK_V7K", "2027"), what="JPK_V7K planned for 2027")
        plan = await _plan(api, cid)
        assert "JPK_V7M" not in codes(plan, "2027")  # monthly returns from January are withdrawn
        assert "JPK_V7M" in codes(plan, "2026")  # the months before the annex stay monthly
        # Exactly: the plan reaches due dates up to 28.02.2028 (15 months from 28.11.2026).
        after = {(i["code"], i["period"]) for i in plan}
        assert before - after == {("JPK_V7M", f"2027-{m:02}") for m in range(1, 13)} | {("JPK_V7M", "2028-01")}
        assert after - before == (
            {("JPK_V7K_RECORDS", p) for p in ("2027-01", "2027-02", "2027-04", "2027-05", "2027-07", "2027-08",
                                               "2027-10", "2027-11", "2028-01")}
            | {("JPK_V7K", f"2027-Q{q}") for q in range(1, 5)}
        )

        # An annex may not reach back before the newest version took effect.
        late = await api.post(f"/api/v1/contracts/{cid}/annexes",
                              json={"effective_from": "2026-12-01", "fee": {"monthly_net": "1.00"}})
    assert late.status_code == 422 and _fields(late) == {"effective_from"}


async def _has(api: httpx.AsyncClient, contract_id: int, code: str, year: str) -> bool:
    return any(i["code"] == code and i["period"].startswith(year) for i in await _plan(api, contract_id))


async def test_termination_withdraws_what_is_not_yet_generated(office: Office) -> None:
    async with office.api() as api:
        _, signed = await _client_and_contract(api)
        cid = signed["id"]
        await wait_for(lambda: _has(api, cid, "JPK_V7M", "2027"), what="JPK_V7M planned for 2027")
        response = await api.post(f"/api/v1/contracts/{cid}/termination",
                                  json={"end": "2026-12-31", "reason": "wypowiedzenie przez klienta"})
        assert response.status_code == 201, response.text
        ended = response.json()
        assert ended["status"] == "terminated" and ended["end"] == "2026-12-31"
        assert ended["versions"][-1]["kind"] == "termination"
        assert ended["versions"][-1]["notice_on"] == "2026-11-28"  # the day it was recorded
        assert ended["versions"][-1]["reason"] == "wypowiedzenie przez klienta"

        async def nothing_after_the_end() -> bool:
            return not any(i["period"] >= "2027" for i in await _plan(api, cid))

        await wait_for(nothing_after_the_end, what="occurrences after the end withdrawn")
        assert any(i["period"] == "2026-12" for i in await _plan(api, cid))  # the last month is still served

        again = await api.post(f"/api/v1/contracts/{cid}/termination", json={"end": "2027-01-31", "reason": "x"})
        annex = await api.post(f"/api/v1/contracts/{cid}/annexes",
                               json={"effective_from": "2027-01-01", "fee": {"monthly_net": "1.00"}})
    assert again.status_code == 409
    assert annex.status_code == 409


async def test_lists_filter_and_paginate(office: Office) -> None:
    async with office.api() as api:
        for i in range(7):
            seed = f"7{i}1104057"
            client = await api.post("/api/v1/clients", json=sole_trader(f"Firma {i:02d}", seed=_seed(seed)))
            assert client.status_code == 201, client.text
            services = ["bookkeeping", "vat", "payroll"] if i % 2 else ["bookkeeping"]
            created = await api.post("/api/v1/contracts", json=contract(
                client.json()["id"], number=f"BR/{i:02d}", services=services,
                accountant="ola" if i < 3 else "anna", payroll="piotr" if i % 2 else None))
            assert created.status_code == 201, created.text
        page = (await api.get("/api/v1/clients", params={"limit": 3, "offset": 3})).json()
        by_name = (await api.get("/api/v1/clients", params={"q": "firma 05"})).json()
        nip5 = by_name["items"][0]["nip"]
        by_nip = (await api.get("/api/v1/clients", params={"q": nip5[:6]})).json()
        ola = (await api.get("/api/v1/contracts", params={"employee": "ola"})).json()
        payroll = (await api.get("/api/v1/contracts", params={"service": "payroll", "limit": 2})).json()
        piotr_payroll = (await api.get("/api/v1/contracts", params={"service": "payroll", "employee": "piotr"})).json()
        one_client = (await api.get("/api/v1/contracts", params={"client_id": by_name["items"][0]["id"]})).json()
        client_page = (await api.get(f"/api/v1/clients/{by_name['items'][0]['id']}")).json()
        terminated = (await api.get("/api/v1/contracts", params={"status": "terminated"})).json()
    assert page["total"] == 7 and [c["name"] for c in page["items"]] == ["Firma 03", "Firma 04", "Firma 05"]
    assert [c["name"] for c in by_name["items"]] == ["Firma 05"]
    assert nip5 in {c["nip"] for c in by_nip["items"]}
    assert ola["total"] == 3 and {c["number"] for c in ola["items"]} == {"BR/00", "BR/01", "BR/02"}
    assert payroll["total"] == 3 and [c["number"] for c in payroll["items"]] == ["BR/01", "BR/03"]
    assert piotr_payroll["total"] == 3
    assert [c["number"] for c in one_client["items"]] == ["BR/05"]
    assert [c["number"] for c in client_page["contracts"]] == ["BR/05"]
    assert client_page["contracts"][0]["versions"][0]["kind"] == "signed"
    assert terminated["total"] == 0


def _seed(first9: str) -> str:
    """A 9-digit NIP seed near `first9` that can be completed into a NIP."""
    return next(nip_seeds(int(first9)))


HEADER = ["client_name", "legal_form", "nip", "regon", "pesel", "street", "postal_code", "city", "emails",
          "books", "income_tax", "income_tax_advances", "vat", "contract_number", "signed_on", "start",
          "notice_period_months", "services", "fee_monthly_net", "accountant", "manager"]


def _import_rows(count: int) -> list[dict[str, str]]:
    rows = []
    for i, seed in enumerate(nip_seeds(100000000, count=count)):
        rows.append({
            "client_name": f"Klient {i:04d}", "legal_form": "sole_trader", "nip": nip(seed), "regon": regon(seed[:8]),
            "pesel": pesel("8001011234"), "street": "ul. Prosta 1", "postal_code": "00-850", "city": "Warszawa",
            "emails": f"k{i}@example.com", "books": "kpir", "income_tax": "pit_flat", "income_tax_advances": "monthly",
            "vat": "none", "contract_number": f"IMP/{i:04d}", "signed_on": "2027-01-01", "start": "2027-01-01",
            "notice_period_months": "3", "services": "bookkeeping", "fee_monthly_net": "300", "accountant": "anna",
            "manager": "maria",
        })
    return rows


def _csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, HEADER)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


async def test_a_thousand_row_import_is_all_or_nothing(office: Office) -> None:
    rows = _import_rows(1000)
    good = _csv(rows)
    rows = [dict(r) for r in rows]
    rows[15]["nip"] = rows[15]["nip"][:-1] + str((int(rows[15]["nip"][-1]) + 1) % 10)  # spreadsheet row 17
    rows[498]["start"] = ""  # row 500
    rows[997]["accountant"] = "nobody"  # row 999: not a user
    bad = _csv(rows)
    csv_headers = {"Content-Type": "text/csv"}
    async with office.api("maria") as api:
        report = await api.post("/api/v1/imports/dry-run", content=bad, headers=csv_headers)
        refused = await api.post("/api/v1/imports/apply", files={"file": ("clients.csv", bad, "text/csv")})
        after_refusal = (await api.get("/api/v1/clients", params={"limit": 1})).json()
        fixed_report = await api.post("/api/v1/imports/dry-run", content=good, headers=csv_headers)
        applied = await api.post("/api/v1/imports/apply", content=good,
                                 headers={**csv_headers, "Idempotency-Key": "onboarding"})
        replayed = await api.post("/api/v1/imports/apply", content=good,
                                  headers={**csv_headers, "Idempotency-Key": "onboarding"})
        clients = (await api.get("/api/v1/clients", params={"limit": 1})).json()
        contracts = (await api.get("/api/v1/contracts", params={"limit": 1, "employee": "anna"})).json()
    async with office.api("anna") as api:
        forbidden = await api.post("/api/v1/imports/apply", content=good, headers=csv_headers)

    assert report.status_code == 200, report.text
    assert report.json()["ok"] is False
    assert [(e["row"], e["field"]) for e in report.json()["errors"]] == [
        (17, "nip"), (500, "start"), (999, "accountant")]
    assert refused.status_code == 422
    assert [(e["row"], e["field"]) for e in refused.json()["errors"]] == [
        (17, "nip"), (500, "start"), (999, "accountant")]
    assert after_refusal["total"] == 0
    assert fixed_report.json()["ok"] is True and fixed_report.json()["valid_rows"] == 1000
    assert applied.status_code == 201, applied.text
    assert applied.json()["imported"] == 1000
    assert replayed.json() == applied.json()
    assert clients["total"] == 1000 and contracts["total"] == 1000
    assert forbidden.status_code == 403
