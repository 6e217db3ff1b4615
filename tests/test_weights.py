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
    st.lists(st.floats(0, 20, allow_nan=False), min_size=0, max_size=50),
    st.sampled_from(weights.DIFFICULTY_METRICS),
    st.sampled_from(["flatten", "inverse", "none"]),
    st.floats(0, 2),
    st.booleans(),
)
def test_weights_are_finite_with_mean_one(values, metric, weighting, power, oriented):
    raw = np.array(values, dtype=np.float64)
    values = weights.REGISTRY[metric].difficulty(raw) if oriented else raw
    w = weights.patch_weights(values, weighting, metric, power, power, oriented=oriented)
    assert w.shape == raw.shape and np.isfinite(w).all() and (w > 0).all()
    if len(raw):
        assert w.mean() == pytest.approx(1.0, rel=1e-5)
    # The old form (a Binning over oriented difficulty) gives the same weights.
    oriented_values = weights.REGISTRY[metric].difficulty(raw)
    old = weights.patch_weights(
        oriented_values, weighting, weights.default_binning(metric), power, power
    )
    np.testing.assert_allclose(old, w, rtol=1e-6)


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
    np.testing.assert_array_equal(keep, weights.decoder_keep(masks, difficulty, q, rng=0))
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


def test_difficulty_metrics_are_the_patch_metrics():
    from maskstats.metrics import PATCH_METRICS

    assert weights.DIFFICULTY_METRICS == PATCH_METRICS


def test_nan_difficulty_is_rejected_with_how_to_select_masked_patches():
    masks = random_masks(4, 14, 0.9, seed=0)
    difficulty = weights.patch_difficulty(masks, "p2dist", 16)
    for fn in (weights.flatten_weights, weights.inverse_weights):
        with pytest.raises(ValueError, match=r"values\[masks\]"):
            fn(difficulty, "p2dist", oriented=True)
    for weighting in weights.WEIGHTINGS:
        with pytest.raises(ValueError, match=r"values\[masks\]"):
            weights.patch_weights(difficulty, weighting, oriented=True)
    # Selecting the masked patches is what the message asks for, and works.
    assert weights.flatten_weights(difficulty[masks], oriented=True).shape == (masks.sum(),)


def test_raw_density3_is_oriented_by_name_and_mixups_raise():
    masks = random_masks(16, 14, 0.9, seed=1)
    raw = weights.compute(masks, "density3", 16)["density3"][masks]
    by_name = weights.flatten_weights(raw, "density3")
    oriented = weights.flatten_weights(-raw, "density3", oriented=True)
    np.testing.assert_array_equal(by_name, oriented)
    assert len(np.unique(by_name)) > 1  # more than one bin: not plain MAE
    with pytest.raises(ValueError, match="oriented=True"):
        weights.flatten_weights(-raw[raw > 0], "density3")
    with pytest.raises(ValueError, match="oriented=False"):
        weights.flatten_weights(raw[raw > 0], "density3", oriented=True)
    # The trap of the old form: raw values with the oriented Binning.
    with pytest.raises(ValueError, match="REGISTRY"):
        weights.flatten_weights(raw, weights.default_binning("density3"))


def test_defaults_everywhere():
    masks = random_masks(4, 14, 0.75, seed=0)
    difficulty = weights.patch_difficulty(masks)  # p2dist, patch 16
    np.testing.assert_array_equal(difficulty, weights.patch_difficulty(masks, "p2dist", 16))
    w = weights.patch_weights(difficulty[masks], oriented=True)  # flatten, alpha 1
    np.testing.assert_array_equal(w, weights.flatten_weights(difficulty[masks], "p2dist", 1.0))
    keep = weights.decoder_keep(masks, difficulty)  # q = 0 keeps every masked patch
    np.testing.assert_array_equal(keep, masks.reshape(4, -1))


def test_patch_difficulty_takes_flat_masks_with_grid():
    masks = random_masks(3, (7, 9), 0.6, seed=2)
    flat = weights.patch_difficulty(masks.reshape(3, -1), "nearest", 16, grid=(7, 9))
    assert flat.shape == (3, 63)
    np.testing.assert_array_equal(flat, weights.patch_difficulty(masks, "nearest").reshape(3, -1))


def test_global_counts_give_the_global_batch_weights():
    masks = random_masks(32, 14, 0.9, seed=3)
    raw = weights.compute(masks, "p2dist", 16)["p2dist"]
    halves = raw[:16][masks[:16]], raw[16:][masks[16:]]
    counts = sum(weights.bin_counts(h, "p2dist") for h in halves)
    split = np.concatenate([weights.flatten_weights(h, "p2dist", counts=counts) for h in halves])
    whole = weights.flatten_weights(raw[masks], "p2dist")
    np.testing.assert_allclose(split, whole, rtol=1e-6)


def test_decoder_keep_takes_torch_and_float64_and_is_reproducible():
    torch = pytest.importorskip("torch")
    masks = random_masks(16, 14, 0.75, seed=4).reshape(16, -1)
    difficulty = weights.patch_difficulty(masks, "density3", 16, grid=14)  # many ties
    keep = weights.decoder_keep(torch.from_numpy(masks), torch.from_numpy(difficulty), 0.4, 7)
    assert isinstance(keep, torch.Tensor) and keep.dtype == torch.bool
    np.testing.assert_array_equal(keep.numpy(), weights.decoder_keep(masks, difficulty, 0.4, 7))
    assert not np.array_equal(keep.numpy(), weights.decoder_keep(masks, difficulty, 0.4, 8))
    # float64 values that float32 cannot hold take the sorting path, same contract.
    fine = difficulty.astype(np.float64) + 1e-12 * np.arange(196)
    keep64 = weights.decoder_keep(masks, fine, 0.4, 0)
    n_masked = masks.sum(axis=1)
    np.testing.assert_array_equal(keep64.sum(axis=1), n_masked - np.floor(0.4 * n_masked))
    for row in range(16):
        assert fine[row][masks[row] & ~keep64[row]].min() >= fine[row][keep64[row]].max()


def test_decoder_keep_ties_are_uniform():
    # 4 tied masked patches, drop 2: each pair of the 6 should come up about equally often.
    masks = np.ones((3000, 5), dtype=bool)
    masks[:, 0] = False
    difficulty = np.where(masks, 2.0, np.nan).astype(np.float32)
    keep = weights.decoder_keep(masks, difficulty, 0.5, 0)
    dropped = masks & ~keep
    patterns, counts = np.unique(dropped, axis=0, return_counts=True)
    assert len(patterns) == 6 and counts.min() > 400
