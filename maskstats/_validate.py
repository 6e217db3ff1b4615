"""What every room uses: validation and normalisation of what users pass in (masks, grids,
ratios, patch sizes, seeds), and the numpy <-> torch bridge. Errors are raised here, where
input enters, not deep in the kernels.

Convention (MAE, SimMIM, BEiT, Hugging Face ViTMAE): boolean, True = masked (removed),
False = visible. A batch is (N, H, W) on the patch grid, or (N, L) with ``grid=(H, W)``,
row-major like MAE's patchify.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np

SeedLike = int | np.random.Generator | None
"""A seed: an int, a ``numpy.random.Generator`` (used as it is) or None (fresh entropy)."""
GridLike = int | tuple[int, int]
"""A patch grid: ``H`` for a square ``H x H`` grid, or ``(H, W)``."""


@dataclass(frozen=True)
class MaskBatch:
    """Validated masks plus what is needed to hand results back in the caller's layout.

    Attributes:
        masks: (N, H, W) bool, True = masked; or clips (N, T, H, W).
        flat: the caller passed (N, L); per-patch results go back as (N, L).
        device: torch device of the caller's tensor, or None for numpy input.
    """

    masks: np.ndarray
    flat: bool
    device: Any

    def restore(self, values: np.ndarray) -> Any:
        """Return per-patch (N, H, W) (clips: (N, T, H, W)) or per-mask (N,) ``values`` in
        the caller's layout and type."""
        if self.flat and values.ndim == self.masks.ndim:
            values = values.reshape(values.shape[0], -1)
        if self.device is not None:
            return numpy_to_tensor(values, self.device)
        return values


MAX_SQUARED_EXTENT = 2**31 - 2
"""Largest H**2 + W**2 a mask grid may have: the distance kernels hold squared patch
distances (up to H**2 + W**2 + 1) in int32."""


def _is_int(value: Any) -> TypeGuard[int | np.integer]:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def as_grid(grid: GridLike) -> tuple[int, int]:
    """Normalise ``grid`` (an int for square grids, or (H, W)) to a pair of positive ints.

    Raises:
        ValueError: anything but whole numbers (``(6.9, 7.2)`` is refused, not truncated), or a
            side below 1.
    """
    if _is_int(grid):
        pair = (int(grid), int(grid))
    elif isinstance(grid, (tuple, list)) and len(grid) == 2 and all(map(_is_int, grid)):
        pair = (int(grid[0]), int(grid[1]))
    else:
        raise ValueError(f"grid must be an int or a pair (H, W) of ints, got {grid!r}")
    if pair[0] < 1 or pair[1] < 1:
        raise ValueError(f"grid must be positive, got {pair}")
    return pair


def check_count(n: Any, name: str = "n") -> int:
    """Return the number of masks ``n`` as int; raise unless it is a whole number >= 0.

    ``n=1.5`` or ``n=True`` is refused rather than truncated to 1.
    """
    if not _is_int(n):
        raise TypeError(f"{name} must be a whole number of masks, got {n!r}")
    if int(n) < 0:
        raise ValueError(f"{name} must be >= 0, got {n}")
    return int(n)


def check_grid_extent(height: int, width: int) -> None:
    """Refuse grids whose squared patch distances would overflow the int32 distance kernels
    (H**2 + W**2 > ``MAX_SQUARED_EXTENT``: sides of 46,341 on a 1-wide grid, 32,768 square)."""
    if height * height + width * width > MAX_SQUARED_EXTENT:
        raise ValueError(
            f"grid {height}x{width} is too large: H^2 + W^2 must be at most {MAX_SQUARED_EXTENT} "
            "(squared patch distances are int32)"
        )


def check_mask_ratio(mask_ratio: float) -> float:
    """Return ``mask_ratio`` as float; raise ValueError unless 0 <= mask_ratio < 1."""
    ratio = float(mask_ratio)
    if not (0.0 <= ratio < 1.0):
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    return ratio


def check_patch_size(patch_size: int) -> int:
    """Return ``patch_size`` as int; raise unless it is a whole number from 1 to 1024."""
    if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)):
        raise TypeError(f"patch_size must be an int (pixels per patch side), got {patch_size!r}")
    if not 1 <= int(patch_size) <= 1024:
        raise ValueError(f"patch_size must be from 1 to 1024 pixels, got {patch_size}")
    return int(patch_size)


def grid_from_image(img_size: GridLike, patch_size: int) -> tuple[int, int]:
    """Patch grid (H, W) for an image of ``img_size`` pixels; raise if it does not divide."""
    height, width = as_grid(img_size)
    patch_size = check_patch_size(patch_size)
    if height % patch_size or width % patch_size:
        raise ValueError(f"img_size {height}x{width} is not divisible by patch_size {patch_size}")
    return height // patch_size, width // patch_size


