"""Video masks: counts and patterns as the peers' code makes them (MCG-NJU/VideoMAE
masking_generator.py, OpenGVLab/VideoMAEv2 dataset/masking_generator.py), and the refusals
where VideoMAE v2 floors or mis-sizes silently."""

import numpy as np
import pytest

from maskstats.masks import (
    clip_random_masks,
    generate,
    random_masks,
    running_cell_masks,
    tube_masks,
    tubes,
)
from maskstats.masks.video import running_cell_pattern

GRID = (8, 14, 14)  # 16 frames of 224 px, tubelet 2, patch 16


def test_tube_masks_count_per_frame_is_videomaes_not_maes():
    masks = tube_masks(5, GRID, 0.9, seed=0)
    assert masks.shape == (5, *GRID) and masks.dtype == bool
    # int(0.9 * 196) = int(176.4) = 176 per frame; MAE's rule would mask 196 - int(196 * 0.1) = 177.
    np.testing.assert_array_equal(masks.sum(axis=(2, 3)), 176)
    assert (masks == masks[:, :1]).all()  # one spatial subset in every frame
    # VideoMAE's UCF101 setting, 0.75: int(147.0) = 147.
    np.testing.assert_array_equal(tube_masks(3, GRID, 0.75, seed=1).sum(axis=(2, 3)), 147)


def test_tube_masks_are_seeded_and_uniform_over_positions():
    a, b = tube_masks(4, GRID, 0.9, seed=7), tube_masks(4, GRID, 0.9, seed=7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, tube_masks(4, GRID, 0.9, seed=8))
    # Every position is masked in about 90% of 4000 clips (binomial sd 0.0047: 6 sd band).
    share = tube_masks(4000, (2, 14, 14), 0.9, seed=3)[:, 0].mean(axis=0)
    assert np.abs(share - 176 / 196).max() < 0.03


def test_whole_clip_random_masks_count_is_videomae_v2s():
    masks = random_masks(6, GRID, 0.9, seed=0)
    assert masks.shape == (6, *GRID)
    # int(0.9 * 1568) = int(1411.2) = 1411 of 8 x 14 x 14.
    np.testing.assert_array_equal(masks.sum(axis=(1, 2, 3)), 1411)
    # Frames differ: not a tube.
    assert not (masks == masks[:, :1]).all()
    # The 2-D call is MAE's random masking as before.
    np.testing.assert_array_equal(random_masks(3, 14, 0.9, seed=0).sum(axis=(1, 2)), 177)


def test_whole_clip_random_masks_follow_the_noise():
    noise = np.random.default_rng(0).random((3, 2 * 4 * 4))
    masks = clip_random_masks(3, (2, 4, 4), 0.75, noise=noise).reshape(3, -1)
    count = int(0.75 * 32)
    for row, values in zip(masks, noise, strict=True):
        assert row.sum() == count
        # the masked tokens are those with the largest noise
        assert values[row].min() > values[~row].max()


def _videomae_v2_running_cell(grid, ratio):
    """The four patterns as VideoMAE v2 builds them: a queue of int(4 * ratio) ones and the
    rest zeros, rolled one step before each frame, read as a 2 x 2 unit and tiled (our test's
    own re-statement of its Cell / RunningCellMaskingGenerator loop)."""
    frames, height, width = grid
    m = int(4 * ratio)
    queue = np.array([1] * m + [0] * (4 - m))
    patterns = []
    for start in range(4):
        pointer = start
        frames_out = []
        for _ in range(frames):
            pointer += 1
            unit = queue[(np.arange(4) + pointer) % 4].reshape(2, 2)
            frames_out.append(np.tile(unit, (height // 2, width // 2)))
        patterns.append(np.stack(frames_out).astype(bool))
    return np.stack(patterns)


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_running_cell_patterns_are_videomae_v2s(ratio):
    expected = _videomae_v2_running_cell(GRID, ratio)
    ours = np.stack([running_cell_pattern(GRID, int(4 * ratio), p) for p in range(4)])
    np.testing.assert_array_equal(ours, expected)
    masks = running_cell_masks(64, GRID, ratio, seed=0)
    # Each clip is one of the four patterns, and all four occur.
    which = [int(np.flatnonzero((expected == m).all(axis=(1, 2, 3)))[0]) for m in masks]
    assert set(which) == {0, 1, 2, 3}
    # Every 2 x 2 cell drops int(4 ratio) tokens in every frame, and the drop moves each frame.
    cells = masks.reshape(64, 8, 7, 2, 7, 2).sum(axis=(3, 5))
    np.testing.assert_array_equal(cells, int(4 * ratio))
    assert not (masks[:, 1:] == masks[:, :-1]).all(axis=(2, 3)).any()


@pytest.mark.parametrize("grid", [(8, 7, 14), (8, 14, 13), (2, 1, 2)])
def test_running_cell_refuses_odd_grids_in_one_line(grid):
    with pytest.raises(ValueError, match="must be even") as error:
        running_cell_masks(2, grid, 0.5)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("ratio", [0.3, 0.6, 0.9, 0.0, 1.0, 0.2])
def test_running_cell_refuses_ratios_videomae_v2_would_floor(ratio):
    with pytest.raises(ValueError, match="0.25, 0.5 or 0.75") as error:
        running_cell_masks(2, GRID, ratio)
    assert "\n" not in str(error.value)


def test_generate_makes_clips_for_every_strategy():
    tube = generate("tube", 3, 224, 16, 0.9, seed=0, frames=16, tubelet_size=2)
    np.testing.assert_array_equal(tube, tube_masks(3, GRID, 0.9, seed=0))
    clip = generate("random", 3, 224, 16, 0.9, seed=0, frames=16)
    np.testing.assert_array_equal(clip, clip_random_masks(3, GRID, 0.9, seed=0))
    cell = generate("running_cell", 3, 224, 16, 0.5, seed=0, frames=16)
    np.testing.assert_array_equal(cell, running_cell_masks(3, GRID, 0.5, seed=0))
    # An image strategy as tubes: its 2-D mask in every token-frame (4 frames, tubelet 1).
    block = generate("block", 3, 224, 16, 0.75, seed=1, frames=4, tubelet_size=1)
    np.testing.assert_array_equal(block, tubes(generate("block", 3, 224, 16, 0.75, seed=1), 4))
    assert block.shape == (3, 4, 14, 14)


def test_generate_refuses_clip_strategies_without_frames_and_bad_frames():
    with pytest.raises(ValueError, match="frames="):
        generate("tube", 2, 224, 16, 0.9)
    with pytest.raises(ValueError, match="multiple of tubelet_size"):
        generate("tube", 2, 224, 16, 0.9, frames=15, tubelet_size=2)
    with pytest.raises(ValueError, match="even"):
        generate("running_cell", 2, 208, 16, 0.5, frames=16)  # 13 x 13
