"""Mask generators: MAE's random masking, BEiT's block-wise masking and SimMIM's
MaskGenerator. Each returns (N, H, W) bool on the model's patch grid, True = masked."""

from __future__ import annotations

import math

import numpy as np

from maskstats._validate import (
    GridLike,
    SeedLike,
    as_grid,
    as_rng,
    check_mask_ratio,
    check_patch_size,
    grid_from_image,
    mae_num_masked,
)
from maskstats.masks._block_kernels import block_masks_kernel


def random_masks(
    n: int,
    grid: GridLike,
    mask_ratio: float,
    seed: SeedLike = None,
    noise: np.ndarray | None = None,
) -> np.ndarray:
    """MAE's random_masking: per sample, keep the ``int(L * (1 - mask_ratio))`` patches with
    the smallest noise.

    Args:
        n: number of masks N.
        grid: patch grid (H, W), or an int for a square grid.
        mask_ratio: share of patches to mask, in [0, 1).
        seed: int, numpy Generator, or None.
        noise: optional (N, L) noise, as torch.rand(N, L) in MAE; the same noise gives the same
            mask as MAE's and Hugging Face's code.

    Returns:
        (N, H, W) bool, True = masked; exactly L - int(L * (1 - mask_ratio)) masked per row.
    """
    height, width = as_grid(grid)
    ratio = check_mask_ratio(mask_ratio)
    num_patches = height * width
    if noise is None:
        noise = as_rng(seed).random((int(n), num_patches))
    else:
        noise = np.asarray(noise)
        if noise.shape != (int(n), num_patches):
            raise ValueError(f"noise must have shape ({n}, {num_patches}), got {noise.shape}")
    len_keep = int(num_patches * (1 - ratio))
    ids_shuffle = np.argsort(noise, axis=1, kind="stable")
    masks = np.ones((int(n), num_patches), dtype=bool)
    np.put_along_axis(masks, ids_shuffle[:, :len_keep], False, axis=1)
    return masks.reshape(int(n), height, width)


def block_masks(
    n: int,
    grid: GridLike,
    mask_ratio: float,
    min_num_patches: int = 4,
    max_num_patches: int | None = None,
    min_aspect: float = 0.3,
    max_aspect: float | None = None,
    seed: SeedLike = None,
) -> np.ndarray:
    """BEiT block-wise masking (BEiT's MaskingGenerator), made exact in count.

    Rectangles of area uniform in [min_num_patches, remaining] and log-uniform aspect ratio in
    [min_aspect, max_aspect (default 1/min_aspect)] are added until the target count; where
    BEiT's loop would stop short, the remainder is filled with random visible patches next to
    the masked region.

    Args:
        n: number of masks N.
        grid: patch grid (H, W), or an int.
        mask_ratio: in [0, 1); the masked count is MAE's, L - int(L * (1 - mask_ratio)).
        seed: int, numpy Generator, or None.

    Returns:
        (N, H, W) bool, True = masked.
    """
    height, width = as_grid(grid)
    ratio = check_mask_ratio(mask_ratio)
    target = mae_num_masked(height * width, ratio)
    max_num_patches = target if max_num_patches is None else int(max_num_patches)
    max_aspect = max_aspect or 1.0 / min_aspect
    if min_aspect <= 0 or max_aspect < min_aspect:
        raise ValueError(f"need 0 < min_aspect <= max_aspect, got {min_aspect}, {max_aspect}")
    seeds = as_rng(seed).integers(0, 2**31 - 1, size=int(n), dtype=np.int64)
    return block_masks_kernel(
        seeds,
        height,
        width,
        target,
        float(min_num_patches),
        max(1, max_num_patches),
        math.log(min_aspect),
        math.log(max_aspect),
    )


def simmim_num_masked(cells: int, mask_ratio: float) -> int:
    """Masked mask-patches per sample in SimMIM: ceil(cells * mask_ratio)."""
    return int(np.ceil(cells * mask_ratio))


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
    """
    cells_h, cells_w = grid_from_image(input_size, mask_patch_size)
    check_patch_size(model_patch_size)
    if mask_patch_size % model_patch_size:
        raise ValueError(
            f"mask_patch_size {mask_patch_size} is not a multiple of "
            f"model_patch_size {model_patch_size}"
        )
    ratio = check_mask_ratio(mask_ratio)
    cells = cells_h * cells_w
    mask_count = simmim_num_masked(cells, ratio)
    order = np.argsort(as_rng(seed).random((int(n), cells)), axis=1)
    cell_masks = np.zeros((int(n), cells), dtype=bool)
    np.put_along_axis(cell_masks, order[:, :mask_count], True, axis=1)
    scale = mask_patch_size // model_patch_size
    cell_masks = cell_masks.reshape(int(n), cells_h, cells_w)
    return cell_masks.repeat(scale, axis=1).repeat(scale, axis=2)
