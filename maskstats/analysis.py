"""Tables of difficulty: per mask, per patch, summaries. DataFrames in, DataFrames out."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from maskstats.masks import as_masks
from maskstats.metrics import METRIC_NAMES, REGISTRY, compute

CHUNK = 2048
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def compute_chunked(
    masks: np.ndarray,
    names: Sequence[str] = METRIC_NAMES,
    patch_size: int = 16,
    progress: bool = True,
    on_empty: str = "raise",
) -> dict[str, np.ndarray]:
    """:func:`maskstats.metrics.compute` in chunks, with a progress bar after one second.

    Args:
        masks: (N, H, W) bool, True = masked.

    Returns:
        name -> (N, H, W) or (N,) float32.
    """
    masks = as_masks(masks)
    compute(masks[:0], names, patch_size, on_empty=on_empty)  # validate arguments up front
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    starts = range(0, masks.shape[0], CHUNK)
    for start in tqdm(starts, desc="metrics", unit="chunk", delay=1.0, disable=not progress):
        chunk = compute(masks[start : start + CHUNK], names, patch_size, on_empty=on_empty)
        for name in names:
            parts[name].append(chunk[name])
    return {
        name: np.concatenate(chunks) if chunks else np.empty((0,), np.float32)
        for name, chunks in parts.items()
    }


def mask_table(
    masks: np.ndarray,
    patch_size: int = 16,
    names: Sequence[str] = METRIC_NAMES,
    progress: bool = True,
    values: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """One row per mask: ``mask``, ``n_masked``, and each metric's mean over masked patches
    (per-mask metrics as they are).

    Args:
        masks: (N, H, W) bool, True = masked.
        values: precomputed metric values (from :func:`compute_chunked`), else computed here.
    """
    masks = as_masks(masks)
    if values is None:
        values = compute_chunked(masks, names, patch_size, progress)
    table = {"mask": np.arange(masks.shape[0]), "n_masked": masks.sum(axis=(1, 2))}
    for name in names:
        value = values[name]
        if REGISTRY[name].per_patch:
            with np.errstate(invalid="ignore"):
                totals = np.nansum(value, axis=(1, 2), dtype=np.float64)
                table[name] = totals / np.maximum(table["n_masked"], 1)
            table[name][table["n_masked"] == 0] = np.nan
        else:
            table[name] = value.astype(np.float64)
    return pd.DataFrame(table)


def patch_table(
    masks: np.ndarray,
    patch_size: int = 16,
    names: Sequence[str] = METRIC_NAMES,
    values: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """One row per masked patch: ``mask``, ``row``, ``col``, every per-patch metric, and the
    mask's avgdist.

    Args:
        masks: (N, H, W) bool, True = masked.
    """
    masks = as_masks(masks)
    if values is None:
        values = compute_chunked(masks, names, patch_size, progress=False)
    index = np.nonzero(masks)
    table = {"mask": index[0], "row": index[1], "col": index[2]}
    for name in names:
        value = values[name]
        table[name] = value[index] if REGISTRY[name].per_patch else value[index[0]]
    return pd.DataFrame(table)


def summarize(
    masks: np.ndarray,
    patch_size: int = 16,
    names: Iterable[str] = METRIC_NAMES,
    values: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Per metric: count, mean, std and quantiles over masked patches (avgdist: over masks).

    Returns:
        DataFrame indexed by metric name with columns over, unit, count, mean, std, q10 ... q90.
    """
    names = tuple(names)
    masks = as_masks(masks)
    if values is None:
        values = compute_chunked(masks, names, patch_size)
    rows = []
    for name in names:
        info = REGISTRY[name]
        value = values[name]
        sample = value[masks] if info.per_patch else value
        sample = sample[np.isfinite(sample)].astype(np.float64)
        row = {
            "metric": name,
            "over": "masked patches" if info.per_patch else "masks",
            "unit": info.unit,
            "count": sample.size,
            "mean": sample.mean() if sample.size else np.nan,
            "std": sample.std() if sample.size else np.nan,
        }
        quantiles = np.quantile(sample, QUANTILES) if sample.size else [np.nan] * len(QUANTILES)
        row.update({f"q{round(q * 100)}": v for q, v in zip(QUANTILES, quantiles, strict=True)})
        rows.append(row)
    return pd.DataFrame(rows).set_index("metric")


EASY_P2DIST = 0.5
"""Default easy threshold: p2dist < 0.5 patch, a masked patch with visible pixels on at
least two sides (one side alone gives (p + 1) / (2 p) > 0.5)."""
HARD_P2DIST = 1.0
"""Default hard threshold: p2dist > 1.0 patch, on average more than a patch from any visible
pixel (no visible 4-neighbour)."""


