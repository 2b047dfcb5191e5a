"""Personal data (GDPR): the export of everything held about one client, composed from every service, and the
retention command (the contracts service decides and erases; the others follow its client.erased). Both audited.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any

from sqlalchemy import or_, select

from services.common.runtime import ServiceContext
from services.gateway.audit import service as audit
from services.gateway.clients import ServiceClients
from services.gateway.models import audit_log
from services.gateway.permissions import Caller

# Who is asked, in this order; the contracts service first: it answers 404 for a client that does not exist and
# names the client's contracts, which the scheduler and the cases service (they know no clients) are asked about.
BY_CONTRACTS = ("scheduler", "cases")


async def export(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, client_id: int,
                 format: str = "json") -> dict[str, Any]:
    """Everything each service holds about the client, and the gateway's audit rows about it and its contracts."""
    path = f"/clients/{client_id}/personal-data"
    parts: dict[str, Any] = {"contracts": await svc.call("contracts", "GET", path, scope=caller.scope)}
    contract_ids = [c["id"] for c in parts["contracts"]["tables"]["contracts"]]
    for name in BY_CONTRACTS:
        parts[name] = await svc.call(name, "GET", path, scope=caller.scope, params={"contract_id": contract_ids})
    parts["notifier"] = await svc.call("notifier", "GET", path, scope=caller.scope)
    targets = [f"client:{client_id}"] + [f"contract:{c}" for c in contract_ids]
    async with ctx.db.reading() as session:
        rows = (await session.execute(select(audit_log).where(or_(*(audit_log.c.target == t for t in targets)))
                                      .order_by(audit_log.c.at, audit_log.c.id))).all()
    parts["gateway"] = {"tables": {"audit_log": [
        {"id": r.id, "at": r.at.isoformat(), "login": r.login, "action": r.action, "target": r.target,
         "detail": r.detail} for r in rows]}}
    await audit.record(ctx, caller.user, action="client.export", target=f"client:{client_id}",
                       detail={"format": format, "contracts": len(contract_ids)})
    return {"client_id": client_id, "exported_at": ctx.clock.now().isoformat(), "exported_by": caller.login,
            "retention_years": ctx.settings.retention_years,
            "services": {name: part["tables"] for name, part in parts.items()}}


def as_zip(document: dict[str, Any]) -> bytes:
    """The export as a ZIP: `export.json` (the whole document) and one CSV per service and table (nested values
    as JSON text), UTF-8 with a BOM so that a spreadsheet reads Polish letters."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.json", json.dumps(document, ensure_ascii=False, indent=2))
        for service, tables in document["services"].items():
            for table, rows in tables.items():
                columns: list[str] = []
                for row in rows:
                    columns += [k for k in row if k not in columns]
                text = io.StringIO()
                writer = csv.writer(text)
                writer.writerow(columns)
                for row in rows:
                    writer.writerow(["" if row.get(c) is None else
                                     json.dumps(row[c], ensure_ascii=False) if isinstance(row.get(c), (dict, list))
                                     else row[c] for c in columns])
                archive.writestr(f"{service}/{table}.csv", "\ufeff" + text.getvalue())
    return buffer.getvalue()


async def erase(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, client_id: int | None,
                dry_run: bool, limit: int = 100) -> dict[str, Any]:
    """The retention command; each client erased now gets its audit row (a dry run and a refusal record nothing)."""
    result: dict[str, Any] = await svc.call("contracts", "POST", "/erasure", scope=caller.scope,
                                            json={"client_id": client_id, "dry_run": dry_run, "limit": limit})
    for item in result["items"]:
        if item.get("erased_now"):
            await audit.record(ctx, caller.user, action="client.erase", target=f"client:{item['client_id']}",
                               detail={"last_end": item.get("last_end"), "erasable_from": item.get("erasable_from")})
    return result
