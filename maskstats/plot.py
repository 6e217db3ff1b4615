"""Figures from DataFrames and arrays; no metric computation here. PNG and PDF, sized for a
paper column, Okabe-Ito (colour-blind-safe) colours."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

import matplotlib

# Files, not windows, unless the user (or a Jupyter kernel, which sets MPLBACKEND to its inline
# backend) chose a backend: then figures show where they are drawn.
if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from maskstats.literature import SIMMIM_MODERATE_BAND as SIMMIM_MODERATE_PX  # noqa: E402
from maskstats.metrics import REGISTRY  # noqa: E402
from maskstats.plot_recon import (  # noqa: E402, F401 (the reconstruction figures, re-exported)
    reconstruction_figure,
    reconstruction_gallery,
    reconstruction_panel,
)

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000"]
"""The colour-blind-safe Okabe-Ito palette every figure draws its series from, in order."""

COLUMN_WIDTH = 3.4
"""Inches: one column of a two-column paper."""
FULL_WIDTH = 7.0
"""Inches: a two-column paper's full width."""

plt.rcParams.update(
    {
        "font.size": 8,
        "axes.titlesize": 8,
        "axes.labelsize": 8,
        "legend.fontsize": 7,
        "xtick.labelsize": 7,
        "ytick.labelsize": 7,
        "axes.prop_cycle": matplotlib.rcsetup.cycler(color=OKABE_ITO),
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
)


def save(
    fig: plt.Figure, stem: str | Path, formats: Sequence[str] = ("png", "pdf"), dpi: int = 200
) -> list[Path]:
    """Write ``fig`` as stem.png (``dpi``) and stem.pdf (or the given ``formats``); close it.

    Returns:
        The paths written.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(f".{fmt}") for fmt in formats]
    for path in paths:
        fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return paths


def strategy_colours(names: Sequence[str]) -> dict[str, str]:
    """One Okabe-Ito colour per strategy, in the order given (every figure and the report's
    charts use the same: the sweep's order)."""
    return {name: OKABE_ITO[k % len(OKABE_ITO)] for k, name in enumerate(dict.fromkeys(names))}


def ratio_shades(colour: str, ratios: Sequence[float]) -> dict[float, str]:
    """Shades of one strategy's ``colour`` for its mask ratios: lightest for the lowest ratio,
    the colour itself for the highest (so hue keeps meaning "strategy" in every figure).

    Returns:
        ratio -> hex colour.
    """
    ordered = sorted(dict.fromkeys(float(r) for r in ratios))
    base = np.asarray(matplotlib.colors.to_rgb(colour))
    shades = {}
    for k, r in enumerate(ordered):
        mix = 0.62 * (1 - k / (len(ordered) - 1)) if len(ordered) > 1 else 0.0
        red, green, blue = (float(c) for c in base + (1 - base) * mix)
        shades[r] = matplotlib.colors.to_hex((red, green, blue))
    return shades


def _axis_label(name: str) -> str:
    info = REGISTRY[name]
    arrow = "harder ↑" if info.higher_is_harder else "easier ↑"
    return f"{name} [{info.unit}] ({arrow})"


def difficulty_vs_ratio(
    sweep_table: pd.DataFrame,
    names: Sequence[str] = ("density3", "invdist5", "nearest", "p2dist", "avgdist"),
    simmim_band: tuple[float, float] = SIMMIM_MODERATE_PX,
) -> plt.Figure:
    """Mean and 10-90% band over masks of each metric's per-mask mean, vs mask ratio; a panel
    per metric, a line per strategy; avgdist's panel shades SimMIM's moderate band.

    Args:
        sweep_table: :func:`maskstats.sweeps.sweep` output.
        names: metrics, one panel each.
        simmim_band: SimMIM's moderate AvgDist band (px), shaded on the avgdist panel.

    Returns:
        The figure.
    """
    cols = 3
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(FULL_WIDTH, 2.1 * rows), layout="constrained", squeeze=False
    )
    grouped = sweep_table.groupby(["strategy", "mask_ratio"], sort=False)
    colours = strategy_colours(sweep_table["strategy"])
    for ax, name in zip(axes.flat, names, strict=False):
        stats = grouped[name].agg(
            mean="mean", lo=lambda v: v.quantile(0.1), hi=lambda v: v.quantile(0.9)
        )
        for strategy, color in colours.items():
            s = stats.loc[strategy]
            if len(s) == 1:  # one setting (multiblock, a mask file): a point with its 10-90%
                ax.errorbar(
                    s.index,
                    s["mean"],
                    # equal values: the mean and a quantile may differ in the last bit
                    yerr=np.maximum([s["mean"] - s["lo"], s["hi"] - s["mean"]], 0),
                    marker="D",
                    ms=3.5,
                    capsize=2,
                    lw=1,
                    color=color,
                    label=strategy,
                )
                continue
            ax.plot(s.index, s["mean"], marker="o", ms=2.5, color=color, label=strategy)
            ax.fill_between(s.index, s["lo"], s["hi"], color=color, alpha=0.2, lw=0)
        if name == "avgdist":
            ax.axhspan(*simmim_band, color="0.85", zorder=0, label="SimMIM moderate")
        ax.set_xlabel("mask ratio (masked share)")
        ax.set_ylabel(_axis_label(name))
        ax.grid(alpha=0.3, lw=0.5)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    handles, labels = axes.flat[len(names) - 1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower right", bbox_to_anchor=(0.98, 0.08), frameon=False)
    fig.suptitle(
        "Difficulty vs mask ratio: per-mask means (line: mean; band or bar: 10–90% of masks)"
    )
    return fig


def _setting_title(strategy: str | None, img_size: int | None, patch_size: int | None) -> str:
    parts = []
    if strategy:
        parts.append(f"{strategy} masks")
    if img_size:
        parts.append(f"{img_size} px image")
    if patch_size:
        parts.append(f"{patch_size} px patches")
    return ", ".join(parts)


def p2dist_distributions(
    values_by_ratio: Mapping[float, np.ndarray] | Mapping[str, Mapping[float, np.ndarray]],
    easy_threshold: float | None = 0.5,
    img_size: int | None = None,
    patch_size: int | None = None,
    hard_threshold: float | None = None,
    points: int = 201,
) -> plt.Figure:
    """Fig.2-style: the cumulative share of masked patches below each P²Dist, a line per mask
    ratio (shades of the strategy's colour, darker = higher ratio), a panel per strategy, one
    shared log x axis. A cumulative share is read off directly (the easy share is the line's
    height at the easy threshold) and stays smooth where P²Dist takes few distinct values.

    Args:
        values_by_ratio: mask ratio -> 1-D p2dist of masked patches (patch units), or
            strategy -> such a dict (one panel each).
        easy_threshold: draw the easy threshold here, labelled above the axes (None: no line).
        img_size: image side in pixels, named in the title when given.
        patch_size: patch side in pixels, named in the title when given.
        hard_threshold: draw the hard threshold here too (None: no line).
        points: thresholds per line.

    Returns:
        The figure.
    """
    from maskstats.tables import cdf_thresholds, share_below

    first = next(iter(values_by_ratio.values()), None)
    panels: dict[str | None, Mapping[float, np.ndarray]]
    if isinstance(first, Mapping):  # strategy -> ratio -> values
        by_strategy = cast("Mapping[str, Mapping[float, np.ndarray]]", values_by_ratio)
        panels = {strategy: values for strategy, values in by_strategy.items()}
    else:
        panels = {None: dict(cast("Mapping[float, np.ndarray]", values_by_ratio))}
    thresholds = [t for t in (easy_threshold, hard_threshold) if t is not None]
    samples = [v for panel in panels.values() for v in panel.values()]
    grid = cdf_thresholds(samples, points, thresholds)
    count = len(panels)
    cols = min(count, 3)
    rows = -(-count // cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(COLUMN_WIDTH if count == 1 else min(FULL_WIDTH, 2.4 * cols), 2.1 * rows + 0.35),
        layout="constrained",
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    colours = strategy_colours([str(name) for name in panels])
    for ax in axes.flat[count:]:
        ax.axis("off")
    for ax, (strategy, values_of) in zip(axes.flat, panels.items(), strict=False):
        shade = ratio_shades(colours[str(strategy)], list(values_of))
        for ratio in sorted(values_of):
            ax.plot(
                grid,
                share_below(values_of[ratio], grid),
                color=shade[float(ratio)],
                lw=1.5,
                label=f"{ratio:g}",
            )
        for threshold, word in ((easy_threshold, "easy"), (hard_threshold, "hard")):
            if threshold is None:
                continue
            ax.axvline(threshold, color="0.45", lw=0.7, ls="--" if word == "easy" else ":")
            # Above the axes, beside the line: it can never cover a line.
            ax.annotate(
                "← easy" if word == "easy" else "hard →",
                xy=(threshold, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(-2 if word == "easy" else 2, 2),
                textcoords="offset points",
                ha="right" if word == "easy" else "left",
                va="bottom",
                fontsize=6.5,
                color="0.3",
            )
        ax.set_ylim(0, 1.0)
        ax.set_xscale("log")
        ax.set_xlim(grid[0], grid[-1])
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.grid(alpha=0.3, lw=0.5)
        ax.legend(
            title="mask ratio", frameon=False, loc="lower right", fontsize=6, title_fontsize=6
        )
        if strategy is not None and count > 1:
            ax.set_title(f"{strategy} masks", pad=11)  # above the threshold labels
    xlabel = (
        "P²Dist of masked patch [patch], log scale (harder →)"
        if count > 1
        else ("P²Dist [patch], log scale (harder →)")
    )
    if count == 1:
        axes[0, 0].set_xlabel(xlabel)
    else:
        fig.supxlabel(xlabel, fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("masked patches with P²Dist < x")
    title = _setting_title(next(iter(panels)) if count == 1 else None, img_size, patch_size)
    joiner = "\n" if count == 1 else ": "  # one column is narrow: the setting on a 2nd line
    fig.suptitle("Cumulative P²Dist of masked patches" + (f"{joiner}{title}" if title else ""))
    return fig


def mask_gallery(
    image: np.ndarray,
    masks: np.ndarray,
    values: np.ndarray,
    titles: Sequence[str],
    metric: str,
    patch_size: int,
    rows: Sequence[str] | None = None,
    img_size: int | None = None,
    cells: Sequence[int | None] | None = None,
    labels: Sequence[str | None] | None = None,
) -> plt.Figure:
    """Masks drawn over an image: visible patches show the image, masked patches are coloured
    by ``metric``, with a colour bar.

    Args:
        image: (H*p, W*p, 3) float in [0, 1] or uint8.
        masks: (K, H, W) bool, True = masked; with ``rows`` and no ``cells``,
            K = len(rows) * len(titles), row-major (one row of panels per entry of ``rows``).
        values: (K, H, W) the metric per patch (NaN on visible).
        titles: one title per column (per panel without ``rows``).
        metric: name in the registry (colour bar label and direction).
        patch_size: patch side in pixels.
        rows: row labels, e.g. the strategies (None: one row).
        img_size: named in the title when given (pixels).
        cells: per panel, row-major, the index of the mask it shows or None for an empty
            panel (None: panel k shows mask k).
        labels: per panel, a note printed inside it (e.g. the mask's own ratio) or None.

    Returns:
        The figure.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.max() > 1.0:
        image = image / 255.0
    row_labels = list(rows) if rows is not None else [None]
    cols = len(titles)
    panels = cols * len(row_labels)
    cells = list(range(len(masks))) if cells is None else list(cells)
    labels = [None] * panels if labels is None else list(labels)
    if len(cells) != panels or len(labels) != panels:
        raise ValueError(f"{len(cells)} masks for {len(row_labels)} rows of {cols} panels")
    side = FULL_WIDTH / cols * 0.92
    fig, axes = plt.subplots(
        len(row_labels),
        cols,
        figsize=(FULL_WIDTH, min(side, 1.45) * len(row_labels) + 0.55),
        layout="constrained",
        squeeze=False,
    )
    finite = values[np.isfinite(values)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    # Positive values (distances) on a log scale: the easy end, where most patches of a
    # dispersed mask lie, stays readable beside a block mask's far patches.
    log = vmin > 0 and vmax > 2 * vmin
    norm = matplotlib.colors.LogNorm(vmin, vmax) if log else matplotlib.colors.Normalize(vmin, vmax)
    cmap = plt.get_cmap("viridis" if REGISTRY[metric].higher_is_harder else "viridis_r")
    block = np.ones((patch_size, patch_size))
    shown = matplotlib.cm.ScalarMappable(norm, cmap)
    for k, (ax, index, label) in enumerate(zip(axes.flat, cells, labels, strict=True)):
        row, col = divmod(k, cols)
        if row == 0:
            ax.set_title(titles[col])
        if col == 0 and row_labels[row] is not None:
            ax.set_ylabel(row_labels[row])
        ax.set_xticks([])
        ax.set_yticks([])
        if index is None:
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.text(
                0.5,
                0.5,
                "no mask at\nthis ratio",
                ha="center",
                va="center",
                color="0.55",
                fontsize=6.5,
                transform=ax.transAxes,
            )
            continue
        ax.imshow(image)
        overlay = np.kron(np.where(masks[index], values[index], np.nan), block)
        ax.imshow(overlay, cmap=cmap, norm=norm, alpha=0.92)
        if label:
            ax.text(
                0.03,
                0.03,
                label,
                transform=ax.transAxes,
                fontsize=6.5,
                color="black",
                va="bottom",
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "lw": 0},
            )
    bar = fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8, pad=0.01)
    bar.set_label(_axis_label(metric) + (", log scale" if log else ""))
    if log:
        bar.ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        bar.ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        bar.ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    title = _setting_title(row_labels[0] if len(row_labels) == 1 else None, img_size, patch_size)
    fig.suptitle(
        (title + ": " if title else "")
        + "visible patches show the photo, masked ones their "
        + metric
    )
    return fig


def agreement_pairs(agreement: pd.DataFrame, method: str = "spearman") -> pd.DataFrame:
    """The agreement table as a matrix: a row per (strategy, mask ratio), a column per pair
    of metrics ("a–b", each pair once, in registry order), the correlation in each cell.

    Args:
        agreement: :func:`maskstats.tables.metric_agreement` output (optionally with a
            ``strategy`` column).
        method: "spearman" or "kendall".

    Returns:
        DataFrame indexed by (strategy, mask_ratio).
    """
    chosen = agreement[agreement["method"] == method]
    if "strategy" not in chosen.columns:
        chosen = chosen.assign(strategy="")
    order = list(dict.fromkeys(chosen["metric_a"]))
    rank = {name: k for k, name in enumerate(order)}
    pairs = chosen[chosen["metric_a"].map(rank) < chosen["metric_b"].map(rank)]
    pairs = pairs.assign(pair=pairs["metric_a"] + "–" + pairs["metric_b"])
    matrix = pairs.pivot_table(
        index=["strategy", "mask_ratio"], columns="pair", values="correlation", sort=False
    )
    columns = list(dict.fromkeys(pairs["pair"]))
    settings = list(dict.fromkeys(zip(pairs["strategy"], pairs["mask_ratio"], strict=True)))
    return matrix.loc[settings, columns]


def agreement_heatmap(
    agreement: pd.DataFrame,
    method: str = "spearman",
    img_size: int | None = None,
    patch_size: int | None = None,
) -> plt.Figure:
    """Heatmap of the rank correlation between metrics over the same masked patches
    (oriented, higher = harder): a row per (strategy, mask ratio), a column per pair of
    metrics (:func:`agreement_pairs`), the value printed in each cell, one colour bar.

    Args:
        agreement: :func:`maskstats.tables.metric_agreement` output (optionally with a
            ``strategy`` column).
        method: "spearman" or "kendall".
        img_size: image side in pixels, named in the title when given.
        patch_size: patch side in pixels, named in the title when given.

    Returns:
        The figure.
    """
    matrix = agreement_pairs(agreement, method)
    strategies = list(dict.fromkeys(s for s, _ in matrix.index))
    rows = [f"{s + ', ' if s else ''}ratio {r:g}" for s, r in matrix.index]
    width = min(FULL_WIDTH, 0.62 * matrix.shape[1] + 1.7)
    fig, ax = plt.subplots(figsize=(width, 0.24 * len(rows) + 1.8), layout="constrained")
    values = matrix.to_numpy(np.float64)
    image = ax.imshow(values, vmin=-1, vmax=1, cmap="RdBu_r", aspect="auto")
    ax.set_xticks(range(matrix.shape[1]), list(matrix.columns), rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    for (a, b), value in np.ndenumerate(values):
        if np.isfinite(value):
            ax.text(
                b,
                a,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=6.5,
                color="white" if abs(value) > 0.6 else "black",
            )
    # A line between strategies, so each strategy's ratios read as one group.
    starts = [
        k for k in range(1, len(matrix.index)) if matrix.index[k][0] != matrix.index[k - 1][0]
    ]
    for k in starts:
        ax.axhline(k - 0.5, color="white", lw=2)
    label = "Spearman ρ" if method == "spearman" else "Kendall τ"
    # Below the heatmap, as wide as it, its label along it (a label beside a short vertical
    # bar runs into the title).
    fig.colorbar(
        image,
        ax=ax,
        location="bottom",
        label=f"{label} (oriented: higher = harder)",
        fraction=0.9 / (len(rows) + 4),
        pad=0.03,
        aspect=40,
    )
    title = _setting_title(strategies[0] if len(strategies) == 1 else None, img_size, patch_size)
    fig.suptitle("Do the metrics rank patches alike?" + (f"\n{title}" if title else ""))
    return fig


def achievable_range_plot(range_table: pd.DataFrame, sweep_table: pd.DataFrame) -> plt.Figure:
    """AvgDist reachable at each mask ratio (shaded, between the lowest and highest), with the
    mean and 10-90% band of random, block and simmim masks inside it.

    Args:
        range_table: columns mask_ratio, low, high (pixels).
        sweep_table: :func:`maskstats.sweeps.sweep` output.
    """
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.6), layout="constrained")
    ax.fill_between(
        range_table["mask_ratio"],
        range_table["low"],
        range_table["high"],
        color="0.88",
        label="achievable",
    )
    ax.plot(range_table["mask_ratio"], range_table["low"], color="0.5", lw=0.8)
    ax.plot(range_table["mask_ratio"], range_table["high"], color="0.5", lw=0.8)
    grouped = sweep_table.groupby(["strategy", "mask_ratio"], sort=False)["avgdist"]
    stats = grouped.agg(mean="mean", lo=lambda v: v.quantile(0.1), hi=lambda v: v.quantile(0.9))
    for k, strategy in enumerate(dict.fromkeys(sweep_table["strategy"])):
        s = stats.loc[strategy]
        color = OKABE_ITO[k % len(OKABE_ITO)]
        ax.plot(s.index, s["mean"], marker="o", ms=2.5, color=color, label=strategy)
        ax.fill_between(s.index, s["lo"], s["hi"], color=color, alpha=0.25, lw=0)
    ax.axhspan(*SIMMIM_MODERATE_PX, color=OKABE_ITO[5], alpha=0.12, lw=0, label="SimMIM moderate")
    ax.set_yscale("log")
    ax.set_xlabel("mask ratio")
    ax.set_ylabel("AvgDist [px] (log)")
    ax.legend(frameon=False, fontsize=6, loc="upper left")
    return fig


def effective_difficulty(
    table: pd.DataFrame, simmim_band: tuple[float, float] = SIMMIM_MODERATE_PX
) -> plt.Figure:
    """Effective AvgDist of each loss setting against mask ratio, SimMIM's moderate band
    shaded: left the weightings (without decoder masking), right decoder masking without
    (dashed) and with flatten (solid); plain MAE in black on both.

    Args:
        table: :func:`maskstats.sweeps.loss_difficulty_sweep` output.
        simmim_band: SimMIM's moderate AvgDist band (px).

    Returns:
        The figure.
    """
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(FULL_WIDTH, 2.9), layout="constrained", sharey=True
    )
    settings = list(dict.fromkeys(table["setting"]))
    weighted = [
        n for n in settings if (table.loc[table["setting"] == n, "decoder_mask_ratio"] == 0).all()
    ]
    dropped = [n for n in settings if n not in weighted]
    qs = sorted({float(q) for q in table["decoder_mask_ratio"] if q > 0})
    for ax, names in ((left, weighted), (right, ["plain MAE", *dropped])):
        ax.axhspan(*simmim_band, color="0.88", zorder=0, lw=0, label="SimMIM moderate (10-20 px)")
        colour = 0
        for name in names:
            rows = table[table["setting"] == name].sort_values("mask_ratio")
            if rows.empty:
                continue
            q = float(rows["decoder_mask_ratio"].iloc[0])
            style = {"marker": "o", "ms": 2.5, "lw": 1.2}
            if name == "plain MAE":
                style.update(color="#000", lw=1.6)
            elif (rows["weighting"] == "histogram").any():  # the comparison, not a method
                style.update(color="0.45", ls="--")
            elif ax is right:
                style.update(
                    color=OKABE_ITO[qs.index(q) % len(OKABE_ITO)],
                    ls="-" if (rows["weighting"] != "none").any() else "--",
                )
            else:
                style.update(color=OKABE_ITO[colour % len(OKABE_ITO)])
                colour += 1
            ax.plot(rows["mask_ratio"], rows["effective_avgdist"], label=name, **style)
        ax.set_xlabel("mask ratio")
        ax.grid(alpha=0.3, lw=0.5)
        ax.legend(frameon=False, fontsize=6, loc="upper left")
    left.set_ylabel("effective AvgDist [px] (loss-weighted)")
    strategy = f"{table['strategy'].iloc[0]} masks: " if "strategy" in table else ""
    left.set_title(f"{strategy}weightings (no decoder masking)")
    right.set_title("decoder masking q: dashed alone, solid with flatten p2dist")
    return fig


def loss_per_bin(records: Sequence[dict]) -> plt.Figure:
    """Mean reconstruction loss per difficulty bin, one line per epoch, over grey bars of the
    share of masked patches in each bin (last epoch), so that a nearly empty tail bin is not
    read as signal.

    Args:
        records: the trainer's epoch records (``maskstats.mae.runlog.read_metrics``), each
            with ``metric``, ``epoch``, ``bin_centre``, ``bin_loss`` and ``bin_share``, and
            optionally ``label`` (the line's name; default "epoch N").
    """
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.6), layout="constrained")
    share_ax = ax.twinx()
    ax.set_zorder(share_ax.get_zorder() + 1)
    ax.patch.set_visible(False)
    cmap = plt.get_cmap("viridis")
    labels: list[str] = []
    for k, record in enumerate(records):
        centres = record["bin_centre"]
        points = [(i, loss) for i, loss in enumerate(record["bin_loss"]) if loss is not None]
        labels = [f"{c:.2g}" for c in centres if c is not None]
        labels += [f"> {labels[-1]}" if labels else "all"] * (len(centres) - len(labels))
        if not points:
            continue
        ax.plot(
            [i for i, _ in points],
            [loss for _, loss in points],
            marker="o",
            ms=2.5,
            color=cmap(k / max(1, len(records) - 1)),
            label=record.get("label", f"epoch {record['epoch']}"),
        )
    if records and records[-1].get("bin_share") is not None:
        shares = 100 * np.asarray(records[-1]["bin_share"], dtype=np.float64)
        share_ax.bar(np.arange(len(shares)), shares, 0.8, color="0.85", lw=0)
        last = records[-1].get("label", f"epoch {records[-1]['epoch']}")
        share_ax.set_ylabel(f"% of masked patches ({last})", color="0.45")
        share_ax.tick_params(axis="y", colors="0.45")
        share_ax.spines["right"].set_visible(True)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
    name = records[0]["metric"] if records else "difficulty"
    direction = (
        ("harder →" if REGISTRY[name].higher_is_harder else "easier →") if name in REGISTRY else ""
    )
    ax.set_xlabel(f"{name} bin centre ({direction})")
    ax.set_ylabel("mean reconstruction loss")
    ax.legend(fontsize=6, frameon=False, ncol=2)
    return fig


def speedups(table: pd.DataFrame) -> plt.Figure:
    """Bar chart, log scale: µs per mask of the kernel and each baseline, per metric, for the
    random 224/16 r=0.75 case with the largest N.

    Args:
        table: :func:`maskstats.bench.run_cases` output.
    """
    chosen = table[(table.strategy == "random") & (table.mask_ratio == 0.75)]
    chosen = chosen[chosen.n == chosen.n.max()]
    metrics = list(dict.fromkeys(chosen.metric))
    implementations = list(dict.fromkeys(chosen.implementation))
    color_of = {impl: OKABE_ITO[k % len(OKABE_ITO)] for k, impl in enumerate(implementations)}
    fig, ax = plt.subplots(figsize=(6.5, 3.4), layout="constrained")
    width = 0.2
    labelled = set()
    for i, metric in enumerate(metrics):
        sub = chosen[chosen.metric == metric]
        offsets = (np.arange(len(sub)) - (len(sub) - 1) / 2) * width
        for offset, (_, row) in zip(offsets, sub.iterrows(), strict=True):
            label = None if row.implementation in labelled else row.implementation
            labelled.add(row.implementation)
            ax.bar(
                i + offset, row.us_per_mask, width, color=color_of[row.implementation], label=label
            )
    ax.set_xticks(range(len(metrics)), metrics)
    ax.set_yscale("log")
    ax.set_ylabel("µs per mask (log)")
    ax.set_title(f"Metric cost, 224/16, mask ratio 0.75, N={chosen.n.max()}", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    return fig


def table5_bars(table: pd.DataFrame) -> plt.Figure:
    """Linear probe and k-NN top-1 per configuration: the mean over seeds, with ± std error
    bars when there are several seeds. The y axis is zoomed (it says from where), the legend
    sits above the axes.

    Args:
        table: :func:`maskstats.mae.table5.summarize`'s "table" (columns "linear probe",
            "linear probe std", "k-NN", "k-NN std", "seeds").
    """
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 3.0), layout="constrained")
    x = np.arange(len(table))
    seeds = int(np.nanmax(table["seeds"])) if len(table) else 0
    several = seeds > 1
    for k, (key, color) in enumerate((("linear probe", OKABE_ITO[0]), ("k-NN", OKABE_ITO[1]))):
        errors = table[f"{key} std"].to_numpy(np.float64) if several else None
        if errors is not None:
            errors = np.where(np.isfinite(errors), errors, 0.0)
        ax.bar(
            x + (k - 0.5) * 0.38,
            table[key],
            0.38,
            yerr=errors,
            capsize=2 if several else 0,
            color=color,
            label=key,
        )
    ax.set_xticks(x, table.index, rotation=30, ha="right")
    values = table[["linear probe", "k-NN"]].to_numpy(np.float64)
    low = float(np.nanmin(values)) if np.isfinite(values).any() else 0.0
    bottom = max(0.0, np.floor((low - 0.05) * 20) / 20)
    ax.set_ylim(bottom, 1.0)
    what = f"bars: mean ± std over {seeds} seeds" if several else "bars: one seed"
    start = f"; the y axis starts at {bottom:.2f}, not 0" if bottom > 0 else ""
    ax.set_ylabel("top-1 accuracy")
    ax.set_title(what + start, loc="left", fontsize=7, color="0.3")
    fig.legend(loc="outside upper center", ncol=2, frameon=False)
    return fig


def literature_scatter(
    table: pd.DataFrame,
    correlations: pd.DataFrame,
    statistics: Sequence[str] = ("AvgDist [px]", "easy share", "distance to SimMIM band [px]"),
    simmim_band: tuple[float, float] = SIMMIM_MODERATE_PX,
) -> plt.Figure:
    """Published accuracies against maskstats' statistics of the same masks: a column per
    statistic, a row per accuracy (linear probe, fine-tune), a labelled point per published
    row, Spearman's rho and its exact p in each title; the AvgDist panels shade SimMIM's band.

    Args:
        table: :func:`maskstats.literature.mae_sampling_statistics`.
        correlations: :func:`maskstats.literature.rank_correlations` of that table.
        statistics: the columns to plot.
        simmim_band: SimMIM's moderate AvgDist band (px).
    """
    accuracies = (("linear", "linear probe top-1 [%]"), ("fine-tune", "fine-tune top-1 [%]"))
    fig, axes = plt.subplots(
        len(accuracies),
        len(statistics),
        figsize=(FULL_WIDTH, 4.2),
        layout="constrained",
        squeeze=False,
    )
    colours = {name: OKABE_ITO[k % len(OKABE_ITO)] for k, name in enumerate(table.index)}
    for i, (column, label) in enumerate(accuracies):
        for j, statistic in enumerate(statistics):
            ax = axes[i, j]
            if statistic == "AvgDist [px]":
                ax.axvspan(*simmim_band, color="0.9", zorder=0)
                ax.text(
                    sum(simmim_band) / 2,
                    0.03,
                    f"SimMIM\n{simmim_band[0]:g}–{simmim_band[1]:g} px",
                    transform=ax.get_xaxis_transform(),
                    ha="center",
                    va="bottom",
                    fontsize=6,
                    color="0.35",
                )
            x = table[statistic].to_numpy(np.float64)
            y = table[column].to_numpy(np.float64)
            span_x = max(float(np.ptp(x)), 1e-9)
            span_y = max(float(np.ptp(y)), 1e-9)
            placed: list[tuple[float, float]] = []
            for name, xi, yi in zip(table.index, x, y, strict=True):
                ax.scatter(xi, yi, color=colours[name], s=22, zorder=3)
                near = any(
                    abs(xi - a) / span_x < 0.25 and abs(yi - b) / span_y < 0.12 for a, b in placed
                )
                placed.append((xi, yi))
                ax.annotate(
                    name,
                    (xi, yi),
                    textcoords="offset points",
                    xytext=(4, -9) if near else (4, 3),
                    fontsize=6,
                    color=colours[name],
                )
            rho = correlations.loc[statistic, f"spearman vs {column}"]
            p = correlations.loc[statistic, f"p vs {column}"]
            ax.set_title(f"Spearman {rho:+.2f} (exact p {p:.2f})", loc="left", fontsize=7)
            lo, hi = ax.get_xlim()
            ax.set_xlim(lo, hi + 0.25 * (hi - lo))  # room for the labels
            ax.margins(y=0.12)
            if i == len(accuracies) - 1:
                ax.set_xlabel(statistic)
            if j == 0:
                ax.set_ylabel(label)
    fig.suptitle(
        "Published accuracy (one run per row) against maskstats' statistics of the same masks",
        fontsize=8,
        x=0.01,
        ha="left",
    )
    return fig


def clip_difficulty(table: pd.DataFrame) -> plt.Figure:
    """Clips: spatio-temporal (solid) against per-frame (dashed) AvgDist and easy share, and
    the share of masked tokens whose own position is visible one token-frame away (solid) or
    in any other token-frame (dotted), against mask ratio; a colour per strategy.

    Args:
        table: :func:`maskstats.sweeps.clip_sweep` output.

    Returns:
        The figure.
    """
    fig, axes = plt.subplots(1, 3, figsize=(FULL_WIDTH, 2.5), layout="constrained")
    strategies = list(dict.fromkeys(table["strategy"]))
    panels = (
        ("avgdist", "avgdist_frame", "AvgDist [px] (harder ↑)"),
        ("easy_share", "easy_share_frame", "easy share of masked tokens"),
        ("leak_share", "seen_share", "own position visible elsewhere"),
    )
    for ax, (solid, dashed, label) in zip(axes, panels, strict=True):
        for k, strategy in enumerate(strategies):
            rows = table[table["strategy"] == strategy].sort_values("mask_ratio")
            colour = OKABE_ITO[k % len(OKABE_ITO)]
            ax.plot(rows["mask_ratio"], rows[solid], color=colour, marker="o", ms=2.5, lw=1.2,
                    label=strategy)  # fmt: skip
            ax.plot(rows["mask_ratio"], rows[dashed], color=colour, lw=1.0,
                    ls=":" if solid == "leak_share" else "--")  # fmt: skip
        ax.set_xlabel("mask ratio")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, lw=0.5)
    axes[0].set_title("clip (solid) vs one frame (dashed)")
    axes[1].set_title("clip (solid) vs one frame (dashed)")
    axes[2].set_title("next tubelet (solid), any (dotted)")
    axes[1].set_ylim(-0.03, 1.03)
    axes[2].set_ylim(-0.03, 1.03)
    axes[0].legend(frameon=False, loc="upper left")
    return fig
