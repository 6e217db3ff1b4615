"""The report page's interactive views, each drawn from the numbers the report wrote (the
summary, p2dist_cdf.csv, agreement.csv, loss_difficulty.csv) or from its masks (the mask
browser): inline SVG and HTML that read without JavaScript, with a value on every point."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from maskstats.metrics import REGISTRY
from maskstats.report.charts import Panel, Series, chart_html, heat_colour
from maskstats.report.settings import ReportSettings

if TYPE_CHECKING:  # pandas loads only when a report runs
    import pandas as pd

CHART_METRICS = ("density3", "invdist5", "nearest", "p2dist", "avgdist")
SIMMIM_BAND = (10.0, 20.0, "SimMIM's moderate AvgDist, 10–20 px")


def _colours(names) -> dict[str, str]:
    from maskstats.plot import strategy_colours

    return strategy_colours(list(names))


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def difficulty_chart(summary: pd.DataFrame) -> str:
    """Difficulty vs mask ratio: a panel per metric, a line per strategy (its mean over masks)
    with the 10–90% band over masks, from the summary's means and ``{metric}_q10`` /
    ``{metric}_q90`` columns (the numbers of summary.csv and of the PNG).

    Returns:
        HTML.
    """
    colours = _colours(summary["strategy"])
    panels = []
    for name in CHART_METRICS:
        if name not in summary.columns:
            continue
        info = REGISTRY[name]
        band = all(f"{name}_q{q}" in summary.columns for q in (10, 90))
        series = []
        for strategy, rows in summary.groupby("strategy", sort=False):
            rows = rows[np.isfinite(rows[name].to_numpy(np.float64))].sort_values("mask_ratio")
            if rows.empty:
                continue
            points = list(zip(rows["mask_ratio"], rows[name], strict=True))
            lows = rows[f"{name}_q10"] if band else rows[name]
            highs = rows[f"{name}_q90"] if band else rows[name]
            tips = [
                f"{strategy}, mask ratio {r:g}: {name} mean {_fmt(v)} {info.unit}"
                + (f" (10–90% of masks: {_fmt(lo)}–{_fmt(hi)})" if band else "")
                for (r, v), lo, hi in zip(points, lows, highs, strict=True)
            ]
            series.append(
                Series(
                    strategy,
                    colours[strategy],
                    points,
                    tips,
                    band=list(zip(lows, highs, strict=True)) if band else None,
                )
            )
        arrow = "harder ↑" if info.higher_is_harder else "easier ↑"
        panels.append(
            Panel(
                f"{name} ({arrow})",
                "mask ratio (masked share)",
                f"{name} [{info.unit}]",
                series,
                y_band=SIMMIM_BAND[:2] + (SIMMIM_BAND[2],) if name == "avgdist" else None,
            )
        )
    legend = [(name, colour, False) for name, colour in colours.items()]
    return chart_html(panels, legend)


HIT_EVERY = 4
"""A hover target on every 4th threshold of a distribution line (and on both thresholds)."""


def distribution_chart(cdf: pd.DataFrame, easy: float, hard: float) -> str:
    """The P²Dist distributions (p2dist_cdf.csv): a panel per strategy, a line per ratio in
    shades of the strategy's colour, the easy and hard thresholds marked.

    Args:
        cdf: :func:`maskstats.report.build.p2dist_cdf`'s table.
        easy: the easy threshold (patches).
        hard: the hard threshold (patches).

    Returns:
        HTML.
    """
    from maskstats.plot import ratio_shades

    colours = _colours(cdf["strategy"])
    lower, upper = float(cdf["p2dist"].min()), float(cdf["p2dist"].max())
    panels = []
    for strategy, rows in cdf.groupby("strategy", sort=False):
        shades = ratio_shades(colours[strategy], sorted(set(rows["mask_ratio"])))
        series = []
        for ratio, line in rows.groupby("mask_ratio"):
            xs, ys = line["p2dist"].to_numpy(), line["share"].to_numpy()
            keep = [
                k
                for k in range(len(xs))
                if k % HIT_EVERY == 0 or abs(xs[k] - easy) < 1e-12 or abs(xs[k] - hard) < 1e-12
            ]
            tips = [
                f"{strategy}, mask ratio {ratio:g}: {100 * ys[k]:.1f}% of masked patches have "
                f"P²Dist < {xs[k]:.2f}"
                for k in range(len(xs))
            ]
            series.append(
                Series(
                    f"{ratio:g}",
                    shades[float(ratio)],
                    list(zip(xs, ys, strict=True)),
                    tips,
                    markers=False,
                    targets=keep,
                )
            )
        panels.append(
            Panel(
                f"{strategy} masks",
                "P²Dist [patch], log scale (harder →)",
                "masked patches below",
                series,
                x_lines=((easy, "← easy"), (hard, "hard →")),
                percent=True,
                y_range=(0.0, 1.0),
                x_range=(lower, upper),
                x_log=True,
                legend=True,
                legend_title="mask ratio",
            )
        )
    return chart_html(panels)


def loss_chart(table: pd.DataFrame) -> str:
    """The effective AvgDist of each loss setting vs mask ratio, as the PNG: left the
    weightings alone, right decoder masking alone (dashed) and with flatten (solid).

    Returns:
        HTML.
    """
    from maskstats.plot import OKABE_ITO

    settings = list(dict.fromkeys(table["setting"]))
    weighted = [
        n for n in settings if (table.loc[table["setting"] == n, "decoder_mask_ratio"] == 0).all()
    ]
    dropped = [n for n in settings if n not in weighted]
    qs = sorted({float(q) for q in table["decoder_mask_ratio"] if q > 0})
    strategy = f"{table['strategy'].iloc[0]} masks: " if "strategy" in table else ""
    panels, legend = [], {}
    for title, names in (
        (f"{strategy}weightings", weighted),
        ("decoder masking q (+ flatten: solid)", ["plain MAE", *dropped]),
    ):
        series, colour_k = [], 0
        for name in names:
            rows = table[table["setting"] == name].sort_values("mask_ratio")
            if rows.empty:
                continue
            q = float(rows["decoder_mask_ratio"].iloc[0])
            dash = False
            if name == "plain MAE":
                colour = "#000000"
            elif (rows["weighting"] == "histogram").any():
                colour, dash = "#737373", True
            elif q > 0:
                colour = OKABE_ITO[qs.index(q) % len(OKABE_ITO)]
                dash = bool((rows["weighting"] == "none").all())
            else:
                colour = OKABE_ITO[colour_k % len(OKABE_ITO)]
                colour_k += 1
            points = list(zip(rows["mask_ratio"], rows["effective_avgdist"], strict=True))
            tips = [
                f"{name}, mask ratio {r:g}: effective AvgDist {v:.2f} px (masks' own "
                f"{m:.2f} px), ESS {100 * e:.0f}% of the patches, largest weight {w:.1f}× the mean"
                for (r, v), m, e, w in zip(
                    points, rows["mask_avgdist"], rows["ess_share"], rows["max_weight"], strict=True
                )
            ]
            series.append(Series(name, colour, points, tips, dash=dash))
            legend[name] = (name, colour, dash)
        panels.append(
            Panel(
                title,
                "mask ratio",
                "effective AvgDist [px]",
                series,
                y_band=SIMMIM_BAND,
            )
        )
    return chart_html(panels, list(legend.values()))


def agreement_table(agreement: pd.DataFrame, method: str = "spearman") -> str:
    """The agreement heatmap as a sortable HTML table: a row per (strategy, mask ratio), a
    column per pair of metrics, each cell coloured as in the PNG, its value on hover.

    Returns:
        HTML.
    """
    from maskstats.plot import agreement_pairs

    matrix = agreement_pairs(agreement, method)
    counts = (
        agreement.groupby(["strategy", "mask_ratio"])["n_patches"].first()
        if "strategy" in agreement.columns and "n_patches" in agreement.columns
        else None
    )
    word = "Spearman" if method == "spearman" else "Kendall"
    head = "<th>strategy</th><th class=num>mask ratio</th>" + "".join(
        f"<th class=num>{html.escape(c)}</th>" for c in matrix.columns
    )
    body = []
    for (strategy, ratio), row in matrix.iterrows():
        cells = f"<th>{html.escape(str(strategy))}</th><th data-v={ratio:.12g}>{ratio:g}</th>"
        n = (
            f" over {int(counts.loc[(strategy, ratio)]):,} masked patches"
            if counts is not None
            else ""
        )
        for pair, value in row.items():
            if not np.isfinite(value):
                cells += "<td></td>"
                continue
            background, text = heat_colour(float(value))
            a, b = pair.split("–")
            tip = f"{strategy}, mask ratio {ratio:g}: {word}({a}, {b}) = {value:.3f}{n}"
            cells += (
                f'<td class="num" style="background:{background};color:{text}" '
                f'data-v="{value:.6g}" data-tip="{html.escape(tip)}">{value:.2f}</td>'
            )
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="scroll"><table class="sortable heat"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


BROWSER_CELLS = 200_000
"""At most this many patches of masks in the browser's data (a few masks per setting)."""
BROWSER_MASKS = 4


