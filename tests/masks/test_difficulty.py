import itertools

import numpy as np
import pytest

from maskstats import masks as mask_lib
from maskstats.masks import mae_num_masked, random_masks
from maskstats.masks.difficulty import achievable_range, difficulty_masks, mean_pairwise_hamming
from maskstats.metrics import avgdist, p2dist


def brute_force_range(grid, mask_ratio, patch_size):
    height, width = grid
    size = height * width
    visible = size - mae_num_masked(size, mask_ratio)
    combos = np.array(list(itertools.combinations(range(size), visible)))
    masks = np.ones((len(combos), size), dtype=bool)
    np.put_along_axis(masks, combos, False, axis=1)
    values = avgdist(masks.reshape(-1, height, width), patch_size=patch_size)
    return float(values.min()), float(values.max())


@pytest.mark.parametrize(
    ("grid", "ratio", "patch_size"),
    [
        ((4, 4), 0.5, 4),
        ((4, 4), 0.75, 16),
        ((4, 4), 0.9, 4),
        ((5, 5), 0.75, 4),
        ((5, 5), 0.9, 16),
        ((4, 5), 0.6, 4),
    ],
)
def test_achievable_range_matches_brute_force(grid, ratio, patch_size):
    low, high = achievable_range(grid, ratio, patch_size)
    expected_low, expected_high = brute_force_range(grid, ratio, patch_size)
    assert low == pytest.approx(expected_low, rel=1e-5)
    assert high == pytest.approx(expected_high, rel=1e-5)


@pytest.fixture(scope="module")
def random_reference():
    masks = random_masks(2000, 14, 0.75, seed=3)
    values = avgdist(masks, patch_size=16)
    return masks, np.quantile(values, [0.1, 0.5, 0.9])


@pytest.mark.parametrize("quantile", [0, 1, 2])
def test_masks_hit_the_target_with_exact_count_and_diversity(random_reference, quantile):
    random_set, quantiles = random_reference
    target = float(quantiles[quantile])
    masks = difficulty_masks(300, 14, 0.75, 16, target_avgdist=target, tol=0.02, seed=0)
    assert masks.shape == (300, 14, 14)
    assert (masks.sum(axis=(1, 2)) == 147).all()
    values = avgdist(masks, patch_size=16)
    assert (np.abs(values - target) <= 0.02 * target + 1e-6).all()
    assert mean_pairwise_hamming(masks) >= 0.5 * mean_pairwise_hamming(random_set)


@pytest.mark.parametrize("fraction", [0.15, 0.85])
def test_targets_far_from_random_are_reached(fraction):
    low, high = achievable_range((8, 8), 0.75, 8)
    target = low + fraction * (high - low)
    masks = difficulty_masks(40, (8, 8), 0.75, 8, target_avgdist=target, tol=0.03, seed=1)
    values = avgdist(masks, patch_size=8)
    assert (np.abs(values - target) <= 0.03 * target + 1e-6).all()
    assert (masks.sum(axis=(1, 2)) == 48).all()


def test_p2dist_target_and_determinism():
    first = difficulty_masks(50, (10, 12), 0.8, 8, target_p2dist=1.0, seed=4)
    again = difficulty_masks(50, (10, 12), 0.8, 8, target_p2dist=1.0, seed=4)
    np.testing.assert_array_equal(first, again)
    p2 = p2dist(first, patch_size=8).astype(np.float64)
    means = np.nansum(p2, axis=(1, 2)) / first.sum(axis=(1, 2))
    assert (np.abs(means - 1.0) <= 0.02 + 1e-6).all()


def test_out_of_range_target_names_the_range():
    low, high = achievable_range(14, 0.75, 16)
    with pytest.raises(ValueError, match=f"{low:.3f}, {high:.3f}"):
        difficulty_masks(4, 14, 0.75, 16, target_avgdist=high * 1.5)
    with pytest.raises(ValueError, match="exactly one"):
        difficulty_masks(4, 14, 0.75, 16)


def test_generate_dispatches_difficulty():
    masks = mask_lib.generate("difficulty", 10, 64, 8, 0.75, seed=0, target_avgdist=6.0)
    values = avgdist(masks, patch_size=8)
    assert (np.abs(values - 6.0) <= 0.02 * 6.0 + 1e-6).all()
