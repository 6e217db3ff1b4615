import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskstats import metrics
from maskstats.masks import block_masks, random_masks, simmim_masks
from maskstats.metrics import reference

# The worked example of docs/metrics.md: 4x4 grid, patch_size 4, "." visible, "M" masked.
PLUS = np.array(
    [
        [1, 0, 1, 1],
        [0, 1, 0, 1],
        [1, 0, 1, 1],
        [1, 1, 1, 1],
    ],
    dtype=bool,
)[None]
NAN = math.nan
R2, R5 = math.sqrt(2), math.sqrt(5)


def test_worked_example_density3():
    expected = [[2, NAN, 2, 1], [NAN, 4, NAN, 1], [2, NAN, 2, 1], [1, 1, 1, 0]]
    np.testing.assert_array_equal(metrics.density3(PLUS, patch_size=4)[0], expected)


def test_worked_example_nearest():
    expected = [[1, NAN, 1, R2], [NAN, 1, NAN, 1], [1, NAN, 1, R2], [R2, 1, R2, R5]]
    np.testing.assert_allclose(metrics.nearest(PLUS, patch_size=4)[0], expected, rtol=1e-6)


def test_worked_example_invdist5_and_p2dist():
    inv = metrics.invdist5(PLUS, patch_size=4)[0]
    assert inv[1, 1] == pytest.approx(4.0)
    assert inv[3, 1] == pytest.approx(1 + 2 / R5, rel=1e-6)
    assert inv[3, 3] == pytest.approx(2 / R5, rel=1e-6)
    p2 = metrics.p2dist(PLUS, patch_size=4)[0]
    # Visible on four sides vs on one side: same nearest distance 1, different P2Dist.
    assert p2[1, 1] == pytest.approx(20 / 16 / 4)
    assert p2[3, 1] == pytest.approx(2.5 / 4)
    assert p2[0, 0] == pytest.approx(30 / 16 / 4)


def test_worked_example_stripes_avgdist():
    stripes = np.zeros((1, 4, 4), dtype=bool)
    stripes[:, :, 2:] = True
    p2 = metrics.p2dist(stripes, patch_size=4)[0]
    np.testing.assert_allclose(p2[:, 2], 2.5 / 4)
    np.testing.assert_allclose(p2[:, 3], 6.5 / 4)
    assert metrics.avgdist(stripes, patch_size=4)[0] == pytest.approx(4.5)
    np.testing.assert_allclose(metrics.nearest(stripes)[0][:, 3], 2.0)