def parse_ratios(text: str) -> tuple[float, ...]:
    """'0.5:0.95:0.05' (start:stop:step, stop included) or '0.75,0.9' -> ratios."""
    try:
        if ":" in text:
            start, stop, step = (float(part) for part in text.split(":"))
            if step <= 0:
                raise ValueError
            count = int(np.floor((stop - start) / step + 1e-9)) + 1
            ratios = tuple(round(start + k * step, 10) for k in range(count))
        else:
            ratios = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"expected ratios as start:stop:step or a,b,c, got {text!r}") from None
    if not ratios or any(not 0 <= r < 1 for r in ratios):
        raise ValueError(f"mask ratios must be in [0, 1), got {text!r}")
    return ratios


def sweep(
    strategies: Sequence[str] = ("random", "block", "simmim"),
    mask_ratios: Sequence[float] = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95),
    img_size: int = 224,
    patch_size: int = 16,
    n: int = 2048,
    seed: int = 0,
    easy_p2dist: float = EASY_P2DIST,
    hard_p2dist: float = HARD_P2DIST,
    progress: bool = True,
    mask_patch_size: int = 32,
    target_avgdist: float | None = None,
) -> pd.DataFrame:
    """Difficulty over masking strategies and ratios, one row per (strategy, ratio, mask).

    Strategy "difficulty" holds AvgDist at ``target_avgdist`` (pixels); ratios where that
    target is out of reach are skipped with a warning.

    A mask with no visible patch (SimMIM on few cells at a high ratio) gets NaN distances.

    Args:
        strategies: names accepted by :func:`maskstats.masks.generate`.
        mask_ratios: ratios in [0, 1).
        img_size: image side in pixels; patch_size: model patch side in pixels.
        n: masks per (strategy, ratio).
        seed: base seed; each (strategy, ratio) gets its own stream.
        easy_p2dist, hard_p2dist: a masked patch is easy when p2dist < easy_p2dist and hard
            when p2dist > hard_p2dist (patch units).

    Returns:
        Long DataFrame: strategy, mask_ratio, mask, n_masked, each metric's mean over the mask's
        masked patches (avgdist per mask), easy_share and hard_share of its masked patches.
    """
    from maskstats.masks import generate

    frames = []
    jobs = [(s, r) for s in strategies for r in mask_ratios]
    for index, (strategy, ratio) in enumerate(
        tqdm(jobs, desc="sweep", unit="setting", delay=1.0, disable=not progress)
    ):
        extra = {"target_avgdist": target_avgdist} if strategy == "difficulty" else {}
        try:
            masks = generate(
                strategy,
                n,
                img_size,
                patch_size,
                ratio,
                seed=np.random.default_rng([seed, index]),
                mask_patch_size=mask_patch_size,
                **extra,
            )
        except ValueError as error:
            if strategy != "difficulty":
                raise
            warnings.warn(f"skipping difficulty masks at mask ratio {ratio}: {error}", stacklevel=2)
            continue
        values = compute_chunked(masks, METRIC_NAMES, patch_size, False, on_empty="nan")
        table = mask_table(masks, patch_size, values=values)
        p2 = values["p2dist"]
        counts = np.maximum(table["n_masked"].to_numpy(), 1)
        with np.errstate(invalid="ignore"):
            table["easy_share"] = (p2 < easy_p2dist).sum(axis=(1, 2)) / counts
            table["hard_share"] = (p2 > hard_p2dist).sum(axis=(1, 2)) / counts
        table.insert(0, "mask_ratio", ratio)
        table.insert(0, "strategy", strategy)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def sweep_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per (strategy, mask_ratio): mean of every numeric column of :func:`sweep`'s table."""
    columns = [c for c in table.columns if c not in ("strategy", "mask_ratio", "mask")]
    return table.groupby(["strategy", "mask_ratio"], sort=False)[columns].mean().reset_index()


def difficulty(values: np.ndarray, name: str) -> np.ndarray:
    """Values of metric ``name`` oriented so that higher = harder."""
    return REGISTRY[name].difficulty(values)


