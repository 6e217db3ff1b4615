"""Numba kernels of the pixel-distance metrics (p2dist, avgdist): no validation, typed
arrays in and out.

``pixel_range`` fills p2dist and avgdist for a range of rows of (N, L) bool masks (True =
masked), without the GIL; the caller runs disjoint ranges on threads
(``maskstats.metrics._parallel``). ``mask_distance_total`` (the exact sum over one mask's masked
pixels of the distance to the nearest visible pixel), ``distance_scratch`` and
``count_masked`` are public building blocks: the difficulty search in ``maskstats.masks``
evaluates its candidate masks with them.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


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
def column_above_below(mask, j, up, down):
    """For column j: per patch, the row of the nearest visible patch at or above it (-1 if
    none) into ``up``, and at or below it (H if none) into ``down``."""
    height = mask.shape[0]
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
def _visible_above_below(mask, up, down):
    """:func:`column_above_below` for every column."""
    for j in range(mask.shape[1]):
        column_above_below(mask, j, up, down)


@njit(cache=True)
def _column_gaps(i, up, down, column_gap):
    """Squared vertical gap from row i to the nearest visible patch in each column (0 where
    (i, j) is visible; H^2 + W^2 + 1 where the column has none)."""
    height, width = up.shape
    big = height * height + width * width + 1
    for j in range(width):
        gap = big
        if up[i, j] >= 0:
            gap = i - up[i, j]
        if down[i, j] < height and down[i, j] - i < gap:
            gap = down[i, j] - i
        column_gap[j] = gap * gap if gap < big else big


@njit(cache=True)
def _row_search(j, column_gap, big):
    """Min over column offsets d of d^2 + column_gap[j +- d], stopping once d^2 alone is no
    better (exact); >= big when the row sees no visible patch."""
    width = column_gap.shape[0]
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
    return best


@njit(cache=True)
def _nearest_squared(mask, up, down, column_gap, nearest2):
    """Squared centre distance (patch units) from each masked patch to the nearest visible
    patch (0 on visible patches, H^2 + W^2 + 1 when there is none): vertical gaps per
    column, then a row search per patch."""
    height, width = mask.shape
    big = height * height + width * width + 1
    for i in range(height):
        _column_gaps(i, up, down, column_gap)
        for j in range(width):
            nearest2[i, j] = _row_search(j, column_gap, big) if mask[i, j] else 0


@njit(cache=True)
def square_block(i, j, p, mask, up, down, reach, buf):
    """Squared distance (px^2) from each of the p x p pixels of masked patch (i, j) to the
    nearest visible pixel in the patch columns j - reach .. j + reach, into ``buf[:p]``
    (inf where none; float32, whole numbers, exact below 2**24).

    Pixel (y, x) sees column j' at squared distance (x - ref)^2 + gap(y)^2, ref the column's
    nearest end pixel column and gap(y) = min(y - last visible pixel row above, first visible
    pixel row below - y) in that column; its own column j at gap(y)^2. Every pixel is within
    nearest * p of a visible pixel (the pixel at the same offset in the nearest visible patch),
    so with ``reach`` from that bound the block is the exact squared distance transform on the
    patch (see :func:`patch_distance_sum`).
    """
    height, width = mask.shape
    y0 = i * p
    x0 = j * p
    buf[:p, :] = np.inf
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
                    old = row[dx]
                    row[dx] = g2 if g2 < old else old
            else:
                for dx in range(p):
                    offset = np.float32(dx) - ref
                    value = offset * offset + g2
                    old = row[dx]
                    row[dx] = value if value < old else old


@njit(cache=True)
def root_sum(p, block, columns):
    """Sum over ``block[:p]`` (p x p squared distances) of the square roots, in a fixed IEEE
    order: float32 roots (correctly rounded) accumulated down each pixel column in row order
    into ``columns`` ((p,) float32; element-wise vector adds, exact whatever the vector
    width), then the p column totals added left to right in float64."""
    columns[:] = np.float32(0.0)
    for dy in range(p):
        row = block[dy]
        for dx in range(p):
            columns[dx] += np.float32(math.sqrt(row[dx]))
    total = 0.0
    for dx in range(p):
        total += np.float64(columns[dx])
    return total


@njit(cache=True)
def block_root_sum(p, buf):
    """:func:`root_sum` of ``buf[:p]`` with the column totals in row p of ``buf`` (a
    (p + 1, p) scratch). The clip kernels pass a separate totals array instead: the same
    additions in the same order, so the same bits, and faster where the compiler cannot
    prove that rows and totals do not overlap."""
    return root_sum(p, buf, buf[p])


@njit(cache=True)
def patch_distance_sum(i, j, p, mask, up, down, reach, buf):
    """Sum over the p x p pixels of masked patch (i, j) of the distance (px) to the nearest
    visible pixel.

    Exact by a bound: every pixel is within nearest * p of a visible pixel (the pixel at the
    same offset in the nearest visible patch), so only patch columns j' with
    |j' - j| <= ``reach`` can hold its nearest visible pixel (:func:`square_block`). ``buf``
    is a (p + 1, p) float32 scratch (row p holds the column totals).

    The arithmetic is IEEE only, in a fixed order (no fastmath: no reassociation, no
    contraction), so the sum is bit-identical on every CPU whatever its SIMD width
    (:func:`block_root_sum`).
    """
    square_block(i, j, p, mask, up, down, reach, buf)
    return block_root_sum(p, buf)


MEMO_BITS = 16  # patch-sum memo: 2**16 slots (1 MiB) per thread
MEMO_MAX_REACH = 4  # keys hold up to 2 * 4 + 1 columns
GOLDEN = np.int64(-7046029254386353131)  # 0x9E3779B97F4A7C15 as int64 (Fibonacci hashing)


@njit(cache=True)
def distance_scratch(height, width, p, memo_bits):
    """Scratch arrays for :func:`mask_distance_total` on an (H, W) grid, patch size p, with a
    patch-sum memo of 2**memo_bits slots (memo_bits = 0: no memo)."""
    slots = 1 << memo_bits if memo_bits > 0 else 0
    return (
        np.empty((height, width), np.int32),
        np.empty((height, width), np.int32),
        np.empty(width, np.int32),
        np.empty((height, width), np.int32),
        np.empty((p + 1, p), np.float32),
        np.full(slots, -1, np.int64),
        np.empty(slots, np.float64),
    )


@njit(cache=True)
def patch_key(i, j, reach, up, down):
    """Everything :func:`patch_distance_sum` of masked patch (i, j) depends on, packed in an
    int64 >= 0 (given p), or -1 when reach > MEMO_MAX_REACH. Per column j - reach..j + reach,
    6 bits: outside the grid; a visible patch in row i; or the rows strictly between row i and
    the nearest visible patch above (a) and below (b), each 0..reach - 1 or "none": a visible
    patch reach or more rows away is at least reach * p + 1 px from every pixel of the patch,
    farther than the bound (the sum is unchanged without it)."""
    if reach > MEMO_MAX_REACH:
        return np.int64(-1)
    height, width = up.shape
    key = np.int64(reach)
    for jj in range(j - reach, j + reach + 1):
        if jj < 0 or jj >= width:
            code = 63
        elif up[i, jj] == i:
            code = 62
        else:
            above = up[i, jj]
            below = down[i, jj]
            a = i - above - 1 if above >= 0 and i - above - 1 < reach else 7
            b = below - i - 1 if below < height and below - i - 1 < reach else 7
            code = a * 8 + b
        key = key * 64 + code
    return key


@njit(cache=True)
def mask_distance_total(mask, p, scratch, patch_sums):
    """Sum over all masked pixels of one mask of the distance (px) to the nearest visible
    pixel. The mask needs a visible patch. When ``patch_sums`` is (H, W), the sum of each
    masked patch is written there (visible patches are left as they are).

    Patches with the same local configuration (:func:`patch_key`) have the same sum; the
    scratch's memo (a direct-mapped table keyed by configuration, valid for one p) returns
    it without recomputing. The results are bit-identical with or without the memo."""
    up, down, column_gap, nearest2, buf, memo_keys, memo_sums = scratch
    height, width = mask.shape
    _visible_above_below(mask, up, down)
    _nearest_squared(mask, up, down, column_gap, nearest2)
    write = patch_sums.shape[0] == height
    slots = memo_keys.shape[0]
    bits = 0
    while (1 << bits) < slots:
        bits += 1
    shift = 64 - bits
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
            key = patch_key(i, j, reach, up, down) if slots > 0 else np.int64(-1)
            if key >= 0:
                slot = ((key * GOLDEN) >> shift) & (slots - 1)
                if memo_keys[slot] == key:
                    patch_sum = memo_sums[slot]
                else:
                    patch_sum = patch_distance_sum(i, j, p, mask, up, down, reach, buf)
                    memo_keys[slot] = key
                    memo_sums[slot] = patch_sum
            else:
                patch_sum = patch_distance_sum(i, j, p, mask, up, down, reach, buf)
            if write:
                patch_sums[i, j] = patch_sum
            total += patch_sum
    return total


@njit(cache=True, nogil=True)
def pixel_range(masks, first, last, height, width, p, memo_keys, memo_sums, p2dist, avgdist):
    """p2dist and avgdist for masks[first:last]; each is skipped when its output has no rows.
    Masks with nothing masked or nothing visible get NaN. ``memo_keys``, ``memo_sums``: the
    patch-sum memo for this p (see :func:`mask_distance_total`), used by this call alone."""
    size = height * width
    scale = np.float32(1.0 / (p * p * p))
    scratch = distance_scratch(height, width, p, 0)[:5] + (memo_keys, memo_sums)
    sums = np.empty((height, width), np.float64)
    for k in range(first, last):
        mask = masks[k].reshape(height, width)
        num_masked = count_masked(mask)
        if 0 < num_masked < size:
            total = mask_distance_total(mask, p, scratch, sums)
            if p2dist.shape[0] > 0:
                flat = sums.reshape(-1)
                row = p2dist[k]
                for t in range(size):
                    row[t] = np.float32(flat[t]) * scale if masks[k, t] else np.nan
            if avgdist.shape[0] > 0:
                avgdist[k] = total / (num_masked * p * p)
        else:
            if p2dist.shape[0] > 0:
                p2dist[k] = np.nan
            if avgdist.shape[0] > 0:
                avgdist[k] = np.nan
