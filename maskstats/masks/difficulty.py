"""Masks with a chosen difficulty: an exact mask ratio whose AvgDist (or mean P²Dist) hits a
target, so that difficulty can be varied apart from the ratio.

This module sits above ``metrics``: it measures what it generates."""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from tqdm import tqdm

from maskstats._parallel import run_rows
from maskstats._validate import (
    GridLike,
    SeedLike,
    as_grid,
    as_rng,
    check_mask_ratio,
    check_patch_size,
    mae_num_masked,
)
from maskstats.masks._search_kernels import (
    enumerate_range,
    extreme_search_range,
    target_search_range,
    unrank_mask,
)
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
def _calibration(grid: tuple[int, int], num_masked: int, patch_size: int) -> tuple[float, ...]:
    """Mean AvgDist (px) of 64 start masks at each ``SMOOTHNESS`` value (fixed seed), made
    non-decreasing. Means are exact sums (math.fsum) of the float32 AvgDists, so they are the
    same on every CPU."""
    rng = np.random.default_rng(12345)
    means = []
    for s in SMOOTHNESS:
        masks = smooth_start_masks(64, grid, num_masked, float(s), rng)
        values = np.asarray(avgdist(masks, patch_size, on_empty="nan"), dtype=np.float64)
        finite = [float(v) for v in values if v == v]
        means.append(math.fsum(finite) / len(finite) if finite else math.nan)
    curve: list[float] = []
    for mean in means:
        curve.append(mean if not curve or mean > curve[-1] else curve[-1])
    return tuple(curve)


def _start_smoothness(curve: tuple[float, ...], target: float) -> float:
    """SMOOTHNESS interpolated linearly where ``curve`` crosses ``target`` (clamped at the
    ends; the first crossing on a flat stretch), in Python floats (IEEE, no FMA)."""
    if target <= curve[0]:
        return float(SMOOTHNESS[0])
    for k in range(1, len(curve)):
        if target <= curve[k]:
            lo, hi = curve[k - 1], curve[k]
            s0, s1 = float(SMOOTHNESS[k - 1]), float(SMOOTHNESS[k])
            return s0 if hi == lo else s0 + (target - lo) / (hi - lo) * (s1 - s0)
    return float(SMOOTHNESS[-1])


def _corner_block(grid: tuple[int, int], num_masked: int) -> np.ndarray:
    """Visible patches packed nearest the top-left corner (the compact block)."""
    height, width = grid
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    order = np.lexsort((cols.ravel(), rows.ravel(), (rows**2 + cols**2).ravel()))
    mask = np.ones(height * width, dtype=bool)
    mask[order[: height * width - num_masked]] = False
    return mask.reshape(grid)


def _edge_strips(grid: tuple[int, int], num_masked: int) -> np.ndarray:
    """(2, H, W): visible patches filling rows from the top edge, and columns from the left
    edge (the hardest masks of a grid are often one visible strip along an edge)."""
    height, width = grid
    visible = height * width - num_masked
    rows = np.ones(height * width, dtype=bool)
    rows[:visible] = False
    columns = np.ones((width, height), dtype=bool).reshape(-1)
    columns[:visible] = False
    return np.stack([rows.reshape(grid), columns.reshape(width, height).T])


def _dispersed(grid: tuple[int, int], num_masked: int, rng: np.random.Generator) -> np.ndarray:
    """Visible patches spread out: greedy farthest-point placement (integer squared distances;
    ties to the first in a random order) from a random first one."""
    height, width = grid
    rows, cols = np.divmod(np.arange(height * width), width)
    order = rng.permutation(height * width)
    count = height * width - num_masked
    chosen = [int(order[0])]
    distance = (rows - rows[chosen[0]]) ** 2 + (cols - cols[chosen[0]]) ** 2
    for _ in range(count - 1):
        distance[chosen] = -1
        nxt = int(order[np.argmax(distance[order])])
        chosen.append(nxt)
        distance = np.minimum(distance, (rows - rows[nxt]) ** 2 + (cols - cols[nxt]) ** 2)
    mask = np.ones(height * width, dtype=bool)
    mask[chosen] = False
    return mask.reshape(grid)


