"""Figures from DataFrames and arrays; no metric computation here. PNG and PDF, sized for a
paper column, Okabe-Ito (colour-blind-safe) colours."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from maskstats.metrics import REGISTRY  # noqa: E402

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000"]
SIMMIM_MODERATE_PX = (10.0, 20.0)
"""SimMIM's "moderate" AvgDist band in pixels (its Fig. 3)."""
COLUMN_WIDTH = 3.4  # inches, one column of a two-column paper
FULL_WIDTH = 7.0

plt.rcParams.update(
    {
        "font.size": 8,
        "axes.titlesize": 8,
        "axes.labelsize": 8,
        "legend.fontsize": 7,
        "xtick.labelsize": 7,
        "ytick.labelsize": 7,
        "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
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
    """
    cols = 3
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(FULL_WIDTH, 2.1 * rows), layout="constrained", squeeze=False
    )
    grouped = sweep_table.groupby(["strategy", "mask_ratio"], sort=False)
    strategies = list(dict.fromkeys(sweep_table["strategy"]))
    for ax, name in zip(axes.flat, names, strict=False):
        stats = grouped[name].agg(
            mean="mean", lo=lambda v: v.quantile(0.1), hi=lambda v: v.quantile(0.9)
        )
        for k, strategy in enumerate(strategies):
            s = stats.loc[strategy]
            color = OKABE_ITO[k % len(OKABE_ITO)]
            ax.plot(s.index, s["mean"], marker="o", ms=2.5, color=color, label=strategy)
            ax.fill_between(s.index, s["lo"], s["hi"], color=color, alpha=0.2, lw=0)
        if name == "avgdist":
            ax.axhspan(*simmim_band, color="0.85", zorder=0, label="SimMIM moderate")
        ax.set_xlabel("mask ratio")
        ax.set_ylabel(_axis_label(name))
        ax.grid(alpha=0.3, lw=0.5)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    handles, labels = axes.flat[len(names) - 1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower right", bbox_to_anchor=(0.98, 0.08), frameon=False)
    fig.suptitle("Difficulty vs mask ratio (per-mask means; line: mean, band: 10-90%)")
    return fig


def p2dist_distributions(
    values_by_ratio: dict[float, np.ndarray],
    bin_width: float = 0.25,
    easy_threshold: float | None = 0.5,
) -> plt.Figure:
    """Fig.2-style: share of masked patches per p2dist bin at several mask ratios, one shared
    axis.

    Args:
        values_by_ratio: mask ratio -> 1-D p2dist of masked patches (patch units).
        bin_width: histogram bin width in patch units.
        easy_threshold: draw the easy threshold here (None: no line).
    """
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.4), layout="constrained")
    upper = max(np.quantile(v, 0.995) for v in values_by_ratio.values())
    edges = np.arange(0.0, upper + bin_width, bin_width)
    for k, (ratio, values) in enumerate(values_by_ratio.items()):
        weights = np.full(len(values), 1.0 / max(len(values), 1))
        color = OKABE_ITO[k % len(OKABE_ITO)]
        ax.hist(
            values,
            edges,
            weights=weights,
            histtype="step",
            lw=1.4,
            color=color,
            label=f"mask ratio {ratio:g}",
        )
    if easy_threshold is not None:
        ax.axvline(easy_threshold, color="0.4", lw=0.8, ls="--")
        ax.text(
            easy_threshold, ax.get_ylim()[1] * 0.97, " easy ←", va="top", fontsize=7, color="0.3"
        )
    ax.set_xlabel("P²Dist of masked patch [patch] (harder →)")
    ax.set_ylabel("share of masked patches")
    ax.legend(frameon=False)
    ax.set_title("Easy targets vanish as the mask ratio rises")
    return fig


def mask_gallery(
    image: np.ndarray,
    masks: np.ndarray,
    values: np.ndarray,
    titles: Sequence[str],
    metric: str,
    patch_size: int,
) -> plt.Figure:
    """Masks drawn over an image: visible patches show the image, masked patches are coloured
    by ``metric``, with a colour bar.

    Args:
        image: (H*p, W*p, 3) float in [0, 1] or uint8.
        masks: (K, H, W) bool, True = masked.
        values: (K, H, W) the metric per patch (NaN on visible).
        titles: K panel titles.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.max() > 1.0:
        image = image / 255.0
    count = len(masks)
    fig, axes = plt.subplots(
        1,
        count,
        figsize=(FULL_WIDTH, FULL_WIDTH / count * 1.05 + 0.5),
        layout="constrained",
        squeeze=False,
    )
    finite = values[np.isfinite(values)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    cmap = plt.get_cmap("viridis" if REGISTRY[metric].higher_is_harder else "viridis_r")
    block = np.ones((patch_size, patch_size))
    for ax, mask, value, title in zip(axes[0], masks, values, titles, strict=True):
        ax.imshow(image)
        overlay = np.kron(np.where(mask, value, np.nan), block)
        shown = ax.imshow(overlay, cmap=cmap, vmin=vmin, vmax=vmax, alpha=0.92)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    bar = fig.colorbar(shown, ax=axes[0].tolist(), shrink=0.8, pad=0.01)
    bar.set_label(_axis_label(metric))
    return fig


def agreement_heatmap(agreement: pd.DataFrame, method: str = "spearman") -> plt.Figure:
    """Heatmap of the correlation between metrics (oriented, higher = harder), one panel per
    mask ratio.

    Args:
        agreement: :func:`maskstats.tables.metric_agreement` output.
    """
    chosen = agreement[agreement["method"] == method]
    ratios = list(dict.fromkeys(chosen["mask_ratio"]))
    fig, axes = plt.subplots(
        1,
        len(ratios),
        figsize=(min(FULL_WIDTH, 2.4 * len(ratios) + 0.6), 2.5),
        layout="constrained",
        squeeze=False,
    )
    for ax, ratio in zip(axes[0], ratios, strict=True):
        matrix = chosen[chosen["mask_ratio"] == ratio].pivot(
            index="metric_a", columns="metric_b", values="correlation"
        )
        order = list(dict.fromkeys(chosen["metric_a"]))
        matrix = matrix.loc[order, order]
        image = ax.imshow(matrix.to_numpy(), vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(len(order)), order, rotation=45, ha="right")
        ax.set_yticks(range(len(order)), order)
        for (i, j), value in np.ndenumerate(matrix.to_numpy()):
            ax.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=6.5,
                color="white" if abs(value) > 0.6 else "black",
            )
        ax.set_title(f"mask ratio {ratio:g}")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label=f"{method} (oriented)")
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


def loss_per_bin(records: Sequence[dict]) -> plt.Figure:
    """Mean reconstruction loss per difficulty bin, one line per epoch.

    Args:
        records: the trainer's epoch records (``maskstats.mae.runlog.read_metrics``), each
            with ``metric``, ``epoch``, ``bin_centre`` and ``bin_loss``.
    """
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.4), layout="constrained")
    cmap = plt.get_cmap("viridis")
    for k, record in enumerate(records):
        centres = record["bin_centre"]
        points = [(i, loss) for i, loss in enumerate(record["bin_loss"]) if loss is not None]
        if not points:
            continue
        ax.plot(
            [i for i, _ in points],
            [loss for _, loss in points],
            marker="o",
            ms=2.5,
            color=cmap(k / max(1, len(records) - 1)),
            label=f"epoch {record['epoch']}",
        )
        labels = [f"{c:.2g}" for c in centres if c is not None]
        labels += [f"> {labels[-1]}"] * (len(centres) - len(labels))
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
    name = records[0]["metric"]
    direction = "harder →" if REGISTRY[name].higher_is_harder else "easier →"
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
    """Linear probe and k-NN top-1 (mean ± std over seeds) per configuration.

    Args:
        table: :func:`maskstats.mae.table5.summarize`'s "table" (columns "linear probe",
            "linear probe std", "k-NN", "k-NN std", "seeds").
    """
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 2.8), layout="constrained")
    x = np.arange(len(table))
    for k, (key, color) in enumerate((("linear probe", OKABE_ITO[0]), ("k-NN", OKABE_ITO[1]))):
        ax.bar(
            x + (k - 0.5) * 0.38,
            table[key],
            0.38,
            yerr=table[f"{key} std"],
            capsize=2,
            color=color,
            label=key,
        )
    ax.set_xticks(x, table.index, rotation=30, ha="right")
    low = float(np.nanmin(table[["linear probe", "k-NN"]].to_numpy()))
    ax.set_ylim(max(0.0, low - 0.1), 1.0)
    ax.set_ylabel(f"top-1 (mean ± std, {int(table['seeds'].max())} seeds)")
    ax.legend(frameon=False, ncol=2)
    return fig
