import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from maskstats import masks as mask_lib
from maskstats.masks import (
    as_masks,
    block_masks,
    grid_cell_side,
    grid_masks,
    grid_ratios,
    masked_share,
    multiblock_blocks,
    multiblock_masks,
    random_masks,
    simmim_masks,
)
from maskstats.masks.multiblock import _block_size


def mae_random_masking(noise: torch.Tensor, mask_ratio: float) -> torch.Tensor:
    """MAE's random_masking (models_mae.py), reduced to the mask it returns."""
    n, length = noise.shape
    len_keep = int(length * (1 - mask_ratio))
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones([n, length])
    mask[:, :len_keep] = 0
    return torch.gather(mask, dim=1, index=ids_restore)


@pytest.mark.parametrize("ratio", [0.0, 0.5, 0.75, 0.9, 0.95])
@pytest.mark.parametrize("grid", [(14, 14), (7, 5), (1, 1)])
def test_random_masks_match_mae_for_same_noise(ratio, grid):
    length = grid[0] * grid[1]
    noise = torch.rand(32, length, generator=torch.Generator().manual_seed(3))
    expected = mae_random_masking(noise, ratio).bool().numpy().reshape(32, *grid)
    got = random_masks(32, grid, ratio, noise=noise.numpy())
    np.testing.assert_array_equal(got, expected)
    assert (got.sum(axis=(1, 2)) == length - int(length * (1 - ratio))).all()


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.6, 0.75, 0.9, 0.95])
@pytest.mark.parametrize("grid", [(14, 14), (8, 11), (3, 3)])
def test_block_masks_have_exact_count(ratio, grid):
    masks = block_masks(200, grid, ratio, seed=1)
    length = grid[0] * grid[1]
    assert masks.shape == (200, *grid)
    assert (masks.sum(axis=(1, 2)) == length - int(length * (1 - ratio))).all()


def test_block_masks_are_blockier_than_random():
    # Blocks leave masked patches with more masked 4-neighbours than random masks do.
    def masked_neighbour_share(masks):
        padded = np.pad(masks, ((0, 0), (1, 1), (1, 1)))
        neighbours = padded[:, :-2, 1:-1] & padded[:, 1:-1, 1:-1]
        return neighbours.sum() / masks.sum()

    blocks = block_masks(500, 14, 0.4, seed=0)
    randoms = random_masks(500, 14, 0.4, seed=0)
    assert masked_neighbour_share(blocks) > masked_neighbour_share(randoms) + 0.2


@pytest.mark.parametrize("ratio", [0.1, 0.6, 0.75, 0.9])
def test_simmim_masks_count_and_cells(ratio):
    masks = simmim_masks(50, 192, 32, 4, ratio, seed=0)
    assert masks.shape == (50, 48, 48)
    cells = np.ceil(36 * ratio)
    assert (masks.sum(axis=(1, 2)) == cells * 64).all()
    # Constant inside every 8x8 block of model patches.
    blocks = masks.reshape(50, 6, 8, 6, 8)
    assert (blocks.all(axis=(2, 4)) | ~blocks.any(axis=(2, 4))).all()


@pytest.mark.parametrize("make", ["random", "block", "simmim", "grid", "multiblock"])
def test_generators_are_deterministic(make):
    ratio = 0.75 if make == "grid" else 0.7
    first = mask_lib.generate(make, 20, 64, 8, ratio, seed=5)
    again = mask_lib.generate(make, 20, 64, 8, ratio, seed=5)
    other = mask_lib.generate(make, 20, 64, 8, ratio, seed=6)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_as_masks_accepts_flat_ints_and_tensors():
    flat = np.zeros((2, 6), dtype=np.int64)
    flat[0, 1] = 1
    out = as_masks(flat, grid=(2, 3))
    assert out.dtype == bool and out.shape == (2, 2, 3) and out[0, 0, 1]
    tensor = torch.zeros(3, 4, 4, dtype=torch.bool)
    shared = as_masks(tensor)
    tensor[0, 0, 0] = True
    assert shared[0, 0, 0]  # a CPU tensor is not copied


