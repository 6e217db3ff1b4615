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

WEIGHTINGS = ("none", "flatten", "histogram", "inverse")
"""The loss weightings: none (MAE's loss), flatten (Difficulty-Flatten), histogram (the
equaliser that ``flatten`` was before 0.2.0) and inverse."""
DIFFICULTY_METRICS = PATCH_METRICS
"""The metrics a weighting can use: every per-patch metric (it has a difficulty binning)."""


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

    Examples:
        density3 counts visible neighbours (higher = easier): its difficulty is the negated count.

        >>> import numpy as np
        >>> from maskstats.weights import patch_difficulty
        >>> masks = np.ones((1, 3, 3), dtype=bool)
        >>> masks[0, 1, 1] = False
        >>> patch_difficulty(masks, "density3")[0].tolist()
        [[-1.0, -1.0, -1.0], [-1.0, nan, -1.0], [-1.0, -1.0, -1.0]]
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


FLATTEN_ALPHA = 0.5
"""Default Difficulty-Flatten power: with ``FLATTEN_MIN_SHARE`` it bounds every weight by 10x the
mean and the effective sample size below by a third of the patches (see :func:`flatten_weights`)."""
FLATTEN_MIN_SHARE = 0.01
"""Default share of the batch below which the easiest patches are pooled (one weight)."""


def _easier_share(counts: np.ndarray) -> np.ndarray:
    """Per bin: the share of the counted patches in that bin or an easier one (the difficulty
    CDF at the bin's upper edge), float64."""
    counts = np.asarray(counts, np.float64)
    return np.cumsum(counts) / counts.sum()


def _per_patch(bins: np.ndarray, per_bin: np.ndarray, counts: np.ndarray | None) -> np.ndarray:
    """Weights ``per_bin[bins]`` divided by their mean over the batch whose bin counts are
    ``counts`` (default: the bins given), float32."""
    if counts is None:
        weights = per_bin[bins]
        return (weights / weights.mean()).astype(np.float32)
    mean = (counts * per_bin).sum() / counts.sum()
    return (per_bin[bins] / mean).astype(np.float32)


def _batch_counts(bins: np.ndarray, counts: np.ndarray | None, num_bins: int) -> np.ndarray:
    """The batch's bin counts: ``counts`` checked against the given patches, or their own."""
    if counts is None:
        return np.bincount(bins, minlength=num_bins).astype(np.float64)
    counts = np.asarray(counts, np.float64)
    if counts.shape != (num_bins,):
        raise ValueError(f"counts must have shape ({num_bins},), got {counts.shape}")
    if (counts[bins] < 1).any():
        raise ValueError("counts must include the given patches (a bin of theirs has count 0)")
    return counts


def _check_power(value: float, name: str) -> float:
    value = float(value)
    if not (np.isfinite(value) and 0 <= value <= MAX_POWER):
        raise ValueError(f"{name} must be a number in [0, {MAX_POWER:g}], got {value}")
    return value


MAX_POWER = 8.0
"""Largest flatten / histogram / inverse power accepted: beyond it float32 weights overflow or
collapse onto one bin."""


def check_weighting(
    alpha: float | None,
    gamma: float,
    min_share: float,
    names: tuple[str, str, str] = ("alpha", "gamma", "min_share"),
) -> None:
    """Raise a one-line ValueError for weighting parameters that cannot work.

    Args:
        alpha: flatten / histogram power (None: the weighting's default).
        gamma: inverse power.
        min_share: flatten's pooled share.
        names: how the message names the three (e.g. the CLI's flags).
    """
    if alpha is not None:
        _check_power(alpha, names[0])
    _check_power(gamma, names[1])
    if not 0.0 <= float(min_share) <= 1.0:  # NaN fails too
        raise ValueError(f"{names[2]} must be in [0, 1], got {min_share}")


