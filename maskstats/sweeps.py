"""Difficulty over masking strategies and mask ratios: one row per (strategy, ratio, mask).

Strategies are specs (:func:`maskstats.masks.resolve_strategy`): built-in names, your own
``module:function`` generators, and saved .npy/.npz mask files, side by side."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from maskstats.masks import Strategy, generate, grid_from_image, grid_ratios, resolve_strategies
from maskstats.metrics import METRIC_NAMES, PATCH_METRICS, REGISTRY
from maskstats.tables import compute_chunked, mask_table

EASY_P2DIST = 0.5
"""Default easy threshold: p2dist < 0.5 patch, a masked patch with visible pixels on at
least two sides (one side alone gives (p + 1) / (2 p) > 0.5)."""
HARD_P2DIST = 1.0
"""Default hard threshold: p2dist > 1.0 patch, on average more than a patch from any visible
pixel (no visible 4-neighbour)."""


DEFAULT_STRATEGIES = ("random", "block", "simmim")
"""The strategies :func:`sweep` and :func:`sweep_masks` measure when none are given."""
DEFAULT_RATIOS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
"""The mask ratios :func:`sweep` and :func:`sweep_masks` measure when none are given."""


def sweep_masks(
    strategies: Sequence[str] = DEFAULT_STRATEGIES,
    mask_ratios: Sequence[float] = DEFAULT_RATIOS,
    img_size: int = 224,
    patch_size: int = 16,
    n: int = 2048,
    seed: int = 0,
    progress: bool = True,
    mask_patch_size: int = 32,
    target_avgdist: float | None = None,
) -> dict[tuple[str, float], np.ndarray]:
    """Every setting's masks, made once: the one set of masks a sweep, its tables and its
    figures all measure (see :func:`sweep` for which ratios each strategy gets).

    Args:
        strategies: strategy specs (built-in names, "module:function", .npy/.npz files).
        mask_ratios: ratios in [0, 1).
        img_size: image side in pixels.
        patch_size: model patch side in pixels.
        n: masks per (strategy, ratio).
        seed: base seed; each (strategy, ratio) gets its own stream, so the same arguments
            give the same masks, and adding strategies after others leaves theirs unchanged.
        progress: show a progress bar after one second.
        mask_patch_size: SimMIM's masking cell in pixels (simmim only).
        target_avgdist: AvgDist target in pixels (strategy "difficulty").

    Returns:
        (display name, mask ratio) -> (n, H, W) bool masks, True = masked, in the sweep's
        order; the ratio is the one :func:`sweep` records (grid, multiblock and files: the
        mean masked share, rounded to 4 digits).
    """
    resolved = resolve_strategies(strategies)
    grid = grid_from_image(img_size, patch_size)
    for strategy in resolved:  # every mask file, before any generator runs
        strategy.check(grid)
    ratios = tuple(float(r) for r in mask_ratios)
    if not ratios:
        raise ValueError("no mask ratio given")
    jobs = [job for position, s in enumerate(resolved) for job in _jobs(position, s, ratios, grid)]
    made: dict[tuple[str, float], np.ndarray] = {}
    for strategy, ratio, stream in tqdm(
        jobs, desc="masks", unit="setting", delay=1.0, disable=not progress
    ):
        rng = np.random.default_rng([seed, *stream])
        try:
            if strategy.kind == "file":
                masks = strategy.load(grid)
            elif strategy.kind == "callable":
                masks = strategy.generate(n, grid, ratio, rng)
            else:
                masks = generate(
                    strategy.name,
                    n,
                    img_size,
                    patch_size,
                    ratio,
                    seed=rng,
                    mask_patch_size=mask_patch_size,
                    target_avgdist=target_avgdist,
                )
        except ValueError as error:
            if strategy.name != "difficulty":
                raise
            warnings.warn(f"skipping difficulty masks at mask ratio {ratio}: {error}", stacklevel=2)
            continue
        if strategy.own_ratio or strategy.name == "grid":
            ratio = round(float(masks.mean()), 4)
        key = (strategy.name, float(ratio))
        if key in made:
            raise ValueError(
                f"two strategies are named {strategy.name!r} at mask ratio {ratio:g}: "
                "rename one (e.g. copy the mask file under another name)"
            )
        made[key] = masks
    return made


def sweep_table(
    masks_by_setting: Mapping[tuple[str, float], np.ndarray],
    patch_size: int = 16,
    easy_p2dist: float = EASY_P2DIST,
    hard_p2dist: float = HARD_P2DIST,
    progress: bool = True,
) -> pd.DataFrame:
    """One row per (strategy, ratio, mask) of masks made by :func:`sweep_masks`.

    Args:
        masks_by_setting: (strategy, mask ratio) -> (N, H, W) bool masks, True = masked.
        patch_size: pixels per patch side.
        easy_p2dist: a masked patch is easy when p2dist < easy_p2dist (patch units).
        hard_p2dist: a masked patch is hard when p2dist > hard_p2dist (patch units).
        progress: show a progress bar after one second.

    Returns:
        See :func:`sweep`.
    """
    frames = []
    for (name, ratio), masks in tqdm(
        masks_by_setting.items(), desc="sweep", unit="setting", delay=1.0, disable=not progress
    ):
        values = compute_chunked(masks, METRIC_NAMES, patch_size, False, on_empty="nan")
        table = mask_table(masks, patch_size, values=values)
        table.insert(2, "masked_share", table["n_masked"] / (masks.shape[1] * masks.shape[2]))
        p2 = values["p2dist"]
        counts = np.maximum(table["n_masked"].to_numpy(), 1)
        with np.errstate(invalid="ignore"):
            table["easy_share"] = (p2 < easy_p2dist).sum(axis=(1, 2)) / counts
            table["hard_share"] = (p2 > hard_p2dist).sum(axis=(1, 2)) / counts
        table.insert(0, "mask_ratio", ratio)
        table.insert(0, "strategy", name)
        frames.append(table)
    if not frames:
        raise ValueError("the sweep made no masks (no strategy could make any requested ratio)")
    return pd.concat(frames, ignore_index=True)


def sweep(
    strategies: Sequence[str] = DEFAULT_STRATEGIES,
    mask_ratios: Sequence[float] = DEFAULT_RATIOS,
    img_size: int = 224,
    patch_size: int = 16,
    n: int = 2048,
    seed: int = 0,
    easy_p2dist: float = EASY_P2DIST,
    hard_p2dist: float = HARD_P2DIST,
    progress: bool = True,
    mask_patch_size: int = 32,
    target_avgdist: float | None = None,
) -> pd.DataFrame:
    """Difficulty over masking strategies and ratios, one row per (strategy, ratio, mask):
    :func:`sweep_table` of :func:`sweep_masks`.

    Which ratios each strategy gets:

    - random, block, simmim, difficulty, ``module:function``: every ratio of ``mask_ratios``.
      Strategy "difficulty" holds AvgDist at ``target_avgdist`` (pixels); ratios where that
      target is out of reach are skipped with a warning.
    - grid: the ratios grid-wise sampling allows (1 - 1/s**2: 0.75, 0.8889, 0.9375, ...) from
      min(mask_ratios) to max(mask_ratios), recorded at the share the grid achieves (lower
      when its sides are not multiples of s: 0.8724 for s = 3 on 14 x 14); none in that span:
      skipped with a warning.
    - multiblock and mask files have their own ratio: one setting each, n multiblock masks
      or all the file's masks, whose ``mask_ratio`` is the masks' mean masked share (rounded
      to 4 digits; each mask's own share is in ``masked_share``).

    A mask with no visible patch (SimMIM on few cells at a high ratio) gets NaN distances;
    one with no masked patch (ratio 0) NaN means. Every spec, and every mask file's shape,
    dtype and grid, is checked before any generator runs.

    Args:
        strategies: strategy specs: built-in names, "module:function", or .npy/.npz files;
            the ``strategy`` column holds their display names (the name, the function's name,
            the file's name).
        mask_ratios: ratios in [0, 1).
        img_size: image side in pixels.
        patch_size: model patch side in pixels.
        n: masks per (strategy, ratio).
        seed: base seed; each (strategy, ratio) gets its own stream.
        easy_p2dist: a masked patch is easy when p2dist < easy_p2dist (patch units).
        hard_p2dist: a masked patch is hard when p2dist > hard_p2dist (patch units).
        progress: show a progress bar after one second.
        mask_patch_size: SimMIM's masking cell in pixels (simmim only).
        target_avgdist: AvgDist target in pixels (strategy "difficulty").

    Returns:
        Long DataFrame: strategy, mask_ratio, mask, n_masked, masked_share, each metric's mean
        over the mask's masked patches (avgdist per mask), easy_share and hard_share of its
        masked patches.
    """
    masks = sweep_masks(
        strategies,
        mask_ratios,
        img_size,
        patch_size,
        n,
        seed,
        progress,
        mask_patch_size,
        target_avgdist,
    )
    return sweep_table(masks, patch_size, easy_p2dist, hard_p2dist, progress)


def _jobs(
    position: int, strategy: Strategy, ratios: tuple[float, ...], grid: tuple[int, int]
) -> list[tuple[Strategy, float, tuple[int, ...]]]:
    """(strategy, ratio, seed stream) per setting. The streams of strategies swept over the
    requested ratios are [position * len(ratios) + k], as before specs existed, so adding
    strategies after them leaves their masks unchanged."""
    if strategy.own_ratio:
        return [(strategy, ratios[0], (1_000_000 + position,))]
    if strategy.name == "grid":
        lo, hi = min(ratios), max(ratios)
        allowed, counts = [], set()
        for side, r in grid_ratios(grid).items():
            kept = -(-grid[0] // side) * -(-grid[1] // side)  # visible patches: one per cell
            if lo - 5e-4 <= r <= hi + 5e-4 and kept not in counts:  # one setting per share
                allowed.append(r)
                counts.add(kept)
        if not allowed:
            warnings.warn(
                f"skipping grid masks: no grid ratio (1 - 1/s^2: 0.75, 0.8889, ...) lies in "
                f"[{lo:g}, {hi:g}]",
                stacklevel=3,
            )
        return [(strategy, r, (1_000_000 + position, k)) for k, r in enumerate(allowed)]
    return [(strategy, r, (position * len(ratios) + k,)) for k, r in enumerate(ratios)]


@dataclass(frozen=True)
class LossSetting:
    """One way of weighting and selecting the loss's targets (see :mod:`maskstats.weights`).

    Attributes:
        name: the display name.
        weighting: ``maskstats.weights.WEIGHTINGS``.
        metric: the per-patch metric the weights and decoder masking use.
        alpha: flatten / histogram power (None: the weighting's default).
        decoder_mask_ratio: share of each mask's hardest masked patches dropped.
    """

    name: str
    weighting: str = "none"
    metric: str = "p2dist"
    alpha: float | None = None
    decoder_mask_ratio: float = 0.0


LOSS_SETTINGS = (
    LossSetting("plain MAE"),
    *(LossSetting(f"flatten {m}", "flatten", m) for m in PATCH_METRICS),
    LossSetting("histogram p2dist", "histogram"),
    LossSetting("inverse p2dist", "inverse"),
    *(LossSetting(f"decoder q={q:g}", decoder_mask_ratio=q) for q in (0.1, 0.2, 0.3)),
    *(
        LossSetting(f"flatten p2dist + q={q:g}", "flatten", "p2dist", None, q)
        for q in (0.1, 0.2, 0.3)
    ),
)
"""The paper's section B, quantified: plain MAE, each weighting and decoder masking with and
without flatten."""
LOSS_BATCH = 256
"""Masks per batch: flatten weights are normalised over a batch."""


def loss_difficulty_sweep(
    masks_by_ratio: Mapping[float, np.ndarray],
    patch_size: int = 16,
    settings: Sequence[LossSetting] = LOSS_SETTINGS,
    batch_size: int = LOSS_BATCH,
    seed: int = 0,
) -> pd.DataFrame:
    """The effective difficulty of each loss setting's targets at each mask ratio.

    Each ratio's masks are cut into batches of ``batch_size`` (the last one shorter); each
    setting's weights and decoder selection are made per batch, as in training, and the
    batches' :class:`maskstats.weights.LossDifficulty` are averaged (the largest weight is
    the largest of any batch).

    Args:
        masks_by_ratio: mask ratio -> (N, H, W) bool masks, True = masked, each with a
            visible patch.
        patch_size: pixels per patch side.
        settings: the loss settings.
        batch_size: masks per batch.
        seed: seed of decoder masking's tie-breaks.

    Returns:
        One row per (setting, ratio): setting, weighting, metric, alpha, decoder_mask_ratio,
        mask_ratio, effective_avgdist and target_avgdist (px: loss-weighted and unweighted
        over the patches in the loss), mask_avgdist (px: over every masked patch), ess_share,
        max_weight (over the mean), batches.
    """
    from maskstats.weights import decoder_keep, default_alpha, loss_difficulty, patch_weights

    metrics = sorted({s.metric for s in settings} | {"p2dist"})
    records = []
    for ratio, masks in masks_by_ratio.items():
        masks = np.asarray(masks, bool)
        values = compute_chunked(masks, metrics, patch_size, False)
        n = masks.shape[0]
        flat = masks.reshape(n, -1)
        for k, setting in enumerate(settings):
            rng = np.random.default_rng([seed, k])
            raw = values[setting.metric].reshape(n, -1)
            difficulty = REGISTRY[setting.metric].difficulty(raw)
            parts = []
            for start in range(0, n, batch_size):
                rows = slice(start, start + batch_size)
                keep = decoder_keep(flat[rows], difficulty[rows], setting.decoder_mask_ratio, rng)
                w = np.zeros(keep.shape, np.float32)
                w[keep] = patch_weights(
                    difficulty[rows][keep],
                    setting.weighting,
                    setting.metric,
                    setting.alpha,
                    oriented=True,
                )
                p2 = values["p2dist"][rows].reshape(keep.shape)
                parts.append(loss_difficulty(flat[rows], w, patch_size, p2dist=p2))
            records.append(
                {
                    "setting": setting.name,
                    "weighting": setting.weighting,
                    "metric": setting.metric,
                    "alpha": setting.alpha
                    if setting.alpha is not None
                    else default_alpha(setting.weighting),
                    "decoder_mask_ratio": setting.decoder_mask_ratio,
                    "mask_ratio": float(ratio),
                    "effective_avgdist": float(np.mean([p.effective_avgdist for p in parts])),
                    "target_avgdist": float(np.mean([p.avgdist for p in parts])),
                    "mask_avgdist": float(patch_size * values["p2dist"][masks].mean()),
                    "ess_share": float(np.mean([p.ess_share for p in parts])),
                    "max_weight": float(max(p.max_weight for p in parts)),
                    "batches": len(parts),
                }
            )
    return pd.DataFrame(records)


# --------------------------------------------------------------------------- clips

CLIP_COLUMNS = (
    "avgdist",
    "avgdist_frame",
    "p2dist",
    "p2dist_frame",
    "easy_share",
    "hard_share",
    "easy_share_frame",
    "hard_share_frame",
    "leak_share",
    "seen_share",
    "temporal_gap",
)
"""What :func:`clip_summary` reports per setting (means over clips of per-clip values)."""


def clip_summary(
    clips: np.ndarray,
    patch_size: int = 16,
    tubelet_size: int = 2,
    temporal_step: float | None = None,
    easy_p2dist: float = EASY_P2DIST,
    hard_p2dist: float = HARD_P2DIST,
) -> dict[str, float]:
    """Spatial and spatio-temporal difficulty of a batch of clips, as means over clips.

    Per clip: ``avgdist`` / ``p2dist`` (the clip's spatio-temporal AvgDist, px, and mean
    P²Dist over its masked tokens), ``avgdist_frame`` / ``p2dist_frame`` (the same of each
    token-frame on its own, averaged over frames: what one frame shows), easy/hard shares of
    the masked tokens (P²Dist below ``easy_p2dist`` / above ``hard_p2dist``), spatio-temporal
    and per frame, ``leak_share`` (masked tokens whose position is visible one token-frame
    away: temporal gap = tubelet_size frames), ``seen_share`` (visible in some other
    token-frame: a finite gap) and ``temporal_gap`` (mean finite gap, frames).

    Args:
        clips: (N, T, H, W) bool, True = masked, each with a visible token.
        patch_size: pixels per patch side.
        tubelet_size: frames per token.
        temporal_step: px between consecutive token-frames (None: patch_size).
        easy_p2dist: easy threshold (patches).
        hard_p2dist: hard threshold (patches).

    Returns:
        Column name (``CLIP_COLUMNS``, plus ``clips`` and ``masked_share``) -> value; NaN
        where undefined (e.g. ``temporal_gap`` of tube masks).
    """
    from maskstats.metrics import compute, per_frame

    n = clips.shape[0]
    axes = (1, 2, 3)
    values = compute(
        clips,
        ("p2dist", "avgdist", "temporal"),
        patch_size,
        on_empty="nan",
        tubelet_size=tubelet_size,
        temporal_step=temporal_step,
    )
    frames = per_frame(clips, ("p2dist", "avgdist"), patch_size, on_empty="nan")
    counts = np.maximum(clips.sum(axis=axes), 1)
    p2, p2_frame, gap = values["p2dist"], np.asarray(frames["p2dist"]), values["temporal"]
    finite = np.isfinite(gap)
    with np.errstate(invalid="ignore"):
        row = {
            "clips": n,
            "masked_share": float(clips.mean()),
            "avgdist": float(np.nanmean(values["avgdist"])),
            "avgdist_frame": float(np.nanmean(frames["avgdist"])),
            "p2dist": float(np.nanmean(np.nansum(p2, axis=axes) / counts)),
            "p2dist_frame": float(np.nanmean(np.nansum(p2_frame, axis=axes) / counts)),
            "easy_share": float(np.mean((p2 < easy_p2dist).sum(axis=axes) / counts)),
            "hard_share": float(np.mean((p2 > hard_p2dist).sum(axis=axes) / counts)),
            "easy_share_frame": float(np.mean((p2_frame < easy_p2dist).sum(axis=axes) / counts)),
            "hard_share_frame": float(np.mean((p2_frame > hard_p2dist).sum(axis=axes) / counts)),
            "leak_share": float(np.mean((gap == tubelet_size).sum(axis=axes) / counts)),
            "seen_share": float(np.mean(finite.sum(axis=axes) / counts)),
            "temporal_gap": float(gap[finite].mean()) if finite.any() else float("nan"),
        }
    return row


def clip_sweep(
    strategies: Sequence[str] = ("tube", "random"),
    mask_ratios: Sequence[float] = (0.5, 0.75, 0.9, 0.95),
    img_size: int = 224,
    patch_size: int = 16,
    frames: int = 16,
    tubelet_size: int = 2,
    n: int = 256,
    seed: int = 0,
    temporal_step: float | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """:func:`clip_summary` of ``n`` clips per (strategy, ratio): one row each.

    Args:
        strategies: ``generate`` strategies made as clips ("tube", "random" = whole clip,
            "running_cell", or any image strategy as tubes).
        mask_ratios: mask ratios (running_cell takes 0.25, 0.5, 0.75 only; others skipped).
        img_size: frame side in pixels.
        patch_size: pixels per patch side.
        frames: clip length in frames.
        tubelet_size: frames per token.
        n: clips per setting.
        seed: seed (each setting gets its own stream).
        temporal_step: px between consecutive token-frames (None: patch_size).
        progress: show a progress bar.

    Returns:
        Columns strategy, mask_ratio, clips, masked_share and ``CLIP_COLUMNS``.
    """
    rows, reasons = [], []
    settings = [(s, r) for s in strategies for r in mask_ratios]
    for k, (strategy, ratio) in enumerate(
        tqdm(settings, desc="clip settings", delay=1.0, disable=not progress)
    ):
        try:
            clips = generate(
                strategy, n, img_size, patch_size, ratio, seed=np.random.default_rng([seed, k]),
                frames=frames, tubelet_size=tubelet_size,
            )  # fmt: skip
        except ValueError as error:
            reasons.append(f"{strategy} at mask ratio {ratio:g}: {error}")
            warnings.warn(f"skipping {reasons[-1]}", stacklevel=2)
            continue
        flat = clips.reshape(len(clips), -1)
        clips = clips[flat.any(axis=1) & ~flat.all(axis=1)]  # distances need both kinds
        if not len(clips):
            why = (
                "no clip masks any token (nothing to measure)"
                if not flat.any()
                else "every clip hides every token or none (no distance defined)"
            )
            reasons.append(f"{strategy} at mask ratio {ratio:g}: {why}")
            warnings.warn(f"skipping {reasons[-1]}", stacklevel=2)
            continue
        summary = clip_summary(clips, patch_size, tubelet_size, temporal_step)
        rows.append({"strategy": strategy, "mask_ratio": float(ratio), **summary})
    if not rows:
        first = f" ({reasons[0]})" if reasons else ""
        raise ValueError(f"no clip setting could be made or measured{first}")
    return pd.DataFrame(rows)
