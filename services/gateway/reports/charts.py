"""Bar charts of the financial summary as geometry for a server-rendered SVG (templates/reports/_chart.html): no
script, no inline style (colours come from classes in static/terminarz.css), so they render under the CSP.

`bar_chart` lays out one bar per month, each bar a stack of segments (one per series), with a scale of round
steps on the left and the month under each bar; a segment's `<title>` says its value in Polish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

from services.gateway import i18n
from services.gateway.format import money_pl

WIDTH, HEIGHT = 540, 250
LEFT, RIGHT, TOP, BOTTOM = 96, 10, 14, 34  # LEFT: room for the scale's longest label, "PLN 300,000"
MONTHS_PL = ("sty", "lut", "mar", "kwi", "maj", "cze", "lip", "sie", "wrz", "paź", "lis", "gru")
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _months() -> tuple[str, ...]:
    """Short month names in the page's language."""
    return MONTHS_EN if i18n.current() == "en" else MONTHS_PL


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass
class Chart:
    title: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT  # where the plot begins: the scale's labels end left of it
    segments: list[Segment] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)  # (y, label) of the scale
    labels: list[tuple[float, str, str]] = field(default_factory=list)  # (x of the bar's centre, month, year)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css class, what)
    empty: bool = True


def _step(top: Decimal) -> Decimal:
    """A round step (1, 2 or 5 × 10ⁿ) that splits 0..top into at most five parts."""
    if top <= 0:
        return Decimal(1)
    magnitude = Decimal(10) ** (len(str(int(top))) - 1)
    for factor in (Decimal("0.1"), Decimal("0.2"), Decimal("0.5"), Decimal(1), Decimal(2), Decimal(5), Decimal(10)):
        if top / (factor * magnitude) <= 5:
            return factor * magnitude
    return Decimal(10) * magnitude


def month_label(month: str) -> str:
    year, number = month.split("-")
    return f"{_months()[int(number) - 1]} {year[2:]}"


def bar_chart(title: str, months: list[str], series: list[tuple[str, str, list[Decimal]]],
              *, marked: set[str] | None = None) -> Chart:
    """`series`: (css class, name, one value per month), stacked in that order; a month in `marked` has its bars
    drawn hatched (e.g. a provisional fee)."""
    chart = Chart(title, legend=[(css, name) for css, name, _ in series])
    totals = [sum((values[i] for _, _, values in series), Decimal(0)) for i in range(len(months))]
    top = max(totals, default=Decimal(0))
    chart.empty = top <= 0
    step = _step(top)
    scale_top = step * max(Decimal(1), (top / step).to_integral_value(rounding=ROUND_CEILING))
    plot_h, plot_w = HEIGHT - TOP - BOTTOM, WIDTH - LEFT - RIGHT
    slot = plot_w / max(1, len(months))

    def y_of(value: Decimal) -> float:
        return TOP + plot_h - float(value / scale_top) * plot_h

    tick = Decimal(0)
    while tick <= scale_top:
        chart.ticks.append((round(y_of(tick), 1), money_pl(tick, cents=False)))
        tick += step
    for i, month in enumerate(months):
        x = LEFT + i * slot + slot * 0.15
        # The month under each bar; its year under the first bar and under each January.
        year = month[:4] if i == 0 or month.endswith("-01") else ""
        chart.labels.append((round(LEFT + i * slot + slot / 2, 1), _months()[int(month[5:]) - 1], year))
        base = Decimal(0)
        for css, name, values in series:
            value = values[i]
            if value <= 0:
                continue
            y_top, y_bottom = y_of(base + value), y_of(base)
            hatch = " marked" if marked and month in marked else ""
            chart.segments.append(Segment(round(x, 1), round(y_top, 1), round(slot * 0.7, 1),
                                          round(y_bottom - y_top, 1), css + hatch,
                                          f"{month_label(month)} · {name}: {money_pl(value)}"))
            base += value
    return chart
