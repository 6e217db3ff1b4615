"""Input validation (issue 14 item 9): no silent coercion of grids, counts or noise; torch
bfloat16 masks; grids whose distances would overflow int32."""

import numpy as np
import pytest
import torch

from maskstats import masks as mask_lib
from maskstats._validate import MAX_SQUARED_EXTENT, as_grid, as_masks, check_count
from maskstats.masks import block_masks, grid_masks, multiblock_masks, random_masks, simmim_masks
from maskstats.metrics import nearest


@pytest.mark.parametrize("grid", [(6.9, 7.2), (6.0, 7.0), 14.0, (True, 3), ("6", "7"), (1, 2, 3)])
def test_as_grid_refuses_non_integers(grid):
    # (6.9, 7.2) used to become (6, 7) silently.
    with pytest.raises(ValueError, match="grid must be an int or a pair"):
        as_grid(grid)


def test_as_grid_accepts_numpy_ints():
    assert as_grid((np.int64(6), np.int32(7))) == (6, 7)
    assert as_grid(np.int16(5)) == (5, 5)


@pytest.mark.parametrize("n", [1.5, 2.0, True, "3", None])
def test_check_count_refuses_non_integers(n):
    with pytest.raises(TypeError, match="whole number"):
        check_count(n)


def test_check_count_refuses_negative_and_keeps_ints():
    with pytest.raises(ValueError, match=">= 0"):
        check_count(-1)
    assert check_count(np.int64(3)) == 3 and check_count(0) == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda n: random_masks(n, 4, 0.5, seed=0),
        lambda n: block_masks(n, 4, 0.5, seed=0),
        lambda n: simmim_masks(n, 64, 16, 8, 0.5, seed=0),
        lambda n: grid_masks(n, 4, 0.75, seed=0),
        lambda n: multiblock_masks(n, 8, seed=0),
        lambda n: mask_lib.generate("random", n, 32, 8, 0.5, seed=0),
        lambda n: mask_lib.generate("difficulty", n, 32, 8, 0.5, seed=0, target_avgdist=6.0),
    ],
)
def test_generators_refuse_fractional_n(make):
    # n=1.5 used to give one mask.
    with pytest.raises(TypeError, match="whole number"):
        make(1.5)
    assert make(np.int64(2)).shape[0] == 2


def test_generators_refuse_fractional_grid():
    with pytest.raises(ValueError, match="grid must be"):
        random_masks(2, (6.9, 7.2), 0.5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_random_masks_refuse_non_finite_noise(bad):
    noise = np.random.default_rng(0).random((2, 16))
    noise[1, 3] = bad
    with pytest.raises(ValueError, match="finite"):
        random_masks(2, 4, 0.5, noise=noise)


def test_bfloat16_masks_are_accepted():
    # torch bfloat16 masks used to fail with "Got unsupported ScalarType BFloat16".
    masks = random_masks(3, 5, 0.6, seed=0)
    tensor = torch.from_numpy(masks).to(torch.bfloat16)
    np.testing.assert_array_equal(as_masks(tensor), masks)
    flat = tensor.reshape(3, 25)
    np.testing.assert_array_equal(as_masks(flat, (5, 5)), masks)
    np.testing.assert_array_equal(nearest(tensor).float().numpy(), nearest(masks))


def test_bfloat16_non_binary_masks_are_refused():
    with pytest.raises(ValueError, match="only 0/1"):
        as_masks(torch.full((1, 2, 2), 0.5, dtype=torch.bfloat16))


@pytest.mark.parametrize(("height", "width"), [(1, 46_341), (46_341, 1), (32_768, 32_768)])
def test_as_masks_refuses_grids_that_overflow_int32(height, width):
    # A broadcast view: no 1 GB allocation for the 32768 x 32768 case.
    masks = np.broadcast_to(np.zeros(1, dtype=bool), (1, height, width))
    assert height * height + width * width > MAX_SQUARED_EXTENT
    with pytest.raises(ValueError, match="too large"):
        as_masks(masks)


def test_as_masks_accepts_the_largest_grid_side():
    masks = np.zeros((1, 1, 46_340), dtype=bool)
    masks[0, 0, :3] = True
    assert as_masks(masks).shape == (1, 1, 46_340)
    assert nearest(masks)[0, 0, 0] == 3.0