@st.composite
def mask_batches(draw):
    """Masks from every generator and plain Bernoulli, on grids 1x1 to 20x24."""
    kind = draw(st.sampled_from(["random", "block", "simmim", "bernoulli"]))
    ratio = draw(st.floats(0.0, 0.99))
    seed = draw(st.integers(0, 2**16))
    n = draw(st.integers(1, 4))
    patch_size = draw(st.integers(1, 32))
    if kind == "simmim":
        scale = draw(st.integers(1, 3))
        cells = (draw(st.integers(1, 20 // scale)), draw(st.integers(1, 24 // scale)))
        img = (cells[0] * scale * patch_size, cells[1] * scale * patch_size)
        masks = simmim_masks(n, img, scale * patch_size, patch_size, ratio, seed=seed)
        return masks, patch_size
    grid = (draw(st.integers(1, 20)), draw(st.integers(1, 24)))
    if kind == "random":
        masks = random_masks(n, grid, ratio, seed=seed)
    elif kind == "block":
        masks = block_masks(n, grid, ratio, seed=seed)
    else:
        masks = np.random.default_rng(seed).random((n, *grid)) < ratio
    return masks, patch_size


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mask_batches())
def test_kernels_match_reference(batch):
    masks, patch_size = batch
    values = metrics.compute(masks, patch_size=patch_size, on_empty="nan")
    empty = masks.all(axis=(1, 2))
    for name in metrics.METRIC_NAMES:
        fast = values[name]
        assert fast.dtype == np.float32
        keep = ~empty if metrics.REGISTRY[name].needs_visible else np.ones_like(empty)
        expected = reference.REFERENCES[name](masks[keep], patch_size)
        np.testing.assert_allclose(fast[keep], expected, rtol=1e-5, atol=1e-5, err_msg=name)
        assert np.isnan(fast[~keep]).all()
        if metrics.REGISTRY[name].per_patch:
            assert np.isnan(fast[~masks]).all()  # NaN exactly on visible patches
            assert np.isfinite(fast[masks & keep[:, None, None]]).all()


@settings(max_examples=60, deadline=None)
@given(mask_batches())
def test_p2dist_relations(batch):
    masks, patch_size = batch
    masks = masks[~masks.all(axis=(1, 2))]
    if not len(masks):
        return
    p2_one = metrics.p2dist(masks, patch_size=1)
    np.testing.assert_allclose(p2_one, metrics.nearest(masks), rtol=1e-6)
    p2 = metrics.p2dist(masks, patch_size=patch_size).astype(np.float64)
    avg = metrics.avgdist(masks, patch_size=patch_size)
    has_masked = masks.any(axis=(1, 2))
    mean_p2 = np.nansum(p2, axis=(1, 2))[has_masked] / masks.sum(axis=(1, 2))[has_masked]
    np.testing.assert_allclose(avg[has_masked], patch_size * mean_p2, rtol=1e-5)
    # Every pixel has the pixel at the same offset in the nearest visible patch, at exactly the
    # centre distance: P2Dist never exceeds Nearest.
    near = metrics.nearest(masks)
    assert (p2[masks] <= near[masks] + 1e-5).all()


def test_empty_masks_raise_with_indices_or_give_nan():
    masks = random_masks(5, 4, 0.5, seed=0)
    masks[[1, 3]] = True
    with pytest.raises(ValueError, match=r"indices 1, 3"):
        metrics.p2dist(masks)
    out = metrics.avgdist(masks, on_empty="nan")
    assert np.isnan(out[[1, 3]]).all() and np.isfinite(out[[0, 2, 4]]).all()
    # density3 is defined for an all-masked mask: no visible neighbours.
    assert (metrics.density3(masks)[1] == 0).all()


def test_flat_masks_and_tensors_keep_their_layout():
    masks = random_masks(3, (4, 5), 0.6, seed=2)
    flat = masks.reshape(3, 20)
    out = metrics.nearest(flat, grid=(4, 5))
    assert out.shape == (3, 20)
    np.testing.assert_array_equal(out.reshape(3, 4, 5), metrics.nearest(masks))
    tensor_out = metrics.compute(torch.from_numpy(masks), ["p2dist", "avgdist"], patch_size=4)
    assert isinstance(tensor_out["p2dist"], torch.Tensor)
    assert tensor_out["avgdist"].shape == (3,)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"patch_size": 0}, ValueError),
        ({"patch_size": 2.5}, TypeError),
        ({"names": ["p3dist"]}, ValueError),
        ({"on_empty": "zero"}, ValueError),
    ],
)
def test_compute_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error):
        metrics.compute(random_masks(2, 4, 0.5, seed=0), **kwargs)


def test_registry_orientation():
    assert metrics.REGISTRY["p2dist"].higher_is_harder
    assert not metrics.REGISTRY["density3"].higher_is_harder
    d = metrics.REGISTRY["density3"].difficulty(np.array([0.0, 8.0]))
    assert d[0] > d[1]