def as_masks(masks: Any, grid: GridLike | None = None) -> np.ndarray:
    """Validate user masks and return them as a numpy (N, H, W) bool array.

    Args:
        masks: (N, H, W) or (N, L) array-like (numpy or torch), bool or 0/1, True = masked.
        grid: (H, W) of the patch grid; required for (N, L) input.

    Returns:
        (N, H, W) bool, True = masked. CPU torch tensors and bool numpy arrays are not copied.
    """
    return as_mask_batch(masks, grid).masks


def as_mask_batch(masks: Any, grid: GridLike | None = None) -> MaskBatch:
    """Like :func:`as_masks`, but also remember the caller's layout and device."""
    masks, device = _mask_array(masks)
    flat = masks.ndim == 2
    if flat:
        if grid is None:
            raise ValueError(
                f"masks of shape {masks.shape} are (N, L): pass grid=(H, W) "
                "(a single mask goes in as (1, H, W))"
            )
        height, width = as_grid(grid)
        if height * width != masks.shape[1]:
            raise ValueError(
                f"grid {height}x{width} has {height * width} patches but masks have "
                f"L={masks.shape[1]}"
            )
        masks = masks.reshape(masks.shape[0], height, width)
    elif masks.ndim == 3:
        if grid is not None and as_grid(grid) != masks.shape[1:]:
            raise ValueError(f"grid {as_grid(grid)} does not match masks of shape {masks.shape}")
    else:
        raise ValueError(f"masks must be (N, H, W) or (N, L), got shape {masks.shape}")
    if masks.shape[1] < 1 or masks.shape[2] < 1:
        raise ValueError(f"masks must have a non-empty grid, got shape {masks.shape}")
    check_grid_extent(masks.shape[1], masks.shape[2])
    return MaskBatch(_as_bool(masks), flat, device)


def _mask_array(masks: Any) -> tuple[np.ndarray, Any]:
    """(numpy array, torch device or None) of masks passed as an array, tensor or list."""
    device = None
    if is_tensor(masks):
        masks, device = tensor_to_numpy(masks)
    elif not isinstance(masks, np.ndarray):
        if isinstance(masks, (list, tuple)):
            masks = np.asarray(masks)
        else:
            raise TypeError(
                f"masks must be a numpy array or torch tensor, got {type(masks).__name__}"
            )
    if masks.dtype.kind not in "biuf":
        raise TypeError(f"masks must be bool or 0/1 numbers, got dtype {masks.dtype}")
    return masks, device


def _as_bool(masks: np.ndarray) -> np.ndarray:
    """Contiguous bool masks from bool or 0/1 numbers (bool arrays are not copied)."""
    if masks.dtype != np.bool_:
        binary = (masks == 0) | (masks == 1)
        if not binary.all():
            bad = masks[~binary].flat[0]
            raise ValueError(f"masks must hold only 0/1 or True/False, found {bad}")
        masks = masks != 0
    return np.ascontiguousarray(masks)


