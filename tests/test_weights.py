import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maskstats import weights
from maskstats.masks import random_masks
from maskstats.metrics import p2dist


def test_flatten_alpha_one_equalises_bin_totals_and_has_mean_one():
    masks = random_masks(64, 14, 0.9, seed=0)
    difficulty = p2dist(masks, patch_size=16)[masks]
    binning = weights.default_binning("p2dist")
    w = weights.flatten_weights(difficulty, binning, alpha=1.0)
    assert w.mean() == pytest.approx(1.0, rel=1e-5)
    bins = binning.assign(difficulty)
    totals = np.bincount(bins, weights=w)
    totals = totals[totals > 0]
    np.testing.assert_allclose(totals, totals[0], rtol=1e-4)
    # Easy patches are rare at 0.9, so they get more weight than hard ones.
    assert w[difficulty < 0.5].mean() > w[(difficulty > 1.0) & (difficulty < 2.0)].mean()


def test_flatten_alpha_zero_is_plain_mae():
    difficulty = np.random.default_rng(0).random(100) * 3
    w = weights.flatten_weights(difficulty, weights.default_binning("p2dist"), alpha=0.0)
    np.testing.assert_allclose(w, 1.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-20, 20, allow_nan=False), min_size=0, max_size=50),
    st.sampled_from(weights.DIFFICULTY_METRICS),
    st.sampled_from(["flatten", "inverse", "none"]),
    st.floats(0, 2),
)
def test_weights_are_finite_with_mean_one(values, metric, weighting, power):
    difficulty = np.array(values, dtype=np.float64)
    w = weights.patch_weights(difficulty, weighting, weights.default_binning(metric), power, power)
    assert w.shape == difficulty.shape and np.isfinite(w).all() and (w > 0).all()
    if len(values):
        assert w.mean() == pytest.approx(1.0, rel=1e-5)


def test_constant_difficulty_gives_unit_weights():
    w = weights.flatten_weights(np.full(10, 1.5), weights.default_binning("p2dist"))
    np.testing.assert_allclose(w, 1.0)


def test_inverse_weights_fall_with_difficulty():
    w = weights.inverse_weights(np.array([0.2, 1.0, 3.0]), weights.default_binning("p2dist"))
    assert w[0] > w[1] > w[2]


@pytest.mark.parametrize("q", [0.0, 0.1, 0.25, 0.5, 0.9])
def test_decoder_keep_drops_exactly_the_hardest(q):
    masks = random_masks(32, 14, 0.75, seed=1).reshape(32, -1)
    difficulty = weights.patch_difficulty(masks.reshape(32, 14, 14), "p2dist", 16).reshape(32, -1)
    keep = weights.decoder_keep(masks, difficulty, q, np.random.default_rng(0))
    n_masked = masks.sum(axis=1)
    assert not (keep & ~masks).any()  # only masked patches are selected
    np.testing.assert_array_equal(keep.sum(axis=1), n_masked - np.floor(q * n_masked))
    for row in range(32):
        dropped = difficulty[row][masks[row] & ~keep[row]]
        kept = difficulty[row][keep[row]]
        if dropped.size and kept.size:
            assert dropped.min() >= kept.max()


def test_decoder_keep_breaks_ties_at_random():
    masks = np.ones((1, 10), dtype=bool)
    masks[0, 0] = False
    difficulty = np.where(masks, 1.0, np.nan)
    picks = {
        tuple(weights.decoder_keep(masks, difficulty, 0.5, np.random.default_rng(s))[0])
        for s in range(20)
    }
    assert len(picks) > 1


def test_density_metrics_are_oriented_as_difficulty():
    masks = random_masks(8, 14, 0.75, seed=0)
    hard = weights.patch_difficulty(masks, "density3", 16)
    raw = weights.compute(masks, "density3", 16)["density3"]
    np.testing.assert_array_equal(hard[masks], -raw[masks])