MAX_ENUMERATE = 5_000_000
"""Enumerate every mask when C(L, k) * L is at most this (k: the smaller of the masked and the
visible count; C(L, k) * L patch sums, about a second). Measured on a 2-core AMD EPYC, 2 numba
threads (``_enumerate``, median of 3): 125,970 4x5 masks in 0.27 s, 177,100 5x5 masks in
0.61 s, 41,664 8x8 masks in 0.64 s, i.e. 4-9 million patch sums a second."""

ENUMERATE_CHUNK = 4096  # masks per task of the enumeration (one task: O(1) memory)

SEARCH_STARTS = 8
"""Starts per end of the search: the compact corner block (high end) or farthest-point
dispersed masks (low end), and random masks."""


EXHAUSTIVE_CLIMB = 20_000
"""The search's final hill climb tries every single swap when masked x visible is at most
this; above, only swaps that move a visible patch by at most ``LOCAL_RADIUS`` patches."""

LOCAL_RADIUS = 2


SMALL_GRID = 64
"""On grids of at most this many patches the high end also searches from random starts, with
as many swaps as the low end; above, only from compact starts (corner block, edge strips: the
hardest masks found are compact there, and each swap costs more: wide reaches)."""


def search_plan(size: int, num_masked: int, high: bool) -> tuple[int, int]:
    """(threshold-accepting swaps per start, hill-climb radius (-1: every swap)) of the search
    for the high (``high``) or low end on a grid of ``size`` patches, ``num_masked`` masked."""
    big_high = high and size > SMALL_GRID
    steps = 10 * size + 2_000 if big_high else 200 * size + 2_000
    exhaustive = num_masked * (size - num_masked) <= EXHAUSTIVE_CLIMB and not big_high
    return steps, -1 if exhaustive else LOCAL_RADIUS


@dataclass(frozen=True, eq=False)
class AchievableRange:
    """The lowest and highest AvgDist (px) at a grid, masked count and patch size.

    Unpacks as ``low, high = achievable_range(...)``.

    Attributes:
        low: AvgDist (px, float64) of ``easiest``.
        high: AvgDist (px, float64) of ``hardest``.
        exact: True when every mask was evaluated (``low`` and ``high`` are the true extremes);
            False when they come from a search: then ``low`` is an upper bound on the true
            lowest AvgDist and ``high`` a lower bound on the true highest, the extremes of the
            masks the search found.
        method: "enumeration (N masks)" or "search (...)": how they were found.
        easiest: (H, W) bool, True = masked, read-only: a mask with AvgDist ``low`` (the first
            in lexicographic order of its patches when enumerated).
        hardest: (H, W) bool, read-only: a mask with AvgDist ``high``.
    """

    low: float
    high: float
    exact: bool
    method: str
    easiest: np.ndarray
    hardest: np.ndarray

    def __iter__(self) -> Iterator[float]:
        return iter((self.low, self.high))

    def __repr__(self) -> str:
        # The masks are attributes to use, not to print: their shape only.
        shape = "x".join(str(n) for n in np.shape(self.easiest))
        return (
            f"AchievableRange(low={self.low:.4g} px, high={self.high:.4g} px, "
            f"exact={self.exact}, method={self.method!r}, easiest/hardest: {shape} masks)"
        )


def _binomials(size: int, k: int) -> np.ndarray:
    """(size + 1, k + 1) int64: C(n, j)."""
    table = np.zeros((size + 1, k + 1), np.int64)
    for n in range(size + 1):
        for j in range(min(n, k) + 1):
            table[n, j] = math.comb(n, j)
    return table