def as_rng(seed: SeedLike) -> np.random.Generator:
    """A numpy Generator from an int seed, None (fresh entropy) or a Generator (used as is)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def mae_num_masked(num_patches: int, mask_ratio: float) -> int:
    """Masked patches per sample in MAE: L - int(L * (1 - mask_ratio))."""
    return num_patches - int(num_patches * (1 - mask_ratio))


# --------------------------------------------------------------------------- numpy <-> torch
# Torch is only touched when the caller already passed a tensor, so ``import maskstats``
# never imports torch.


def is_tensor(obj: Any) -> bool:
    """True when ``obj`` is a torch.Tensor (checked without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def tensor_to_numpy(tensor: Any) -> tuple[np.ndarray, Any]:
    """Return (array, device). CPU tensors are shared, not copied, except in dtypes numpy
    lacks (bfloat16, float8): those are converted to float32 (0/1 stay exact)."""
    device = tensor.device
    cpu = tensor.detach().cpu()
    try:
        return cpu.numpy(), device
    except TypeError:  # "Got unsupported ScalarType BFloat16"
        return cpu.float().numpy(), device


def numpy_to_tensor(array: np.ndarray, device: Any) -> Any:
    """Wrap ``array`` as a tensor on ``device`` (no copy on the CPU)."""
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor if device.type == "cpu" else tensor.to(device)


# --------------------------------------------------------------------------- video grids
# Video masks live on the token grid (T, H, W), T = frames // tubelet_size, flattened in
# (t, h, w) order as VideoMAE and Hugging Face's VideoMAEForPreTraining do.

VideoGridLike = tuple[int, int, int]
MAX_VIDEO_FRAMES = 4096
"""Largest T a video mask grid may have (token-frames)."""


def is_video_grid(grid: Any) -> TypeGuard[tuple[int, int, int]]:
    """True when ``grid`` is a (T, H, W) triple (not yet validated)."""
    return isinstance(grid, (tuple, list)) and len(grid) == 3


def as_video_grid(grid: Any) -> VideoGridLike:
    """Normalise a video token grid (T, H, W) to a triple of positive ints.

    Raises:
        ValueError: anything but three whole numbers, a side below 1, or T above
            ``MAX_VIDEO_FRAMES``.
    """
    if not (is_video_grid(grid) and all(map(_is_int, grid))):
        raise ValueError(f"a video grid must be (T, H, W) of ints, got {grid!r}")
    triple = (int(grid[0]), int(grid[1]), int(grid[2]))
    if min(triple) < 1:
        raise ValueError(f"video grid must be positive, got {triple}")
    if triple[0] > MAX_VIDEO_FRAMES:
        raise ValueError(f"video grid has T = {triple[0]} token-frames; at most {MAX_VIDEO_FRAMES}")
    check_grid_extent(triple[1], triple[2])
    return triple


def check_tubelet_size(tubelet_size: Any) -> int:
    """Return ``tubelet_size`` (frames per token, VideoMAE: 2) as int; raise unless 1..256."""
    if not _is_int(tubelet_size):
        raise TypeError(f"tubelet_size must be an int (frames per token), got {tubelet_size!r}")
    if not 1 <= int(tubelet_size) <= 256:
        raise ValueError(f"tubelet_size must be from 1 to 256 frames, got {tubelet_size}")
    return int(tubelet_size)


def video_grid(
    frames: Any, tubelet_size: Any, img_size: GridLike, patch_size: int
) -> VideoGridLike:
    """Token grid (T, H, W) of a clip: T = frames // tubelet_size, (H, W) from the image size.

    Raises:
        ValueError: frames not a positive multiple of tubelet_size, or an image size that the
            patch size does not divide (one line).
    """
    tubelet_size = check_tubelet_size(tubelet_size)
    if not _is_int(frames) or int(frames) < 1:
        raise ValueError(f"frames must be a positive whole number, got {frames!r}")
    if int(frames) % tubelet_size:
        raise ValueError(
            f"frames ({frames}) must be a multiple of tubelet_size ({tubelet_size}): "
            "VideoMAE's patch embedding covers tubelet_size frames per token"
        )
    height, width = grid_from_image(img_size, patch_size)
    return as_video_grid((int(frames) // tubelet_size, height, width))


def check_temporal_step(temporal_step: Any, patch_size: int) -> float:
    """Pixels between the centres of two consecutive token-frames (one tubelet apart): a
    finite number > 0, or None for the default ``patch_size`` (a token counts as a cube)."""
    if temporal_step is None:
        return float(patch_size)
    if isinstance(temporal_step, (bool, np.bool_)) or not isinstance(
        temporal_step, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"temporal_step must be a number of pixels, got {temporal_step!r}")
    value = float(temporal_step)
    if not (np.isfinite(value) and 0 < value <= 1e6):
        raise ValueError(f"temporal_step must be in (0, 1e6] pixels, got {temporal_step!r}")
    return value


def mask_ndim(masks: Any) -> int:
    """Number of dimensions of masks as passed (numpy, torch or nested lists)."""
    ndim = getattr(masks, "ndim", None)
    return int(ndim) if ndim is not None else np.ndim(masks)


def is_video_input(masks: Any, grid: Any = None) -> bool:
    """Whether masks go down the video path: (N, T, H, W), or (N, L) with a (T, H, W) grid."""
    return mask_ndim(masks) == 4 or is_video_grid(grid)


def as_video_batch(masks: Any, grid: Any = None) -> MaskBatch:
    """Validate video masks: (N, T, H, W), or (N, L) with ``grid=(T, H, W)`` (token order
    (t, h, w), as VideoMAE's ``bool_masked_pos``); numpy or torch, bool or 0/1, True = masked.

    Returns:
        A :class:`MaskBatch` with (N, T, H, W) bool masks (CPU tensors and bool arrays are
        not copied).
    """
    masks, device = _mask_array(masks)
    flat = masks.ndim == 2
    if flat:
        if grid is None or not is_video_grid(grid):
            raise ValueError(f"video masks of shape {masks.shape} are (N, L): pass grid=(T, H, W)")
        frames, height, width = as_video_grid(grid)
        if frames * height * width != masks.shape[1]:
            raise ValueError(
                f"grid {frames}x{height}x{width} has {frames * height * width} tokens but masks "
                f"have L={masks.shape[1]}"
            )
        masks = masks.reshape(masks.shape[0], frames, height, width)
    elif masks.ndim == 4:
        shape = tuple(int(s) for s in masks.shape[1:])
        if min(shape) >= 1:
            as_video_grid(shape)  # T, H, W within the kernels' limits
        if grid is not None and as_video_grid(grid) != shape:
            raise ValueError(
                f"grid {as_video_grid(grid)} does not match masks of shape {masks.shape}"
            )
    else:
        raise ValueError(
            f"video masks must be (N, T, H, W) or (N, L) with grid=(T, H, W), got shape "
            f"{masks.shape}"
        )
    if min(masks.shape[1:]) < 1:
        raise ValueError(f"masks must have a non-empty grid, got shape {masks.shape}")
    return MaskBatch(_as_bool(masks), flat, device)


def as_video_masks(masks: Any, grid: Any = None) -> np.ndarray:
    """Like :func:`as_video_batch`, returning the (N, T, H, W) bool array alone."""
    return as_video_batch(masks, grid).masks
