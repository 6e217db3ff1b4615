"""``maskstats visualize`` and the trainer's galleries against each model's own numbers: the
real Hugging Face ViTMAEForPreTraining (tiny config, random init, saved with save_pretrained,
nothing downloaded), the examples' facebook-MAE-style model, and a maskstats run."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_checkpoints import EXAMPLE_ARCH, save_tiny_fb, save_tiny_vitmae, tiny_fb_model

from maskstats.cli import main
from maskstats.mae.gallery import gallery_images
from maskstats.mae.train import Trainer
from maskstats.metrics import compute
from maskstats.report.gallery import load_arrays, read_gallery_manifest
from maskstats.torch import mae_patch_loss, noise_for_mask
from maskstats.torch import patchify as mae_patchify

transformers = pytest.importorskip("transformers")
ARCH = f"{EXAMPLE_ARCH}:MaskedAutoencoderViT"


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    return save_tiny_vitmae(tmp_path_factory.mktemp("hf"))


@pytest.fixture(scope="module")
def fb_file(tmp_path_factory):
    return save_tiny_fb(tmp_path_factory.mktemp("fb") / "mae.pth")


def _visualize(ckpt, out, *extra):
    code = main(["visualize", "--ckpt", str(ckpt), "--out", str(out), "-n", "3", *extra])
    assert code == 0
    rec, titles = load_arrays(Path(out) / "reconstructions.npz")
    return rec, titles


def _images(n=3, seed=0):
    images, _, _ = gallery_images("builtin:natural", 32, n, seed)
    return images


def test_hf_gallery_is_the_models_own_reconstruction_and_loss(hf_folder, tmp_path, capsys):
    rec, titles = _visualize(hf_folder, tmp_path / "g")
    assert "huggingface checkpoint" in capsys.readouterr().out
    model = transformers.ViTMAEForPreTraining.from_pretrained(hf_folder).eval()
    mask = torch.from_numpy(rec.mask.reshape(3, -1))
    with torch.no_grad():
        outputs = model(pixel_values=_images(), noise=noise_for_mask(mask))
    assert torch.equal(outputs.mask.bool(), mask)  # HF drew exactly the gallery's masks
    theirs = mae_patch_loss(outputs.logits, model.patchify(_images()), True)[mask].numpy()
    ours = rec.loss.reshape(3, -1)[mask.numpy()]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    # HF's own scalar loss: the mean over the masked patches (one count per image)
    assert np.nanmean(rec.loss) == pytest.approx(float(outputs.loss), rel=1e-5)
    assert len(titles) == 3 and all(t.startswith(("skimage:", "sklearn:")) for t in titles)
    manifest = read_gallery_manifest(tmp_path / "g")
    assert manifest["model"] == "huggingface" and manifest["shown"]["mask_ratio"] == 0.75
    for name in ("index.html", "reconstructions.pdf", "reconstructions.png", "image_002.png"):
        assert (tmp_path / "g" / name).stat().st_size > 1000


def test_hf_decoder_masking_drops_the_hardest_patches(hf_folder, tmp_path):
    rec, _ = _visualize(hf_folder, tmp_path / "g", "--decoder-mask-ratio", "0.25")
    p2dist = compute(rec.mask, "p2dist", 4)["p2dist"]
    for row in range(3):
        dropped, mask = rec.dropped[row], rec.mask[row]
        assert dropped.sum() == int(0.25 * mask.sum())  # floor(q * masked)
        kept = mask & ~dropped
        assert p2dist[row][dropped].min() >= p2dist[row][kept].max()
        assert np.isnan(rec.loss[row][dropped]).all() and np.isfinite(rec.loss[row][kept]).all()
        assert (rec.weights[row][dropped] == 0).all()
    kept = rec.mask & ~rec.dropped
    assert rec.weights[kept].mean() == pytest.approx(1.0, rel=1e-5)  # over the batch


@pytest.mark.parametrize("norm_pix_loss", [False, True])
def test_fb_state_dict_with_the_examples_model(fb_file, tmp_path, norm_pix_loss):
    flags = ["--norm-pix-loss"] if norm_pix_loss else []
    rec, _ = _visualize(fb_file, tmp_path / "g", "--arch", ARCH, "--weighting", "none", *flags)
    model = tiny_fb_model()  # the same weights as the file
    model.norm_pix_loss = norm_pix_loss
    mask = torch.from_numpy(rec.mask.reshape(3, -1))
    with torch.no_grad():
        loss, pred, returned = model.eval()(_images(), 0.75, noise=noise_for_mask(mask))
    assert torch.equal(returned.bool(), mask)
    theirs = mae_patch_loss(pred, mae_patchify(_images(), 4), norm_pix_loss)[mask].numpy()
    np.testing.assert_allclose(rec.loss.reshape(3, -1)[mask.numpy()], theirs, rtol=1e-5)
    assert np.nanmean(rec.loss) == pytest.approx(float(loss), rel=1e-5)
    assert np.nanmax(rec.weights) == pytest.approx(1.0)  # weighting none: 1 on every patch


def test_same_seed_same_images_and_masks_for_every_checkpoint(hf_folder, fb_file, tmp_path):
    hf, _ = _visualize(hf_folder, tmp_path / "hf", "--seed", "5")
    fb, _ = _visualize(fb_file, tmp_path / "fb", "--seed", "5", "--arch", ARCH)
    np.testing.assert_array_equal(hf.mask, fb.mask)
    np.testing.assert_array_equal(hf.original, fb.original)
    other, _ = _visualize(fb_file, tmp_path / "other", "--seed", "6", "--arch", ARCH)
    assert not np.array_equal(other.mask, fb.mask)


@pytest.mark.slow
def test_maskstats_run_gallery_and_the_trainers_galleries(small_config, tmp_path):
    out = tmp_path / "run"
    config = small_config(out, max_steps=4, gallery_images=2, gallery_every=2, norm_pix_loss=True)
    Trainer(config).run()
    # The trainer's own: at the end (linking the one from step 2) and during the run.
    final = read_gallery_manifest(out / "gallery")
    assert final["step"] == 4 and len(final["rows"]) == 2
    assert (out / "gallery-steps" / "step_000002" / "index.html").is_file()
    assert not (out / "gallery-steps" / "step_000004").exists()  # the final one is RUN/gallery
    assert "../gallery-steps/step_000002/index.html" in (out / "gallery" / "index.html").read_text()
    # visualize on the run: its ratio, weighting and decoder masking, in RUN/visualize.
    assert main(["visualize", "--ckpt", str(out), "-n", "3"]) == 0
    rec, _ = load_arrays(out / "visualize" / "reconstructions.npz")
    assert read_gallery_manifest(out / "visualize")["shown"]["decoder_mask_ratio"] == 0.2
    from maskstats.mae.evaluate import load_pretrained

    model, _ = load_pretrained(out)
    mask = torch.from_numpy(rec.mask.reshape(3, -1))
    keep = mask & ~torch.from_numpy(rec.dropped.reshape(3, -1))
    with torch.no_grad():
        result = model(_images(), mask, keep)
    theirs = torch.full(mask.shape, float("nan"))
    theirs.scatter_(1, result["ids_target"], result["patch_loss"])
    np.testing.assert_allclose(rec.loss.reshape(3, -1), theirs.numpy(), rtol=1e-5)
    # A new run with --overwrite takes the old run's galleries with it.
    Trainer(small_config(out, max_steps=2, overwrite=True)).run()
    assert not (out / "gallery").exists() and not (out / "gallery-steps").exists()


def test_existing_gallery_needs_overwrite(hf_folder, tmp_path, capsys):
    _visualize(hf_folder, tmp_path / "g")
    before = (tmp_path / "g" / "maskstats-gallery.json").read_text()
    assert main(["visualize", "--ckpt", str(hf_folder), "--out", str(tmp_path / "g")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "g" / "maskstats-gallery.json").read_text() == before
    _visualize(hf_folder, tmp_path / "g", "--overwrite", "--seed", "3")
    assert json.loads((tmp_path / "g" / "maskstats-gallery.json").read_text())["seed"] == 3
