"""Who a request from the gateway acts for: the `X-Terminarz-Scope` header and a FastAPI dependency reading it.

The gateway decides visibility once (its rule: which contracts a user may see) and passes the result to the
internal services as JSON: `{"login": "anna", "role": "accountant", "contracts": ["12", "15"]}`, where
`contracts: null` means every contract (managers, admins). A service filters its lists by it and answers 404 for
one object outside it. A call without the header comes from another service or a tool holding the internal
token and acts for the whole office (`SERVICE_SCOPE`).
"""

from __future__ import annotations

import json

from fastapi import Request
from pydantic import BaseModel, ValidationError, field_validator

from services.common.errors import Problem

SCOPE_HEADER = "X-Terminarz-Scope"
MANAGING_ROLES = frozenset({"admin", "manager", "service"})


class Scope(BaseModel):
    login: str
    role: str
    contracts: list[str] | None = None  # None: every contract

    @field_validator("contracts", mode="before")
    @classmethod
    def _ids_as_text(cls, value: object) -> object:
        if isinstance(value, list):
            return [str(v) for v in value]
        return value

    @property
    def unrestricted(self) -> bool:
        return self.contracts is None

    @property
    def manages(self) -> bool:
        """Admins, managers and other services: office-wide actions such as exporting proof."""
        return self.role in MANAGING_ROLES

    def sees(self, contract_id: str | None) -> bool:
        """Whether an object of this contract is visible (an object of no contract only office-wide)."""
        if self.contracts is None:
            return True
        return contract_id is not None and contract_id in self.contracts

    def header(self) -> dict[str, str]:
        """The header the gateway sends, for calling a service on a user's behalf."""
        return {SCOPE_HEADER: self.model_dump_json()}


SERVICE_SCOPE = Scope(login="", role="service", contracts=None)


async def request_scope(request: Request) -> Scope:
    """FastAPI dependency: the caller's scope; a malformed header is a 400 naming the header."""
    raw = request.headers.get(SCOPE_HEADER)
    if raw is None:
        return SERVICE_SCOPE
    try:
        return Scope.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        message = "must be JSON {login, role, contracts: [ids] | null}"
        if isinstance(exc, ValidationError):
            message += ": " + "; ".join(f"{'.'.join(map(str, e['loc']))} {e['msg']}" for e in exc.errors())
        raise Problem(400, "Invalid scope", "the caller's scope header cannot be read",
                      errors=[{"field": SCOPE_HEADER, "message": message}]) from None
