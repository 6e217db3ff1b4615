"""Numba kernels for masks of a chosen difficulty: a swap search toward a target AvgDist,
enumeration of every mask of a small grid, and a search for the lowest and highest AvgDist a
mask ratio allows. No validation here.

All kernels are serial, release the GIL and fill a range of rows, so that the caller runs
disjoint ranges on threads (``maskstats.metrics._parallel.run_rows``) without OpenMP (a forked
child of a process that used OpenMP dies). Every random draw comes from numba's generator
reseeded per mask or per start, so results do not depend on the thread count.

Incremental AvgDist: the sum of a masked patch's pixel distances depends only on the visible
patches within Chebyshev distance ``reach`` of it (see
:func:`maskstats.metrics.distance_kernels.mask_distance_total`: farther patches are farther than the
bound every pixel already meets). After a swap (masked patch a revealed, visible patch b
hidden) only b and the masked patches whose window of their own reach holds a or b change
their sum: those are recomputed (through the patch-sum memo), all others are kept. The cost
of a swap grows with the widest reach, not with the grid. Every decision compares float64
numbers computed in a fixed order by IEEE arithmetic only, so it is the same on every CPU.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from maskstats.metrics.distance_kernels import (
    GOLDEN,
    column_above_below,
    patch_distance_sum,
    patch_key,
)

# Patch-sum memo per search (2**12 slots, 64 KiB): a swap changes few patch configurations, so
# most patch sums of the next evaluation are found there.
SEARCH_MEMO_BITS = 12

# A hill-climbing swap is taken only when it changes AvgDist by more than this (pixels); the
# sums' rounding is ~1e-13 px, so no swap is taken for rounding alone and climbs end.
CLIMB_EPSILON_PX = 1e-9

# info slots of a search state
_STAMP, _RMAX, _MASKED, _PENDING = 0, 1, 2, 3


@njit(cache=True)
def new_state(height, width, p):
    """Scratch of one incremental search on an (H, W) grid with patch size p.

    Returns a tuple: mask (H, W) bool; up, down (H, W) int32 (nearest visible row at or above
    / at or below, -1 / H if none); sums (H, W) float64 patch sums (0 on visible patches);
    reach (H, W) int32 (-1 on visible); hist (H + W + 3,) int64 counts of reach values; stamp
    (H, W) int64; pending index (L,) int64, sum (L,) float64, reach (L,) int32; buf (p + 1, p)
    float32; memo keys and sums; info int64 [stamp, widest reach, masked count, pending];
    masked and visible patch lists (L,) int64 with each patch's place in its list (L,) int64.
    """
    size = height * width
    slots = 1 << SEARCH_MEMO_BITS
    return (
        np.zeros((height, width), np.bool_),
        np.empty((height, width), np.int32),
        np.empty((height, width), np.int32),
        np.zeros((height, width), np.float64),
        np.full((height, width), -1, np.int32),
        np.zeros(height + width + 3, np.int64),
        np.zeros((height, width), np.int64),
        np.empty(size, np.int64),
        np.empty(size, np.float64),
        np.empty(size, np.int32),
        np.empty((p + 1, p), np.float32),
        np.full(slots, -1, np.int64),
        np.empty(slots, np.float64),
        np.zeros(4, np.int64),
        np.empty(size, np.int64),
        np.empty(size, np.int64),
        np.empty(size, np.int64),
    )


@njit(cache=True)
def _gap2(i, jj, up, down, big):
    """Squared vertical gap from row i to the nearest visible patch of column jj (as
    ``_column_gaps``)."""
    height = up.shape[0]
    gap = big
    if up[i, jj] >= 0:
        gap = i - up[i, jj]
    if down[i, jj] < height and down[i, jj] - i < gap:
        gap = down[i, jj] - i
    return gap * gap if gap < big else big


@njit(cache=True)
def _nearest2_at(i, j, up, down):
    """Squared centre distance from patch (i, j) to the nearest visible patch (as
    ``_row_search`` over ``_column_gaps``, computing only the columns it reads)."""
    height, width = up.shape
    big = height * height + width * width + 1
    best = _gap2(i, j, up, down, big)
    d = 1
    while d * d < best:
        if j - d >= 0:
            value = d * d + _gap2(i, j - d, up, down, big)
            if value < best:
                best = value
        if j + d < width:
            value = d * d + _gap2(i, j + d, up, down, big)
            if value < best:
                best = value
        if j - d < 0 and j + d >= width:
            break
        d += 1
    return best


@njit(cache=True)
def _patch_sum_at(i, j, p, mask, up, down, buf, memo_keys, memo_sums):
    """Pixel-distance sum of masked patch (i, j) and its reach, bit-identical with
    ``mask_distance_total``'s (the same reach, key and kernel)."""
    nearest2 = _nearest2_at(i, j, up, down)
    reach = 0
    bound = np.int64(nearest2) * p * p
    while (reach * p + 1) ** 2 <= bound:
        reach += 1
    key = patch_key(i, j, reach, up, down)
    if key >= 0:
        slot = ((key * GOLDEN) >> (64 - SEARCH_MEMO_BITS)) & ((1 << SEARCH_MEMO_BITS) - 1)
        if memo_keys[slot] == key:
            return memo_sums[slot], reach
        value = patch_distance_sum(i, j, p, mask, up, down, reach, buf)
        memo_keys[slot] = key
        memo_sums[slot] = value
        return value, reach
    return patch_distance_sum(i, j, p, mask, up, down, reach, buf), reach


