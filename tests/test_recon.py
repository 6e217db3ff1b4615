"""The reconstruction arithmetic against independent oracles: MAE's patchify and loss in torch
(maskstats.torch), the norm_pix_loss target written out by hand, scipy's Spearman, and a
worked example."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maskstats import recon
from maskstats.masks import random_masks

torch = pytest.importorskip("torch")
from maskstats.torch import mae_patch_loss, patchify  # noqa: E402


def _case(seed, n=3, grid=4, p=4, channels=3, ratio=0.75):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n, channels, grid * p, grid * p))
    mask = random_masks(n, grid, ratio, seed=seed).reshape(n, -1)
    return images, mask, p


def _mae_target(images, p, norm_pix_loss):
    """MAE's target, written as models_mae.forward_loss does, in torch float64."""
    target = patchify(torch.from_numpy(images), p)
    if norm_pix_loss:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        target = (target - mean) / (var + 1.0e-6) ** 0.5
    return target


def test_patchify_is_maes_and_unpatchify_inverts_it():
    images, _, p = _case(0)
    ours = recon.patchify(images, p)
    np.testing.assert_array_equal(ours, patchify(torch.from_numpy(images), p).numpy())
    np.testing.assert_array_equal(recon.unpatchify(ours, p, (4, 4), 3), images)


@pytest.mark.parametrize("norm_pix_loss", [False, True])
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), channels=st.sampled_from([1, 3]))
def test_perfect_prediction_reconstructs_the_original(norm_pix_loss, seed, channels):
    images, mask, p = _case(seed, channels=channels)
    pred = _mae_target(images, p, norm_pix_loss).numpy()
    out = recon.reconstruct(images, mask, pred, p, norm_pix_loss)
    if norm_pix_loss:  # (t - m) / s * s + m: exact up to float64 rounding
        np.testing.assert_allclose(out, images, rtol=0, atol=1e-12)
    else:
        np.testing.assert_array_equal(out, images)
    # ... and its loss is zero on every patch
    loss = recon.patch_loss(images, pred, p, norm_pix_loss)
    assert np.abs(loss).max() < 1e-24


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), norm_pix_loss=st.booleans())
def test_visible_patches_are_the_original_pixels_exactly(seed, norm_pix_loss):
    images, mask, p = _case(seed)
    pred = np.random.default_rng(seed + 1).normal(size=(3, 16, p * p * 3)) * 1e3
    out = recon.reconstruct(images, mask, pred, p, norm_pix_loss)
    visible = ~np.kron(mask.reshape(3, 4, 4), np.ones((p, p), bool))[:, None]
    visible = np.broadcast_to(visible, images.shape)
    np.testing.assert_array_equal(out[visible], images[visible])
    assert not np.array_equal(out[~visible], images[~visible])


@pytest.mark.parametrize("norm_pix_loss", [False, True])
def test_loss_map_equals_mae_patch_loss(norm_pix_loss):
    images, mask, p = _case(3)
    pred = np.random.default_rng(4).normal(size=(3, 16, p * p * 3))
    theirs = mae_patch_loss(
        torch.from_numpy(pred), patchify(torch.from_numpy(images), p), norm_pix_loss
    ).numpy()
    np.testing.assert_allclose(recon.patch_loss(images, pred, p, norm_pix_loss), theirs, 1e-12)
    rec = recon.reconstructions(images, mask, pred, p, norm_pix_loss, metric="p2dist")
    shown = rec.loss.reshape(3, -1)
    np.testing.assert_allclose(shown[mask], theirs[mask], rtol=1e-12)
    assert np.isnan(shown[~mask]).all()


def test_norm_pix_prediction_is_denormalised_with_the_target_patch_statistics():
    """A predicted patch of zeros is the target patch's mean; of ones, mean + sqrt(var + eps)."""
    images, mask, p = _case(5)
    target = patchify(torch.from_numpy(images), p)
    mean = target.mean(-1, keepdim=True).numpy()
    std = ((target.var(-1, keepdim=True) + 1e-6) ** 0.5).numpy()
    for value, expected in ((0.0, mean), (1.0, mean + std)):
        pred = np.full((3, 16, p * p * 3), value)
        pixels = recon.predicted_pixels(images, pred, p, norm_pix_loss=True)
        np.testing.assert_allclose(pixels, np.broadcast_to(expected, pixels.shape), atol=1e-12)


def test_dropped_patches_have_no_reconstruction_and_no_loss():
    images, mask, p = _case(6)
    keep = mask.copy()
    dropped_at = np.argmax(mask, axis=1)  # the first masked patch of each image
    keep[np.arange(3), dropped_at] = False
    pred = np.zeros((3, 16, p * p * 3))
    rec = recon.reconstructions(images, mask, pred, p, decoder_keep=keep, metric="nearest")
    dropped = rec.dropped.reshape(3, -1)
    np.testing.assert_array_equal(dropped, mask & ~keep)
    assert np.isnan(rec.loss.reshape(3, -1)[dropped]).all()
    assert rec.scored.tolist() == (keep.sum(axis=1)).tolist()
    out = recon.reconstruct(images, mask, pred, p, decoded=keep)
    patches = recon.patchify(out, p)
    assert np.isnan(patches[dropped]).all() and np.isfinite(patches[~dropped]).all()


def test_spearman_rows_worked_example_and_scipy():
    # Hand: ranks (1, 2, 3, 4) vs (1, 3, 2, 4): d^2 = 0 + 1 + 1 + 0, rho = 1 - 6 * 2 / (4 * 15).
    difficulty = np.array([[1.0, 2.0, 3.0, 4.0, 9.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    loss = np.array([[1.0, 3.0, 2.0, 4.0, -5.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    select = np.array([[True, True, True, True, False], [True] * 5])
    values = recon.spearman_rows(difficulty, loss, select)
    assert values[0] == pytest.approx(0.8)
    assert np.isnan(values[1])  # constant difficulty: undefined
    from scipy import stats

    rng = np.random.default_rng(0)
    d, y = rng.normal(size=(2, 40)), rng.normal(size=(2, 40))
    got = recon.spearman_rows(d, y, np.ones((2, 40), bool))
    np.testing.assert_allclose(got, [stats.spearmanr(d[i], y[i]).statistic for i in range(2)])


def test_display_undoes_imagenet_normalisation():
    rng = np.random.default_rng(1)
    pixels = rng.uniform(size=(2, 3, 8, 8))
    mean = np.array(recon.IMAGENET_MEAN)[:, None, None]
    std = np.array(recon.IMAGENET_STD)[:, None, None]
    shown = recon.to_display((pixels - mean) / std)
    np.testing.assert_allclose(shown, pixels.transpose(0, 2, 3, 1), atol=1e-12)
    assert recon.to_display(pixels * 5, None, None).max() == 1.0  # clipped for display


def test_reconstructions_take_tensors_and_the_mask_as_a_grid():
    images, mask, p = _case(7)
    pred = np.random.default_rng(8).normal(size=(3, 16, p * p * 3)).astype(np.float32)
    a = recon.reconstructions(images, mask, pred, p, metric="p2dist")
    b = recon.reconstructions(
        torch.from_numpy(images),
        torch.from_numpy(mask.reshape(3, 4, 4)),
        torch.from_numpy(pred),
        p,
        metric="p2dist",
    )
    for name in ("original", "reconstruction", "loss", "difficulty", "spearman"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
