"""maskstats.literature: the comparison tables against hand-computed values and the generators
they describe."""

import math

import numpy as np
import pandas as pd
import pytest

from maskstats import literature
from maskstats.literature import (
    MAE_SAMPLING_ABLATION,
    band_distance,
    exact_spearman_p,
    mae_sampling_finding,
    mae_sampling_statistics,
    rank_correlations,
    replication_finding,
    replication_order,
)
from maskstats.masks import block_masks
from maskstats.metrics import avgdist


def test_band_distance_by_hand():
    np.testing.assert_array_equal(
        band_distance([5.0, 10.0, 15.0, 20.0, 22.5]), [5.0, 0.0, 0.0, 0.0, 2.5]
    )
    assert band_distance(3.0, band=(4.0, 6.0)) == 1.0


def test_exact_spearman_p_counts_orderings_by_hand():
    # Four distinct points: rho = 1 - sum(d^2) / 10. |rho| >= 0.8 for sum(d^2) in {0, 2} and
    # {18, 20}: 1 + 3 + 3 + 1 of the 24 orderings.
    x = [1, 2, 3, 4]
    assert exact_spearman_p(x, [1, 2, 3, 4]) == pytest.approx(2 / 24)
    assert exact_spearman_p(x, [4, 3, 2, 1]) == pytest.approx(2 / 24)
    assert exact_spearman_p(x, [1, 2, 4, 3]) == pytest.approx(8 / 24)
    assert literature.smallest_exact_p(4) == pytest.approx(2 / 24)
    assert math.isnan(exact_spearman_p(x, [1, 1, 1, 1]))


def _synthetic(avg):
    """A table shaped like mae_sampling_statistics' with MAE's accuracies and given AvgDist."""
    table = pd.DataFrame(
        {
            "fine-tune": [r.fine_tune for r in MAE_SAMPLING_ABLATION],
            "linear": [r.linear for r in MAE_SAMPLING_ABLATION],
            "AvgDist [px]": avg,
        },
        index=[r.name for r in MAE_SAMPLING_ABLATION],
    )
    table["mean P²Dist [patch]"] = table["AvgDist [px]"] / 16
    table["easy share"] = 1 / table["AvgDist [px]"]
    table["hard share"] = table["AvgDist [px]"] / 100
    table["distance to SimMIM band [px]"] = band_distance(table["AvgDist [px]"])
    return table


def test_rank_correlations_by_hand():
    # AvgDist in the order random 10, block 0.5 25, block 0.75 35, grid 5: band distances
    # 0, 5, 15, 5... use 24 for block 0.5 so the distances 0, 4, 15, 5 rank like MAE's linear
    # (73.5 > 72.3 > 66.0 > 63.9 is random, block 0.5, grid, block 0.75).
    table = _synthetic([10.0, 24.0, 35.0, 5.0])
    rho = rank_correlations(table)
    assert rho.loc["distance to SimMIM band [px]", "spearman vs linear"] == pytest.approx(-1.0)
    assert rho.loc["distance to SimMIM band [px]", "p vs linear"] == pytest.approx(2 / 24)
    # AvgDist ranks (2, 3, 4, 1) against linear ranks (4, 3, 1, 2): sum d^2 = 4+0+9+1 = 14.
    assert rho.loc["AvgDist [px]", "spearman vs linear"] == pytest.approx(1 - 6 * 14 / 60)
    # Orientation: easy share falls as AvgDist rises, so its rho has the opposite sign.
    assert rho.loc["easy share", "spearman vs linear"] == pytest.approx(
        -rho.loc["AvgDist [px]", "spearman vs linear"]
    )
    finding = mae_sampling_finding(table, rho)
    assert finding.startswith("Of maskstats' statistics, the distance to SimMIM band orders")
    assert "0.083" in finding and "24 orderings" in finding
    assert "the best row (random 0.75, 10.0 px) lies between the easiest (grid 0.75" in finding


