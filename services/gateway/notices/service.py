"""What the notifier wrote and the client notices, for a `Caller`: the notifier filters every list and object by
the caller's scope (404 outside it); changes made by a person are audited once made."""

from __future__ import annotations

from typing import Any

from services.common.accounts import AccountError, mikrorachunek
from services.common.errors import Problem
from services.common.runtime import ServiceContext
from services.gateway.audit import service as audit
from services.gateway.clients import ServiceClients
from services.gateway.permissions import Caller


async def list_mails(*, svc: ServiceClients, caller: Caller, limit: int = 20, offset: int = 0) -> dict[str, Any]:
    """A page of every mail (newest first) for those who see the whole office; of the mails sent to the caller for
    everyone else: `{items, total}`."""
    to = None if caller.scope.unrestricted else caller.user.email
    page: dict[str, Any] = await svc.call("notifier", "GET", "/mails", scope=caller.scope,
                                          params={"to": to, "limit": limit, "offset": offset})
    return page


async def list_notices(*, svc: ServiceClients, caller: Caller, limit: int = 100, offset: int = 0,
                       **filters: Any) -> dict[str, Any]:
    """Notices the caller sees, newest first, filtered by `client_id`, `case_id`, `contract_id`, `state` (sent,
    waiting, confirmed, failed) and `period` (2026, 2026-10…); `links` says whether clients can open the links."""
    page: dict[str, Any] = await svc.call("notifier", "GET", "/notices", scope=caller.scope,
                                          params={**filters, "limit": limit, "offset": offset})
    return page


async def case_notices(*, svc: ServiceClients, caller: Caller, case_id: str) -> list[dict[str, Any]] | None:
    """A case's notices for its page; None when the notifier cannot be asked (the case page still shows)."""
    try:
        page = await list_notices(svc=svc, caller=caller, case_id=case_id, limit=20)
    except Problem:
        return None
    items: list[dict[str, Any]] = page["items"]
    return items


async def get_notice(*, svc: ServiceClients, caller: Caller, notice_id: str) -> dict[str, Any]:
    """One notice with its proof; a 404 problem outside the caller's scope."""
    notice: dict[str, Any] = await svc.call("notifier", "GET", f"/notices/{notice_id}", scope=caller.scope)
    return notice


async def find_notice(*, svc: ServiceClients, caller: Caller, notice_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await svc.find("notifier", f"/notices/{notice_id}", scope=caller.scope)
    return found


async def proof_csv(*, svc: ServiceClients, caller: Caller, **filters: Any) -> str:
    """The proof of the notices (each send with the SMTP reply, opening, confirmation) as CSV."""
    response = await svc.raw("notifier", "GET", "/notices/proof.csv", scope=caller.scope, params=filters)
    return response


async def create_notices(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller,
                         body: dict[str, Any]) -> dict[str, Any]:
    """Manual notices to one client or a selection; written by the caller (their name on the notice)."""
    payload = {**body, "created_by": {"login": caller.user.login, "name": caller.user.name,
                                      "email": caller.user.email}}
    result: dict[str, Any] = await svc.call("notifier", "POST", "/notices", json=payload, scope=caller.scope)
    for notice_id, client_id in zip(result["ids"], body.get("client_ids") or [], strict=False):
        await audit.record(ctx, caller.user, action="notice.create", target=f"notice:{notice_id}",
                           detail={"client_id": str(client_id), "subject": body.get("subject"),
                                   "send_on": body.get("send_on")})
    return result


async def withdraw(*, ctx: ServiceContext, svc: ServiceClients, caller: Caller, notice_id: str,
                   reason: str) -> dict[str, Any]:
    result: dict[str, Any] = await svc.call("notifier", "POST", f"/notices/{notice_id}/withdraw",
                                            json={"reason": reason}, scope=caller.scope)
    await audit.record(ctx, caller.user, action="notice.withdraw", target=f"notice:{notice_id}",
                       detail={"reason": reason})
    return result


async def recipients(*, svc: ServiceClients, caller: Caller, client_id: int) -> dict[str, Any]:
    """A client's notice recipients with their delivery health (`failing` after a 5xx refusal)."""
    result: dict[str, Any] = await svc.call("notifier", "GET", "/recipients", scope=caller.scope,
                                            params={"client_id": client_id})
    return result


async def templates(*, svc: ServiceClients, caller: Caller) -> dict[str, Any]:
    result: dict[str, Any] = await svc.call("notifier", "GET", "/templates", scope=caller.scope)
    return result


async def preview(*, svc: ServiceClients, caller: Caller, name: str, language: str) -> dict[str, Any]:
    result: dict[str, Any] = await svc.call("notifier", "POST", "/templates/preview", scope=caller.scope,
                                            json={"name": name, "language": language})
    return result


async def links(*, svc: ServiceClients, caller: Caller) -> dict[str, Any]:
    """Where client links point, and the warning to show when clients cannot open them (a loopback address)."""
    result: dict[str, Any] = await svc.call("notifier", "GET", "/links", scope=caller.scope)
    return result


def recorded_recipients(client: dict[str, Any]) -> list[dict[str, Any]]:
    """Who the client record says receives notices: its recipients, or else its contact e-mails."""
    return list(client.get("recipients") or []) or [
        {"email": e, "name": "", "language": client.get("language", "pl")} for e in client.get("contact_emails", [])]


def recipients_with_delivery(client: dict[str, Any], delivery: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The record's recipients, each with what the notifier knows of delivering to its address (status, last
    refusal), or no status when it knows nothing of it yet."""
    known = {str(d.get("email", "")).lower(): d for d in delivery}
    return [{**{k: v for k, v in known.get(r["email"].lower(), {}).items() if k not in ("name", "language")},
             **r, "status": known.get(r["email"].lower(), {}).get("status", "")}
            for r in recorded_recipients(client)]


def accounts_view(client: dict[str, Any]) -> list[dict[str, Any]]:
    """A client's accounts for a page: each kind, its number, and whether the mikrorachunek is computed."""
    accounts = client.get("accounts") or {}
    shown: list[dict[str, Any]] = []
    mikro, computed = accounts.get("mikrorachunek"), False
    if not mikro:
        try:
            mikro, computed = mikrorachunek(nip=client.get("nip"), pesel=client.get("pesel")), True
        except AccountError:
            mikro = None
    shown.append({"kind": "mikrorachunek", "number": mikro, "computed": computed})
    for kind in ("nrs", "ppk", "pfron"):
        shown.append({"kind": kind, "number": accounts.get(kind), "computed": False})
    return shown
