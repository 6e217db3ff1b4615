"""Small interactive charts for ``index.html``, as inline SVG and HTML drawn here from the
report's numbers: line panels (a value per point on hover, bands, thresholds) and a heatmap
table. They read without JavaScript (each point's value is also an SVG ``<title>``); the
page's script (``explore.js``) adds the tooltips, sorting and the mask browser. No network,
no library."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 300, 216
"""A panel's SVG view box in user units (it scales to the panel's width on the page)."""
MARGIN = {"left": 44, "right": 8, "top": 24, "bottom": 38}


@dataclass
class Series:
    """One line of a panel.

    Attributes:
        name: legend name.
        colour: CSS colour.
        points: (x, y) per point, in data units.
        tips: the text shown on hover, one per point.
        band: (low, high) per point: a shaded band (or an error bar for a single point).
        dash: draw the line dashed.
        markers: draw a visible dot at each point (else only a hover target).
        targets: indices of the points that get a hover target (None: every point).
    """

    name: str
    colour: str
    points: Sequence[tuple[float, float]]
    tips: Sequence[str]
    band: Sequence[tuple[float, float]] | None = None
    dash: bool = False
    markers: bool = True
    targets: Sequence[int] | None = None


@dataclass
class Panel:
    """One chart: axes, lines, an optional shaded y band and vertical thresholds.

    Attributes:
        title: above the plot.
        x_label: below the x axis.
        y_label: beside the y axis.
        series: the lines.
        y_band: (low, high, label): a grey band across the plot.
        x_lines: (x, label) per vertical dashed line.
        percent: y values are shares, ticks in %.
        y_range: fixed (low, high) of the y axis (None: from the data).
        x_range: fixed (low, high) of the x axis (None: from the data).
        x_log: a log x axis (ticks at 1, 2 and 5 times powers of ten).
        legend: name the lines in a row between the title and the plot (short names).
        legend_title: the row's heading.
    """

    title: str
    x_label: str
    y_label: str
    series: Sequence[Series]
    y_band: tuple[float, float, str] | None = None
    x_lines: Sequence[tuple[float, str]] = field(default_factory=tuple)
    percent: bool = False
    y_range: tuple[float, float] | None = None
    x_range: tuple[float, float] | None = None
    x_log: bool = False
    legend: bool = False
    legend_title: str = ""


def log_ticks(low: float, high: float) -> list[float]:
    """1, 2 and 5 times powers of ten inside [low, high] (low > 0).

    Returns:
        Ascending ticks.
    """
    ticks = []
    for power in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1):
        for m in (1, 2, 5):
            value = round(m * 10.0**power, 12)
            if low * (1 - 1e-9) <= value <= high * (1 + 1e-9):
                ticks.append(value)
    return ticks


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high] (steps of 1, 2, 2.5 or 5 x 10^k).

    Returns:
        Ascending ticks, the first <= low and the last >= high.
    """
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw - 1e-12)
    first = math.floor(low / step + 1e-9) * step
    ticks: list[float] = []
    value = first
    while value < high + step - 1e-9 and len(ticks) < 4 * count:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high - 1e-9:
        ticks.append(round(value, 12))
    return ticks


def _tick_text(value: float, percent: bool) -> str:
    if percent:
        return f"{100 * value:.0f}%"
    return f"{value:g}"


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def _extent(panel: Panel) -> tuple[tuple[float, float], tuple[float, float]]:
    xs = [x for s in panel.series for x, _ in s.points]
    ys = [y for s in panel.series for _, y in s.points]
    for s in panel.series:
        for lo, hi in s.band or ():
            ys += [lo, hi]
    ys = [y for y in ys if math.isfinite(y)]
    xs = [x for x in xs if math.isfinite(x)]
    x_range = panel.x_range or ((min(xs), max(xs)) if xs else (0.0, 1.0))
    if panel.y_range:
        y_range = panel.y_range
    else:
        low, high = (min(ys), max(ys)) if ys else (0.0, 1.0)
        if panel.y_band:
            low, high = min(low, panel.y_band[0]), max(high, panel.y_band[1])
        y_range = (low, high)
    return x_range, y_range


