"""Spatio-temporal metrics against scipy oracles (distance_transform_edt with sampling,
correlate windows), brute force, the hand-computed worked example of docs/metrics.md
("Video"), and today's 2-D numbers for clips of one token-frame and for tubes."""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskstats import metrics
from maskstats.masks import block_masks, random_masks, tube_masks
from maskstats.metrics import reference

IMAGE_NAMES = metrics.METRIC_NAMES

# docs/metrics.md, "Video": grid (T, H, W) = (2, 1, 2), patch_size 2, tubelet_size 2, the
# default temporal_step (= patch_size: frames 1 px apart). t = 0: [M .], t = 1: [M M].
EXAMPLE = np.array([[[[1, 0]], [[1, 1]]]], dtype=bool)
INF, NAN = math.inf, math.nan


def test_worked_example_clip():
    v = metrics.compute(EXAMPLE, patch_size=2, tubelet_size=2)
    np.testing.assert_array_equal(v["density3"][0], [[[1, NAN]], [[1, 1]]])
    np.testing.assert_allclose(v["nearest"][0], [[[1, NAN]], [[math.sqrt(2), 1]]], rtol=1e-6)
    np.testing.assert_allclose(v["invdist5"][0], [[[1, NAN]], [[1 / math.sqrt(2), 1]]], rtol=1e-6)
    np.testing.assert_array_equal(v["temporal"][0], [[[INF, NAN]], [[INF, 2]]])
    # (0,0,0): 2 px and 1 px from the visible column in its own frames: 12 / 16 = 0.75.
    # (1,0,1): 1 and 2 frames (1 px each) behind the visible token: 12 / 16 = 0.75.
    # (1,0,0): 2 (sqrt 2 + 2 sqrt 5 + sqrt 8) / 16 = 1.089348.
    corner = 2 * (math.sqrt(2) + 2 * math.sqrt(5) + math.sqrt(8)) / 16
    np.testing.assert_allclose(v["p2dist"][0], [[[0.75, NAN]], [[corner, 0.75]]], rtol=1e-6)
    assert v["avgdist"][0] == pytest.approx((12 + 12 + 16 * corner) / 24, rel=1e-6)
    # Frames 0.5 px apart (temporal_step 1): the token behind the visible one halves.
    half = metrics.p2dist(EXAMPLE, patch_size=2, tubelet_size=2, temporal_step=1.0)
    assert half[0, 1, 0, 1] == pytest.approx((4 * 0.5 + 4 * 1.0) / 16)


@st.composite
def clip_batches(draw):
    """Clips of random, tube, block-tube and Bernoulli masks on grids up to 5 x 8 x 8."""
    kind = draw(st.sampled_from(["random", "tube", "block", "bernoulli"]))
    grid = (draw(st.integers(1, 5)), draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    ratio = draw(st.floats(0.0, 0.97))
    seed = draw(st.integers(0, 2**16))
    n = draw(st.integers(1, 3))
    if kind == "random":
        clips = random_masks(n, grid, ratio, seed=seed)
    elif kind == "tube":
        clips = tube_masks(n, grid, ratio, seed=seed)
    elif kind == "block":
        clips = np.repeat(block_masks(n, grid[1:], ratio, seed=seed)[:, None], grid[0], axis=1)
    else:
        clips = np.random.default_rng(seed).random((n, *grid)) < ratio
    patch_size = draw(st.integers(1, 6))
    tubelet_size = draw(st.integers(1, 3))
    step = draw(st.sampled_from([None, 1.0, 0.5, 2.5, 7.0, 13.0]))
    return clips, patch_size, tubelet_size, step


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clip_batches())
def test_clip_kernels_match_scipy_and_brute_force(batch):
    clips, p, ts, step = batch
    values = metrics.compute(
        clips, patch_size=p, tubelet_size=ts, temporal_step=step, on_empty="nan"
    )
    assert set(values) == set(metrics.VIDEO_METRIC_NAMES)
    empty = clips.reshape(len(clips), -1).all(axis=1)
    expected = reference.video_references(clips[~empty], p, ts, p if step is None else step)
    for name, fast in values.items():
        assert fast.dtype == np.float32
        np.testing.assert_allclose(fast[~empty], expected[name], rtol=1e-5, atol=1e-5, err_msg=name)
        if metrics.REGISTRY[name].needs_visible:
            assert np.isnan(fast[empty]).all()
        if metrics.REGISTRY[name].per_patch:
            assert np.isnan(fast[~clips]).all()


