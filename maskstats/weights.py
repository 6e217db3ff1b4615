"""Difficulty -> per-patch loss weights (Difficulty-Flatten, inverse, none) and decoder-mask
selection. Numpy only (torch tensors are accepted where noted and come back on their device):
computed from the mask on the CPU, next to the numba kernels.

Two kinds of values go in:

- raw metric values, as :func:`maskstats.metrics.compute` returns them (density3 counts
  visible neighbours, so a *higher* raw density3 is *easier*), with the metric's name;
- oriented difficulty (higher = harder, ``Metric.difficulty``), as :func:`patch_difficulty`
  returns it, with ``oriented=True`` or with a :class:`Binning` built for oriented values.

Both are checked: raw density3/invdist5 values are >= 0 and oriented ones <= 0, so a mix-up
raises instead of putting every patch into one bin. NaN (the value of visible patches) raises
too: select the masked patches first, e.g. ``values[masks]``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from maskstats.metrics import PATCH_METRICS, REGISTRY, compute

WEIGHTINGS = ("none", "flatten", "inverse")
# Every per-patch metric has a difficulty binning (kept under this name for callers).
DIFFICULTY_METRICS = PATCH_METRICS


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
        """Number of bins."""
        return len(self.edges) - 1

    def assign(self, difficulty: np.ndarray) -> np.ndarray:
        """Bin index (0 .. num_bins - 1) of every value."""
        index = np.searchsorted(self.edges, difficulty, side="right") - 1
        return np.clip(index, 0, self.num_bins - 1)

    def centres(self) -> np.ndarray:
        """Bin centres (infinite where an edge is)."""
        return (self.edges[:-1] + self.edges[1:]) / 2


def default_binning(metric: str) -> Binning:
    """Fixed edges per metric, on the oriented difficulty.

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


def patch_difficulty(
    masks: Any, metric: str = "p2dist", patch_size: int = 16, grid: Any = None
) -> Any:
    """Difficulty of every masked patch, oriented higher = harder; NaN on visible patches.

    Args:
        masks: (N, H, W), or (N, L) with ``grid``, bool or 0/1, numpy or torch, True = masked.
        metric: a per-patch metric name (``DIFFICULTY_METRICS``).
        patch_size: pixels per patch side (p2dist counts pixels, then divides by it).
        grid: (H, W) of the patch grid, required for (N, L) masks.

    Returns:
        float32 in the masks' layout ((N, H, W) or (N, L)) and type (a torch tensor on the
        masks' device when a tensor came in).
    """
    if metric not in DIFFICULTY_METRICS:
        raise ValueError(f"metric must be one of {DIFFICULTY_METRICS}, got {metric!r}")
    values = compute(masks, metric, patch_size, grid=grid)[metric]
    return REGISTRY[metric].difficulty(values)


