"""Published numbers maskstats is checked against, each with its citation, and the tables that
set maskstats' statistics beside them: MAE's mask-sampling ablation (its Table 1(f)), SimMIM's
moderate AvgDist band, BEiT's pretraining preset and I-JEPA's ImageNet mask settings.

The numbers here are copied from the papers and the peers' own code (cited on each constant);
nothing in this module is fitted to them."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from maskstats.masks import block_masks, generate, masked_share, multiblock_masks
from maskstats.metrics import compute

if TYPE_CHECKING:  # pandas loads only when a table is made
    import pandas as pd


@dataclass(frozen=True)
class SamplingResult:
    """One row of MAE's mask-sampling ablation.

    Attributes:
        strategy: maskstats' name of the sampling ("random", "block", "grid").
        mask_ratio: the ratio MAE trained with.
        fine_tune: end-to-end fine-tuning top-1 on ImageNet-1k, %.
        linear: linear-probing top-1 on ImageNet-1k, %.
    """

    strategy: str
    mask_ratio: float
    fine_tune: float
    linear: float

    @property
    def name(self) -> str:
        """'random 0.75', 'block 0.5', ..."""
        return f"{self.strategy} {self.mask_ratio:g}"


MAE_CITATION = (
    "He, Chen, Xie, Li, Dollár, Girshick: Masked Autoencoders Are Scalable Vision Learners, "
    "CVPR 2022 (arXiv 2111.06377), Table 1(f): ViT-L/16, 800 epochs of pretraining on "
    "ImageNet-1k, top-1 accuracy in %"
)
"""Where ``MAE_SAMPLING_ABLATION`` comes from: paper, table, model and unit."""
MAE_SAMPLING_ABLATION = (
    SamplingResult("random", 0.75, 84.9, 73.5),
    SamplingResult("block", 0.5, 83.9, 72.3),
    SamplingResult("block", 0.75, 82.8, 63.9),
    SamplingResult("grid", 0.75, 84.0, 66.0),
)
"""MAE's Table 1(f) (see ``MAE_CITATION``). The paper's text: block masking at 50% works
reasonably, at 75% it degrades and has a higher training loss; grid sampling has a lower
training loss and sharper reconstructions but worse representations."""

SIMMIM_CITATION = (
    "Xie et al.: SimMIM: A Simple Framework for Masked Image Modeling, CVPR 2022 "
    "(arXiv 2111.09886), its study of masking strategies: masks with a moderate AvgDist, "
    "10 to 20 px, fine-tune best"
)
"""Where ``SIMMIM_MODERATE_BAND`` comes from."""
SIMMIM_MODERATE_BAND = (10.0, 20.0)
"""SimMIM's 'moderate' AvgDist band in pixels (see ``SIMMIM_CITATION``)."""

BEIT_CITATION = (
    "Bao, Dong, Piao, Wei: BEiT: BERT Pre-Training of Image Transformers, ICLR 2022; "
    "microsoft/unilm beit/run_beit_pretraining.py (--num_mask_patches 75, "
    "--min_mask_patches_per_block 16, --max_mask_patches_per_block None) and "
    "beit/masking_generator.py (class defaults min_num_patches=4, min_aspect=0.3)"
)
"""Where ``BEIT_PRETRAINING`` comes from: the paper and the code's flags and defaults."""
BEIT_PRETRAINING = {"input_size": 14, "num_masking_patches": 75, "min_num_patches": 16}
"""BEiT's own pretraining masks at 224/16: ``MaskingGenerator(input_size=14,
num_masking_patches=75, min_num_patches=16)`` (max_num_patches None = 75, aspect 0.3 to 1/0.3).
In maskstats: ``block_masks(n, 14, num_masking_patches=75, min_num_patches=16)``."""

