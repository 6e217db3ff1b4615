"""Numba kernels for masks of a chosen difficulty: a swap search toward a target AvgDist, and
hill climbing to the lowest and highest AvgDist a mask ratio allows. No validation here."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from maskstats.metrics.distance_kernels import count_masked, distance_scratch, mask_distance_total

# Patch-sum memo per mask (2**12 slots, 64 KiB): a swap changes few patch configurations, so
# most patch sums of the next evaluation are found there.
SEARCH_MEMO_BITS = 12


@njit(cache=True)
def _avgdist(mask, p, scratch, num_masked, no_patches):
    return mask_distance_total(mask, p, scratch, no_patches) / (num_masked * p * p)


@njit(cache=True)
def _visible_neighbours(mask, i, j):
    height, width = mask.shape
    count = 0
    for a in range(max(0, i - 1), min(height, i + 2)):
        for b in range(max(0, j - 1), min(width, j + 2)):
            if (a != i or b != j) and not mask[a, b]:
                count += 1
    return count


@njit(cache=True)
def _pick(mask, want_masked, prefer_many, tries):
    """A random patch with mask == want_masked; of ``tries`` such draws, the one with the most
    (prefer_many) or fewest visible neighbours."""
    height, width = mask.shape
    best = -1
    best_score = 0
    for _ in range(tries):
        while True:
            flat = np.random.randint(0, height * width)
            if mask[flat // width, flat % width] == want_masked:
                break
        score = _visible_neighbours(mask, flat // width, flat % width)
        if best < 0 or (score > best_score if prefer_many else score < best_score):
            best, best_score = flat, score
    return best


@njit(parallel=True, cache=True)
def target_search_kernel(init, p, target, tol, seeds, max_iter, proposals):
    """Move each mask toward AvgDist = target by swapping one masked and one visible patch at a
    time (the count stays exact), until |AvgDist - target| <= tol * target.

    Each iteration draws ``proposals`` swaps biased by the direction (harder: reveal a masked
    patch among visible neighbours, hide an isolated visible one; easier: the reverse),
    evaluates each exactly, and applies the best one; when none brings the mask closer, the
    best of them is applied anyway so that the search cannot stall.

    Args:
        init: (N, H, W) bool starting masks, each with a visible and a masked patch.
        seeds: (N,) int64, one RNG seed per mask.

    Returns:
        masks (N, H, W) bool and their AvgDist (N,) float64.
    """
    n, height, width = init.shape
    out = init.copy()
    achieved = np.empty(n, np.float64)
    no_patches = np.empty((0, 0), np.float64)
    for k in prange(n):
        np.random.seed(seeds[k])
        scratch = distance_scratch(height, width, p, SEARCH_MEMO_BITS)
        mask = out[k]
        num_masked = count_masked(mask)
        current = _avgdist(mask, p, scratch, num_masked, no_patches)
        for _ in range(max_iter):
            if abs(current - target) <= tol * target:
                break
            harder = current < target
            best_gap = np.inf
            best_reveal = -1
            best_hide = -1
            best_value = current
            for _t in range(proposals):
                reveal = _pick(mask, True, harder, 3)
                hide = _pick(mask, False, not harder, 3)
                ri, rj = reveal // width, reveal % width
                hi, hj = hide // width, hide % width
                mask[ri, rj] = False
                mask[hi, hj] = True
                value = _avgdist(mask, p, scratch, num_masked, no_patches)
                mask[ri, rj] = True
                mask[hi, hj] = False
                gap = abs(value - target)
                if gap < best_gap:
                    best_gap, best_reveal, best_hide, best_value = gap, reveal, hide, value
            mask[best_reveal // width, best_reveal % width] = False
            mask[best_hide // width, best_hide % width] = True
            current = best_value
        achieved[k] = current
    return out, achieved


@njit(parallel=True, cache=True)
def hill_climb_kernel(starts, p, sign, max_sweeps):
    """Local optimum of sign * AvgDist (sign +1: highest, -1: lowest) over single swaps of a
    masked and a visible patch, from each start: first-improvement sweeps until a whole sweep
    improves nothing (or ``max_sweeps``).

    Returns:
        masks (S, H, W) bool and their AvgDist (S,) float64.
    """
    count, height, width = starts.shape
    size = height * width
    out = starts.copy()
    values = np.empty(count, np.float64)
    no_patches = np.empty((0, 0), np.float64)
    for s in prange(count):
        scratch = distance_scratch(height, width, p, SEARCH_MEMO_BITS)
        mask = out[s]
        num_masked = count_masked(mask)
        current = _avgdist(mask, p, scratch, num_masked, no_patches)
        for _sweep in range(max_sweeps):
            improved = False
            for a in range(size):
                ai, aj = a // width, a % width
                if not mask[ai, aj]:
                    continue
                for b in range(size):
                    bi, bj = b // width, b % width
                    if mask[bi, bj]:
                        continue
                    mask[ai, aj] = False
                    mask[bi, bj] = True
                    value = _avgdist(mask, p, scratch, num_masked, no_patches)
                    if sign * (value - current) > 1e-9:
                        current = value
                        improved = True
                        break
                    mask[ai, aj] = True
                    mask[bi, bj] = False
            if not improved:
                break
        values[s] = current
    return out, values