def _enumerate(grid: tuple[int, int], num_masked: int, patch_size: int) -> AchievableRange:
    size = grid[0] * grid[1]
    chosen_masked = num_masked <= size - num_masked
    k = num_masked if chosen_masked else size - num_masked
    count = math.comb(size, k)
    binom = _binomials(size, k)
    chunks = -(-count // ENUMERATE_CHUNK)
    low = np.empty((chunks, 2), np.float64)
    high = np.empty((chunks, 2), np.float64)

    def kernel(first: int, last: int) -> None:
        enumerate_range(
            grid[0], grid[1], k, chosen_masked, patch_size, ENUMERATE_CHUNK, count, binom,
            first, last, low, high,
        )  # fmt: skip

    run_rows(kernel, chunks, 1, 1)
    # Totals are compared exactly; ties go to the lowest rank (chunks are in rank order).
    lo = min(range(chunks), key=lambda c: (low[c, 0], c))
    hi = min(range(chunks), key=lambda c: (-high[c, 0], c))
    scale = num_masked * patch_size * patch_size
    easiest = unrank_mask(int(low[lo, 1]), grid, k, chosen_masked, binom)
    hardest = unrank_mask(int(high[hi, 1]), grid, k, chosen_masked, binom)
    return _result(
        low[lo, 0] / scale, high[hi, 0] / scale, True, f"enumeration ({count} masks)", easiest,
        hardest,
    )  # fmt: skip


def _result(low, high, exact, method, easiest, hardest) -> AchievableRange:
    easiest.flags.writeable = False
    hardest.flags.writeable = False
    return AchievableRange(float(low), float(high), exact, method, easiest, hardest)


def _extreme(
    starts: np.ndarray, patch_size: int, sign: float, seed: int, bar: Any
) -> tuple[float, np.ndarray]:
    """Best of :func:`extreme_search_range` over ``starts`` (ties: the first start)."""
    count = len(starts)
    seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, count, dtype=np.int64)
    out = np.empty_like(starts)
    values = np.empty(count, np.float64)
    size = starts.shape[1] * starts.shape[2]
    steps, radius = search_plan(size, int(starts[0].sum()), sign > 0)

    def kernel(first: int, last: int) -> None:
        extreme_search_range(
            starts, first, last, patch_size, sign, seeds, steps, radius, out, values
        )
        bar.update(last - first)

    run_rows(kernel, count, 1, 1)
    best = min(range(count), key=lambda s: (-sign * values[s], s))
    return float(values[best]), out[best].copy()


