"""Numba kernels of the spatio-temporal metrics on (T, H, W) token grids: no validation, typed
arrays in and out.

Each ``*_range`` entry point fills a range of rows of (N, L) bool clips (True = masked,
L = T * H * W in (t, h, w) order) into outputs the caller allocated, without the GIL; the
caller runs disjoint ranges on threads (``maskstats._parallel``). Sums run in a fixed IEEE
order (no fastmath), so results are the same on every CPU.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from maskstats.metrics.distance_kernels import GOLDEN, _visible_above_below, root_sum

RING_SQUARES = (0, 1, 2, 4, 5, 8)
"""dy^2 + dx^2 of the rings of a 5 x 5 window: centre, edge, diagonal, two in line, knight,
corner."""


@njit(cache=True, nogil=True)
def density3_range(masks, first, last, frames, height, width, out):
    """3x3x3 density for clips[first:last]: visible tokens among the 26 neighbours (outside
    the clip counts as not visible), as float32 counts; NaN on visible tokens. Separable box
    sums over x, y and t of a zero-padded visible volume (the centre is masked wherever a value
    is kept, so it adds 0)."""
    pt, ph, pw = frames + 2, height + 2, width + 2
    vol = np.zeros((pt, ph, pw), np.float32)
    sx = np.zeros((pt, ph, pw), np.float32)
    sy = np.zeros((pt, ph, pw), np.float32)
    for k in range(first, last):
        clip = masks[k].reshape(frames, height, width)
        for t in range(frames):
            for i in range(height):
                for j in range(width):
                    vol[t + 1, i + 1, j + 1] = np.float32(1.0) - np.float32(clip[t, i, j])
        for t in range(1, pt - 1):
            for i in range(1, ph - 1):
                for j in range(1, pw - 1):
                    sx[t, i, j] = vol[t, i, j - 1] + vol[t, i, j] + vol[t, i, j + 1]
        for t in range(1, pt - 1):
            for i in range(1, ph - 1):
                for j in range(1, pw - 1):
                    sy[t, i, j] = sx[t, i - 1, j] + sx[t, i, j] + sx[t, i + 1, j]
        target = out[k].reshape(frames, height, width)
        for t in range(frames):
            for i in range(height):
                for j in range(width):
                    if clip[t, i, j]:
                        target[t, i, j] = (
                            sy[t, i + 1, j + 1] + sy[t + 1, i + 1, j + 1] + sy[t + 2, i + 1, j + 1]
                        )
                    else:
                        target[t, i, j] = np.float32(np.nan)


@njit(cache=True, nogil=True)
def invdist5_range(masks, first, last, frames, height, width, weights, out):
    """5x5x5 inverse-distance sum for clips[first:last]: sum of 1/d over the visible tokens of
    the window, d = sqrt((dt tau)^2 + dy^2 + dx^2) in patch units; NaN on visible tokens.

    Per token-frame, the visible count on each ring of the 5x5 window (``RING_SQUARES``) is
    counted exactly (integers); a token's value is then sum over |dt| = 0, 1, 2 and the six
    rings of count * ``weights[|dt|, ring]`` (float64, fixed order; ``weights[0, 0]`` = 0),
    rounded to float32 once, so it does not depend on how the counts were gathered.
    """
    ph, pw = height + 4, width + 4
    vol = np.zeros((frames, ph, pw), np.int32)
    rings = np.zeros((6, frames, height, width), np.int32)
    for k in range(first, last):
        clip = masks[k].reshape(frames, height, width)
        for t in range(frames):
            for i in range(height):
                for j in range(width):
                    vol[t, i + 2, j + 2] = 1 - np.int32(clip[t, i, j])
        for t in range(frames):
            v = vol[t]
            for i in range(height):
                y = i + 2
                for j in range(width):
                    x = j + 2
                    rings[0, t, i, j] = v[y, x]
                    rings[1, t, i, j] = v[y - 1, x] + v[y + 1, x] + v[y, x - 1] + v[y, x + 1]
                    rings[2, t, i, j] = (
                        v[y - 1, x - 1] + v[y - 1, x + 1] + v[y + 1, x - 1] + v[y + 1, x + 1]
                    )
                    rings[3, t, i, j] = v[y - 2, x] + v[y + 2, x] + v[y, x - 2] + v[y, x + 2]
                    rings[4, t, i, j] = (
                        v[y - 2, x - 1]
                        + v[y - 2, x + 1]
                        + v[y + 2, x - 1]
                        + v[y + 2, x + 1]
                        + v[y - 1, x - 2]
                        + v[y + 1, x - 2]
                        + v[y - 1, x + 2]
                        + v[y + 1, x + 2]
                    )
                    rings[5, t, i, j] = (
                        v[y - 2, x - 2] + v[y - 2, x + 2] + v[y + 2, x - 2] + v[y + 2, x + 2]
                    )
        target = out[k].reshape(frames, height, width)
        for t in range(frames):
            for i in range(height):
                for j in range(width):
                    if not clip[t, i, j]:
                        target[t, i, j] = np.float32(np.nan)
                        continue
                    total = 0.0
                    for a in range(3):
                        for q in range(6):
                            count = 0
                            if a == 0:
                                count = rings[q, t, i, j]
                            else:
                                if t - a >= 0:
                                    count += rings[q, t - a, i, j]
                                if t + a < frames:
                                    count += rings[q, t + a, i, j]
                            total += count * weights[a, q]
                    target[t, i, j] = np.float32(total)


@njit(cache=True)
def _nearest_squared_rows(up, down, gaps, centres, starts, nearest2):
    """Exact squared 2-D centre distance (patch units) from every patch of one frame to its
    nearest visible patch, in O(H W): the vertical gap per column (from ``up`` / ``down``),
    then per row the lower envelope of the parabolas (x - j)^2 + gap_j^2 (Meijster's
    two-pass distance transform, integer arithmetic). The frame needs a visible patch."""
    height, width = up.shape
    far = height + width  # a gap no visible patch has: far^2 > H^2 + W^2
    for i in range(height):
        for j in range(width):
            gap = far
            if up[i, j] >= 0:
                gap = i - up[i, j]
            if down[i, j] < height and down[i, j] - i < gap:
                gap = down[i, j] - i
            gaps[j] = gap * gap
        q = 0
        centres[0] = 0
        starts[0] = 0
        for u in range(1, width):
            while q >= 0:
                x = starts[q]
                v = centres[q]
                if (x - v) * (x - v) + gaps[v] <= (x - u) * (x - u) + gaps[u]:
                    break
                q -= 1
            if q < 0:
                q = 0
                centres[0] = u
            else:
                v = centres[q]
                w = 1 + (u * u - v * v + gaps[u] - gaps[v]) // (2 * (u - v))
                if w < width:
                    q += 1
                    centres[q] = u
                    starts[q] = w
        row = nearest2[i]
        for x in range(width - 1, -1, -1):
            v = centres[q]
            row[x] = (x - v) * (x - v) + gaps[v]
            if x == starts[q]:
                q -= 1


@njit(cache=True)
def _frame_fields(clip, up, down, column_gap, nearest2, has_visible):
    """Per token-frame of one (T, H, W) clip: nearest visible patch above/below in each column
    (``up``, ``down``), the squared 2-D centre distance to the nearest visible patch of the
    frame (``nearest2``, H^2 + W^2 + 1 where the frame has none) and whether the frame has a
    visible token."""
    frames, height, width = clip.shape
    big = height * height + width * width + 1
    gaps = np.empty(width, np.int64)
    centres = np.empty(width, np.int64)
    starts = np.empty(width, np.int64)
    for t in range(frames):
        frame = clip[t]
        count = 0
        for i in range(height):
            for j in range(width):
                count += frame[i, j]
        has_visible[t] = count < height * width
        if has_visible[t]:
            _visible_above_below(frame, up[t], down[t])
            _nearest_squared_rows(up[t], down[t], gaps, centres, starts, nearest2[t])
        else:
            nearest2[t, :, :] = big


@njit(cache=True)
def clip_bounds(nearest2, has_visible, step2, scale2, out):
    """Per token of one clip: min over token-frames t' of step2[|t - t'|] + scale2 *
    nearest2[t', i, j] (float64), the squared centre distance to the nearest visible token
    (token-frames sqrt(step2[1]) apart, patches sqrt(scale2) apart); inf without one."""
    frames, height, width = nearest2.shape
    out[:, :, :] = np.inf
    for t in range(frames):
        target = out[t]
        for t2 in range(frames):
            if not has_visible[t2]:
                continue
            c = step2[abs(t - t2)]
            source = nearest2[t2]
            for i in range(height):
                row = target[i]
                near = source[i]
                for j in range(width):
                    value = c + scale2 * near[j]
                    row[j] = value if value < row[j] else row[j]


@njit(cache=True, nogil=True)
def nearest_range(masks, first, last, frames, height, width, step2, out):
    """Spatio-temporal nearest for clips[first:last]: centre distance (patch units) from each
    masked token to the nearest visible token, token-frames sqrt(step2[1]) patches apart
    (``step2[d]`` = (d tau)^2, float64); NaN on visible tokens and in clips with none."""
    up = np.empty((frames, height, width), np.int32)
    down = np.empty((frames, height, width), np.int32)
    nearest2 = np.empty((frames, height, width), np.int32)
    bounds = np.empty((frames, height, width), np.float64)
    column_gap = np.empty(width, np.int32)
    has_visible = np.zeros(frames, np.bool_)
    for k in range(first, last):
        clip = masks[k].reshape(frames, height, width)
        _frame_fields(clip, up, down, column_gap, nearest2, has_visible)
        clip_bounds(nearest2, has_visible, step2, 1.0, bounds)
        target = out[k].reshape(frames, height, width)
        for t in range(frames):
            for i in range(height):
                for j in range(width):
                    best = bounds[t, i, j]
                    if clip[t, i, j] and best < np.inf:
                        target[t, i, j] = np.float32(math.sqrt(best))
                    else:
                        target[t, i, j] = np.float32(np.nan)


@njit(cache=True, nogil=True)
def temporal_range(masks, first, last, frames, height, width, tubelet_size, out):
    """Temporal gap for clips[first:last]: frames from each masked token to the nearest visible
    token at the same spatial position, |t - t'| * tubelet_size; +inf where the position is
    masked in every token-frame; NaN on visible tokens."""
    for k in range(first, last):
        clip = masks[k].reshape(frames, height, width)
        target = out[k].reshape(frames, height, width)
        for i in range(height):
            for j in range(width):
                last_seen = -1
                for t in range(frames):
                    if not clip[t, i, j]:
                        last_seen = t
                        target[t, i, j] = np.float32(np.nan)
                    elif last_seen >= 0:
                        target[t, i, j] = np.float32((t - last_seen) * tubelet_size)
                    else:
                        target[t, i, j] = np.float32(np.inf)
                next_seen = -1
                for t in range(frames - 1, -1, -1):
                    if not clip[t, i, j]:
                        next_seen = t
                    elif next_seen >= 0:
                        gap = np.float32((next_seen - t) * tubelet_size)
                        if gap < target[t, i, j]:
                            target[t, i, j] = gap


@njit(cache=True)
def frame_offsets(frames, tubelet_size, frame_px):
    """Temporal terms of the voxel distance for every signed token-frame offset dt
    (index dt + T - 1): ``table[dt, a]`` = (frame_px * df)^2 in float32, df the frames from
    sub-frame a of a token to the nearest frame of the token-frame dt away (0 for dt = 0), and
    ``least[dt]`` its minimum over a in float64."""
    size = 2 * frames - 1
    table = np.zeros((size, tubelet_size), np.float32)
    least = np.zeros(size, np.float64)
    for index in range(size):
        dt = index - (frames - 1)
        low = np.inf
        for a in range(tubelet_size):
            if dt > 0:
                df = dt * tubelet_size - a
            elif dt < 0:
                df = (-dt - 1) * tubelet_size + a + 1
            else:
                df = 0
            value = (frame_px * df) ** 2
            table[index, a] = np.float32(value)
            low = min(low, value)
        least[index] = low
    return table, least


@njit(cache=True)
def _gap_profiles(clip, up, down, has_visible, p, profiles, nearest_gap2):
    """Per token-frame t', token row i and patch column j (one clip): the squared vertical
    gap (px) from each pixel row of row i to the last visible pixel row above or the first
    below in column j of t' (``profiles[t', i, j]``, p float32; 0 where (i, j) itself is
    visible), and the least of them (``nearest_gap2``, float64; inf where the column has no
    visible pixel)."""
    frames, height, width = clip.shape
    for t in range(frames):
        if not has_visible[t]:
            continue
        for i in range(height):
            y0 = i * p
            for j in range(width):
                above = up[t, i, j]
                below = down[t, i, j]
                profile = profiles[t, i, j]
                if above == i:
                    profile[:] = np.float32(0.0)
                    nearest_gap2[t, i, j] = 0.0
                    continue
                top = np.float32(above * p + p - 1 - y0) if above >= 0 else np.float32(-np.inf)
                bottom = np.float32(below * p - y0) if below < height else np.float32(np.inf)
                if top == -np.inf and bottom == np.inf:
                    nearest_gap2[t, i, j] = np.inf
                    continue
                for dy in range(p):
                    gap = min(np.float32(dy) - top, bottom - np.float32(dy))
                    profile[dy] = gap * gap
                g = min(-top, bottom - np.float32(p - 1))
                nearest_gap2[t, i, j] = float(g * g)


MEMO_SOURCES = 15
"""At most this many sources in a memoized sub-frame (more: computed, not memoized)."""
NONE_ROWS = 4095  # a source's gap code: no visible patch that can matter on that side


@njit(cache=True)
def _source_code(index, offset, i, above, below, height, p, left):
    """One source of a token's sub-frame as an int64: token-frame offset index, column
    offset, and the rows to the visible patch above and below (``NONE_ROWS`` where there is
    none, or where its nearest pixel row is farther than sqrt(left) px; both 4094 for a
    visible patch in the token's row)."""
    if above == i:
        gap_above = NONE_ROWS - 1
        gap_below = NONE_ROWS - 1
    else:
        gap_above = NONE_ROWS
        if above >= 0 and float(((i - above - 1) * p + 1) ** 2) <= left:
            gap_above = i - above
        gap_below = NONE_ROWS
        if below < height and float(((below - i - 1) * p + 1) ** 2) <= left:
            gap_below = below - i
    code = np.int64(index) * 65536 + (offset + 32768)
    return (code * 4096 + gap_above) * 4096 + gap_below


@njit(cache=True)
def _own_block(t, i, j, p, width, n_sources, source_t, source_j, profiles, columns, own):
    """The least (gap term + column term) over the sources in the token's own frame t (no
    temporal term), into ``own`` (p, p); inf where none."""
    own[:, :] = np.float32(np.inf)
    for m in range(n_sources):
        if source_t[m] != t:
            continue
        jj = source_j[m]
        profile = profiles[t, i, jj]
        column = columns[jj - j + width - 1]
        for dy in range(p):
            base = np.float32(0.0) + profile[dy]
            target = own[dy]
            for dx in range(p):
                value = base + column[dx]
                old = target[dx]
                target[dx] = value if value < old else old


@njit(cache=True, nogil=True)
def pixel_range(
    masks,
    first,
    last,
    frames,
    height,
    width,
    p,
    tubelet_size,
    frame_px,
    memo_keys,
    memo_sums,
    p2dist,
    avgdist,
):
    """Spatio-temporal p2dist and avgdist for clips[first:last] (each skipped when its output
    has no rows): per masked token, the sum over its tubelet_size x p x p voxels of the
    distance (px) to the nearest visible voxel, frames ``frame_px`` px apart.

    A voxel's squared distance is the least, over token-frames t' and patch columns j', of
    (frame_px * df)^2 + gap(y)^2 + (x - ref)^2: df the frames to the nearest frame of t',
    gap(y) the rows to the last visible pixel row above or the first below in column j' of t'
    (0 for a visible patch in the token's row; :func:`_gap_profiles`) and ref the column's
    nearest pixel column (no term in the token's own column); a position visible in t' itself
    gives the df term alone. Exact by a bound as in 2-D: every voxel is within p * nearest of
    a visible voxel (the one at the same offset in the nearest visible token), so only
    token-frames whose temporal term, and in each only the columns whose nearest pixel, lies
    within that bound can hold it ("sources", most of the 2T - 1 token-frames x W columns
    pruned).

    Float32 squares (whole numbers when frame_px is one), in a fixed order: per voxel
    (df-term + gap term) + column term, the least kept; roots summed per sub-frame as in 2-D
    (:func:`~maskstats.metrics.distance_kernels.root_sum`), sub-frames added in order in
    float64, so a tube mask gets each frame's 2-D sums exactly. Clips with nothing masked or
    nothing visible get NaN.

    A sub-frame's sum depends on its sources alone. Where only the token's own frame can hold
    its nearest voxels (every token of a tube; others' tokens with no frame near) that sum is
    memoized: ``memo_keys`` (S, 1 + MEMO_SOURCES) int64 and ``memo_sums`` (S,) float64, a
    direct-mapped table, keys compared in full (S = 0: no memo). A key lists per source its
    token-frame offset, column offset and the rows to the visible patch above and below that
    can matter (one whose nearest pixel row is farther than the bound cannot be any voxel's
    nearest, so it counts as none). Equal keys give equal blocks, so the results are
    bit-identical with or without the memo (tested). Where other frames reach a token the
    configurations rarely repeat (random clips at 0.9: about 50% of a batch's were seen in
    the previous one), and the key costs more than it saves.
    """
    size = frames * height * width
    windows = 2 * frames - 1
    most = windows * width
    up = np.empty((frames, height, width), np.int32)
    down = np.empty((frames, height, width), np.int32)
    nearest2 = np.empty((frames, height, width), np.int32)
    bounds = np.empty((frames, height, width), np.float64)
    profiles = np.empty((frames, height, width, p), np.float32)
    nearest_gap2 = np.empty((frames, height, width), np.float64)
    column_gap = np.empty(width, np.int32)
    has_visible = np.zeros(frames, np.bool_)
    acc = np.empty((p, p), np.float32)
    own = np.empty((p, p), np.float32)
    totals = np.empty(p, np.float32)
    tokens = np.empty((frames, height, width), np.float32)
    source_frame = np.empty(most, np.int64)  # index into offsets (dt + T - 1)
    source_t = np.empty(most, np.int64)
    source_j = np.empty(most, np.int64)
    visible_index = np.empty(windows, np.int64)
    columns = np.empty((2 * width - 1, p), np.float32)  # (x - ref)^2 per column offset
    column_least = np.empty(2 * width - 1, np.float64)
    for index in range(2 * width - 1):
        offset = index - (width - 1)
        ref = np.float32(0.0)
        if offset < 0:
            ref = np.float32(offset * p + p - 1)
        elif offset > 0:
            ref = np.float32(offset * p)
        for dx in range(p):
            value = np.float32(dx) - ref
            columns[index, dx] = np.float32(0.0) if offset == 0 else value * value
        near = abs(offset)
        column_least[index] = 0.0 if near == 0 else float(((near - 1) * p + 1) ** 2)
    offsets, least = frame_offsets(frames, tubelet_size, frame_px)
    step = frame_px * tubelet_size
    step2 = np.empty(frames, np.float64)
    for d in range(frames):
        step2[d] = (step * d) ** 2
    scale = np.float32(1.0 / (tubelet_size * p * p * p))
    p2 = float(p * p)
    slots = memo_keys.shape[0]
    use_memo = slots > 0 and memo_keys.shape[1] == MEMO_SOURCES + 1
    bits = 0
    while (1 << bits) < slots:
        bits += 1
    shift = np.int64(64 - bits) if bits > 0 else np.int64(63)
    codes = np.empty(most, np.int64)
    key = np.empty(MEMO_SOURCES + 1, np.int64)
    for k in range(first, last):
        clip = masks[k].reshape(frames, height, width)
        num_masked = 0
        for t in range(size):
            num_masked += masks[k, t]
        if num_masked == 0 or num_masked == size:
            if p2dist.shape[0] > 0:
                p2dist[k] = np.nan
            if avgdist.shape[0] > 0:
                avgdist[k] = np.nan
            continue
        _frame_fields(clip, up, down, column_gap, nearest2, has_visible)
        clip_bounds(nearest2, has_visible, step2, p2, bounds)
        _gap_profiles(clip, up, down, has_visible, p, profiles, nearest_gap2)
        clip_total = 0.0
        for t in range(frames):
            for i in range(height):
                for j in range(width):
                    if not clip[t, i, j]:
                        tokens[t, i, j] = np.float32(np.nan)
                        continue
                    bound = bounds[t, i, j] * (1.0 + 1e-9) + 1e-9  # rounding: search wider
                    n_sources = 0
                    n_visible = 0
                    others = 0
                    for index in range(windows):
                        t2 = t + index - (frames - 1)
                        if t2 < 0 or t2 >= frames or not has_visible[t2]:
                            continue
                        low = least[index]
                        if low > bound:
                            continue
                        if not clip[t2, i, j]:
                            visible_index[n_visible] = index
                            n_visible += 1
                            continue
                        left = bound - low
                        if left < 1.0:
                            continue
                        reach = 0
                        while (reach * p + 1) ** 2 <= left:
                            reach += 1
                        gaps2 = nearest_gap2[t2, i]
                        for jj in range(max(0, j - reach), min(width, j + reach + 1)):
                            if column_least[jj - j + width - 1] + gaps2[jj] > left:
                                continue  # no voxel of the token can have it nearest
                            if (
                                t2 != t
                                and has_visible[t]
                                and up[t2, i, jj] == up[t, i, jj]
                                and down[t2, i, jj] == down[t, i, jj]
                            ):
                                continue  # the same column in the token's own frame is nearer
                            others += t2 != t
                            source_frame[n_sources] = index
                            source_t[n_sources] = t2
                            source_j[n_sources] = jj
                            codes[n_sources] = _source_code(
                                index, jj - j, i, up[t2, i, jj], down[t2, i, jj], height, p, left
                            )
                            n_sources += 1
                    own_ready = False
                    total = 0.0
                    spread = others == 0 and n_visible == 0  # the own frame alone, as in 2-D
                    # Memoized where the configurations repeat: a token that only its own
                    # frame can reach (tubes, and any mask's tokens with no frame near).
                    memo_ok = use_memo and spread and n_sources <= MEMO_SOURCES
                    for a in range(1 if spread else tubelet_size):
                        nearest_visible = -1
                        floor = np.float32(np.inf)
                        for v in range(n_visible):
                            c = offsets[visible_index[v], a]
                            if c < floor:
                                floor = c
                                nearest_visible = visible_index[v]
                        slot = 0
                        hit = False
                        if memo_ok:
                            key[0] = (
                                (-1 if spread else a) * 4096 + nearest_visible
                            ) * 4096 + n_sources
                            h = key[0] * GOLDEN
                            for m in range(n_sources):
                                key[m + 1] = codes[m]
                                h = (h ^ codes[m]) * GOLDEN
                            slot = (h >> shift) & (slots - 1)
                            hit = True
                            for w in range(n_sources + 1):
                                if memo_keys[slot, w] != key[w]:
                                    hit = False
                                    break
                        if hit:
                            part = memo_sums[slot]
                        else:
                            if not own_ready:  # the own frame's sources, shared by sub-frames
                                _own_block(t, i, j, p, width, n_sources, source_t, source_j,
                                           profiles, columns, own)  # fmt: skip
                                own_ready = True
                            block = own
                            if not spread:
                                for dy in range(p):
                                    source = own[dy]
                                    target = acc[dy]
                                    for dx in range(p):
                                        value = source[dx]
                                        target[dx] = floor if floor < value else value
                                for m in range(n_sources):
                                    if source_t[m] == t:
                                        continue
                                    c = offsets[source_frame[m], a]
                                    jj = source_j[m]
                                    profile = profiles[source_t[m], i, jj]
                                    column = columns[jj - j + width - 1]
                                    for dy in range(p):
                                        base = c + profile[dy]
                                        target = acc[dy]
                                        for dx in range(p):
                                            value = base + column[dx]
                                            old = target[dx]
                                            target[dx] = value if value < old else old
                                block = acc
                            part = root_sum(p, block, totals)
                            if memo_ok:
                                memo_keys[slot, : n_sources + 1] = key[: n_sources + 1]
                                memo_sums[slot] = part
                        if spread:
                            for _ in range(tubelet_size):
                                total += part
                        else:
                            total += part
                    tokens[t, i, j] = np.float32(total) * scale
                    clip_total += total
        if p2dist.shape[0] > 0:
            p2dist[k] = tokens.reshape(-1)
        if avgdist.shape[0] > 0:
            avgdist[k] = clip_total / (num_masked * tubelet_size * p * p)


__all__ = [
    "MEMO_SOURCES",
    "RING_SQUARES",
    "density3_range",
    "frame_offsets",
    "invdist5_range",
    "clip_bounds",
    "nearest_range",
    "pixel_range",
    "temporal_range",
]
