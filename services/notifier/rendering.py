"""Mail and page templates: Jinja2 files an admin can override, sandboxed, HTML autoescaped.

Templates live in `services/notifier/templates/`; a file of the same name in `TERMINARZ_NOTIFIER_TEMPLATES_DIR`
is used instead. A client mail is three files per language: `NAME.LANG.subject.txt`, `NAME.LANG.txt` and
`NAME.LANG.html` (an English file missing falls back to the Polish one); a staff mail is `NAME.subject.txt` and
`NAME.txt`. Files are re-read when they change, so an edited template is used (and previewed) without a restart.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
)
from jinja2.sandbox import SandboxedEnvironment

from services.common.accounts import format_nrb
from services.common.errors import Problem
from services.common.settings import Settings
from services.notifier import domain

BUILTIN = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


class Templates:
    def __init__(self, settings: Settings) -> None:
        self.custom_dir = settings.notifier_templates_dir
        self.env = SandboxedEnvironment(
            loader=ChoiceLoader([*([FileSystemLoader(str(self.custom_dir))] if self.custom_dir else []),
                                 FileSystemLoader(str(BUILTIN))]),
            autoescape=lambda name: bool(name and name.endswith(".html")),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # freshness is checked per folder, at most once a second (`fresh`)
        )
        self._stamp: tuple[tuple[str, float], ...] = ()
        self._checked = 0.0
        self.env.filters.update(
            money=domain.money, day=domain.day, period=domain.period_label, nrb=format_nrb,
        )

    def fresh(self, *, now: bool = False) -> None:
        """Forget compiled templates when a file in either folder was added, removed or changed: checked at
        most once a second (the morning run renders thousands of mails), or at once (`now`, for a preview)."""
        clock = time.monotonic()
        if not now and clock - self._checked < 1.0:
            return
        self._checked = clock
        folders = [BUILTIN, *([self.custom_dir] if self.custom_dir else [])]
        stamp = tuple(sorted((entry.path, entry.stat().st_mtime) for folder in folders if folder.is_dir()
                             for entry in os.scandir(folder) if entry.is_file()))
        if stamp != self._stamp:
            self._stamp = stamp
            if self.env.cache is not None:
                self.env.cache.clear()

    def render(self, name: str, context: dict[str, Any]) -> str:
        self.fresh()
        return self.env.get_template(name).render(context)

    def _exists(self, name: str) -> bool:
        try:
            self.env.get_template(name)
        except TemplateNotFound:
            return False
        return True

    def client_mail(self, name: str, lang: str, context: dict[str, Any]) -> Rendered:
        """A client mail in the recipient's language (Polish when no English template exists)."""
        if lang != "pl" and not self._exists(f"{name}.{lang}.txt"):
            lang = "pl"
        context = {**context, "lang": lang}
        html_name = f"{name}.{lang}.html"
        return Rendered(
            subject=" ".join(self.render(f"{name}.{lang}.subject.txt", context).split()),
            text=self.render(f"{name}.{lang}.txt", context),
            html=self.render(html_name, context) if self._exists(html_name) else None,
        )

    def staff_mail(self, name: str, context: dict[str, Any]) -> Rendered:
        return Rendered(
            subject=" ".join(self.render(f"{name}.subject.txt", context).split()),
            text=self.render(f"{name}.txt", context),
            html=None,
        )

    def page(self, name: str, lang: str, context: dict[str, Any]) -> str:
        if lang != "pl" and not self._exists(f"{name}.{lang}.html"):
            lang = "pl"
        return self.render(f"{name}.{lang}.html", {**context, "lang": lang})

    def listing(self) -> list[dict[str, str]]:
        """Every template file and where it comes from (the admin's folder overrides the built-in one)."""
        names = {p.name for p in BUILTIN.iterdir() if p.is_file()}
        custom = {p.name for p in self.custom_dir.iterdir() if p.is_file()} if self.custom_dir and \
            self.custom_dir.is_dir() else set()
        return [{"name": n, "origin": "custom" if n in custom else "built-in"} for n in sorted(names | custom)]


def template_problem(exc: TemplateError) -> Problem:
    """A broken template as a problem document naming the file and the line."""
    if isinstance(exc, TemplateSyntaxError):
        where = exc.filename or exc.name or "template"
        field = f"templates/{Path(where).name}"
        message = f"line {exc.lineno}: {exc.message}"
    elif isinstance(exc, TemplateNotFound):
        field, message = f"templates/{exc.name}", "no such template"
    else:
        field, message = "templates", str(exc)
    return Problem(422, "Template cannot be rendered", "fix the template file and preview it again",
                   errors=[{"field": field, "message": message}])
