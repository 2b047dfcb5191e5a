"""The UI's languages: Polish (the templates' source language, no catalog) and English (a gettext catalog).

The templates' texts are Polish and are the msgids (`{{ _("Sprawy") }}`, `{% trans %}…{% endtrans %}`); the English
catalog is `locale/en/LC_MESSAGES/messages.po`, read once at start-up (compiled in memory: no .mo is kept in the
repository to drift from the .po). Python code marks a Polish UI text with `_()` where it is said at once, and
with `N_()` where it is kept for later (a table of messages), then says it with `_()`. A Polish text that needs two
English ones in different places ("Po terminie": a case list's tab "Overdue", a report's column "Late") takes a
context: `pgettext("cases tab", "Po terminie")` at once, `NC_("cases tab", "Po terminie")` kept for later.

The language of a request is a context variable: the user's setting once their session is known
(`auth.web_session`), before that the language cookie of the login page's switch (the middleware in `web.py`),
otherwise Polish. How to add a text or a language: the gateway README, "Languages".
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES: dict[str, str] = {"pl": "Polski", "en": "English"}  # each language named in itself, for the switches
DEFAULT = "pl"
SOURCE = "pl"  # the templates' own language: no catalog
COOKIE = "terminarz_lang"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

_language: ContextVar[str] = ContextVar("terminarz_language", default=DEFAULT)


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> _gettext.NullTranslations:
    """The language's catalog, read from its .po (fuzzy entries left out, as gettext would)."""
    if language == SOURCE or language not in LANGUAGES:
        return _gettext.NullTranslations()
    with catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def load() -> None:
    """Read every catalog now (at start-up), so a broken .po stops the start rather than a page."""
    for language in LANGUAGES:
        translations(language)


def valid(language: str | None) -> str | None:
    return language if language in LANGUAGES else None


def use(language: str | None) -> str:
    """Make `language` (when it is one of ours, else the default) the current request's language."""
    chosen = valid(language) or DEFAULT
    _language.set(chosen)
    return chosen


def current() -> str:
    return _language.get()


def gettext(message: str) -> str:
    """A Polish UI text in the current language."""
    return translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current()).ngettext(singular, plural, n)


_ = gettext


def pgettext(context: str, message: str) -> str:
    """A Polish UI text with a context (msgctxt) in the current language."""
    return translations(current()).pgettext(context, message)


def N_(message: str) -> str:
    return message


class InContext(str):
    """A Polish text kept for later with its context (`NC_`): a str (the Polish text) that remembers the context."""

    context: str

    def __new__(cls, context: str, message: str) -> InContext:
        text = super().__new__(cls, message)
        text.context = context
        return text


def NC_(context: str, message: str) -> InContext:
    """`N_` with a context (extracted as `NC_:1c,2`, babel.cfg)."""
    return InContext(context, message)


def say(message: str) -> str:
    """A text kept for later (`N_` or `NC_`) in the current language."""
    if isinstance(message, InContext):
        return pgettext(message.context, message)
    return gettext(message)


class Translated(Mapping[str, str]):
    """{key: Polish text (marked N_)} whose values are read in the current request's language: a status's name,
    the options of a select. Reads like the dict it wraps."""

    def __init__(self, texts: Mapping[str, str]) -> None:
        self._texts = dict(texts)

    def __getitem__(self, key: str) -> str:
        return say(self._texts[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)


class Bilingual(Mapping[str, str]):
    """{key: label} in the current language from labels that come in both languages already (the terms
    vocabulary of services/common/terms.py has Polish and English labels: no catalog needed)."""

    def __init__(self, polish: Mapping[str, str], english: Mapping[str, str]) -> None:
        self._labels = {"pl": dict(polish), "en": {**polish, **english}}

    def _current(self) -> dict[str, str]:
        return self._labels["en" if current() == "en" else "pl"]

    def __getitem__(self, key: str) -> str:
        return self._current()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._labels["pl"])

    def __len__(self) -> int:
        return len(self._labels["pl"])
