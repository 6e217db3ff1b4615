"""Spatio-temporal difficulty metrics of clips on the token grid (T, H, W): the kernels'
thread split and scratch. :func:`maskstats.metrics.compute` dispatches here for (N, T, H, W)
masks with T > 1 (a clip of one token-frame goes to the image kernels: today's numbers).

Geometry. A token covers ``tubelet_size`` frames of ``patch_size`` x ``patch_size`` pixels.
Frames lie ``temporal_step / tubelet_size`` px apart, so the centres of two consecutive
token-frames lie ``temporal_step`` px apart (default ``patch_size``: a token counts as a cube,
one step in time as far as one patch in space) and tau = temporal_step / patch_size patches.

- density3: visible tokens among the 26 neighbours of the 3 x 3 x 3 window (0..26);
- invdist5: sum of 1/d over the visible tokens of the 5 x 5 x 5 window,
  d = sqrt((dt tau)^2 + dy^2 + dx^2) patches;
- nearest: centre distance (patches) to the nearest visible token, with the same d;
- p2dist: mean over a token's tubelet_size x p x p voxels of the distance (px) to the nearest
  visible voxel, divided by p (scipy's ``distance_transform_edt(..., sampling=(frame_px, 1,
  1))`` on the clip upsampled to voxels);
- avgdist: the mean of that distance over every masked voxel of the clip (px);
- temporal: frames to the nearest visible token at the same spatial position,
  |t - t'| * tubelet_size; +inf where the position is masked in every token-frame.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from maskstats._parallel import ScratchPool, run_rows
from maskstats.metrics import _video_kernels as kernels
from maskstats.metrics.registry import REGISTRY

SUBFRAME_MEMO_BITS = 14
"""The clip p2dist/avgdist memo: 2**14 slots (2 MiB) per thread and setting (patch size,
tubelet, frame spacing, T)."""


def _new_memo(setting: object) -> tuple[np.ndarray, np.ndarray]:
    slots = 1 << SUBFRAME_MEMO_BITS
    keys = np.full((slots, kernels.MEMO_SOURCES + 1), -9, np.int64)
    return keys, np.empty(slots, np.float64)


_MEMO_POOL = ScratchPool(_new_memo)


def clear_memo() -> None:
    """Forget the clip memo (results never depend on it; only the next call's time does)."""
    _MEMO_POOL.clear()


@functools.lru_cache(maxsize=64)
def invdist5_weights(tau: float) -> np.ndarray:
    """(3, 6) float64: 1 / sqrt((|dt| tau)^2 + q) for |dt| = 0, 1, 2 and the ring squares q of
    ``RING_SQUARES``; 0 at the centre."""
    weights = np.zeros((3, len(kernels.RING_SQUARES)))
    for a in range(3):
        for index, q in enumerate(kernels.RING_SQUARES):
            d2 = (a * tau) ** 2 + q
            weights[a, index] = 0.0 if d2 == 0 else 1.0 / math.sqrt(d2)
    weights.flags.writeable = False
    return weights


def nearest_steps(frames: int, tau: float) -> np.ndarray:
    """(T,) float64: (d tau)^2, the squared temporal term of d token-frames in patch units."""
    return np.array([(d * tau) ** 2 for d in range(frames)], np.float64)


def clip_metrics(
    masks: np.ndarray,
    names: Sequence[str],
    patch_size: int,
    tubelet_size: int,
    temporal_step: float,
) -> dict[str, np.ndarray]:
    """Every requested metric of validated clips, computed by the kernels (any T >= 1).

    Args:
        masks: (N, T, H, W) bool, True = masked (checked by the caller; clips without a
            visible token give NaN distances).
        names: metric names (``VIDEO_METRIC_NAMES``).
        patch_size: p, pixels per patch side.
        tubelet_size: frames per token.
        temporal_step: px between consecutive token-frames.

    Returns:
        name -> (N, T, H, W) float32 per token (NaN on visible) or (N,) float32 (avgdist).
    """
    n, frames, height, width = masks.shape
    size = frames * height * width
    flat = masks.reshape(n, size)
    tau = temporal_step / patch_size
    frame_px = temporal_step / tubelet_size
    outputs = {
        name: np.empty((n, size), np.float32)
        for name in names
        if REGISTRY[name].per_patch and name != "p2dist"
    }
    pixels = "p2dist" in names or "avgdist" in names
    p2dist = np.empty((n if "p2dist" in names else 0, size), np.float32)
    avgdist = np.empty(n if "avgdist" in names else 0, np.float64)
    weights = invdist5_weights(tau) if "invdist5" in names else None
    steps = nearest_steps(frames, tau) if "nearest" in names else None

    def kernel(first: int, last: int) -> None:
        if "density3" in outputs:
            kernels.density3_range(flat, first, last, frames, height, width, outputs["density3"])
        if "invdist5" in outputs:
            kernels.invdist5_range(
                flat, first, last, frames, height, width, weights, outputs["invdist5"]
            )
        if "nearest" in outputs:
            kernels.nearest_range(
                flat, first, last, frames, height, width, steps, outputs["nearest"]
            )
        if "temporal" in outputs:
            kernels.temporal_range(
                flat, first, last, frames, height, width, tubelet_size, outputs["temporal"]
            )
        if pixels:
            setting = (patch_size, tubelet_size, frame_px, frames)
            memo = _MEMO_POOL.take(setting)
            try:
                kernels.pixel_range(
                    flat, first, last, frames, height, width, patch_size, tubelet_size,
                    frame_px, *memo, p2dist, avgdist,
                )  # fmt: skip
            finally:
                _MEMO_POOL.give(setting, memo)

    # A clip is about T images of work: threads pay off from a few clips on.
    run_rows(kernel, n, 4, 4 if pixels or "nearest" in names else 64)
    values: dict[str, np.ndarray] = {
        name: out.reshape(n, frames, height, width) for name, out in outputs.items()
    }
    if "p2dist" in names:
        values["p2dist"] = p2dist.reshape(n, frames, height, width)
    if "avgdist" in names:
        values["avgdist"] = avgdist.astype(np.float32)
    return {name: values[name] for name in names}
