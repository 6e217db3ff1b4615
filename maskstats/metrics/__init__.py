"""Difficulty metrics of masked patches and masks, and their registry.

Per-patch metrics return (N, H, W) float32 with NaN on visible patches ((N, L) when the masks
came in as (N, L); a torch tensor on the input's device when a tensor came in). ``avgdist``
returns (N,) float32. Distances are Euclidean between centres; pixel distances count as
scipy.ndimage.distance_transform_edt does (4-adjacent pixels are at distance 1).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

from maskstats._parallel import ScratchPool, run_rows
from maskstats._validate import GridLike, MaskBatch, as_mask_batch, check_patch_size
from maskstats.metrics import _window_kernels, distance_kernels
from maskstats.metrics.registry import METRIC_NAMES, PATCH_METRICS, REGISTRY, Metric

if TYPE_CHECKING:
    import torch

ON_EMPTY = ("raise", "nan")


def _new_memo(patch_size: object) -> tuple[np.ndarray, np.ndarray]:
    """An empty patch-sum memo (keys -1) for :func:`distance_kernels.mask_distance_total`."""
    slots = 1 << distance_kernels.MEMO_BITS
    return np.full(slots, -1, np.int64), np.empty(slots, np.float64)


# Patch sums depend on the local configuration and the patch size only, so the memo of one
# call serves the next (masks of the next training batch repeat the same configurations).
_MEMO_POOL = ScratchPool(_new_memo)


@functools.lru_cache(maxsize=64)
def _no_rows(size: int) -> np.ndarray:
    """(0, size) float32: the output of a metric that was not asked for."""
    return np.empty((0, size), np.float32)


def clear_memo() -> None:
    """Forget the p2dist/avgdist patch-sum memo (1 MiB per thread and patch size). Results
    never depend on it; only the time of the next call does."""
    _MEMO_POOL.clear()


def _check_empty(masks: np.ndarray, on_empty: str) -> None:
    if on_empty == "raise":
        empty = np.flatnonzero(masks.all(axis=(1, 2)))
        if empty.size:
            shown = ", ".join(str(i) for i in empty[:10]) + (" ..." if empty.size > 10 else "")
            raise ValueError(
                f"{empty.size} mask(s) have no visible patch, so distances are undefined "
                f"(indices {shown}); choose on_empty='nan' (CLI: --on-empty nan) to get NaN"
            )


def _compute_numpy(
    masks: np.ndarray, names: tuple[str, ...], patch_size: int, on_empty: str
) -> dict[str, np.ndarray]:
    """All requested metrics for validated (N, H, W) bool masks (p2dist and avgdist share one
    kernel run)."""
    if on_empty not in ON_EMPTY:
        raise ValueError(f"on_empty must be one of {ON_EMPTY}, got {on_empty!r}")
    distances = any(REGISTRY[name].needs_visible for name in names)
    if distances:
        _check_empty(masks, on_empty)
    n, height, width = masks.shape
    size = height * width

    # Allocated here, not in the kernels: numpy asks for huge pages on large arrays.
    outputs = {name: np.empty((n, size), np.float32) for name in names if name in PATCH_METRICS}
    pixels = "p2dist" in names or "avgdist" in names
    p2dist_values = outputs.get("p2dist", _no_rows(size))
    avgdist_values = np.empty(n if "avgdist" in names else 0, np.float64)
    flat_masks = masks.reshape(n, size)
    windows = any(name in outputs for name in ("density3", "invdist5", "nearest"))
    valid = _window_kernels.window_validity(height, width) if windows else None

    def kernel(first: int, last: int) -> None:
        if "density3" in outputs:
            _window_kernels.density3_range(
                flat_masks, first, last, width, valid, outputs["density3"]
            )
        if "invdist5" in outputs:
            _window_kernels.invdist5_range(
                flat_masks, first, last, width, valid, outputs["invdist5"]
            )
        if "nearest" in outputs:
            _window_kernels.nearest_range(
                flat_masks, first, last, height, width, valid, outputs["nearest"]
            )
        if pixels:
            memo = _MEMO_POOL.take(patch_size)
            try:
                distance_kernels.pixel_range(
                    flat_masks,
                    first,
                    last,
                    height,
                    width,
                    patch_size,
                    *memo,
                    p2dist_values,
                    avgdist_values,
                )
            finally:
                _MEMO_POOL.give(patch_size, memo)

    # Waking a thread costs ~30 us: worth it for 32 masks of distance work (>= 1 us each) but
    # only for ~1000 masks of window work (~0.2 us each).
    run_rows(kernel, n, 32, 32 if distances else 1024)
    return {
        name: avgdist_values.astype(np.float32)
        if name == "avgdist"
        else outputs[name].reshape(n, height, width)
        for name in names
    }


def _names(names: str | Iterable[str] | None) -> tuple[str, ...]:
    if names is None:
        return METRIC_NAMES
    names = (names,) if isinstance(names, str) else tuple(names)
    unknown = [name for name in names if name not in REGISTRY]
    if unknown or not names:
        raise ValueError(
            f"unknown metric(s) {unknown or names}; expected names from {', '.join(METRIC_NAMES)}"
        )
    return names


MaskLike: TypeAlias = "np.ndarray | torch.Tensor | Sequence"
"""Masks as users pass them: (N, H, W) or (N, L) bool or 0/1, numpy or torch, True = masked."""
ArrayLike: TypeAlias = "np.ndarray | torch.Tensor"
"""A result: a numpy array, or a torch tensor on the input's device when a tensor came in."""


