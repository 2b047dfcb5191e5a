"""Money as people write it: "1 200,00 zł" in Polish, "PLN 1,200.00" in English; always Decimal inside."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

NBSP = "\u00a0"
CENT = Decimal("0.01")

# Digits with optional thousands separators (space, non-breaking or narrow space, or a dot before a comma
# decimal), an optional decimal part after a comma or a dot, an optional currency word.
_GROUPS = re.compile(r"^-?\d{1,3}([ \u00a0\u202f.]\d{3})+(,\d{1,2})?$"  # 1 200,50 / 1.200,50
                     r"|^-?\d{1,3}(,\d{3})+(\.\d{1,2})?$")  # 1,200.50
_PLAIN = re.compile(r"^-?\d+([.,]\d{1,2})?$")
_CURRENCY = re.compile(r"\s*(zł|zl|PLN)\.?\s*$|^\s*PLN\s*", re.IGNORECASE)


def format_amount(amount: Decimal | str | int, lang: str = "pl", *, cents: bool = True) -> str:
    """1234.5 → `1 234,50` (Polish: non-breaking thousands, comma) or `1,234.50` (English), no currency;
    `cents=False` rounds to whole złoty (a chart's scale)."""
    places = 2 if cents else 0
    text = f"{Decimal(str(amount)).quantize(CENT if cents else Decimal(1), rounding=ROUND_HALF_UP):,.{places}f}"
    return text if lang == "en" else text.replace(",", NBSP).replace(".", ",")


def format_pln(amount: Decimal | str | int, lang: str = "pl", *, cents: bool = True) -> str:
    """1234.5 → `1 234,50 zł` (Polish) or `PLN 1,234.50` (English)."""
    text = format_amount(amount, lang, cents=cents)
    return f"PLN{NBSP}{text}" if lang == "en" else f"{text}{NBSP}zł"


def parse_amount(text: str) -> Decimal | None:
    """An amount as typed in a form — "1 200,00", "1200.00", "1.200,50 zł", "PLN 1,200.50" — or None when it is
    not one (the caller then says so next to the field)."""
    cleaned = _CURRENCY.sub("", text.strip()).strip()
    if re.match(r"^-?\d{1,3},\d{3}$", cleaned):
        return None  # "1,200": a thousand and two hundred in English, one and a fifth in Polish — ask again
    if _PLAIN.match(cleaned):
        digits = cleaned.replace(",", ".")
    elif _GROUPS.match(cleaned):
        decimal_mark = "," if re.search(r",\d{1,2}$", cleaned) else "."
        whole, _, fraction = cleaned.rpartition(decimal_mark) if re.search(r"[.,]\d{1,2}$", cleaned) else (
            cleaned, "", "")
        digits = re.sub(r"[^\d-]", "", whole) + (f".{fraction}" if fraction else "")
    else:
        return None
    try:
        return Decimal(digits)
    except InvalidOperation:
        return None


def form_amount(text: str) -> str:
    """A form's amount field for the API: the Decimal as "1200.00" when it reads as an amount, else as typed (the
    API names what is wrong)."""
    value = parse_amount(text)
    return text if value is None else str(value)