def _search(grid: tuple[int, int], num_masked: int, patch_size: int) -> AchievableRange:
    rng = np.random.default_rng(0)
    size = grid[0] * grid[1]
    random_starts = smooth_start_masks(SEARCH_STARTS - 1, grid, num_masked, 0.0, rng)
    compact = np.concatenate(
        [_corner_block(grid, num_masked)[None], _edge_strips(grid, num_masked)]
    )
    if size <= SMALL_GRID:
        high_starts = np.concatenate([compact, random_starts])
    else:
        high_starts = np.concatenate([compact, compact[:1]])  # each start has its own seed
    dispersed = [_dispersed(grid, num_masked, rng) for _ in range(SEARCH_STARTS // 2)]
    low_starts = np.concatenate([np.stack(dispersed), random_starts[: SEARCH_STARTS // 2]])
    with tqdm(
        total=len(high_starts) + len(low_starts),
        desc=f"achievable_range {grid[0]}x{grid[1]}",
        unit="start",
        disable=None,
        delay=1.0,
        file=sys.stderr,
    ) as bar:
        high, hardest = _extreme(high_starts, patch_size, 1.0, 1, bar)
        low, easiest = _extreme(low_starts, patch_size, -1.0, 2, bar)
    parts = []
    for end, starts, is_high in (("low", low_starts, False), ("high", high_starts, True)):
        steps, radius = search_plan(size, num_masked, is_high)
        climb = "every single swap" if radius < 0 else f"swaps moving a patch <= {radius}"
        parts.append(
            f"{end}: {len(starts)} starts, {steps} threshold-accepting swaps each, "
            f"hill climbing over {climb}"
        )
    return _result(low, high, False, f"search ({'; '.join(parts)})", easiest, hardest)


METHODS = ("auto", "enumeration", "search")


@functools.lru_cache(maxsize=256)
def _achievable(
    grid: tuple[int, int], num_masked: int, patch_size: int, method: str
) -> AchievableRange:
    size = grid[0] * grid[1]
    if num_masked in (0, size):
        raise ValueError(
            f"a mask with {num_masked} of {size} patches masked has no AvgDist range "
            "(it needs a masked and a visible patch)"
        )
    count = math.comb(size, min(num_masked, size - num_masked))
    if method == "enumeration" or (method == "auto" and count * size <= MAX_ENUMERATE):
        return _enumerate(grid, num_masked, patch_size)
    return _search(grid, num_masked, patch_size)


def achievable_range(
    grid: GridLike, mask_ratio: float, patch_size: int = 16, method: str = "auto"
) -> AchievableRange:
    """Lowest and highest AvgDist (pixels) of masks with MAE's masked count at this ratio:
    exact where every mask can be evaluated, else a bound found by search.

    With ``method="auto"``, when C(L, k) * L <= ``MAX_ENUMERATE`` (k: the smaller of the masked
    and the visible count; about a second) every mask is evaluated by the metric's kernel and
    the result is exact (``exact=True``). Otherwise a search (``exact=False``), a bound found
    by search: threshold accepting over random swaps, then first-improvement hill climbing,
    from dispersed (farthest-point) and random starts for the low end, and from the compact
    corner block and edge strips (plus random starts on grids of at most ``SMALL_GRID``
    patches) for the high end (``method`` says how many starts, swaps and which climb).
    ``low`` and ``high`` are the extremes of the masks found: the true range can be wider.
    Forced on, the search found the enumerated extremes on every small grid, ratio and patch
    size of the tests. Results are cached per (grid, masked count, patch size, method) and are
    the same on every CPU (exact float64 comparisons of sums in a fixed order; ties to the
    first mask or start). A progress bar goes to stderr (on a terminal) when the search takes
    over a second.

    Args:
        grid: patch grid (H, W) or an int.
        mask_ratio: in [0, 1); the masked count is MAE's, L - int(L * (1 - mask_ratio)).
        patch_size: pixels per patch side.
        method: "auto", "enumeration" (every mask, whatever the count) or "search".

    Returns:
        An :class:`AchievableRange` (unpacks as ``low, high``), with the easiest and the
        hardest mask.

    Raises:
        ValueError: a ratio that leaves no masked or no visible patch, or an unknown method.

    Examples:
        Three of four pixels in a row masked (patch_size 1): the visible one in the middle gives
        distances 1, 1, 2 (mean 4/3), at an end 1, 2, 3 (mean 2); small enough to enumerate.

        >>> from maskstats.masks import achievable_range
        >>> reach = achievable_range((1, 4), 0.75, patch_size=1)
        >>> round(reach.low, 3), round(reach.high, 3), reach.exact
        (1.333, 2.0, True)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    grid = as_grid(grid)
    num_masked = mae_num_masked(grid[0] * grid[1], check_mask_ratio(mask_ratio))
    return _achievable(grid, num_masked, check_patch_size(patch_size), method)


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
    ±tol (relative) of the target: |AvgDist - target| <= tol * target in float64, AvgDist the
    metric's exact float64 sum. Starts are filtered-noise masks calibrated to land near the
    target (random masks when the target is random masks' typical AvgDist), then a numba swap
    search (incremental AvgDist) moves each mask into the band; masks stay as diverse as the
    target allows. :func:`achievable_range` is computed only when the target lies outside the
    calibrated start masks' mean AvgDists (to check it and name the range in the error). The
    same seed gives the same masks on every CPU and with any thread count. A progress bar goes
    to stderr (on a terminal) when the work takes over a second.

    Args:
        n: number of masks.
        grid: patch grid (H, W) or an int.
        mask_ratio: in [0, 1).
        patch_size: pixels per patch side.
        target_avgdist: target AvgDist in pixels; or
        target_p2dist: target mean P²Dist over masked patches (patch units), = AvgDist / p.
        tol: relative tolerance.
        seed: int, numpy Generator, or None.
        max_rounds: rounds of fresh starts for masks that missed the band.

    Returns:
        (N, H, W) bool, True = masked.

    Raises:
        ValueError: target outside :func:`achievable_range` (the message prints the range),
            or both or neither target given.

    Examples:
        >>> from maskstats.masks import difficulty_masks
        >>> from maskstats.metrics import avgdist
        >>> masks = difficulty_masks(4, 14, 0.75, 16, target_avgdist=15.0, seed=0)
        >>> masks.sum(axis=(1, 2)).tolist()  # MAE's count at 0.75
        [147, 147, 147, 147]
        >>> bool((abs(avgdist(masks, 16) - 15.0) <= 0.02 * 15.0).all())  # within tol of the target
        True
    """
    grid = as_grid(grid)
    ratio = check_mask_ratio(mask_ratio)
    patch_size = check_patch_size(patch_size)
    if (target_avgdist is None) == (target_p2dist is None):
        raise ValueError("give exactly one of target_avgdist (pixels) or target_p2dist (patches)")
    if target_avgdist is not None:
        target = float(target_avgdist)
    else:
        assert target_p2dist is not None  # exactly one is given (checked above)
        target = float(target_p2dist * patch_size)
    if not 0 < tol < 1:
        raise ValueError(f"tol must be in (0, 1), got {tol}")
    num_masked = mae_num_masked(grid[0] * grid[1], ratio)
    curve = _calibration(grid, num_masked, patch_size)
    if not curve[0] <= target <= curve[-1]:
        reach = _achievable(grid, num_masked, patch_size, "auto")
        low, high = reach.low, reach.high
        if not low * (1 - tol) <= target <= high * (1 + tol):
            unit = f"{target:.3f} px" + (
                f" (p2dist {target_p2dist})" if target_p2dist is not None else ""
            )
            found = "" if reach.exact else " (found by search)"
            raise ValueError(
                f"target AvgDist {unit} is outside the achievable range [{low:.3f}, "
                f"{high:.3f}] px{found} at mask_ratio {ratio} on a {grid[0]}x{grid[1]} grid "
                f"with patch_size {patch_size}"
            )
        target = min(max(target, low), high)
    rng = as_rng(seed)
    smoothness = _start_smoothness(curve, target)
    out = np.empty((int(n), *grid), dtype=bool)
    todo = np.arange(int(n))
    with tqdm(
        total=int(n), desc="difficulty_masks", unit="mask", disable=None, delay=1.0,
        file=sys.stderr,
    ) as bar:  # fmt: skip
        for _ in range(max_rounds):
            if not len(todo):
                break
            masks = smooth_start_masks(len(todo), grid, num_masked, smoothness, rng)
            seeds = rng.integers(0, 2**31 - 1, len(todo), dtype=np.int64)
            achieved = np.empty(len(todo), np.float64)

            def kernel(first: int, last: int, masks=masks, seeds=seeds, achieved=achieved):
                target_search_range(
                    masks, first, last, patch_size, target, tol, seeds, 400, 12, achieved
                )

            run_rows(kernel, len(todo), 16, 16)
            ok = np.abs(achieved - target) <= tol * target
            out[todo[ok]] = masks[ok]
            bar.update(int(ok.sum()))
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
