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


# --------------------------------------------------------------------------- clips
# The spatio-temporal forms on (N, T, H, W) clips, True = masked, with at least one visible
# token per clip for the distance metrics; tau = temporal_step / patch_size patches between
# token-frames, frames temporal_step / tubelet_size px apart (maskstats.metrics.video).


def video_density3_weights() -> np.ndarray:
    """(3, 3, 3) float64: 1 on the 26 neighbours, 0 at the centre."""
    weights = np.ones((3, 3, 3))
    weights[1, 1, 1] = 0.0
    return weights


def video_invdist5_weights(tau: float) -> np.ndarray:
    """(5, 5, 5) float64: 1 / sqrt((dt tau)^2 + dy^2 + dx^2); 0 at the centre."""
    offsets = np.arange(-2, 3)
    dt, dy, dx = np.meshgrid(offsets * tau, offsets, offsets, indexing="ij")
    dist = np.sqrt(dt**2 + dy**2 + dx**2)
    with np.errstate(divide="ignore"):
        weights = 1.0 / dist
    weights[2, 2, 2] = 0.0
    return weights


def _video_window(clips: np.ndarray, weights: np.ndarray) -> np.ndarray:
    visible = (~clips).astype(np.float64)
    total = ndimage.correlate(visible, weights[None], mode="constant", cval=0.0)
    return np.where(clips, total, np.nan).astype(np.float32)


def video_density3(clips: np.ndarray) -> np.ndarray:
    """(N, T, H, W) float32: visible tokens among the 26 neighbours; NaN on visible."""
    return _video_window(clips, video_density3_weights())


def video_invdist5(clips: np.ndarray, tau: float) -> np.ndarray:
    """(N, T, H, W) float32: sum of 1/d over visible tokens of the 5x5x5 window."""
    return _video_window(clips, video_invdist5_weights(tau))


def video_nearest(clips: np.ndarray, tau: float) -> np.ndarray:
    """(N, T, H, W) float32: per clip, scipy EDT on the token grid with sampling (tau, 1, 1)."""
    out = np.empty(clips.shape, np.float32)
    for k, clip in enumerate(clips):
        edt = ndimage.distance_transform_edt(clip, sampling=(tau, 1.0, 1.0))
        out[k] = np.where(clip, edt, np.nan)
    return out


def voxel_distance(
    clip: np.ndarray, patch_size: int, tubelet_size: int, frame_px: float
) -> np.ndarray:
    """(T ts, H p, W p) float64: scipy EDT of one clip upsampled to voxels, frames
    ``frame_px`` px apart (distance to the nearest visible voxel, px; 0 on visible voxels)."""
    block = np.ones((tubelet_size, patch_size, patch_size), dtype=bool)
    voxels = np.kron(clip, block)
    return ndimage.distance_transform_edt(voxels, sampling=(frame_px, 1.0, 1.0))


def video_p2dist_avgdist(
    clips: np.ndarray, patch_size: int, tubelet_size: int, frame_px: float
) -> tuple[np.ndarray, np.ndarray]:
    """One scipy EDT per clip on its voxels, for both pixel metrics.

    Returns:
        p2dist (N, T, H, W) float32 (mean voxel EDT over a token's voxels / patch_size; NaN
        on visible) and avgdist (N,) float64 (mean voxel EDT over the masked voxels, px).
    """
    n, frames, height, width = clips.shape
    p, ts = patch_size, tubelet_size
    p2 = np.empty(clips.shape, np.float32)
    avg = np.empty(n, np.float64)
    for k, clip in enumerate(clips):
        sums = voxel_distance(clip, p, ts, frame_px).reshape(frames, ts, height, p, width, p)
        sums = sums.sum(axis=(1, 3, 5))
        p2[k] = np.where(clip, sums / (ts * p * p * p), np.nan)
        count = clip.sum()
        avg[k] = sums[clip].sum() / (count * ts * p * p) if count else np.nan
    return p2, avg


def video_temporal(clips: np.ndarray, tubelet_size: int) -> np.ndarray:
    """(N, T, H, W) float32: brute force, frames |t - t'| * tubelet_size to the nearest
    token-frame where the same position is visible; inf if none; NaN on visible."""
    n, frames = clips.shape[:2]
    out = np.full(clips.shape, np.inf, np.float32)
    for t in range(frames):
        for other in range(frames):
            gap = np.float32(abs(t - other) * tubelet_size)
            seen = ~clips[:, other] & clips[:, t]
            out[:, t] = np.where(seen, np.minimum(out[:, t], gap), out[:, t])
    return np.where(clips, out, np.nan).astype(np.float32)


def video_references(
    clips: np.ndarray, patch_size: int, tubelet_size: int, temporal_step: float
) -> dict[str, np.ndarray]:
    """Every clip metric from the oracles above, by name."""
    tau = temporal_step / patch_size
    p2, avg = video_p2dist_avgdist(clips, patch_size, tubelet_size, temporal_step / tubelet_size)
    return {
        "density3": video_density3(clips),
        "invdist5": video_invdist5(clips, tau),
        "nearest": video_nearest(clips, tau),
        "p2dist": p2,
        "avgdist": avg,
        "temporal": video_temporal(clips, tubelet_size),
    }