def compute(
    masks: MaskLike,
    names: str | Iterable[str] | None = None,
    patch_size: int = 16,
    grid: GridLike | None = None,
    on_empty: str = "raise",
) -> dict[str, ArrayLike]:
    """Several metrics at once (the pixel kernel runs once for p2dist and avgdist).

    Args:
        masks: (N, H, W) or (N, L) bool or 0/1, numpy or torch, True = masked.
        names: metric names (default: all of ``METRIC_NAMES``).
        patch_size: pixels per patch side (used by p2dist and avgdist).
        grid: (H, W), required for (N, L) masks.
        on_empty: "raise" (ValueError naming the masks with no visible patch) or "nan".

    Returns:
        name -> per-patch (N, H, W) float32 (NaN on visible; (N, L) for (N, L) input) or
        per-mask (N,) float32; torch tensors on the input's device when a tensor came in.
    """
    batch: MaskBatch = as_mask_batch(masks, grid)
    patch_size = check_patch_size(patch_size)
    values = _compute_numpy(batch.masks, _names(names), patch_size, on_empty)
    return {name: batch.restore(value) for name, value in values.items()}


def density3(
    masks: MaskLike, patch_size: int = 16, grid: GridLike | None = None, on_empty: str = "raise"
) -> ArrayLike:
    """Number of Patches in 3x3: visible patches among the 8 neighbours of a masked patch
    (outside the grid counts as not visible).

    Args:
        masks: (N, H, W) or (N, L) bool or 0/1, numpy or torch, True = masked.
        patch_size: unused; the same signature as the other metrics.
        grid: (H, W) of the patch grid, required for (N, L) masks.
        on_empty: checked for a valid value only; window metrics are defined without a
            visible patch (all zero).

    Returns:
        (N, H, W) float32 in 0..8, NaN on visible patches. Higher = easier.
    """
    return compute(masks, "density3", patch_size, grid, on_empty)["density3"]


def invdist5(
    masks: MaskLike, patch_size: int = 16, grid: GridLike | None = None, on_empty: str = "raise"
) -> ArrayLike:
    """Sum of Patch Distance in 5x5: sum of 1/d over the visible patches of the 5x5 window,
    d the centre distance in patch units (1, sqrt 2, 2, sqrt 5, 2 sqrt 2); centre excluded.

    Args:
        masks: (N, H, W) or (N, L) bool or 0/1, numpy or torch, True = masked.
        patch_size: unused; the same signature as the other metrics.
        grid: (H, W) of the patch grid, required for (N, L) masks.
        on_empty: checked for a valid value only; window metrics are defined without a
            visible patch (all zero).

    Returns:
        (N, H, W) float32 in 1/patch, NaN on visible patches. Higher = easier.
    """
    return compute(masks, "invdist5", patch_size, grid, on_empty)["invdist5"]


def nearest(
    masks: MaskLike, patch_size: int = 16, grid: GridLike | None = None, on_empty: str = "raise"
) -> ArrayLike:
    """Nearest Patch Distance: centre distance to the nearest visible patch's centre.

    Args:
        masks: (N, H, W) or (N, L) bool or 0/1, numpy or torch, True = masked.
        patch_size: unused; the same signature as the other metrics.
        grid: (H, W) of the patch grid, required for (N, L) masks.
        on_empty: a mask with no visible patch: "raise" (ValueError naming it) or "nan".

    Returns:
        (N, H, W) float32 in patch units (>= 1), NaN on visible patches. Higher = harder.
    """
    return compute(masks, "nearest", patch_size, grid, on_empty)["nearest"]


def p2dist(
    masks: MaskLike, patch_size: int = 16, grid: GridLike | None = None, on_empty: str = "raise"
) -> ArrayLike:
    """P²Dist: mean over a masked patch's pixels of the distance to the nearest visible pixel
    (pixels, as scipy's EDT counts), divided by ``patch_size``.

    Args:
        masks: (N, H, W) or (N, L) bool or 0/1, numpy or torch, True = masked.
        patch_size: pixels per patch side.
        grid: (H, W) of the patch grid, required for (N, L) masks.
        on_empty: a mask with no visible patch: "raise" (ValueError naming it) or "nan".

    Returns:
        (N, H, W) float32 in patch units, NaN on visible patches. Higher = harder.
    """
    return compute(masks, "p2dist", patch_size, grid, on_empty)["p2dist"]


def avgdist(
    masks: MaskLike, patch_size: int = 16, grid: GridLike | None = None, on_empty: str = "raise"
) -> ArrayLike:
    """SimMIM's AvgDist: mean over a mask's masked pixels of the distance to the nearest
    visible pixel. Equals ``patch_size`` times the mean p2dist over the masked patches.

    Args:
        masks: (N, H, W) or (N, L) bool or 0/1, numpy or torch, True = masked.
        patch_size: pixels per patch side.
        grid: (H, W) of the patch grid, required for (N, L) masks.
        on_empty: a mask with no visible patch: "raise" (ValueError naming it) or "nan".

    Returns:
        (N,) float32 in pixels; NaN for a mask with nothing masked. Higher = harder.
    """
    return compute(masks, "avgdist", patch_size, grid, on_empty)["avgdist"]


__all__ = [
    "METRIC_NAMES",
    "PATCH_METRICS",
    "ArrayLike",
    "MaskLike",
    "REGISTRY",
    "Metric",
    "avgdist",
    "clear_memo",
    "compute",
    "density3",
    "invdist5",
    "nearest",
    "p2dist",
]