@settings(max_examples=60, deadline=None)
@given(clip_batches())
def test_clip_relations(batch):
    clips, p, ts, step = batch
    clips = clips[~clips.reshape(len(clips), -1).all(axis=1)]
    if not len(clips):
        return
    step = p if step is None else step
    v = metrics.compute(clips, patch_size=p, tubelet_size=ts, temporal_step=step)
    near, p2 = v["nearest"].astype(np.float64), v["p2dist"].astype(np.float64)
    # Every voxel has the voxel at the same offset in the nearest visible token at exactly
    # p * nearest: P2Dist never exceeds Nearest.
    assert (p2[clips] <= near[clips] * (1 + 1e-5) + 1e-6).all()
    # AvgDist = p * mean P2Dist over a clip's masked tokens.
    has = clips.reshape(len(clips), -1).any(axis=1)
    mean = np.nansum(p2, axis=(1, 2, 3))[has] / clips.sum(axis=(1, 2, 3))[has]
    np.testing.assert_allclose(v["avgdist"][has], p * mean, rtol=1e-5)
    # One pixel per patch and one frame per token: voxels are tokens, P2Dist is Nearest.
    one = metrics.compute(clips, ("p2dist", "nearest"), 1, tubelet_size=1, temporal_step=step)
    np.testing.assert_allclose(one["p2dist"], one["nearest"], rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(clip_batches())
def test_one_token_frame_gives_todays_numbers_bit_for_bit(batch):
    clips, p, ts, step = batch
    single = clips[:, :1]
    video = metrics.compute(
        single, IMAGE_NAMES, p, on_empty="nan", tubelet_size=ts, temporal_step=step
    )
    image = metrics.compute(single[:, 0], IMAGE_NAMES, p, on_empty="nan")
    for name in IMAGE_NAMES:
        expected = image[name][:, None] if image[name].ndim == 3 else image[name]
        np.testing.assert_array_equal(video[name], expected, err_msg=name)
        assert video[name].dtype == expected.dtype


@pytest.mark.parametrize("tubelet_size", [1, 2, 4])
def test_tubes_have_each_frames_image_numbers(tubelet_size):
    clips = tube_masks(16, (6, 14, 14), 0.9, seed=4)
    v = metrics.compute(clips, patch_size=16, tubelet_size=tubelet_size)
    frame = metrics.compute(clips[:, 0], IMAGE_NAMES, 16)
    # No temporal leak: every masked token's own position is masked in every frame ...
    assert np.isinf(v["temporal"][clips]).all()
    # ... so the voxel distances are the frame's pixel distances: the same bits.
    np.testing.assert_array_equal(v["p2dist"], np.repeat(frame["p2dist"][:, None], 6, axis=1))
    np.testing.assert_array_equal(v["avgdist"], frame["avgdist"])
    np.testing.assert_array_equal(v["nearest"], np.repeat(frame["nearest"][:, None], 6, axis=1))


def test_random_clips_leak_through_time_and_tubes_do_not():
    tube = metrics.compute(tube_masks(64, (8, 14, 14), 0.9, seed=0), ("avgdist", "temporal"))
    clip = metrics.compute(random_masks(64, (8, 14, 14), 0.9, seed=0), ("avgdist", "temporal"))
    assert clip["avgdist"].mean() < 0.8 * tube["avgdist"].mean()
    adjacent = clip["temporal"][np.isfinite(clip["temporal"])]
    assert (adjacent == 2).mean() > 0.3  # many masked tokens see their position one tubelet away


def test_flat_torch_and_per_frame_layouts():
    clips = random_masks(3, (4, 6, 6), 0.8, seed=1)
    direct = metrics.compute(clips, patch_size=4)
    flat = metrics.compute(clips.reshape(3, -1), patch_size=4, grid=(4, 6, 6))
    tensor = metrics.compute(torch.from_numpy(clips), patch_size=4)
    for name, value in direct.items():
        np.testing.assert_array_equal(
            flat[name], value.reshape(3, -1) if value.ndim == 4 else value
        )
        assert isinstance(tensor[name], torch.Tensor)
        np.testing.assert_array_equal(tensor[name].numpy(), value)
    frames = metrics.per_frame(clips, ("p2dist", "avgdist"), 4)
    one = metrics.compute(clips[:, 2], ("p2dist", "avgdist"), 4)
    np.testing.assert_array_equal(frames["p2dist"][:, 2], one["p2dist"])
    np.testing.assert_array_equal(frames["avgdist"][:, 2], one["avgdist"])
    np.testing.assert_array_equal(metrics.temporal(clips, tubelet_size=2), direct["temporal"])


def test_clip_with_nothing_visible_is_named():
    clips = random_masks(4, (3, 4, 4), 0.5, seed=0)
    clips[2] = True
    with pytest.raises(ValueError, match="indices 2"):
        metrics.compute(clips, "p2dist")
    values = metrics.compute(clips, ("p2dist", "density3", "temporal"), on_empty="nan")
    assert np.isnan(values["p2dist"][2]).all() and (values["density3"][2] == 0).all()
    assert np.isinf(values["temporal"][2]).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(tubelet_size=0), "tubelet_size"),
        (dict(tubelet_size=2.5), "tubelet_size"),
        (dict(temporal_step=0.0), "temporal_step"),
        (dict(temporal_step=float("nan")), "temporal_step"),
        (dict(grid=(4, 6)), "grid"),
    ],
)
def test_bad_clip_arguments_are_refused(kwargs, match):
    clips = random_masks(2, (4, 6, 6), 0.8, seed=1)
    if "grid" in kwargs:
        clips = clips.reshape(2, -1)
    with pytest.raises((ValueError, TypeError), match=match):
        metrics.compute(clips, **kwargs)


