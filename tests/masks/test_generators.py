import numpy as np
import pytest
import torch

from maskstats import masks as mask_lib
from maskstats.masks import as_masks, block_masks, random_masks, simmim_masks


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


@pytest.mark.parametrize("make", ["random", "block", "simmim"])
def test_generators_are_deterministic(make):
    first = mask_lib.generate(make, 20, 64, 8, 0.7, seed=5)
    again = mask_lib.generate(make, 20, 64, 8, 0.7, seed=5)
    other = mask_lib.generate(make, 20, 64, 8, 0.7, seed=6)
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
