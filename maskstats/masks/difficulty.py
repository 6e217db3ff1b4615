"""Masks with a chosen difficulty: an exact mask ratio whose AvgDist (or mean P²Dist) hits a
target, so that difficulty can be varied apart from the ratio.

This module sits above ``metrics``: it measures what it generates."""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage

from maskstats._validate import (
    GridLike,
    SeedLike,
    as_grid,
    as_rng,
    check_mask_ratio,
    check_patch_size,
    mae_num_masked,
)
from maskstats.masks._search_kernels import hill_climb_kernel, target_search_kernel
from maskstats.metrics import avgdist

SMOOTHNESS = np.array([-0.9, -0.6, -0.3, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
"""Start-mask family: s < 0 high-passes the noise (dispersed masks), s = 0 is MAE's random
masking, s > 0 low-passes it with a Gaussian of sigma s patches (blocky masks)."""


def _keep_lowest(score: np.ndarray, num_masked: int) -> np.ndarray:
    """Per row of (N, H, W) scores, mask all but the H*W - num_masked lowest (as MAE keeps the
    smallest noise)."""
    n, height, width = score.shape
    order = np.argsort(score.reshape(n, -1), axis=1, kind="stable")
    masks = np.ones((n, height * width), dtype=bool)
    np.put_along_axis(masks, order[:, : height * width - num_masked], False, axis=1)
    return masks.reshape(n, height, width)


def smooth_start_masks(
    n: int, grid: tuple[int, int], num_masked: int, smoothness: float, rng: np.random.Generator
) -> np.ndarray:
    """(n, H, W) masks with ``num_masked`` masked patches from filtered uniform noise."""
    noise = rng.random((n, *grid))
    if smoothness > 0:
        score = ndimage.gaussian_filter(noise, (0, smoothness, smoothness), mode="wrap")
    elif smoothness < 0:
        local = ndimage.uniform_filter(noise, (1, 3, 3), mode="wrap")
        score = noise - (-smoothness) * local
    else:
        score = noise
    return _keep_lowest(score, num_masked)


@functools.lru_cache(maxsize=64)
def _calibration(grid: tuple[int, int], num_masked: int, patch_size: int) -> np.ndarray:
    """Mean AvgDist of 64 start masks at each ``SMOOTHNESS`` value (fixed seed)."""
    rng = np.random.default_rng(12345)
    means = []
    for s in SMOOTHNESS:
        masks = smooth_start_masks(64, grid, num_masked, float(s), rng)
        means.append(float(np.nanmean(avgdist(masks, patch_size, on_empty="nan"))))
    return np.maximum.accumulate(np.array(means))


def _start_smoothness(grid, num_masked, patch_size, target) -> float:
    curve = _calibration(grid, num_masked, patch_size)
    return float(np.interp(target, curve, SMOOTHNESS))


def _corner_block(grid: tuple[int, int], num_masked: int) -> np.ndarray:
    """Visible patches packed nearest the top-left corner (the compact block)."""
    height, width = grid
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    order = np.lexsort((cols.ravel(), rows.ravel(), (rows**2 + cols**2).ravel()))
    mask = np.ones(height * width, dtype=bool)
    mask[order[: height * width - num_masked]] = False
    return mask.reshape(grid)


def _dispersed(grid: tuple[int, int], num_masked: int, rng: np.random.Generator) -> np.ndarray:
    """Visible patches spread out: greedy farthest-point placement from a random first one."""
    height, width = grid
    coords = np.stack(np.meshgrid(np.arange(height), np.arange(width), indexing="ij"), -1)
    coords = coords.reshape(-1, 2).astype(np.float64)
    count = height * width - num_masked
    chosen = [int(rng.integers(len(coords)))]
    distance = np.linalg.norm(coords - coords[chosen[0]], axis=1)
    for _ in range(count - 1):
        distance[chosen] = -1
        nxt = int(np.argmax(distance + 1e-6 * rng.random(len(coords))))
        chosen.append(nxt)
        distance = np.minimum(distance, np.linalg.norm(coords - coords[nxt], axis=1))
    mask = np.ones(height * width, dtype=bool)
    mask[chosen] = False
    return mask.reshape(grid)


@functools.lru_cache(maxsize=256)
def _achievable(grid: tuple[int, int], num_masked: int, patch_size: int, restarts: int):
    size = grid[0] * grid[1]
    if num_masked in (0, size):
        raise ValueError(
            f"a mask with {num_masked} of {size} patches masked has no AvgDist range "
            "(it needs a masked and a visible patch)"
        )
    rng = np.random.default_rng(0)
    random_starts = [smooth_start_masks(1, grid, num_masked, 0.0, rng)[0] for _ in range(restarts)]
    high_starts = np.stack([_corner_block(grid, num_masked), *random_starts])
    low_starts = np.stack([_dispersed(grid, num_masked, rng), *random_starts])
    high_masks, high = hill_climb_kernel(high_starts, patch_size, 1.0, 10_000)
    low_masks, low = hill_climb_kernel(low_starts, patch_size, -1.0, 10_000)
    return (
        float(low.min()),
        float(high.max()),
        low_masks[int(np.argmin(low))],
        high_masks[int(np.argmax(high))],
    )


def achievable_range(
    grid: GridLike, mask_ratio: float, patch_size: int = 16, restarts: int = 4
) -> tuple[float, float]:
    """Lowest and highest AvgDist (pixels) of any mask with MAE's masked count at this ratio.

    Computed by hill climbing over single swaps (masked <-> visible), the low end from
    dispersed (farthest-point) and random starts, the high end from one compact corner block
    and random starts; checked against brute force on small grids.

    Args:
        grid: patch grid (H, W) or an int.
        mask_ratio: in [0, 1).
        patch_size: pixels per patch side.
        restarts: random starts added to each search.

    Returns:
        (lowest, highest) AvgDist in pixels.
    """
    grid = as_grid(grid)
    num_masked = mae_num_masked(grid[0] * grid[1], check_mask_ratio(mask_ratio))
    low, high, _, _ = _achievable(grid, num_masked, check_patch_size(patch_size), restarts)
    return low, high


def extreme_masks(
    grid: GridLike, mask_ratio: float, patch_size: int = 16, restarts: int = 4
) -> np.ndarray:
    """(2, H, W) bool: the easiest and the hardest mask :func:`achievable_range` found."""
    grid = as_grid(grid)
    num_masked = mae_num_masked(grid[0] * grid[1], check_mask_ratio(mask_ratio))
    _, _, low_mask, high_mask = _achievable(
        grid, num_masked, check_patch_size(patch_size), restarts
    )
    return np.stack([low_mask, high_mask])


def difficulty_masks(
    n: int,
    grid: GridLike,
    mask_ratio: float,
    patch_size: int = 16,
    target_avgdist: float | None = None,
    target_p2dist: float | None = None,
    tol: float = 0.02,
    seed: SeedLike = None,
    max_rounds: int = 8,
) -> np.ndarray:
    """Masks at an exact mask ratio whose difficulty hits a target.

    Every mask has MAE's masked count, L - int(L * (1 - mask_ratio)), and its AvgDist within
    ±tol (relative) of the target. Starts are filtered-noise masks calibrated to land near the
    target (random masks when the target is random masks' typical AvgDist), then a numba swap
    search moves each mask into the band; masks stay as diverse as the target allows.

    Args:
        n: number of masks.
        grid: patch grid (H, W) or an int.
        mask_ratio: in [0, 1).
        patch_size: pixels per patch side.
        target_avgdist: target AvgDist in pixels; or
        target_p2dist: target mean P²Dist over masked patches (patch units), = AvgDist / p.
        tol: relative tolerance.
        seed: int, numpy Generator, or None.

    Returns:
        (N, H, W) bool, True = masked.

    Raises:
        ValueError: target outside :func:`achievable_range` (the message prints the range),
            or both or neither target given.
    """
    grid = as_grid(grid)
    ratio = check_mask_ratio(mask_ratio)
    patch_size = check_patch_size(patch_size)
    if (target_avgdist is None) == (target_p2dist is None):
        raise ValueError("give exactly one of target_avgdist (pixels) or target_p2dist (patches)")
    target = float(target_avgdist if target_avgdist is not None else target_p2dist * patch_size)
    if not 0 < tol < 1:
        raise ValueError(f"tol must be in (0, 1), got {tol}")
    num_masked = mae_num_masked(grid[0] * grid[1], ratio)
    low, high = achievable_range(grid, ratio, patch_size)
    if not low * (1 - tol) <= target <= high * (1 + tol):
        unit = f"{target:.3f} px" + (
            f" (p2dist {target_p2dist})" if target_p2dist is not None else ""
        )
        raise ValueError(
            f"target AvgDist {unit} is outside the achievable range [{low:.3f}, {high:.3f}] px "
            f"at mask_ratio {ratio} on a {grid[0]}x{grid[1]} grid with patch_size {patch_size}"
        )
    target = min(max(target, low), high)
    rng = as_rng(seed)
    smoothness = _start_smoothness(grid, num_masked, patch_size, target)
    out = np.empty((int(n), *grid), dtype=bool)
    todo = np.arange(int(n))
    for _ in range(max_rounds):
        if not len(todo):
            break
        starts = smooth_start_masks(len(todo), grid, num_masked, smoothness, rng)
        seeds = rng.integers(0, 2**31 - 1, len(todo), dtype=np.int64)
        masks, achieved = target_search_kernel(starts, patch_size, target, tol, seeds, 400, 12)
        ok = np.abs(achieved - target) <= tol * target
        out[todo[ok]] = masks[ok]
        todo = todo[~ok]
    if len(todo):
        raise RuntimeError(
            f"{len(todo)} of {n} masks did not reach AvgDist {target:.3f} ± {tol:.0%}; "
            "try a larger tol or a target further inside the achievable range"
        )
    return out


def mean_pairwise_hamming(masks: np.ndarray, max_pairs: int = 20_000, seed: int = 0) -> float:
    """Mean Hamming distance (patches) between random pairs of distinct masks."""
    n = len(masks)
    if n < 2:
        return float("nan")
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, max_pairs)
    b = (a + rng.integers(1, n, max_pairs)) % n
    flat = masks.reshape(n, -1)
    return float((flat[a] != flat[b]).sum(axis=1).mean())
