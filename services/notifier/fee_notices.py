"""An overdue fee reminds the client like any other duty (contracts' fee_reminders.py announces it).

`fee.overdue` becomes one notice of kind `fee` (template `fee`) per (contract, month) — the partial unique index
`ix_notices_fee_month` admits one, whatever the replays — issued at once to the client's recipients: the amount
outstanding (of the gross fee), the office's account (`TERMINARZ_OFFICE_ACCOUNT`), the transfer title and the
payment day that passed, with each recipient's scanner-safe link whose button says "Zapłacone / przelew wysłany"
(GET shows the page, only the POST confirms). The morning reminders take it up daily from the next day (same
claims, same cut-off) until the client confirms the transfer, or `fee.settled` (a payment covering the month was
recorded or imported) withdraws it: its link then says the payment arrived.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.accounts import format_nrb
from services.common.log import get_logger
from services.common.messages import FeeOverdue, FeeSettled, TeamMember
from services.common.money import format_pln
from services.common.months import in_month_pl
from services.common.runtime import ServiceContext
from services.notifier import domain
from services.notifier.delivery import insert_ignoring_duplicates
from services.notifier.models import notices
from services.notifier.notices import add_event, client_view, member, wake_jobs

log = get_logger(__name__)
KIND = "fee"
TEMPLATE = "fee"
PAID_REASON = "wpłata zaksięgowana"
CURRENCY = "PLN"  # the office bills in złoty (fee.overdue's amounts are PLN)


transfer_title = domain.fee_transfer_title  # `2026-10` → `FV 10/2026`: the payments import reads the month from it


def subject_of(event: FeeOverdue) -> str:
    """The stored (Polish) subject; an English recipient's is built from the notice's facts (`domain.fee_subject`)."""
    return domain.fee_subject(event.month, event.outstanding, event.payment_due, "pl")


def facts_of(event: FeeOverdue, *, account: str) -> dict[str, object]:
    """The fee's facts kept on its notice (notifier_0005_fee_amount): each mail says them in its recipient's
    language — the amount outstanding, of the month's gross, and the office's account as it was when announced."""
    return {"amount": event.outstanding, "gross": event.gross, "currency": CURRENCY, "account": account}


def body_of(event: FeeOverdue, *, account: str) -> str:
    """The Polish text (the mail's, the page's and the proof's); the signature with the office's name is the
    template's."""
    paid = f" (z {format_pln(event.gross)} brutto)" if event.paid > 0 else ""
    where = (f"na rachunek biura {format_nrb(account)}" if account
             else "na rachunek biura podany na fakturze")
    return (f"Nie odnotowaliśmy pełnej wpłaty za obsługę {in_month_pl(event.month)} "
            f"(umowa {event.number}). Do zapłaty pozostało {format_pln(event.outstanding)}{paid}; termin płatności "
            f"minął {domain.day(event.payment_due, 'pl')}.\n\n"
            f"Prosimy o przelew {where} z tytułem „{transfer_title(event.month)}”.\n\n"
            "Gdy przelew zostanie wysłany, prosimy potwierdzić to przyciskiem na stronie z linku.")


def _accountant(team: dict[str, Any], requested_by: TeamMember | None) -> dict[str, str] | None:
    """Who the client's replies go to: the manager who pressed the button, else the contract's accountant."""
    if requested_by is not None:
        return member(requested_by)
    for role in ("accountant", "manager"):
        if team.get(role):
            return dict(team[role])
    return None


async def on_fee_overdue(ctx: ServiceContext, session: AsyncSession, event: FeeOverdue) -> str | None:
    """The month's fee is overdue: its notice, issued at once (once per contract and month)."""
    client = await client_view(session, event.client_id, event.client_name)
    now = ctx.clock.now()
    notice_id = str(uuid.uuid4())
    inserted = await session.execute(insert_ignoring_duplicates(session, notices).values(
        id=notice_id, kind=KIND, client_id=event.client_id, client_name=client.name or event.client_name,
        contract_id=event.contract_id, period=event.month, status="scheduled", draft_key=None, template=TEMPLATE,
        subject=subject_of(event), body=body_of(event, account=ctx.settings.office_account),
        **facts_of(event, account=ctx.settings.office_account),
        requires_confirmation=True, due=event.payment_due, send_after=now,
        accountant=_accountant(client.team, event.requested_by), created_by=member(event.requested_by),
        duty=KIND, created_at=now, updated_at=now))
    if not inserted.rowcount:  # type: ignore[attr-defined]
        return await _paid_no_more(ctx, session, event)
    await add_event(session, notice_id, now, "created",
                    f"fee of {event.month} overdue ({event.source}): {event.outstanding} outstanding")
    wake_jobs(ctx, session)
    return notice_id


async def _paid_no_more(ctx: ServiceContext, session: AsyncSession, event: FeeOverdue) -> str | None:
    """The month's notice exists: withdrawn as paid and announced again (its payment was reassigned), it reminds the
    client again with the amount now outstanding; otherwise nothing changes (a replay)."""
    row = (await session.execute(select(notices).where(
        notices.c.kind == KIND, notices.c.contract_id == event.contract_id, notices.c.period == event.month,
        notices.c.status == "withdrawn", notices.c.withdrawn_reason == PAID_REASON))).first()
    if row is None:
        log.info("fee.already_noticed", contract_id=event.contract_id, month=event.month)
        return None
    now = ctx.clock.now()
    values: dict[str, object] = {
        "withdrawn_at": None, "withdrawn_reason": None, "updated_at": now, "subject": subject_of(event),
        "body": body_of(event, account=ctx.settings.office_account),
        **facts_of(event, account=ctx.settings.office_account)}
    if row.issued_at is not None:
        values["status"] = "issued"  # reminded again from the next morning
    else:
        values.update(status="scheduled", send_after=now)
    await session.execute(update(notices).where(notices.c.id == row.id).values(**values))
    await add_event(session, row.id, now, "reopened", f"fee of {event.month} unpaid again: {event.outstanding}")
    wake_jobs(ctx, session)
    return str(row.id)


async def on_fee_settled(ctx: ServiceContext, session: AsyncSession, event: FeeSettled) -> bool:
    """The month is paid: no more reminders, and the link says the payment arrived."""
    now = ctx.clock.now()
    row = (await session.execute(select(notices.c.id).where(
        notices.c.kind == KIND, notices.c.contract_id == event.contract_id, notices.c.period == event.month,
        notices.c.status.in_(("scheduled", "issued", "expired"))))).first()
    if row is None:
        return False
    await session.execute(update(notices).where(notices.c.id == row.id).values(
        status="withdrawn", withdrawn_at=now, withdrawn_reason=PAID_REASON, updated_at=now))
    await add_event(session, row.id, now, "withdrawn", f"fee of {event.month} paid ({event.paid})")
    return True
