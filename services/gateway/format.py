"""Numbers, dates and times the way the page's language writes them (services/gateway/i18n.py).

| what       | Polish (`pl`)         | English (`en`)          |
|------------|-----------------------|-------------------------|
| money      | `1 273,05 zł`         | `PLN 1,273.05`          |
| amount     | `1 273,05`            | `1,273.05`              |
| percent    | `66,7 %`              | `66.7%`                 |
| date       | `29.11.2026`          | `29/11/2026` (day first, as in the UK; never month first) |
| timestamp  | `29.11.2026 14:05`    | `29/11/2026 14:05` — both in the office's time, Europe/Warsaw |
| month      | `listopad 2026`       | `November 2026` (a report's month to choose; `2026-11` in addresses) |
| in a month | `w listopadzie 2026`  | `in November 2026` (a heading's "in that month": Polish needs the locative) |

The same date format is what a date input shows and its hint says; a typed date is read day first with a dot,
dash, slash or space between the parts (`form_date` in web.py). The filters were named `money_pl`,
`amount_pl`, `percent_pl`, `date_pl`, `timestamp_pl` before there was English: those names remain, as aliases
that follow the page's language too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from services.common.clock import WARSAW
from services.common.money import format_amount, format_pln
from services.common.money import parse_amount as _parse_amount
from services.common.months import IN_MONTH_PL, MONTHS_EN, MONTHS_PL
from services.gateway import i18n

DATE_FORMAT = {"pl": "%d.%m.%Y", "en": "%d/%m/%Y"}
# What a date input's hint and placeholder say (the Polish "RRRR": rok).
DATE_HINT = {"pl": "DD.MM.RRRR", "en": "DD/MM/YYYY"}
MONTH_NAMES = {"pl": MONTHS_PL, "en": MONTHS_EN}
# "In <month>" with its preposition (the Polish locative); English only adds "in".
IN_MONTH = {"pl": IN_MONTH_PL, "en": tuple(f"in {name}" for name in MONTHS_EN)}


def money(value: Any, *, cents: bool = True, language: str | None = None) -> str:
    """PLN in the page's language: 1273.05 → "1 273,05 zł" / "PLN 1,273.05" (non-breaking spaces); none → ""."""
    if value is None or value == "":
        return ""
    return format_pln(value, language or i18n.current(), cents=cents)


def amount(value: Any, *, cents: bool = True, language: str | None = None) -> str:
    """An amount without the currency: "1 273,05" / "1,273.05"; none → ""."""
    if value is None or value == "":
        return ""
    return format_amount(value, language or i18n.current(), cents=cents)


def percent(share: Any, *, language: str | None = None) -> str:
    """A fraction as a percent with one decimal: "0.6667" → "66,7 %" / "66.7%"; none → "—"."""
    if share is None or share == "":
        return "—"
    value = (Decimal(str(share)) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    if (language or i18n.current()) == "en":
        return f"{value:f}%"
    return f"{value:f}".replace(".", ",") + " %"


def day(value: Any, *, language: str | None = None) -> str:
    """A date (or ISO text) as the language writes it; "" for none or what is not a date."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return ""
    if not isinstance(value, date):
        return ""
    return value.strftime(DATE_FORMAT.get(language or i18n.current(), DATE_FORMAT["pl"]))


def _year_month(value: Any) -> tuple[int, int] | None:
    """A month given as `YYYY-MM` or a date, as (year, month); None for anything else."""
    if isinstance(value, date):
        return value.year, value.month
    found = re.fullmatch(r"(\d{4})-(\d{2})", str(value or ""))
    if not found or not 1 <= int(found.group(2)) <= 12:
        return None
    return int(found.group(1)), int(found.group(2))


def month(value: Any, *, language: str | None = None) -> str:
    """A month (`YYYY-MM` or a date) named as the language says it: "listopad 2026" / "November 2026"; anything else
    as given."""
    return _month_words(value, MONTH_NAMES, language)


def in_month(value: Any, *, language: str | None = None) -> str:
    """"In" a month (`YYYY-MM` or a date), preposition included: "w listopadzie 2026", "we wrześniu 2026" /
    "in November 2026" — for a heading such as "Całe biuro w listopadzie 2026"; anything else as given."""
    return _month_words(value, IN_MONTH, language)


def _month_words(value: Any, words: Mapping[str, Sequence[str]], language: str | None) -> str:
    found = _year_month(value)
    if found is None:
        return str(value or "")
    year, number = found
    return f"{words.get(language or i18n.current(), words['pl'])[number - 1]} {year}"


def timestamp(value: Any, *, language: str | None = None) -> str:
    """A timestamp (UTC, ISO text or datetime) as the office's local time with the language's date; "" for none."""
    if not value:
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(WARSAW)
    return f"{day(local.date(), language=language)} {local:%H:%M}"


def date_hint(language: str | None = None) -> str:
    return DATE_HINT.get(language or i18n.current(), DATE_HINT["pl"])


def parse_amount(text: str, *, language: str | None = None) -> Decimal | None:
    """An amount as typed in the language's way: "1 200,00" (Polish) or "1,200.00" (English); a plain "1200.5"
    or "1200,5" in either. What reads two ways ("1,200": 1200 in English, 1.2 in Polish) is read the language's
    way in English and refused in Polish (services/common/money.py); a decimal comma ("1,20") is refused in
    English."""
    if (language or i18n.current()) == "en":
        cleaned = text.strip().replace("\u00a0", " ")
        stripped = cleaned.removeprefix("PLN").strip()
        if re.fullmatch(r"-?\d+,\d{1,2}", stripped):
            return None  # "1,20": a comma is for thousands in English — asked again rather than guessed
        parts = stripped.lstrip("-").split(",")
        if len(parts) > 1 and len(parts[0]) <= 3 and all(len(p) == 3 and p.isdigit() for p in parts[1:]):
            try:  # "1,200" or "12,345,678": thousands
                return Decimal(stripped.replace(",", ""))
            except InvalidOperation:
                return None
    return _parse_amount(text)


def form_amount(text: str, *, language: str | None = None) -> str:
    """A form's amount field for the API: the Decimal as "1200.00" when it reads as an amount in the page's
    language, else as typed (the API names what is wrong)."""
    value = parse_amount(text, language=language)
    return text if value is None else str(value)


# Deprecated names, kept so templates and modules written before English still work (they follow the language).
money_pl = money
percent_pl = percent