@pytest.mark.parametrize(
    ("masks", "grid", "error", "words"),
    [
        (np.zeros((2, 6)), None, ValueError, "pass grid"),
        (np.zeros((2, 6)), (2, 2), ValueError, "L=6"),
        (np.zeros((2, 3, 3, 3)), None, ValueError, "(N, H, W) or (N, L)"),
        (np.full((1, 2, 2), 2), None, ValueError, "only 0/1"),
        (np.array([[[0.5]]]), None, ValueError, "only 0/1"),
        (np.array([[["a"]]]), None, TypeError, "dtype"),
        ("masks", None, TypeError, "numpy array or torch tensor"),
        (np.zeros((1, 2, 2)), (3, 3), ValueError, "does not match"),
    ],
)
def test_as_masks_rejects_bad_input(masks, grid, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        as_masks(masks, grid)


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5])
def test_generators_reject_bad_ratio(ratio):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        random_masks(2, 4, ratio)


def test_generate_rejects_indivisible_image():
    with pytest.raises(ValueError, match="not divisible"):
        mask_lib.generate("random", 2, 225, 16, 0.5)


# --------------------------------------------------------------------------- block_masks input
# Issue 14 item 7: each of these used to return wrong masks silently (or ZeroDivisionError).


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"min_num_patches": -5}, "min_num_patches must be"),
        ({"min_num_patches": 0}, "min_num_patches must be"),
        ({"min_num_patches": float("nan")}, "min_num_patches must be"),
        ({"min_num_patches": float("inf")}, "min_num_patches must be"),
        ({"min_aspect": float("nan")}, "min_aspect must be"),
        ({"min_aspect": 0}, "min_aspect must be"),
        ({"min_aspect": 1e-300}, "min_aspect must be"),
        ({"min_aspect": -1.0}, "min_aspect must be"),
        ({"max_aspect": float("nan")}, "max_aspect must be"),
        ({"max_aspect": 0}, "max_aspect must be"),
        ({"max_aspect": float("inf")}, "max_aspect must be"),
        ({"min_aspect": 2.0, "max_aspect": 1.0}, "max_aspect .* must be >= min_aspect"),
        ({"max_num_patches": 2}, r"max_num_patches \(2\) must be >= min_num_patches"),
        ({"max_num_patches": float("nan")}, "max_num_patches must be"),
        ({"max_num_patches": 0}, "max_num_patches must be"),
    ],
)
def test_block_masks_refuse_bad_parameters(kwargs, words):
    with pytest.raises(ValueError, match=words) as caught:
        block_masks(4, 14, 0.75, seed=0, **kwargs)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("kwargs", [{"min_num_patches": True}, {"min_aspect": "0.3"}])
def test_block_masks_refuse_non_numbers(kwargs):
    with pytest.raises(TypeError, match="must be a number"):
        block_masks(4, 14, 0.75, seed=0, **kwargs)


def test_block_masks_accept_valid_edge_parameters():
    # max_num_patches above the grid and a user max_aspect are fine; the count stays exact.
    masks = block_masks(8, 14, 0.75, min_num_patches=1, max_num_patches=10_000, seed=0)
    assert (masks.sum(axis=(1, 2)) == 147).all()
    masks = block_masks(8, 14, 0.75, min_aspect=1.0, max_aspect=1.0, seed=0)
    assert (masks.sum(axis=(1, 2)) == 147).all()


# --------------------------------------------------------------------------- grid_masks


def cells(length: int, side: int) -> list[slice]:
    return [slice(start, min(start + side, length)) for start in range(0, length, side)]


