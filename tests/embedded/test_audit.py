"""The audit log: every change a person makes is one row (who, when, what, target, correlation id); managers
read it with filters; nothing edits or deletes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError

from services.common.log import CORRELATION_HEADER
from services.gateway.models import audit_log
from tests.embedded.conftest import Office
from tests.embedded.test_contracts_api import _csv, _import_rows
from tests.embedded.web import browser, log_in
from tests.samples import contract, sole_trader


async def _rows(office: Office, **params: Any) -> dict[str, Any]:
    async with office.api("maria") as api:
        response = await api.get("/api/v1/audit", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_every_change_is_one_row_with_who_what_target_and_correlation_id(office: Office) -> None:
    async with office.api("maria") as maria, office.api() as admin:
        def as_request(n: int) -> dict[str, str]:
            return {CORRELATION_HEADER: f"req-{n}"}

        client = (await maria.post("/api/v1/clients", json=sole_trader(), headers=as_request(1))).json()
        signed = (await maria.post("/api/v1/contracts", json=contract(client["id"]), headers=as_request(2))).json()
        await maria.post(f"/api/v1/contracts/{signed['id']}/annexes", headers=as_request(3),
                         json={"effective_from": "2027-01-01", "fee": {"monthly_net": "900.00"}})
        await maria.post(f"/api/v1/contracts/{signed['id']}/termination", headers=as_request(4),
                         json={"end": "2027-06-30", "reason": "wypowiedzenie"})
        await maria.post("/api/v1/imports/apply", content=_csv(_import_rows(2)), headers={
            **as_request(5), "Content-Type": "text/csv"})
        await admin.post("/api/v1/rules/apply", headers=as_request(6))
        await admin.post("/api/v1/users", headers=as_request(7), json={
            "login": "ewa", "name": "Ewa Nowak", "email": "ewa@biuro.example", "role": "accountant"})
        # Refused requests change nothing and write nothing.
        await maria.post("/api/v1/clients", json={**sole_trader(), "nip": "1"}, headers=as_request(8))
        async with office.api("anna") as anna:
            await anna.post("/api/v1/clients", json=sole_trader(), headers=as_request(9))
    rows = (await _rows(office, limit=50))["items"]
    changes = [(r["correlation_id"], r["login"], r["action"], r["target"]) for r in reversed(rows)
               if r["correlation_id"] and r["correlation_id"].startswith("req-")]
    assert changes == [
        ("req-1", "maria", "client.create", f"client:{client['id']}"),
        ("req-2", "maria", "contract.create", f"contract:{signed['id']}"),
        ("req-3", "maria", "contract.annex", f"contract:{signed['id']}"),
        ("req-4", "maria", "contract.terminate", f"contract:{signed['id']}"),
        ("req-5", "maria", "import.apply", "contracts"),
        ("req-6", "admin", "rules.apply", changes[5][3]),
        ("req-7", "admin", "user.create", "user:ewa"),
    ]
    assert changes[5][3].startswith("rules:")
    assert all(r["at"] == office.clock.now().isoformat() for r in rows)


async def test_managers_filter_the_log_by_person_action_target_and_dates_and_page_through_it(
        office: Office) -> None:
    async with office.api("maria") as maria, office.api() as admin:
        client = (await maria.post("/api/v1/clients", json=sole_trader())).json()
        signed = (await maria.post("/api/v1/contracts", json=contract(client["id"]))).json()
        office.clock.advance(timedelta(days=3))  # 1 December
        for fee in ("810.00", "820.00", "830.00"):
            await admin.post(f"/api/v1/contracts/{signed['id']}/annexes",
                             json={"effective_from": "2027-01-01", "fee": {"monthly_net": fee}})
    by_admin = await _rows(office, login="admin")
    assert [r["action"] for r in by_admin["items"]] == ["contract.annex"] * 3 and by_admin["total"] == 3
    kind = await _rows(office, action="contract.")
    assert [r["action"] for r in kind["items"]] == ["contract.annex"] * 3 + ["contract.create"]
    assert (await _rows(office, action="contract.create"))["total"] == 1
    assert (await _rows(office, target=f"contract:{signed['id']}"))["total"] == 4
    assert (await _rows(office, target="client:"))["total"] == 1
    assert (await _rows(office, since="2026-11-29", action="contract."))["total"] == 3
    assert (await _rows(office, until="2026-11-28", action="contract."))["total"] == 1
    first, second = await _rows(office, login="admin", limit=2), await _rows(office, login="admin", limit=2, offset=2)
    assert len(first["items"]) == 2 and len(second["items"]) == 1 and second["total"] == 3
    assert {r["id"] for r in first["items"]}.isdisjoint({r["id"] for r in second["items"]})

    async with browser(office) as page:
        assert (await log_in(page, "maria")).status_code == 303
        shown = await page.get("/audit", params={"login": "admin", "action": "contract.annex", "since": "2026-12-01",
                                                 "until": ""})
    assert shown.status_code == 200
    assert shown.text.count("<code>contract.annex</code>") == 3
    assert "contract.create</code>" not in shown.text
    async with browser(office) as page:
        assert (await log_in(page, "anna")).status_code == 303
        assert (await page.get("/audit")).status_code == 403
    async with office.api("anna") as anna:
        assert (await anna.get("/api/v1/audit")).status_code == 403


@pytest.mark.parametrize("change", ["update", "delete"])
async def test_the_database_refuses_to_edit_or_delete_an_audit_row(office: Office, change: str) -> None:
    async with browser(office) as page:
        assert (await log_in(page, "anna")).status_code == 303  # one row: the login
    statement = (update(audit_log).values(login="someone-else", at=datetime(2020, 1, 1, tzinfo=UTC))
                 if change == "update" else delete(audit_log))
    with pytest.raises(DBAPIError, match="append-only"):
        async with office.system.gateway.ctx.db.transaction() as session:
            await session.execute(statement)
    rows = (await _rows(office))["items"]
    assert [(r["login"], r["action"]) for r in rows] == [("anna", "login")]
