"""Difficulty metrics of masked patches and masks, and their registry.

Per-patch metrics return (N, H, W) float32 with NaN on visible patches ((N, L) when the masks
came in as (N, L); a torch tensor on the input's device when a tensor came in). ``avgdist``
returns (N,) float32. Distances are Euclidean between centres; pixel distances count as
scipy.ndimage.distance_transform_edt does (4-adjacent pixels are at distance 1).

How :func:`compute` dispatches: (N, H, W) masks, or (N, L) with ``grid=(H, W)``, go to the
image kernels, unchanged. Clips, (N, T, H, W) or (N, L) with ``grid=(T, H, W)`` (token order
(t, h, w), VideoMAE's ``bool_masked_pos``), get the spatio-temporal forms of
:mod:`maskstats.metrics.video` (``tubelet_size``, ``temporal_step``); a clip of T = 1 goes to
the image kernels, so it gives today's numbers bit for bit. The temporal gap ("temporal") is
defined on clips; asked of images it treats them as clips of one token-frame.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, cast, overload

import numpy as np

from maskstats._parallel import ScratchPool, run_rows
from maskstats._validate import (
    GridLike,
    MaskBatch,
    VideoGridLike,
    as_mask_batch,
    as_video_batch,
    check_patch_size,
    check_temporal_step,
    check_tubelet_size,
    is_video_input,
)
from maskstats.metrics.registry import (
    METRIC_NAMES,
    PATCH_METRICS,
    REGISTRY,
    VIDEO_METRIC_NAMES,
    Metric,
)

if TYPE_CHECKING:
    import torch

ON_EMPTY = ("raise", "nan")


def _new_memo(patch_size: object) -> tuple[np.ndarray, np.ndarray]:
    """An empty patch-sum memo (keys -1) for :func:`distance_kernels.mask_distance_total`."""
    from maskstats.metrics import distance_kernels

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
    """Forget the p2dist/avgdist patch-sum memos (1 MiB per thread and patch size; about as
    much for clips). Results never depend on them; only the time of the next call does."""
    from maskstats.metrics import video

    _MEMO_POOL.clear()
    video.clear_memo()


def _check_empty(masks: np.ndarray, on_empty: str) -> None:
    if on_empty == "raise":
        cells = int(np.prod(masks.shape[1:]))
        empty = np.flatnonzero(masks.reshape(masks.shape[0], cells).all(axis=1))
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
    # The numba kernels load at the first call, not with this package (maskstats --help).
    from maskstats.metrics import _window_kernels, distance_kernels

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


def _names(names: str | Iterable[str] | None, default: tuple[str, ...] = METRIC_NAMES) -> tuple:
    if names is None:
        return default
    names = (names,) if isinstance(names, str) else tuple(names)
    unknown = [name for name in names if name not in REGISTRY]
    if unknown or not names:
        raise ValueError(
            f"unknown metric(s) {unknown or names}; expected names from "
            f"{', '.join(VIDEO_METRIC_NAMES)}"
        )
    return names


def _compute_clips_numpy(
    clips: np.ndarray,
    names: tuple[str, ...],
    patch_size: int,
    tubelet_size: int,
    temporal_step: float,
    on_empty: str,
) -> dict[str, np.ndarray]:
    """All requested metrics of validated (N, T, H, W) clips: T = 1 through the image kernels
    (bit for bit today's numbers), T > 1 through :mod:`maskstats.metrics.video`."""
    from maskstats.metrics import video

    if on_empty not in ON_EMPTY:
        raise ValueError(f"on_empty must be one of {ON_EMPTY}, got {on_empty!r}")
    if any(REGISTRY[name].needs_visible for name in names):
        _check_empty(clips, on_empty)
    n, frames, height, width = clips.shape
    if frames > 1:
        return video.clip_metrics(clips, names, patch_size, tubelet_size, temporal_step)
    image = tuple(name for name in names if name != "temporal")
    values = _compute_numpy(clips[:, 0], image, patch_size, on_empty) if image else {}
    values = {k: v[:, None] if v.ndim == 3 else v for k, v in values.items()}
    if "temporal" in names:
        values.update(video.clip_metrics(clips, ("temporal",), patch_size, tubelet_size, 1.0))
    return {name: values[name] for name in names}


def _compute_clips(
    masks: MaskLike,
    names: str | Iterable[str] | None,
    patch_size: int,
    grid: GridLike | VideoGridLike | None,
    on_empty: str,
    tubelet_size: int,
    temporal_step: float | None,
) -> dict[str, ArrayLike]:
    """:func:`compute` for clips, and for images asked for the temporal gap."""
    patch_size = check_patch_size(patch_size)
    tubelet_size = check_tubelet_size(tubelet_size)
    temporal_step = check_temporal_step(temporal_step, patch_size)
    if is_video_input(masks, grid):
        batch = as_video_batch(masks, grid)
        clips, restore = batch.masks, batch.restore
        names = _names(names, VIDEO_METRIC_NAMES)
    else:  # images asked for "temporal": clips of one token-frame
        image_batch = as_mask_batch(masks, cast("GridLike | None", grid))
        clips = image_batch.masks[:, None]

        def restore(values: np.ndarray) -> Any:
            return image_batch.restore(values[:, 0] if values.ndim == 4 else values)

        names = _names(names)
    values = _compute_clips_numpy(clips, names, patch_size, tubelet_size, temporal_step, on_empty)
    return {name: restore(value) for name, value in values.items()}


MaskLike: TypeAlias = "np.ndarray | torch.Tensor | Sequence"
"""Masks as users pass them: (N, H, W) or (N, L) bool or 0/1, numpy or torch, True = masked."""
ArrayLike: TypeAlias = "np.ndarray | torch.Tensor"
"""A result: a numpy array, or a torch tensor on the input's device when a tensor came in."""


@overload
def compute(
    masks: np.ndarray | Sequence[Any],
    names: str | Iterable[str] | None = ...,
    patch_size: int = ...,
    grid: GridLike | VideoGridLike | None = ...,
    on_empty: str = ...,
    *,
    tubelet_size: int = ...,
    temporal_step: float | None = ...,
) -> dict[str, np.ndarray]: ...
@overload
def compute(
    masks: torch.Tensor,
    names: str | Iterable[str] | None = ...,
    patch_size: int = ...,
    grid: GridLike | VideoGridLike | None = ...,
    on_empty: str = ...,
    *,
    tubelet_size: int = ...,
    temporal_step: float | None = ...,
) -> dict[str, torch.Tensor]: ...
def compute(
    masks: MaskLike,
    names: str | Iterable[str] | None = None,
    patch_size: int = 16,
    grid: GridLike | VideoGridLike | None = None,
    on_empty: str = "raise",
    *,
    tubelet_size: int = 2,
    temporal_step: float | None = None,
) -> dict[str, Any]:
    """Several metrics at once (the pixel kernel runs once for p2dist and avgdist).

    Args:
        masks: (N, H, W) or (N, L) bool or 0/1, numpy or torch, True = masked; or clips
            (N, T, H, W), or (N, L) with ``grid=(T, H, W)`` (see the module docstring).
        names: metric names (default: ``METRIC_NAMES``; for clips ``VIDEO_METRIC_NAMES``,
            which adds the temporal gap).
        patch_size: pixels per patch side (used by p2dist and avgdist; clips: also the
            default ``temporal_step``).
        grid: (H, W) or (T, H, W), required for (N, L) masks.
        on_empty: "raise" (ValueError naming the masks with no visible patch) or "nan".
        tubelet_size: clips only: frames per token (VideoMAE: 2).
        temporal_step: clips only: pixels between the centres of consecutive token-frames
            (None: ``patch_size``, a token counts as a cube); frames lie
            ``temporal_step / tubelet_size`` px apart.

    Returns:
        name -> per-patch (N, H, W) float32 (NaN on visible; (N, L) for (N, L) input) or
        per-mask (N,) float32; (N, T, H, W) per token for clips; torch tensors on the input's
        device when a tensor came in.

    Examples:
        A 3 x 3 grid with only the centre visible, 2 px patches. An edge patch's pixels are 1, 1, 2
        and 2 px from the centre patch (P²Dist 1.5 / 2); a corner's sqrt 2, sqrt 5, sqrt 5 and
        sqrt 8 px (P²Dist 1.089).

        >>> import numpy as np
        >>> from maskstats.metrics import compute
        >>> masks = np.ones((1, 3, 3), dtype=bool)
        >>> masks[0, 1, 1] = False
        >>> values = compute(masks, patch_size=2)
        >>> sorted(values)
        ['avgdist', 'density3', 'invdist5', 'nearest', 'p2dist']
        >>> np.round(values["p2dist"][0].astype(float), 3).tolist()
        [[1.089, 0.75, 1.089], [0.75, nan, 0.75], [1.089, 0.75, 1.089]]
        >>> values["avgdist"].shape, round(float(values["avgdist"][0]), 3)  # 2 * mean P²Dist
        ((1,), 1.839)
    """
    if names is not None and not isinstance(names, str):
        names = tuple(names)
    if is_video_input(masks, grid) or (names is not None and "temporal" in names):
        return _compute_clips(masks, names, patch_size, grid, on_empty, tubelet_size, temporal_step)
    batch: MaskBatch = as_mask_batch(masks, cast("GridLike | None", grid))  # not a clip
    patch_size = check_patch_size(patch_size)
    values = _compute_numpy(batch.masks, _names(names), patch_size, on_empty)
    return {name: batch.restore(value) for name, value in values.items()}


def _one(
    name: str,
    masks: MaskLike,
    patch_size: int,
    grid: GridLike | None,
    on_empty: str,
    tubelet_size: int,
    temporal_step: float | None,
) -> ArrayLike:
    """One metric through :func:`compute` (the public per-metric functions)."""
    clip = compute(
        masks,
        name,
        patch_size,
        grid,
        on_empty,
        tubelet_size=tubelet_size,
        temporal_step=temporal_step,
    )
    return clip[name]


def density3(
    masks: MaskLike,
    patch_size: int = 16,
    grid: GridLike | None = None,
    on_empty: str = "raise",
    *,
    tubelet_size: int = 2,
    temporal_step: float | None = None,
) -> ArrayLike:
    """Number of Patches in 3x3: visible patches among the 8 neighbours of a masked patch
    (outside the grid counts as not visible).

    Args:
        masks: (N, H, W) or (N, L) bool or 0/1, numpy or torch, True = masked.
        patch_size: unused; the same signature as the other metrics.
        grid: (H, W) of the patch grid, required for (N, L) masks.
        on_empty: checked for a valid value only; window metrics are defined without a
            visible patch (all zero).
        tubelet_size: clips only: frames per token (see :func:`compute`).
        temporal_step: clips only: px between consecutive token-frames (None: patch_size).

    Returns:
        (N, H, W) float32 in 0..8, NaN on visible patches. Higher = easier. Clips: the 26
        neighbours of the 3x3x3 window, (N, T, H, W) in 0..26.

    Examples:
        >>> import numpy as np
        >>> from maskstats.metrics import density3
        >>> masks = np.ones((1, 3, 3), dtype=bool)
        >>> masks[0, 1, 1] = False  # every masked patch has the centre as its one visible neighbour
        >>> density3(masks)[0].tolist()
        [[1.0, 1.0, 1.0], [1.0, nan, 1.0], [1.0, 1.0, 1.0]]
    """
    return _one("density3", masks, patch_size, grid, on_empty, tubelet_size, temporal_step)


def invdist5(
    masks: MaskLike,
    patch_size: int = 16,
    grid: GridLike | None = None,
    on_empty: str = "raise",
    *,
    tubelet_size: int = 2,
    temporal_step: float | None = None,
) -> ArrayLike:
    """Sum of Patch Distance in 5x5: sum of 1/d over the visible patches of the 5x5 window,
    d the centre distance in patch units (1, sqrt 2, 2, sqrt 5, 2 sqrt 2); centre excluded.

    Args:
        masks: (N, H, W) or (N, L) bool or 0/1, numpy or torch, True = masked.
        patch_size: unused; the same signature as the other metrics.
        grid: (H, W) of the patch grid, required for (N, L) masks.
        on_empty: checked for a valid value only; window metrics are defined without a
            visible patch (all zero).
        tubelet_size: clips only: frames per token (see :func:`compute`).
        temporal_step: clips only: px between consecutive token-frames (None: patch_size).

    Returns:
        (N, H, W) float32 in 1/patch, NaN on visible patches. Higher = easier. Clips: the
        5x5x5 window, d = sqrt((dt tau)^2 + dy^2 + dx^2), tau = temporal_step / patch_size.

    Examples:
        >>> import numpy as np
        >>> from maskstats.metrics import invdist5
        >>> masks = np.ones((1, 3, 3), dtype=bool)
        >>> masks[0, 1, 1] = False  # the centre is 1 away from an edge patch, sqrt 2 from a corner
        >>> np.round(invdist5(masks)[0].astype(float), 3).tolist()
        [[0.707, 1.0, 0.707], [1.0, nan, 1.0], [0.707, 1.0, 0.707]]
    """
    return _one("invdist5", masks, patch_size, grid, on_empty, tubelet_size, temporal_step)


def nearest(
    masks: MaskLike,
    patch_size: int = 16,
    grid: GridLike | None = None,
    on_empty: str = "raise",
    *,
    tubelet_size: int = 2,
    temporal_step: float | None = None,
) -> ArrayLike:
    """Nearest Patch Distance: centre distance to the nearest visible patch's centre.

    Args:
        masks: (N, H, W) or (N, L) bool or 0/1, numpy or torch, True = masked.
        patch_size: unused; the same signature as the other metrics.
        grid: (H, W) of the patch grid, required for (N, L) masks.
        on_empty: a mask with no visible patch: "raise" (ValueError naming it) or "nan".
        tubelet_size: clips only: frames per token (see :func:`compute`).
        temporal_step: clips only: px between consecutive token-frames (None: patch_size).

    Returns:
        (N, H, W) float32 in patch units (>= 1), NaN on visible patches. Higher = harder.

    Examples:
        >>> import numpy as np
        >>> from maskstats.metrics import nearest
        >>> masks = np.ones((1, 3, 3), dtype=bool)
        >>> masks[0, 1, 1] = False
        >>> np.round(nearest(masks)[0].astype(float), 3).tolist()
        [[1.414, 1.0, 1.414], [1.0, nan, 1.0], [1.414, 1.0, 1.414]]
        >>> nearest(masks.reshape(1, 9), grid=(3, 3)).shape  # (N, L) in, (N, L) out
        (1, 9)
    """
    return _one("nearest", masks, patch_size, grid, on_empty, tubelet_size, temporal_step)


def p2dist(
    masks: MaskLike,
    patch_size: int = 16,
    grid: GridLike | None = None,
    on_empty: str = "raise",
    *,
    tubelet_size: int = 2,
    temporal_step: float | None = None,
) -> ArrayLike:
    """P²Dist: mean over a masked patch's pixels of the distance to the nearest visible pixel
    (pixels, as scipy's EDT counts), divided by ``patch_size``.

    Args:
        masks: (N, H, W) or (N, L) bool or 0/1, numpy or torch, True = masked.
        patch_size: pixels per patch side.
        grid: (H, W) of the patch grid, required for (N, L) masks.
        on_empty: a mask with no visible patch: "raise" (ValueError naming it) or "nan".
        tubelet_size: clips only: frames per token (see :func:`compute`).
        temporal_step: clips only: px between consecutive token-frames (None: patch_size).

    Returns:
        (N, H, W) float32 in patch units, NaN on visible patches. Higher = harder.

    Examples:
        With 1 px patches P²Dist is the nearest distance; with 2 px patches an edge patch's four
        pixels are 1, 1, 2, 2 px from the centre patch: 1.5 px, 0.75 patch.

        >>> import numpy as np
        >>> from maskstats.metrics import p2dist
        >>> masks = np.ones((1, 3, 3), dtype=bool)
        >>> masks[0, 1, 1] = False
        >>> np.round(p2dist(masks, patch_size=1)[0].astype(float), 3).tolist()
        [[1.414, 1.0, 1.414], [1.0, nan, 1.0], [1.414, 1.0, 1.414]]
        >>> round(float(p2dist(masks, patch_size=2)[0, 0, 1]), 3)
        0.75
    """
    return _one("p2dist", masks, patch_size, grid, on_empty, tubelet_size, temporal_step)


def avgdist(
    masks: MaskLike,
    patch_size: int = 16,
    grid: GridLike | None = None,
    on_empty: str = "raise",
    *,
    tubelet_size: int = 2,
    temporal_step: float | None = None,
) -> ArrayLike:
    """SimMIM's AvgDist: mean over a mask's masked pixels of the distance to the nearest
    visible pixel. Equals ``patch_size`` times the mean p2dist over the masked patches.

    Args:
        masks: (N, H, W) or (N, L) bool or 0/1, numpy or torch, True = masked.
        patch_size: pixels per patch side.
        grid: (H, W) of the patch grid, required for (N, L) masks.
        on_empty: a mask with no visible patch: "raise" (ValueError naming it) or "nan".
        tubelet_size: clips only: frames per token (see :func:`compute`).
        temporal_step: clips only: px between consecutive token-frames (None: patch_size).

    Returns:
        (N,) float32 in pixels; NaN for a mask with nothing masked. Higher = harder.

    Examples:
        >>> import numpy as np
        >>> from maskstats.metrics import avgdist
        >>> masks = np.ones((1, 3, 3), dtype=bool)
        >>> masks[0, 1, 1] = False  # 1 px patches: four pixels at 1, four at sqrt 2
        >>> round(float(avgdist(masks, patch_size=1)[0]), 3)  # (4 + 4 sqrt 2) / 8
        1.207
    """
    return _one("avgdist", masks, patch_size, grid, on_empty, tubelet_size, temporal_step)


def temporal(masks: MaskLike, grid: GridLike | None = None, *, tubelet_size: int = 2) -> ArrayLike:
    """Temporal gap: frames from a masked token to the nearest visible token at the same
    spatial position, |t - t'| * tubelet_size.

    Args:
        masks: clips (N, T, H, W), or (N, L) with ``grid=(T, H, W)``; bool or 0/1, numpy or
            torch, True = masked. Images (N, H, W) count as clips of one token-frame.
        grid: (T, H, W), required for (N, L) masks.
        tubelet_size: frames per token (VideoMAE: 2).

    Returns:
        (N, T, H, W) float32 in frames (tubelet_size, 2 tubelet_size, ...); +inf where the
        position is masked in every token-frame (every masked token of a tube mask); NaN on
        visible tokens. Higher = harder.
    """
    return compute(masks, "temporal", 16, grid, tubelet_size=tubelet_size)["temporal"]


def per_frame(
    masks: MaskLike,
    names: str | Iterable[str] | None = None,
    patch_size: int = 16,
    grid: GridLike | None = None,
    on_empty: str = "raise",
) -> dict[str, ArrayLike]:
    """The image metrics of every token-frame of clips on its own (spatial difficulty: what a
    frame shows, ignoring the other frames).

    Args:
        masks: clips (N, T, H, W), or (N, L) with ``grid=(T, H, W)``, True = masked.
        names: image metric names (default ``METRIC_NAMES``).
        patch_size: pixels per patch side.
        grid: (T, H, W), required for (N, L) masks.
        on_empty: a frame with no visible patch: "raise" or "nan".

    Returns:
        name -> (N, T, H, W) per token ((N, L) for (N, L) input) or (N, T) per frame
        (avgdist), float32.
    """
    batch = as_video_batch(masks, grid)
    n, frames, height, width = batch.masks.shape
    names = _names(names)
    if "temporal" in names:
        raise ValueError("per_frame gives the image metrics; the temporal gap needs compute()")
    values = compute(
        batch.masks.reshape(n * frames, height, width), names, patch_size, None, on_empty
    )  # numpy in, numpy out
    shaped = {
        name: value.reshape(n, frames, height, width)
        if value.ndim == 3
        else value.reshape(n, frames)
        for name, value in values.items()
    }
    return {name: batch.restore(value) for name, value in shaped.items()}


__all__ = [
    "METRIC_NAMES",
    "PATCH_METRICS",
    "VIDEO_METRIC_NAMES",
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
    "per_frame",
    "temporal",
]
