"""Difficulty over masking strategies and mask ratios: one row per (strategy, ratio, mask).

Strategies are specs (:func:`maskstats.masks.resolve_strategy`): built-in names, your own
``module:function`` generators, and saved .npy/.npz mask files, side by side."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from maskstats.masks import Strategy, generate, grid_from_image, grid_ratios, resolve_strategies
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

    Which ratios each strategy gets:

    - random, block, simmim, difficulty, ``module:function``: every ratio of ``mask_ratios``.
      Strategy "difficulty" holds AvgDist at ``target_avgdist`` (pixels); ratios where that
      target is out of reach are skipped with a warning.
    - grid: the ratios grid-wise sampling allows (1 - 1/s**2: 0.75, 0.8889, 0.9375, ...) from
      min(mask_ratios) to max(mask_ratios), recorded at the share the grid achieves (lower
      when its sides are not multiples of s: 0.8724 for s = 3 on 14 x 14); none in that span:
      skipped with a warning.
    - multiblock and mask files have their own ratio: one setting each, n multiblock masks
      or all the file's masks, whose ``mask_ratio`` is the masks' mean masked share (rounded
      to 4 digits; each mask's own share is in ``masked_share``).

    A mask with no visible patch (SimMIM on few cells at a high ratio) gets NaN distances.

    Args:
        strategies: strategy specs: built-in names, "module:function", or .npy/.npz files;
            the ``strategy`` column holds their display names (the name, the function's name,
            the file's name).
        mask_ratios: ratios in [0, 1).
        img_size: image side in pixels.
        patch_size: model patch side in pixels.
        n: masks per (strategy, ratio).
        seed: base seed; each (strategy, ratio) gets its own stream.
        easy_p2dist: a masked patch is easy when p2dist < easy_p2dist (patch units).
        hard_p2dist: a masked patch is hard when p2dist > hard_p2dist (patch units).
        progress: show a progress bar after one second.
        mask_patch_size: SimMIM's masking cell in pixels (simmim only).
        target_avgdist: AvgDist target in pixels (strategy "difficulty").

    Returns:
        Long DataFrame: strategy, mask_ratio, mask, n_masked, masked_share, each metric's mean
        over the mask's masked patches (avgdist per mask), easy_share and hard_share of its
        masked patches.
    """
    resolved = resolve_strategies(strategies)
    grid = grid_from_image(img_size, patch_size)
    ratios = tuple(float(r) for r in mask_ratios)
    if not ratios:
        raise ValueError("no mask ratio given")
    jobs = [job for position, s in enumerate(resolved) for job in _jobs(position, s, ratios, grid)]
    frames = []
    for strategy, ratio, stream in tqdm(
        jobs, desc="sweep", unit="setting", delay=1.0, disable=not progress
    ):
        rng = np.random.default_rng([seed, *stream])
        try:
            if strategy.kind == "file":
                masks = strategy.load(grid)
            elif strategy.kind == "callable":
                masks = strategy.generate(n, grid, ratio, rng)
            else:
                masks = generate(
                    strategy.name,
                    n,
                    img_size,
                    patch_size,
                    ratio,
                    seed=rng,
                    mask_patch_size=mask_patch_size,
                    target_avgdist=target_avgdist,
                )
        except ValueError as error:
            if strategy.name != "difficulty":
                raise
            warnings.warn(f"skipping difficulty masks at mask ratio {ratio}: {error}", stacklevel=2)
            continue
        if strategy.own_ratio or strategy.name == "grid":
            ratio = round(float(masks.mean()), 4)
        values = compute_chunked(masks, METRIC_NAMES, patch_size, False, on_empty="nan")
        table = mask_table(masks, patch_size, values=values)
        table.insert(2, "masked_share", table["n_masked"] / (grid[0] * grid[1]))
        p2 = values["p2dist"]
        counts = np.maximum(table["n_masked"].to_numpy(), 1)
        with np.errstate(invalid="ignore"):
            table["easy_share"] = (p2 < easy_p2dist).sum(axis=(1, 2)) / counts
            table["hard_share"] = (p2 > hard_p2dist).sum(axis=(1, 2)) / counts
        table.insert(0, "mask_ratio", ratio)
        table.insert(0, "strategy", strategy.name)
        frames.append(table)
    if not frames:
        raise ValueError("the sweep made no masks (no strategy could make any requested ratio)")
    return pd.concat(frames, ignore_index=True)


def _jobs(
    position: int, strategy: Strategy, ratios: tuple[float, ...], grid: tuple[int, int]
) -> list[tuple[Strategy, float, tuple[int, ...]]]:
    """(strategy, ratio, seed stream) per setting. The streams of strategies swept over the
    requested ratios are [position * len(ratios) + k], as before specs existed, so adding
    strategies after them leaves their masks unchanged."""
    if strategy.own_ratio:
        return [(strategy, ratios[0], (1_000_000 + position,))]
    if strategy.name == "grid":
        lo, hi = min(ratios), max(ratios)
        allowed, counts = [], set()
        for side, r in grid_ratios(grid).items():
            kept = -(-grid[0] // side) * -(-grid[1] // side)  # visible patches: one per cell
            if lo - 5e-4 <= r <= hi + 5e-4 and kept not in counts:  # one setting per share
                allowed.append(r)
                counts.add(kept)
        if not allowed:
            warnings.warn(
                f"skipping grid masks: no grid ratio (1 - 1/s^2: 0.75, 0.8889, ...) lies in "
                f"[{lo:g}, {hi:g}]",
                stacklevel=3,
            )
        return [(strategy, r, (1_000_000 + position, k)) for k, r in enumerate(allowed)]
    return [(strategy, r, (position * len(ratios) + k,)) for k, r in enumerate(ratios)]
