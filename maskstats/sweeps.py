"""Difficulty over masking strategies and mask ratios: one row per (strategy, ratio, mask)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from maskstats.masks import generate
from maskstats.metrics import METRIC_NAMES
from maskstats.tables import compute_chunked, mask_table

EASY_P2DIST = 0.5
"""Default easy threshold: p2dist < 0.5 patch, a masked patch with visible pixels on at
least two sides (one side alone gives (p + 1) / (2 p) > 0.5)."""
HARD_P2DIST = 1.0
"""Default hard threshold: p2dist > 1.0 patch, on average more than a patch from any visible
pixel (no visible 4-neighbour)."""


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
    frames = []
    jobs = [(s, r) for s in strategies for r in mask_ratios]
    for index, (strategy, ratio) in enumerate(
        tqdm(jobs, desc="sweep", unit="setting", delay=1.0, disable=not progress)
    ):
        try:
            masks = generate(
                strategy,
                n,
                img_size,
                patch_size,
                ratio,
                seed=np.random.default_rng([seed, index]),
                mask_patch_size=mask_patch_size,
                target_avgdist=target_avgdist,
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
