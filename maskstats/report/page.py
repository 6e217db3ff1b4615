"""``index.html``: a page that reads like a paper's appendix (header with the exact command,
version, date and machine; captioned figures; tables with units; one finding per section,
computed from the numbers)."""

from __future__ import annotations

import html
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from maskstats.report.output import MANIFEST, now_text, package_version
from maskstats.report.settings import (
    LOSS_TABLE_RATIOS,
    ReportSettings,
    Skipped,
)

if TYPE_CHECKING:  # pandas and matplotlib load only when a report runs
    import pandas as pd

PX_PER_INCH = 120
"""Figures are shown at this many CSS pixels per figure inch, all alike (one scale)."""


def machine_line() -> str:
    """CPU model, cores, OS and the Python/numba versions, in one line."""
    import numba

    from maskstats.bench import cpu_model

    model = cpu_model()
    return (
        f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, numba {numba.__version__}"
    )


# --------------------------------------------------------------------------- tables and words


def headline_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per strategy and mask ratio: mean P²Dist, AvgDist and the easy/hard shares,
    with readable headers and units."""
    table = summary[["strategy", "mask_ratio", "p2dist", "avgdist", "easy_share", "hard_share"]]
    table = table.rename(
        columns={
            "mask_ratio": "mask ratio",
            "p2dist": "mean P²Dist [patch]",
            "avgdist": "AvgDist [px]",
            "easy_share": "easy share",
            "hard_share": "hard share",
        }
    )
    table = table.copy()
    # A setting whose masks hide every patch has no distance: blank, not 0.
    undefined = ~np.isfinite(table["AvgDist [px]"].to_numpy(np.float64))
    table.loc[undefined, ["mean P²Dist [patch]", "easy share", "hard share"]] = np.nan
    return table.set_index(["strategy", "mask ratio"])


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%" if np.isfinite(value) else "n/a"


def _move(start: float, end: float) -> str:
    """'falls from 81% to 2%', 'rises from 1% to 71%' or 'stays at 34%'."""
    a, b = _pct(start), _pct(end)
    if a == b:
        return f"stays at {a}"
    return f"{'falls' if end < start else 'rises'} from {a} to {b}"


def sweep_finding(summary: pd.DataFrame) -> str:
    """One sentence, from the numbers: how the easy and hard shares move with the ratio."""
    parts = []
    defined = summary[np.isfinite(summary["avgdist"].to_numpy(np.float64))]
    for strategy, rows in defined.groupby("strategy", sort=False):
        rows = rows.sort_values("mask_ratio")
        if len(rows) < 2:
            only = rows.iloc[0]
            parts.append(
                f"{strategy} masks at ratio {only.mask_ratio:g} leave {_pct(only.easy_share)} of "
                f"masked patches easy and {_pct(only.hard_share)} hard"
            )
            continue
        lo, hi = rows.iloc[0], rows.iloc[-1]
        easy = _move(lo.easy_share, hi.easy_share)
        hard = _move(lo.hard_share, hi.hard_share)
        parts.append(
            f"with {strategy} masks, from ratio {lo.mask_ratio:g} to {hi.mask_ratio:g}, the easy "
            f"share {easy} while the hard share {hard}"
        )
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "." if text else ""


def metric_finding(table: pd.DataFrame) -> str:
    """One sentence: which metric ranks patches most like P²Dist, per strategy (the long
    metric table of :func:`maskstats.report.write_metric_table`, or one strategy's
    Tab.5-style table)."""
    if table.empty or "spearman vs p2dist" not in table.columns:
        return ""
    if "metric" in table.columns:
        table = table.drop_duplicates([c for c in ("strategy", "metric") if c in table.columns])
        table = table.set_index("metric")
    parts = []
    by = table.groupby("strategy", sort=False) if "strategy" in table.columns else [("", table)]
    for strategy, rows in by:
        others = rows.drop(index="p2dist", errors="ignore")["spearman vs p2dist"].dropna()
        if others.empty:
            continue
        best, worst = others.idxmax(), others.idxmin()
        where = f" on {strategy} masks" if strategy else ""
        parts.append(
            f"{best} ranks masked patches most like P²Dist{where} (Spearman "
            f"{others[best]:.2f}), {worst} least ({others[worst]:.2f})"
        )
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "." if text else ""


def agreement_finding(agreement: pd.DataFrame) -> str:
    """One sentence: the mean off-diagonal Spearman per mask ratio, per strategy when the table
    has several (ratios are only compared within a strategy)."""
    chosen = agreement[
        (agreement["method"] == "spearman") & (agreement["metric_a"] != agreement["metric_b"])
    ]
    if chosen.empty:
        return ""
    if "strategy" not in chosen.columns:
        chosen = chosen.assign(strategy="")
    parts = []
    for strategy, rows in chosen.groupby("strategy", sort=False):
        means = rows.groupby("mask_ratio")["correlation"].mean()
        shown = ", ".join(f"{v:.2f} at ratio {r:g}" for r, v in means.items())
        on = f" on {strategy} masks" if strategy else ""
        if len(means) > 1:
            trend = "more" if means.iloc[-1] > means.iloc[0] else "less"
            parts.append(
                f"the metrics agree {trend} at higher mask ratios{on}: mean pairwise "
                f"Spearman {shown}"
            )
        else:
            parts.append(f"mean pairwise Spearman{on}: {shown}")
    sentence = "; ".join(parts)
    return sentence[0].upper() + sentence[1:] + "."


def distribution_finding(
    summary: pd.DataFrame, ratios: Sequence[float] | Mapping[str, Sequence[float]]
) -> str:
    """One sentence: the easy share at the lowest and highest ratio each strategy's panel of
    the distribution figure shows (``ratios``: the same for all, or per strategy); a strategy
    shown at one ratio gets that one."""
    parts = []
    defined = summary[np.isfinite(summary["avgdist"].to_numpy(np.float64))]
    for strategy, rows in defined.groupby("strategy", sort=False):
        shown = ratios.get(strategy, ()) if isinstance(ratios, Mapping) else ratios
        rows = rows[rows["mask_ratio"].round(9).isin([round(r, 9) for r in shown])]
        if rows.empty:
            continue
        rows = rows.sort_values("mask_ratio")
        lo, hi = rows.iloc[0], rows.iloc[-1]
        text = (
            f"{_pct(lo.easy_share)} of {strategy} masks' masked patches are easy at "
            f"{lo.mask_ratio:g}"
        )
        if len(rows) > 1:
            text += f", {_pct(hi.easy_share)} at {hi.mask_ratio:g}"
        parts.append(text)
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "." if text else ""


def _band_word(px: float, band: tuple[float, float]) -> str:
    if px < band[0]:
        return "below"
    return "inside" if px <= band[1] else "above"


def loss_finding(table: pd.DataFrame, band: tuple[float, float] = (10.0, 20.0)) -> str:
    """One sentence from :func:`maskstats.sweeps.loss_difficulty_sweep`'s table: at the ratio
    nearest 0.9, the effective AvgDist of plain MAE, flatten on P²Dist, the strongest decoder
    masking alone and with flatten, and the histogram equaliser, each placed against SimMIM's
    moderate band ('' when the table lacks them)."""
    if table.empty:
        return ""
    ratios = sorted(set(table["mask_ratio"]))
    ratio = min(ratios, key=lambda r: (abs(r - 0.9), -r))
    at = table[table["mask_ratio"] == ratio].set_index("setting")["effective_avgdist"]
    q = table.loc[table["decoder_mask_ratio"] > 0, "decoder_mask_ratio"]
    names = ["plain MAE", "flatten p2dist"]
    if len(q):
        names += [f"decoder q={q.max():g}", f"flatten p2dist + q={q.max():g}"]
    if any(name not in at for name in names):
        return ""
    words = {n: f"{at[n]:.1f} px with {n} ({_band_word(at[n], band)}" for n in names}
    words[names[0]] += f" SimMIM's moderate {band[0]:g}–{band[1]:g} px"
    parts = [words[n] + ")" for n in names]
    listed = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    text = f"At mask ratio {ratio:g} the loss's targets have an effective AvgDist of {listed}"
    if "histogram p2dist" in at:
        text += f"; the histogram equaliser instead raises it to {at['histogram p2dist']:.1f} px"
    return text + "."


def loss_display(table: pd.DataFrame, ratios: Sequence[float]) -> pd.DataFrame:
    """The effective-difficulty table for the page: one row per loss setting, effective
    AvgDist and ESS share at each of ``ratios`` (those present), then the masks' AvgDist."""
    import pandas as pd

    present = [r for r in ratios if (table["mask_ratio"] == r).any()]
    if not present:
        present = sorted(set(table["mask_ratio"]))[-3:]
    order = list(dict.fromkeys(table["setting"]))
    shown = pd.DataFrame(index=pd.Index(order, name="loss setting"))
    for r in present:
        at = table[table["mask_ratio"] == r].set_index("setting")
        shown[f"effective AvgDist px @{r:g}"] = at["effective_avgdist"].reindex(order)
        shown[f"ESS share @{r:g}"] = at["ess_share"].reindex(order)
    return shown


