"""The public API's OpenAPI document: every answer a route really gives, problems with their schema."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict

from services.common.errors import PROBLEM_JSON

# RFC 9457 with our `errors` list; a CSV import's errors also carry the spreadsheet row.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {
                    "field": {"type": "string", "description": "the field to fix, e.g. `address.city`"},
                    "message": {"type": "string"},
                    "row": {"type": "integer", "description": "CSV import: the spreadsheet row (header is 1)"},
                },
            },
        },
    },
}

WHY = {
    401: "No token, or a token that is unknown, revoked or whose user is deactivated",
    403: "The caller's role may not do this",
    404: "It does not exist, or the caller may not see it",
    409: "It conflicts with what is stored (a NIP, number or login already used, a contract already terminated, "
         "a deactivated user)",
    410: "It is recorded, but its file is no longer stored",
    413: "The body is larger than TERMINARZ_MAX_BODY_BYTES (an attachment: TERMINARZ_ATTACHMENT_MAX_BYTES)",
    415: "The file's content is not of an accepted type",
    422: "Invalid input; `errors` names each field (and, for a CSV file, the row)",
    503: "A service behind the gateway cannot be reached",
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each code a problem document."""
    return {code: {"description": WHY[code],
                   "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for code in codes}


# What every kind of route can answer besides success.
READ = problems(401, 422, 503)
READ_ONE = problems(401, 404, 422, 503)
CHANGE = problems(401, 403, 404, 409, 413, 422, 503)
CREATE = problems(401, 403, 409, 413, 422, 503)
UPLOAD = problems(401, 403, 413, 422, 503)
ADMIN = problems(401, 403, 413, 422, 503)
# Routes the gateway answers alone (staff accounts, the audit log): no other service behind them.
LOCAL_READ = problems(401, 403, 422)
LOCAL_READ_ONE = problems(401, 403, 404, 422)
LOCAL_CREATE = problems(401, 403, 404, 409, 413, 422)


# --- What a success looks like (documentation: the fuzz test checks real answers against it) ---------------


class _Open(BaseModel):
    """An answer may carry more than is listed here; what is listed is always there, with these types."""

    model_config = ConfigDict(extra="allow")


class Address(_Open):
    street: str
    postal_code: str
    city: str
    country: str


class Client(_Open):
    id: int
    name: str
    nip: str
    regon: str
    pesel: str | None = None
    krs: str | None = None
    address: Address
    contact_emails: list[str]
    language: Literal["pl", "en"]
    tax_profile: dict[str, Any]
    recipients: list[dict[str, Any]] = []
    accounts: dict[str, Any] = {}
    notices: bool = True


class ChangedClient(Client):
    changed: list[str]


class ContractVersion(_Open):
    version: int
    effective_from: date
    kind: Literal["signed", "annex", "termination"]
    reason: str | None
    recorded_at: datetime
    services: list[Any]
    fee: dict[str, Any]
    team: dict[str, Any]
    end: date | None


class Contract(_Open):
    id: int
    number: str
    client_id: int
    client_name: str
    status: Literal["active", "terminated"]
    version: int
    signed_on: date
    start: date
    end: date | None
    notice_period_months: int
    services: list[Any]
    fee: dict[str, Any]
    team: dict[str, Any]
    versions: list[ContractVersion]


class ClientWithContracts(Client):
    contracts: list[Contract]


class _Page(_Open):
    total: int
    limit: int
    offset: int


class ClientPage(_Page):
    items: list[Client]


class ContractPage(_Page):
    items: list[Contract]


class Case(_Open):
    id: str
    contract_id: str | None
    title: str
    due: date
    status: Literal["open", "in_progress", "done", "not_applicable", "withdrawn"]
    assignee_login: str | None
    commissioner_login: str | None
    party: Literal["office", "client"] = "office"  # client: a client task ("Zadanie klienta") the office tracks


class CaseWithHistory(Case):
    history: list[dict[str, Any]]
    comments: list[dict[str, Any]] = []
    attachments: list[dict[str, Any]] = []
    # An office case that depends on client duties: each client task of its period and how it went (`text`).
    client_duties: list[dict[str, Any]] = []


class CasePage(_Page):
    items: list[Case]
    counts: dict[str, int] = {}


class PlannedObligation(_Open):
    rule_id: str
    code: str
    period: str
    due: date
    generate_on: date | None
    status: Literal["planned", "requested", "withdrawn"]


class Plan(_Open):
    items: list[PlannedObligation]


class ImportProblem(_Open):
    row: int
    field: str
    message: str


class ImportReport(_Open):
    ok: bool
    data_rows: int
    valid_rows: int
    delimiter: str
    errors: list[ImportProblem]


class ImportResult(_Open):
    imported: int
    clients: int
    contract_ids: list[int]


class Me(_Open):
    login: str
    name: str
    email: str
    role: Literal["admin", "manager", "accountant", "payroll"]


class RulesInForce(_Open):
    version: str | None
    rules: list[dict[str, Any]]
    history: list[dict[str, Any]]


class RulesPreview(_Open):
    candidate_version: str
    in_force: str | None


class RulesApplied(_Open):
    status: Literal["active"]
    version: str
    rules: int


class UserAccount(_Open):
    login: str
    name: str
    email: str
    role: Literal["admin", "manager", "accountant", "payroll"]
    active: bool
    has_password: bool
    created_at: datetime


class UserList(_Open):
    items: list[UserAccount]


class ApiToken(_Open):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


class ApiTokenList(_Open):
    items: list[ApiToken]


class NewApiToken(ApiToken):
    token: str


class NewPassword(_Open):
    password: str


class PersonalData(_Open):
    client_id: int
    exported_at: datetime
    exported_by: str
    services: dict[str, dict[str, list[dict[str, Any]]]]


class ErasureItem(_Open):
    client_id: int
    name: str
    status: Literal["erasable", "in_force", "retained", "erased"]
    reason: str
    last_end: date | None
    erasable_from: date | None


class ErasureResult(_Open):
    today: date
    retention_years: int
    dry_run: bool
    items: list[ErasureItem]
    kept: dict[str, int]
    remaining: int


class AuditEntry(_Open):
    id: int
    at: datetime
    login: str
    action: str
    target: str
    correlation_id: str | None
    detail: dict[str, Any] | None


class AuditPage(_Page):
    items: list[AuditEntry]


def success(model: type[BaseModel], status: int = 200) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": model}}


def install(app: FastAPI) -> None:
    """Build the document once, with the problem schema the routes refer to and the bearer token."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                                 description="Terminarz REST API. Authenticate with `Authorization: Bearer <token>` "
                                 "(`terminarz users token LOGIN`). Errors are RFC 9457 problem documents.")
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
            components.setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
