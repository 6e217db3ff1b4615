import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maskstats import weights
from maskstats.masks import random_masks
from maskstats.metrics import p2dist


def test_histogram_alpha_one_equalises_bin_totals_and_has_mean_one():
    masks = random_masks(64, 14, 0.9, seed=0)
    difficulty = p2dist(masks, patch_size=16)[masks]
    binning = weights.default_binning("p2dist")
    w = weights.histogram_weights(difficulty, binning, alpha=1.0)
    assert w.mean() == pytest.approx(1.0, rel=1e-5)
    bins = binning.assign(difficulty)
    totals = np.bincount(bins, weights=w)
    totals = totals[totals > 0]
    np.testing.assert_allclose(totals, totals[0], rtol=1e-4)
    # What the equaliser gets wrong: the rare hardest bin outweighs the common middle ones.
    hardest = bins == bins.max()
    middle = (difficulty > 1.0) & (difficulty < 2.0)
    assert w[hardest].mean() > 2 * w[middle].mean()


def test_flatten_worked_example_by_hand():
    # nearest 1, 1, 2, 2, 2, 3, 3, 3: shares at most this hard F = 2/8, 5/8, 8/8.
    nearest = np.array([1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0])
    w = weights.flatten_weights(nearest, "nearest", alpha=1.0, min_share=0.0)
    raw = np.array([4.0, 4.0, 1.6, 1.6, 1.6, 1.0, 1.0, 1.0])  # 1 / F
    np.testing.assert_allclose(w, raw / raw.mean(), rtol=1e-6)  # mean 15.8 / 8 = 1.975
    # alpha 0.5: 1 / sqrt(F) = 2, 1.2649, 1.
    w = weights.flatten_weights(nearest, "nearest", alpha=0.5, min_share=0.0)
    raw = np.array([2.0, 2.0] + [np.sqrt(1.6)] * 3 + [1.0] * 3)
    np.testing.assert_allclose(w, raw / raw.mean(), rtol=1e-6)
    # min_share 0.5 pools the easiest half: F = 0.25 is raised to 0.5, 0.625 stays.
    w = weights.flatten_weights(nearest, "nearest", alpha=1.0, min_share=0.5)
    raw = np.array([2.0, 2.0, 1.6, 1.6, 1.6, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(w, raw / raw.mean(), rtol=1e-6)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(0, 12, allow_nan=False), min_size=1, max_size=80),
    st.sampled_from(weights.DIFFICULTY_METRICS),
    st.floats(0, 3),
    st.floats(0, 0.5),
)
def test_flatten_never_gives_a_harder_patch_more_weight(values, metric, alpha, min_share):
    raw = np.array(values, dtype=np.float64)
    w = weights.flatten_weights(raw, metric, alpha, min_share=min_share).astype(np.float64)
    difficulty = np.asarray(weights.REGISTRY[metric].difficulty(raw), np.float64)
    order = np.argsort(difficulty, kind="stable")
    assert (np.diff(w[order]) <= 1e-6 * w.max()).all()  # non-increasing in difficulty
    # The hardest patch has the smallest weight, and the bounds hold for any input.
    assert w[difficulty == difficulty.max()].min() == pytest.approx(w.min())
    if min_share >= 1e-3:
        bound = min_share**-alpha
        ess = w.sum() ** 2 / (w**2).sum() / w.size
        assert w.max() <= bound * w.mean() * (1 + 1e-5)
        assert ess >= 4 * bound / (1 + bound) ** 2 - 1e-6


def _quintile_means(difficulty, w):
    order = np.argsort(difficulty, kind="stable")
    return [float(part.mean()) for part in np.array_split(w[order], 5)]


@pytest.mark.parametrize("metric", weights.DIFFICULTY_METRICS)
def test_flatten_balances_supervision_at_a_high_ratio(metric):
    # At 0.9 easy targets are rare: the easiest fifth gets more than its share of the weight,
    # the hardest fifth less, and the loss trains on easier targets than the masks hold.
    masks = random_masks(256, 14, 0.9, seed=1)
    values = weights.compute(masks, [metric, "p2dist"], 16)
    difficulty = weights.REGISTRY[metric].difficulty(values[metric][masks])
    w = weights.flatten_weights(values[metric][masks], metric)
    quintiles = _quintile_means(difficulty, w)
    assert quintiles[0] > 1.0 > quintiles[-1]
    assert quintiles == sorted(quintiles, reverse=True)
    d = weights.LossDifficulty.from_patches(values["p2dist"][masks], w, 16)
    assert d.effective_avgdist < d.avgdist


