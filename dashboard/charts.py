"""Geometry of the statistics charts; the templates draw it as SVG, so no script is needed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ColumnChart", "RowChart", "column_chart", "row_chart"]


@dataclass(frozen=True)
class Column:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str
    series: int


@dataclass(frozen=True)
class ColumnChart:
    """Columns per category, one colour per series, with a y axis of round numbers."""

    width: int
    height: int
    columns: list[Column]
    ticks: list[tuple[float, int]]
    labels: list[tuple[float, str]]
    series: list[str]
    baseline: float
    left: float


@dataclass(frozen=True)
class Row:
    y: float
    width: float
    value: int
    label: str


@dataclass(frozen=True)
class RowChart:
    """Horizontal bars with their labels: for rankings whose labels are long."""

    width: int
    height: int
    rows: list[Row]
    label_width: float
    row_height: float


def _nice_ceiling(value: int) -> int:
    """1, 2, 5, 10, 20, 50... at or above ``value``: a y axis people can read."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def column_chart(
    categories: Sequence[str],
    series: dict[str, Sequence[int]],
    *,
    width: int = 720,
    height: int = 220,
    label_every: int = 7,
) -> ColumnChart:
    """Grouped columns, one group per category; every ``label_every``-th category labelled."""
    left, bottom, top = 40.0, 24.0, 10.0
    plot_height = height - bottom - top
    top_value = _nice_ceiling(max((max(v, default=0) for v in series.values()), default=0))
    group = (width - left) / max(len(categories), 1)
    gap = group * 0.2
    column_width = (group - gap) / max(len(series), 1)
    columns = []
    for s, values in enumerate(series.values()):
        for i, value in enumerate(values):
            column_height = plot_height * value / top_value
            columns.append(
                Column(
                    x=round(left + i * group + gap / 2 + s * column_width, 2),
                    y=round(top + plot_height - column_height, 2),
                    width=round(max(column_width - 1, 1), 2),
                    height=round(column_height, 2),
                    value=value,
                    label=categories[i],
                    series=s,
                )
            )
    ticks = [
        (round(top + plot_height - plot_height * k / 4, 2), top_value * k // 4) for k in range(5)
    ]
    labels = [
        (round(left + i * group + group / 2, 2), categories[i])
        for i in range(0, len(categories), label_every)
    ]
    return ColumnChart(width, height, columns, ticks, labels, list(series), top + plot_height, left)


def row_chart(
    items: Sequence[tuple[str, int]], *, width: int = 720, row_height: float = 26
) -> RowChart:
    """One bar per item, longest for the largest value; labels shortened to fit."""
    label_width = width * 0.45
    top_value = max((value for _, value in items), default=0) or 1
    room = width - label_width - 50
    rows = [
        Row(
            y=i * row_height,
            width=round(max(room * value / top_value, 1), 2),
            value=value,
            label=label if len(label) <= 60 else label[:59] + "…",
        )
        for i, (label, value) in enumerate(items)
    ]
    return RowChart(width, int(row_height * max(len(rows), 1)), rows, label_width, row_height)
