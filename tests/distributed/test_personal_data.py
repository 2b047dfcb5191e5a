"""Personal data in the distributed mode: the `terminarz clients` commands against five processes on PostgreSQL
and RabbitMQ. A client whose only contract ended in January 2020 is past retention (kept through 2025) on
2026-11-28 (it is too old for cases: the scheduler plans from a month back; the embedded test covers them):
exported, listed by the dry run, erased; then no service database holds its name, PESEL, NIP, e-mail or street,
and a client with a contract in force is refused."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from services.common.db import Database
from services.common.settings import Settings
from services.system import load_spec
from tests.conftest import wait_for
from tests.distributed.cluster import SERVICE_NAMES, Cluster, json_items
from tests.samples import contract, pesel, sole_trader

pytestmark = pytest.mark.distributed

NAME = "Zofia Zapomniana Doradztwo"
EMAIL = "zofia.zapomniana@example.com"
STREET = "ul. Erazma Ciolka 13"


async def held(database_url: str, needles: list[str]) -> dict[str, list[str]]:
    """Which service tables still hold any of `needles`."""
    settings = Settings(mode="distributed", database_url=database_url)
    found: dict[str, list[str]] = {}
    for service in SERVICE_NAMES:
        db = Database(settings.database_url_for(service))
        try:
            async with db.reading() as session:
                for table in load_spec(service).metadata.sorted_tables:
                    rows = [repr(tuple(r)) for r in await session.execute(select(table))]
                    hits = [n for n in needles if any(n in row for row in rows)]
                    if hits:
                        found[f"{service}.{table.name}"] = hits
        finally:
            await db.dispose()
    return found


async def test_export_dry_run_and_erasure_with_the_cli_across_five_processes(
    cluster: Cluster, pg_database: str, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{cluster.ports['gateway']}"
    admin = cluster.cli("users", "token", "admin").strip()
    maria = cluster.cli("users", "token", "maria").strip()
    body = sole_trader(NAME, seed="526104057")
    body.update(contact_emails=[EMAIL], address={"street": STREET, "postal_code": "00-850", "city": "Warszawa"})
    async with cluster.api(maria) as api:
        client = await api.post("/api/v1/clients", json=body)
        assert client.status_code == 201, client.text
        client_id = client.json()["id"]
        old = {**contract(client_id, number="OLD/1", start="2020-01-01"), "signed_on": "2019-12-15",
               "end": "2020-01-31"}
        signed = await api.post("/api/v1/contracts", json=old)
        assert signed.status_code == 201, signed.text
        contract_id = signed.json()["id"]
        other = await api.post("/api/v1/clients", json={**sole_trader("Trwajacy Klient", seed="951217341"),
                                                        "pesel": pesel("8502023456")})
        assert other.status_code == 201, other.text
        current = await api.post("/api/v1/contracts", json=contract(other.json()["id"], number="NOW/1"))
        assert current.status_code == 201, current.text

    needles = [NAME, body["pesel"], body["nip"], EMAIL, STREET]

    async def known_everywhere() -> bool:
        found = await held(pg_database, needles)
        return {"contracts.clients", "scheduler.planned_contracts", "notifier.contracts"} <= set(found)

    await wait_for(known_everywhere, timeout=60, what="the scheduler and the notifier to learn the contract")

    # The export, as a ZIP written by the command.
    archive = tmp_path / "client.zip"
    cluster.cli("clients", "export", str(client_id), str(archive), "--url", url, "--token", maria)
    files = zipfile.ZipFile(io.BytesIO(archive.read_bytes()))
    assert EMAIL in files.read("contracts/clients.csv").decode("utf-8-sig")
    assert "OLD/1" in files.read("contracts/contracts.csv").decode("utf-8-sig")
    assert NAME in files.read("scheduler/planned_contracts.csv").decode("utf-8-sig")
    assert EMAIL in files.read("notifier/contracts.csv").decode("utf-8-sig")

    dry = cluster.cli("clients", "erase", "--dry-run", "--url", url, "--token", admin)
    assert f"client {client_id} ({NAME}): erasable: its last contract ended on 2020-01-31" in dry
    assert "would erase: 1 client(s)" in dry and "kept: 1 with a contract in force" in dry
    with pytest.raises(AssertionError, match="is in force"):
        cluster.cli("clients", "erase", "--client", str(other.json()["id"]), "--url", url, "--token", admin)

    done = cluster.cli("clients", "erase", "--url", url, "--token", admin)
    assert f"client {client_id} (Klient {client_id} (dane usunięte)): erased now" in done

    async def gone() -> bool:
        return not await held(pg_database, needles)

    try:
        await wait_for(gone, timeout=60, what="every service to erase the client")
    except AssertionError:
        raise AssertionError(f"still held: {await held(pg_database, needles)}") from None
    async with cluster.api(maria) as api:
        [kept] = await json_items(api, "/api/v1/contracts", client_id=client_id)
    assert (kept["id"], kept["number"], kept["end"]) == (contract_id, "OLD/1", "2020-01-31")
    again = cluster.cli("clients", "erase", "--client", str(client_id), "--url", url, "--token", admin)
    assert f"client {client_id} (Klient {client_id} (dane usunięte)): erased:" in again
