"""The reconstruction figures: panels, shared colour scales, captions, the re-export from
maskstats.plot; numpy inputs only (no torch)."""

import numpy as np
import pytest
from scipy import stats

from maskstats import plot, plot_recon, recon
from maskstats.masks import random_masks
from maskstats.metrics import compute


def _rows(seed=0, n=3, grid=4, p=4, channels=3, norm_pix_loss=False, weights=True, keep=None):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n, channels, grid * p, grid * p))
    mask = random_masks(n, grid, 0.75, seed=seed).reshape(n, -1)
    pred = rng.normal(size=(n, grid * grid, p * p * channels))
    w = np.where(mask, rng.uniform(0.2, 3.0, mask.shape), 0.0) if weights else None
    return recon.reconstructions(
        images,
        mask,
        pred,
        p,
        norm_pix_loss,
        metric="density3",
        weights=w,
        decoder_keep=keep,
        mean=None if channels == 1 else recon.IMAGENET_MEAN,
        std=None if channels == 1 else recon.IMAGENET_STD,
    ), (images, mask, pred)


def test_scales_are_shared_by_every_row_and_stated():
    rec, _ = _rows()
    scales = plot_recon.color_scales(rec, "flatten alpha=0.5")
    finite = rec.loss[np.isfinite(rec.loss)]
    assert scales["loss"].norm.vmin == 0.0
    assert scales["loss"].norm.vmax == pytest.approx(np.percentile(finite, 99))
    assert scales["loss"].extend == "max"  # the largest loss lies above the 99th percentile
    d = rec.difficulty[np.isfinite(rec.difficulty)]
    assert (scales["difficulty"].norm.vmin, scales["difficulty"].norm.vmax) == (d.min(), d.max())
    # density3: more visible neighbours = easier, so the map is reversed (brighter = harder)
    assert scales["difficulty"].cmap.name.endswith("_r")
    assert "lower = harder" in scales["difficulty"].label
    assert "flatten alpha=0.5" in scales["weights"].label
    assert scales["weights"].norm.vmax == pytest.approx(np.nanmax(rec.weights))


def test_caption_gives_the_spearman_of_that_row():
    rec, (_, mask, _) = _rows(1)
    row = 2
    masked = mask[row]
    oracle = stats.spearmanr(
        -compute(mask.reshape(3, 4, 4), "density3", 4)["density3"].reshape(3, -1)[row][masked],
        rec.loss.reshape(3, -1)[row][masked],
    ).statistic
    text = plot_recon.caption(rec, row, "cat")
    assert text.startswith("cat: ") and f"{oracle:+.2f}" in text
    assert f"over {masked.sum()} masked patches" in text


def test_gallery_figure_has_a_row_per_image_and_a_bar_per_map(tmp_path):
    _, (images, mask, pred) = _rows(2)
    fig = plot.reconstruction_gallery(images, mask, pred, 4, metric="p2dist", titles=list("abc"))
    assert plot.reconstruction_gallery is plot_recon.reconstruction_gallery
    images_drawn = [ax for sub in fig.subfigs[:3] for ax in sub.axes]
    assert len(images_drawn) == 3 * 5  # original, masked, reconstruction, loss, difficulty
    titles = [ax.get_title() for ax in fig.subfigs[0].axes]
    assert titles == [
        "original",
        "masked input",
        "reconstruction + visible",
        "loss per patch",
        "difficulty: p2dist",
    ]
    bars = [ax for ax in fig.subfigs[3].axes if ax.axison]  # the image columns have none
    assert len(bars) == 2
    assert bars[0].get_xlabel().startswith("loss per patch")
    paths = plot.save(fig, tmp_path / "g")
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_panel_marks_dropped_patches_and_handles_grey_images():
    n, grid = 2, 4
    mask = random_masks(n, grid, 0.75, seed=3).reshape(n, -1)
    keep = mask.copy()
    keep[np.arange(n), np.argmax(mask, axis=1)] = False
    rec, _ = _rows(3, channels=1, keep=keep, n=n)
    fig = plot_recon.reconstruction_panel(rec, 1, "digit")
    hatched = [patch for ax in fig.axes for patch in ax.patches if patch.get_hatch()]
    # one dropped patch, hatched on the reconstruction, loss, difficulty and weight panels
    assert len(hatched) == 4
    assert "1 dropped by decoder masking" in fig.get_suptitle()
    fig.canvas.draw()


def test_select_keeps_the_rows_asked_for():
    rec, _ = _rows(4)
    one = rec.select([1])
    assert len(one) == 1
    np.testing.assert_array_equal(one.loss[0], rec.loss[1])
    assert one.metric == rec.metric and one.patch_size == rec.patch_size
