import itertools
import math

import numpy as np
import pytest

from maskstats import masks as mask_lib
from maskstats.masks import mae_num_masked, random_masks
from maskstats.masks.difficulty import achievable_range, difficulty_masks, mean_pairwise_hamming
from maskstats.metrics import avgdist, p2dist


def brute_force(grid, mask_ratio, patch_size):
    """AvgDist (float32, the metric's API) of every mask, and the masks."""
    height, width = grid
    size = height * width
    visible = size - mae_num_masked(size, mask_ratio)
    combos = np.array(list(itertools.combinations(range(size), visible)))
    masks = np.ones((len(combos), size), dtype=bool)
    np.put_along_axis(masks, combos, False, axis=1)
    masks = masks.reshape(-1, height, width)
    return avgdist(masks, patch_size=patch_size), masks


BRUTE_FORCE_CASES = [
    ((3, 3), 0.5, 1),
    ((3, 3), 0.75, 16),
    ((4, 4), 0.5, 4),
    ((4, 4), 0.75, 16),
    ((4, 4), 0.9, 4),
    ((4, 4), 0.6, 3),
    ((5, 5), 0.75, 4),
    ((5, 5), 0.9, 16),
    ((5, 5), 0.9, 1),
    ((4, 5), 0.6, 4),
    ((4, 5), 0.75, 3),
    ((4, 5), 0.5, 16),
    ((3, 6), 0.5, 3),
    ((3, 6), 0.75, 1),
    ((2, 7), 0.6, 4),
    ((2, 7), 0.3, 16),
]


@pytest.mark.parametrize(("grid", "ratio", "patch_size"), BRUTE_FORCE_CASES)
def test_achievable_range_is_exact_on_small_grids(grid, ratio, patch_size):
    found = achievable_range(grid, ratio, patch_size)
    values, _ = brute_force(grid, ratio, patch_size)
    assert found.exact and found.method.startswith("enumeration")
    # The same float64 sums as the metric: its float32 AvgDist is the rounded value.
    assert np.float32(found.low) == values.min()
    assert np.float32(found.high) == values.max()
    num_masked = mae_num_masked(grid[0] * grid[1], ratio)
    for mask, value in ((found.easiest, found.low), (found.hardest, found.high)):
        assert mask.shape == grid and mask.sum() == num_masked
        assert avgdist(mask[None], patch_size)[0] == np.float32(value)
    low, high = found
    assert (low, high) == (found.low, found.high)


SEARCH_GRIDS = [(3, 3), (3, 4), (4, 4), (3, 5), (2, 7), (4, 5), (3, 6), (5, 5), (2, 8), (4, 6)]


@pytest.mark.parametrize("grid", SEARCH_GRIDS)
def test_search_finds_the_enumerated_extremes(grid):
    """The search (forced on) against enumeration at several ratios and patch sizes."""
    size = grid[0] * grid[1]
    for ratio in (0.3, 0.5, 0.6, 0.75, 0.9):
        num_masked = mae_num_masked(size, ratio)
        if num_masked in (0, size) or math.comb(size, num_masked) > 300_000:
            continue  # nothing to search, or an enumeration too slow for the suite
        for patch_size in (1, 3, 4, 16):
            exact = achievable_range(grid, ratio, patch_size, method="enumeration")
            found = achievable_range(grid, ratio, patch_size, method="search")
            assert not found.exact and found.method.startswith("search")
            case = (grid, ratio, patch_size)
            assert found.low == pytest.approx(exact.low, rel=1e-12, abs=0), case
            assert found.high == pytest.approx(exact.high, rel=1e-12, abs=0), case
            values = avgdist(np.stack([found.easiest, found.hardest]), patch_size)
            np.testing.assert_array_equal(values, np.float32([found.low, found.high]))


def test_range_is_cached_and_the_masks_wrapper_returns_it():
    first = achievable_range((6, 7), 0.75, 8)
    assert mask_lib.achievable_range((6, 7), 0.75, 8) is first
    assert first.easiest.flags.writeable is False
    with pytest.raises(ValueError, match="method"):
        achievable_range((6, 7), 0.75, 8, method="guess")
    with pytest.raises(ValueError, match="no AvgDist range"):
        achievable_range(4, 0.0, 8)


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
