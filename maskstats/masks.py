"""Mask generators (MAE random, BEiT block-wise, SimMIM) and ``as_masks``, the one place that
validates and normalises masks users pass in.

Convention (MAE, SimMIM, BEiT, Hugging Face ViTMAE): boolean, True = masked (removed),
False = visible. A batch is (N, H, W) on the patch grid, or (N, L) with ``grid=(H, W)``,
row-major like MAE's patchify.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from maskstats import _torch_bridge
from maskstats._mask_kernels import block_masks_range

if TYPE_CHECKING:
    from maskstats.controlled import AchievableRange

SeedLike = int | np.random.Generator | None
GridLike = int | tuple[int, int]

STRATEGIES = ("random", "block", "simmim")


@dataclass(frozen=True)
class MaskBatch:
    """Validated masks plus what is needed to hand results back in the caller's layout.

    Attributes:
        masks: (N, H, W) bool, True = masked.
        flat: the caller passed (N, L); per-patch results go back as (N, L).
        device: torch device of the caller's tensor, or None for numpy input.
    """

    masks: np.ndarray
    flat: bool
    device: Any

    def restore(self, values: np.ndarray) -> Any:
        """Return per-patch (N, H, W) or per-mask (N,) ``values`` in the caller's layout/type."""
        if self.flat and values.ndim == 3:
            values = values.reshape(values.shape[0], -1)
        if self.device is not None:
            return _torch_bridge.numpy_to_tensor(values, self.device)
        return values


def as_grid(grid: GridLike) -> tuple[int, int]:
    """Normalise ``grid`` (an int for square grids, or (H, W)) to a pair of positive ints."""
    if isinstance(grid, (int, np.integer)) and not isinstance(grid, bool):
        pair = (int(grid), int(grid))
    elif isinstance(grid, (tuple, list)) and len(grid) == 2:
        pair = (int(grid[0]), int(grid[1]))
    else:
        raise ValueError(f"grid must be an int or a pair (H, W) of ints, got {grid!r}")
    if pair[0] < 1 or pair[1] < 1:
        raise ValueError(f"grid must be positive, got {pair}")
    return pair


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
    device = None
    if _torch_bridge.is_tensor(masks):
        masks, device = _torch_bridge.tensor_to_numpy(masks)
    elif not isinstance(masks, np.ndarray):
        if isinstance(masks, (list, tuple)):
            masks = np.asarray(masks)
        else:
            raise TypeError(
                f"masks must be a numpy array or torch tensor, got {type(masks).__name__}"
            )
    if masks.dtype.kind not in "biuf":
        raise TypeError(f"masks must be bool or 0/1 numbers, got dtype {masks.dtype}")
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
    if masks.dtype != np.bool_:
        binary = (masks == 0) | (masks == 1)
        if not binary.all():
            bad = masks[~binary].flat[0]
            raise ValueError(f"masks must hold only 0/1 or True/False, found {bad}")
        masks = masks != 0
    return MaskBatch(np.ascontiguousarray(masks), flat, device)


def _rng(seed: SeedLike) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def mae_num_masked(num_patches: int, mask_ratio: float) -> int:
    """Masked patches per sample in MAE: L - int(L * (1 - mask_ratio))."""
    return num_patches - int(num_patches * (1 - mask_ratio))


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
        noise = _rng(seed).random((int(n), num_patches))
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
    from maskstats.metrics._parallel import run_rows  # maskstats.metrics imports this module

    seeds = _rng(seed).integers(0, 2**31 - 1, size=int(n), dtype=np.int64)
    out = np.zeros((int(n), height, width), dtype=bool)
    log_lo, log_hi = math.log(min_aspect), math.log(max_aspect)

    def kernel(first: int, last: int) -> None:
        block_masks_range(
            seeds, first, last, target, float(min_num_patches), max(1, max_num_patches),
            log_lo, log_hi, out,
        )  # fmt: skip

    run_rows(kernel, int(n), 64, 64)
    return out


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
    order = np.argsort(_rng(seed).random((int(n), cells)), axis=1)
    cell_masks = np.zeros((int(n), cells), dtype=bool)
    np.put_along_axis(cell_masks, order[:, :mask_count], True, axis=1)
    scale = mask_patch_size // model_patch_size
    cell_masks = cell_masks.reshape(int(n), cells_h, cells_w)
    return cell_masks.repeat(scale, axis=1).repeat(scale, axis=2)


def difficulty_masks(
    n: int,
    grid: GridLike,
    mask_ratio: float,
    patch_size: int = 16,
    target_avgdist: float | None = None,
    target_p2dist: float | None = None,
    tol: float = 0.02,
    seed: SeedLike = None,
) -> np.ndarray:
    """Masks at an exact mask ratio whose AvgDist (or mean P²Dist) is within ±tol (relative)
    of a target; see :func:`maskstats.controlled.difficulty_masks` (it measures what it makes,
    so it lives above the metrics).

    Returns:
        (N, H, W) bool, True = masked.
    """
    from maskstats.controlled import difficulty_masks as make

    return make(n, grid, mask_ratio, patch_size, target_avgdist, target_p2dist, tol, seed)


def achievable_range(
    grid: GridLike, mask_ratio: float, patch_size: int = 16, method: str = "auto"
) -> AchievableRange:
    """Lowest and highest AvgDist (pixels) at this ratio, exact or a bound found by search;
    see :func:`maskstats.controlled.achievable_range`.

    Returns:
        The same :class:`maskstats.controlled.AchievableRange` object (unpacks as
        ``low, high``).
    """
    from maskstats.controlled import achievable_range as compute_range

    return compute_range(grid, mask_ratio, patch_size, method)


def generate(
    strategy: str,
    n: int,
    img_size: GridLike,
    patch_size: int,
    mask_ratio: float,
    seed: SeedLike = None,
    mask_patch_size: int = 32,
    **kwargs: Any,
) -> np.ndarray:
    """Make N masks of one strategy ("random", "block", "simmim") for an image and patch size.

    Args:
        strategy: one of ``STRATEGIES``, or "difficulty" with target_avgdist or target_p2dist
            (and optionally tol) in ``kwargs``.
        n: number of masks.
        img_size: image size in pixels, int or (H, W).
        patch_size: model patch size in pixels.
        mask_ratio: in [0, 1).
        seed: int, numpy Generator, or None.
        mask_patch_size: SimMIM's masking cell in pixels (simmim only).

    Returns:
        (N, H, W) bool, True = masked, on the model's patch grid.
    """
    grid = grid_from_image(img_size, patch_size)
    if strategy == "random":
        return random_masks(n, grid, mask_ratio, seed=seed)
    if strategy == "block":
        return block_masks(n, grid, mask_ratio, seed=seed, **kwargs)
    if strategy == "simmim":
        return simmim_masks(n, img_size, mask_patch_size, patch_size, mask_ratio, seed=seed)
    if strategy == "difficulty":
        if kwargs.get("target_avgdist") is None and kwargs.get("target_p2dist") is None:
            raise ValueError("strategy 'difficulty' needs target_avgdist or target_p2dist")
        return difficulty_masks(n, grid, mask_ratio, patch_size, seed=seed, **kwargs)
    raise ValueError(
        f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)} or difficulty"
    )
