"""Numba kernels behind the mask generators. No validation here: typed arrays in and out."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _place_block(mask, max_mask_patches, min_num_patches, log_aspect_lo, log_aspect_hi):
    """One call of BEiT's MaskingGenerator._mask: up to 10 tries to add one rectangle."""
    height, width = mask.shape
    delta = 0
    for _attempt in range(10):
        target_area = np.random.uniform(min_num_patches, max_mask_patches)
        aspect_ratio = math.exp(np.random.uniform(log_aspect_lo, log_aspect_hi))
        h = int(round(math.sqrt(target_area * aspect_ratio)))
        w = int(round(math.sqrt(target_area / aspect_ratio)))
        if w < width and h < height:
            top = np.random.randint(0, height - h + 1)
            left = np.random.randint(0, width - w + 1)
            num_masked = 0
            for i in range(top, top + h):
                for j in range(left, left + w):
                    num_masked += mask[i, j]
            if 0 < h * w - num_masked <= max_mask_patches:
                for i in range(top, top + h):
                    for j in range(left, left + w):
                        if not mask[i, j]:
                            mask[i, j] = True
                            delta += 1
            if delta > 0:
                break
    return delta


@njit(cache=True)
def _fill_adjacent(mask, missing):
    """Mask ``missing`` more patches, each a random visible 4-neighbour of the masked
    region (a random visible patch when the region has no visible neighbour)."""
    height, width = mask.shape
    candidates = np.empty(height * width, np.int64)
    for _ in range(missing):
        count = 0
        for i in range(height):
            for j in range(width):
                if mask[i, j]:
                    continue
                touches = (
                    (i > 0 and mask[i - 1, j])
                    or (i + 1 < height and mask[i + 1, j])
                    or (j > 0 and mask[i, j - 1])
                    or (j + 1 < width and mask[i, j + 1])
                )
                if touches:
                    candidates[count] = i * width + j
                    count += 1
        if count == 0:
            for i in range(height):
                for j in range(width):
                    if not mask[i, j]:
                        candidates[count] = i * width + j
                        count += 1
        pick = candidates[np.random.randint(0, count)]
        mask[pick // width, pick % width] = True


@njit(cache=True, nogil=True)
def block_masks_range(
    seeds,
    first,
    last,
    num_masking_patches,
    min_num_patches,
    max_num_patches,
    log_lo,
    log_hi,
    out,
    fill=True,
):
    """BEiT block-wise masks into out[first:last] ((N, H, W) bool, all False on entry), one
    reseeded numba RNG per mask (deterministic per seed, whatever the thread split); with
    ``fill``, a mask BEiT's loop leaves short of the count is filled up to it."""
    for k in range(first, last):
        np.random.seed(seeds[k])
        mask = out[k]
        mask_count = 0
        while mask_count < num_masking_patches:
            remaining = min(num_masking_patches - mask_count, max_num_patches)
            delta = _place_block(mask, remaining, min_num_patches, log_lo, log_hi)
            if delta == 0:
                break
            mask_count += delta
        if fill and mask_count < num_masking_patches:
            _fill_adjacent(mask, num_masking_patches - mask_count)