@settings(max_examples=150, deadline=None)
@given(
    height=st.integers(1, 20),
    width=st.integers(1, 20),
    side=st.integers(1, 6),
    fixed=st.booleans(),
    data=st.data(),
)
def test_grid_masks_keep_exactly_one_patch_per_cell(height, width, side, fixed, data):
    assume(side <= max(height, width))
    offset = (
        (data.draw(st.integers(0, side - 1)), data.draw(st.integers(0, side - 1)))
        if fixed
        else "random"
    )
    masks = grid_masks(
        5, (height, width), 1 - 1 / side**2, offset=offset, seed=data.draw(st.integers(0, 99))
    )
    assert masks.shape == (5, height, width) and masks.dtype == bool
    for rows in cells(height, side):
        for cols in cells(width, side):
            assert ((~masks[:, rows, cols]).sum(axis=(1, 2)) == 1).all()
    visible = -(-height // side) * -(-width // side)
    assert ((~masks).sum(axis=(1, 2)) == visible).all()
    np.testing.assert_allclose(masked_share(masks), 1 - visible / (height * width))
    if fixed:  # inside full cells the visible patch sits at the offset
        di, dj = offset
        for top in range(0, height - side + 1, side):
            for left in range(0, width - side + 1, side):
                assert not masks[:, top + di, left + dj].any()


def test_grid_masks_075_is_every_other_row_and_column():
    masks = grid_masks(1, 14, 0.75, offset=(0, 0))
    expected = np.ones((14, 14), bool)
    expected[::2, ::2] = False
    np.testing.assert_array_equal(masks[0], expected)
    assert masks.sum() == 147  # exactly MAE's count at 0.75 on 14 x 14


def test_grid_masks_partial_cells_keep_one_patch_and_report_the_ratio():
    # 14 x 14 at s = 3: 5 x 5 cells (the last row/column of cells is 2 patches wide).
    masks = grid_masks(50, 14, 0.8889, offset=(2, 2))
    assert ((~masks).sum(axis=(1, 2)) == 25).all()
    assert not masks[0, 13, 13]  # offset 2 is outside the 2-wide last cell: its last patch
    np.testing.assert_allclose(masked_share(masks), 1 - 25 / 196)


def test_grid_masks_random_offsets_vary_and_are_deterministic():
    first = grid_masks(64, 14, 0.75, seed=3)
    np.testing.assert_array_equal(first, grid_masks(64, 14, 0.75, seed=3))
    assert len({m.tobytes() for m in first}) == 4  # all four offsets of a 2 x 2 cell


@pytest.mark.parametrize("ratio", [0.5, 0.8, 0.9, 0.95])
def test_grid_masks_refuse_ratios_no_cell_gives(ratio):
    with pytest.raises(ValueError, match=r"1 - 1/s\^2: 0 \(s=1\), 0.75 \(s=2\), 0.8889 \(s=3\)"):
        grid_masks(2, 14, ratio)


def test_grid_masks_refuse_cells_larger_than_the_grid_and_bad_offsets():
    with pytest.raises(ValueError, match="1 - 1/s"):
        grid_masks(2, 3, 1 - 1 / 16)  # s = 4 > 3
    for offset in [(2, 0), (0, -1), (0.5, 0), "centre", (0,)]:
        with pytest.raises(ValueError, match="offset must be"):
            grid_masks(2, 4, 0.75, offset=offset)


def test_grid_ratio_tolerance_picks_the_cell_side():
    assert grid_cell_side(14, 0.889) == 3
    assert grid_cell_side(14, 0.9375) == 4
    assert grid_cell_side(14, 0.0) == 1
    assert list(grid_ratios((2, 3)).values()) == [0.0, 0.75, 1 - 1 / 9]


# --------------------------------------------------------------------------- multiblock_masks


def paint(blocks: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N, H, W) union of (N, k, 4) (top, left, h, w) blocks, drawn one patch at a time."""
    out = np.zeros((blocks.shape[0], height, width), bool)
    for i, rows in enumerate(blocks):
        for top, left, h, w in rows:
            out[i, top : top + h, left : left + w] = True
    return out


@settings(max_examples=150, deadline=None)
@given(
    height=st.integers(5, 20),
    width=st.integers(5, 20),
    npred=st.integers(0, 4),
    nenc=st.integers(1, 2),
    min_keep=st.integers(0, 4),
    allow_overlap=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_multiblock_blocks_define_the_masks(
    height, width, npred, nenc, min_keep, allow_overlap, seed
):
    got = multiblock_blocks(
        20,
        (height, width),
        npred=npred,
        nenc=nenc,
        min_keep=min_keep,
        allow_overlap=allow_overlap,
        seed=seed,
    )
    assert got.masks.shape == (20, height, width) and got.masks.dtype == bool
    for blocks in (got.context, got.targets):
        top, left, h, w = np.moveaxis(blocks, -1, 0)
        # Inside the image, and (as I-JEPA's randint(0, H - h)) never touching the last row/col.
        assert (top >= 0).all() and (left >= 0).all()
        assert (h >= 1).all() and (w >= 1).all()
        assert (top + h <= height - 1).all() and (left + w <= width - 1).all()
        # One size per mask for all its targets / all its contexts.
        assert (h == h[:, :1]).all() and (w == w[:, :1]).all()
    targets = paint(got.targets, height, width)
    visible = paint(got.context, height, width)
    if not allow_overlap:
        visible &= ~targets
        assert not (targets & ~got.masks).any()  # every target patch is masked
    np.testing.assert_array_equal(got.masks, ~visible)
    for k in range(nenc):  # each context keeps more than min_keep patches
        kept = paint(got.context[:, k : k + 1], height, width) & (
            True if allow_overlap else ~targets
        )
        assert (kept.sum(axis=(1, 2)) > min_keep).all()
    np.testing.assert_array_equal(
        got.masks,
        multiblock_masks(
            20,
            (height, width),
            npred=npred,
            nenc=nenc,
            min_keep=min_keep,
            allow_overlap=allow_overlap,
            seed=seed,
        ),
    )


def ijepa_block_size(rand, height, width, scale, aspect_ratio_scale):
    """I-JEPA's MaskCollator._sample_block_size (src/masks/multiblock.py), given its draw."""
    min_s, max_s = scale
    mask_scale = min_s + rand * (max_s - min_s)
    max_keep = int(height * width * mask_scale)
    min_ar, max_ar = aspect_ratio_scale
    aspect_ratio = min_ar + rand * (max_ar - min_ar)
    h = int(round(math.sqrt(max_keep * aspect_ratio)))
    w = int(round(math.sqrt(max_keep / aspect_ratio)))
    while h >= height:
        h -= 1
    while w >= width:
        w -= 1
    return h, w


@pytest.mark.parametrize("grid", [(14, 14), (16, 16), (7, 9), (32, 20)])
@pytest.mark.parametrize(
    ("scale", "aspect"), [((0.15, 0.2), (0.75, 1.5)), ((0.85, 1.0), (1.0, 1.0))]
)
def test_multiblock_block_sizes_match_ijepa(grid, scale, aspect):
    u = np.random.default_rng(0).random(2000)
    h, w = _block_size(u, scale, aspect, *grid)
    expected = np.array([ijepa_block_size(x, *grid, scale, aspect) for x in u])
    np.testing.assert_array_equal(np.stack([h, w], axis=1), expected)


def test_multiblock_defaults_at_224_16():
    got = multiblock_blocks(500, 14, seed=0)
    # I-JEPA's context at 14 x 14 is always 13 x 13 at the top-left corner.
    assert (got.context == [0, 0, 13, 13]).all()
    area = got.targets[:, 0, 2] * got.targets[:, 0, 3]
    assert got.targets.shape == (500, 4, 4) and area.min() >= 25 and area.max() <= 45
    share = masked_share(got.masks)
    assert 0.3 < share.mean() < 0.8 and share.std() > 0.02  # not exact by construction
    assert ((~got.masks).sum(axis=(1, 2)) > 4).all()


def test_multiblock_is_deterministic_per_seed():
    first = multiblock_masks(100, 14, seed=1)
    np.testing.assert_array_equal(first, multiblock_masks(100, 14, seed=1))
    assert not np.array_equal(first, multiblock_masks(100, 14, seed=2))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"grid": 1}, "at least 2x2"),
        ({"enc_mask_scale": (0.9, 0.8)}, "enc_mask_scale must satisfy"),
        ({"pred_mask_scale": (0.0, 0.2)}, "pred_mask_scale must satisfy"),
        ({"pred_mask_scale": (0.1, float("nan"))}, "pred_mask_scale must satisfy"),
        ({"aspect_ratio": (0.5,)}, "aspect_ratio must be a pair"),
        ({"npred": -1}, "npred must be >= 0"),
        ({"nenc": 0}, "nenc must be >= 1"),
        ({"grid": 3, "min_keep": 10}, "no context block keeps more than min_keep=10"),
    ],
)
def test_multiblock_refuses_bad_parameters(kwargs, words):
    kwargs = {"grid": 14, **kwargs}
    with pytest.raises(ValueError, match=words):
        multiblock_masks(4, seed=0, **kwargs)