IJEPA_CITATION = (
    "Assran et al.: Self-Supervised Learning from Images with a Joint-Embedding Predictive "
    "Architecture, CVPR 2023; facebookresearch/ijepa configs/in1k_vith14_ep300.yaml and "
    "src/masks/multiblock.py (MaskCollator)"
)
"""Where ``IJEPA_IN1K`` comes from: the paper, its ImageNet config and its mask collator."""
IJEPA_IN1K: dict[str, Any] = {
    "batch_size": 128,
    "enc_mask_scale": (0.85, 1.0),
    "pred_mask_scale": (0.15, 0.2),
    "aspect_ratio": (0.75, 1.5),
    "nenc": 1,
    "npred": 4,
    "min_keep": 10,
}
"""I-JEPA's ImageNet-1k mask settings (see ``IJEPA_CITATION``): the batch is per GPU (the
collator sees 128 images; 2048 over 16 GPUs), with ViT-H/14 at 224 px (a 16 x 16 grid)."""


# --------------------------------------------------------------------------- MAE Table 1(f)

EASY_P2DIST = 0.5
"""A masked patch is easy below this P²Dist (as :data:`maskstats.sweeps.EASY_P2DIST`)."""
HARD_P2DIST = 1.0
"""A masked patch is hard above this P²Dist (as :data:`maskstats.sweeps.HARD_P2DIST`)."""

STATISTICS = {
    "AvgDist [px]": "harder",
    "mean P²Dist [patch]": "harder",
    "easy share": "easier",
    "hard share": "harder",
    "distance to SimMIM band [px]": "farther from SimMIM's moderate band",
}
"""The statistics set beside MAE's accuracies, and what a higher value means."""
ACCURACIES = {"linear": "linear", "fine-tune": "fine_tune"}
"""MAE's two accuracy columns (table column -> :class:`SamplingResult` field)."""


def band_distance(
    avgdist_px: np.ndarray | float, band: tuple[float, float] = SIMMIM_MODERATE_BAND
) -> np.ndarray:
    """How far an AvgDist lies outside SimMIM's moderate band, in pixels (0 inside it).

    Args:
        avgdist_px: AvgDist values in pixels, any shape.
        band: (low, high) in pixels.

    Returns:
        max(low - x, 0, x - high), float64, the shape of ``avgdist_px``.

    Examples:
        >>> from maskstats.literature import band_distance
        >>> band_distance([5.0, 15.0, 26.0]).tolist()  # SimMIM's 10-20 px band
        [5.0, 0.0, 6.0]
    """
    x = np.asarray(avgdist_px, dtype=np.float64)
    return np.maximum(np.maximum(band[0] - x, 0.0), x - band[1])


def mae_sampling_statistics(
    n: int = 2048,
    img_size: int = 224,
    patch_size: int = 16,
    seed: int = 0,
    rows: Sequence[SamplingResult] = MAE_SAMPLING_ABLATION,
    block_min_num_patches: int = 4,
) -> pd.DataFrame:
    """MAE's Table 1(f) beside maskstats' statistics of the same masks.

    Each row's masks come from maskstats' generator of that sampling at that ratio (block: the
    exact-count BEiT generator, by default with its class defaults, min 4 patches per block;
    MAE does not say which it used; grid 0.75: 2 x 2 cells, which tile 14 x 14), ``n`` per
    row, each row its own seed stream ``[seed, k]``.

    Args:
        n: masks per row.
        img_size: image side in pixels (MAE: 224).
        patch_size: patch side in pixels (MAE's ViT-L/16: 16).
        seed: base seed.
        rows: the published rows.
        block_min_num_patches: the block generator's smallest block (BEiT's pretraining: 16).

    Returns:
        One row per sampling ("random 0.75", ...): "fine-tune" and "linear" (MAE's, %),
        "masked share", "AvgDist [px]" (mean over masks), "mean P²Dist [patch]", "easy share"
        and "hard share" (of the masked patches, P²Dist < 0.5 and > 1.0), and
        "distance to SimMIM band [px]" (of the mean AvgDist).
    """
    import pandas as pd

    records = []
    for k, row in enumerate(rows):
        extra = {"min_num_patches": block_min_num_patches} if row.strategy == "block" else {}
        masks = generate(
            row.strategy,
            n,
            img_size,
            patch_size,
            row.mask_ratio,
            seed=np.random.default_rng([seed, k]),
            **extra,
        )
        values = compute(masks, ["p2dist", "avgdist"], patch_size)
        p2 = values["p2dist"][masks].astype(np.float64)
        avg = float(values["avgdist"].astype(np.float64).mean())
        records.append(
            {
                "sampling": row.name,
                "fine-tune": row.fine_tune,
                "linear": row.linear,
                "masked share": float(masked_share(masks).mean()),
                "AvgDist [px]": avg,
                "mean P²Dist [patch]": float(p2.mean()),
                "easy share": float(np.mean(p2 < EASY_P2DIST)),
                "hard share": float(np.mean(p2 > HARD_P2DIST)),
                "distance to SimMIM band [px]": float(band_distance(avg)),
            }
        )
    return pd.DataFrame(records).set_index("sampling")


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy import stats

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y)[0])