def flatten_weights(
    values: Any,
    metric: str | Binning = "p2dist",
    alpha: float = FLATTEN_ALPHA,
    *,
    oriented: bool = False,
    counts: np.ndarray | None = None,
    min_share: float = FLATTEN_MIN_SHARE,
) -> np.ndarray:
    """Difficulty-Flatten: more weight on the easy targets, rare at high mask ratios, and the
    least on the hardest ones.

    A patch in difficulty bin b weighs ``max(F_b, min_share) ** -alpha``, where F_b is the
    share of the batch's patches in bin b or an easier one (the difficulty CDF at the bin),
    normalised to mean 1. The weights never increase with difficulty; the hardest bin gets
    the smallest weight; a bin as easy as only a few patches of the batch gets much more; the
    easiest ``min_share`` of the batch is pooled, so that no weight exceeds
    ``min_share ** -alpha`` times the mean (10x at the defaults) and the effective sample size
    (sum w)^2 / sum w^2 stays above 4M / (1 + M)^2 of the patches, M = ``min_share ** -alpha``
    (a third at the defaults). With alpha = 1 each doubling of the easy share gets about the
    same total weight. alpha = 0 is plain MAE. Why this and not a histogram equaliser:
    docs/metrics.md, "Difficulty-Flatten"; the equaliser is :func:`histogram_weights`.

    Args:
        values: (M,) values of the batch's masked patches (finite; NaN raises): raw metric
            values, or oriented difficulty with ``oriented=True``.
        metric: metric name (values are oriented here), or a Binning over oriented
            difficulty (values must then be oriented).
        alpha: flattening power, >= 0.
        oriented: ``values`` are already oriented higher = harder (``patch_difficulty``).
        counts: (num_bins,) bin counts of the whole batch, e.g. summed over DDP ranks
            (:func:`bin_counts`); the shares F_b and the mean 1 are then those of that batch.
            Default: the counts of ``values``.
        min_share: share of the batch, in [0, 1], below which the easiest bins are pooled.

    Returns:
        (M,) float32 weights, mean 1 (empty input gives an empty array).

    Example:
        >>> import numpy as np
        >>> from maskstats.weights import flatten_weights
        >>> nearest = np.array([1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0])  # patches
        >>> w = flatten_weights(nearest, "nearest", alpha=1.0, min_share=0.0)
        >>> [round(float(x), 3) for x in w]  # F = 2/8, 5/8, 1: 4, 1.6, 1 over mean 1.975
        [2.025, 2.025, 0.81, 0.81, 0.81, 0.506, 0.506, 0.506]
    """
    check_weighting(alpha, 0.0, min_share)
    alpha, min_share = float(alpha), float(min_share)
    difficulty, binning = _oriented(values, metric, oriented, "values")
    if difficulty.size == 0:
        return np.zeros(0, np.float32)
    bins = binning.assign(difficulty)
    batch = _batch_counts(bins, counts, binning.num_bins)
    # Empty bins get no patch; their share (0 below the easiest patch) is set to 1 unused.
    share = np.where(batch > 0, _easier_share(batch), 1.0)
    per_bin = np.maximum(share, min_share) ** (-alpha)
    return _per_patch(bins, per_bin, None if counts is None else batch)


def histogram_weights(
    values: Any,
    metric: str | Binning = "p2dist",
    alpha: float = 1.0,
    *,
    oriented: bool = False,
    counts: np.ndarray | None = None,
) -> np.ndarray:
    """The histogram equaliser (``weighting="histogram"``, this library's flatten before
    0.2.0): each patch weighs count(its bin)^(-alpha), normalised to mean 1.

    Kept for comparison. It is not the paper's Difficulty-Flatten: the rarest bins at *either*
    end get the largest weights, so with distance metrics at high mask ratios the hardest tail
    is weighted most, and a handful of patches can carry the batch.

    Args:
        values: (M,) values of the batch's masked patches (finite), raw or ``oriented``.
        metric: metric name, or a Binning over oriented difficulty.
        alpha: power, >= 0 (1: every non-empty bin gets the same total weight).
        oriented: ``values`` are already oriented higher = harder.
        counts: (num_bins,) bin counts of the whole batch (DDP), as in :func:`flatten_weights`.

    Returns:
        (M,) float32 weights, mean 1.

    Examples:
        Bins of 2, 3 and 3 patches: raw weights 1/2, 1/3, 1/3 over their mean 0.375.

        >>> import numpy as np
        >>> from maskstats.weights import histogram_weights
        >>> nearest = np.array([1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0])
        >>> [round(float(x), 3) for x in histogram_weights(nearest, "nearest")]
        [1.333, 1.333, 0.889, 0.889, 0.889, 0.889, 0.889, 0.889]
    """
    alpha = _check_power(alpha, "alpha")
    difficulty, binning = _oriented(values, metric, oriented, "values")
    if difficulty.size == 0:
        return np.zeros(0, np.float32)
    bins = binning.assign(difficulty)
    batch = _batch_counts(bins, counts, binning.num_bins)
    with np.errstate(divide="ignore"):
        per_bin = np.where(batch > 0, batch ** (-alpha), 0.0)
    return _per_patch(bins, per_bin, None if counts is None else batch)


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
    gamma = _check_power(gamma, "gamma")
    difficulty, binning = _oriented(values, metric, oriented, "values")
    if difficulty.size == 0:
        return np.zeros(0, np.float32)
    finite = binning.edges[np.isfinite(binning.edges)]
    lo, hi = finite[0], finite[-1]
    hardness = np.clip((difficulty - lo) / (hi - lo), 0.0, 1.0)
    weights = (0.1 + hardness) ** (-gamma)
    return (weights / weights.mean()).astype(np.float32)


