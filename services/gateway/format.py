"""Numbers the Polish way for pages and charts: "1 273,05 zł", "66,7 %"."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def _grouped(whole: int) -> str:
    return f"{whole:,}".replace(",", " ")


def money_pl(value: Any, *, cents: bool = True) -> str:
    """PLN with a space between thousands and a decimal comma: 1273.05 → "1 273,05 zł"; none → ""."""
    if value is None or value == "":
        return ""
    amount = Decimal(str(value)).quantize(Decimal("0.01") if cents else Decimal(1), rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    whole, _, fraction = f"{abs(amount):f}".partition(".")
    text = _grouped(int(whole)) + (f",{fraction}" if cents else "")
    return f"{sign}{text} zł"


def percent_pl(share: Any) -> str:
    """A fraction as a percent with one decimal: "0.6667" → "66,7 %"; none → "—"."""
    if share is None or share == "":
        return "—"
    value = (Decimal(str(share)) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{value:f}".replace(".", ",") + " %"