def test_mae_sampling_statistics_of_known_masks():
    table = mae_sampling_statistics(n=256, seed=0)
    assert list(table.index) == ["random 0.75", "block 0.5", "block 0.75", "grid 0.75"]
    np.testing.assert_allclose(table["masked share"], [0.75, 0.5, 0.75, 0.75])
    # Grid 0.75 on 14 x 14: one visible patch per 2 x 2 cell; every masked patch has a visible
    # 4-neighbour: no hard patch; AvgDist 5.95 px for every mask (the README's number).
    grid = table.loc["grid 0.75"]
    assert grid["hard share"] == 0.0 and grid["AvgDist [px]"] == pytest.approx(5.953, abs=1e-3)
    assert grid["distance to SimMIM band [px]"] == pytest.approx(10 - grid["AvgDist [px]"])
    assert table.loc["random 0.75", "distance to SimMIM band [px]"] == 0.0
    # The block rows are the block generator's masks: the same seed stream gives the same mean.
    masks = block_masks(256, 14, 0.5, seed=np.random.default_rng([0, 1]))
    assert table.loc["block 0.5", "AvgDist [px]"] == pytest.approx(avgdist(masks, 16).mean())
    assert table["AvgDist [px]"].idxmax() == "block 0.75"
    table16 = mae_sampling_statistics(n=256, seed=0, block_min_num_patches=16)
    assert table16.loc["block 0.75", "AvgDist [px]"] > table.loc["block 0.75", "AvgDist [px]"]
    np.testing.assert_array_equal(table16.loc["grid 0.75"], table.loc["grid 0.75"])


def test_ijepa_views_cut_contexts_to_their_batch():
    views = literature.ijepa_views(batches=4, seed=1)
    whole, cut = views.loc["untruncated"], views.loc["truncated, batch 128"]
    assert whole["masks"] == cut["masks"] == 512
    assert cut["visible max"] <= whole["visible max"]
    assert cut["masked share mean"] > whole["masked share mean"]
    assert cut["AvgDist [px] mean"] > whole["AvgDist [px] mean"]


def test_beit_count_fill_compares_the_same_rectangles():
    table = literature.beit_count_fill(n=400, seed=2, cases=(("preset", 75, 16),))
    row = table.loc["preset"]
    own = block_masks(
        400, 14, num_masking_patches=75, min_num_patches=16, seed=2, exact_count=False
    )
    counts = own.sum(axis=(1, 2))
    assert row["short share"] == pytest.approx(np.mean(counts < 75))
    assert row["mean shortfall"] == pytest.approx(np.mean(75 - counts[counts < 75]))
    assert row["AvgDist BEiT [px]"] == pytest.approx(avgdist(own, 16).mean())
    assert row["change"] == pytest.approx(row["AvgDist exact [px]"] / row["AvgDist BEiT [px]"] - 1)


def test_replication_order_and_finding_by_hand():
    names = ["untrained encoder", "random r=0.75", "block r=0.5", "block r=0.75", "grid r=0.75"]
    ours = pd.DataFrame(
        {
            "linear probe": [0.70, 0.80, 0.79, 0.75, 0.76],
            "linear probe std": [0.001] * 5,
            "k-NN": [0.60, 0.72, 0.72, 0.70, 0.65],
            "k-NN std": [0.011] * 5,
        },
        index=pd.Index(names, name="configuration"),
    )
    rows, rho = replication_order(ours)
    assert list(rows.index) == [r.name for r in MAE_SAMPLING_ABLATION]
    # Our probe orders random > block 0.5 > grid > block 0.75, as MAE's linear column does.
    assert rho.loc[("linear probe", "linear"), "spearman"] == pytest.approx(1.0)
    assert rho.loc[("linear probe", "linear"), "exact p"] == pytest.approx(2 / 24)
    assert list(rows["rank: linear probe"]) == [1, 2, 4, 3]
    finding = replication_finding(rows, rho, seeds=3)
    assert "our k-NN orders them random 0.75 = block 0.5 > block 0.75 > grid 0.75" in finding
    assert "random 0.75 > block 0.5 in linear probe (0.010)" in finding
    # k-NN: 0.72 vs 0.70 is within 2 stds (0.022); 0.72 vs 0.65 is beyond.
    assert "random 0.75 > grid 0.75 in k-NN (0.070)" in finding
    assert "random 0.75 > block 0.75 in k-NN" not in finding
