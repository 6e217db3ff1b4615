"""Mask generators: MAE's random masking, BEiT's block-wise masking, SimMIM's MaskGenerator and
MAE's grid-wise sampling (I-JEPA's multi-block masks live in :mod:`maskstats.masks.multiblock`).
Each returns (N, H, W) bool on the model's patch grid, True = masked."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from maskstats._parallel import run_rows
from maskstats._validate import (
    GridLike,
    SeedLike,
    as_grid,
    as_masks,
    as_rng,
    check_count,
    check_mask_ratio,
    check_patch_size,
    grid_from_image,
    is_video_grid,
    mae_num_masked,
)
from maskstats.masks._block_kernels import block_masks_range
from maskstats.masks.video import clip_random_masks

ASPECT_LIMIT = (1e-6, 1e6)
"""Aspect ratios block_masks accepts: beyond these a rectangle fits on no supported grid (and
the kernel's side lengths would overflow)."""


def _check_real(value: Any, name: str, low: float, high: float) -> float:
    """``value`` as a float in [low, high]; one-line ValueError otherwise (NaN included)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        raise ValueError(f"{name} must be a finite number in [{low:g}, {high:g}], got {value!r}")
    return number


def random_masks(
    n: int,
    grid: GridLike,
    mask_ratio: float,
    seed: SeedLike = None,
    noise: np.ndarray | None = None,
) -> np.ndarray:
    """MAE's random_masking: per sample, keep the ``int(L * (1 - mask_ratio))`` patches with
    the smallest noise. On a video grid (T, H, W): whole-clip random masking with VideoMAE v2's
    count, ``int(mask_ratio * T * H * W)`` masked (:func:`maskstats.masks.video.clip_random_masks`).

    Args:
        n: number of masks N.
        grid: patch grid (H, W), or an int for a square grid; or a token grid (T, H, W).
        mask_ratio: share of patches to mask, in [0, 1).
        seed: int, numpy Generator, or None.
        noise: optional (N, L) noise, as torch.rand(N, L) in MAE; the same noise gives the same
            mask as MAE's and Hugging Face's code as long as no two values tie at the keep
            boundary. Ties are broken here by patch index (a stable sort); ``torch.argsort``
            promises no order among equal values (constant noise at L = 196 keeps other
            patches there), and float32 ``torch.rand`` ties at the boundary in a few rows per
            million. To hand masks to MAE, pass ``maskstats.torch.noise_for_mask(masks)``,
            whose values never tie.

    Returns:
        (N, H, W) bool, True = masked; exactly L - int(L * (1 - mask_ratio)) masked per row.
        (N, T, H, W) for a video grid.

    Examples:
        >>> from maskstats.masks import random_masks
        >>> masks = random_masks(4, (14, 14), mask_ratio=0.75, seed=0)
        >>> masks.shape, masks.sum(axis=(1, 2)).tolist()  # 196 - int(196 * 0.25) masked each
        ((4, 14, 14), [147, 147, 147, 147])

        MAE keeps the patches of smallest noise: here the first row of a 4 x 4 grid.

        >>> import numpy as np
        >>> random_masks(1, 4, 0.75, noise=np.arange(16.0)[None])[0].astype(int).tolist()
        [[0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]
    """
    if is_video_grid(grid):
        return clip_random_masks(n, grid, mask_ratio, seed=seed, noise=noise)
    n = check_count(n)
    height, width = as_grid(grid)
    ratio = check_mask_ratio(mask_ratio)
    num_patches = height * width
    if noise is None:
        noise = as_rng(seed).random((n, num_patches))
    else:
        noise = np.asarray(noise)
        if noise.shape != (n, num_patches):
            raise ValueError(f"noise must have shape ({n}, {num_patches}), got {noise.shape}")
        if noise.dtype.kind not in "biuf":
            raise TypeError(f"noise must be real numbers, got dtype {noise.dtype}")
        if not np.isfinite(noise).all():
            raise ValueError("noise must be finite (it holds NaN or inf)")
    len_keep = int(num_patches * (1 - ratio))
    ids_shuffle = np.argsort(noise, axis=1, kind="stable")
    masks = np.ones((n, num_patches), dtype=bool)
    np.put_along_axis(masks, ids_shuffle[:, :len_keep], False, axis=1)
    return masks.reshape(n, height, width)


def block_masks(
    n: int,
    grid: GridLike,
    mask_ratio: float | None = None,
    min_num_patches: float = 4,
    max_num_patches: float | None = None,
    min_aspect: float = 0.3,
    max_aspect: float | None = None,
    seed: SeedLike = None,
    *,
    num_masking_patches: int | None = None,
    exact_count: bool = True,
) -> np.ndarray:
    """BEiT block-wise masking (BEiT's MaskingGenerator), made exact in count.

    Rectangles of area uniform in [min_num_patches, remaining] and log-uniform aspect ratio in
    [min_aspect, max_aspect (default 1/min_aspect)] are added until the target count; where
    BEiT's loop would stop short (no rectangle in 10 tries adds a patch without overshooting),
    the remainder is filled with random visible patches next to the masked region.

    The count is a ratio (``mask_ratio``, as MAE and SimMIM take it) or, as BEiT takes it, a
    number of patches (``num_masking_patches``). BEiT's own pretraining preset at 224/16 is
    ``block_masks(n, 14, num_masking_patches=75, min_num_patches=16)`` (its
    run_beit_pretraining.py; 4 is only the class default); see
    :data:`maskstats.literature.BEIT_PRETRAINING`.

    Args:
        n: number of masks N (a whole number).
        grid: patch grid (H, W), or an int.
        mask_ratio: in [0, 1); the masked count is MAE's, L - int(L * (1 - mask_ratio)).
            Give this or ``num_masking_patches``.
        min_num_patches: smallest rectangle area in patches, finite and >= 1 (BEiT's class
            default 4; its pretraining uses 16).
        max_num_patches: largest rectangle area, finite and >= min_num_patches; None: the
            masked count.
        min_aspect: smallest aspect ratio (height / width), in [1e-6, 1e6] (BEiT: 0.3).
        max_aspect: largest aspect ratio, in [min_aspect, 1e6]; None: 1 / min_aspect.
        seed: int, numpy Generator, or None.
        num_masking_patches: the masked count in patches, 0 <= count <= L, as BEiT's
            ``num_masking_patches`` (instead of ``mask_ratio``).
        exact_count: True (default): fill what BEiT's loop leaves short, so every mask has
            the count. False: BEiT's loop as it is; a mask it stops short of the count keeps
            fewer masked patches (the count then varies per mask: ``masked_share``). With the
            same seed both draw the same rectangles, so the exact masks are the others plus
            their fill.

    Returns:
        (N, H, W) bool, True = masked.

    Raises:
        ValueError: a parameter outside the ranges above (NaN included), or both or neither
            of ``mask_ratio`` and ``num_masking_patches``; one line naming it.

    Examples:
        >>> from maskstats.masks import block_masks
        >>> block_masks(2, 14, 0.4, seed=0).sum(axis=(1, 2)).tolist()  # 196 - int(196 * 0.6)
        [79, 79]
        >>> beit = block_masks(2, 14, num_masking_patches=75, min_num_patches=16, seed=0)
        >>> beit.sum(axis=(1, 2)).tolist()  # BEiT's pretraining count
        [75, 75]
    """
    n = check_count(n)
    height, width = as_grid(grid)
    target = _block_count(height * width, mask_ratio, num_masking_patches)
    if not isinstance(exact_count, (bool, np.bool_)):
        raise TypeError(f"exact_count must be True or False, got {exact_count!r}")
    min_num_patches = _check_real(min_num_patches, "min_num_patches", 1.0, math.inf)
    if max_num_patches is None:
        max_num_patches = target
    else:
        max_num_patches = _check_real(max_num_patches, "max_num_patches", 1.0, math.inf)
        if max_num_patches < min_num_patches:
            raise ValueError(
                f"max_num_patches ({max_num_patches:g}) must be >= min_num_patches "
                f"({min_num_patches:g})"
            )
        max_num_patches = int(min(max_num_patches, height * width))
    min_aspect = _check_real(min_aspect, "min_aspect", ASPECT_LIMIT[0], ASPECT_LIMIT[1])
    if max_aspect is None:
        max_aspect = 1.0 / min_aspect
    max_aspect = _check_real(max_aspect, "max_aspect", ASPECT_LIMIT[0], ASPECT_LIMIT[1])
    if max_aspect < min_aspect:
        raise ValueError(f"max_aspect ({max_aspect:g}) must be >= min_aspect ({min_aspect:g})")
    seeds = as_rng(seed).integers(0, 2**31 - 1, size=n, dtype=np.int64)
    out = np.zeros((n, height, width), dtype=bool)
    log_lo, log_hi = math.log(min_aspect), math.log(max_aspect)
    fill = bool(exact_count)

    def kernel(first: int, last: int) -> None:
        block_masks_range(
            seeds, first, last, target, float(min_num_patches), max(1, max_num_patches),
            log_lo, log_hi, out, fill,
        )  # fmt: skip

    run_rows(kernel, n, 64, 64)
    return out


def _block_count(num_patches: int, mask_ratio: Any, num_masking_patches: Any) -> int:
    """The masked count of block masks: MAE's count at ``mask_ratio`` or BEiT's
    ``num_masking_patches`` (exactly one of them)."""
    if (mask_ratio is None) == (num_masking_patches is None):
        raise ValueError(
            "block masks need exactly one of mask_ratio and num_masking_patches (BEiT's count), "
            f"got mask_ratio={mask_ratio!r}, num_masking_patches={num_masking_patches!r}"
        )
    if mask_ratio is not None:
        return mae_num_masked(num_patches, check_mask_ratio(mask_ratio))
    count = check_count(num_masking_patches, "num_masking_patches")
    if count > num_patches:
        raise ValueError(
            f"num_masking_patches must be at most the grid's {num_patches} patches, got {count}"
        )
    return count


def simmim_num_masked(cells: int, mask_ratio: float) -> int:
    """Masked mask-patches per sample in SimMIM: ceil(cells * mask_ratio)."""
    return int(np.ceil(cells * mask_ratio))


def check_simmim_cell(input_size: GridLike, mask_patch_size: int, model_patch_size: int) -> None:
    """Refuse a SimMIM masking cell that does not tile the image or is not made of whole
    model patches, saying which cell sizes would (one line).

    Raises:
        ValueError: naming mask_patch_size, the image and patch sizes and the cells that fit.
    """
    height, width = as_grid(input_size)
    check_patch_size(mask_patch_size)
    check_patch_size(model_patch_size)
    cell, patch = mask_patch_size, model_patch_size
    if not (height % cell or width % cell or cell % patch):
        return
    fits = [
        side
        for side in range(model_patch_size, min(height, width) + 1, model_patch_size)
        if height % side == 0 and width % side == 0
    ]
    raise ValueError(
        f"SimMIM's mask_patch_size {mask_patch_size} px must divide the image "
        f"({height}x{width} px) and be a multiple of the patch size {model_patch_size} px; "
        f"these fit: {', '.join(map(str, fits)) or 'none'}"
    )


def simmim_masks(
    n: int,
    input_size: GridLike = 192,
    mask_patch_size: int = 32,
    model_patch_size: int = 4,
    mask_ratio: float = 0.6,
    seed: SeedLike = None,
) -> np.ndarray:
    """SimMIM's MaskGenerator: random masking at ``mask_patch_size`` resolution, upsampled to
    the model's patch grid.

    Args:
        n: number of masks N.
        input_size: image size in pixels, int or (H, W).
        mask_patch_size: side of a masking cell in pixels (SimMIM: 32).
        model_patch_size: the model's patch size in pixels.
        mask_ratio: in [0, 1); ceil(cells * mask_ratio) cells are masked.
        seed: int, numpy Generator, or None.

    Returns:
        (N, input_h // model_patch_size, input_w // model_patch_size) bool, True = masked.

    Examples:
        SimMIM's own setting: 192 px images, 32 px cells, 4 px patches, so 6 x 6 cells of 8 x 8
        patches; ceil(36 * 0.6) = 22 cells masked, 22 * 64 = 1408 patches.

        >>> from maskstats.masks import simmim_masks
        >>> masks = simmim_masks(2, 192, 32, 4, 0.6, seed=0)
        >>> masks.shape, masks.sum(axis=(1, 2)).tolist()
        ((2, 48, 48), [1408, 1408])
        >>> cells = masks.reshape(2, 6, 8, 6, 8)  # every cell all masked or all visible
        >>> bool((cells.all(axis=(2, 4)) == cells.any(axis=(2, 4))).all())
        True
    """
    n = check_count(n)
    check_simmim_cell(input_size, mask_patch_size, model_patch_size)
    cells_h, cells_w = grid_from_image(input_size, mask_patch_size)
    ratio = check_mask_ratio(mask_ratio)
    cells = cells_h * cells_w
    mask_count = simmim_num_masked(cells, ratio)
    order = np.argsort(as_rng(seed).random((n, cells)), axis=1)
    cell_masks = np.zeros((n, cells), dtype=bool)
    np.put_along_axis(cell_masks, order[:, :mask_count], True, axis=1)
    scale = mask_patch_size // model_patch_size
    cell_grid = cell_masks.reshape(n, cells_h, cells_w)
    return cell_grid.repeat(scale, axis=1).repeat(scale, axis=2)


GRID_RATIO_TOL = 5e-4
"""How far a requested grid ratio may be from 1 - 1/s**2 (so 0.889 selects s = 3)."""


def grid_ratios(grid: GridLike, count: int | None = None) -> dict[int, float]:
    """The mask ratios grid-wise sampling allows on ``grid``: cell side s -> 1 - 1/s**2.

    Args:
        grid: patch grid (H, W), or an int.
        count: only the first ``count`` sides (default: every side from 1 to max(H, W)).

    Returns:
        {s: 1 - 1/s**2} for s = 1, 2, ... (a cell larger than the grid adds nothing new).
    """
    height, width = as_grid(grid)
    sides = range(1, max(height, width) + 1)
    if count is not None:
        sides = sides[:count]
    return {s: 1.0 - 1.0 / (s * s) for s in sides}


def grid_cell_side(grid: GridLike, mask_ratio: float) -> int:
    """The cell side s of grid-wise sampling at ``mask_ratio`` (= 1 - 1/s**2, within
    ``GRID_RATIO_TOL``); a ValueError listing the allowed ratios otherwise."""
    height, width = as_grid(grid)
    ratio = check_mask_ratio(mask_ratio)
    side = max(1, round(1.0 / math.sqrt(1.0 - ratio)))
    if side <= max(height, width) and abs(ratio - (1.0 - 1.0 / side**2)) <= GRID_RATIO_TOL:
        return side
    allowed = [f"{r:.4g} (s={s})" for s, r in grid_ratios((height, width), 6).items()]
    if max(height, width) > 6:
        allowed.append("...")
    raise ValueError(
        f"grid masks keep one patch per s x s cell, so mask_ratio must be 1 - 1/s^2: "
        f"{', '.join(allowed)}; got {mask_ratio}"
    )


def grid_masks(
    n: int,
    grid: GridLike,
    mask_ratio: float = 0.75,
    offset: str | tuple[int, int] = "random",
    seed: SeedLike = None,
) -> np.ndarray:
    """MAE's grid-wise sampling (MAE Fig. 6): one visible patch in every s x s cell, the same
    place (offset) in every cell, the rest masked; s from ``mask_ratio = 1 - 1/s**2``
    (0.75: s = 2, keep one patch of every 2 x 2).

    When H or W is not a multiple of s, the cells at the bottom/right edge are partial
    (fewer than s rows or columns) and also keep exactly one visible patch: at the offset when
    it falls inside the partial cell, else on the cell's last row/column. The achieved ratio is
    then below the nominal one: 1 - ceil(H/s) * ceil(W/s) / (H * W), the same for every mask
    (e.g. 14 x 14 at s = 3: 1 - 25/196 = 0.872, not 0.889); :func:`masked_share` reports it.

    Args:
        n: number of masks N.
        grid: patch grid (H, W), or an int.
        mask_ratio: 1 - 1/s**2 for a cell side s from 1 to max(H, W): 0 (s=1), 0.75 (s=2),
            0.8889 (s=3), 0.9375 (s=4), ...; within ``GRID_RATIO_TOL``.
        offset: "random" (a uniform (di, dj) per mask) or a fixed (di, dj), 0 <= di, dj < s:
            the visible patch's row and column inside each cell.
        seed: int, numpy Generator, or None (used for the random offsets).

    Returns:
        (N, H, W) bool, True = masked; ceil(H/s) * ceil(W/s) visible patches per mask.

    Raises:
        ValueError: a ratio no cell side gives (the message lists the allowed ones), or an
            offset outside the cell.

    Examples:
        >>> from maskstats.masks import grid_masks
        >>> grid_masks(1, 4, 0.75, offset=(0, 0))[0].astype(int).tolist()  # s = 2: 1 of each 2 x 2
        [[0, 1, 0, 1], [1, 1, 1, 1], [0, 1, 0, 1], [1, 1, 1, 1]]
    """
    n = check_count(n)
    height, width = as_grid(grid)
    side = grid_cell_side((height, width), mask_ratio)
    if isinstance(offset, str) and offset == "random":
        di, dj = as_rng(seed).integers(0, side, size=(2, n))
    elif (
        isinstance(offset, (tuple, list))
        and len(offset) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in offset)
        and all(0 <= v < side for v in offset)
    ):
        di = np.full(n, int(offset[0]))
        dj = np.full(n, int(offset[1]))
    else:
        raise ValueError(
            f'offset must be "random" or (di, dj) with 0 <= di, dj < {side}, got {offset!r}'
        )
    rows = _one_per_cell(height, side, di)
    cols = _one_per_cell(width, side, dj)
    return ~(rows[:, :, None] & cols[:, None, :])


def _one_per_cell(length: int, side: int, offsets: np.ndarray) -> np.ndarray:
    """(N, length) bool: True on the one kept index of every cell of ``side`` along an axis
    (offset clipped to a partial last cell)."""
    index = np.arange(length)
    start = index // side * side
    cell_size = np.minimum(side, length - start)
    kept = np.minimum(offsets[:, None], cell_size[None, :] - 1)
    return (index - start)[None, :] == kept


def masked_share(masks: Any, grid: GridLike | None = None) -> np.ndarray:
    """The achieved mask ratio of each mask: masked patches / all patches.

    Args:
        masks: (N, H, W) or (N, L) bool, True = masked (numpy or torch).
        grid: (H, W) for (N, L) input.

    Returns:
        (N,) float64.

    Examples:
        >>> from maskstats.masks import grid_masks, masked_share
        >>> masked_share(grid_masks(2, 14, 0.8889, seed=0)).round(4).tolist()  # 1 - 25/196
        [0.8724, 0.8724]
    """
    masks = as_masks(masks, grid)
    return masks.sum(axis=(1, 2)) / (masks.shape[1] * masks.shape[2])