@njit(cache=True)
def load_state(state, source, p):
    """Set the state to mask ``source`` ((H, W) bool with a masked and a visible patch).

    Returns:
        the sum of all masked pixels' distances (px), bit-identical with
        ``mask_distance_total`` (the same patch sums added in raster order).
    """
    mask, up, down, sums, reach, hist = state[:6]
    buf, memo_keys, memo_sums = state[10], state[11], state[12]
    info, masked_list, visible_list, place = state[13], state[14], state[15], state[16]
    height, width = mask.shape
    mask[:, :] = source
    for j in range(width):
        column_above_below(mask, j, up, down)
    hist[:] = 0
    n_masked = 0
    n_visible = 0
    total = 0.0
    rmax = 0
    for i in range(height):
        for j in range(width):
            t = i * width + j
            if mask[i, j]:
                value, r = _patch_sum_at(i, j, p, mask, up, down, buf, memo_keys, memo_sums)
                sums[i, j] = value
                reach[i, j] = r
                hist[r] += 1
                rmax = max(rmax, r)
                total += value
                masked_list[n_masked] = t
                place[t] = n_masked
                n_masked += 1
            else:
                sums[i, j] = 0.0
                reach[i, j] = -1
                visible_list[n_visible] = t
                place[t] = n_visible
                n_visible += 1
    info[_RMAX] = rmax
    info[_MASKED] = n_masked
    return total


@njit(cache=True)
def state_total(state):
    """Sum of the current patch sums in raster order (bit-identical with
    ``mask_distance_total`` of the current mask)."""
    mask, sums = state[0], state[3]
    height, width = mask.shape
    total = 0.0
    for i in range(height):
        for j in range(width):
            if mask[i, j]:
                total += sums[i, j]
    return total


