"""The English UI: every text the templates and the gateway's code mark for translation has its English in the
catalog, and numbers, dates and amounts are written and read each language's way."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from services.gateway import format as fmt
from services.gateway import i18n
from services.gateway.web import dates_pl, form_date, message_pl, query_day, templates

ROOT = Path(__file__).resolve().parents[3]
GATEWAY = ROOT / "services" / "gateway"


def _mapping() -> tuple[list[tuple[str, str]], dict[str, dict[str, Any]]]:
    """babel.cfg's methods and options (its keywords too: NC_ with a context), its paths made relative to the
    gateway's folder."""
    with (GATEWAY / "babel.cfg").open() as cfg:
        methods, options = parse_mapping_cfg(cfg)
    prefix = "services/gateway/"
    return ([(pattern.removeprefix(prefix), method) for pattern, method in methods],
            {pattern.removeprefix(prefix): value for pattern, value in options.items()})


def _extracted() -> dict[Any, str]:
    """{msgid (or (context, msgid)): where} of every marked text, as `pybabel extract -F services/gateway/babel.cfg`
    finds them."""
    methods, options = _mapping()
    found: dict[Any, str] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(str(GATEWAY), methods,
                                                                          options_map=options):
        if message:
            found.setdefault((context, message) if context else message, f"services/gateway/{filename}:{lineno}")
    return found


def _catalog() -> dict[Any, Any]:
    """{msgid (or (context, msgid)): English}; a plural's msgid and English are tuples (singular, plural)."""
    with i18n.catalog_path("en").open("rb") as po:
        return {(m.context, m.id) if m.context else m.id: m.string for m in read_po(po) if m.id and not m.fuzzy}


def _translated(english: Any) -> bool:
    return all(english) if isinstance(english, tuple) else bool(english)


class _Text(HTMLParser):
    """The words a template shows outside what is marked for translation: text and the shown attributes (an
    element in English for the Polish page, `lang="en"`, is not Polish text)."""

    SHOWN = ("title", "placeholder", "aria-label", "alt")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.words: list[str] = []
        self.english: list[str] = []  # the open elements with lang="en", by tag

    def _check(self, text: str) -> None:
        shown = _ADDRESS.sub(" ", text.replace(_JINJA_MARK, " "))  # a link built in text (/cases?tab=…) is no word
        if not self.english and _LETTER.search(shown):
            self.words.append(" ".join(text.replace(_JINJA_MARK, "…").split()))

    def handle_data(self, data: str) -> None:
        self._check(data)

    def handle_endtag(self, tag: str) -> None:
        if self.english and self.english[-1] == tag:
            self.english.pop()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if ("lang", "en") in attrs:
            self.english.append(tag)
        for name, value in attrs:
            if name in self.SHOWN and value:
                self._check(value)


_LETTER = re.compile(r"[A-Za-ząćęłńóśźżĄĆĘŁŃÓŚŹŻ]")
_JINJA_MARK = "\u2063"
_ADDRESS = re.compile(r"/[\w/?=&;.-]*")


def _unmarked_words(source: str) -> list[str]:
    """Template text shown as it is: the data outside {% trans %} blocks, Jinja tags replaced by a mark."""
    parts, inside_trans, tag = [], False, []
    for _lineno, kind, value in templates.env.lex(source):
        if kind in ("block_begin", "variable_begin", "comment_begin"):
            tag = []
        elif kind == "name" and not tag:
            tag.append(value)
            inside_trans = True if value == "trans" else False if value == "endtrans" else inside_trans
        elif kind in ("block_end", "variable_end", "comment_end"):
            parts.append(_JINJA_MARK)
        elif kind == "data" and not inside_trans:
            parts.append(value)
        if kind not in ("block_begin", "variable_begin", "comment_begin", "name", "whitespace"):
            tag.append(kind)
    parser = _Text()
    parser.feed("".join(parts))
    parser.close()
    return parser.words


def _fields(text: str) -> set[str]:
    return set(re.findall(r"\{\w*\}|%\(\w+\)s", text))