def panel_svg(panel: Panel) -> str:
    """One panel as an inline ``<svg>`` (view box :data:`WIDTH` x :data:`HEIGHT`).

    Returns:
        The SVG markup.
    """
    (x0, x1), (y0, y1) = _extent(panel)
    if x1 <= x0:
        x0, x1 = x0 - 0.05, x1 + 0.05
    y_ticks = nice_ticks(y0, y1) if not panel.y_range else nice_ticks(*panel.y_range)
    y0, y1 = (y_ticks[0], y_ticks[-1]) if not panel.y_range else panel.y_range
    if panel.x_log:
        x0, x1 = max(x0, 1e-12), max(x1, 2e-12)
        x_ticks = log_ticks(x0, x1)
    else:
        pad = 0.04 * (x1 - x0)
        x0, x1 = (x0 - pad, x1 + pad) if not panel.x_range else (x0, x1)
        x_ticks = [t for t in nice_ticks(x0, x1, 6) if x0 - 1e-9 <= t <= x1 + 1e-9]
    left, right = MARGIN["left"], WIDTH - MARGIN["right"]
    top, bottom = MARGIN["top"] + (14 if panel.legend else 0), HEIGHT - MARGIN["bottom"]
    scale = (lambda x: math.log10(max(x, 1e-12))) if panel.x_log else (lambda x: x)
    a, b = scale(x0), scale(x1)

    def sx(x: float) -> float:
        return round(left + (scale(x) - a) / (b - a) * (right - left), 2)

    def sy(y: float) -> float:
        return round(bottom - (y - y0) / (y1 - y0) * (bottom - top), 2)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{_attr(panel.title)}">',
        f'<text class="title" x="{left}" y="14">{html.escape(panel.title)}</text>',
    ]
    if panel.y_band:
        low, high, label = panel.y_band
        band_top, band_bottom = sy(min(high, y1)), sy(max(low, y0))
        parts.append(
            f'<rect class="yband" x="{left}" y="{band_top}" width="{right - left}" '
            f'height="{band_bottom - band_top}">'
            f"<title>{html.escape(label)}</title></rect>"
        )
    for t in y_ticks:
        if y0 - 1e-9 <= t <= y1 + 1e-9:
            y = sy(t)
            parts.append(f'<line class="grid" x1="{left}" x2="{right}" y1="{y}" y2="{y}"/>')
            parts.append(
                f'<text class="tick" x="{left - 4}" y="{y + 3.5}" text-anchor="end">'
                f"{_tick_text(t, panel.percent)}</text>"
            )
    for t in x_ticks:
        x = sx(t)
        parts.append(f'<line class="grid" x1="{x}" x2="{x}" y1="{top}" y2="{bottom}"/>')
        parts.append(
            f'<text class="tick" x="{x}" y="{bottom + 13}" text-anchor="middle">{t:g}</text>'
        )
    parts.append(
        f'<path class="axis" d="M{left},{top}V{bottom}H{right}"/>'
        f'<text class="label" x="{(left + right) / 2}" y="{HEIGHT - 6}" text-anchor="middle">'
        f"{html.escape(panel.x_label)}</text>"
        f'<text class="label" transform="translate(11,{(top + bottom) / 2}) rotate(-90)" '
        f'text-anchor="middle">{html.escape(panel.y_label)}</text>'
    )
    for x, label in panel.x_lines:
        if x0 <= x <= x1:
            # "← easy" reads left of its line, "hard →" right of it.
            before = label.startswith("←")
            at, anchor = (sx(x) - 3, "end") if before else (sx(x) + 3, "start")
            parts.append(
                f'<line class="threshold" x1="{sx(x)}" x2="{sx(x)}" y1="{top}" y2="{bottom}"/>'
                f'<text class="note" x="{at}" y="{top + 9}" text-anchor="{anchor}">'
                f"{html.escape(label)}</text>"
            )
    for series in panel.series:
        parts.append(_series_svg(series, sx, sy))
    if panel.legend:  # one row between the title and the plot: it covers no line
        x = 4.0
        if panel.legend_title:
            parts.append(
                f'<text class="note" x="{x}" y="30">{html.escape(panel.legend_title)}</text>'
            )
            x += 6.0 * len(panel.legend_title) + 6
        for series in panel.series:
            dash = ' stroke-dasharray="5 3"' if series.dash else ""
            parts.append(
                f'<line x1="{x}" x2="{x + 14}" y1="26.5" y2="26.5" '
                f'stroke="{_attr(series.colour)}" stroke-width="2.2"{dash}/>'
                f'<text class="note" x="{x + 17}" y="30">{html.escape(series.name)}</text>'
            )
            x += 17 + 5.6 * len(series.name) + 9
    parts.append("</svg>")
    return "".join(parts)