# --------------------------------------------------------------------------- BEiT's count


def beit_masking_generator(rng, height, width, count, min_num_patches, max_num_patches=None):
    """BEiT's MaskingGenerator.__call__ (microsoft/unilm beit/masking_generator.py) as an
    independent reference, drawing from ``rng`` (a random.Random) as BEiT draws from
    Python's ``random``: its loop as it is, with no fill."""
    max_num_patches = count if max_num_patches is None else max_num_patches
    log_lo, log_hi = math.log(0.3), math.log(1 / 0.3)
    mask = np.zeros((height, width), dtype=int)
    mask_count = 0
    while mask_count < count:
        max_mask = min(count - mask_count, max_num_patches)
        delta = 0
        for _attempt in range(10):
            target_area = rng.uniform(min_num_patches, max_mask)
            aspect = math.exp(rng.uniform(log_lo, log_hi))
            h = int(round(math.sqrt(target_area * aspect)))
            w = int(round(math.sqrt(target_area / aspect)))
            if w < width and h < height:
                top = rng.randint(0, height - h)
                left = rng.randint(0, width - w)
                num_masked = mask[top : top + h, left : left + w].sum()
                if 0 < h * w - num_masked <= max_mask:
                    for i in range(top, top + h):
                        for j in range(left, left + w):
                            if mask[i, j] == 0:
                                mask[i, j] = 1
                                delta += 1
                if delta > 0:
                    break
        if delta == 0:
            break
        mask_count += delta
    return mask.astype(bool)


