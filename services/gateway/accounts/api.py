"""REST API of staff accounts: who the token belongs to, one's own password, and (admins) users and their tokens."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Path
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.common.params import MAX_ID, plain_or_none
from services.common.runtime import ServiceContext, get_context
from services.gateway.accounts import service as accounts
from services.gateway.models import Role
from services.gateway.openapi import (
    LOCAL_CREATE,
    LOCAL_READ,
    LOCAL_READ_ONE,
    ApiTokenList,
    Me,
    NewApiToken,
    NewPassword,
    UserAccount,
    UserList,
    problems,
    success,
)
from services.gateway.permissions import Caller, Permission, allow
from services.gateway.users import Account, Token

router = APIRouter(prefix="/api/v1", tags=["accounts"])
LoginPath = Annotated[str, Path(min_length=1, max_length=100, description="the user's login"),
                      AfterValidator(plain_or_none)]
TokenIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="the token's id (from the list)")]
NO_CONTENT: dict[int | str, dict[str, Any]] = {204: {"description": "Done; nothing to return"}}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewUser(_Strict):
    login: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)
    role: Role
    password: str | None = Field(None, description="for the web UI; left out: an API-only user until a reset")


class UserChanges(_Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    email: str | None = Field(None, min_length=3, max_length=320)
    role: Role | None = None
    active: bool | None = Field(None, description="false deactivates: sessions end and tokens are revoked at once")


class PasswordChange(_Strict):
    current: str = Field(max_length=accounts.MAX_PASSWORD)
    new: str = Field(max_length=accounts.MAX_PASSWORD)


class TokenRequest(_Strict):
    name: str = Field(min_length=1, max_length=100, description="what the token is for")


def account_json(account: Account) -> dict[str, Any]:
    user = account.user
    return {"login": user.login, "name": user.name, "email": user.email, "role": user.role,
            "active": account.active, "has_password": account.has_password,
            "created_at": account.created_at.isoformat()}


def token_json(token: Token) -> dict[str, Any]:
    return {"id": token.id, "name": token.name, "created_at": token.created_at.isoformat(),
            "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None}


@router.get("/me", summary="Who the token belongs to", responses={**problems(401), **success(Me)})
async def me(caller: Caller = Depends(allow(Permission.own_account))) -> dict[str, Any]:
    user = caller.user
    return {"login": user.login, "name": user.name, "email": user.email, "role": user.role}


@router.put("/me/password", status_code=204, summary="Change one's own password (every web session then ends)",
            responses={**problems(401, 413, 422), **NO_CONTENT})
async def change_own_password(body: PasswordChange, caller: Caller = Depends(allow(Permission.own_account)),
                              ctx: ServiceContext = Depends(get_context)) -> Response:
    await accounts.change_own_password(ctx=ctx, caller=caller, current=body.current, new=body.new)
    return Response(status_code=204)


@router.get("/users", summary="Every staff account, active ones first", responses={**LOCAL_READ, **success(UserList)})
async def list_users(caller: Caller = Depends(allow(Permission.manage_users)),
                     ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    return {"items": [account_json(a) for a in await accounts.list_accounts(ctx=ctx)]}


@router.post("/users", status_code=201, summary="Create a staff account",
             responses={**LOCAL_CREATE, **success(UserAccount, 201)})
async def create_user(
    body: NewUser = Body(..., openapi_examples={"accountant": {"value": {
        "login": "ewa", "name": "Ewa Nowak", "email": "ewa@biuro.example", "role": "accountant",
        "password": "długie-hasło-początkowe"}}}),
    caller: Caller = Depends(allow(Permission.manage_users)),
    ctx: ServiceContext = Depends(get_context),
) -> JSONResponse:
    account = await accounts.create_account(ctx=ctx, caller=caller, login=body.login, name=body.name,
                                            email=body.email, role=body.role.value, password=body.password)
    return JSONResponse(account_json(account), status_code=201,
                        headers={"Location": f"/api/v1/users/{quote(account.user.login, safe='')}"})


@router.get("/users/{login}", summary="One staff account", responses={**LOCAL_READ_ONE, **success(UserAccount)})
async def get_user(login: LoginPath, caller: Caller = Depends(allow(Permission.manage_users)),
                   ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    return account_json(await accounts.get_account(ctx=ctx, login=login))


@router.patch("/users/{login}", summary="Edit name, e-mail or role; deactivate or reactivate",
              responses={**LOCAL_CREATE, **success(UserAccount)})
async def update_user(
    login: LoginPath,
    body: UserChanges = Body(..., openapi_examples={"deactivate": {"value": {"active": False}},
                                                    "new role": {"value": {"role": "manager"}}}),
    caller: Caller = Depends(allow(Permission.manage_users)),
    ctx: ServiceContext = Depends(get_context),
) -> dict[str, Any]:
    changes = accounts.Changes(name=body.name, email=body.email, role=body.role.value if body.role else None,
                               active=body.active)
    return account_json(await accounts.update_account(ctx=ctx, caller=caller, login=login, changes=changes))


@router.post("/users/{login}/password-reset", summary="A new random password, shown once; the user's sessions end",
             responses={**LOCAL_CREATE, **success(NewPassword)})
async def reset_password(login: LoginPath, caller: Caller = Depends(allow(Permission.manage_users)),
                         ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    return {"password": await accounts.reset_password(ctx=ctx, caller=caller, login=login)}


@router.get("/users/{login}/tokens", summary="A user's API tokens: name, created, last used (never the token)",
            responses={**LOCAL_READ_ONE, **success(ApiTokenList)})
async def list_tokens(login: LoginPath, caller: Caller = Depends(allow(Permission.manage_users)),
                      ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    return {"items": [token_json(t) for t in await accounts.list_tokens(ctx=ctx, login=login)]}


@router.post("/users/{login}/tokens", status_code=201, summary="A new API token for a user, shown this once",
             responses={**LOCAL_CREATE, **success(NewApiToken, 201)})
async def create_token(login: LoginPath, body: TokenRequest,
                       caller: Caller = Depends(allow(Permission.manage_users)),
                       ctx: ServiceContext = Depends(get_context)) -> JSONResponse:
    token, listed = await accounts.create_token(ctx=ctx, caller=caller, login=login, name=body.name)
    return JSONResponse({**token_json(listed), "token": token}, status_code=201)


@router.delete("/users/{login}/tokens/{token_id}", status_code=204, summary="Revoke one of a user's API tokens",
               responses={**LOCAL_READ_ONE, **NO_CONTENT})
async def revoke_token(login: LoginPath, token_id: TokenIdPath,
                       caller: Caller = Depends(allow(Permission.manage_users)),
                       ctx: ServiceContext = Depends(get_context)) -> Response:
    await accounts.revoke_token(ctx=ctx, caller=caller, login=login, token_id=token_id)
    return Response(status_code=204)