@njit(cache=True)
def _flip(mask, a, b, width):
    mask[a // width, a % width] = False
    mask[b // width, b % width] = True


@njit(cache=True)
def swap_delta(state, p, a, b):
    """Reveal masked patch a and hide visible patch b (flat indices) in the state's mask and
    return the change of the total distance (px); the new patch sums wait in the pending list
    for :func:`commit` (or :func:`undo`). Patches are visited in a fixed order: the box
    around a, then the box around b, row-major, then b."""
    mask, up, down, sums, reach, _, stamp, pend_q, pend_sum, pend_reach = state[:10]
    buf, memo_keys, memo_sums, info = state[10], state[11], state[12], state[13]
    height, width = mask.shape
    ai, aj = a // width, a % width
    bi, bj = b // width, b % width
    _flip(mask, a, b, width)
    column_above_below(mask, aj, up, down)
    if bj != aj:
        column_above_below(mask, bj, up, down)
    info[_STAMP] += 1
    mark = info[_STAMP]
    pending = 0
    rmax = info[_RMAX]
    delta = -sums[ai, aj]
    for centre in range(2):
        ci, cj = (ai, aj) if centre == 0 else (bi, bj)
        for qi in range(max(0, ci - rmax), min(height, ci + rmax + 1)):
            for qj in range(max(0, cj - rmax), min(width, cj + rmax + 1)):
                # masked patches whose window (their own reach) holds a or b; b last
                if not mask[qi, qj] or stamp[qi, qj] == mark:
                    continue
                stamp[qi, qj] = mark
                r = reach[qi, qj]
                if r < 0:
                    continue
                if max(abs(qi - ai), abs(qj - aj)) > r and max(abs(qi - bi), abs(qj - bj)) > r:
                    continue
                value, new_reach = _patch_sum_at(
                    qi, qj, p, mask, up, down, buf, memo_keys, memo_sums
                )
                pend_q[pending] = qi * width + qj
                pend_sum[pending] = value
                pend_reach[pending] = new_reach
                pending += 1
                delta += value - sums[qi, qj]
    value, new_reach = _patch_sum_at(bi, bj, p, mask, up, down, buf, memo_keys, memo_sums)
    pend_q[pending] = b
    pend_sum[pending] = value
    pend_reach[pending] = new_reach
    info[_PENDING] = pending + 1
    return delta + value


@njit(cache=True)
def commit(state, a, b):
    """Keep the swap :func:`swap_delta` evaluated."""
    sums, reach, hist = state[3], state[4], state[5]
    info, masked_list, visible_list, place = state[13], state[14], state[15], state[16]
    width = sums.shape[1]
    ai, aj = a // width, a % width
    hist[reach[ai, aj]] -= 1
    sums[ai, aj] = 0.0
    reach[ai, aj] = -1
    for k in range(info[_PENDING]):
        t = state[7][k]
        ti, tj = t // width, t % width
        if reach[ti, tj] >= 0:
            hist[reach[ti, tj]] -= 1
        sums[ti, tj] = state[8][k]
        reach[ti, tj] = state[9][k]
        hist[state[9][k]] += 1
        if state[9][k] > info[_RMAX]:
            info[_RMAX] = state[9][k]
    while info[_RMAX] > 0 and hist[info[_RMAX]] == 0:
        info[_RMAX] -= 1
    # a moves to the visible list in b's place, b to the masked list in a's place
    pa, pb = place[a], place[b]
    masked_list[pa] = b
    visible_list[pb] = a
    place[b] = pa
    place[a] = pb


@njit(cache=True)
def undo(state, a, b):
    """Drop the swap :func:`swap_delta` evaluated: restore the mask and its columns."""
    mask, up, down = state[0], state[1], state[2]
    width = mask.shape[1]
    mask[a // width, a % width] = True
    mask[b // width, b % width] = False
    column_above_below(mask, a % width, up, down)
    if b % width != a % width:
        column_above_below(mask, b % width, up, down)


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
    (prefer_many) or fewest visible neighbours (ties: the first drawn)."""
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


@njit(cache=True, nogil=True)
def target_search_range(out, first, last, p, target, tol, seeds, max_iter, proposals, achieved):
    """Move masks out[first:last] toward AvgDist = target by swapping one masked and one
    visible patch at a time (the count stays exact), until |AvgDist - target| <= tol * target.

    Each iteration draws ``proposals`` swaps biased by the direction (harder: reveal a masked
    patch among visible neighbours, hide an isolated visible one; easier: the reverse),
    evaluates each exactly (incrementally), and applies the one closest to the target (ties:
    the first drawn); when none brings the mask closer, it is applied anyway so that the search
    cannot stall.

    Args:
        out: (N, H, W) bool masks, changed in place; each has a visible and a masked patch.
        first: first mask of the range.
        last: one past the last mask of the range.
        p: patch size in pixels.
        target: target AvgDist in pixels.
        tol: relative tolerance of the target.
        seeds: (N,) int64, one RNG seed per mask.
        max_iter: iterations per mask at most.
        proposals: swaps drawn per iteration.
        achieved: (N,) float64 output: AvgDist (px) of each final mask, bit-identical with
            ``avgdist`` in float64 (the full sum, recomputed in raster order).
    """
    n, height, width = out.shape
    state = new_state(height, width, p)
    for k in range(first, last):
        np.random.seed(seeds[k])
        mask = state[0]
        total = load_state(state, out[k], p)
        scale = 1.0 / (state[13][_MASKED] * p * p)
        current = total * scale
        for _ in range(max_iter):
            if abs(current - target) <= tol * target:
                break
            harder = current < target
            best_gap = np.inf
            best_reveal = -1
            best_hide = -1
            for _t in range(proposals):
                reveal = _pick(mask, True, harder, 3)
                hide = _pick(mask, False, not harder, 3)
                delta = swap_delta(state, p, reveal, hide)
                undo(state, reveal, hide)
                gap = abs((total + delta) * scale - target)
                if gap < best_gap:
                    best_gap, best_reveal, best_hide = gap, reveal, hide
            delta = swap_delta(state, p, best_reveal, best_hide)
            commit(state, best_reveal, best_hide)
            total += delta
            current = total * scale
        out[k] = mask
        achieved[k] = state_total(state) * scale


@njit(cache=True)
def _climb(state, p, sign, total, epsilon, radius, max_sweeps):
    """First-improvement hill climb of sign * total over single swaps, until a whole sweep
    improves nothing by more than ``epsilon`` (px, total) or ``max_sweeps``: every swap of a
    masked and a visible patch when ``radius`` < 0, else only swaps where the revealed patch
    lies within Chebyshev distance ``radius`` of the hidden one (a visible patch steps aside).
    Candidates in row-major order of the visible patch, then of the masked one."""
    mask = state[0]
    height, width = mask.shape
    size = height * width
    for _sweep in range(max_sweeps):
        improved = False
        for b in range(size):
            bi, bj = b // width, b % width
            if mask[bi, bj]:
                continue
            if radius < 0:
                rows0, rows1, cols0, cols1 = 0, height, 0, width
            else:
                rows0, rows1 = max(0, bi - radius), min(height, bi + radius + 1)
                cols0, cols1 = max(0, bj - radius), min(width, bj + radius + 1)
            moved = False
            for ai in range(rows0, rows1):
                for aj in range(cols0, cols1):
                    if not mask[ai, aj]:
                        continue
                    a = ai * width + aj
                    delta = swap_delta(state, p, a, b)
                    if sign * delta > epsilon:
                        commit(state, a, b)
                        total += delta
                        improved = True
                        moved = True
                        break
                    undo(state, a, b)
                if moved:
                    break
        if not improved:
            break
    return total


@njit(cache=True)
def _random_move(state, local):
    """A random swap (a masked, b visible): with ``local``, a is a masked 8-neighbour of b
    (a visible patch steps aside), when b has one."""
    mask, info, masked_list, visible_list = state[0], state[13], state[14], state[15]
    height, width = mask.shape
    n_masked = info[_MASKED]
    b = visible_list[np.random.randint(0, height * width - n_masked)]
    if local:
        bi, bj = b // width, b % width
        for _ in range(8):
            ai = bi + np.random.randint(-1, 2)
            aj = bj + np.random.randint(-1, 2)
            if 0 <= ai < height and 0 <= aj < width and mask[ai, aj]:
                return ai * width + aj, b
    return masked_list[np.random.randint(0, n_masked)], b


@njit(cache=True, nogil=True)
def extreme_search_range(starts, first, last, p, sign, seeds, steps, radius, out, values):
    """Search for the highest (sign +1) or lowest (sign -1) AvgDist from starts[first:last]:
    threshold accepting (``steps`` random swaps, half of them local; a swap is kept unless it
    worsens the total by more than a threshold that falls linearly from a quarter of the mean
    patch sum to 0), then from the best mask seen a first-improvement hill climb (see
    :func:`_climb`; ``radius`` < 0: over all single swaps, a local optimum where no swap
    improves AvgDist by more than ``CLIMB_EPSILON_PX``).

    Args:
        starts: (S, H, W) bool start masks, each with a masked and a visible patch.
        first: first start of the range.
        last: one past the last start of the range.
        p: patch size in pixels.
        sign: +1 for the highest AvgDist, -1 for the lowest.
        seeds: (S,) int64 RNG seed per start.
        steps: threshold-accepting swaps per start.
        radius: hill-climb neighbourhood in patches (< 0: every single swap).
        out: (S, H, W) bool output masks.
        values: (S,) float64 output: their AvgDist (px), the full sum in raster order.
    """
    count, height, width = starts.shape
    state = new_state(height, width, p)
    best = np.empty((height, width), np.bool_)
    for s in range(first, last):
        np.random.seed(seeds[s])
        total = load_state(state, starts[s], p)
        num_masked = state[13][_MASKED]
        scale = 1.0 / (num_masked * p * p)
        epsilon = CLIMB_EPSILON_PX * num_masked * p * p
        best[:, :] = state[0]
        best_total = total
        threshold0 = 0.25 * total / num_masked
        if steps > 0:
            for step in range(steps):
                threshold = threshold0 * (1.0 - step / steps)
                a, b = _random_move(state, np.random.randint(0, 2) == 1)
                delta = swap_delta(state, p, a, b)
                if sign * delta > -threshold:
                    commit(state, a, b)
                    total += delta
                    if sign * (total - best_total) > epsilon:
                        best_total = total
                        best[:, :] = state[0]
                else:
                    undo(state, a, b)
        total = load_state(state, best, p)
        _climb(state, p, sign, total, epsilon, radius, 1_000_000)
        out[s] = state[0]
        values[s] = state_total(state) * scale


@njit(cache=True)
def _unrank(rank, size, k, binom, combo):
    """Combo = the k-subset of 0..size-1 at ``rank`` in lexicographic order."""
    x = 0
    for i in range(k):
        while binom[size - x - 1, k - i - 1] <= rank:
            rank -= binom[size - x - 1, k - i - 1]
            x += 1
        combo[i] = x
        x += 1


@njit(cache=True, nogil=True)
def enumerate_range(
    height, width, k, chosen_masked, p, chunk, count, binom, first, last, low, high
):
    """Every mask with k chosen patches (masked if ``chosen_masked``, else visible), in
    lexicographic order of the chosen patches, ranks [first * chunk, last * chunk) ∩
    [0, count): per chunk c, the lowest and highest total distance (px) and the rank of the
    first mask that has it.

    Args:
        height: grid rows.
        width: grid columns.
        k: number of chosen patches.
        chosen_masked: the chosen patches are the masked ones (else the visible ones).
        p: patch size in pixels.
        chunk: masks per chunk.
        count: number of masks, C(H * W, k).
        binom: (size + 1, k + 1) int64 binomial coefficients.
        first: first chunk of the range.
        last: one past the last chunk of the range.
        low: (chunks, 2) float64 output [lowest total, its rank] per chunk.
        high: (chunks, 2) float64 output [highest total, its rank] per chunk.
    """
    size = height * width
    state = new_state(height, width, p)
    combo = np.empty(k, np.int64)
    mask = np.empty((height, width), np.bool_)
    for c in range(first, last):
        start = c * chunk
        stop = min(count, start + chunk)
        _unrank(start, size, k, binom, combo)
        low_total, low_rank = np.inf, -1
        high_total, high_rank = -np.inf, -1
        for rank in range(start, stop):
            mask[:, :] = not chosen_masked
            for i in range(k):
                mask[combo[i] // width, combo[i] % width] = chosen_masked
            total = load_state(state, mask, p)
            if total < low_total:
                low_total, low_rank = total, rank
            if total > high_total:
                high_total, high_rank = total, rank
            # next combination
            i = k - 1
            while i >= 0 and combo[i] == size - k + i:
                i -= 1
            if i >= 0:
                combo[i] += 1
                for m in range(i + 1, k):
                    combo[m] = combo[m - 1] + 1
        low[c, 0], low[c, 1] = low_total, low_rank
        high[c, 0], high[c, 1] = high_total, high_rank


def unrank_mask(
    rank: int, grid: tuple[int, int], k: int, chosen_masked: bool, binom: np.ndarray
) -> np.ndarray:
    """The (H, W) bool mask at ``rank`` of :func:`enumerate_range`'s order."""
    combo = np.empty(k, np.int64)
    _unrank(np.int64(rank), grid[0] * grid[1], k, binom, combo)
    mask = np.full(grid[0] * grid[1], not chosen_masked)
    mask[combo] = chosen_masked
    return mask.reshape(grid)