def test_block_masks_take_beits_count():
    # 75 of 196 is MAE's count at any ratio in (0.3776, 0.3827]: the same masks either way.
    by_count = block_masks(300, 14, num_masking_patches=75, min_num_patches=16, seed=4)
    by_ratio = block_masks(300, 14, 0.38, min_num_patches=16, seed=4)
    np.testing.assert_array_equal(by_count, by_ratio)
    assert (by_count.sum(axis=(1, 2)) == 75).all()
    np.testing.assert_array_equal(
        mask_lib.generate("block", 50, 224, 16, 0.9, seed=2, num_masked=75, min_num_patches=16),
        block_masks(50, 14, num_masking_patches=75, min_num_patches=16, seed=2),
    )
    assert (block_masks(5, (3, 4), num_masking_patches=12, seed=0)).all()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({}, "exactly one of mask_ratio and num_masking_patches"),
        ({"mask_ratio": 0.5, "num_masking_patches": 75}, "exactly one"),
        ({"num_masking_patches": 197}, "at most the grid's 196 patches"),
        ({"num_masking_patches": -1}, ">= 0"),
    ],
)
def test_block_masks_refuse_a_bad_count(kwargs, words):
    with pytest.raises(ValueError, match=words):
        block_masks(4, 14, seed=0, **kwargs)


def test_a_count_is_refused_for_strategies_that_take_a_ratio():
    with pytest.raises(ValueError, match="strategy 'random' takes mask_ratio"):
        mask_lib.generate("random", 4, 224, 16, 0.75, num_masked=75)


