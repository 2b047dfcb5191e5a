"""Numbers the Polish way for pages and charts: "1 273,05 zł", "66,7 %"."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from services.common.money import format_pln


def money_pl(value: Any, *, cents: bool = True) -> str:
    """PLN the Polish way (services/common/money.py): 1273.05 → "1 273,05 zł" with non-breaking spaces; none → ""."""
    if value is None or value == "":
        return ""
    return format_pln(value, cents=cents)


def percent_pl(share: Any) -> str:
    """A fraction as a percent with one decimal: "0.6667" → "66,7 %"; none → "—"."""
    if share is None or share == "":
        return "—"
    value = (Decimal(str(share)) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{value:f}".replace(".", ",") + " %"