def test_every_marked_text_has_its_english_translation() -> None:
    extracted, catalog = _extracted(), _catalog()
    assert len(extracted) > 100
    missing = [f"{where}: {msgid!r}" for msgid, where in extracted.items() if not _translated(catalog.get(msgid))]
    assert not missing, ("texts without English in locale/en/LC_MESSAGES/messages.po (run pybabel extract and "
                         "update, see the gateway README):\n" + "\n".join(missing))


def test_no_template_shows_text_that_is_not_marked_for_translation() -> None:
    """A new page's texts cannot silently stay Polish: every word a template shows is in `_()` or `{% trans %}`
    (texts passed to macros as string literals are not seen here: mark them `_("…")` too)."""
    unmarked = {}
    for path in sorted((GATEWAY / "templates").rglob("*.html")):
        words = _unmarked_words(path.read_text())
        if words:
            unmarked[str(path.relative_to(ROOT))] = words
    assert not unmarked, "\n".join(f"{path}: {words}" for path, words in unmarked.items())


def test_translations_keep_the_fields_of_their_text() -> None:
    wrong = []
    for key, english in _catalog().items():
        msgid = key if not isinstance(key, tuple) or isinstance(english, tuple) else key[1]  # (context, msgid)
        for source, translated in zip(*((msgid, english) if isinstance(msgid, tuple) else ((msgid,), (english,))),
                                      strict=True):
            if _fields(source) != _fields(translated):
                wrong.append(f"{source!r} → {translated!r}")
    assert not wrong, "\n".join(wrong)


def test_english_catalog_is_read_and_polish_needs_none() -> None:
    i18n.use("en")
    assert i18n.gettext("Sprawy") == "Cases"
    i18n.use("pl")
    assert i18n.gettext("Sprawy") == "Sprawy"
    assert i18n.use("de") == "pl"  # an unknown language falls back to Polish


@pytest.mark.parametrize(("language", "money", "amount", "percent", "day", "moment"), [
    ("pl", "1\u00a0273,05\u00a0zł", "1\u00a0273,05", "66,7 %", "29.11.2026", "29.11.2026 15:05"),
    ("en", "PLN\u00a01,273.05", "1,273.05", "66.7%", "29/11/2026", "29/11/2026 15:05"),
])
def test_formats_per_language(language: str, money: str, amount: str, percent: str, day: str,
                              moment: str) -> None:
    i18n.use(language)
    try:
        assert fmt.money(Decimal("1273.05")) == money
        assert fmt.amount("1273.05") == amount
        assert fmt.percent("0.6667") == percent
        assert fmt.day(date(2026, 11, 29)) == fmt.day("2026-11-29") == day
        assert fmt.timestamp(datetime(2026, 11, 29, 14, 5, tzinfo=UTC)) == moment  # Warsaw: UTC+1 in November
        assert dates_pl({"start": "2026-11-29"}, ["start"]) == {"start": day}
    finally:
        i18n.use("pl")


@pytest.mark.parametrize(("language", "typed", "amount"), [
    ("pl", "1 200,00", "1200.00"), ("pl", "1 200,00 zł", "1200.00"), ("pl", "1200.5", "1200.5"),
    ("pl", "1,200", None),  # a thousand and two hundred, or one and a fifth: asked again
    ("en", "1,200.00", "1200.00"), ("en", "PLN 1,200.50", "1200.50"), ("en", "1,200", "1200"),
    ("en", "12,345,678", "12345678"), ("en", "1200.5", "1200.5"), ("en", "1,20", None),
])
def test_amounts_are_read_the_languages_way(language: str, typed: str, amount: str | None) -> None:
    parsed = fmt.parse_amount(typed, language=language)
    assert parsed == (None if amount is None else Decimal(amount))
    assert fmt.form_amount(typed, language=language) == (typed if amount is None else str(parsed))