def test_difficulty_tubes_hold_the_clip_avgdist_at_the_target():
    from maskstats.masks import generate

    clips = generate("difficulty", 8, 128, 16, 0.75, seed=0, frames=4, target_avgdist=14.0)
    values = metrics.avgdist(clips, 16, tubelet_size=2)
    assert clips.shape == (8, 2, 8, 8)
    np.testing.assert_allclose(values, 14.0, rtol=0.02 + 1e-6)


@pytest.mark.parametrize("slots", [0, 1, 2, 64])
def test_clip_memo_never_changes_a_bit(slots):
    from maskstats.metrics import _video_kernels as kernels

    clips = np.concatenate(
        [tube_masks(12, (6, 9, 10), 0.8, seed=5), random_masks(12, (6, 9, 10), 0.7, seed=6)]
    ).reshape(24, -1)
    clips[3, :] = True  # a clip with nothing visible: NaN either way
    results = []
    for size in (0, slots):
        keys = np.full((size, kernels.MEMO_SOURCES + 1), -9, np.int64)
        p2 = np.empty(clips.shape, np.float32)
        avg = np.empty(len(clips))
        for _ in range(2):  # the second pass finds the first pass's entries
            kernels.pixel_range(clips, 0, 24, 6, 9, 10, 5, 2, 2.5, keys, np.empty(size), p2, avg)
        results.append((p2.copy(), avg.copy()))
    (p2_a, avg_a), (p2_b, avg_b) = results
    assert p2_a.tobytes() == p2_b.tobytes() and avg_a.tobytes() == avg_b.tobytes()
    expected = reference.video_p2dist_avgdist(clips.reshape(24, 6, 9, 10)[4:], 5, 2, 2.5)
    np.testing.assert_allclose(p2_a.reshape(24, 6, 9, 10)[4:], expected[0], rtol=1e-5)
