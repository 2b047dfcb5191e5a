"""The public API's OpenAPI document: every answer a route really gives, problems with their schema."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

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
    401: "No token, or a token that is unknown or whose user is disabled",
    403: "The caller's role may not do this",
    404: "It does not exist, or the caller may not see it",
    409: "It conflicts with what is stored (a NIP or number already used, a contract already terminated)",
    413: "The body is larger than TERMINARZ_MAX_BODY_BYTES",
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
