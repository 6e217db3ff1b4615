"""Video masks on the token grid (T, H, W), T = frames // tubelet_size: VideoMAE's tube masks,
VideoMAE v2's whole-clip random masks and running-cell decoder masks, and any image mask as a
tube. Each returns (N, T, H, W) bool, True = masked (for running-cell masks: dropped from the
decoder); flattened in (t, h, w) order they are VideoMAE's ``bool_masked_pos``.

The counts follow the peers' code exactly (MCG-NJU/VideoMAE ``masking_generator.py``,
OpenGVLab/VideoMAEv2 ``dataset/masking_generator.py``), not MAE's rule:

- tube: ``int(mask_ratio * H * W)`` masked per frame (at 0.9 on 14 x 14: 176; MAE's rule
  masks 177), the same spatial subset in every frame;
- whole-clip random: ``int(mask_ratio * T * H * W)`` (at 0.9 on 8 x 14 x 14: 1411);
- running cell: ``int(4 * ratio)`` of every 2 x 2 cell, for ratio 0.25, 0.5 or 0.75 only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from maskstats._validate import (
    SeedLike,
    VideoGridLike,
    as_rng,
    as_video_grid,
    check_count,
    check_mask_ratio,
)

RUNNING_CELL_RATIOS = (0.25, 0.5, 0.75)
"""The decoder mask ratios a 2 x 2 running cell can make: 1, 2 or 3 of its 4 tokens dropped."""
RUNNING_CELL_TOL = 1e-9
"""How far a running-cell ratio may be from 0.25, 0.5 or 0.75 (float noise only)."""


def tube_num_masked(height: int, width: int, mask_ratio: float) -> int:
    """Masked tokens per frame of VideoMAE's TubeMaskingGenerator: int(mask_ratio * H * W)."""
    return int(float(mask_ratio) * (height * width))


def clip_num_masked(frames: int, height: int, width: int, mask_ratio: float) -> int:
    """Masked tokens per clip of VideoMAE v2's RandomMaskingGenerator: int(mask_ratio * T*H*W)."""
    return int(float(mask_ratio) * (frames * height * width))


def _lowest(noise: np.ndarray, count: int) -> np.ndarray:
    """(N, L) bool: True on the ``count`` entries of each row with the smallest noise (ties to
    the lower index)."""
    out = np.zeros(noise.shape, dtype=bool)
    if count:
        order = np.argsort(noise, axis=1, kind="stable")
        np.put_along_axis(out, order[:, :count], True, axis=1)
    return out


def tube_masks(n: int, grid: VideoGridLike, mask_ratio: float, seed: SeedLike = None) -> np.ndarray:
    """VideoMAE's tube masking (``TubeMaskingGenerator``): one uniformly random spatial subset
    of ``int(mask_ratio * H * W)`` positions per clip, masked in every frame.

    Args:
        n: number of clips N.
        grid: token grid (T, H, W), T = frames // tubelet_size (VideoMAE: (8, 14, 14) for 16
            frames of 224 px with tubelet 2 and patch 16).
        mask_ratio: in [0, 1) (VideoMAE's scripts: 0.9 on Kinetics and SSv2, 0.75 on UCF101).
        seed: int, numpy Generator, or None.

    Returns:
        (N, T, H, W) bool, True = masked; T * int(mask_ratio * H * W) masked per clip.

    Examples:
        >>> from maskstats.masks import tube_masks
        >>> masks = tube_masks(2, (8, 14, 14), 0.9, seed=0)
        >>> masks.shape, bool((masks == masks[:, :1]).all())  # the same mask in every frame
        ((2, 8, 14, 14), True)
        >>> masks[:, 0].sum(axis=(1, 2)).tolist()  # int(0.9 * 196) per frame
        [176, 176]
    """
    n = check_count(n)
    frames, height, width = as_video_grid(grid)
    ratio = check_mask_ratio(mask_ratio)
    count = tube_num_masked(height, width, ratio)
    spatial = _lowest(as_rng(seed).random((n, height * width)), count)
    return np.repeat(spatial.reshape(n, 1, height, width), frames, axis=1)


def clip_random_masks(
    n: int,
    grid: VideoGridLike,
    mask_ratio: float,
    seed: SeedLike = None,
    noise: np.ndarray | None = None,
) -> np.ndarray:
    """Whole-clip random masking (VideoMAE v2's ``RandomMaskingGenerator``): a uniformly random
    set of ``int(mask_ratio * T * H * W)`` tokens of the clip. ``random_masks`` calls this for
    a (T, H, W) grid.

    Args:
        n: number of clips N.
        grid: token grid (T, H, W).
        mask_ratio: in [0, 1).
        seed: int, numpy Generator, or None.
        noise: optional (N, T*H*W) noise: the tokens with the largest noise are masked (MAE's
            convention: the ``L - count`` smallest stay visible).

    Returns:
        (N, T, H, W) bool, True = masked.
    """
    n = check_count(n)
    frames, height, width = as_video_grid(grid)
    ratio = check_mask_ratio(mask_ratio)
    size = frames * height * width
    count = clip_num_masked(frames, height, width, ratio)
    if noise is None:
        noise = as_rng(seed).random((n, size))
    else:
        noise = np.asarray(noise)
        if noise.shape != (n, size):
            raise ValueError(f"noise must have shape ({n}, {size}), got {noise.shape}")
        if noise.dtype.kind not in "biuf" or not np.isfinite(noise).all():
            raise ValueError("noise must be finite real numbers")
    visible = _lowest(noise, size - count)
    return (~visible).reshape(n, frames, height, width)


