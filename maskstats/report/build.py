"""``maskstats report``: the sweep, the Tab.5-style table, four figures and index.html, written
into a folder that replaces ``out`` only when complete (see :mod:`maskstats.report.output`)."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from maskstats.masks import grid_from_image
from maskstats.report.output import (
    MANIFEST,
    building,
    jsonable,
    now_text,
    package_version,
)
from maskstats.report.page import headline_table, write_index
from maskstats.report.settings import (
    FIG2_RATIOS,
    GALLERY_RATIOS,
    ReportSettings,
    Skipped,
    ratios_for,
)
from maskstats.report.video import run_clip_report

if TYPE_CHECKING:  # pandas and matplotlib load only when a report runs
    import pandas as pd


def default_image(img_size: int) -> np.ndarray:
    """A photo that ships inside scikit-image (the astronaut), centre-cropped and resized to
    ``img_size`` x ``img_size``; (img_size, img_size, 3) float in [0, 1]."""
    from skimage import data, transform

    photo = data.astronaut()
    side = min(photo.shape[:2])
    top = (photo.shape[0] - side) // 2
    left = (photo.shape[1] - side) // 2
    crop = photo[top : top + side, left : left + side]
    return transform.resize(crop, (img_size, img_size), anti_aliasing=True)


def _spec(spec: str) -> object | None:
    """The resolved strategy spec (``maskstats.masks.resolve_strategy``, where this version
    of the masks package has it), else None."""
    from maskstats import masks as mask_lib

    resolve = getattr(mask_lib, "resolve_strategy", None)
    try:
        return resolve(spec) if resolve is not None else None
    except ValueError:
        return None


def display_name(spec: str) -> str:
    """The sweep's ``strategy`` column for a spec: the built-in name, the callable's name or
    the mask file's name."""
    resolved = _spec(spec)
    return getattr(resolved, "name", spec)


ReportMasks = dict[tuple[str, float], np.ndarray]
"""(strategy display name, mask ratio as the sweep records it) -> (N, H, W) bool masks."""


def report_masks(
    s: ReportSettings, progress: bool = False, skipped: Skipped | None = None
) -> ReportMasks:
    """Every setting's masks, made once (:func:`maskstats.sweeps.sweep_masks`): the one set
    that the summary, the metric table, the agreement, the distributions, the gallery, the
    loss section and the mask browser all measure. The same settings always give the same
    masks, so a writer called without them (``masks=None``) makes these again.

    Args:
        s: the report's settings.
        progress: show a progress bar.
        skipped: collects settings out of reach (difficulty targets, grid ratios).

    Returns:
        (strategy, mask ratio) -> masks, in the sweep's order.

    Raises:
        ValueError: nothing could be made (one line saying why).
    """
    from maskstats import sweeps

    skipped = skipped if skipped is not None else Skipped()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = sweeps.sweep_masks(
            s.strategies,
            s.mask_ratios,
            s.img_size,
            s.patch_size,
            s.n,
            s.seed,
            progress=progress,
            mask_patch_size=s.mask_patch_size,
            target_avgdist=s.target_avgdist,
        )
    reasons = []
    for warning in caught:
        text = str(warning.message)
        if text.startswith("skipping ") and " at mask ratio " in text:
            head, _, reason = text.partition(": ")
            strategy = head.split()[1]
            ratio = float(head.split(" at mask ratio ")[1])
            skipped.add(strategy, ratio, reason)
            reasons.append(reason)
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if not made:
        if reasons:
            raise ValueError(
                "nothing to report: the difficulty target is out of reach at every mask ratio "
                f"({reasons[0].splitlines()[0]})"
            )
        raise ValueError("the sweep made no masks (no strategy could make any requested ratio)")
    return made


def _by_strategy(masks: ReportMasks) -> dict[str, dict[float, np.ndarray]]:
    """Strategy -> {mask ratio -> masks}, in the sweep's order."""
    grouped: dict[str, dict[float, np.ndarray]] = {}
    for (name, ratio), made in masks.items():
        grouped.setdefault(name, {})[ratio] = made
    return grouped