def _is_tensor(obj: Any) -> bool:
    """True for a torch.Tensor (checked without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def _numpy(obj: Any) -> np.ndarray:
    return obj.detach().cpu().numpy() if _is_tensor(obj) else np.asarray(obj)


def _finite_values(values: Any, what: str) -> np.ndarray:
    values = _numpy(values).astype(np.float64, copy=False).ravel()
    if np.isnan(values).any():
        raise ValueError(
            f"{what} holds NaN: NaN marks visible patches, which get no weight. Pass the masked "
            "patches only, e.g. values[masks] (masks True = masked) or "
            "values[~np.isnan(values)]; maskstats.torch.DifficultyWeighting does this for you"
        )
    return values


def _oriented(values: Any, metric: str | Binning, oriented: bool, what: str) -> tuple:
    """(oriented difficulty (M,) float64, Binning) from raw or oriented values."""
    values = _finite_values(values, what)
    if isinstance(metric, Binning):
        if not oriented and values.size and np.isfinite(metric.edges[-1]):
            if values.max() > metric.edges[-1]:
                raise ValueError(
                    f"{what} exceeds the binning's last edge {metric.edges[-1]:g}: a Binning "
                    "takes oriented difficulty (higher = harder); raw density3/invdist5 "
                    "values must be oriented with REGISTRY[metric].difficulty first, or pass "
                    "the metric name instead of the Binning"
                )
        return values, metric
    if metric not in DIFFICULTY_METRICS:
        raise ValueError(f"metric must be one of {DIFFICULTY_METRICS}, got {metric!r}")
    spec = REGISTRY[metric]
    if not spec.higher_is_harder and values.size:
        # Raw density3/invdist5 are counts/sums (>= 0); oriented difficulty is their negative.
        if oriented and values.max() > 0:
            raise ValueError(
                f"oriented {metric} difficulty is <= 0 (minus the raw value); got {values.max():g}"
                f": these look like raw values, pass oriented=False"
            )
        if not oriented and values.min() < 0:
            raise ValueError(
                f"raw {metric} values are >= 0; got {values.min():g}: these look like oriented "
                "difficulty (e.g. from patch_difficulty), pass oriented=True"
            )
    difficulty = values if oriented else np.asarray(spec.difficulty(values), np.float64)
    return difficulty, default_binning(metric)


def bin_counts(
    values: Any, metric: str | Binning = "p2dist", *, oriented: bool = False
) -> np.ndarray:
    """How many of the given masked patches fall into each difficulty bin.

    Sum these over processes (DDP) and pass the sum as ``counts`` to :func:`flatten_weights`
    to weight by the global batch.

    Args:
        values: (M,) values of masked patches (no NaN): raw metric values, or oriented
            difficulty with ``oriented=True`` (or with a Binning).
        metric: metric name, or a Binning over oriented difficulty.
        oriented: ``values`` are already oriented higher = harder.

    Returns:
        (num_bins,) int64 counts.
    """
    difficulty, binning = _oriented(values, metric, oriented, "values")
    return np.bincount(binning.assign(difficulty), minlength=binning.num_bins).astype(np.int64)


def flatten_weights(
    values: Any,
    metric: str | Binning = "p2dist",
    alpha: float = 1.0,
    *,
    oriented: bool = False,
    counts: np.ndarray | None = None,
) -> np.ndarray:
    """Difficulty-Flatten: weight each patch by count(its bin)^(-alpha), counts over all the
    given patches (the batch), normalised to mean 1.

    alpha = 1 gives every non-empty bin the same total weight; alpha = 0 gives plain MAE.

    Args:
        values: (M,) values of the batch's masked patches (finite; NaN raises): raw metric
            values, or oriented difficulty with ``oriented=True``.
        metric: metric name (values are oriented here), or a Binning over oriented
            difficulty (the old form: values must then be oriented).
        alpha: flattening power, >= 0.
        oriented: ``values`` are already oriented higher = harder (``patch_difficulty``).
        counts: (num_bins,) bin counts of the whole batch, e.g. summed over DDP ranks
            (:func:`bin_counts`); the weights then have mean 1 over that batch. Default: the
            counts of ``values``.

    Returns:
        (M,) float32 weights, mean 1 (empty input gives an empty array).
    """
    difficulty, binning = _oriented(values, metric, oriented, "values")
    if difficulty.size == 0:
        return np.zeros(0, np.float32)
    bins = binning.assign(difficulty)
    if counts is None:
        counts = np.bincount(bins, minlength=binning.num_bins).astype(np.float64)
        weights = counts[bins] ** (-float(alpha))
        return (weights / weights.mean()).astype(np.float32)
    counts = np.asarray(counts, np.float64)
    if counts.shape != (binning.num_bins,):
        raise ValueError(f"counts must have shape ({binning.num_bins},), got {counts.shape}")
    if (counts[bins] < 1).any():
        raise ValueError("counts must include the given patches (a bin of theirs has count 0)")
    with np.errstate(divide="ignore"):
        per_bin = np.where(counts > 0, counts ** (-float(alpha)), 0.0)
    mean = (counts * per_bin).sum() / counts.sum()
    return (per_bin[bins] / mean).astype(np.float32)


def inverse_weights(
    values: Any, metric: str | Binning = "p2dist", gamma: float = 1.0, *, oriented: bool = False
) -> np.ndarray:
    """Weight falling with difficulty: (0.1 + h)^(-gamma), h the difficulty's position in the
    binning's finite range scaled to [0, 1], normalised to mean 1.

    Args:
        values: (M,) values of masked patches (finite; NaN raises), raw or ``oriented``.
        metric: metric name, or a Binning over oriented difficulty.
        gamma: power, >= 0.
        oriented: ``values`` are already oriented higher = harder.

    Returns:
        (M,) float32 weights, mean 1.
    """
    difficulty, binning = _oriented(values, metric, oriented, "values")
    if difficulty.size == 0:
        return np.zeros(0, np.float32)
    finite = binning.edges[np.isfinite(binning.edges)]
    lo, hi = finite[0], finite[-1]
    hardness = np.clip((difficulty - lo) / (hi - lo), 0.0, 1.0)
    weights = (0.1 + hardness) ** (-float(gamma))
    return (weights / weights.mean()).astype(np.float32)


def patch_weights(
    values: Any,
    weighting: str = "flatten",
    metric: str | Binning | None = "p2dist",
    alpha: float = 1.0,
    gamma: float = 1.0,
    *,
    oriented: bool = False,
    counts: np.ndarray | None = None,
) -> np.ndarray:
    """Dispatch on ``weighting`` ("none", "flatten", "inverse").

    Args:
        values: (M,) values of masked patches (finite), raw or ``oriented``.
        weighting: one of ``WEIGHTINGS``.
        metric: metric name, a Binning over oriented difficulty, or None (unit weights).
        alpha: flatten power.
        gamma: inverse power.
        oriented: ``values`` are already oriented higher = harder.
        counts: global bin counts for flatten (see :func:`flatten_weights`).

    Returns:
        (M,) float32 weights, mean 1.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    if weighting == "none" or metric is None:
        return np.ones(_finite_values(values, "values").size, np.float32)
    if weighting == "flatten":
        return flatten_weights(values, metric, alpha, oriented=oriented, counts=counts)
    return inverse_weights(values, metric, gamma, oriented=oriented)


