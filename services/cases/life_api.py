"""HTTP API of a case's lifecycle (internal: the gateway calls it with the caller's scope): status changes,
checklist ticks, comments, attachments and one-off cases. Each answers the case as `GET /cases/{id}` does."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from services.cases import attachments as files
from services.cases import duties, handlers, lifecycle
from services.common.errors import NotFound
from services.common.messages import ChecklistItem, TeamMember
from services.common.params import CaseIdPath, ContractIdPath
from services.common.runtime import ServiceContext, get_context
from services.common.scope import Scope, request_scope

router = APIRouter()


class ActorInfo(BaseModel):
    """The caller's name and e-mail as the gateway knows them (the login comes from the scope)."""

    name: str = Field("", max_length=200)
    email: str = Field("", max_length=320)


class Command(BaseModel):
    actor: ActorInfo = Field(default_factory=lambda: ActorInfo(name="", email=""))


class ReasonCommand(Command):
    reason: str = Field("", max_length=5000)


class FinishCommand(Command):
    # Per liability kind of the case's notice, the amount in PLN as typed ("1 200,00", "1200.00", 0).
    liabilities: dict[Annotated[str, Field(max_length=20)], str | int | None] = Field(default_factory=dict,
                                                                                     max_length=20)


class ReceivedCommand(Command):
    """What a client task asked for arrived: the day (default today) and, for documents, how many (optional);
    `duty` picks the client task when the case depends on several."""

    received_on: date | None = None
    count: int | None = Field(None, ge=0, le=duties.MAX_RECEIVED_COUNT)
    duty: str | None = Field(None, max_length=30)


class TickCommand(Command):
    done: bool


class CommentCommand(Command):
    text: str = Field(max_length=100_000)  # the real limit (limits.MAX_COMMENT_CHARS) is checked with its message


class OneOffCommand(Command):
    title: str = Field(min_length=1, max_length=300)
    due: date
    assignee: TeamMember | None = None
    commissioner: TeamMember | None = None
    checklist: list[ChecklistItem] = Field(default_factory=list, max_length=50)
    contract_number: str = Field("", max_length=100)
    client_id: str = Field("", max_length=36)
    client_name: str = Field("", max_length=300)


def _who(scope: Scope, command: Command) -> lifecycle.Actor:
    return lifecycle.Actor(login=scope.login or "service", name=command.actor.name.strip(),
                           email=command.actor.email.strip())


async def _answer(ctx: ServiceContext, case_id: str, scope: Scope) -> dict[str, Any]:
    async with ctx.db.reading() as session:
        case = await handlers.get_case(session=session, case_id=case_id, scope=scope)
        if case is None:
            raise NotFound("case", case_id)
        case["comments"] = await lifecycle.comments_of(session, case_id)
        case["attachments"] = await files.list_for(session, case_id)
        case["client_duties"] = await duties.duty_status(session, SimpleNamespace(**case), ctx.clock.today())
    return case


@router.post("/cases/{case_id}/start")
async def start(case_id: CaseIdPath, command: Command, ctx: ServiceContext = Depends(get_context),
                scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        await lifecycle.start(ctx, session, case_id=str(case_id), scope=scope, who=_who(scope, command))
    return await _answer(ctx, str(case_id), scope)


@router.post("/cases/{case_id}/finish")
async def finish(case_id: CaseIdPath, command: FinishCommand, ctx: ServiceContext = Depends(get_context),
                 scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        await lifecycle.finish(ctx, session, case_id=str(case_id), scope=scope, who=_who(scope, command),
                               amounts=command.liabilities)
    return await _answer(ctx, str(case_id), scope)


@router.post("/cases/{case_id}/received")
async def received(case_id: CaseIdPath, command: ReceivedCommand, ctx: ServiceContext = Depends(get_context),
                   scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """"Dokumenty otrzymane": the client task (this case, or the one of this case's contract and period that it
    depends on) is done, received on `received_on` with `count` documents; answers the case called."""
    async with ctx.db.transaction() as session:
        await duties.received(ctx, session, case_id=str(case_id), scope=scope, who=_who(scope, command),
                              on=command.received_on, count=command.count, duty=command.duty)
    return await _answer(ctx, str(case_id), scope)


@router.post("/cases/{case_id}/not-applicable")
async def not_applicable(case_id: CaseIdPath, command: ReasonCommand, ctx: ServiceContext = Depends(get_context),
                         scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        await lifecycle.not_applicable(ctx, session, case_id=str(case_id), scope=scope, who=_who(scope, command),
                                       reason=command.reason)
    return await _answer(ctx, str(case_id), scope)


@router.post("/cases/{case_id}/reopen")
async def reopen(case_id: CaseIdPath, command: ReasonCommand, ctx: ServiceContext = Depends(get_context),
                 scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        await lifecycle.reopen(ctx, session, case_id=str(case_id), scope=scope, who=_who(scope, command),
                               reason=command.reason)
    return await _answer(ctx, str(case_id), scope)


@router.put("/cases/{case_id}/checklist/{index}")
async def tick(case_id: CaseIdPath, command: TickCommand,
               index: int = Path(ge=0, le=999, description="the item's position, from 0"),
               ctx: ServiceContext = Depends(get_context), scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        await lifecycle.tick(ctx, session, case_id=str(case_id), scope=scope, who=_who(scope, command), index=index,
                             done=command.done)
    return await _answer(ctx, str(case_id), scope)


@router.post("/cases/{case_id}/comments", status_code=201)
async def comment(case_id: CaseIdPath, command: CommentCommand, ctx: ServiceContext = Depends(get_context),
                  scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        return await lifecycle.comment(ctx, session, case_id=str(case_id), scope=scope, who=_who(scope, command),
                                       text=command.text)


@router.post("/cases/{case_id}/attachments", status_code=201)
async def upload(case_id: CaseIdPath, file: UploadFile = File(...), kind: str = Form("other", max_length=20),
                 ctx: ServiceContext = Depends(get_context), scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        return await files.store(ctx, session, case_id=str(case_id), scope=scope, who=lifecycle.actor(scope),
                                 kind=kind, filename=file.filename, upload=file)


@router.get("/cases/{case_id}/attachments/{attachment_id}")
async def download(case_id: CaseIdPath, attachment_id: CaseIdPath, ctx: ServiceContext = Depends(get_context),
                   scope: Scope = Depends(request_scope)) -> FileResponse:
    async with ctx.db.reading() as session:
        row, path = await files.find(ctx, session, case_id=str(case_id), attachment_id=str(attachment_id),
                                     scope=scope)
    return FileResponse(path, media_type=row["content_type"], filename=row["filename"],
                        headers={"X-Content-SHA256": row["sha256"], "X-Content-Type-Options": "nosniff"})


@router.post("/contracts/{contract_id}/cases", status_code=201)
async def create_one_off(contract_id: ContractIdPath, command: OneOffCommand,
                         ctx: ServiceContext = Depends(get_context),
                         scope: Scope = Depends(request_scope)) -> dict[str, Any]:
    """A one-off case for a contract the caller sees (no rule); case.created like a generated one."""
    case = lifecycle.OneOff(contract_id=str(contract_id), title=command.title.strip(), due=command.due,
                            assignee=command.assignee, commissioner=command.commissioner,
                            checklist=[i.strip() if isinstance(i, str) else i for i in command.checklist],
                            contract_number=command.contract_number, client_id=command.client_id,
                            client_name=command.client_name)
    async with ctx.db.transaction() as session:
        case_id = await lifecycle.create_one_off(ctx, session, scope=scope, who=_who(scope, command), case=case)
    return await _answer(ctx, case_id, scope)
