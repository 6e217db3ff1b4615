"""``maskstats report``: the sweep, the Tab.5-style table, four figures and index.html, written
into a folder that replaces ``out`` only when complete (see :mod:`maskstats.report.output`)."""

from __future__ import annotations

import json
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from maskstats.masks import generate, grid_from_image
from maskstats.report.output import (
    MANIFEST,
    check_output,
    jsonable,
    now_text,
    package_version,
    sibling_folder,
    swap_in,
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


def _grid_nominal(ratio: float, grid: tuple[int, int]) -> float:
    """Grid masks: the nominal 1 - 1/s**2 behind a recorded (achieved) share."""
    from maskstats import masks as mask_lib

    grid_ratios = getattr(mask_lib, "grid_ratios", None)
    if grid_ratios is None:
        return ratio
    for side, nominal in grid_ratios(grid).items():
        kept = -(-grid[0] // side) * -(-grid[1] // side)
        if abs(1 - kept / (grid[0] * grid[1]) - ratio) < 5e-4 or abs(nominal - ratio) < 5e-4:
            return nominal
    return ratio


def _masks(
    s: ReportSettings, spec: str, ratio: float, n: int, seed: object, skipped: Skipped
) -> np.ndarray | None:
    """``n`` masks of a strategy spec at ``ratio``, or None (recorded in ``skipped``) where
    they cannot be made (a difficulty target out of reach, a ratio the strategy does not
    have). A mask file gives its first ``n`` masks; multiblock ignores the ratio."""
    resolved = _spec(spec)
    name = getattr(resolved, "name", spec)
    grid = grid_from_image(s.img_size, s.patch_size)
    try:
        if getattr(resolved, "kind", None) == "file":
            return resolved.load(grid)[:n]
        if name == "grid":
            ratio = _grid_nominal(ratio, grid)
        return generate(
            spec,
            n,
            s.img_size,
            s.patch_size,
            ratio,
            seed=seed,
            target_avgdist=s.target_avgdist,
        )
    except ValueError as error:
        skipped.add(name, ratio, str(error))
        return None


def _available(summary: pd.DataFrame) -> dict[str, list[float]]:
    """Display name -> the mask ratios the sweep made for it."""
    return {
        name: sorted(rows["mask_ratio"].astype(float))
        for name, rows in summary.groupby("strategy", sort=False)
    }


def _sweep_or_explain(sweeps, caught: list, *args, **kwargs) -> pd.DataFrame:
    """``sweeps.sweep``; when every setting was out of reach, one line saying so."""
    try:
        return sweeps.sweep(*args, **kwargs)
    except ValueError:
        reasons = [str(w.message) for w in caught if str(w.message).startswith("skipping ")]
        if not reasons:
            raise
        first = reasons[0].partition(": ")[2].splitlines()[0]
        raise ValueError(
            f"nothing to report: the difficulty target is out of reach at every mask ratio "
            f"({first})"
        ) from None


def write_sweep(
    out: Path,
    s: ReportSettings,
    progress: bool = True,
    per_mask_rows: bool = True,
    skipped: Skipped | None = None,
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Sweep strategies x ratios; write summary.csv (and sweep.csv, one row per mask) and the
    difficulty-vs-ratio figure.

    Args:
        out: folder to write into.
        s: the report's settings.
        progress: show a progress bar.
        per_mask_rows: also write sweep.csv.
        skipped: collects settings out of reach (difficulty targets).

    Returns:
        The per-(strategy, ratio) summary (means over masks) and the files written.
    """
    from maskstats import plot, sweeps, tables

    skipped = skipped if skipped is not None else Skipped()
    files: dict[str, Path] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = _sweep_or_explain(
            sweeps,
            caught,
            s.strategies,
            s.mask_ratios,
            s.img_size,
            s.patch_size,
            s.n,
            s.seed,
            progress=progress,
            target_avgdist=s.target_avgdist,
        )
    for warning in caught:
        text = str(warning.message)
        if text.startswith("skipping ") and " at mask ratio " in text:
            head, _, reason = text.partition(": ")
            strategy = head.split()[1]
            ratio = float(head.split(" at mask ratio ")[1])
            skipped.add(strategy, ratio, reason)
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    # A mask that hides every patch has no distance (AvgDist NaN): its per-patch means and
    # shares are undefined too, not 0.
    undefined = ~np.isfinite(table["avgdist"].to_numpy(np.float64))
    if undefined.any():
        columns = [c for c in table.columns if c not in ("strategy", "mask_ratio", "mask")]
        columns = [c for c in columns if c not in ("n_masked", "avgdist")]
        table.loc[undefined, columns] = np.nan
    if per_mask_rows:
        files["sweep.csv"] = out / "sweep.csv"
        table.to_csv(files["sweep.csv"], index=False)
    summary = tables.sweep_summary(table)
    files["summary.csv"] = out / "summary.csv"
    summary.to_csv(files["summary.csv"], index=False)
    files.update(_save(plot.difficulty_vs_ratio(table), out / "difficulty_vs_ratio"))
    return summary, files


def write_distribution_figures(
    out: Path,
    s: ReportSettings,
    skipped: Skipped | None = None,
    summary: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Fig.2-style p2dist distributions (a panel per strategy) and the mask gallery (a row per
    strategy), at the asked ratios closest to the paper's.

    Returns:
        The files written.
    """
    from maskstats import plot, sweeps
    from maskstats.metrics import compute

    skipped = skipped if skipped is not None else Skipped()
    available = _available(summary) if summary is not None else {}
    fig2_values: dict[str, dict[float, np.ndarray]] = {}
    for strategy in s.strategies:
        name = display_name(strategy)
        ratios = ratios_for(FIG2_RATIOS, available.get(name, s.mask_ratios))
        fig2_values[name] = {}
        for k, ratio in enumerate(ratios):
            rng = np.random.default_rng([s.seed, 2000 + k])
            masks = _masks(s, strategy, ratio, s.n, rng, skipped)
            if masks is not None:
                p2 = compute(masks, "p2dist", s.patch_size, on_empty="nan")["p2dist"][masks]
                fig2_values[name][ratio] = p2[np.isfinite(p2)]
    fig2_values = {k: v for k, v in fig2_values.items() if v}
    files: dict[str, Path] = {}
    if fig2_values:
        files.update(
            _save(
                plot.p2dist_distributions(
                    fig2_values,
                    easy_threshold=sweeps.EASY_P2DIST,
                    img_size=s.img_size,
                    patch_size=s.patch_size,
                ),
                out / "p2dist_distributions",
            )
        )
    # Strategies with ratios of their own (grid, multiblock, mask files) are left out of the
    # gallery's ratio columns; the gallery shows the ratios every other strategy could make.
    swept = [st for st in s.strategies if _follows_ratio(st)]
    gallery_ratios = ratios_for(GALLERY_RATIOS, s.mask_ratios)
    made = {(st, r): _masks(s, st, r, 1, s.seed, Skipped()) for st in swept for r in gallery_ratios}
    columns = [r for r in gallery_ratios if all(made[(st, r)] is not None for st in swept)]
    if swept and columns:
        gallery_masks = np.concatenate([made[(st, r)] for st in swept for r in columns])
        values = compute(gallery_masks, s.gallery_metric, s.patch_size, on_empty="nan")
        gallery = plot.mask_gallery(
            default_image(s.img_size),
            gallery_masks,
            values[s.gallery_metric],
            [f"mask ratio {r:g}" for r in columns],
            s.gallery_metric,
            s.patch_size,
            rows=[display_name(st) for st in swept],
            img_size=s.img_size,
        )
        files.update(_save(gallery, out / "mask_gallery"))
    return files


def _with_visible(
    masks: np.ndarray | None, strategy: str, ratio: float, skipped: Skipped
) -> np.ndarray | None:
    """The masks that keep a visible patch (distances are undefined without one); None, and
    a note in ``skipped``, when none does."""
    if masks is None:
        return None
    keep = ~masks.all(axis=(1, 2))
    if not keep.any():
        skipped.add(strategy, ratio, "every mask hides every patch (no distance defined)")
        return None
    return masks[keep]


def _follows_ratio(spec: str) -> bool:
    """Whether a strategy makes masks at any asked ratio (not grid, multiblock or a file)."""
    resolved = _spec(spec)
    return display_name(spec) != "grid" and not getattr(resolved, "own_ratio", False)


def write_metric_table(
    out: Path,
    s: ReportSettings,
    skipped: Skipped | None = None,
    summary: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """The Tab.5-style table (CSV, Markdown, LaTeX) and metric agreement (CSV and heatmap),
    per strategy, at ``s.table_ratios`` (those of the asked ratios when they include them).

    Returns:
        The table (one row per strategy and metric; the strategy is the first column when
        there are several) and the files written.
    """
    import pandas as pd

    from maskstats import plot, tables
    from maskstats.io import export_table

    skipped = skipped if skipped is not None else Skipped()
    available = _available(summary) if summary is not None else {}
    parts, agreements = [], []
    for spec in s.strategies:
        strategy = display_name(spec)
        ratios = ratios_for(s.table_ratios, available.get(strategy, s.mask_ratios), count=2)
        rng = np.random.default_rng([s.seed, 999])
        masks = {r: _masks(s, spec, r, s.n, rng, skipped) for r in ratios}
        masks = {r: _with_visible(m, strategy, r, skipped) for r, m in masks.items()}
        masks = {r: m for r, m in masks.items() if m is not None}
        if not masks:
            continue
        part = tables.compare_metrics(patch_size=s.patch_size, masks_by_ratio=masks)
        part.insert(0, "strategy", strategy)
        parts.append(part)
        agreement = tables.metric_agreement(masks, s.patch_size)
        agreement.insert(0, "strategy", strategy)
        agreements.append(agreement)
    files: dict[str, Path] = {}
    if not parts:
        return pd.DataFrame(), files
    table = pd.concat(parts)
    if len(parts) == 1:
        table = table.drop(columns="strategy")
    files.update({path.name: path for path in export_table(table, out / "metric_table")})
    agreement = pd.concat(agreements, ignore_index=True)
    files["agreement.csv"] = out / "agreement.csv"
    agreement.to_csv(files["agreement.csv"], index=False)
    heatmap = plot.agreement_heatmap(agreement, img_size=s.img_size, patch_size=s.patch_size)
    files.update(_save(heatmap, out / "metric_agreement"))
    return table, files


def write_loss_difficulty(
    out: Path, s: ReportSettings, skipped: Skipped | None = None
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """The paper's section B, quantified: the effective AvgDist of each loss setting
    (:data:`maskstats.sweeps.LOSS_SETTINGS`) at every asked ratio, as loss_difficulty.csv
    (with a ``strategy`` column) and the effective_difficulty figure, on random (MAE) masks
    when they were asked for, else on the first asked strategy that takes any ratio.

    Returns:
        The sweep's table (empty when no asked strategy takes the asked ratios) and the files
        written.
    """
    import pandas as pd

    from maskstats import plot, sweeps

    skipped = skipped if skipped is not None else Skipped()
    candidates = [spec for spec in s.strategies if _follows_ratio(spec)]
    files: dict[str, Path] = {}
    if not candidates:
        return pd.DataFrame(), files
    spec = "random" if "random" in candidates else candidates[0]
    name = display_name(spec)
    masks = {}
    for k, ratio in enumerate(s.mask_ratios):
        made = _masks(s, spec, ratio, s.n, np.random.default_rng([s.seed, 3000 + k]), skipped)
        made = _with_visible(made, name, ratio, skipped)
        if made is not None and made.any():
            masks[float(ratio)] = made
    if not masks:
        return pd.DataFrame(), files
    table = sweeps.loss_difficulty_sweep(masks, s.patch_size, seed=s.seed)
    table.insert(0, "strategy", name)
    files["loss_difficulty.csv"] = out / "loss_difficulty.csv"
    table.to_csv(files["loss_difficulty.csv"], index=False)
    files.update(_save(plot.effective_difficulty(table), out / "effective_difficulty"))
    return table, files


def _save(fig, stem: Path) -> dict[str, Path]:
    from maskstats import plot

    return {path.name: path for path in plot.save(fig, stem)}


FIGURES = (
    "difficulty_vs_ratio",
    "p2dist_distributions",
    "mask_gallery",
    "metric_agreement",
    "effective_difficulty",
)


def run_report(
    settings: ReportSettings,
    echo: Callable[[str], None] = print,
    progress: bool = True,
    notice: Callable[[], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Run the sweep and write every table and figure into ``settings.out``, atomically:
    built beside it, moved into place when complete (a failure leaves any old report as it
    was). With ``settings.frames`` it is the video report
    (:func:`maskstats.report.video.run_clip_report`).

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
    s = settings
    grid_from_image(s.img_size, s.patch_size)  # validate before touching the disk
    if "difficulty" in s.strategies and s.target_avgdist is None:
        raise ValueError("strategy difficulty needs target_avgdist (--target-avgdist)")
    out = Path(s.out)
    check_output(out, s.overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    build = sibling_folder(out, "building")
    build.mkdir()
    skipped = Skipped()
    try:
        if notice is not None:
            notice()
        summary, files = write_sweep(build, s, progress, skipped=skipped)
        metric_table, table_files = write_metric_table(build, s, skipped, summary)
        files.update(table_files)
        files.update(write_distribution_figures(build, s, skipped, summary))
        loss_table, loss_files = write_loss_difficulty(build, s, skipped)
        files.update(loss_files)
        elapsed = time.perf_counter() - started
        files["index.html"] = write_index(
            build, s, summary, metric_table, files, skipped, elapsed, loss_table
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
        swap_in(build, out)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    files = {name: out / name for name in names}
    warn = warn or (lambda line: print(line, file=sys.stderr))
    for line in skipped.lines():
        warn(f"maskstats report: left out {line}")
    echo(headline_table(summary).to_string(float_format="{:.3f}".format))
    if len(metric_table):
        shown = [r for r in metric_table.columns if "decile" not in r]
        echo(f"\nTab.5-style metric table ({', '.join(f'{r:g}' for r in s.table_ratios)}):")
        echo(metric_table[shown].to_string(float_format="{:.3f}".format))
    echo(
        f"\nwrote {len(files)} files to {out}/ in {time.perf_counter() - started:.1f} s "
        f"(open {files['index.html']})"
    )
    return files