def browser_data(
    masks: Mapping[tuple[str, float], np.ndarray],
    summary: pd.DataFrame,
    patch_size: int,
    per_setting: int = BROWSER_MASKS,
) -> dict:
    """The mask browser's data: for each setting its first few masks (the ones every table
    measured: mask 0 is the gallery's), each patch's P²Dist in hundredths of a patch (-1:
    visible, -2: no visible patch in the mask), each mask's AvgDist, masked share and easy
    and hard shares, and the setting's means from the summary.

    Args:
        masks: the report's masks.
        summary: the report's summary (means per setting).
        patch_size: pixels per patch side.
        per_setting: masks per setting (fewer on large grids, to keep the page small).

    Returns:
        A JSON-able dict.
    """
    from matplotlib import colormaps, colors

    from maskstats.metrics import compute
    from maskstats.sweeps import EASY_P2DIST, HARD_P2DIST

    first = next(iter(masks.values()))
    grid = first.shape[1:]
    cells = grid[0] * grid[1]
    count = max(1, min(per_setting, BROWSER_CELLS // max(1, cells * len(masks))))
    means = summary.set_index(["strategy", "mask_ratio"])
    settings, vmin, vmax = [], np.inf, 0.0
    for (name, ratio), made in masks.items():
        shown = made[:count]
        p2 = compute(shown, "p2dist", patch_size, on_empty="nan")["p2dist"].astype(np.float64)
        avg = compute(shown, "avgdist", patch_size, on_empty="nan")["avgdist"]
        entries = []
        for mask, values, a in zip(shown, p2, avg, strict=True):
            finite = np.isfinite(values)
            coded = np.where(mask, np.where(finite, np.round(values * 100), -2), -1)
            if finite.any():
                vmin = min(vmin, float(values[finite].min()))
                vmax = max(vmax, float(values[finite].max()))
            # Shares of the masked patches: undefined (null in the page) without any.
            masked = int(mask.sum()) or float("nan")
            entries.append(
                {
                    "v": coded.astype(int).ravel().tolist(),
                    "avgdist": float(a) if np.isfinite(a) else float("nan"),
                    "share": float(mask.mean()),
                    "easy": float((values[mask] < EASY_P2DIST).sum() / masked),
                    "hard": float((values[mask] > HARD_P2DIST).sum() / masked),
                }
            )
        row = means.loc[(name, ratio)]
        settings.append(
            {
                "strategy": name,
                "ratio": float(ratio),
                "n": int(len(made)),
                "masks": entries,
                "mean": {
                    "avgdist": float(row["avgdist"]),
                    "easy": float(row["easy_share"]),
                    "hard": float(row["hard_share"]),
                },
            }
        )
    cmap = colormaps["viridis"]
    return {
        "grid": list(grid),
        "patch": patch_size,
        "vmin": float(vmin) if np.isfinite(vmin) and vmin > 0 else 0.1,
        "vmax": max(vmax, 1.0),
        "easy": EASY_P2DIST,
        "hard": HARD_P2DIST,
        "colours": [colors.to_hex(cmap(k / 15)) for k in range(16)],
        "visible": "#eeeeee",
        "undefinedColour": "#bbbbbb",
        "settings": settings,
    }


def colour_index(value: float, vmin: float, vmax: float, stops: int) -> int:
    """Which of ``stops`` colours a P²Dist gets: log-spaced from ``vmin`` to ``vmax`` (the
    script's ``colour`` does the same).

    Returns:
        An index in [0, stops).
    """
    share = np.log(max(value, vmin) / vmin) / np.log(vmax / vmin) if vmax > vmin else 0.0
    return int(round(min(max(share, 0.0), 1.0) * (stops - 1)))


def _finite(value: object) -> object:
    """``value`` with every non-finite float (NaN, infinity) as None, in lists and dicts."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _json(data: dict) -> str:
    """Compact JSON safe inside ``<script>`` (no ``</`` sequence, NaN as null; names that
    contain "NaN" are kept)."""
    text = json.dumps(_finite(data), separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/")


def _number(value: float, spec: str, unit: str = "") -> str:
    """``value`` formatted by ``spec`` with ``unit``, or "n/a" where it is undefined."""
    return f"{value:{spec}}{unit}" if np.isfinite(value) else "n/a"


def browser_html(
    masks: Mapping[tuple[str, float], np.ndarray], summary: pd.DataFrame, s: ReportSettings
) -> str:
    """The mask browser: choose a strategy, a ratio and one of its first masks; each patch
    shows its P²Dist (colour, and the value on hover). Drawn for the first setting without
    JavaScript; the script switches settings.

    Returns:
        HTML (a section with the data as JSON).
    """
    data = browser_data(masks, summary, s.patch_size)
    first = data["settings"][0]
    height, width = data["grid"]
    colours = data["colours"]
    rects = []
    for k, v in enumerate(first["masks"][0]["v"]):
        r, c = divmod(k, width)
        where = f"row {r + 1}, column {c + 1}"
        if v == -1:
            fill, tip = data["visible"], f"{where}: visible"
        elif v == -2:
            fill, tip = data["undefinedColour"], f"{where}: masked, no visible pixel in the mask"
        else:
            fill = colours[colour_index(v / 100, data["vmin"], data["vmax"], len(colours))]
            word = (
                " (easy)" if v / 100 < data["easy"] else " (hard)" if v / 100 > data["hard"] else ""
            )
            tip = f"{where}: P²Dist {v / 100:.2f} patch{word}"
        rects.append(
            f'<rect x="{c}" y="{r}" width="1" height="1" fill="{fill}">'
            f"<title>{html.escape(tip)}</title></rect>"
        )
    mask = first["masks"][0]
    note = (
        f"{first['strategy']} masks at mask ratio {first['ratio']:g}, mask 1 of the "
        f"{first['n']} the report measured: AvgDist {_number(mask['avgdist'], '.2f', ' px')}, "
        f"{100 * mask['share']:.0f}% masked, {_number(100 * mask['easy'], '.0f', '%')} of masked "
        f"patches easy, {_number(100 * mask['hard'], '.0f', '%')} hard."
    )
    gradient = ", ".join(colours)
    count = len(first["masks"])
    return f"""<section id="browser"><h2>Browse the masks</h2>
<p class="note">The first {count} mask{"s" * (count > 1)} of every setting, the same masks the
tables and figures measured (mask 1 is the gallery's). Choose a strategy and a mask ratio;
hover or tap a patch for its P²Dist.</p>
<noscript><p class="note">Switching masks needs JavaScript; shown: the first mask of the first
setting.</p></noscript>
<div class="controls needs-js" hidden><label>strategy <select id="browse-strategy"></select></label>
<label>mask ratio <select id="browse-ratio"></select></label>
<span id="browse-masks" role="group" aria-label="mask"></span></div>
<svg id="browse-grid" viewBox="0 0 {width} {height}" role="img"
 aria-label="{html.escape(note)}">{"".join(rects)}</svg>
<div class="scale"><span>visible</span>
<span class="bar" style="background:{data["visible"]}; width:14px"></span>
<span>P²Dist {data["vmin"]:.2f}</span>
<span class="bar" style="background:linear-gradient(to right, {gradient})"></span>
<span>{data["vmax"]:.1f} patch (log scale)</span></div>
<p id="browse-note">{html.escape(note)}</p>
<script type="application/json" id="mask-data">{_json(data)}</script>
</section>"""