def metric_agreement(
    masks_by_ratio: dict[float, np.ndarray],
    patch_size: int = 16,
    names: Sequence[str] = ("density3", "invdist5", "nearest", "p2dist"),
    max_patches: int = 50_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Do the metrics rank patch difficulty alike? Spearman and Kendall (tau-b) correlations
    between every pair of per-patch metrics, oriented so that higher = harder (a positive
    correlation means agreement), over the same masked patches, per mask ratio.

    Args:
        masks_by_ratio: mask ratio -> (N, H, W) bool masks.
        max_patches: correlations use at most this many masked patches (a random subset).

    Returns:
        Long DataFrame: mask_ratio, method, metric_a, metric_b, correlation, n_patches.
    """
    from scipy import stats

    rows = []
    rng = np.random.default_rng(seed)
    for ratio, masks in masks_by_ratio.items():
        table = patch_table(masks, patch_size, names)
        if len(table) > max_patches:
            table = table.iloc[rng.choice(len(table), max_patches, replace=False)]
        oriented = {name: difficulty(table[name].to_numpy(np.float64), name) for name in names}
        for a in names:
            for b in names:
                for method, func in (("spearman", stats.spearmanr), ("kendall", stats.kendalltau)):
                    value = 1.0 if a == b else float(func(oriented[a], oriented[b])[0])
                    rows.append(
                        {
                            "mask_ratio": ratio,
                            "method": method,
                            "metric_a": a,
                            "metric_b": b,
                            "correlation": value,
                            "n_patches": len(table),
                        }
                    )
    return pd.DataFrame(rows)


def compare_metrics(
    mask_ratios: Sequence[float] = (0.75, 0.9),
    strategy: str = "random",
    img_size: int = 224,
    patch_size: int = 16,
    n: int = 2048,
    seed: int = 0,
    masks_by_ratio: dict[float, np.ndarray] | None = None,
) -> pd.DataFrame:
    """The Tab.5-style table, one row per metric.

    Columns: paper name, unit, orientation, "mean ± std" over masked patches (avgdist: over
    masks) at each ratio, Spearman with p2dist (oriented; pooled patches of all ratios), the
    share of masked patches in the easiest and hardest deciles at each ratio (decile edges
    from the pooled patches of all ratios; ties at an edge count in, so a discrete metric can
    exceed 10%), and compute time in µs per mask (median of 3, at the first ratio).

    Args:
        masks_by_ratio: masks to use; generated from strategy/img_size/patch_size/n otherwise.
    """
    import time

    from scipy import stats

    from maskstats.masks import generate

    if masks_by_ratio is None:
        masks_by_ratio = {
            r: generate(strategy, n, img_size, patch_size, r, seed=np.random.default_rng([seed, k]))
            for k, r in enumerate(mask_ratios)
        }
    values = {
        r: compute_chunked(m, METRIC_NAMES, patch_size, False) for r, m in masks_by_ratio.items()
    }
    first_masks = next(iter(masks_by_ratio.values()))
    rows = []
    for name in METRIC_NAMES:
        info = REGISTRY[name]
        row: dict[str, object] = {
            "metric": name,
            "paper name": info.paper_name,
            "unit": info.unit,
            "higher is": "harder" if info.higher_is_harder else "easier",
        }
        samples = {
            r: (v[name][masks_by_ratio[r]] if info.per_patch else v[name]).astype(np.float64)
            for r, v in values.items()
        }
        for r, sample in samples.items():
            row[f"mean ± std @{r:g}"] = f"{np.nanmean(sample):.3f} ± {np.nanstd(sample):.3f}"
        if info.per_patch:
            pooled = np.concatenate([difficulty(s, name) for s in samples.values()])
            reference_p2 = np.concatenate(
                [v["p2dist"][masks_by_ratio[r]].astype(np.float64) for r, v in values.items()]
            )
            row["spearman vs p2dist"] = float(stats.spearmanr(pooled, reference_p2)[0])
            easy_edge, hard_edge = np.quantile(pooled, [0.1, 0.9])
            for r, sample in samples.items():
                oriented = difficulty(sample, name)
                row[f"easiest decile @{r:g}"] = float(np.mean(oriented <= easy_edge))
                row[f"hardest decile @{r:g}"] = float(np.mean(oriented >= hard_edge))
        times = []
        for _ in range(3):
            start = time.perf_counter()
            compute(first_masks, name, patch_size)
            times.append(time.perf_counter() - start)
        row["µs per mask"] = float(np.median(times)) / len(first_masks) * 1e6
        rows.append(row)
    return pd.DataFrame(rows).set_index("metric")


def export_table(table: pd.DataFrame, stem: str | Path, float_format: str = "{:.3f}") -> list[Path]:
    """Write ``table`` as stem.csv, stem.md (pandas to_markdown) and stem.tex (pandas to_latex).

    Returns:
        The three paths.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".csv"), stem.with_suffix(".md"), stem.with_suffix(".tex")]
    table.to_csv(paths[0])
    paths[1].write_text(table.to_markdown(floatfmt=".3f") + "\n")
    formatted = table.map(lambda v: float_format.format(v) if isinstance(v, float) else v)
    paths[2].write_text(formatted.to_latex(escape=True))
    return paths