@pytest.mark.parametrize("metric", weights.DIFFICULTY_METRICS)
@pytest.mark.parametrize("ratio", [0.75, 0.8, 0.85, 0.9, 0.95])
def test_flatten_defaults_let_no_patch_dominate(metric, ratio):
    # Batch of 256 at 224/16: ESS at least 10% of the patches, no weight above 100x the mean.
    masks = random_masks(256, 14, ratio, seed=2)
    raw = weights.compute(masks, metric, 16)[metric][masks]
    w = weights.patch_weights(raw, "flatten", metric).astype(np.float64)
    ess = w.sum() ** 2 / (w**2).sum() / w.size
    assert ess >= 0.10 and w.max() <= 100 * w.mean()


def test_histogram_flatten_makes_the_p2dist_task_harder():
    # The artefact the histogram equaliser has (and flatten has not) at 0.9 with P2Dist.
    masks = random_masks(256, 14, 0.9, seed=0)
    raw = p2dist(masks, 16)[masks]
    hist = weights.LossDifficulty.from_patches(raw, weights.histogram_weights(raw), 16)
    flat = weights.LossDifficulty.from_patches(raw, weights.flatten_weights(raw), 16)
    assert hist.effective_avgdist > hist.avgdist > flat.effective_avgdist
    assert flat.ess_share > 10 * hist.ess_share


def test_loss_difficulty_by_hand():
    d = weights.LossDifficulty.from_patches([1.0, 2.0, 3.0], [2.0, 1.0, 0.5], 16)
    assert d.effective_avgdist == pytest.approx(16 * 5.5 / 3.5)
    assert d.avgdist == pytest.approx(32.0)
    assert d.ess_share == pytest.approx(3.5**2 / 5.25 / 3)
    assert d.max_weight == pytest.approx(2.0 / (3.5 / 3))
    assert d.patches == 3


def test_loss_difficulty_counts_only_patches_in_the_loss():
    masks = random_masks(16, 14, 0.9, seed=4)
    values = p2dist(masks, 16)
    w = np.zeros(masks.shape, np.float32)
    w[masks] = weights.flatten_weights(values[masks])
    w[0, masks[0]] = 0.0  # as if decoder masking dropped all of image 0's targets
    d = weights.loss_difficulty(masks.reshape(16, -1), w.reshape(16, -1), 16, grid=14)
    kept = masks & (w > 0)
    expected = 16 * (w[kept] * values[kept]).sum() / w[kept].sum()
    assert d.patches == kept.sum() and d.effective_avgdist == pytest.approx(expected, rel=1e-6)
    assert d.avgdist == pytest.approx(16 * values[kept].mean(), rel=1e-6)
    assert weights.loss_difficulty(masks, w, 16, p2dist=values) == d


def test_weighting_parameters_are_checked():
    for bad in (dict(alpha=float("nan")), dict(alpha=-1.0), dict(alpha=1e30)):
        with pytest.raises(ValueError, match="alpha must be"):
            weights.flatten_weights(np.ones(3), "p2dist", **bad)
    with pytest.raises(ValueError, match="min_share must be"):
        weights.flatten_weights(np.ones(3), "p2dist", min_share=float("nan"))
    with pytest.raises(ValueError, match="gamma must be"):
        weights.inverse_weights(np.ones(3), "p2dist", gamma=float("nan"))


def test_flatten_alpha_zero_is_plain_mae():
    difficulty = np.random.default_rng(0).random(100) * 3
    for fn in (weights.flatten_weights, weights.histogram_weights):
        w = fn(difficulty, weights.default_binning("p2dist"), alpha=0.0)
        np.testing.assert_allclose(w, 1.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 20, allow_nan=False), min_size=0, max_size=50),
    st.sampled_from(weights.DIFFICULTY_METRICS),
    st.sampled_from(weights.WEIGHTINGS),
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
    w = weights.patch_weights(difficulty[masks], oriented=True)  # flatten, alpha 0.5
    expected = weights.flatten_weights(difficulty[masks], "p2dist", weights.FLATTEN_ALPHA)
    np.testing.assert_array_equal(w, expected)
    assert weights.FLATTEN_ALPHA == 0.5 and weights.FLATTEN_MIN_SHARE == 0.01
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
    for fn in (weights.flatten_weights, weights.histogram_weights):
        split = np.concatenate([fn(h, "p2dist", counts=counts) for h in halves])
        whole = fn(raw[masks], "p2dist")
        np.testing.assert_allclose(split, whole, rtol=1e-6)
        assert not np.allclose(fn(halves[0], "p2dist"), split[: len(halves[0])])


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