def check_running_cell(grid: VideoGridLike, decoder_mask_ratio: float) -> tuple[tuple, int]:
    """Validate a running-cell setting; returns the grid and m, the tokens dropped per 2 x 2
    cell. VideoMAE v2 floors the ratio to m / 4 and silently makes a mask of the wrong length
    on an odd grid: both are refused here, one line each.

    Raises:
        ValueError: H or W odd; a ratio other than 0.25, 0.5 or 0.75.
    """
    frames, height, width = as_video_grid(grid)
    if height % 2 or width % 2:
        raise ValueError(
            f"running-cell masks tile 2x2 cells, so H and W must be even; got a {height}x{width} "
            "grid (VideoMAE v2 would silently make a mask of the wrong length)"
        )
    if isinstance(decoder_mask_ratio, (bool, np.bool_)) or not isinstance(
        decoder_mask_ratio, (int, float, np.number)
    ):
        raise TypeError(f"decoder_mask_ratio must be a number, got {decoder_mask_ratio!r}")
    ratio = float(decoder_mask_ratio)
    matches = [r for r in RUNNING_CELL_RATIOS if abs(ratio - r) <= RUNNING_CELL_TOL]
    if not matches:
        raise ValueError(
            "a running cell drops 1, 2 or 3 of every 2x2 tokens, so decoder_mask_ratio must be "
            f"0.25, 0.5 or 0.75; got {decoder_mask_ratio} (VideoMAE v2 floors it to int(4 * "
            "ratio) / 4)"
        )
    return (frames, height, width), int(round(4 * matches[0]))


def running_cell_pattern(grid: VideoGridLike, dropped: int, phase: int) -> np.ndarray:
    """One running-cell mask: token (t, i, j) is dropped iff (k + phase + t + 1) mod 4 <
    ``dropped``, k = 2 (i mod 2) + (j mod 2) (VideoMAE v2's Cell queue, moved one step per
    frame).

    Args:
        grid: (T, H, W) with H and W even.
        dropped: m, tokens dropped per 2 x 2 cell (1, 2 or 3).
        phase: the pattern p in 0..3.

    Returns:
        (T, H, W) bool, True = dropped from the decoder.
    """
    frames, height, width = grid
    k = 2 * (np.arange(height) % 2)[:, None] + (np.arange(width) % 2)[None, :]
    t = np.arange(frames)[:, None, None]
    return (k[None] + phase + t + 1) % 4 < dropped


def running_cell_masks(
    n: int, grid: VideoGridLike, decoder_mask_ratio: float = 0.5, seed: SeedLike = None
) -> np.ndarray:
    """VideoMAE v2's running-cell decoder masks (``RunningCellMaskingGenerator``): a 2 x 2
    cell drops ``int(4 * decoder_mask_ratio)`` of its tokens, the dropped ones moving by one
    place per frame; one of the 4 phases drawn per clip. Content-blind: used beside tube
    masks at 0.9 with decoder ratio 0.5 in VideoMAE v2.

    Args:
        n: number of clips N.
        grid: token grid (T, H, W), H and W even.
        decoder_mask_ratio: 0.25, 0.5 or 0.75 (anything else is refused, not floored).
        seed: int, numpy Generator, or None.

    Returns:
        (N, T, H, W) bool, True = dropped from the decoder (VideoMAE v2's ``decode_masked_pos``);
        exactly ``decoder_mask_ratio * H * W`` per frame.
    """
    n = check_count(n)
    grid, dropped = check_running_cell(grid, decoder_mask_ratio)
    phases = as_rng(seed).integers(0, 4, size=n)
    patterns = np.stack([running_cell_pattern(grid, dropped, p) for p in range(4)])
    return patterns[phases]


def tubes(masks: Any, frames: int) -> np.ndarray:
    """Image masks repeated in every token-frame: (N, H, W) -> (N, T, H, W) tubes.

    Args:
        masks: (N, H, W) bool, True = masked.
        frames: T, token-frames.

    Returns:
        (N, T, H, W) bool (a copy).
    """
    masks = np.asarray(masks, dtype=bool)
    return np.repeat(masks[:, None], int(frames), axis=1)


VIDEO_STRATEGIES = ("tube", "running_cell")
"""Strategies that exist only for clips (``generate(..., frames=...)``)."""


def video_strategy_masks(
    strategy: str,
    n: int,
    grid: VideoGridLike,
    mask_ratio: float,
    seed: SeedLike = None,
    **kwargs: Any,
) -> np.ndarray:
    """Masks of the clip strategies by name: "random" (whole clip, VideoMAE v2's count),
    "tube" (VideoMAE) and "running_cell" (VideoMAE v2's decoder pattern, ``mask_ratio`` its
    decoder mask ratio).

    Returns:
        (N, T, H, W) bool, True = masked.
    """
    if strategy == "random":
        return clip_random_masks(n, grid, mask_ratio, seed=seed, **kwargs)
    if strategy == "tube":
        return tube_masks(n, grid, mask_ratio, seed=seed, **kwargs)
    if strategy == "running_cell":
        return running_cell_masks(n, grid, mask_ratio, seed=seed, **kwargs)
    raise ValueError(f"unknown clip strategy {strategy!r}; expected random, tube or running_cell")