def test_dates_are_read_day_first_in_either_language() -> None:
    assert form_date("29.11.2026") == form_date("29/11/2026") == form_date("2026-11-29") == "2026-11-29"
    # A page's date filter in its address (the case list's "due from", the audit log's "since"): the same.
    assert query_day("29/11/2026") == query_day("29.11.2026") == "2026-11-29"
    assert query_day("") is None and query_day("  ") is None


def test_domain_messages_follow_the_language() -> None:
    nip = "NIP checksum does not match: last digit should be 5"
    i18n.use("en")
    try:
        assert message_pl(nip) == "Wrong NIP checksum: the last digit should be 5; check for a typo."
        assert message_pl("a llc is not registered in KRS").startswith("A “limited liability company")
        assert message_pl("end 2026-01-31 is before start 2026-02-01") == (
            "The end (31/01/2026) is before the start (01/02/2026).")
    finally:
        i18n.use("pl")
    assert message_pl(nip) == "Błędna suma kontrolna NIP: ostatnia cyfra powinna być 5; sprawdź, czy nie ma literówki."


def test_one_polish_text_says_two_english_ones_by_its_context() -> None:
    """"Po terminie" is a case list's tab ("Overdue": the cases past their day) and a report's column ("Late": the
    cases done after it): the tab takes a context (`NC_`, msgctxt "cases tab")."""
    from services.gateway.cases.pages import TAB_PL

    i18n.use("en")
    try:
        assert TAB_PL["overdue"] == "Overdue"
        assert i18n.gettext("Po terminie") == "Late"
        assert i18n.pgettext("cases tab", "Po terminie") == "Overdue"
    finally:
        i18n.use("pl")
    assert TAB_PL["overdue"] == i18n.gettext("Po terminie") == "Po terminie"
    assert ("cases tab", "Po terminie") in _extracted()  # babel.cfg's keywords find NC_


def test_power_warnings_and_report_headers_follow_the_language() -> None:
    from services.gateway import powers
    from services.gateway.reports import export

    upl = [{"kind": "UPL-1", "granted_on": "2026-01-01", "valid_until": "2027-01-10", "revoked_on": None}]
    due, today = date(2026, 12, 25), date(2026, 11, 29)
    report = {"today": "2026-11-29", "by_assignee": [{"assignee_name": None, "assignee_login": None, "overdue": 2,
                                                      "oldest_due": "2026-11-02"}],
              "by_client": [], "by_contract": []}
    i18n.use("en")
    try:
        assert [w["text"] for w in powers.warnings([], ["UPL-1"], due, today)] == [
            "No UPL-1 power of attorney — e-declarations cannot be filed"]
        assert [w["text"] for w in powers.warnings(upl, ["UPL-1"], due, today)] == [
            "The UPL-1 power of attorney expires on 10/01/2027"]
        person = export.overdue_tables(report)[0]
        assert (person.title, person.headers) == ("By person", ["Person", "Login", "Overdue", "Oldest due date"])
        assert person.rows[0][0] == "(unassigned)"
    finally:
        i18n.use("pl")
    assert [w["text"] for w in powers.warnings(upl, ["UPL-1"], due, today)] == [
        "Pełnomocnictwo UPL-1 wygasa 10.01.2027"]
    assert export.overdue_tables(report)[0].headers[0] == "Osoba"


def test_the_date_picker_words_come_from_the_catalog() -> None:
    import json

    from services.gateway.web import calendar_texts

    i18n.use("en")
    try:
        english = json.loads(calendar_texts())
    finally:
        i18n.use("pl")
    polish = json.loads(calendar_texts())
    assert (english["months"][10], english["monthsOf"][10], english["days"][0], english["open"],
            english["separator"]) == ("November", "November", "Mo", "Choose a date from the calendar", "/")
    assert (polish["months"][10], polish["monthsOf"][10], polish["days"][0], polish["separator"]) == (
        "listopad", "listopada", "Pn", ".")
    assert all(len(english[key]) == len(polish[key]) for key in ("months", "monthsOf", "days", "dayNames"))