def test_batches_split_over_chunks_and_threads_equal_masks_one_by_one():
    """A batch that spans several chunks and threads (and a partial last chunk) gives the same
    bits as each mask alone, with 1 thread and with 2."""
    import numba

    from maskstats.metrics import _window_kernels

    n = 2 * 1024 + 3 * _window_kernels.CHUNK + 1  # threads for every metric, a partial chunk
    masks = np.concatenate(
        [random_masks(n // 2, (7, 9), 0.8, seed=1), block_masks(n - n // 2, (7, 9), 0.5, seed=2)]
    )
    one_by_one = [metrics.compute(mask[None], patch_size=6) for mask in masks]
    threads = numba.get_num_threads()
    try:
        for count in sorted({1, min(2, threads)}):
            numba.set_num_threads(count)
            batch = metrics.compute(masks, patch_size=6)
            for name in metrics.METRIC_NAMES:
                alone = np.concatenate([values[name] for values in one_by_one])
                np.testing.assert_array_equal(batch[name], alone, err_msg=f"{name}, {count}")
    finally:
        numba.set_num_threads(threads)


@settings(max_examples=40, deadline=None)
@given(mask_batches(), st.integers(1, 6))
def test_patch_sum_memo_is_bit_identical(batch, memo_bits):
    """The memo (any table size, so also with collisions) changes no bit of the patch sums."""
    from maskstats.metrics import distance_kernels

    masks, patch_size = batch
    height, width = masks.shape[1:]
    plain = distance_kernels.distance_scratch(height, width, patch_size, 0)
    memo = distance_kernels.distance_scratch(height, width, patch_size, memo_bits)
    for mask in masks[~masks.all(axis=(1, 2)) & masks.any(axis=(1, 2))]:
        sums_plain = np.zeros((height, width))
        sums_memo = np.zeros((height, width))
        total_plain = distance_kernels.mask_distance_total(mask, patch_size, plain, sums_plain)
        total_memo = distance_kernels.mask_distance_total(mask, patch_size, memo, sums_memo)
        np.testing.assert_array_equal(sums_memo, sums_plain)
        assert total_memo == total_plain


def test_row_ranges_cover_rows_once_on_chunk_bounds():
    from maskstats._parallel import row_ranges

    for n in (0, 1, 31, 32, 33, 100, 1000):
        for parts in (1, 2, 3, 8):
            ranges = row_ranges(n, parts, 32)
            assert len(ranges) <= parts
            covered = [row for first, last in ranges for row in range(first, last)]
            assert covered == list(range(n))
            assert all(first % 32 == 0 for first, _ in ranges)


def test_compute_works_in_a_forked_child_after_threads_ran():
    """The thread pool does not survive fork (DataLoader workers): the child makes its own."""
    import multiprocessing

    import numba

    if numba.get_num_threads() < 2 or "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs 2 threads and fork")
    masks = random_masks(256, 14, 0.75, seed=0)
    expected = metrics.nearest(masks)  # runs on the pool in this process
    with multiprocessing.get_context("fork").Pool(1) as pool:
        result = pool.apply_async(metrics.nearest, (masks,)).get(timeout=60)
    np.testing.assert_array_equal(result, expected)


_BOUNDSCHECK_SCRIPT = """
import numpy as np
from maskstats import metrics
from maskstats.masks import block_masks, random_masks
batches = [
    (random_masks(37, (14, 14), 0.9, seed=0), 16),
    (block_masks(5, (1, 7), 0.5, seed=1), 3),
    (random_masks(4, (9, 1), 0.6, seed=2), 2),
    (np.ones((2, 3, 4), bool), 4),
    (np.zeros((2, 2, 2), bool), 5),
]
out = [metrics.compute(m, patch_size=p, on_empty="nan") for m, p in batches]
np.save(__import__("sys").argv[1], np.array(
    [np.nan_to_num(v[name]).sum() for v in out for name in metrics.METRIC_NAMES]))
"""


@pytest.mark.slow
def test_kernels_stay_in_bounds(tmp_path):
    """numba does not check indices: rerun the kernels with NUMBA_BOUNDSCHECK=1 on awkward
    shapes (one row, one column, all masked, none masked, a partial chunk) and compare."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    checked = tmp_path / "checked.npy"
    subprocess.run([sys.executable, "-c", _BOUNDSCHECK_SCRIPT, str(checked)], env=env, check=True)
    plain = tmp_path / "plain.npy"
    subprocess.run([sys.executable, "-c", _BOUNDSCHECK_SCRIPT, str(plain)], check=True)
    np.testing.assert_array_equal(np.load(checked), np.load(plain))


@pytest.mark.parametrize("name", ["density3", "invdist5", "nearest", "p2dist", "avgdist"])
def test_on_empty_is_checked_by_every_metric(name):
    masks = random_masks(2, 5, 0.5, seed=0)
    with pytest.raises(ValueError, match="on_empty must be one of"):
        metrics.compute(masks, name, on_empty="ignore")