def exact_spearman_p(x: Sequence[float], y: Sequence[float]) -> float:
    """Two-sided exact permutation p of Spearman's rho: the share of all orderings of ``y``
    whose |rho| with ``x`` is at least the observed one (for few points; n! orderings).

    With n = 4 the smallest possible value is 2/24 = 0.083 (rho = +1 or -1).
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    observed = abs(_spearman(xs, ys))
    if not np.isfinite(observed):
        return float("nan")
    orders = itertools.permutations(range(len(ys)))
    values = [abs(_spearman(xs, ys[list(order)])) for order in orders]
    return float(np.mean(np.asarray(values) >= observed - 1e-12))


def rank_correlations(table: pd.DataFrame) -> pd.DataFrame:
    """Spearman's rho of each statistic of :func:`mae_sampling_statistics` with MAE's linear
    and fine-tune accuracies, over its rows, with the exact two-sided permutation p.

    Returns:
        One row per statistic (``STATISTICS``): "higher is", "spearman vs linear",
        "p vs linear", "spearman vs fine-tune", "p vs fine-tune". A negative rho: the higher
        the statistic, the lower the accuracy.
    """
    import pandas as pd

    records = []
    for statistic, meaning in STATISTICS.items():
        record: dict[str, object] = {"statistic": statistic, "higher is": meaning}
        x = table[statistic].to_numpy(np.float64)
        for column in ACCURACIES:
            y = table[column].to_numpy(np.float64)
            record[f"spearman vs {column}"] = _spearman(x, y)
            record[f"p vs {column}"] = exact_spearman_p(x, y)
        records.append(record)
    return pd.DataFrame(records).set_index("statistic")


def smallest_exact_p(rows: int) -> float:
    """The smallest two-sided exact permutation p Spearman's rho can reach on ``rows``
    distinct points: 2 / rows!."""
    return 2.0 / math.factorial(rows)


def mae_sampling_finding(
    table: pd.DataFrame,
    correlations: pd.DataFrame,
    other: tuple[str, pd.DataFrame, pd.DataFrame] | None = None,
) -> str:
    """Sentences, from the numbers: which statistic orders MAE's rows as its accuracies do,
    how the difficulty statistics themselves do, how the best one fares with other block
    masks (``other``: (what they are, their table, their correlations)), and what so few rows
    can show."""
    rho = correlations[[f"spearman vs {c}" for c in ACCURACIES]]
    strength = rho.abs().mean(axis=1)
    best = strength.idxmax()
    plain = best.split(" [")[0]
    rows = len(table)

    def both(name: str) -> str:
        return (
            f"{rho.loc[name, 'spearman vs linear']:+.2f} with linear probing, "
            f"{rho.loc[name, 'spearman vs fine-tune']:+.2f} with fine-tuning"
        )

    avg = table["AvgDist [px]"]
    top = {c: table[c].idxmax() for c in ACCURACIES}
    easiest, hardest = avg.idxmin(), avg.idxmax()
    text = f"Of maskstats' statistics, the {plain} orders MAE's {rows} rows best ({both(best)})"
    if best == "distance to SimMIM band [px]":
        text += ": the closer a sampling's AvgDist to 10–20 px, the better its accuracy"
    text += f". AvgDist itself gives {both('AvgDist [px]')}"
    if top["linear"] not in (easiest, hardest):
        text += (
            f": difficulty is not monotone in MAE's numbers — the best row ({top['linear']}, "
            f"{avg[top['linear']]:.1f} px) lies between the easiest ({easiest}, "
            f"{avg[easiest]:.1f} px) and the hardest ({hardest}, {avg[hardest]:.1f} px), "
            "which is SimMIM's moderate-difficulty argument"
        )
    if other is not None:
        what, other_table, other_rho = other
        text += (
            f". With {what} the block rows' AvgDist is "
            + " and ".join(
                f"{other_table.loc[name, 'AvgDist [px]']:.1f} px ({name})"
                for name in other_table.index
                if name.startswith("block")
            )
            + f" and the {plain} gives {other_rho.loc[best, 'spearman vs linear']:+.2f} with "
            f"linear probing, {other_rho.loc[best, 'spearman vs fine-tune']:+.2f} with "
            "fine-tuning"
        )
    text += (
        f". {rows} rows cannot show more than that: even a perfect rank correlation has an "
        f"exact two-sided p of {smallest_exact_p(rows):.3f} ({2} of the {math.factorial(rows)} "
        "orderings), MAE reports one run per row (no seed spread"
    )
    gaps = table["fine-tune"].sort_values().diff().dropna()
    if len(gaps):
        text += f"; the closest fine-tune rows differ by {gaps.min():.1f} points"
    text += "), and statistics that order the rows alike cannot be told apart."
    return text


REPLICATED = {"linear probe": "linear probe top-1", "k-NN": "k-NN top-1"}
"""Columns of a ``maskstats table5 --rows mae-sampling`` table compared with MAE's order."""


