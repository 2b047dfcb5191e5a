"""Errors as values a user can act on: RFC 9457 problem documents naming each invalid field."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """Raise anywhere in a request: it becomes a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        type_: str = "about:blank",
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.type = type_

    def document(self, instance: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            doc["detail"] = self.detail
        if instance:
            doc["instance"] = instance
        if self.errors:
            doc["errors"] = self.errors
        return doc


class NotFound(Problem):
    def __init__(self, what: str, ident: object) -> None:
        super().__init__(404, "Not found", f"{what} {ident} does not exist")


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'client', 'nip') -> 'client.nip'; list indexes become [i]."""
    parts: list[str] = []
    for item in loc:
        if item in ("body", "query", "path", "header") and not parts:
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def validation_errors(exc_errors: Any) -> list[dict[str, Any]]:
    return [{"field": field_path(e.get("loc", ())), "message": e.get("msg", "invalid")} for e in exc_errors]


async def validation_problem(request: Request, exc: Exception) -> JSONResponse:
    """A request that does not fit the route's types: 422 naming every field."""
    assert isinstance(exc, RequestValidationError)
    problem = Problem(422, "Invalid request", "Some fields are invalid", errors=validation_errors(exc.errors()))
    return JSONResponse(problem.document(str(request.url.path)), status_code=422, media_type=PROBLEM_JSON)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return JSONResponse(exc.document(str(request.url.path)), status_code=exc.status, media_type=PROBLEM_JSON)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        problem = Problem(exc.status_code, str(exc.detail))
        return JSONResponse(
            problem.document(str(request.url.path)),
            status_code=exc.status_code,
            media_type=PROBLEM_JSON,
            headers=getattr(exc, "headers", None),
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, validation_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
