"""What an MAE reconstructs, in pixels: the arithmetic behind the reconstruction figures
(patchify / unpatchify, per-patch de-normalisation for ``norm_pix_loss``, visible patches pasted
back, MAE's per-patch loss, per-image Spearman of difficulty against loss). numpy only: it takes
what any MAE returns (Hugging Face ``outputs.logits``, facebook MAE ``pred``, maskstats' trainer)
as numpy arrays or tensors, and imports no torch.

Conventions: images (N, C, H, W) as the model sees them (normalised); patches row-major with
(row, column, channel) order inside a patch, as MAE's and Hugging Face's patchify; masks
(N, L) bool, True = masked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""ImageNet's per-channel mean (see ``IMAGENET_STD``)."""
IMAGENET_STD = (0.229, 0.224, 0.225)
"""ImageNet's per-channel mean and std: what MAE, Hugging Face's ViTMAE processor and
maskstats' data normalise with."""
NORM_PIX_EPS = 1.0e-6
"""MAE's norm_pix_loss: (t - mean) / sqrt(var + eps), var unbiased."""


def as_array(value: Any, dtype: Any = None) -> np.ndarray:
    """A numpy copy-free view of a numpy array or a (CPU or CUDA) torch tensor (detached)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without torch
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
        value = value.numpy()
    array = np.asarray(value)
    return array if dtype is None else array.astype(dtype, copy=False)


def patchify(images: np.ndarray, patch_size: int) -> np.ndarray:
    """MAE's patchify: (N, C, H*p, W*p) -> (N, H*W, p*p*C).

    Args:
        images: (N, C, H*p, W*p) pixels.
        patch_size: p, pixels per patch side.

    Returns:
        (N, L, p*p*C), a pure rearrangement (no arithmetic).
    """
    n, c, height, width = images.shape
    p = int(patch_size)
    if height % p or width % p:
        raise ValueError(f"image {height}x{width} is not divisible by patch_size {p}")
    h, w = height // p, width // p
    x = images.reshape(n, c, h, p, w, p).transpose(0, 2, 4, 3, 5, 1)
    return x.reshape(n, h * w, p * p * c)


def unpatchify(patches: np.ndarray, patch_size: int, grid: tuple[int, int], channels: int):
    """Inverse of :func:`patchify`: (N, H*W, p*p*C) -> (N, C, H*p, W*p)."""
    n = patches.shape[0]
    p = int(patch_size)
    h, w = grid
    if patches.shape[1:] != (h * w, p * p * channels):
        raise ValueError(
            f"patches of shape {patches.shape[1:]} do not fit a {h}x{w} grid of {p} px patches "
            f"with {channels} channels"
        )
    x = patches.reshape(n, h, w, p, p, channels).transpose(0, 5, 1, 3, 2, 4)
    return x.reshape(n, channels, h * p, w * p)


def patch_stats(target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-patch mean and unbiased variance over the p*p*C values, as MAE's norm_pix_loss.

    Args:
        target: (N, L, P).

    Returns:
        mean (N, L, 1), var (N, L, 1).
    """
    mean = target.mean(axis=-1, keepdims=True)
    var = target.var(axis=-1, ddof=1, keepdims=True)
    return mean, var


def normalized_targets(target: np.ndarray) -> np.ndarray:
    """MAE's norm_pix_loss target: (t - mean) / sqrt(var + 1e-6) per patch; (N, L, P)."""
    mean, var = patch_stats(target)
    return (target - mean) / np.sqrt(var + NORM_PIX_EPS)


def patch_loss(images: Any, pred: Any, patch_size: int, norm_pix_loss: bool = False) -> np.ndarray:
    """MAE's per-patch loss (what ``maskstats.torch.mae_patch_loss`` computes), in float64.

    Args:
        images: (N, C, H, W) model-input pixels.
        pred: (N, L, p*p*C) predicted patches.
        patch_size: p.
        norm_pix_loss: the target is each patch normalised by its mean and variance.

    Returns:
        (N, L) mean squared error over each patch's p*p*C values, every patch.
    """
    target = patchify(as_array(images, np.float64), patch_size)
    if norm_pix_loss:
        target = normalized_targets(target)
    return ((as_array(pred, np.float64) - target) ** 2).mean(axis=-1)


def predicted_pixels(
    images: Any, pred: Any, patch_size: int, norm_pix_loss: bool = False
) -> np.ndarray:
    """The prediction in pixels: with ``norm_pix_loss`` each predicted patch is de-normalised
    with its target's mean and variance (pred * sqrt(var + 1e-6) + mean), as MAE's demo does.

    Returns:
        (N, L, p*p*C) float64 model-input pixels.
    """
    pred = as_array(pred, np.float64)
    if not norm_pix_loss:
        return pred
    mean, var = patch_stats(patchify(as_array(images, np.float64), patch_size))
    return pred * np.sqrt(var + NORM_PIX_EPS) + mean


