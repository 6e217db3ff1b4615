"""The memory estimates the CLI checks before any work cover what the generators really
allocate (issue 27 item 30): numpy's allocations traced with tracemalloc."""

import tracemalloc

import pytest

from maskstats.masks import GENERATION_BYTES_PER_CELL, generate, generation_bytes


def traced_peak(strategy, n, img_size, patch_size, **kwargs) -> int:
    """Peak bytes numpy allocated while making the masks (the output included)."""
    generate(strategy, 2, img_size, patch_size, 0.75, seed=0, **kwargs)  # compile, warm up
    tracemalloc.start()
    try:
        generate(strategy, n, img_size, patch_size, 0.75, seed=1, **kwargs)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("strategy", "n", "img_size", "patch_size", "kwargs"),
    [
        ("random", 2000, 224, 16, {}),
        ("random", 20, 224, 2, {}),
        ("block", 2000, 224, 16, {}),
        ("block", 20, 224, 2, {}),
        ("grid", 2000, 224, 16, {}),
        ("grid", 20, 224, 2, {}),
        ("multiblock", 2000, 224, 16, {}),
        ("simmim", 2000, 224, 16, {"mask_patch_size": 16}),  # one patch per cell
        ("simmim", 2000, 224, 16, {"mask_patch_size": 32}),
        ("simmim", 20, 224, 2, {"mask_patch_size": 32}),
        ("difficulty", 256, 64, 8, {"target_avgdist": 8.0}),
    ],
)
def test_generation_bytes_cover_the_traced_peak(strategy, n, img_size, patch_size, kwargs):
    peak = traced_peak(strategy, n, img_size, patch_size, **kwargs)
    cell = kwargs.get("mask_patch_size", 32)
    estimate = generation_bytes(strategy, n, img_size, patch_size, mask_patch_size=cell)
    assert peak <= estimate <= 3 * peak, (peak, estimate)


def test_random_masks_need_their_noise_and_argsort():
    # MAE's random_masking: float64 noise (8 bytes) and its int64 argsort (8) per patch held
    # at once, and the bool masks (1): 17 bytes per patch at least, whatever the grid.
    assert GENERATION_BYTES_PER_CELL["random"] >= 8 + 8 + 1
    assert generation_bytes("random", 50374, 224, 1) >= 17 * 50374 * 224 * 224
    assert generation_bytes("saved.npy", 10, 224, 16) == 10 * 196  # read, not made