def write_sweep(
    out: Path,
    s: ReportSettings,
    progress: bool = True,
    per_mask_rows: bool = True,
    skipped: Skipped | None = None,
    masks: ReportMasks | None = None,
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Sweep strategies x ratios; write summary.csv (and sweep.csv, one row per mask) and the
    difficulty-vs-ratio figure.

    Args:
        out: folder to write into.
        s: the report's settings.
        progress: show a progress bar.
        per_mask_rows: also write sweep.csv.
        skipped: collects settings out of reach (difficulty targets).
        masks: :func:`report_masks` (made here when None).

    Returns:
        The per-(strategy, ratio) summary (means over masks, and the 10% and 90% quantiles
        over masks of each metric) and the files written.
    """
    from maskstats import plot, sweeps, tables

    masks = masks if masks is not None else report_masks(s, progress, skipped)
    table = sweeps.sweep_table(masks, s.patch_size, progress=progress)
    # A mask that hides every patch has no distance (AvgDist NaN): its per-patch means and
    # shares are undefined too, not 0.
    undefined = ~np.isfinite(table["avgdist"].to_numpy(np.float64))
    if undefined.any():
        columns = [c for c in table.columns if c not in ("strategy", "mask_ratio", "mask")]
        columns = [c for c in columns if c not in ("n_masked", "avgdist")]
        table.loc[undefined, columns] = np.nan
    files: dict[str, Path] = {}
    if per_mask_rows:
        files["sweep.csv"] = out / "sweep.csv"
        table.to_csv(files["sweep.csv"], index=False)
    summary = tables.sweep_summary(table, quantiles=BAND_QUANTILES)
    files["summary.csv"] = out / "summary.csv"
    summary.to_csv(files["summary.csv"], index=False)
    files.update(_save(plot.difficulty_vs_ratio(table), out / "difficulty_vs_ratio"))
    return summary, files


BAND_QUANTILES = (0.1, 0.9)
"""The band of the difficulty-vs-ratio figure: 10% to 90% of masks."""


def _usable(masks: np.ndarray) -> np.ndarray:
    """The masks with a masked and a visible patch (distances need both)."""
    flat = masks.reshape(masks.shape[0], -1)
    return masks[flat.any(axis=1) & ~flat.all(axis=1)]


def distribution_ratios(masks: ReportMasks) -> dict[str, list[float]]:
    """Strategy -> the mask ratios the P²Dist distributions show: those nearest the paper's
    Fig. 2 (0.75, 0.85, 0.9, 0.95) where the strategy has them, else up to four of its own."""
    return {name: ratios_for(FIG2_RATIOS, list(of)) for name, of in _by_strategy(masks).items()}


CDF_POINTS = 81
"""Thresholds at which p2dist_cdf.csv (and the page's chart) evaluates each distribution."""


def p2dist_cdf(
    values: Mapping[str, Mapping[float, np.ndarray]], points: int = CDF_POINTS
) -> pd.DataFrame:
    """The share of masked patches below each P²Dist, per strategy and ratio, on one shared
    grid of log-spaced thresholds (:func:`maskstats.tables.cdf_thresholds`; the easy and
    hard thresholds included, so the share at 0.5 is the easy share of the pooled patches).

    Args:
        values: strategy -> mask ratio -> the P²Dist of every masked patch (patch units).
        points: log-spaced thresholds (the two thresholds come on top).

    Returns:
        Long DataFrame: strategy, mask_ratio, p2dist (threshold, patches), share (of masked
        patches with a smaller P²Dist), patches (how many masked patches it is over).
    """
    import pandas as pd

    from maskstats import tables
    from maskstats.sweeps import EASY_P2DIST, HARD_P2DIST

    samples = [v for of in values.values() for v in of.values()]
    grid = tables.cdf_thresholds(samples, points, (EASY_P2DIST, HARD_P2DIST))
    rows = []
    for name, of in values.items():
        for ratio, sample in of.items():
            shares = tables.share_below(sample, grid)
            rows += [
                {
                    "strategy": name,
                    "mask_ratio": ratio,
                    "p2dist": float(x),
                    "share": float(y),
                    "patches": len(sample),
                }
                for x, y in zip(grid, shares, strict=True)
            ]
    return pd.DataFrame(rows)


def gallery_layout(
    masks: ReportMasks, wanted: Sequence[float]
) -> tuple[list[float], list[str], list[list[float | None]]]:
    """Which mask each cell of the gallery shows: a row per strategy, a column per ratio of
    ``wanted`` that some strategy has. A strategy with ratios of its own (grid, multi-block,
    a mask file) shows each of its ratios in the nearest column (the nearest of its ratios
    when two fall into one column); a cell it has nothing for stays empty.

    Returns:
        The column ratios, the row names and, per row, the ratio of the setting each cell
        shows (None: empty).
    """
    grouped = _by_strategy(masks)
    rows = list(grouped)
    have = sorted({r for of in grouped.values() for r in of})
    # The wanted ratios that were made; only when none was, a spread of what was made.
    columns = [w for w in wanted if any(abs(w - r) < 1e-9 for r in have)]
    columns = columns or ratios_for(wanted, have)
    cells: list[list[float | None]] = []
    for name in rows:
        own = list(grouped[name])
        row: list[float | None] = [None] * len(columns)
        for r in own:
            j = min(range(len(columns)), key=lambda k: (abs(columns[k] - r), k))
            held = row[j]
            if held is None or abs(columns[j] - r) < abs(columns[j] - held):
                row[j] = r
        cells.append(row)
    return columns, rows, cells


def write_distribution_figures(
    out: Path,
    s: ReportSettings,
    skipped: Skipped | None = None,
    summary: pd.DataFrame | None = None,
    masks: ReportMasks | None = None,
) -> dict[str, Path]:
    """Fig.2-style P²Dist distributions (a panel per strategy, p2dist_cdf.csv) and the mask
    gallery (a row per strategy, the first mask of each setting shown), from the sweep's masks.

    Args:
        out: folder to write into.
        s: the report's settings.
        skipped: collects settings left out.
        summary: unused (kept for callers of earlier versions).
        masks: :func:`report_masks` (made here when None).

    Returns:
        The files written.
    """
    from maskstats import plot, sweeps
    from maskstats.metrics import compute

    del summary
    masks = masks if masks is not None else report_masks(s, False, skipped)
    grouped = _by_strategy(masks)
    fig2_values: dict[str, dict[float, np.ndarray]] = {}
    for name, ratios in distribution_ratios(masks).items():
        for ratio in ratios:
            made = _usable(grouped[name][ratio])
            if made.any():
                p2 = compute(made, "p2dist", s.patch_size)["p2dist"][made]
                fig2_values.setdefault(name, {})[ratio] = p2.astype(np.float64)
    files: dict[str, Path] = {}
    if fig2_values:
        files["p2dist_cdf.csv"] = out / "p2dist_cdf.csv"
        p2dist_cdf(fig2_values).to_csv(files["p2dist_cdf.csv"], index=False)
        files.update(
            _save(
                plot.p2dist_distributions(
                    fig2_values,
                    easy_threshold=sweeps.EASY_P2DIST,
                    img_size=s.img_size,
                    patch_size=s.patch_size,
                    hard_threshold=sweeps.HARD_P2DIST,
                ),
                out / "p2dist_distributions",
            )
        )
    columns, rows, cells = gallery_layout(masks, GALLERY_RATIOS)
    chosen = [
        (name, r) for name, row in zip(rows, cells, strict=True) for r in row if r is not None
    ]
    if chosen:
        shown = np.stack([grouped[name][r][0] for name, r in chosen])
        values = compute(shown, s.gallery_metric, s.patch_size, on_empty="nan")[s.gallery_metric]
        panels: list[int | None] = []
        labels: list[str | None] = []
        k = 0
        for row in cells:
            for j, r in enumerate(row):
                if r is None:
                    panels.append(None)
                    labels.append(None)
                    continue
                panels.append(k)
                labels.append(None if abs(r - columns[j]) < 1e-9 else f"ratio {r:g}")
                k += 1
        gallery = plot.mask_gallery(
            default_image(s.img_size),
            shown,
            values,
            [f"mask ratio {r:g}" for r in columns],
            s.gallery_metric,
            s.patch_size,
            rows=rows,
            img_size=s.img_size,
            cells=panels,
            labels=labels,
        )
        files.update(_save(gallery, out / "mask_gallery"))
    return files


def _measurable(
    masks: np.ndarray | None, strategy: str, ratio: float, skipped: Skipped
) -> np.ndarray | None:
    """The masks that mask a patch and keep one visible (without a masked patch there is
    nothing to measure, without a visible one no distance); None, and a note in
    ``skipped``, when none does."""
    if masks is None:
        return None
    masked = masks.any(axis=(1, 2))
    keep = masked & ~masks.all(axis=(1, 2))
    if not keep.any():
        why = (
            "no mask masks any patch (nothing to measure)"
            if not masked.any()
            else "every mask hides every patch (no distance defined)"
        )
        skipped.add(strategy, ratio, why)
        return None
    return masks[keep]


def _follows_ratio(spec: str) -> bool:
    """Whether a strategy makes masks at any asked ratio (not grid, multiblock or a file)."""
    resolved = _spec(spec)
    return display_name(spec) != "grid" and not getattr(resolved, "own_ratio", False)


def table_ratios(s: ReportSettings, masks: ReportMasks) -> dict[str, list[float]]:
    """Strategy -> the (up to two) mask ratios of its metric table and agreement: those of
    ``s.table_ratios`` it has, else two of its own spread apart."""
    return {
        name: ratios_for(s.table_ratios, list(of), count=2)
        for name, of in _by_strategy(masks).items()
    }


def write_metric_table(
    out: Path,
    s: ReportSettings,
    skipped: Skipped | None = None,
    summary: pd.DataFrame | None = None,
    masks: ReportMasks | None = None,
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """The Tab.5-style table and metric agreement (CSV and heatmap), per strategy at (up to
    two of) its own ratios (:func:`table_ratios`), on the sweep's masks.

    Files: metric_table.csv (long: one row per strategy, metric and ratio, numbers as they
    are), metric_table.md and .tex (a Tab.5-style table per strategy, its ratios as columns),
    agreement.csv and the metric_agreement figure.

    Args:
        out: folder to write into.
        s: the report's settings.
        skipped: collects settings left out (masks that hide every patch).
        summary: unused (kept for callers of earlier versions).
        masks: :func:`report_masks` (made here when None).

    Returns:
        The long table (:func:`maskstats.tables.metric_rows` with a ``strategy`` column
        first) and the files written.
    """
    import pandas as pd

    from maskstats import plot, tables
    from maskstats.io import atomic_path

    del summary
    skipped = skipped if skipped is not None else Skipped()
    masks = masks if masks is not None else report_masks(s, False, skipped)
    grouped = _by_strategy(masks)
    parts, agreements = [], []
    for strategy, ratios in table_ratios(s, masks).items():
        measured = {r: _measurable(grouped[strategy][r], strategy, r, skipped) for r in ratios}
        chosen = {r: m for r, m in measured.items() if m is not None and m.any()}
        if not chosen:
            continue
        part = tables.metric_rows(chosen, s.patch_size)
        part.insert(0, "strategy", strategy)
        parts.append(part)
        agreement = tables.metric_agreement(chosen, s.patch_size)
        agreement.insert(0, "strategy", strategy)
        agreements.append(agreement)
    files: dict[str, Path] = {}
    if not parts:
        return pd.DataFrame(), files
    table = pd.concat(parts, ignore_index=True)
    files["metric_table.csv"] = out / "metric_table.csv"
    with atomic_path(files["metric_table.csv"]) as tmp:
        table.to_csv(tmp, index=False)
    for suffix, text in (("md", metric_table_markdown(table)), ("tex", metric_table_latex(table))):
        files[f"metric_table.{suffix}"] = out / f"metric_table.{suffix}"
        with atomic_path(files[f"metric_table.{suffix}"]) as tmp:
            tmp.write_text(text, encoding="utf-8")
    agreement = pd.concat(agreements, ignore_index=True)
    files["agreement.csv"] = out / "agreement.csv"
    agreement.to_csv(files["agreement.csv"], index=False)
    heatmap = plot.agreement_heatmap(agreement, img_size=s.img_size, patch_size=s.patch_size)
    files.update(_save(heatmap, out / "metric_agreement"))
    return table, files


def _block_title(strategy: str, ratios: Sequence[float]) -> str:
    shown = ", ".join(f"{r:g}" for r in ratios)
    return f"{strategy + ' masks, ' if strategy else ''}mask ratio{'s' * (len(ratios) > 1)} {shown}"


def metric_table_markdown(table: pd.DataFrame) -> str:
    """metric_table.md: a heading and a Markdown table per strategy (blanks where undefined)."""
    from maskstats import tables
    from maskstats.io import to_markdown

    blocks = tables.metric_table_blocks(table)
    if len(blocks) == 1:
        return to_markdown(blocks[0][2])
    return "\n".join(
        f"**{_block_title(name, ratios)}**\n\n{to_markdown(wide)}" for name, ratios, wide in blocks
    )


def metric_table_latex(table: pd.DataFrame) -> str:
    """metric_table.tex: a tabular per strategy, each after a comment naming it."""
    from maskstats import tables
    from maskstats.io import to_latex

    return "\n".join(
        f"% {_block_title(name, ratios)}\n{to_latex(wide)}"
        for name, ratios, wide in tables.metric_table_blocks(table)
    )


def metric_table_text(table: pd.DataFrame, width: int = 100) -> str:
    """The metric table for a terminal: per strategy, each metric's mean ± std at its ratios
    and its Spearman with P²Dist; blanks where undefined, at most about ``width`` characters a
    line."""
    from maskstats import tables

    lines = []
    for name, ratios, wide in tables.metric_table_blocks(table):
        shown = wide[[c for c in wide.columns if c.startswith("mean ± std") or "spearman" in c]]
        shown = shown.rename(
            columns=lambda c: c.replace("mean ± std @", "ratio ").replace(
                "spearman vs p2dist", "Spearman vs P²Dist"
            )
        )
        text = shown.to_string(
            float_format="{:.3f}".format, na_rep="", max_colwidth=width // 2, line_width=width
        )
        lines += [f"{_block_title(name, ratios)} (mean ± std over masked patches)", text, ""]
    return "\n".join(lines).rstrip()


def write_loss_difficulty(
    out: Path,
    s: ReportSettings,
    skipped: Skipped | None = None,
    masks: ReportMasks | None = None,
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """The paper's section B, quantified: the effective AvgDist of each loss setting
    (:data:`maskstats.sweeps.LOSS_SETTINGS`) at every asked ratio, as loss_difficulty.csv
    (with a ``strategy`` column) and the effective_difficulty figure, on the sweep's random
    (MAE) masks when they were asked for, else on the first asked strategy that takes any
    ratio.

    Args:
        out: folder to write into.
        s: the report's settings.
        skipped: collects settings left out (masks that hide every patch).
        masks: :func:`report_masks` (made here when None).

    Returns:
        The sweep's table (empty when no asked strategy takes the asked ratios) and the files
        written.
    """
    import pandas as pd

    from maskstats import plot, sweeps

    skipped = skipped if skipped is not None else Skipped()
    candidates = [display_name(spec) for spec in s.strategies if _follows_ratio(spec)]
    files: dict[str, Path] = {}
    if not candidates:
        return pd.DataFrame(), files
    masks = masks if masks is not None else report_masks(s, False, skipped)
    name = "random" if "random" in candidates else candidates[0]
    chosen = {}
    for ratio, made in _by_strategy(masks).get(name, {}).items():
        kept = _measurable(made, name, ratio, skipped)
        if kept is not None and kept.any():
            chosen[float(ratio)] = kept
    if not chosen:
        return pd.DataFrame(), files
    table = sweeps.loss_difficulty_sweep(chosen, s.patch_size, seed=s.seed)
    table.insert(0, "strategy", name)
    files["loss_difficulty.csv"] = out / "loss_difficulty.csv"
    table.to_csv(files["loss_difficulty.csv"], index=False)
    files.update(_save(plot.effective_difficulty(table), out / "effective_difficulty"))
    return table, files


IJEPA_BATCHES = 16
"""The literature section measures I-JEPA's two views on at least this many batches of 128
(its ranges are over batches: each batch has one cut)."""


MAE_SAMPLINGS = frozenset({"random", "block", "grid"})
"""The strategies a report must show for its MAE Table 1(f) part (every table and figure
shows only the strategies asked for)."""


def write_literature(
    out: Path, s: ReportSettings
) -> tuple[dict[str, object] | None, dict[str, Path]]:
    """The section against the literature, at 224/16 whatever the report's sizes: MAE's
    Table 1(f) beside maskstats' statistics of ``s.n`` masks per row (with the finding and a
    figure), when the report shows random, block and grid masks; I-JEPA's masks untruncated
    and as its encoder sees them (``s.n`` rounded up to whole batches of 128, at least
    ``IJEPA_BATCHES`` of them), when it shows multiblock masks.

    Returns:
        The tables and finding for :func:`maskstats.report.page.literature_section` (None
        when the report shows neither), and the files written (literature_*.csv,
        literature_mae_table1f.png/.pdf).
    """
    from maskstats import literature

    names = {display_name(spec) for spec in s.strategies}
    tables: dict[str, Any] = {"n": s.n, "seed": s.seed}
    files: dict[str, Path] = {}
    if MAE_SAMPLINGS <= names:
        tables.update(_mae_part(out, s, files))
    if "multiblock" in names:
        batches = max(IJEPA_BATCHES, -(-s.n // literature.IJEPA_IN1K["batch_size"]))
        tables["ijepa"] = literature.ijepa_views(batches=batches, seed=s.seed)
        files["literature_ijepa_views.csv"] = out / "literature_ijepa_views.csv"
        tables["ijepa"].to_csv(files["literature_ijepa_views.csv"])
    if len(tables) == 2:
        return None, files
    return tables, files


def _mae_part(out: Path, s: ReportSettings, files: dict[str, Path]) -> dict[str, object]:
    """MAE's Table 1(f) part of :func:`write_literature` (its files go into ``files``)."""
    from maskstats import literature, plot

    mae = literature.mae_sampling_statistics(n=s.n, seed=s.seed)
    correlations = literature.rank_correlations(mae)
    mae16 = literature.mae_sampling_statistics(n=s.n, seed=s.seed, block_min_num_patches=16)
    finding = literature.mae_sampling_finding(
        mae,
        correlations,
        ("BEiT's pretraining blocks (min 16 patches)", mae16, literature.rank_correlations(mae16)),
    )
    for name, table in (
        ("literature_mae_table1f.csv", mae),
        ("literature_rank_correlations.csv", correlations),
    ):
        files[name] = out / name
        table.to_csv(files[name])
    files.update(_save(plot.literature_scatter(mae, correlations), out / "literature_mae_table1f"))
    return {"mae": mae, "correlations": correlations, "finding": finding}


def _save(fig, stem: Path) -> dict[str, Path]:
    from maskstats import plot

    return {path.name: path for path in plot.save(fig, stem)}


FIGURES = (
    "difficulty_vs_ratio",
    "p2dist_distributions",
    "mask_gallery",
    "metric_agreement",
    "effective_difficulty",
    "literature_mae_table1f",
)


def checked_settings(settings: ReportSettings, skipped: Skipped) -> ReportSettings:
    """The settings to run, checked before anything is written or generated: the grid, the
    difficulty target, every strategy spec and every mask file (readable, shape, dtype,
    grid). A built-in strategy that cannot work at these sizes (SimMIM's cell not tiling
    the image) is left out, with why in ``skipped``.

    Raises:
        ValueError: one line saying what is wrong, or that no strategy is left.
    """
    from maskstats.masks import resolve_strategies
    from maskstats.masks.generators import check_simmim_cell

    grid = grid_from_image(settings.img_size, settings.patch_size)
    if "difficulty" in settings.strategies and settings.target_avgdist is None:
        raise ValueError("strategy difficulty needs target_avgdist (--target-avgdist)")
    for strategy in resolve_strategies(settings.strategies):
        strategy.check(grid)
    kept = []
    for spec in settings.strategies:
        if spec == "simmim":
            try:
                check_simmim_cell(settings.img_size, settings.mask_patch_size, settings.patch_size)
            except ValueError as error:
                skipped.add("simmim", None, f"{error}; pass one as --mask-patch-size")
                continue
        kept.append(spec)
    if not kept:
        raise ValueError(f"nothing to report: {skipped.lines()[0]}")
    return dataclasses.replace(settings, strategies=tuple(kept))


def run_report(
    settings: ReportSettings,
    echo: Callable[[str], None] = print,
    progress: bool = True,
    notice: Callable[[], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Run the sweep and write every table and figure into ``settings.out``, atomically:
    built beside it, moved into place when complete (a failure leaves any old report as it
    was). Everything is checked first (:func:`checked_settings`); one run at a time holds
    ``out`` (:func:`maskstats.report.output.report_lock`); SIGTERM, SIGHUP and SIGINT stop
    the run with its building folder removed, and what killed runs left is cleaned up
    (:func:`maskstats.report.output.sweep_leftovers`). With ``settings.frames`` it is the
    video report (:func:`maskstats.report.video.run_clip_report`).

    Args:
        settings: what to run.
        echo: prints the summary.
        progress: show progress bars.
        notice: called once before the first metric computation (the CLI's "compiling
            kernels" line).
        warn: prints each setting left out (default: a line on stderr).

    Returns:
        Name -> path of each file written (CSV, Markdown, LaTeX, PNG, PDF, index.html,
        the manifest), inside ``settings.out``.
    """
    if settings.frames is not None:  # clips: the video report
        return run_clip_report(settings, echo, progress, notice, warn)
    started = time.perf_counter()
    skipped = Skipped()
    s = checked_settings(settings, skipped)
    out = Path(s.out)
    with building(out, s.overwrite) as (build, notes):
        if notice is not None:
            notice()
        masks = report_masks(s, progress, skipped)
        summary, files = write_sweep(build, s, progress, skipped=skipped, masks=masks)
        metric_table, table_files = write_metric_table(build, s, skipped, masks=masks)
        files.update(table_files)
        files.update(write_distribution_figures(build, s, skipped, masks=masks))
        loss_table, loss_files = write_loss_difficulty(build, s, skipped, masks=masks)
        files.update(loss_files)
        literature, literature_files = write_literature(build, s)
        files.update(literature_files)
        elapsed = time.perf_counter() - started
        files["index.html"] = write_index(
            build,
            s,
            summary,
            metric_table,
            files,
            skipped,
            elapsed,
            loss_table,
            masks=masks,
            literature=literature,
        )
        names = sorted([*files, MANIFEST])
        manifest = {
            "tool": "maskstats report",
            "version": package_version(),
            "created": now_text(),
            "command": s.command,
            "settings": jsonable(asdict(s)),
            "skipped": skipped.lines(),
            "files": names,
        }
        (build / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    files = {name: out / name for name in names}
    warn = warn or (lambda line: print(line, file=sys.stderr))
    for line in skipped.lines():
        warn(f"maskstats report: left out {line}")
    for line in notes:
        warn(f"maskstats report: {line}")
    echo(headline_table(summary).to_string(float_format="{:.3f}".format, na_rep=""))
    if len(metric_table):
        echo(f"\nTab.5-style metric table (full table: {files['metric_table.md']}):")
        echo(metric_table_text(metric_table))
    echo(
        f"\nwrote {len(files)} files to {out}/ in {time.perf_counter() - started:.1f} s "
        f"(open {files['index.html']})"
    )
    return files
