"""The English UI: every text the templates and the gateway's code mark for translation has its English in the
catalog, and numbers, dates and amounts are written and read each language's way."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from services.gateway import format as fmt
from services.gateway import i18n
from services.gateway.web import dates_pl, form_date, message_pl

ROOT = Path(__file__).resolve().parents[3]
GATEWAY = ROOT / "services" / "gateway"
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def _extracted() -> dict[str, str]:
    """{msgid: where} of every marked text, as `pybabel extract -F services/gateway/babel.cfg` finds them."""
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(GATEWAY), METHODS, options_map=OPTIONS):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, f"services/gateway/{filename}:{lineno}")
    return found


def _catalog() -> dict[str, str]:
    with i18n.catalog_path("en").open("rb") as po:
        return {m.id: m.string for m in read_po(po) if m.id and not m.fuzzy}


def _fields(text: str) -> set[str]:
    return set(re.findall(r"\{\w*\}|%\(\w+\)s", text))


def test_every_marked_text_has_its_english_translation() -> None:
    extracted, catalog = _extracted(), _catalog()
    assert len(extracted) > 100
    missing = [f"{where}: {msgid!r}" for msgid, where in extracted.items() if not catalog.get(msgid)]
    assert not missing, ("texts without English in locale/en/LC_MESSAGES/messages.po (run pybabel extract and "
                         "update, see the gateway README):\n" + "\n".join(missing))


def test_translations_keep_the_fields_of_their_text() -> None:
    catalog = _catalog()
    wrong = [f"{msgid!r} → {english!r}" for msgid, english in catalog.items() if _fields(msgid) != _fields(english)]
    assert not wrong, "\n".join(wrong)


def test_english_catalog_is_read_and_polish_needs_none() -> None:
    i18n.use("en")
    assert i18n.gettext("Sprawy") == "Cases"
    i18n.use("pl")
    assert i18n.gettext("Sprawy") == "Sprawy"
    assert i18n.use("de") == "pl"  # an unknown language falls back to Polish


@pytest.mark.parametrize(("language", "money", "amount", "percent", "day", "moment"), [
    ("pl", "1\u00a0273,05\u00a0zł", "1\u00a0273,05", "66,7\u00a0%", "29.11.2026", "29.11.2026 15:05"),
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
