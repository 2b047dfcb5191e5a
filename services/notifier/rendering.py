"""Mail and page templates: Jinja2 files an admin can override, sandboxed, HTML autoescaped.

Templates live in `services/notifier/templates/`; a file of the same name in `TERMINARZ_NOTIFIER_TEMPLATES_DIR`
is used instead. A client mail is three files per language: `NAME.LANG.subject.txt`, `NAME.LANG.txt` and
`NAME.LANG.html` (an English file missing falls back to the Polish one); a staff mail is `NAME.subject.txt` and
`NAME.txt`. Files are re-read when they change, so an edited template is used (and previewed) without a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
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


class OverridableLoader(ChoiceLoader):
    """The admin's folder first, then the built-in templates; a file added to (or removed from) the admin's
    folder takes effect at once, not only an edited one."""

    def __init__(self, custom_dir: Path | None) -> None:
        self.custom_dir = custom_dir
        loaders = [FileSystemLoader(str(custom_dir))] if custom_dir else []
        super().__init__([*loaders, FileSystemLoader(str(BUILTIN))])

    def get_source(self, environment: Any, template: str) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = super().get_source(environment, template)
        if self.custom_dir is None:
            return source, filename, uptodate
        custom = self.custom_dir / template
        overridden = custom.is_file()

        def still_current() -> bool:
            return custom.is_file() == overridden and (uptodate is None or uptodate())

        return source, filename, still_current

    def load(self, environment: Any, name: str, globals: Any = None) -> Any:
        # ChoiceLoader.load asks the inner loaders directly; go through get_source above instead.
        return BaseLoader.load(self, environment, name, globals)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


class Templates:
    def __init__(self, settings: Settings) -> None:
        self.custom_dir = settings.notifier_templates_dir
        self.env = SandboxedEnvironment(
            loader=OverridableLoader(self.custom_dir),
            autoescape=lambda name: bool(name and name.endswith(".html")),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=True,
        )
        self.env.filters.update(
            money=domain.money, day=domain.day, period=domain.period_label, nrb=format_nrb,
        )

    def render(self, name: str, context: dict[str, Any]) -> str:
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
