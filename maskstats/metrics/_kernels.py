"""Numba kernels for the difficulty metrics: no validation, typed arrays in and out.

All kernels take ``masks`` as (N, H, W) bool, True = masked, and run parallel over N.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_INF = np.inf


@njit(parallel=True, cache=True)
def density3_kernel(masks):
    """(N, H, W) float32: visible 8-neighbours of each masked patch; NaN on visible patches."""
    n, height, width = masks.shape
    out = np.empty((n, height, width), np.float32)
    for k in prange(n):
        mask = masks[k]
        for i in range(height):
            i0 = max(i - 1, 0)
            i1 = min(i + 2, height)
            for j in range(width):
                if not mask[i, j]:
                    out[k, i, j] = np.nan
                    continue
                j0 = max(j - 1, 0)
                j1 = min(j + 2, width)
                count = 0
                for a in range(i0, i1):
                    for b in range(j0, j1):
                        count += not mask[a, b]
                out[k, i, j] = count
    return out


@njit(cache=True)
def _inverse_distance_table():
    table = np.zeros((5, 5), np.float64)
    for a in range(5):
        for b in range(5):
            if a != 2 or b != 2:
                table[a, b] = 1.0 / math.sqrt((a - 2) ** 2 + (b - 2) ** 2)
    return table


@njit(parallel=True, cache=True)
def invdist5_kernel(masks):
    """(N, H, W) float32: sum of 1/d over visible patches in the 5x5 window; NaN on visible."""
    n, height, width = masks.shape
    table = _inverse_distance_table()
    out = np.empty((n, height, width), np.float32)
    for k in prange(n):
        mask = masks[k]
        for i in range(height):
            for j in range(width):
                if not mask[i, j]:
                    out[k, i, j] = np.nan
                    continue
                total = 0.0
                for a in range(max(i - 2, 0), min(i + 3, height)):
                    for b in range(max(j - 2, 0), min(j + 3, width)):
                        if not mask[a, b]:
                            total += table[a - i + 2, b - j + 2]
                out[k, i, j] = total
    return out


@njit(cache=True)
def _distance_sums_one(mask, p, sums, column_gap, site_pos, site_h, env_site, env_start):
    """Per masked patch, the sum over its p x p pixels of the Euclidean distance (pixels) to the
    nearest visible pixel. Returns the total over all masked pixels.

    Separable exact EDT using the block structure: for pixel row y, ``column_gap[j]`` is the
    squared vertical distance to the nearest visible pixel in patch column j (the same for all
    p pixel columns of j). Each patch column j is an interval [j p, j p + p - 1]; outside it
    the squared distance to it is (x - nearest end)^2 + gap, so the ends are point sites of a
    1-D lower envelope of parabolas (Felzenszwalb & Huttenlocher), and inside it the
    squared distance is the gap itself.
    """
    height, width = mask.shape
    total = 0.0
    for i in range(height):
        row_has_masked = False
        for j in range(width):
            if mask[i, j]:
                row_has_masked = True
                break
        if not row_has_masked:
            continue
        for j in range(width):
            sums[i, j] = 0.0
        for dy in range(p):
            y = i * p + dy
            # Vertical squared gap per patch column.
            for j in range(width):
                if not mask[i, j]:
                    column_gap[j] = 0.0
                    continue
                best = _INF
                for a in range(i - 1, -1, -1):
                    if not mask[a, j]:
                        d = y - (a * p + p - 1)
                        best = d * d
                        break
                for a in range(i + 1, height):
                    if not mask[a, j]:
                        d = a * p - y
                        if d * d < best:
                            best = d * d
                        break
                column_gap[j] = best
            # Point sites: both ends of every patch column with a visible pixel.
            num_sites = 0
            for j in range(width):
                gap = column_gap[j]
                if gap == _INF:
                    continue
                site_pos[num_sites] = j * p
                site_h[num_sites] = gap
                num_sites += 1
                if p > 1:
                    site_pos[num_sites] = j * p + p - 1
                    site_h[num_sites] = gap
                    num_sites += 1
            # Lower envelope of (x - q)^2 + h over the sites.
            top = 0
            env_site[0] = 0
            env_start[0] = -_INF
            env_start[1] = _INF
            for s in range(1, num_sites):
                q = site_pos[s]
                fq = site_h[s] + q * q
                v = site_pos[env_site[top]]
                cross = (fq - (site_h[env_site[top]] + v * v)) / (2.0 * (q - v))
                while cross <= env_start[top]:
                    top -= 1
                    v = site_pos[env_site[top]]
                    cross = (fq - (site_h[env_site[top]] + v * v)) / (2.0 * (q - v))
                top += 1
                env_site[top] = s
                env_start[top] = cross
                env_start[top + 1] = _INF
            # Evaluate at the pixels of masked patches in this row.
            e = 0
            for j in range(width):
                if not mask[i, j]:
                    continue
                inside = column_gap[j]
                acc = 0.0
                for x in range(j * p, j * p + p):
                    while env_start[e + 1] < x:
                        e += 1
                    s = env_site[e]
                    dx = x - site_pos[s]
                    d2 = dx * dx + site_h[s]
                    if inside < d2:
                        d2 = inside
                    acc += math.sqrt(d2)
                sums[i, j] += acc
        for j in range(width):
            if mask[i, j]:
                total += sums[i, j]
    return total


@njit(parallel=True, cache=True)
def pixel_distance_kernel(masks, p):
    """P2Dist per patch and AvgDist per mask.

    Args:
        masks: (N, H, W) bool, True = masked.
        p: patch size in pixels.

    Returns:
        p2dist: (N, H, W) float32, mean pixel distance / p on masked patches, NaN on visible.
        avgdist: (N,) float64, mean distance (pixels) over masked pixels.
        Masks with nothing masked or nothing visible get NaN (the caller decides whether to raise).
    """
    n, height, width = masks.shape
    p2dist = np.empty((n, height, width), np.float32)
    avgdist = np.empty(n, np.float64)
    scale = 1.0 / (p * p * p)
    for k in prange(n):
        mask = masks[k]
        num_masked = 0
        for i in range(height):
            for j in range(width):
                num_masked += mask[i, j]
        if num_masked == height * width or num_masked == 0:
            # Nothing masked, or nothing visible (the caller raises unless NaN is asked for).
            p2dist[k] = np.nan
            avgdist[k] = np.nan
            continue
        sums = np.empty((height, width), np.float64)
        column_gap = np.empty(width, np.float64)
        site_pos = np.empty(2 * width, np.float64)
        site_h = np.empty(2 * width, np.float64)
        env_site = np.empty(2 * width, np.int64)
        env_start = np.empty(2 * width + 1, np.float64)
        total = _distance_sums_one(mask, p, sums, column_gap, site_pos, site_h, env_site, env_start)
        for i in range(height):
            for j in range(width):
                p2dist[k, i, j] = sums[i, j] * scale if mask[i, j] else np.nan
        avgdist[k] = total / (num_masked * p * p)
    return p2dist, avgdist