def _cell(value: object, column: str) -> str:
    if value is None or (isinstance(value, float | np.floating) and not np.isfinite(value)):
        return ""
    if isinstance(value, float | np.floating):
        if "share" in column or "decile" in column:
            return f"{100 * value:.1f}%"
        return f"{value:.3f}" if abs(float(value)) < 100 else f"{value:.1f}"
    text = str(value)
    return "" if text.lower() in ("nan", "nan ± nan") else text


def _index_text(value: object) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:g}" if np.isfinite(value) else ""
    return "" if value is None else str(value)


def _sort_value(value: object) -> str:
    """The number a sortable column sorts by ('' for text and blanks)."""
    if isinstance(value, bool | np.bool_):
        return ""
    if isinstance(value, int | float | np.number) and np.isfinite(value):
        return f"{float(value):.12g}"
    text = str(value)
    if "±" in text:
        head = text.split("±")[0].strip()
        try:
            return f"{float(head):.12g}"
        except ValueError:
            return ""
    return ""


def _precise(value: object, column: str) -> str:
    if isinstance(value, float | np.floating) and np.isfinite(value):
        if "share" in column or "decile" in column:
            return f"{100 * value:.3f}%"
        return f"{value:.6g}"
    return _cell(value, column)


def html_table(table: pd.DataFrame, caption: str = "", sortable: bool = True) -> str:
    """A plain HTML table in its own scrolling box: one header row (the index names head the
    first columns), blanks for NaN, shares in %, numbers right-aligned and never wrapped;
    sortable by any column with the page's script (each numeric cell carries its value in
    ``data-v`` and, for the tooltip, its row, column and more digits in ``data-tip``)."""
    import pandas as pd

    index_names = [str(n) if n else "" for n in table.index.names]
    header = "".join(f"<th>{html.escape(n)}</th>" for n in index_names)

    def numeric(column: object) -> bool:
        values = table[column]
        return pd.api.types.is_numeric_dtype(values) or values.astype(str).str.contains("±").any()

    num = ' class="num"'
    header += "".join(
        f"<th{num if numeric(c) else ''}>{html.escape(str(c))}</th>" for c in table.columns
    )
    body = []
    for index, row in zip(table.index, table.itertuples(index=False), strict=True):
        keys = index if isinstance(index, tuple) else (index,)
        where = ", ".join(_index_text(k) for k in keys if _index_text(k))
        cells = ""
        for k in keys:
            value = _sort_value(k)
            cells += f'<th data-v="{value}">' if value else "<th>"
            cells += f"{html.escape(_index_text(k))}</th>"
        for column, value in zip(table.columns, row, strict=True):
            is_number = isinstance(value, float | int | np.number) or "±" in str(value)
            shown = _cell(value, str(column))
            attrs = ' class="num"' if is_number else ""
            if is_number and shown:
                tip = f"{where}: {column} {_precise(value, str(column))}"
                attrs += f' data-v="{_sort_value(value)}" data-tip="{html.escape(tip)}"'
            cells += f"<td{attrs}>{html.escape(shown)}</td>"
        body.append(f"<tr>{cells}</tr>")
    note = f'<p class="note">{html.escape(caption)}</p>' if caption else ""
    css = ' class="sortable"' if sortable else ""
    return (
        f'{note}<div class="scroll"><table{css}><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def metric_legend(table: pd.DataFrame) -> pd.DataFrame:
    """The metric table's names: one row per metric, its paper name, unit and orientation."""
    legend = table.drop_duplicates("metric").set_index("metric")
    return legend[["paper name", "unit", "higher is"]]


def metric_display(wide: pd.DataFrame) -> pd.DataFrame:
    """One strategy's Tab.5-style table for the page: readable headers (units in the header,
    shares in %), the names and units left to :func:`metric_legend`."""
    renamed = {}
    for column in wide.columns:
        text = str(column)
        if text.startswith("mean ± std @"):
            text = f"mean ± std, ratio {text.split('@')[1]}"
        elif text.startswith("easiest decile @"):
            text = f"in easiest decile, ratio {text.split('@')[1]}"
        elif text.startswith("hardest decile @"):
            text = f"in hardest decile, ratio {text.split('@')[1]}"
        elif text == "spearman vs p2dist":
            text = "Spearman vs P²Dist"
        renamed[column] = text
    shown = wide.drop(columns=["paper name", "unit", "higher is"], errors="ignore")
    return shown.rename(columns=renamed)


FIGURE_TEXT = {
    "difficulty_vs_ratio": (
        "Difficulty vs mask ratio",
        "Each panel is one metric's per-mask mean (a line per strategy: the mean over masks; "
        "the band: 10th to 90th percentile of masks; a single setting, such as multi-block "
        "masks, is a diamond with that range as a bar). The arrow in each title says which "
        "way is harder; the grey band in the AvgDist panel is SimMIM's 'moderate' 10–20 px. "
        "x: the masked share each strategy achieves. Hover or tap a point for its numbers.",
    ),
    "p2dist_distributions": (
        "How hard are masked patches? (P²Dist distributions)",
        "Share of masked patches (pooled over the setting's masks) with a P²Dist below x, a "
        "line per mask ratio (darker = higher ratio), a panel per strategy. At the dashed line "
        "(P²Dist 0.5) the line's height is the easy share: a patch left of it has visible "
        "pixels on at least two sides; right of the dotted line (1.0) patches are hard.",
    ),
    "mask_gallery": (
        "Example masks",
        "The first mask the report measured of each strategy (rows) at each ratio (columns), "
        "over a photo: visible patches show the photo, masked patches are coloured by their "
        "P²Dist (colour bar; brighter = harder). Grid and multi-block masks have ratios of "
        "their own: each is shown in the nearest column, labelled with its own ratio; an "
        "empty cell has no mask of that strategy near that ratio. Tap the image for full size.",
    ),
    "effective_difficulty": (
        "How hard is what the loss trains on? (the paper's section B, quantified)",
        "Effective AvgDist: the loss-weighted mean of patch_size × P²Dist (pixels) over "
        "the patches in the loss (the report's own masks: MAE's when asked for, else "
        "the first asked strategy; the left title names it), weights and decoder "
        "selection made per batch of 256 masks. "
        "Left: the weightings alone (histogram: the equaliser, "
        "dashed, for comparison); right: decoder masking q (the hardest share of each mask's "
        "targets dropped) alone (dashed) and with Difficulty-Flatten on P²Dist (solid). Grey: "
        "SimMIM's moderate 10–20 px.",
    ),
    "literature_mae_table1f": (
        "MAE's mask-sampling ablation against difficulty",
        "MAE's published top-1 (ViT-L/16, ImageNet-1k, one run per row; top: linear probe, "
        "bottom: fine-tune) against maskstats' statistics of the same samplings at 224/16, a "
        "point per row; each title gives Spearman's rho over the four rows and its exact "
        "permutation p. Grey: SimMIM's moderate 10–20 px.",
    ),
    "metric_agreement": (
        "Do the metrics agree?",
        "Spearman rank correlation between two metrics over the same masked patches (at most "
        "50,000 of them), a row per strategy and mask ratio, a column per pair of metrics. "
        "Every metric is first oriented so that higher = harder, so +1 means identical "
        "ranking and 0 no relation.",
    ),
}


def _links(name: str, files: Mapping[str, Path], extra: Sequence[str] = ()) -> str:
    names = [n for n in (f"{name}.png", f"{name}.pdf", *extra) if n in files]
    if not names:
        return ""
    shown = ", ".join(
        f'<a href="{html.escape(n)}">{html.escape(n.rsplit(".", 1)[1].upper())}</a>'
        if n.startswith(name)
        else f'<a href="{html.escape(n)}">{html.escape(n)}</a>'
        for n in names
    )
    return f" ({shown})"


def _section(
    name: str, finding: str, body: str, files: Mapping[str, Path], extra: Sequence[str] = ()
) -> str:
    """A section with a figure-like body: title, finding, the body, the caption with links."""
    title, caption = FIGURE_TEXT[name]
    finding_html = f"<p class=finding>{html.escape(finding)}</p>" if finding else ""
    return (
        f'<section id="{name}"><h2>{html.escape(title)}</h2>{finding_html}'
        f"<figure>{body}<figcaption>{html.escape(caption)}{_links(name, files, extra)}"
        "</figcaption></figure></section>"
    )


def _image_html(build: Path, name: str) -> str:
    """The PNG, at the page's one scale (:data:`PX_PER_INCH`), linked to itself at full size,
    in a box that scrolls sideways on a phone rather than shrinking it unreadably."""
    png = build / f"{name}.png"
    width = ""
    try:
        from matplotlib import image as mpimg

        pixels = mpimg.imread(png).shape[1]
        width = f' width="{round(pixels / 200 * PX_PER_INCH)}"'
    except (OSError, ValueError, SyntaxError):  # pragma: no cover - no PNG: no width
        pass
    title = FIGURE_TEXT[name][0]
    return (
        f'<div class="wide"><a href="{name}.png" title="open at full size">'
        f'<img src="{name}.png"{width} alt="{html.escape(title)}"></a></div>'
    )


FILE_TEXT = {
    "sweep.csv": "one row per (strategy, ratio, mask): every metric's mean over its patches",
    "summary.csv": "means per strategy and ratio (the first table) and 10%/90% quantiles",
    "metric_table.csv": "the metric table, numbers (one row per strategy, metric and ratio)",
    "metric_table.md": "the metric table, Markdown (a table per strategy)",
    "metric_table.tex": "the metric table, LaTeX (a tabular per strategy, for pdflatex)",
    "agreement.csv": "Spearman and Kendall correlations between metrics",
    "p2dist_cdf.csv": "the P²Dist distributions: share of masked patches below each P²Dist",
    "loss_difficulty.csv": "effective AvgDist, ESS and largest weight of each loss setting",
    "literature_mae_table1f.csv": "MAE's Table 1(f) beside maskstats' statistics (224/16)",
    "literature_rank_correlations.csv": "Spearman of each statistic with MAE's accuracies",
    "literature_ijepa_views.csv": "I-JEPA's masks untruncated and as its encoder sees them",
    MANIFEST: "settings, version and file list of this report",
}


def _script() -> str:
    return (Path(__file__).with_name("explore.js")).read_text(encoding="utf-8")


CSS = """
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
max-width:1000px;margin:0 auto;padding:1em 16px 3em}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.2em;margin:1.6em 0 .4em;
border-bottom:1px solid #ddd}h3{font-size:1em;margin:1em 0 .2em}
header dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.1em 1em;
font-size:.9em;margin:.6em 0}
header dt{color:#666}header dd{margin:0;overflow-wrap:anywhere}
code{font-size:.9em;background:#f4f4f4;padding:0 .2em;overflow-wrap:anywhere}
.finding{border-left:3px solid #0072b2;padding:.1em 0 .1em .7em;margin:.6em 0}
.note{font-size:.85em;color:#555;margin:.6em 0 .2em}
figure{margin:.6em 0}
img{max-width:100%;height:auto;display:block}
.wide{overflow-x:auto;max-width:100%}
@media (max-width:700px){.wide img{max-width:none;width:680px}}
figcaption{font-size:.9em;color:#444;margin-top:.3em}
.scroll{overflow-x:auto;max-width:100%;margin:.4em 0}
table{border-collapse:collapse;font-size:.85em}
th,td{border-bottom:1px solid #e4e4e4;padding:.2em .6em;white-space:nowrap;text-align:left}
thead th{border-bottom:2px solid #999;vertical-align:bottom;white-space:normal;
min-width:4.5em;max-width:9em}
table.sortable thead th{cursor:pointer}
th[aria-sort=ascending]::after{content:" ▲";font-size:.7em}
th[aria-sort=descending]::after{content:" ▼";font-size:.7em}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td[data-tip]:hover{background:#eef4fa}
table.heat td{text-align:center;min-width:4.2em}
.skipped{background:#fff4e5;border-left:4px solid #e69f00;padding:.4em .8em}
ul.files{padding-left:1.2em}
.panels{display:grid;grid-template-columns:repeat(auto-fill,minmax(290px,1fr));gap:4px 14px}
.panel svg{width:100%;height:auto;display:block;overflow:visible}
.chart text{font-size:10.5px;fill:#333}.chart .title{font-size:12px;font-weight:600}
.chart .tick{fill:#555}.chart .note{font-size:9px;fill:#555}
.chart .grid{stroke:#e8e8e8;stroke-width:1}.chart .axis{stroke:#888;fill:none}
.chart .yband{fill:#e2e2e2}.chart .threshold{stroke:#777;stroke-dasharray:4 3}
.chart .band{opacity:.18;stroke:none}.chart .line{fill:none;stroke-width:1.8}
.chart .bar{fill:none;stroke-width:1.5}
.chart .pt,.chart .hit{stroke:transparent;stroke-width:8;pointer-events:all}
.chart .hit{fill-opacity:0}.chart .hit:hover,.chart .pt:hover{fill-opacity:1;
stroke:#222;stroke-width:1}
ul.legend{list-style:none;padding:0;margin:.3em 0;display:flex;flex-wrap:wrap;gap:.2em 1em;
font-size:.85em}ul.legend li{display:flex;align-items:center;gap:.35em}
#tip{position:fixed;display:none;z-index:10;max-width:min(90vw,360px);background:#222;
color:#fff;font-size:13px;line-height:1.35;padding:.35em .55em;border-radius:4px;
pointer-events:none;box-shadow:0 1px 4px rgba(0,0,0,.3)}
#browser .controls{display:flex;flex-wrap:wrap;gap:.5em 1em;align-items:center;margin:.4em 0}
#browser select,#browser button{font:inherit;font-size:.9em;padding:.15em .4em}
#browser button[aria-pressed=true]{background:#0072b2;color:#fff;border:1px solid #0072b2}
#browse-grid{width:min(100%,420px);height:auto;display:block;border:1px solid #ccc}
#browse-grid rect{stroke:#fff;stroke-width:.04}
#browse-grid rect:hover{stroke:#000;stroke-width:.08}
.scale{display:flex;align-items:center;gap:.5em;font-size:.85em;margin:.3em 0}
.scale span.bar{display:inline-block;width:160px;height:10px}
"""


def write_index(
    out: Path,
    settings: ReportSettings,
    summary: pd.DataFrame,
    metric_table: pd.DataFrame,
    files: Mapping[str, Path],
    skipped: Skipped | None = None,
    elapsed: float | None = None,
    loss_table: pd.DataFrame | None = None,
    masks: Mapping[tuple[str, float], np.ndarray] | None = None,
    literature: Mapping[str, Any] | None = None,
) -> Path:
    """index.html: a header (command, version, date, machine), each table and figure with a
    caption and its headline finding, the settings left out, a mask browser and links to every
    file. Only relative links and no network: the charts are inline SVG, the script is inlined,
    so the folder can be moved and read offline (and without JavaScript, less the browser's
    switching).

    Args:
        out: the folder holding the files (index.html is written there).
        settings: the report's settings.
        summary: :func:`maskstats.tables.sweep_summary` of the sweep (with the 10%/90%
            quantiles, as :func:`maskstats.report.write_sweep` writes it).
        metric_table: :func:`write_metric_table`'s long table.
        files: name -> path of every file written so far (linked at the end).
        skipped: settings out of reach.
        elapsed: seconds the report took.
        loss_table: :func:`maskstats.sweeps.loss_difficulty_sweep`'s table (the effective
            difficulty section; None or empty: no such section).
        masks: the report's masks (:func:`maskstats.report.build.report_masks`) for the mask
            browser (None: no browser).
        literature: :func:`maskstats.report.build.write_literature`'s tables (the section
            against the literature; None: no such section).

    Returns:
        The path of index.html.
    """
    import pandas as pd

    from maskstats import tables
    from maskstats.report import views
    from maskstats.sweeps import EASY_P2DIST, HARD_P2DIST

    s = settings
    skipped = skipped or Skipped()
    command = s.command or _equivalent_command(s)
    ratios = ", ".join(f"{r:g}" for r in s.mask_ratios)
    took = f" (the report took {elapsed:.0f} s)" if elapsed is not None else ""
    header = f"""<header><h1>maskstats report</h1>
<p>How hard is each masked patch to reconstruct? {html.escape(", ".join(s.strategies))} masks
on a {s.img_size // s.patch_size}×{s.img_size // s.patch_size} patch grid ({s.img_size} px
images, {s.patch_size} px patches), {s.n} masks per setting, mask ratios {ratios}; every table,
figure and the mask browser measure the same masks of each setting.
Easy: P²Dist &lt; {EASY_P2DIST} patch (visible pixels on two sides); hard: P²Dist &gt;
{HARD_P2DIST} patch. Definitions: P²Dist is the mean distance of a masked patch's pixels to the
nearest visible pixel, in patches; AvgDist (SimMIM) the same over a whole mask, in pixels.</p>
<dl><dt>command</dt><dd><code>{html.escape(command)}</code></dd>
<dt>maskstats</dt><dd>{html.escape(package_version())}</dd>
<dt>date</dt><dd>{now_text()}{took}</dd>
<dt>machine</dt><dd>{html.escape(machine_line())}</dd>
<dt>seed</dt><dd>{s.seed}{
        f"; difficulty target AvgDist {s.target_avgdist:g} px" if s.target_avgdist else ""
    }</dd></dl></header>"""
    parts = [header]
    if skipped.items:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in skipped.lines())
        parts.append(
            '<section class="skipped"><h2>Settings left out</h2><p>These settings could not '
            "be made or measured; the tables and figures below leave them out or show blank "
            "cells:</p>"
            f"<ul>{items}</ul></section>"
        )
    parts.append("<section><h2>Difficulty by strategy and mask ratio</h2>")
    finding = sweep_finding(summary)
    if finding:
        parts.append(f"<p class=finding>{html.escape(finding)}</p>")
    parts.append(
        html_table(
            headline_table(summary),
            "Means over masks (sort by any column: click its header). Easy/hard share: of a "
            "mask's masked patches. Mean P²Dist is each mask's mean, averaged over masks "
            "(= AvgDist / patch size).",
        )
    )
    parts.append("</section>")
    if "difficulty_vs_ratio.png" in files:
        parts.append(_section("difficulty_vs_ratio", "", views.difficulty_chart(summary), files))
    if "p2dist_cdf.csv" in files:
        cdf = pd.read_csv(out / "p2dist_cdf.csv")
        shown = {name: sorted(set(rows["mask_ratio"])) for name, rows in cdf.groupby("strategy")}
        parts.append(
            _section(
                "p2dist_distributions",
                distribution_finding(summary, shown),
                views.distribution_chart(cdf, EASY_P2DIST, HARD_P2DIST),
                files,
                ("p2dist_cdf.csv",),
            )
        )
    if not metric_table.empty:
        parts.append('<section id="metric_table"><h2>The metrics side by side (Tab. 5 style)</h2>')
        parts.append(f"<p class=finding>{html.escape(metric_finding(metric_table))}</p>")
        parts.append(html_table(metric_legend(metric_table), "The metrics:", sortable=False))
        for name, table_ratios, wide in tables.metric_table_blocks(metric_table):
            ratios_text = ", ".join(f"{r:g}" for r in table_ratios)
            parts.append(f"<h3>{html.escape(name)} masks, mask ratios {ratios_text}</h3>")
            parts.append(html_table(metric_display(wide).rename_axis(f"{name} masks")))
        parts.append(
            '<p class="note">Per-patch metrics over masked patches, AvgDist over masks; each '
            "strategy at (up to) two of its own ratios, on the same masks as every other "
            "table. Spearman: with P²Dist, both oriented higher = harder, pooled over the "
            "strategy's ratios. Decile shares: of masked patches in the easiest/hardest 10% of "
            "the pooled values (ties at an edge count in). "
            + " ".join(
                f'<a href="{n}">{n}</a>'
                for n in ("metric_table.csv", "metric_table.md", "metric_table.tex")
                if n in files
            )
            + "</p></section>"
        )
    if "agreement.csv" in files:
        agreement = pd.read_csv(out / "agreement.csv")
        parts.append(
            _section(
                "metric_agreement",
                agreement_finding(agreement),
                views.agreement_table(agreement),
                files,
                ("agreement.csv",),
            )
        )
    if loss_table is not None and not loss_table.empty and "effective_difficulty.png" in files:
        body = views.loss_chart(loss_table) + html_table(
            loss_display(loss_table, LOSS_TABLE_RATIOS),
            "Effective AvgDist (px) of each loss setting and the effective sample size of "
            "its weights, (Σw)²/Σw² as a share of the patches in the loss (1: every patch "
            "counts fully).",
        )
        parts.append(
            _section(
                "effective_difficulty",
                loss_finding(loss_table),
                body,
                files,
                ("loss_difficulty.csv",),
            )
        )
    if "mask_gallery.png" in files:
        parts.append(_section("mask_gallery", "", _image_html(out, "mask_gallery"), files))
    if masks:
        parts.append(views.browser_html(masks, summary, s))
    if literature:
        parts.append(literature_section(out, literature, files))
    links = []
    for name in sorted({*files, "index.html", MANIFEST}):
        if name == "index.html":
            continue
        what = FILE_TEXT.get(name) or (
            f"figure: {FIGURE_TEXT[Path(name).stem][0]}" if Path(name).stem in FIGURE_TEXT else ""
        )
        links.append(
            f'<li><a href="{html.escape(name)}">{html.escape(name)}</a>'
            f"{' — ' + html.escape(what) if what else ''}</li>"
        )
    parts.append(f'<section><h2>Files</h2><ul class="files">{"".join(links)}</ul></section>')
    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>maskstats report: {html.escape(', '.join(s.strategies))}</title>\n"
        f"<style>{CSS}</style></head><body>\n"
        + "\n".join(parts)
        + f"\n<script>\n{_script()}</script>\n</body></html>\n"
    )
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def _equivalent_command(s: ReportSettings) -> str:
    ratios = ",".join(f"{r:g}" for r in s.mask_ratios)
    text = (
        f"maskstats report --out {s.out} --img-size {s.img_size} --patch-size {s.patch_size} "
        f"--strategies {','.join(s.strategies)} --ratios {ratios} -n {s.n} --seed {s.seed}"
    )
    if s.target_avgdist is not None:
        text += f" --target-avgdist {s.target_avgdist:g}"
    return text