def reconstruct(
    images: Any,
    mask: Any,
    pred: Any,
    patch_size: int,
    norm_pix_loss: bool = False,
    decoded: Any = None,
) -> np.ndarray:
    """The reconstruction with the visible patches pasted back.

    Args:
        images: (N, C, H, W) model-input pixels.
        mask: (N, L) bool, True = masked.
        pred: (N, L, p*p*C) predicted patches (values at visible patches are ignored).
        patch_size: p.
        norm_pix_loss: the model predicts normalised patches (de-normalised here).
        decoded: (N, L) bool, True = masked patch the decoder predicted (default: every masked
            patch); masked patches it did not predict (decoder masking) come back NaN.

    Returns:
        (N, C, H, W) float64: the original pixels exactly on visible patches, the de-normalised
        prediction on decoded masked patches, NaN on dropped ones.
    """
    images = as_array(images, np.float64)
    n, channels, height, width = images.shape
    grid = (height // patch_size, width // patch_size)
    mask = _flat(mask, n)
    target = patchify(images, patch_size)
    pixels = predicted_pixels(images, pred, patch_size, norm_pix_loss)
    if pixels.shape != target.shape:
        raise ValueError(f"pred {pixels.shape} does not match the images' patches {target.shape}")
    keep = mask if decoded is None else mask & _flat(decoded, n)
    out = np.where(mask[..., None], np.nan, target)
    out = np.where(keep[..., None], pixels, out)
    return unpatchify(out, patch_size, grid, channels)


def _flat(mask: Any, n: int) -> np.ndarray:
    flat = as_array(mask).reshape(n, -1)
    return flat if flat.dtype == np.bool_ else flat != 0


def to_display(
    images: Any,
    mean: Any = IMAGENET_MEAN,
    std: Any = IMAGENET_STD,
) -> np.ndarray:
    """Undo the input normalisation for display: x * std + mean per channel, clipped to [0, 1].

    Args:
        images: (N, C, H, W) model-input pixels (NaN stays NaN).
        mean: per-channel mean (C values, or one); None: the images are already in [0, 1].
        std: per-channel std, as ``mean``.

    Returns:
        (N, H, W, C) float64 in [0, 1] (C = 1 or 3).
    """
    x = as_array(images, np.float64)
    if mean is not None:
        channels = x.shape[1]
        m = np.broadcast_to(np.asarray(mean, np.float64).ravel(), (channels,))
        s = np.broadcast_to(np.asarray(std, np.float64).ravel(), (channels,))
        x = x * s[None, :, None, None] + m[None, :, None, None]
    return np.clip(x, 0.0, 1.0).transpose(0, 2, 3, 1)


def spearman_rows(difficulty: np.ndarray, loss: np.ndarray, select: np.ndarray) -> np.ndarray:
    """Per row, the Spearman rank correlation of ``difficulty`` against ``loss`` over the
    selected entries (ties share a rank, as scipy's); NaN where fewer than 3 entries are selected
    or either side is constant.

    Args:
        difficulty: (N, L), oriented higher = harder.
        loss: (N, L).
        select: (N, L) bool, e.g. the masked patches the decoder predicted.

    Returns:
        (N,) float64.
    """
    from scipy import stats

    out = np.full(len(difficulty), np.nan)
    for i, (d, loss_row, row) in enumerate(zip(difficulty, loss, select, strict=True)):
        row = row & np.isfinite(d) & np.isfinite(loss_row)
        x, y = d[row], loss_row[row]
        if x.size >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            out[i] = float(stats.spearmanr(x, y).statistic)
    return out


@dataclass
class Reconstructions:
    """Everything the reconstruction figures draw, one entry per row (image).

    Attributes:
        original: (N, H, W, C) display pixels in [0, 1].
        masked_input: (N, H, W, C): the original with masked patches grey (0.5).
        reconstruction: (N, H, W, C): visible patches pasted back; NaN on dropped patches.
        mask: (N, h, w) bool, True = masked (h, w: the patch grid).
        dropped: (N, h, w) bool, masked patches the decoder did not predict.
        loss: (N, h, w) per-patch loss on the predicted masked patches, NaN elsewhere.
        difficulty: (N, h, w) the metric's own values on masked patches, NaN elsewhere (None:
            no metric).
        weights: (N, h, w) loss weights on masked patches, NaN elsewhere (None: not given).
        spearman: (N,) Spearman of the oriented difficulty against the loss over each row's
            predicted masked patches (NaN without a metric).
        scored: (N,) how many patches each Spearman is over.
        patch_size: p in pixels.
        metric: the difficulty metric's name (None: no metric).
        norm_pix_loss: the loss is on per-patch normalised pixels.
    """

    original: np.ndarray
    masked_input: np.ndarray
    reconstruction: np.ndarray
    mask: np.ndarray
    dropped: np.ndarray
    loss: np.ndarray
    difficulty: np.ndarray | None
    weights: np.ndarray | None
    spearman: np.ndarray
    scored: np.ndarray
    patch_size: int
    metric: str | None
    norm_pix_loss: bool

    def __len__(self) -> int:
        return len(self.original)

    def select(self, rows: Any) -> Reconstructions:
        """The same arrays for the rows ``rows`` (an index, a slice or a list)."""
        picked = {}
        for name, value in vars(self).items():
            picked[name] = value[rows] if isinstance(value, np.ndarray) else value
        return Reconstructions(**picked)


def reconstructions(
    images: Any,
    mask: Any,
    pred: Any,
    patch_size: int,
    norm_pix_loss: bool = False,
    *,
    metric: str | None = None,
    difficulty: Any = None,
    loss: Any = None,
    weights: Any = None,
    decoder_keep: Any = None,
    mean: Any = IMAGENET_MEAN,
    std: Any = IMAGENET_STD,
) -> Reconstructions:
    """The arrays of the reconstruction figures from what an MAE returns.

    Args:
        images: (N, C, H, W) model-input pixels (e.g. ImageNet-normalised).
        mask: (N, L) or (N, h, w), bool or 0/1, True = masked.
        pred: (N, L, p*p*C) predicted patches (HF ``outputs.logits``, facebook MAE ``pred``).
        patch_size: p in pixels.
        norm_pix_loss: the model predicts per-patch normalised pixels.
        metric: difficulty metric (``maskstats.metrics.PATCH_METRICS``) for the difficulty map
            and the Spearman; None: neither.
        difficulty: (N, L) the metric's values, if already computed (else computed from the
            mask).
        loss: (N, L) per-patch loss, if already computed (else MAE's, :func:`patch_loss`).
        weights: (N, L) loss weights (None: no weight map).
        decoder_keep: (N, L) bool, True = masked patch the decoder predicted (default: all).
        mean: per-channel normalisation mean to undo for display (None: images in [0, 1]).
        std: per-channel normalisation std.

    Returns:
        :class:`Reconstructions`.
    """
    from maskstats.metrics import REGISTRY, compute

    images = as_array(images, np.float64)
    n, _, height, width = images.shape
    p = int(patch_size)
    grid = (height // p, width // p)
    flat = _flat(mask, n)
    if flat.shape[1] != grid[0] * grid[1]:
        raise ValueError(f"mask has {flat.shape[1]} patches, the images {grid[0] * grid[1]}")
    keep = flat if decoder_keep is None else flat & _flat(decoder_keep, n)
    recon = reconstruct(images, flat, pred, p, norm_pix_loss, keep)
    if loss is None:
        loss = patch_loss(images, pred, p, norm_pix_loss)
    loss = np.where(keep, as_array(loss, np.float64).reshape(n, -1), np.nan)
    pixel_mask = np.repeat(np.repeat(flat.reshape(n, *grid), p, axis=1), p, axis=2)
    masked_input = np.where(pixel_mask[:, None], np.nan, images)
    original = to_display(images, mean, std)
    shown_input = to_display(masked_input, mean, std)
    shown_input[np.isnan(shown_input)] = 0.5
    values = None
    spearman = np.full(n, np.nan)
    if metric is not None:
        if difficulty is None:
            difficulty = compute(flat.reshape(n, *grid), metric, p)[metric]
        values = np.where(flat, as_array(difficulty, np.float64).reshape(n, -1), np.nan)
        spearman = spearman_rows(REGISTRY[metric].difficulty(values), loss, keep)
    if weights is not None:
        weights = np.where(flat, as_array(weights, np.float64).reshape(n, -1), np.nan)

    def cells(x: np.ndarray) -> np.ndarray:
        return x.reshape(n, *grid)

    def maybe_cells(x: np.ndarray | None) -> np.ndarray | None:
        return None if x is None else cells(x)

    return Reconstructions(
        original=original,
        masked_input=shown_input,
        reconstruction=to_display(recon, mean, std),
        mask=cells(flat),
        dropped=cells(flat & ~keep),
        loss=cells(loss),
        difficulty=maybe_cells(values),
        weights=maybe_cells(weights),
        spearman=spearman,
        scored=(keep & np.isfinite(loss)).sum(axis=1),
        patch_size=p,
        metric=metric,
        norm_pix_loss=bool(norm_pix_loss),
    )