def patch_weights(
    values: Any,
    weighting: str = "flatten",
    metric: str | Binning | None = "p2dist",
    alpha: float | None = None,
    gamma: float = 1.0,
    *,
    oriented: bool = False,
    counts: np.ndarray | None = None,
    min_share: float = FLATTEN_MIN_SHARE,
) -> np.ndarray:
    """Dispatch on ``weighting`` (``WEIGHTINGS``: "none", "flatten", "histogram", "inverse").

    Args:
        values: (M,) values of masked patches (finite), raw or ``oriented``.
        weighting: one of ``WEIGHTINGS``.
        metric: metric name, a Binning over oriented difficulty, or None (unit weights).
        alpha: flatten / histogram power (None: ``FLATTEN_ALPHA`` for flatten, 1 for
            histogram).
        gamma: inverse power.
        oriented: ``values`` are already oriented higher = harder.
        counts: global bin counts for flatten and histogram (see :func:`flatten_weights`).
        min_share: flatten's pooled easy share (see :func:`flatten_weights`).

    Returns:
        (M,) float32 weights, mean 1.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    if weighting == "none" or metric is None:
        return np.ones(_finite_values(values, "values").size, np.float32)
    if weighting == "flatten":
        alpha = FLATTEN_ALPHA if alpha is None else alpha
        return flatten_weights(
            values, metric, alpha, oriented=oriented, counts=counts, min_share=min_share
        )
    if weighting == "histogram":
        alpha = 1.0 if alpha is None else alpha
        return histogram_weights(values, metric, alpha, oriented=oriented, counts=counts)
    return inverse_weights(values, metric, gamma, oriented=oriented)


def default_alpha(weighting: str) -> float:
    """The power ``patch_weights`` uses for ``weighting`` when none is given (0 where the
    weighting has none)."""
    return {"flatten": FLATTEN_ALPHA, "histogram": 1.0}.get(weighting, 0.0)


@dataclass(frozen=True)
class LossDifficulty:
    """How hard the targets of a weighted loss are, whatever metric made the weights.

    Attributes:
        effective_avgdist: px, the loss-weighted mean of patch_size x p2dist over the patches
            in the loss: the AvgDist the loss trains on.
        avgdist: px, the unweighted mean of the same patches (AvgDist of the loss's targets).
        ess_share: effective sample size (sum w)^2 / sum w^2 as a share of those patches
            (1 = every patch counts fully).
        max_weight: the largest weight over the mean weight.
        patches: K, the number of patches in the loss.
    """

    effective_avgdist: float
    avgdist: float
    ess_share: float
    max_weight: float
    patches: int

    @classmethod
    def from_patches(cls, p2dist: Any, weights: Any, patch_size: float) -> LossDifficulty:
        """From the patches in the loss.

        Args:
            p2dist: (K,) P2Dist (patches) of each patch in the loss.
            weights: (K,) their loss weights (> 0).
            patch_size: pixels per patch side.

        Returns:
            LossDifficulty (NaN fields and 0 patches for K = 0).

        Examples:
            Two patches at P²Dist 1 and 2 weighted 3 and 1, 16 px patches: effective AvgDist
            16 * (3 * 1 + 1 * 2) / 4 = 20 px, plain 16 * 1.5 = 24 px, ESS 4² / 10 = 1.6 of the 2
            patches, largest weight 3 over the mean 2.

            >>> from maskstats.weights import LossDifficulty
            >>> LossDifficulty.from_patches([1.0, 2.0], [3.0, 1.0], 16)
            LossDifficulty(effective_avgdist=20.0, avgdist=24.0, ess_share=0.8, max_weight=1.5,
                           patches=2)
        """
        p2 = _numpy(p2dist).astype(np.float64).ravel()
        w = _numpy(weights).astype(np.float64).ravel()
        if p2.shape != w.shape:
            raise ValueError(f"p2dist {p2.shape} and weights {w.shape} differ")
        if p2.size == 0:
            nan = float("nan")
            return cls(nan, nan, nan, nan, 0)
        total = w.sum()
        return cls(
            effective_avgdist=float(patch_size * (w * p2).sum() / total),
            avgdist=float(patch_size * p2.mean()),
            ess_share=float(total**2 / (w**2).sum() / w.size),
            max_weight=float(w.max() / (total / w.size)),
            patches=int(w.size),
        )

    def as_dict(self) -> dict[str, float]:
        """The fields as a dict (JSON-ready)."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


def loss_difficulty(
    masks: Any, weights: Any, patch_size: int, *, grid: Any = None, p2dist: Any = None
) -> LossDifficulty:
    """The effective difficulty of a weighted loss over a batch of masks.

    The patches in the loss are the masked ones with a weight above 0 (decoder masking gives
    the dropped ones weight 0).

    Args:
        masks: (N, H, W), or (N, L) with ``grid``, bool or 0/1, True = masked.
        weights: per-patch loss weights, the masks' shape (or (N, L)); 0 where a patch is not
            in the loss (e.g. ``DifficultyTargets.weights``).
        patch_size: pixels per patch side.
        grid: (H, W) of the patch grid, for (N, L) masks.
        p2dist: P2Dist of every patch, the masks' shape, if already computed (else computed
            here).

    Returns:
        LossDifficulty.

    Example:
        >>> import maskstats as ms
        >>> from maskstats.weights import loss_difficulty, patch_weights
        >>> masks = ms.random_masks(64, (14, 14), mask_ratio=0.9, seed=0)
        >>> w = np.zeros(masks.shape, np.float32)
        >>> w[masks] = patch_weights(ms.p2dist(masks, 16)[masks], "flatten", "p2dist")
        >>> d = loss_difficulty(masks, w, 16)
        >>> bool(d.effective_avgdist < d.avgdist), d.patches
        (True, 11328)
    """
    flat = _numpy(masks)
    n = flat.shape[0]
    flat = flat.reshape(n, -1).astype(bool, copy=False)
    w = _numpy(weights).astype(np.float64, copy=False).reshape(n, -1)
    if w.shape != flat.shape:
        raise ValueError(f"weights {w.shape} do not match masks {flat.shape}")
    if p2dist is None:
        p2dist = compute(masks, "p2dist", patch_size, grid=grid, on_empty="nan")["p2dist"]
    p2 = _numpy(p2dist).reshape(n, -1)
    in_loss = flat & (w > 0)
    return LossDifficulty.from_patches(p2[in_loss], w[in_loss], patch_size)


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

    Examples:
        Three masked patches, q = 0.5: floor(1.5) = 1 dropped, the hardest (difficulty 3).

        >>> import numpy as np
        >>> from maskstats.weights import decoder_keep
        >>> masks = np.array([[True, True, True, False]])
        >>> difficulty = np.array([[1.0, 3.0, 2.0, np.nan]])
        >>> decoder_keep(masks, difficulty, 0.5, rng=0).tolist()
        [[True, False, True, False]]
    """
    if not 0.0 <= decoder_mask_ratio < 1.0:
        raise ValueError(f"decoder_mask_ratio must be in [0, 1), got {decoder_mask_ratio}")
    device = masks.device if _is_tensor(masks) else None
    masks = _numpy(masks)
    difficulty = _numpy(difficulty)
    n, length = masks.shape[0], int(np.prod(masks.shape[1:]))
    flat_masks = masks.reshape(n, length).astype(bool, copy=False)
    if difficulty.size != flat_masks.size:
        raise ValueError(f"difficulty {difficulty.shape} does not match masks {masks.shape}")
    flat_difficulty = difficulty.reshape(n, length)
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
                assert key is not None  # no full order: the tie keys exist
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
