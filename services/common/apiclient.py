"""Calls to the public REST API from the command line (`terminarz rules apply`, `terminarz plan --contract`)."""

from __future__ import annotations

import os
from typing import Any

import httpx
import typer

from services.common.settings import get_settings

URL_HELP = "Terminarz URL (default: $TERMINARZ_PUBLIC_URL, http://127.0.0.1:8000)."
TOKEN_HELP = "API token (default: $TERMINARZ_TOKEN; make one with `terminarz users token LOGIN`)."


def call_api(method: str, path: str, *, url: str | None, token: str | None, json: Any = None, **params: Any) -> Any:
    """One API call; a problem document is printed field by field and the command exits non-zero."""
    return request_api(method, path, url=url, token=token, json=json, **params).json()


def request_api(method: str, path: str, *, url: str | None, token: str | None, json: Any = None,
                **params: Any) -> httpx.Response:
    """`call_api`, giving the response itself (e.g. a file to save)."""
    base = url or get_settings().public_url
    token = token or os.environ.get("TERMINARZ_TOKEN")
    if not token:
        raise typer.BadParameter("an API token is needed: --token or TERMINARZ_TOKEN", param_hint="--token")
    try:
        response = httpx.request(method, f"{base.rstrip('/')}/api/v1{path}", params=params or None, timeout=300,
                                 headers={"Authorization": f"Bearer {token}"}, json=json)
    except httpx.TransportError as exc:
        typer.echo(f"cannot reach Terminarz at {base}: {exc}", err=True)
        raise typer.Exit(code=2) from None
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {"title": response.text[:300]}
        typer.echo(f"{response.status_code} {body.get('title', '')}: {body.get('detail') or ''}".rstrip(": "), err=True)
        for error in body.get("errors") or []:
            typer.echo(f"  {error.get('text') or (str(error.get('field')) + ': ' + str(error.get('message')))}",
                       err=True)
        raise typer.Exit(code=1)
    return response
