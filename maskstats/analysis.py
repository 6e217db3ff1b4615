"""Tables of difficulty: per mask, per patch, summaries. DataFrames in, DataFrames out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
