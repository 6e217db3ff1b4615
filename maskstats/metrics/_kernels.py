"""Numba kernels for the difficulty metrics: no validation, typed arrays in and out.

All kernels take ``masks`` as (N, H, W) bool, True = masked, and run parallel over N.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_INF = np.inf


CHUNK = 32  # masks per parallel work item: scratch buffers are allocated once per chunk


@njit(cache=True)
def _chunks(n):
    return (n + CHUNK - 1) // CHUNK


@njit(cache=True)
def _pad_visible(mask, pad, out):
    """Write the visible indicator (1 visible, 0 masked) of one (H, W) mask into the interior
    of ``out`` ((H + 2 pad, W + 2 pad) float32, whose border must already be zero)."""
    height, width = mask.shape
    for i in range(height):
        row = out[i + pad]
        source = mask[i]
        for j in range(width):
            row[j + pad] = np.float32(1.0) - np.float32(source[j])


@njit(parallel=True, cache=True)
def density3_kernel(masks):
    """(N, H, W) float32: visible 8-neighbours of each masked patch (outside the grid = not
    visible); NaN on visible patches. Separable: 3-row column sums, then 3-column sums (the
    centre is masked wherever the value is kept, so it adds 0)."""
    n, height, width = masks.shape
    out = np.empty((n, height, width), np.float32)
    for c in prange(_chunks(n)):
        visible = np.zeros((height + 2, width + 2), np.float32)
        column_sum = np.empty((height, width + 2), np.float32)
        for k in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            mask = masks[k]
            _pad_visible(mask, 1, visible)
            for i in range(height):
                for b in range(width + 2):
                    column_sum[i, b] = visible[i, b] + visible[i + 1, b] + visible[i + 2, b]
            for i in range(height):
                for j in range(width):
                    count = column_sum[i, j] + column_sum[i, j + 1] + column_sum[i, j + 2]
                    out[k, i, j] = count if mask[i, j] else np.nan
    return out


@njit(cache=True)
def _padded_visible(masks, first, last, pad, visible):
    """Write the visible indicator (1 visible, 0 masked) of masks[first:last] into the
    interiors of the flat float32 ``visible``: one (H + 2 pad) x (W + 2 pad) image after
    another. The ``pad``-wide border (outside the grid) must already be zero."""
    n, height, width = masks.shape
    row_len = width + 2 * pad
    image_len = (height + 2 * pad) * row_len
    for k in range(first, last):
        base = (k - first) * image_len + pad * row_len + pad
        for i in range(height):
            target = visible[base + i * row_len : base + i * row_len + width]
            source = masks[k, i]
            for j in range(width):
                target[j] = np.float32(1.0) - np.float32(source[j])


INV_SQRT2 = np.float32(1.0 / math.sqrt(2.0))
INV_SQRT5 = np.float32(1.0 / math.sqrt(5.0))
INV_SQRT8 = np.float32(1.0 / math.sqrt(8.0))


@njit(cache=True)
def _invdist5_flat(visible, total, row_len, lo, hi):
    """total[q] = sum over the 24 cells of the 5x5 window of visible / d, for lo <= q < hi,
    grouped by distance: 1 (4 cells), sqrt 2 (4), 2 (4), sqrt 5 (8), 2 sqrt 2 (4)."""
    r = row_len

    def at(dy, dx):
        shift = dy * r + dx
        return visible[lo + shift : hi + shift]

    a1, a2, a3, a4 = at(-1, 0), at(1, 0), at(0, -1), at(0, 1)
    d1, d2, d3, d4 = at(-1, -1), at(-1, 1), at(1, -1), at(1, 1)
    b1, b2, b3, b4 = at(-2, 0), at(2, 0), at(0, -2), at(0, 2)
    k1, k2, k3, k4 = at(-2, -1), at(-2, 1), at(2, -1), at(2, 1)
    k5, k6, k7, k8 = at(-1, -2), at(-1, 2), at(1, -2), at(1, 2)
    c1, c2, c3, c4 = at(-2, -2), at(-2, 2), at(2, -2), at(2, 2)
    half = np.float32(0.5)
    out = total[lo:hi]
    for q in range(hi - lo):
        axial = a1[q] + a2[q] + a3[q] + a4[q]
        diagonal = d1[q] + d2[q] + d3[q] + d4[q]
        axial2 = b1[q] + b2[q] + b3[q] + b4[q]
        knight = k1[q] + k2[q] + k3[q] + k4[q] + k5[q] + k6[q] + k7[q] + k8[q]
        corner = c1[q] + c2[q] + c3[q] + c4[q]
        out[q] = (
            axial + INV_SQRT2 * diagonal + half * axial2 + INV_SQRT5 * knight + INV_SQRT8 * corner
        )


@njit(cache=True)
def _scatter_masked(masks, first, last, pad, total, out):
    """out[k, i, j] = window sum on masked patches, NaN on visible ones."""
    n, height, width = masks.shape
    row_len = width + 2 * pad
    image_len = (height + 2 * pad) * row_len
    for k in range(first, last):
        base = (k - first) * image_len + pad * row_len + pad
        for i in range(height):
            source = total[base + i * row_len : base + i * row_len + width]
            masked = masks[k, i]
            target = out[k, i]
            for j in range(width):
                target[j] = source[j] if masked[j] else np.float32(np.nan)


@njit(parallel=True, cache=True)
def invdist5_kernel(masks):
    """(N, H, W) float32: sum of 1/d over the visible patches of the 5x5 window (outside the
    grid = not visible); NaN on visible patches. The chunk's padded images lie end to end in
    one flat array, so each of the 24 shifted reads is one long vectorisable pass."""
    n, height, width = masks.shape
    pad = 2
    row_len = width + 2 * pad
    image_len = (height + 2 * pad) * row_len
    margin = pad * row_len + pad
    out = np.empty((n, height, width), np.float32)
    for c in prange(_chunks(n)):
        first = c * CHUNK
        last = min(n, first + CHUNK)
        size = (last - first) * image_len
        visible = np.zeros(CHUNK * image_len, np.float32)
        total = np.empty(CHUNK * image_len, np.float32)
        _padded_visible(masks, first, last, pad, visible)
        _invdist5_flat(visible, total, row_len, margin, size - margin)
        _scatter_masked(masks, first, last, pad, total, out)
    return out


@njit(cache=True)
def _visible_above_below(mask, up, down):
    """Per patch: row of the nearest visible patch at or above it in its column (-1 if none),
    and at or below it (H if none)."""
    height, width = mask.shape
    for j in range(width):
        last = -1
        for i in range(height):
            if not mask[i, j]:
                last = i
            up[i, j] = last
        last = height
        for i in range(height - 1, -1, -1):
            if not mask[i, j]:
                last = i
            down[i, j] = last


@njit(cache=True)
def _nearest_squared(mask, up, down, column_gap, nearest2):
    """Squared centre distance (patch units) from each masked patch to the nearest visible
    patch: vertical distances per column, then a row search that stops once the horizontal
    offset alone is no better (exact)."""
    height, width = mask.shape
    big = height * height + width * width + 1
    for i in range(height):
        for j in range(width):
            gap = big
            if up[i, j] >= 0:
                gap = i - up[i, j]
            if down[i, j] < height and down[i, j] - i < gap:
                gap = down[i, j] - i
            column_gap[j] = gap * gap if gap < big else big
        for j in range(width):
            if not mask[i, j]:
                nearest2[i, j] = 0
                continue
            best = column_gap[j]
            d = 1
            while d * d < best:
                if j - d >= 0:
                    value = d * d + column_gap[j - d]
                    if value < best:
                        best = value
                if j + d < width:
                    value = d * d + column_gap[j + d]
                    if value < best:
                        best = value
                if j - d < 0 and j + d >= width:
                    break
                d += 1
            nearest2[i, j] = best


@njit(parallel=True, cache=True)
def nearest_kernel(masks):
    """(N, H, W) float32: centre distance to the nearest visible patch; NaN on visible.
    Masks with no visible patch get NaN everywhere (the caller decides whether to raise)."""
    n, height, width = masks.shape
    out = np.empty((n, height, width), np.float32)
    for c in prange(_chunks(n)):
        up = np.empty((height, width), np.int64)
        down = np.empty((height, width), np.int64)
        column_gap = np.empty(width, np.int64)
        nearest2 = np.empty((height, width), np.int64)
        for k in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            mask = masks[k]
            _visible_above_below(mask, up, down)
            _nearest_squared(mask, up, down, column_gap, nearest2)
            big = height * height + width * width + 1
            for i in range(height):
                for j in range(width):
                    value = nearest2[i, j]
                    if not mask[i, j] or value >= big:
                        out[k, i, j] = np.nan
                    else:
                        out[k, i, j] = math.sqrt(value)
    return out


@njit(cache=True, fastmath={"reassoc", "nsz", "contract"})
def _patch_distance_sum(i, j, p, mask, up, down, reach, buf):
    """Sum over the p x p pixels of masked patch (i, j) of the distance (px) to the nearest
    visible pixel.

    Exact by a bound: every pixel is within nearest * p of a visible pixel (the pixel at the
    same offset in the nearest visible patch), so only patch columns j' with
    |j' - j| <= ``reach`` can hold its nearest visible pixel. Pixel (y, x) sees column j' at
    squared distance (x - ref)^2 + gap(y)^2, ref the column's nearest end pixel column and
    gap(y) = min(y - last visible pixel row above, first visible pixel row below - y) in that
    column; its own column j at gap(y)^2. ``buf`` is a (p, p) float32 scratch.
    """
    height, width = mask.shape
    y0 = i * p
    x0 = j * p
    buf[:, :] = np.inf
    for jj in range(max(0, j - reach), min(width, j + reach + 1)):
        above = up[i, jj]
        below = down[i, jj]
        if above == i:  # visible patch beside (i, j): vertical gap 0 on every row
            top = np.float32(-np.inf)
            bottom = np.float32(np.inf)
            flat = True
        else:
            top = np.float32(above * p + p - 1 - y0) if above >= 0 else np.float32(-np.inf)
            bottom = np.float32(below * p - y0) if below < height else np.float32(np.inf)
            if top == -np.inf and bottom == np.inf:
                continue  # no visible pixel in this column
            flat = False
        if jj == j:
            ref = np.float32(0.0)
            inside = True
        else:
            ref = np.float32(jj * p + p - 1 - x0) if jj < j else np.float32(jj * p - x0)
            inside = False
        for dy in range(p):
            if flat:
                g2 = np.float32(0.0)
            else:
                gap = min(np.float32(dy) - top, bottom - np.float32(dy))
                g2 = gap * gap
            row = buf[dy]
            if inside:
                for dx in range(p):
                    row[dx] = min(row[dx], g2)
            else:
                for dx in range(p):
                    offset = np.float32(dx) - ref
                    row[dx] = min(row[dx], offset * offset + g2)
    # Squared distances are whole numbers, exact in float32 below 2**24; the square roots are
    # float32 (relative error < 1e-7), summed per row, accumulated in float64.
    total = 0.0
    for dy in range(p):
        row = buf[dy]
        row_total = np.float32(0.0)
        for dx in range(p):
            row_total += math.sqrt(row[dx])
        total += row_total
    return total


@njit(cache=True)
def count_masked(mask):
    """Number of masked patches of one (H, W) mask."""
    height, width = mask.shape
    count = 0
    for i in range(height):
        for j in range(width):
            count += mask[i, j]
    return count


@njit(cache=True)
def distance_scratch(height, width, p):
    """Scratch arrays for :func:`mask_distance_total` on an (H, W) grid, patch size p."""
    return (
        np.empty((height, width), np.int64),
        np.empty((height, width), np.int64),
        np.empty(width, np.int64),
        np.empty((height, width), np.int64),
        np.empty((p, p), np.float32),
    )


@njit(cache=True)
def mask_distance_total(mask, p, scratch, patch_sums):
    """Sum over all masked pixels of one mask of the distance (px) to the nearest visible
    pixel. The mask needs a visible patch. When ``patch_sums`` is (H, W), the sum of each
    masked patch is written there (visible patches are left as they are)."""
    up, down, column_gap, nearest2, buf = scratch
    height, width = mask.shape
    _visible_above_below(mask, up, down)
    _nearest_squared(mask, up, down, column_gap, nearest2)
    write = patch_sums.shape[0] == height
    total = 0.0
    for i in range(height):
        for j in range(width):
            if not mask[i, j]:
                continue
            # Widest column offset r with ((r - 1) p + 1)^2 <= nearest^2 p^2.
            reach = 0
            bound = nearest2[i, j] * p * p
            while (reach * p + 1) ** 2 <= bound:
                reach += 1
            patch_sum = _patch_distance_sum(i, j, p, mask, up, down, reach, buf)
            if write:
                patch_sums[i, j] = patch_sum
            total += patch_sum
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
    for c in prange(_chunks(n)):
        scratch = distance_scratch(height, width, p)
        sums = np.empty((height, width), np.float64)
        for k in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            mask = masks[k]
            num_masked = count_masked(mask)
            if num_masked == height * width or num_masked == 0:
                p2dist[k] = np.nan
                avgdist[k] = np.nan
                continue
            total = mask_distance_total(mask, p, scratch, sums)
            for i in range(height):
                for j in range(width):
                    p2dist[k, i, j] = sums[i, j] * scale if mask[i, j] else np.nan
            avgdist[k] = total / (num_masked * p * p)
    return p2dist, avgdist
