"""Numba kernels of the window metrics (density3, invdist5, nearest): no validation, typed
arrays in and out.

Entry points ``density3_range``, ``invdist5_range`` and ``nearest_range`` fill a range of rows
of (N, L) bool masks (True = masked, L = H * W, row-major) into outputs the caller allocated,
without the GIL, ``CHUNK`` masks at a time through flat scratch buffers. The caller runs
disjoint ranges on threads (``maskstats.metrics._parallel``). Serial entry points with shallow
call trees compile in a fraction of the time that numba's parallel loops take (numba
re-optimises a function's callees in every caller).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

from maskstats.metrics.distance_kernels import _column_gaps, _row_search, _visible_above_below

CHUNK = 4  # masks per step of the window kernels: their flat buffers stay in L1

INV_SQRT2 = np.float32(1.0 / math.sqrt(2.0))
INV_SQRT5 = np.float32(1.0 / math.sqrt(5.0))
INV_SQRT8 = np.float32(1.0 / math.sqrt(8.0))
HALF = np.float32(0.5)


@functools.lru_cache(maxsize=32)
def window_validity(height: int, width: int) -> np.ndarray:
    """(4, L) float32, read-only: 1 where the neighbour at column offset -1, -2, +1, +2 lies
    inside the grid, else 0 (vertical neighbours need none: images lie two zero rows apart)."""
    columns = np.arange(height * width) % width
    valid = np.stack([columns >= 1, columns >= 2, columns <= width - 2, columns <= width - 3])
    valid = valid.astype(np.float32)
    valid.flags.writeable = False
    return valid


@njit(cache=True)
def _visible_images(masks, first, last, margin, stride, visible):
    """visible[margin + k * stride + t] = 1 - masks[first + k, t]: each image's visible
    indicators, images ``stride`` apart; the two grid rows between images stay 0, so that
    vertical neighbours outside an image read 0."""
    size = masks.shape[1]
    for k in range(last - first):
        source = masks[first + k]
        target = visible[margin + k * stride : margin + k * stride + size]
        for t in range(size):
            target[t] = np.float32(1.0) - np.float32(source[t])


@njit(cache=True, nogil=True)
def density3_range(masks, first, last, width, valid, out):
    """density3 for masks[first:last] into ``out`` ((N, L) float32). Separable: visible counts
    over three columns (outside the grid counts 0), then over three rows. The centre is
    included; it is masked wherever the value is kept, so it adds 0."""
    size = masks.shape[1]
    margin = 2 * width + 2
    stride = size + 2 * width  # two zero grid rows between images
    length = 2 * margin + min(CHUNK, last - first) * stride
    visible = np.zeros(length, np.float32)
    row_sum = np.zeros(length, np.float32)
    for start in range(first, last, CHUNK):
        stop = min(last, start + CHUNK)
        _visible_images(masks, start, stop, margin, stride, visible)
        left, right = valid[0], valid[2]
        for k in range(stop - start):
            base = margin + k * stride
            v = visible[base - 1 : base + size + 1]
            h = row_sum[base : base + size]
            for t in range(size):
                h[t] = v[t + 1] + left[t] * v[t] + right[t] * v[t + 2]
        for k in range(stop - start):
            base = margin + k * stride
            above = row_sum[base - width : base - width + size]
            here = row_sum[base : base + size]
            below = row_sum[base + width : base + width + size]
            masked = masks[start + k]
            target = out[start + k]
            for t in range(size):
                total = here[t] + above[t] + below[t]
                target[t] = total if masked[t] else np.float32(np.nan)


@njit(cache=True)
def _near_far(masks, first, last, valid, margin, stride, visible, near, far):
    """Visible indicators of masks[first:last] into ``visible``, and per cell the visible
    count at column offsets +-1 (``near``) and +-2 (``far``) in the same row."""
    size = masks.shape[1]
    _visible_images(masks, first, last, margin, stride, visible)
    left1, left2, right1, right2 = valid[0], valid[1], valid[2], valid[3]
    for k in range(last - first):
        base = margin + k * stride
        v = visible[base - 2 : base + size + 2]
        near_row = near[base : base + size]
        far_row = far[base : base + size]
        for t in range(size):
            near_row[t] = left1[t] * v[t + 1] + right1[t] * v[t + 3]
            far_row[t] = left2[t] * v[t] + right2[t] * v[t + 4]


@njit(cache=True)
def _neighbour_rows(flat, base, size, width):
    """Views of ``flat`` one grid row above, one below, two above and two below the image
    that starts at ``base`` (so that every loop indexes with the cell number alone)."""
    return (
        flat[base - width : base - width + size],
        flat[base + width : base + width + size],
        flat[base - 2 * width : base - 2 * width + size],
        flat[base + 2 * width : base + 2 * width + size],
    )


@njit(cache=True, nogil=True)
def invdist5_range(masks, first, last, width, valid, out):
    """invdist5 for masks[first:last] into ``out``. The 5x5 weights 1/d split by row offset:
    row 0 has 1 at column offsets +-1 and 1/2 at +-2; rows +-1 have 1, 1/sqrt2, 1/sqrt5 at
    column offsets 0, +-1, +-2; rows +-2 have 1/2, 1/sqrt5, 1/sqrt8. ``rows`` is (3, len)
    scratch for the three horizontal sums."""
    size = masks.shape[1]
    margin = 2 * width + 2
    stride = size + 2 * width  # two zero grid rows between images
    length = 2 * margin + min(CHUNK, last - first) * stride
    visible = np.zeros(length, np.float32)
    rows = np.zeros((3, length), np.float32)
    for start in range(first, last, CHUNK):
        stop = min(last, start + CHUNK)
        _visible_images(masks, start, stop, margin, stride, visible)
        left1, left2, right1, right2 = valid[0], valid[1], valid[2], valid[3]
        for k in range(stop - start):
            base = margin + k * stride
            v = visible[base - 2 : base + size + 2]
            row0 = rows[0, base : base + size]
            row1 = rows[1, base : base + size]
            row2 = rows[2, base : base + size]
            for t in range(size):
                near = left1[t] * v[t + 1] + right1[t] * v[t + 3]
                far = left2[t] * v[t] + right2[t] * v[t + 4]
                centre = v[t + 2]
                row0[t] = near + HALF * far
                row1[t] = centre + INV_SQRT2 * near + INV_SQRT5 * far
                row2[t] = HALF * centre + INV_SQRT5 * near + INV_SQRT8 * far
        for k in range(stop - start):
            base = margin + k * stride
            row0 = rows[0, base : base + size]
            above1 = rows[1, base - width : base - width + size]
            below1 = rows[1, base + width : base + width + size]
            above2 = rows[2, base - 2 * width : base - 2 * width + size]
            below2 = rows[2, base + 2 * width : base + 2 * width + size]
            masked = masks[start + k]
            target = out[start + k]
            for t in range(size):
                total = row0[t] + above1[t] + below1[t] + above2[t] + below2[t]
                target[t] = total if masked[t] else np.float32(np.nan)


@njit(cache=True, nogil=True)
def nearest_range(masks, first, last, height, width, valid, out):
    """Nearest for masks[first:last] into ``out``. Within the 5x5 window the squared distance
    is the first ring holding a visible patch (1: the four neighbours, 2: diagonals, 4: two
    away in line, 5: knight moves, 8: the corners), counted from the near/far horizontal
    counts like invdist5. Patches with no visible patch in their window (nearest >= 3) take
    the exact row search of :func:`_nearest_squared` on their rows. NaN on visible patches and where
    no visible patch exists."""
    size = masks.shape[1]
    margin = 2 * width + 2
    stride = size + 2 * width  # two zero grid rows between images
    length = 2 * margin + min(CHUNK, last - first) * stride
    visible = np.zeros(length, np.float32)
    near = np.zeros(length, np.float32)  # separate arrays, so that the loops vectorise
    far = np.zeros(length, np.float32)
    ring = np.zeros(length, np.float32)
    up = np.empty((height, width), np.int32)
    down = np.empty((height, width), np.int32)
    column_gap = np.empty(width, np.int32)
    big = height * height + width * width + 1
    none = np.float32(9.0)
    for start in range(first, last, CHUNK):
        stop = min(last, start + CHUNK)
        _near_far(masks, start, stop, valid, margin, stride, visible, near, far)
        for k in range(stop - start):
            base = margin + k * stride
            v_a1, v_b1, v_a2, v_b2 = _neighbour_rows(visible, base, size, width)
            n_a1, n_b1, n_a2, n_b2 = _neighbour_rows(near, base, size, width)
            f_a1, f_b1, f_a2, f_b2 = _neighbour_rows(far, base, size, width)
            n = near[base : base + size]
            f = far[base : base + size]
            result = ring[base : base + size]
            for t in range(size):
                r1 = n[t] + v_a1[t] + v_b1[t]
                r2 = n_a1[t] + n_b1[t]
                r4 = f[t] + v_a2[t] + v_b2[t]
                r5 = f_a1[t] + f_b1[t] + n_a2[t] + n_b2[t]
                r8 = f_a2[t] + f_b2[t]
                value = np.float32(8.0) if r8 > 0 else none
                value = np.float32(5.0) if r5 > 0 else value
                value = np.float32(4.0) if r4 > 0 else value
                value = np.float32(2.0) if r2 > 0 else value
                result[t] = np.float32(1.0) if r1 > 0 else value
        for k in range(start, stop):
            result = ring[margin + (k - start) * stride : margin + (k - start) * stride + size]
            masked = masks[k]
            target = out[k]
            beyond = False
            for t in range(size):
                target[t] = math.sqrt(result[t]) if masked[t] else np.float32(np.nan)
                beyond |= masked[t] and result[t] == none
            if beyond:
                _visible_above_below(masked.reshape(height, width), up, down)
                for i in range(height):
                    row_beyond = False
                    for j in range(width):
                        t = i * width + j
                        row_beyond |= masked[t] and result[t] == none
                    if row_beyond:
                        _column_gaps(i, up, down, column_gap)
                        for j in range(width):
                            t = i * width + j
                            if masked[t] and result[t] == none:
                                value = _row_search(j, column_gap, big)
                                target[t] = math.sqrt(value) if value < big else np.nan