def literature_section(out: Path, literature: Mapping[str, Any], files: Mapping[str, Path]) -> str:
    """The section against the literature: MAE's Table 1(f) beside maskstats' statistics of
    the same masks (table, finding, figure) and I-JEPA's masks in both views, each where
    ``literature`` has it.

    Args:
        out: the report folder (for the figure's size).
        literature: "n", "seed"; with "mae" (:func:`maskstats.literature.
            mae_sampling_statistics`), "correlations" (:func:`maskstats.literature.
            rank_correlations`) and "finding" (str): MAE's part; with "ijepa"
            (:func:`maskstats.literature.ijepa_views`): I-JEPA's part.
        files: the files written (the figure is shown when it is among them).
    """
    parts = []
    if "mae" in literature:
        parts += _mae_section(out, literature, files)
    if "ijepa" in literature:
        parts += _ijepa_section(literature)
    return "".join(parts)


def _mae_section(out: Path, literature: Mapping[str, Any], files: Mapping[str, Path]) -> list[str]:
    from maskstats.literature import MAE_CITATION

    mae = literature["mae"]
    shown = mae.rename(columns={"fine-tune": "MAE fine-tune [%]", "linear": "MAE linear [%]"})
    for column in ("MAE fine-tune [%]", "MAE linear [%]"):  # as published: one decimal
        shown[column] = [f"{value:.1f}" for value in shown[column]]
    parts = [
        "<section><h2>Against the literature: MAE's mask-sampling ablation</h2>",
        f"<p class=finding>{html.escape(str(literature['finding']))}</p>",
        html_table(
            shown,
            f"MAE's numbers: {MAE_CITATION}. Beside them maskstats' statistics of "
            f"{literature['n']} masks per row at 224/16 (seed {literature['seed']}; block: "
            "the exact-count BEiT generator, min 4 patches per block; grid 0.75: 2×2 cells, "
            "which tile 14×14); whatever this report's own settings. Distance to SimMIM's "
            "band: how far the mean AvgDist lies outside 10–20 px (0 inside).",
        ),
        html_table(
            literature["correlations"],
            "Spearman's rho of each statistic with MAE's accuracies over the four rows, and "
            "its exact two-sided permutation p (the share of the 24 orderings of four rows "
            "correlating at least as strongly; 0.083 is the smallest possible).",
        ),
        "</section>",
    ]
    if "literature_mae_table1f.png" in files:
        parts.append(
            _section(
                "literature_mae_table1f", "", _image_html(out, "literature_mae_table1f"), files
            )
        )
    return parts


