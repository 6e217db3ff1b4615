"""Tables of difficulty: per mask, per patch, summaries, metric agreement and the Tab.5-style
metric table. DataFrames in, DataFrames out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from maskstats._validate import as_masks, as_video_masks
from maskstats.masks import generate
from maskstats.metrics import METRIC_NAMES, PATCH_METRICS, REGISTRY, compute

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
        names: metric names.
        patch_size: pixels per patch side.
        progress: show a progress bar after one second.
        on_empty: a mask with no visible patch: "raise" or "nan".

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
    (per-mask metrics as they are); NaN where no masked patch has a value (nothing masked, or
    nothing visible for a distance metric).

    Args:
        masks: (N, H, W) bool, True = masked; or clips (N, T, H, W) with ``values`` given
            (the temporal gap's mean is over the tokens with a finite gap).
        patch_size: pixels per patch side.
        names: metric names.
        progress: show a progress bar after one second.
        values: precomputed metric values (from :func:`compute_chunked`), else computed here.

    Examples:
        >>> import numpy as np
        >>> from maskstats.tables import mask_table
        >>> masks = np.ones((1, 3, 3), dtype=bool)
        >>> masks[0, 1, 1] = False  # four patches at distance 1 from the centre, four at sqrt 2
        >>> mask_table(masks, patch_size=1, progress=False).round(3).to_dict("records")
        [{'mask': 0, 'n_masked': 8, 'density3': 1.0, 'invdist5': 0.854, 'nearest': 1.207,
          'p2dist': 1.207, 'avgdist': 1.207}]
    """
    clips = np.ndim(masks) == 4
    masks = as_video_masks(masks) if clips else as_masks(masks)
    if values is None:
        values = compute_chunked(masks, names, patch_size, progress)
    axes = tuple(range(1, masks.ndim))
    table = {"mask": np.arange(masks.shape[0]), "n_masked": masks.sum(axis=axes)}
    for name in names:
        value = values[name]
        if REGISTRY[name].per_patch:
            # Mean over the masked patches that have a value: none masked, or none visible
            # for a distance metric (NaN from on_empty="nan"), gives NaN, not 0.
            value = np.where(np.isinf(value), np.nan, value) if clips else value
            defined = np.isfinite(value).sum(axis=axes)
            with np.errstate(invalid="ignore"):
                totals = np.nansum(value, axis=axes, dtype=np.float64)
                table[name] = np.where(defined > 0, totals / np.maximum(defined, 1), np.nan)
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
        patch_size: pixels per patch side.
        names: metric names.
        values: precomputed metric values (from :func:`compute_chunked`), else computed here.

    Returns:
        One row per masked patch.
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


def sweep_summary(
    table: pd.DataFrame, quantiles: Sequence[float] = (), names: Sequence[str] = METRIC_NAMES
) -> pd.DataFrame:
    """Per (strategy, mask_ratio): mean of every numeric column of :func:`sweep`'s table, and
    for each quantile q of ``quantiles`` a column ``{metric}_q{100 q}`` per metric of
    ``names`` (quantiles over masks of the per-mask values, pandas' linear interpolation)."""
    columns = [c for c in table.columns if c not in ("strategy", "mask_ratio", "mask")]
    grouped = table.groupby(["strategy", "mask_ratio"], sort=False)
    summary = grouped[columns].mean()
    for q in quantiles:
        for name in (n for n in names if n in table.columns):
            summary[f"{name}_q{round(100 * q)}"] = grouped[name].quantile(q)
    return summary.reset_index()


