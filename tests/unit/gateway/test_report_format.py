"""Money and shares the Polish way, months of a report (and their names in the page's language), and the chart's
scale."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.common.months import month_range
from services.gateway.format import in_month, money_pl, month, percent_pl
from services.gateway.reports.charts import bar_chart
from services.gateway.reports.pages import month_choices


def test_money_and_shares_read_the_polish_way() -> None:
    assert money_pl("1273.05") == "1\u00a0273,05\u00a0zł"
    assert money_pl(Decimal("1234567.5")) == "1\u00a0234\u00a0567,50\u00a0zł"
    assert money_pl("-12.3") == "-12,30\u00a0zł"
    assert money_pl(None) == ""
    assert percent_pl("0.6667") == "66,7 %"
    assert percent_pl(None) == "—"


def test_a_reports_month_is_named_in_the_pages_language_and_chosen_from_a_list() -> None:
    assert month("2026-11", language="pl") == "listopad 2026"
    assert month("2026-01", language="en") == "January 2026"
    assert month(date(2026, 2, 14), language="pl") == "luty 2026"
    assert month("2026-13", language="en") == "2026-13"  # not a month: as given
    offered = month_choices(date(2026, 11, 30))
    assert (offered[0], offered[-1], len(offered)) == ("2026-12", "2023-12", 37)  # next month, 36 back
    assert month_choices(date(2026, 11, 30), "2019-05")[-1] == "2019-05"  # an address typed by hand stays chosen


def test_in_a_month_polish_says_the_locative_english_says_in() -> None:
    """"Całe biuro w listopadzie 2026", not "w miesiącu listopad 2026"; "we" before "wrześniu"."""
    said = [in_month(f"2026-{n:02d}", language="pl") for n in range(1, 13)]
    assert said == ["w styczniu 2026", "w lutym 2026", "w marcu 2026", "w kwietniu 2026", "w maju 2026",
                    "w czerwcu 2026", "w lipcu 2026", "w sierpniu 2026", "we wrześniu 2026", "w październiku 2026",
                    "w listopadzie 2026", "w grudniu 2026"]
    assert in_month("2026-11", language="en") == "in November 2026"
    assert in_month(date(2026, 9, 30), language="en") == "in September 2026"
    assert in_month("2026-13", language="pl") == "2026-13"  # not a month: as given


def test_a_report_covers_whole_months_within_a_limit() -> None:
    assert month_range(None, None, today=date(2026, 3, 9))[::11] == ["2025-04", "2026-03"]
    assert month_range("2025-12", "2026-02", today=date(2026, 3, 9)) == ["2025-12", "2026-01", "2026-02"]
    with pytest.raises(ValueError, match="comes after"):
        month_range("2026-03", "2026-01", today=date(2026, 3, 9))
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_range("2026-3", None, today=date(2026, 3, 9))


def test_bars_stack_within_the_plot_and_say_their_value() -> None:
    chart = bar_chart("Opłaty", ["2026-10", "2026-11"], [("a", "netto", [Decimal("1000"), Decimal("2150")]),
                                                         ("b", "VAT", [Decimal("0"), Decimal("494.50")])],
                      marked={"2026-11"})
    assert len(chart.segments) == 3 and not chart.empty
    tallest = chart.segments[1].height + chart.segments[2].height
    assert chart.segments[0].height < tallest
    assert all(s.y >= 0 and s.y + s.height <= chart.height for s in chart.segments)
    assert chart.segments[2].title == "lis 26 · VAT: 494,50\u00a0zł" and "marked" in chart.segments[2].css
    assert chart.ticks[0][1] == "0\u00a0zł"