def _tie_keys(
    difficulty: np.ndarray, masks: np.ndarray, rng: np.random.Generator
) -> np.ndarray | None:
    """float64 keys that order like ``difficulty`` (masked patches; -inf elsewhere) with ties
    broken by a uniform draw: float32 values get a random offset below half their float32
    spacing, so distinct float32 values keep their order."""
    as32 = difficulty.astype(np.float32)
    if not np.array_equal(as32[masks], difficulty[masks]):
        return None
    offset = np.abs(np.spacing(as32)).astype(np.float64) * 0.5 * rng.random(masks.shape)
    return np.where(masks, as32.astype(np.float64) + offset, -np.inf)


def decoder_keep(
    masks: Any,
    difficulty: Any,
    decoder_mask_ratio: float = 0.0,
    rng: np.random.Generator | int | None = None,
) -> Any:
    """Decoder masking: per sample, drop the floor(q * n_masked) hardest masked patches (ties
    broken at random, reproducibly from ``rng``); visible patches are always kept.

    A partial selection (argpartition), not a sort.

    Args:
        masks: (N, H, W) or (N, L) bool, numpy or torch, True = masked.
        difficulty: same shape, oriented difficulty on masked patches (NaN elsewhere).
        decoder_mask_ratio: q in [0, 1).
        rng: numpy Generator, a seed, or None (fresh entropy) for the tie-breaks.

    Returns:
        (N, L) bool, True = masked patch that still reaches the decoder and the loss (a torch
        tensor on the masks' device when the masks were one).
    """
    if not 0.0 <= decoder_mask_ratio < 1.0:
        raise ValueError(f"decoder_mask_ratio must be in [0, 1), got {decoder_mask_ratio}")
    device = masks.device if _is_tensor(masks) else None
    masks = _numpy(masks)
    difficulty = _numpy(difficulty)
    n = masks.shape[0]
    flat_masks = masks.reshape(n, -1).astype(bool, copy=False)
    flat_difficulty = difficulty.reshape(n, -1)
    if flat_difficulty.shape != flat_masks.shape:
        raise ValueError(f"difficulty {flat_difficulty.shape} does not match masks {masks.shape}")
    if np.isnan(flat_difficulty[flat_masks]).any():
        raise ValueError("difficulty is NaN on a masked patch")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    n_masked = flat_masks.sum(axis=1)
    n_drop = np.floor(decoder_mask_ratio * n_masked).astype(np.int64)
    keep = flat_masks.copy()
    if n_drop.max(initial=0) > 0:
        key = _tie_keys(flat_difficulty, flat_masks, rng)
        order = None
        if key is None:  # not float32 values: the full sort on (difficulty, tie-break)
            tie_break = rng.random(flat_masks.shape)
            full = np.where(flat_masks, flat_difficulty.astype(np.float64), -np.inf)
            order = np.lexsort((-tie_break, full), axis=-1)[:, ::-1]
        for drop in np.unique(n_drop[n_drop > 0]):
            rows = np.flatnonzero(n_drop == drop)
            if order is None:
                hardest = np.argpartition(-key[rows], drop - 1, axis=1)[:, :drop]
            else:
                hardest = order[rows, :drop]
            sub = keep[rows]
            np.put_along_axis(sub, hardest, False, axis=1)
            keep[rows] = sub
    if device is not None:
        import torch

        return torch.from_numpy(keep).to(device)
    return keep