def cdf_thresholds(
    samples: Sequence[np.ndarray], points: int = 81, extra: Sequence[float] = ()
) -> np.ndarray:
    """Thresholds for plotting distributions of positive values on a log axis: ``points``
    log-spaced from just below the smallest 0.5% quantile to the largest 99.5% quantile of
    ``samples``, with ``extra`` (e.g. the easy and hard thresholds) added.

    Returns:
        (T,) ascending float64.
    """
    finite = [np.asarray(v, np.float64) for v in samples if len(v)]
    positive = [v[v > 0] for v in finite]
    positive = [v for v in positive if v.size]
    if not positive:
        return np.union1d(np.geomspace(0.1, 10.0, points), list(extra))
    low = min(float(np.quantile(v, 0.005)) for v in positive) * 0.9
    high = max(float(np.quantile(v, 0.995)) for v in positive)
    high = max(high, low * 10, *(1.1 * e for e in extra)) if extra else max(high, low * 10)
    return np.union1d(np.geomspace(low, high, points), list(extra))


def share_below(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The empirical CDF, strictly below: the share of ``values`` (1-D, finite) under each
    threshold (so at the easy threshold it is the easy share, P²Dist < 0.5).

    Args:
        values: (K,) values, e.g. the P²Dist of every masked patch of a setting.
        thresholds: (T,) where to evaluate it.

    Returns:
        (T,) float64 shares in [0, 1] (0 everywhere when ``values`` is empty).
    """
    ordered = np.sort(np.asarray(values, np.float64))
    if not ordered.size:
        return np.zeros(len(thresholds))
    return np.searchsorted(ordered, np.asarray(thresholds, np.float64), side="left") / ordered.size


def metric_agreement(
    masks_by_ratio: dict[float, np.ndarray],
    patch_size: int = 16,
    names: Sequence[str] = PATCH_METRICS,
    max_patches: int = 50_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Do the metrics rank patch difficulty alike? Spearman and Kendall (tau-b) correlations
    between every pair of per-patch metrics, oriented so that higher = harder (a positive
    correlation means agreement), over the same masked patches, per mask ratio.

    Args:
        masks_by_ratio: mask ratio -> (N, H, W) bool masks.
        patch_size: pixels per patch side.
        names: per-patch metrics to compare.
        max_patches: correlations use at most this many masked patches (a random subset).
        seed: seed of that subset.

    Returns:
        Long DataFrame: mask_ratio, method, metric_a, metric_b, correlation, n_patches.
    """
    rows = []
    rng = np.random.default_rng(seed)
    for ratio, masks in masks_by_ratio.items():
        table = patch_table(masks, patch_size, names)
        if len(table) > max_patches:
            table = table.iloc[rng.choice(len(table), max_patches, replace=False)]
        oriented = {
            name: REGISTRY[name].difficulty(table[name].to_numpy(np.float64)) for name in names
        }
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


def metric_rows(masks_by_ratio: Mapping[float, np.ndarray], patch_size: int = 16) -> pd.DataFrame:
    """The Tab.5-style comparison in long form: one row per (metric, mask ratio).

    Columns: metric, paper name, unit, higher is, mask ratio, mean and std over masked
    patches (avgdist: over masks; population std), spearman vs p2dist (oriented; pooled
    patches of all the ratios given), and the shares of masked patches in the easiest and
    hardest deciles (decile edges from the pooled patches of all the ratios given; ties at an
    edge count in, so a discrete metric can exceed 10%); per-mask metrics have no Spearman
    or deciles (NaN).

    Args:
        masks_by_ratio: mask ratio -> (N, H, W) bool masks, True = masked, each with a
            visible patch.
        patch_size: pixels per patch side.

    Returns:
        One row per metric and ratio, metrics in registry order, ratios as given.
    """
    values = {
        r: compute_chunked(m, METRIC_NAMES, patch_size, False) for r, m in masks_by_ratio.items()
    }
    rows = []
    for name in METRIC_NAMES:
        info = REGISTRY[name]
        samples = {
            r: (v[name][masks_by_ratio[r]] if info.per_patch else v[name]).astype(np.float64)
            for r, v in values.items()
        }
        spearman, edges = np.nan, (np.nan, np.nan)
        if info.per_patch:
            pooled = np.concatenate([info.difficulty(s) for s in samples.values()])
            reference_p2 = np.concatenate(
                [v["p2dist"][masks_by_ratio[r]].astype(np.float64) for r, v in values.items()]
            )
            spearman = float(stats.spearmanr(pooled, reference_p2)[0])
            edges = tuple(np.quantile(pooled, [0.1, 0.9]))
        for r, sample in samples.items():
            row: dict[str, object] = {
                "metric": name,
                "paper name": info.paper_name,
                "unit": info.unit,
                "higher is": "harder" if info.higher_is_harder else "easier",
                "mask ratio": float(r),
                "mean": float(np.nanmean(sample)),
                "std": float(np.nanstd(sample)),
                "spearman vs p2dist": spearman,
                "easiest decile": np.nan,
                "hardest decile": np.nan,
            }
            if info.per_patch:
                oriented = info.difficulty(sample)
                row["easiest decile"] = float(np.mean(oriented <= edges[0]))
                row["hardest decile"] = float(np.mean(oriented >= edges[1]))
            rows.append(row)
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
    """The Tab.5-style table, one row per metric (:func:`metric_rows`, one column per ratio).

    Columns: paper name, unit, orientation, "mean ± std" over masked patches (avgdist: over
    masks) at each ratio, Spearman with p2dist (oriented; pooled patches of all ratios), the
    share of masked patches in the easiest and hardest deciles at each ratio (decile edges
    from the pooled patches of all ratios; ties at an edge count in, so a discrete metric can
    exceed 10%). (Timings live in :mod:`maskstats.bench`.)

    Args:
        mask_ratios: the ratios compared (columns).
        strategy: mask strategy when the masks are generated here.
        img_size: image side in pixels.
        patch_size: patch side in pixels.
        n: masks per ratio when generated here.
        seed: seed of the generated masks.
        masks_by_ratio: masks to use; generated from strategy/img_size/patch_size/n otherwise.

    Returns:
        One row per metric, indexed by name.
    """
    if masks_by_ratio is None:
        masks_by_ratio = {
            r: generate(strategy, n, img_size, patch_size, r, seed=np.random.default_rng([seed, k]))
            for k, r in enumerate(mask_ratios)
        }
    return wide_metric_table(metric_rows(masks_by_ratio, patch_size))


def wide_metric_table(long: pd.DataFrame) -> pd.DataFrame:
    """:func:`metric_rows` of one strategy as the Tab.5-style table: one row per metric, a
    "mean ± std @r", "easiest decile @r" and "hardest decile @r" column per ratio r, and
    "spearman vs p2dist" (only per-patch metrics have the last three)."""
    rows = []
    for name, part in long.groupby("metric", sort=False):
        records = part.to_dict("records")
        row = {key: records[0][key] for key in ("metric", "paper name", "unit", "higher is")}
        for r in records:
            row[f"mean ± std @{r['mask ratio']:g}"] = f"{r['mean']:.3f} ± {r['std']:.3f}"
        if REGISTRY[name].per_patch:
            row["spearman vs p2dist"] = records[0]["spearman vs p2dist"]
            for r in records:
                row[f"easiest decile @{r['mask ratio']:g}"] = r["easiest decile"]
                row[f"hardest decile @{r['mask ratio']:g}"] = r["hardest decile"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("metric")


def metric_table_blocks(table: pd.DataFrame) -> list[tuple[str, list[float], pd.DataFrame]]:
    """A long metric table (:func:`metric_rows`, with a ``strategy`` column when it holds
    several) as one Tab.5-style table per strategy.

    Returns:
        (strategy or "", its ratios, :func:`wide_metric_table` of its rows) per strategy.
    """
    if "strategy" not in table.columns:
        table = table.assign(strategy="")
    blocks = []
    for strategy, part in table.groupby("strategy", sort=False):
        ratios = [float(r) for r in dict.fromkeys(part["mask ratio"])]
        blocks.append((str(strategy), ratios, wide_metric_table(part.drop(columns="strategy"))))
    return blocks
