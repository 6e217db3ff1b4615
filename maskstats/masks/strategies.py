"""One entry point for every mask strategy, by name: what the CLI, the sweeps, the report and
the trainer call."""

from __future__ import annotations

from typing import Any

import numpy as np

from maskstats._validate import GridLike, SeedLike, grid_from_image
from maskstats.masks.difficulty import difficulty_masks
from maskstats.masks.generators import block_masks, random_masks, simmim_masks

STRATEGIES = ("random", "block", "simmim", "difficulty")
"""Every strategy :func:`generate` knows; "difficulty" needs a target."""


def generate(
    strategy: str,
    n: int,
    img_size: GridLike,
    patch_size: int,
    mask_ratio: float,
    seed: SeedLike = None,
    mask_patch_size: int = 32,
    target_avgdist: float | None = None,
    target_p2dist: float | None = None,
    tol: float = 0.02,
    **kwargs: Any,
) -> np.ndarray:
    """Make N masks of one strategy for an image and patch size.

    Args:
        strategy: one of ``STRATEGIES``.
        n: number of masks.
        img_size: image size in pixels, int or (H, W).
        patch_size: model patch size in pixels.
        mask_ratio: in [0, 1).
        seed: int, numpy Generator, or None.
        mask_patch_size: SimMIM's masking cell in pixels (simmim only).
        target_avgdist: "difficulty" only: target AvgDist in pixels (ignored by the others).
        target_p2dist: "difficulty" only: target mean P²Dist in patches (or target_avgdist).
        tol: "difficulty" only: relative tolerance of the target.
        **kwargs: passed to the generator (e.g. block_masks' ``min_num_patches``).

    Returns:
        (N, H, W) bool, True = masked, on the model's patch grid.
    """
    grid = grid_from_image(img_size, patch_size)
    if strategy == "random":
        return random_masks(n, grid, mask_ratio, seed=seed, **kwargs)
    if strategy == "block":
        return block_masks(n, grid, mask_ratio, seed=seed, **kwargs)
    if strategy == "simmim":
        return simmim_masks(
            n, img_size, mask_patch_size, patch_size, mask_ratio, seed=seed, **kwargs
        )
    if strategy == "difficulty":
        if target_avgdist is None and target_p2dist is None:
            raise ValueError("strategy 'difficulty' needs target_avgdist or target_p2dist")
        return difficulty_masks(
            n,
            grid,
            mask_ratio,
            patch_size,
            target_avgdist=target_avgdist,
            target_p2dist=target_p2dist,
            tol=tol,
            seed=seed,
            **kwargs,
        )
    raise ValueError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
