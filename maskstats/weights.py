"""Difficulty -> per-patch loss weights (Difficulty-Flatten, inverse, none) and decoder-mask
selection. Numpy only: computed from the mask on the CPU, next to the numba kernels.

Difficulty here is always oriented higher = harder (``Metric.difficulty``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from maskstats.metrics import REGISTRY, compute

WEIGHTINGS = ("none", "flatten", "inverse")
DIFFICULTY_METRICS = ("density3", "invdist5", "nearest", "p2dist")


@dataclass(frozen=True)
class Binning:
    """Fixed bin edges over a metric's oriented difficulty (higher = harder).

    Attributes:
        edges: increasing edges; values below the first or above the last fall into the
            first or last bin.
    """

    edges: np.ndarray

    @property
    def num_bins(self) -> int:
        return len(self.edges) - 1

    def assign(self, difficulty: np.ndarray) -> np.ndarray:
        """Bin index (0 .. num_bins - 1) of every value."""
        index = np.searchsorted(self.edges, difficulty, side="right") - 1
        return np.clip(index, 0, self.num_bins - 1)

    def centres(self) -> np.ndarray:
        return (self.edges[:-1] + self.edges[1:]) / 2


def default_binning(metric: str) -> Binning:
    """Fixed edges per metric, on the oriented difficulty:

    - density3: its 9 values, one bin each (difficulty = -count, from -8 to 0);
    - invdist5: 14 bins of width 1 over -14 .. 0 (the 5x5 sum is at most 13.8);
    - nearest: edges between its first distinct values 1, sqrt 2, 2, sqrt 5, sqrt 8, 3, then
      4, 5, 6 and above;
    - p2dist: 0.25-patch bins from 0 to 4, then one bin above.
    """
    if metric == "density3":
        edges = np.arange(-8.5, 0.6, 1.0)
    elif metric == "invdist5":
        edges = np.arange(-14.0, 0.01, 1.0)
    elif metric == "nearest":
        edges = np.array([0.9, 1.2, 1.7, 2.1, 2.5, 2.9, 3.5, 4.5, 5.5, 6.5, np.inf])
    elif metric == "p2dist":
        edges = np.append(np.arange(0.0, 4.01, 0.25), np.inf)
    else:
        raise ValueError(f"no difficulty binning for {metric!r}; expected {DIFFICULTY_METRICS}")
    return Binning(edges)


def patch_difficulty(masks: np.ndarray, metric: str, patch_size: int) -> np.ndarray:
    """(N, H, W) float32 difficulty of every masked patch, oriented higher = harder; NaN on
    visible patches.

    Args:
        masks: (N, H, W) bool, True = masked.
    """
    if metric not in DIFFICULTY_METRICS:
        raise ValueError(f"metric must be one of {DIFFICULTY_METRICS}, got {metric!r}")
    values = compute(masks, metric, patch_size)[metric]
    return REGISTRY[metric].difficulty(values)


def flatten_weights(difficulty: np.ndarray, binning: Binning, alpha: float = 1.0) -> np.ndarray:
    """Difficulty-Flatten: weight each patch by count(its bin)^(-alpha), counts over all the
    given patches (the batch), normalised to mean 1.

    alpha = 1 gives every non-empty bin the same total weight; alpha = 0 gives plain MAE.

    Args:
        difficulty: (M,) oriented difficulty of the batch's masked patches (finite).

    Returns:
        (M,) float32 weights, mean 1 (empty input gives an empty array).
    """
    difficulty = np.asarray(difficulty, dtype=np.float64).ravel()
    if difficulty.size == 0:
        return np.zeros(0, np.float32)
    bins = binning.assign(difficulty)
    counts = np.bincount(bins, minlength=binning.num_bins).astype(np.float64)
    weights = counts[bins] ** (-float(alpha))
    return (weights / weights.mean()).astype(np.float32)


def inverse_weights(difficulty: np.ndarray, binning: Binning, gamma: float = 1.0) -> np.ndarray:
    """Weight falling with difficulty: (0.1 + h)^(-gamma), h the difficulty's position in the
    binning's finite range scaled to [0, 1], normalised to mean 1.

    Args:
        difficulty: (M,) oriented difficulty (finite).

    Returns:
        (M,) float32 weights, mean 1.
    """
    difficulty = np.asarray(difficulty, dtype=np.float64).ravel()
    if difficulty.size == 0:
        return np.zeros(0, np.float32)
    finite = binning.edges[np.isfinite(binning.edges)]
    lo, hi = finite[0], finite[-1]
    hardness = np.clip((difficulty - lo) / (hi - lo), 0.0, 1.0)
    weights = (0.1 + hardness) ** (-float(gamma))
    return (weights / weights.mean()).astype(np.float32)


def patch_weights(
    difficulty: np.ndarray, weighting: str, binning: Binning | None, alpha: float, gamma: float
) -> np.ndarray:
    """Dispatch on ``weighting`` ("none", "flatten", "inverse"); (M,) float32, mean 1."""
    if weighting == "none" or binning is None:
        return np.ones(np.asarray(difficulty).size, np.float32)
    if weighting == "flatten":
        return flatten_weights(difficulty, binning, alpha)
    if weighting == "inverse":
        return inverse_weights(difficulty, binning, gamma)
    raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")


def decoder_keep(
    masks: np.ndarray, difficulty: np.ndarray, decoder_mask_ratio: float, rng: np.random.Generator
) -> np.ndarray:
    """Decoder masking: per sample, drop the floor(q * n_masked) hardest masked patches (ties
    broken at random); visible patches are always kept.

    Args:
        masks: (N, H, W) or (N, L) bool, True = masked.
        difficulty: same shape, oriented difficulty on masked patches (NaN elsewhere).
        decoder_mask_ratio: q in [0, 1).
        rng: numpy Generator for the tie-breaks.

    Returns:
        (N, L) bool, True = masked patch that still reaches the decoder and the loss.
    """
    if not 0.0 <= decoder_mask_ratio < 1.0:
        raise ValueError(f"decoder_mask_ratio must be in [0, 1), got {decoder_mask_ratio}")
    n = masks.shape[0]
    flat_masks = masks.reshape(n, -1)
    flat_difficulty = np.where(flat_masks, difficulty.reshape(n, -1), -np.inf)
    n_masked = flat_masks.sum(axis=1)
    n_drop = np.floor(decoder_mask_ratio * n_masked).astype(np.int64)
    tie_break = rng.random(flat_masks.shape)
    # Hardest first: sort by difficulty descending, random among equals.
    order = np.lexsort((tie_break, -flat_difficulty), axis=-1)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(flat_masks.shape[1])[None], axis=1)
    return flat_masks & (rank >= n_drop[:, None])