def _ijepa_section(literature: Mapping[str, Any]) -> list[str]:
    from maskstats.literature import IJEPA_CITATION, IJEPA_IN1K

    ijepa = literature["ijepa"]
    batch = IJEPA_IN1K["batch_size"]
    cut, whole = ijepa.iloc[-1], ijepa.iloc[0]
    finding = (
        f"At its ImageNet batch of {batch}, I-JEPA's collator cuts every context to its "
        f"batch's smallest: the encoder sees {cut['visible q10']:.0f}–{cut['visible q90']:.0f} "
        f"patches (10–90% of masks; {whole['visible q10']:.0f}–{whole['visible q90']:.0f} "
        f"untruncated), a masked share of {cut['masked share mean']:.3f} on average instead of "
        f"{whole['masked share mean']:.3f}, and an AvgDist of {cut['AvgDist [px] mean']:.1f} px "
        f"instead of {whole['AvgDist [px] mean']:.1f} px."
    )
    columns = {
        "visible q10": "visible, 10%",
        "visible q90": "visible, 90%",
        "masked share mean": "masked share",
        "AvgDist [px] mean": "AvgDist [px]",
        "AvgDist [px] q10": "AvgDist 10% [px]",
        "AvgDist [px] q90": "AvgDist 90% [px]",
    }
    table = ijepa[list(columns)].rename(columns=columns)
    return [
        "<section><h2>Against the literature: I-JEPA's masks as its encoder sees them</h2>",
        f"<p class=finding>{html.escape(finding)}</p>",
        html_table(
            table,
            f"I-JEPA's ImageNet mask settings ({IJEPA_CITATION}) at 224/16, "
            f"{int(whole['masks'])} masks per view. Untruncated: multiblock_masks' default, each "
            "context whole (the context block minus the targets). Truncated: "
            f"multiblock_masks(collator_batch={batch}), every context cut to the smallest "
            "context of its batch, keeping its first patches in raster order, as I-JEPA's "
            "MaskCollator does. Visible: patches the encoder sees, per mask.",
        ),
        "</section>",
    ]