def test_beits_own_loop_stops_short_where_beits_code_does():
    """exact_count=False is BEiT's loop as it is: with the same seed the exact masks are its
    masks plus the fill; at BEiT's preset (75 patches, min 16 per block) the share of masks it
    leaves short and their mean count agree with an independent port of BEiT's code (different
    random streams: within 5 binomial standard errors)."""
    import random

    n = 2000
    own = block_masks(n, 14, num_masking_patches=75, min_num_patches=16, seed=7, exact_count=False)
    exact = block_masks(n, 14, num_masking_patches=75, min_num_patches=16, seed=7)
    assert not (own & ~exact).any()  # the fill only adds
    counts = own.sum(axis=(1, 2))
    assert (counts <= 75).all()
    full = counts == 75
    np.testing.assert_array_equal(own[full], exact[full])
    rng = random.Random(0)
    port = np.array([beit_masking_generator(rng, 14, 14, 75, 16).sum() for _ in range(n)])
    short, port_short = np.mean(~full), np.mean(port < 75)
    error = math.sqrt(2 * port_short * (1 - port_short) / n)
    assert 0.05 < port_short < 0.95  # the preset does stop short often
    assert abs(short - port_short) < 5 * error
    assert abs(counts.mean() - port.mean()) < 5 * port.std() / math.sqrt(n / 2)


# --------------------------------------------------------------------------- I-JEPA's collator


@settings(max_examples=60, deadline=None)
@given(
    grid=st.sampled_from([(14, 14), (16, 16), (9, 7)]),
    batch=st.integers(1, 9),
    n=st.integers(1, 30),
    nenc=st.integers(1, 2),
    allow_overlap=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_collator_batch_cuts_every_context_to_its_batchs_smallest(
    grid, batch, n, nenc, allow_overlap, seed
):
    """I-JEPA's MaskCollator, recomputed from the blocks: within each batch of ``batch``
    consecutive masks one block size, and each context keeps its first k patches in raster
    order (``cm[:min_keep_enc]``), k the fewest any context of the batch keeps."""
    height, width = grid
    got = multiblock_blocks(
        n, grid, nenc=nenc, allow_overlap=allow_overlap, seed=seed, collator_batch=batch
    )
    targets = paint(got.targets, height, width)
    expected = np.ones((n, height, width), bool)
    for start in range(0, n, batch):
        rows = range(start, min(n, start + batch))
        for blocks in (got.context, got.targets):  # one size per batch
            sizes = blocks[start : start + batch, :, 2:]
            assert (sizes == sizes[:1, :1]).all()
        kept = {
            (i, k): np.flatnonzero(
                paint(got.context[i : i + 1, k : k + 1], height, width)[0]
                & (True if allow_overlap else ~targets[i])
            )
            for i in rows
            for k in range(nenc)
        }
        fewest = min(len(v) for v in kept.values())
        for (i, _k), indices in kept.items():
            expected[i].reshape(-1)[indices[:fewest]] = False
    np.testing.assert_array_equal(got.masks, expected)
    visible = (~got.masks).sum(axis=(1, 2))
    if nenc == 1:  # one context: the same count in a batch, as the collator stacks them
        for start in range(0, n, batch):
            assert (visible[start : start + batch] == visible[start]).all()


def test_collator_batch_of_one_cuts_nothing():
    got = multiblock_blocks(200, 14, seed=3, collator_batch=1)
    whole = paint(got.context, 14, 14) & ~paint(got.targets, 14, 14)
    np.testing.assert_array_equal(got.masks, ~whole)


def test_ijepa_encoder_view_at_its_imagenet_batch_hides_more():
    """At I-JEPA's ImageNet batch of 128 (min_keep 10) the cut contexts keep fewer patches
    than the whole ones, so more is hidden and farther from what is seen."""
    from maskstats.metrics import avgdist

    whole = multiblock_masks(512, 14, min_keep=10, seed=0)
    cut = multiblock_masks(512, 14, min_keep=10, seed=0, collator_batch=128)
    assert masked_share(cut).mean() > masked_share(whole).mean() + 0.1
    assert avgdist(cut, 16).mean() > 1.5 * avgdist(whole, 16).mean()
    assert multiblock_masks(10, 14, seed=0, collator_batch=None).shape == (10, 14, 14)
    with pytest.raises(ValueError, match="collator_batch must be >= 1"):
        multiblock_masks(4, 14, collator_batch=0)
    with pytest.raises(TypeError, match="collator_batch must be an int"):
        multiblock_masks(4, 14, collator_batch=2.0)
