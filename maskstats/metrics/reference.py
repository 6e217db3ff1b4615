"""Slow, obviously correct numpy/scipy versions of the metrics: the oracles for tests and the
baselines for benchmarks, not the product.

All take ``masks`` as (N, H, W) bool, True = masked, with at least one visible patch per mask
for the distance metrics.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def density3_weights() -> np.ndarray:
    """(3, 3) float64: 1 on the 8 neighbours, 0 at the centre."""
    weights = np.ones((3, 3))
    weights[1, 1] = 0.0
    return weights


def density3(masks: np.ndarray) -> np.ndarray:
    """(N, H, W) float32: visible 8-neighbours (scipy correlate, zero outside); NaN on visible."""
    visible = (~masks).astype(np.float64)
    count = ndimage.correlate(visible, density3_weights()[None], mode="constant", cval=0.0)
    return np.where(masks, count, np.nan).astype(np.float32)


def invdist5_weights() -> np.ndarray:
    """(5, 5) float64: 1/d to the centre, d in patch units; 0 at the centre."""
    offsets = np.arange(-2, 3)
    dist = np.hypot(offsets[:, None], offsets[None, :])
    with np.errstate(divide="ignore"):
        weights = 1.0 / dist
    weights[2, 2] = 0.0
    return weights


def invdist5(masks: np.ndarray) -> np.ndarray:
    """(N, H, W) float32: sum of 1/d over visible patches in the 5x5 window; NaN on visible."""
    visible = (~masks).astype(np.float64)
    total = ndimage.correlate(visible, invdist5_weights()[None], mode="constant", cval=0.0)
    return np.where(masks, total, np.nan).astype(np.float32)


def nearest(masks: np.ndarray) -> np.ndarray:
    """(N, H, W) float32: per mask, scipy EDT on the patch grid; NaN on visible."""
    out = np.empty(masks.shape, np.float32)
    for k, mask in enumerate(masks):
        out[k] = np.where(mask, ndimage.distance_transform_edt(mask), np.nan)
    return out


def pixel_distance(mask: np.ndarray, patch_size: int) -> np.ndarray:
    """(H p, W p) float64: scipy EDT of one mask upsampled to pixels (distance to nearest
    visible pixel, in pixels; 0 on visible pixels)."""
    pixels = np.kron(mask, np.ones((patch_size, patch_size), dtype=bool))
    return ndimage.distance_transform_edt(pixels)


def p2dist_avgdist(masks: np.ndarray, patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """One scipy EDT per mask on the upsampled image, for both pixel metrics.

    Returns:
        p2dist (N, H, W) float32 (per masked patch, mean pixel EDT over its pixels /
        patch_size; NaN on visible) and avgdist (N,) float64 (mean pixel EDT over the masked
        pixels, in pixels; NaN with nothing masked).
    """
    n, height, width = masks.shape
    p2 = np.empty(masks.shape, np.float32)
    avg = np.empty(n, np.float64)
    for k, mask in enumerate(masks):
        sums = pixel_distance(mask, patch_size).reshape(height, patch_size, width, patch_size)
        sums = sums.sum(axis=(1, 3))
        p2[k] = np.where(mask, sums / patch_size**3, np.nan)
        count = mask.sum()
        avg[k] = sums[mask].sum() / (count * patch_size**2) if count else np.nan
    return p2, avg


def p2dist(masks: np.ndarray, patch_size: int) -> np.ndarray:
    """(N, H, W) float32: per masked patch, mean pixel EDT over its pixels / patch_size."""
    return p2dist_avgdist(masks, patch_size)[0]


def avgdist(masks: np.ndarray, patch_size: int) -> np.ndarray:
    """(N,) float64: mean pixel EDT over the masked pixels of each mask, in pixels."""
    return p2dist_avgdist(masks, patch_size)[1]


REFERENCES = {
    "density3": lambda masks, patch_size: density3(masks),
    "invdist5": lambda masks, patch_size: invdist5(masks),
    "nearest": lambda masks, patch_size: nearest(masks),
    "p2dist": p2dist,
    "avgdist": avgdist,
}