def _series_svg(series: Series, sx, sy) -> str:
    colour = _attr(series.colour)
    name = _attr(series.name)
    points = [(x, y) for x, y in series.points]
    out = [f'<g class="series" data-series="{name}">']
    if series.band and len(points) > 1:
        upper = " ".join(
            f"{sx(x)},{sy(hi)}" for (x, _), (_, hi) in zip(points, series.band, strict=True)
        )
        lower = " ".join(
            f"{sx(x)},{sy(lo)}"
            for (x, _), (lo, _) in reversed(list(zip(points, series.band, strict=True)))
        )
        out.append(f'<polygon class="band" fill="{colour}" points="{upper} {lower}"/>')
    if len(points) > 1:
        line = " ".join(f"{sx(x)},{sy(y)}" for x, y in points if math.isfinite(y))
        dash = ' stroke-dasharray="5 3"' if series.dash else ""
        out.append(f'<polyline class="line" stroke="{colour}"{dash} points="{line}"/>')
    elif series.band:  # one setting: a point with an error bar
        (x, _), (lo, hi) = points[0], series.band[0]
        out.append(
            f'<path class="bar" stroke="{colour}" d="M{sx(x)},{sy(lo)}V{sy(hi)}'
            f'M{sx(x) - 3},{sy(lo)}h6M{sx(x) - 3},{sy(hi)}h6"/>'
        )
    css = "pt" if series.markers or len(points) == 1 else "hit"
    targets = set(range(len(points)) if series.targets is None else series.targets)
    for k, ((x, y), tip) in enumerate(zip(points, series.tips, strict=True)):
        if not math.isfinite(y) or k not in targets:
            continue
        shape = "rect" if len(points) == 1 else "circle"
        geometry = (
            f'x="{sx(x) - 3.2}" y="{sy(y) - 3.2}" width="6.4" height="6.4" '
            f'transform="rotate(45 {sx(x)} {sy(y)})"'
            if shape == "rect"
            else f'cx="{sx(x)}" cy="{sy(y)}" r="{2.6 if css == "pt" else 3.4}"'
        )
        # The tip is written once, as the SVG <title> (the tooltip without JavaScript); the
        # page's script moves it into data-tip.
        out.append(
            f'<{shape} class="{css}" {geometry} fill="{colour}">'
            f"<title>{html.escape(tip)}</title></{shape}>"
        )
    out.append("</g>")
    return "".join(out)


def legend_html(entries: Sequence[tuple[str, str, bool]]) -> str:
    """A row of legend entries (name, colour, dashed) above a chart.

    Returns:
        HTML.
    """
    items = []
    for name, colour, dash in entries:
        stroke = ' stroke-dasharray="5 3"' if dash else ""
        items.append(
            f'<li><svg width="22" height="10" aria-hidden="true"><line x1="1" x2="21" y1="5" '
            f'y2="5" stroke="{_attr(colour)}" stroke-width="2.4"{stroke}/></svg>'
            f"{html.escape(name)}</li>"
        )
    return f'<ul class="legend">{"".join(items)}</ul>'


def chart_html(panels: Sequence[Panel], legend: Sequence[tuple[str, str, bool]] = ()) -> str:
    """Panels side by side (they wrap to one column on a phone), the legend above them.

    Returns:
        HTML.
    """
    cells = "".join(f'<div class="panel">{panel_svg(p)}</div>' for p in panels)
    return f'<div class="chart-block">{legend_html(legend) if legend else ""}' + (
        f'<div class="panels">{cells}</div></div>'
    )


def heat_colour(value: float, vmin: float = -1.0, vmax: float = 1.0) -> tuple[str, str]:
    """Background and text colour of a heatmap cell (matplotlib's RdBu_r, as the PNG).

    Returns:
        (background hex, text colour).
    """
    from matplotlib import colormaps, colors

    if not math.isfinite(value):
        return "#ffffff", "#222"
    share = min(max((value - vmin) / (vmax - vmin), 0.0), 1.0)
    return colors.to_hex(colormaps["RdBu_r"](share)), "#fff" if abs(value) > 0.6 else "#111"
