"""The audit log: one append-only row per change a person makes, and the search managers read it with.

Every command of the gateway's service layer that changes something calls `record` (or `write`, inside its own
transaction) once the change is made; a refused request records nothing. There is no function to edit or delete
a row, and the database refuses UPDATE and DELETE on the table (migration gateway_0003).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import WARSAW
from services.common.log import current_correlation_id
from services.common.runtime import ServiceContext
from services.gateway.i18n import N_, Translated
from services.gateway.models import audit_log
from services.gateway.users import User

# Actions written today and how the audit page names them; a new command adds its action here.
ACTIONS_PL = Translated({
    "login": N_("logowanie"),
    "login.failed": N_("nieudane logowanie"),
    "logout": N_("wylogowanie"),
    "client.create": N_("nowy klient"),
    "client.update": N_("zmiana danych klienta"),
    "notice.create": N_("zawiadomienie wysłane ręcznie"),
    "notice.withdraw": N_("zawiadomienie wycofane"),
    "contract.create": N_("nowa umowa"),
    "contract.annex": N_("aneks"),
    "contract.terminate": N_("rozwiązanie umowy"),
    "import.apply": N_("import z CSV"),
    "client.export": N_("eksport danych osobowych klienta"),
    "client.erase": N_("usunięcie danych osobowych klienta"),
    "case.create": N_("nowa sprawa jednorazowa"),
    "case.start": N_("sprawa rozpoczęta"),
    "case.finish": N_("sprawa zakończona"),
    "case.not_applicable": N_("sprawa: nie dotyczy"),
    "case.reopen": N_("sprawa wznowiona"),
    "case.attach": N_("załącznik do sprawy"),
    "rules.apply": N_("reguły wprowadzone"),
    "rules.rejected": N_("reguły odrzucone"),
    "user.create": N_("nowy użytkownik"),
    "user.update": N_("zmiana użytkownika"),
    "user.deactivate": N_("dezaktywacja użytkownika"),
    "user.reactivate": N_("ponowna aktywacja użytkownika"),
    "user.password_reset": N_("reset hasła"),
    "user.password_change": N_("zmiana własnego hasła"),
    "token.create": N_("nowy token API"),
    "token.revoke": N_("unieważniony token API"),
    "report.export": N_("pobranie raportu"),
    "case.reassign": N_("przekazanie sprawy"),
    "case.reassign_all": N_("przekazanie spraw umowy"),
    "absence.create": N_("nowa nieobecność"),
    "absence.end": N_("wcześniejszy koniec nieobecności"),
    "absence.cancel": N_("odwołana nieobecność"),
    "system.dead_letters.retry": N_("ponowienie komunikatów nieobsłużonych"),
})


async def write(*, session: AsyncSession, login: str, action: str, target: str, at: datetime,
                correlation_id: str | None, detail: dict[str, Any] | None = None) -> None:
    """One row in the caller's transaction: who (a login, possibly one that does not exist, for a failed
    login), did what, to what (`kind:id`), when, under which correlation id."""
    await session.execute(audit_log.insert().values(
        at=at, login=login[:100], action=action[:100], target=target[:200], correlation_id=correlation_id,
        detail=detail))


async def record(ctx: ServiceContext, user: User, *, action: str, target: str,
                 detail: dict[str, Any] | None = None) -> None:
    """One row in a transaction of its own, for a change another service has just made for `user`."""
    async with ctx.db.transaction() as session:
        await write(session=session, login=user.login, action=action, target=target, at=ctx.clock.now(),
                    correlation_id=current_correlation_id(), detail=detail)


def _start_of(day: date) -> datetime:
    """Midnight of a Warsaw business date, as a UTC instant."""
    return datetime.combine(day, time(), WARSAW).astimezone(UTC)


async def search(*, session: AsyncSession, login: str | None = None, action: str | None = None,
                 target: str | None = None, since: date | None = None, until: date | None = None,
                 limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Rows newest first. `action` ending in "." takes every action of that kind ("contract."), `target` is a
    prefix ("contract:12"), `since` and `until` are Warsaw dates, both included."""
    query = select(audit_log)
    if login:
        query = query.where(audit_log.c.login == login)
    if action:
        query = query.where(audit_log.c.action.startswith(action, autoescape=True) if action.endswith(".")
                            else audit_log.c.action == action)
    if target:
        query = query.where(audit_log.c.target.startswith(target, autoescape=True))
    if since:
        query = query.where(audit_log.c.at >= _start_of(since))
    if until:
        query = query.where(audit_log.c.at < _start_of(until + timedelta(days=1)))
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(query.order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
                                 .limit(limit).offset(offset))
    items = [{"id": r.id, "at": r.at.isoformat(), "login": r.login, "action": r.action, "target": r.target,
              "correlation_id": r.correlation_id, "detail": r.detail} for r in rows]
    return {"items": items, "total": int(total), "limit": limit, "offset": offset}
