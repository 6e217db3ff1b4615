"""I-JEPA's multi-block masks (facebookresearch/ijepa, ``src/masks/multiblock.py``): a large
context block, several target blocks removed from it.

Which patches count as masked: I-JEPA's encoder sees only the context, the context block minus
every target block, and the predictor reconstructs the targets from it. In maskstats' terms a
patch is *visible* when the encoder sees it and *masked* otherwise, so masked = not in the
context: the target blocks plus everything outside the context block. That is the mask whose
difficulty (distance from what the encoder sees) the metrics measure.

The masked count is not fixed by construction (block sizes are drawn, targets overlap each
other and may stick out of the context block): :func:`maskstats.masks.masked_share` gives each
mask's achieved ratio. There is no ``mask_ratio`` parameter (``generate`` ignores it for
"multiblock"): the defaults give 0.586 on average at 224/16, 0.50 to 0.67 for 80% of the masks
(2048 masks, seed 0; docs/concepts/masks.md has the command). That is the *untruncated*
view; with ``collator_batch`` the masks are those I-JEPA's encoder sees after its collator cuts
every context of a batch to the batch's smallest (see :func:`multiblock_blocks`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from maskstats._validate import GridLike, SeedLike, as_grid, as_rng, check_count

CONTEXT_TRIES = 20
"""Context placements tried per draw of the targets (I-JEPA's ``timeout``)."""
TARGET_DRAWS = 50
"""Draws of the target positions before giving up (I-JEPA relaxes the constraint instead)."""
_CHUNK = 4096


class MultiBlockMasks(NamedTuple):
    """Multi-block masks and the blocks they were made of.

    Attributes:
        masks: (N, H, W) bool, True = masked (not in the context).
        context: (N, nenc, 4) int64 context blocks as (top, left, height, width) in patches.
        targets: (N, npred, 4) int64 target blocks as (top, left, height, width).
    """

    masks: np.ndarray
    context: np.ndarray
    targets: np.ndarray


def multiblock_masks(
    n: int,
    grid: GridLike,
    enc_mask_scale: tuple[float, float] = (0.85, 1.0),
    pred_mask_scale: tuple[float, float] = (0.15, 0.2),
    aspect_ratio: tuple[float, float] = (0.75, 1.5),
    nenc: int = 1,
    npred: int = 4,
    min_keep: int = 4,
    allow_overlap: bool = False,
    seed: SeedLike = None,
    collator_batch: int | None = None,
) -> np.ndarray:
    """I-JEPA multi-block masks: (N, H, W) bool, True = masked (= not in the context).

    See :func:`multiblock_blocks` for the arguments; this returns its ``masks``. By default
    each context is whole (the untruncated view); ``collator_batch=128`` gives the masks as
    I-JEPA's encoder sees them at its ImageNet batch, every context cut to its batch's
    smallest.

    Examples:
        At 224/16 no block reaches the last row or column (see :func:`multiblock_blocks`), so they
        are always masked:

        >>> from maskstats.masks import multiblock_masks
        >>> masks = multiblock_masks(8, 14, seed=0)
        >>> masks.shape, bool(masks[:, 13, :].all() and masks[:, :, 13].all())
        ((8, 14, 14), True)
    """
    return multiblock_blocks(
        n,
        grid,
        enc_mask_scale,
        pred_mask_scale,
        aspect_ratio,
        nenc,
        npred,
        min_keep,
        allow_overlap,
        seed,
        collator_batch,
    ).masks


def multiblock_blocks(
    n: int,
    grid: GridLike,
    enc_mask_scale: tuple[float, float] = (0.85, 1.0),
    pred_mask_scale: tuple[float, float] = (0.15, 0.2),
    aspect_ratio: tuple[float, float] = (0.75, 1.5),
    nenc: int = 1,
    npred: int = 4,
    min_keep: int = 4,
    allow_overlap: bool = False,
    seed: SeedLike = None,
    collator_batch: int | None = None,
) -> MultiBlockMasks:
    """I-JEPA's MaskCollator, one mask per sample: ``npred`` target blocks, then ``nenc``
    context blocks placed until the context keeps more than ``min_keep`` patches.

    As in I-JEPA's code: a block's scale s (share of the grid) and aspect ratio a come from the
    *same* uniform draw u (s = lo + u (hi - lo), a likewise); its sides are
    round(sqrt(int(H W s) a)) by round(sqrt(int(H W s) / a)), cut to at most H - 1 and W - 1
    (at least 1); the context block is square (a = 1); all targets of a mask share one size,
    as do its context blocks; the top-left corner is uniform on [0, H - h) x [0, W - w)
    (``torch.randint(0, H - h)``, so no block touches the bottom row or right column: at
    224/16 the context is always the 13 x 13 block at (0, 0)); a context is accepted when it
    keeps more than ``min_keep`` patches (I-JEPA's ``len(mask) > min_keep``).

    Two views of the context. By default (``collator_batch=None``, the *untruncated* view)
    every mask keeps its whole context: the context block minus the targets, the patches the
    context block offers the encoder. I-JEPA's encoder sees less: its MaskCollator cuts every
    context of a batch to the smallest context of that batch, keeping the first patches in
    raster order (``collated_masks_enc = [cm[:min_keep_enc] ...]``), so that the batch stacks
    into one tensor. ``collator_batch=B`` reproduces that *truncated* view: masks come in
    consecutive batches of B (the last one may be shorter), each batch shares one draw of the
    block sizes (I-JEPA draws them once per batch), and every context (each of the ``nenc``)
    keeps only its first k patches in raster order, k the fewest any context of the batch
    kept; the cut patches count as masked. At I-JEPA's ImageNet batch of 128 the encoder
    sees far fewer patches than the untruncated view suggests (docs/concepts/masks.md has the
    numbers).
    The targets' own truncation (``min_keep_pred``) changes what the predictor is asked for,
    not what the encoder sees, so it does not change these masks.

    Where we differ otherwise, and why: without ``collator_batch`` sizes are drawn per mask
    (I-JEPA draws them once per batch, which gives each mask the same distribution);
    ``min_keep`` applies to the context only (I-JEPA also
    requires it of each target block and loops forever when a target is smaller); and after
    ``CONTEXT_TRIES`` failed context placements we redraw the targets (I-JEPA instead drops
    targets from the constraint, letting the context overlap them), so targets and context
    are always disjoint unless ``allow_overlap``.

    Args:
        n: number of masks N.
        grid: patch grid (H, W) with H, W >= 2, or an int.
        enc_mask_scale: (lo, hi) share of the grid covered by a context block, in (0, 1].
        pred_mask_scale: (lo, hi) share covered by each target block, in (0, 1].
        aspect_ratio: (lo, hi) height / width of the target blocks, > 0.
        nenc: context blocks per mask (I-JEPA encodes each separately; the mask's visible
            patches are their union).
        npred: target blocks per mask (>= 0).
        min_keep: the context keeps more than this many patches (>= 0). I-JEPA's class
            default is 4; its ImageNet configs use 10.
        allow_overlap: True: the context is the whole context block, targets may be visible.
        seed: int, numpy Generator, or None. Deterministic per seed (and n, and
            ``collator_batch``).
        collator_batch: None (default): every context whole (untruncated). An int B >= 1:
            I-JEPA's MaskCollator view for batches of B consecutive masks (I-JEPA's ImageNet
            configs: 128 per GPU), as described above.

    Returns:
        MultiBlockMasks(masks (N, H, W) bool True = masked, context (N, nenc, 4),
        targets (N, npred, 4)); blocks as (top, left, height, width) in patches. With
        ``collator_batch`` the masks are the truncated view; the context blocks are those
        placed (before the cut).

    Raises:
        ValueError: bad parameters, or no context keeping more than ``min_keep`` patches
            found after ``TARGET_DRAWS`` x ``CONTEXT_TRIES`` tries (lower ``min_keep`` or the
            target scale).
    """
    n = check_count(n)
    height, width = as_grid(grid)
    if height < 2 or width < 2:
        raise ValueError(f"multiblock masks need a grid of at least 2x2, got {height}x{width}")
    enc_mask_scale = _check_range(enc_mask_scale, "enc_mask_scale", upper=1.0)
    pred_mask_scale = _check_range(pred_mask_scale, "pred_mask_scale", upper=1.0)
    aspect_ratio = _check_range(aspect_ratio, "aspect_ratio", upper=np.inf)
    nenc = _check_int(nenc, "nenc", 1)
    npred = _check_int(npred, "npred", 0)
    min_keep = _check_int(min_keep, "min_keep", 0)
    if not isinstance(allow_overlap, (bool, np.bool_)):
        raise TypeError(f"allow_overlap must be True or False, got {allow_overlap!r}")
    if collator_batch is not None:
        collator_batch = _check_int(collator_batch, "collator_batch", 1)
    rng = as_rng(seed)
    masks = np.empty((n, height, width), dtype=bool)
    context = np.empty((n, nenc, 4), dtype=np.int64)
    targets = np.empty((n, npred, 4), dtype=np.int64)
    step = _CHUNK if collator_batch is None else collator_batch * max(1, _CHUNK // collator_batch)
    for start in range(0, n, step):
        part = slice(start, min(n, start + step))
        masks[part], context[part], targets[part] = _chunk(
            part.stop - part.start,
            height,
            width,
            enc_mask_scale,
            pred_mask_scale,
            aspect_ratio,
            nenc,
            npred,
            min_keep,
            bool(allow_overlap),
            rng,
            collator_batch,
        )
    return MultiBlockMasks(masks, context, targets)


def _chunk(
    n, height, width, enc_scale, pred_scale, aspect, nenc, npred, min_keep, overlap, rng, batch
):
    # The same order of draws as I-JEPA: target size, then context size (square); with a
    # collator batch, one draw of each per batch (the chunk starts on a batch boundary).
    pred_h, pred_w = _block_size(_draws(rng, n, batch), pred_scale, aspect, height, width)
    enc_h, enc_w = _block_size(_draws(rng, n, batch), enc_scale, (1.0, 1.0), height, width)
    targets = np.zeros((n, npred, 4), dtype=np.int64)
    targets[:, :, 2] = pred_h[:, None]
    targets[:, :, 3] = pred_w[:, None]
    context = np.zeros((n, nenc, 4), dtype=np.int64)
    context[:, :, 2] = enc_h[:, None]
    context[:, :, 3] = enc_w[:, None]
    forbidden = np.zeros((n, height, width), dtype=bool)
    pending = np.arange(n)
    for _draw in range(TARGET_DRAWS):
        _place(targets, pending, height, width, rng)
        forbidden[pending] = False
        if not overlap:
            for k in range(npred):
                forbidden[pending] |= _paint(targets[pending, k], height, width)
        accepted = np.ones(pending.size, dtype=bool)
        for k in range(nenc):
            accepted &= _place_context(context, pending, k, forbidden, min_keep, rng)
        pending = pending[~accepted]
        if pending.size == 0:
            break
    else:
        raise ValueError(
            f"multiblock: no context block keeps more than min_keep={min_keep} patches on a "
            f"{height}x{width} grid after {TARGET_DRAWS * CONTEXT_TRIES} tries; lower min_keep "
            "or pred_mask_scale"
        )
    kept = [_paint(context[:, k], height, width) & ~forbidden for k in range(nenc)]
    if batch is not None:
        kept = _truncate_to_batch(kept, batch)
    visible = np.zeros((n, height, width), dtype=bool)
    for part in kept:
        visible |= part
    return ~visible, context, targets


def _draws(rng, n, batch):
    """(n,) uniform draws: one per mask, or one per batch of ``batch`` masks, repeated."""
    if batch is None:
        return rng.random(n)
    return np.repeat(rng.random(-(-n // batch)), batch)[:n]


def _truncate_to_batch(kept, batch):
    """I-JEPA's collator cut: each context (a list over nenc of (n, H, W) bool) keeps its
    first k patches in raster order, k the fewest patches any context of its batch (of
    ``batch`` consecutive masks) keeps."""
    n, height, width = kept[0].shape
    counts = np.stack([part.sum(axis=(1, 2)) for part in kept], axis=1)  # (n, nenc)
    starts = np.arange(0, n, batch)
    fewest = np.repeat(np.minimum.reduceat(counts.min(axis=1), starts), batch)[:n]
    cut = []
    for part in kept:
        flat = part.reshape(n, -1)
        rank = np.cumsum(flat, axis=1)  # 1-based raster rank of each kept patch
        cut.append((flat & (rank <= fewest[:, None])).reshape(n, height, width))
    return cut


def _block_size(u, scale, aspect, height, width):
    """I-JEPA's _sample_block_size for draws ``u`` (n,): sides (h, w), each (n,) int64."""
    area = np.floor(height * width * (scale[0] + u * (scale[1] - scale[0])))
    ratio = aspect[0] + u * (aspect[1] - aspect[0])
    h = np.rint(np.sqrt(area * ratio)).astype(np.int64)  # round half to even, as Python's
    w = np.rint(np.sqrt(area / ratio)).astype(np.int64)
    return np.clip(h, 1, height - 1), np.clip(w, 1, width - 1)


def _place(blocks, rows, height, width, rng):
    """Draw top-left corners in [0, H - h) x [0, W - w) for ``blocks[rows]`` (in place)."""
    if rows.size == 0 or blocks.shape[1] == 0:
        return
    sub = blocks[rows]
    sub[:, :, 0] = rng.integers(0, height - sub[:, :, 2])
    sub[:, :, 1] = rng.integers(0, width - sub[:, :, 3])
    blocks[rows] = sub


def _place_context(context, pending, k, forbidden, min_keep, rng):
    """Place context block k of each pending mask until it keeps more than ``min_keep``
    patches outside ``forbidden``; returns which succeeded within CONTEXT_TRIES."""
    height, width = forbidden.shape[1:]
    ok = np.zeros(pending.size, dtype=bool)
    for _try in range(CONTEXT_TRIES):
        todo = np.flatnonzero(~ok)
        if todo.size == 0:
            break
        rows = pending[todo]
        block = context[rows, k : k + 1]
        _place(block, np.arange(rows.size), height, width, rng)
        kept = (_paint(block[:, 0], height, width) & ~forbidden[rows]).sum(axis=(1, 2))
        good = kept > min_keep
        context[rows[good], k] = block[good, 0]
        ok[todo[good]] = True
    return ok


def _paint(blocks, height, width):
    """(n, H, W) bool: True inside each (top, left, height, width) block of ``blocks`` (n, 4)."""
    rows = np.arange(height)
    cols = np.arange(width)
    top, left, h, w = (blocks[:, j, None] for j in range(4))
    in_rows = (rows >= top) & (rows < top + h)
    in_cols = (cols >= left) & (cols < left + w)
    return in_rows[:, :, None] & in_cols[:, None, :]


def _check_range(value, name, upper):
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (lo, hi) of numbers, got {value!r}") from None
    if not (0.0 < low <= high <= upper):  # False for NaN
        raise ValueError(f"{name} must satisfy 0 < lo <= hi <= {upper:g}, got {value!r}")
    return low, high


def _check_int(value, name, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)