def replication_order(ours: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Our run of MAE's ablation beside MAE's numbers, and whether the order reproduces.

    Args:
        ours: the "table" of ``maskstats table5 --rows mae-sampling`` (table5.csv, indexed
            by configuration: "random r=0.75", ...; "<column>" and "<column> std" columns).

    Returns:
        (rows, correlations). rows: one per sampling with MAE's "linear" and "fine-tune",
        our "linear probe", "k-NN", "train loss", "recon loss" and "target AvgDist px" (mean
        and std over seeds), our rank of each accuracy. correlations: Spearman's rho (and
        exact p) of each of our accuracy columns with each of MAE's, over the four rows.
    """
    import pandas as pd

    records = []
    for row in MAE_SAMPLING_ABLATION:
        name = f"{row.strategy} r={row.mask_ratio:g}"
        mine = ours.loc[name]
        record: dict[str, object] = {"sampling": row.name, "linear": row.linear}
        record["fine-tune"] = row.fine_tune
        for column in (*REPLICATED, "train loss", "recon loss", "target AvgDist px"):
            if column in mine:
                record[f"ours: {column}"] = float(mine[column])
                record[f"ours: {column} std"] = float(mine.get(f"{column} std", np.nan))
        records.append(record)
    rows = pd.DataFrame(records).set_index("sampling")
    for column in REPLICATED:
        rows[f"rank: {column}"] = rows[f"ours: {column}"].rank(ascending=False)
    rows["rank: MAE linear"] = rows["linear"].rank(ascending=False)
    rows["rank: MAE fine-tune"] = rows["fine-tune"].rank(ascending=False)
    correlations = []
    for column in REPLICATED:
        x = rows[f"ours: {column}"].to_numpy(np.float64)
        for theirs in ACCURACIES:
            y = rows[theirs].to_numpy(np.float64)
            correlations.append(
                {
                    "ours": column,
                    "MAE": theirs,
                    "spearman": _spearman(x, y),
                    "exact p": exact_spearman_p(x, y),
                }
            )
    return rows, pd.DataFrame(correlations).set_index(["ours", "MAE"])


def _order(values: pd.Series) -> str:
    """'a > b = c > d': the index from the highest value down, '=' between equal values."""
    ordered = values.sort_values(ascending=False, kind="stable")
    text = str(ordered.index[0])
    values_in_order = ordered.to_numpy()
    for k in range(1, len(ordered)):
        equal = values_in_order[k] == values_in_order[k - 1]
        text += f" {'=' if equal else '>'} {ordered.index[k]}"
    return text


def replication_finding(rows: pd.DataFrame, correlations: pd.DataFrame, seeds: int) -> str:
    """Sentences, from the numbers: does our order of the four samplings match MAE's, and
    which of our differences exceed twice the larger seed std."""
    parts = []
    for column in REPLICATED:
        order = _order(rows[f"ours: {column}"])
        rho = correlations.loc[(column, "linear"), "spearman"]
        rho_ft = correlations.loc[(column, "fine-tune"), "spearman"]
        parts.append(
            f"our {column} orders them {order} (Spearman with MAE's linear "
            f"{rho:+.2f}, with its fine-tune {rho_ft:+.2f})"
        )
    text = f"MAE's linear probe orders the samplings {_order(rows['linear'])}; " + "; ".join(parts)
    clear = []
    for column in REPLICATED:
        values = rows[f"ours: {column}"]
        stds = rows[f"ours: {column} std"]
        for a, b in itertools.combinations(rows.index, 2):
            gap = values[a] - values[b]
            if abs(gap) > 2 * max(stds[a], stds[b]):
                high, low = (a, b) if gap > 0 else (b, a)
                clear.append(f"{high} > {low} in {column} ({abs(gap):.3f})")
    if clear:
        text += f". Differences beyond twice the larger seed std ({seeds} seeds): " + "; ".join(
            clear
        )
    else:
        text += f". No difference exceeds twice the larger seed std ({seeds} seeds)"
    return text + "."


# --------------------------------------------------------------------------- I-JEPA, BEiT


def _spread(values: np.ndarray) -> dict[str, float]:
    values = np.asarray(values, dtype=np.float64)
    low, high = np.quantile(values, [0.1, 0.9])
    return {"mean": float(values.mean()), "q10": float(low), "q90": float(high)}


def ijepa_views(
    batches: int = 16,
    img_size: int = 224,
    patch_size: int = 16,
    seed: int = 0,
    settings: dict | None = None,
) -> pd.DataFrame:
    """I-JEPA's masks two ways: untruncated (each context whole, ``multiblock_masks``'
    default) and as its encoder sees them (``collator_batch``: every context cut to its
    batch's smallest), ``batches`` batches of I-JEPA's ImageNet batch size.

    Args:
        batches: batches of ``settings["batch_size"]`` masks.
        img_size: image side in pixels.
        patch_size: patch side in pixels (I-JEPA's ViT-H/14: 14; the report's 16).
        seed: seed (the same for both views).
        settings: I-JEPA's mask settings (default :data:`IJEPA_IN1K`).

    Returns:
        One row per view: "masks", "visible patches" min / q10 / q90 / max (per mask),
        "masked share" mean / q10 / q90, "AvgDist [px]" mean / q10 / q90 (over masks), and
        "batch AvgDist [px]" q10 / q90 (of the batch means).
    """
    import pandas as pd

    from maskstats.masks import grid_from_image
    from maskstats.metrics import avgdist

    config = dict(IJEPA_IN1K if settings is None else settings)
    batch = int(config.pop("batch_size"))
    grid = grid_from_image(img_size, patch_size)
    records = []
    for view, collator in (("untruncated", None), (f"truncated, batch {batch}", batch)):
        masks = multiblock_masks(
            batch * batches, grid, seed=seed, collator_batch=collator, **config
        )
        visible = (~masks).sum(axis=(1, 2))
        share = masked_share(masks)
        distance = np.asarray(avgdist(masks, patch_size), dtype=np.float64)
        per_batch = distance.reshape(batches, batch).mean(axis=1)
        record: dict[str, object] = {"view": view, "masks": len(masks)}
        record.update(
            {
                "visible min": int(visible.min()),
                "visible q10": float(np.quantile(visible, 0.1)),
                "visible q90": float(np.quantile(visible, 0.9)),
                "visible max": int(visible.max()),
            }
        )
        record.update({f"masked share {k}": v for k, v in _spread(share).items()})
        record.update({f"AvgDist [px] {k}": v for k, v in _spread(distance).items()})
        low, high = np.quantile(per_batch, [0.1, 0.9])
        record.update({"batch AvgDist [px] q10": float(low), "batch AvgDist [px] q90": float(high)})
        records.append(record)
    return pd.DataFrame(records).set_index("view")


def beit_count_fill(
    n: int = 2048,
    seed: int = 0,
    cases: Sequence[tuple[str, int, int]] | None = None,
    grid: int = 14,
    patch_size: int = 16,
) -> pd.DataFrame:
    """How often BEiT's own loop stops short of its count, and what maskstats' exact-count
    fill changes: for each case, the same seed with ``exact_count=False`` (BEiT's loop) and
    True (filled), so both have the same rectangles.

    Args:
        n: masks per case.
        seed: seed of every case.
        cases: (name, masked count, min_num_patches); default BEiT's preset (75, 16), 75 with
            the class default 4, and ratio 0.9 (176 of 196) with 4 and with 16.
        grid: patch grid side (BEiT at 224/16: 14).
        patch_size: pixels per patch.

    Returns:
        One row per case: "count", "min_num_patches", "short share" (masks BEiT's loop leaves
        short), "empty share" (masks it leaves with nothing masked: its first rectangle found
        no place in 10 tries), "mean shortfall" (patches, over the short masks), "AvgDist
        BEiT [px]" (over the masks with something masked), "AvgDist exact [px]", "change"
        (exact / BEiT - 1 of those means) and "change, short masks" (the mean of
        exact / BEiT - 1 over the short masks with something masked).
    """
    import pandas as pd

    from maskstats.metrics import avgdist

    cells = grid * grid
    at_09 = cells - int(cells * (1 - 0.9))
    cases = cases or (
        ("BEiT's preset: 75 patches, min 16", BEIT_PRETRAINING["num_masking_patches"], 16),
        ("75 patches, min 4", 75, 4),
        (f"ratio 0.9 ({at_09} patches), min 4", at_09, 4),
        (f"ratio 0.9 ({at_09} patches), min 16", at_09, 16),
    )
    records = []
    for name, count, smallest in cases:
        kwargs: dict[str, Any] = dict(
            num_masking_patches=count, min_num_patches=smallest, seed=seed
        )
        own = block_masks(n, grid, exact_count=False, **kwargs)
        exact = block_masks(n, grid, **kwargs)
        counts = own.sum(axis=(1, 2))
        short = counts < count
        own_px = np.asarray(avgdist(own, patch_size), dtype=np.float64)  # NaN: nothing masked
        exact_px = np.asarray(avgdist(exact, patch_size), dtype=np.float64)
        beit, filled = float(np.nanmean(own_px)), float(exact_px.mean())
        both = short & (counts > 0)
        records.append(
            {
                "case": name,
                "count": count,
                "min_num_patches": smallest,
                "short share": float(short.mean()),
                "empty share": float(np.mean(counts == 0)),
                "mean shortfall": float((count - counts[short]).mean()) if short.any() else 0.0,
                "AvgDist BEiT [px]": beit,
                "AvgDist exact [px]": filled,
                "change": filled / beit - 1.0,
                "change, short masks": (
                    float((exact_px[both] / own_px[both] - 1.0).mean()) if both.any() else 0.0
                ),
            }
        )
    return pd.DataFrame(records).set_index("case")
