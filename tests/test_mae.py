import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from maskstats.cli import main
from maskstats.mae.config import TrainConfig
from maskstats.mae.model import create_model, sincos_pos_embed
from maskstats.mae.runlog import read_metrics
from maskstats.mae.train import Trainer
from maskstats.masks import random_masks


def micro(**overrides):
    torch.manual_seed(0)
    return create_model("mae_vit_micro", **overrides)


def mae_formula(pred_full, target, mask):
    """MAE's forward_loss: mean over pixels, then mean over masked patches."""
    loss = ((pred_full - target) ** 2).mean(dim=-1)
    return (loss * mask).sum() / mask.sum()


@pytest.mark.parametrize("norm_pix_loss", [False, True])
def test_unit_weights_give_mae_loss(norm_pix_loss):
    model = micro(norm_pix_loss=norm_pix_loss)
    imgs = torch.randn(4, 3, 32, 32)
    mask = torch.from_numpy(random_masks(4, 8, 0.75, seed=0).reshape(4, -1))
    out = model(imgs, mask, weights=torch.ones(4, 64))
    pred_full = torch.zeros(4, 64, 48)
    pred_full.scatter_(1, out["ids_target"][..., None].expand(-1, -1, 48), out["pred"])
    target = model.patchify(imgs)
    if norm_pix_loss:
        target = (target - target.mean(-1, keepdim=True)) / (
            target.var(-1, keepdim=True) + 1e-6
        ) ** 0.5
    expected = mae_formula(pred_full, target, mask.float())
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    unweighted = model(imgs, mask)["loss"]
    assert unweighted.item() == pytest.approx(expected.item(), rel=1e-5)


def test_weighted_loss_is_weighted_mean_of_patch_losses():
    model = micro()
    imgs = torch.randn(2, 3, 32, 32)
    mask = torch.from_numpy(random_masks(2, 8, 0.5, seed=1).reshape(2, -1))
    weights = torch.rand(2, 64)
    out = model(imgs, mask, weights=weights)
    w = torch.gather(weights, 1, out["ids_target"])
    expected = (out["patch_loss"] * w).sum() / w.sum()
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_decoder_masking_shortens_the_decoder_sequence():
    model = micro()
    lengths = []
    model.decoder_blocks.register_forward_hook(lambda m, args, out: lengths.append(args[0].shape))
    imgs = torch.randn(3, 3, 32, 32)
    mask_np = random_masks(3, 8, 0.9, seed=0).reshape(3, -1)
    keep_np = mask_np.copy()
    for row in keep_np:  # drop 11 of the 58 masked patches in every sample
        row[np.flatnonzero(row)[:11]] = False
    mask, keep = torch.from_numpy(mask_np), torch.from_numpy(keep_np)
    out = model(imgs, mask, decoder_keep=keep)
    n_visible = 64 - 58
    assert lengths[-1] == (3, 1 + n_visible + 58 - 11, 128)
    assert out["patch_loss"].shape == (3, 47)
    kept_ids = torch.sort(out["ids_target"], dim=1).values
    assert torch.equal(kept_ids, torch.stack([torch.nonzero(k).ravel() for k in keep]))


def test_named_configs_and_pos_embed():
    base = create_model("mae_vit_base_patch16")
    # MAE's ViT-B with decoder has 111,907,840 parameters, of which 252,160 are its fixed
    # sin-cos position embeddings (buffers here).
    assert sum(p.numel() for p in base.parameters()) == 111_907_840 - 252_160
    embed = sincos_pos_embed(16, (2, 3))
    assert embed.shape == (7, 16) and torch.all(embed[0] == 0)
    other = create_model("mae_vit_micro", img_size=48, patch_size=8, in_chans=1)
    assert other.num_patches == 36 and other.decoder_pred.out_features == 64


def test_bad_model_settings():
    with pytest.raises(ValueError, match="not divisible"):
        create_model("mae_vit_micro", img_size=30)
    with pytest.raises(ValueError, match="unknown model"):
        create_model("mae_vit_giant")


def small_config(out, **overrides):
    base = dict(
        model="mae_vit_micro",
        data="builtin:natural",
        mask_ratio=0.9,
        metric="p2dist",
        weighting="flatten",
        decoder_mask_ratio=0.2,
        batch_size=16,
        max_steps=8,
        dataset_length=64,
        out=str(out),
        progress=False,
        log_every=2,
        save_every=3,
        warmup_epochs=0.5,
    )
    base.update(overrides)
    return TrainConfig(**base)


def test_resume_ends_with_the_same_weights(tmp_path):
    straight = Trainer(small_config(tmp_path / "a"))
    straight.run()
    killed = Trainer(small_config(tmp_path / "b", stop_after_steps=5))
    killed.run()
    assert killed.step == 5
    resumed = Trainer(small_config(tmp_path / "b", resume=str(tmp_path / "b")))
    assert resumed.step == 5
    resumed.run()
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    # The resumed run's first interval (step 6) starts at step 5; the others cover the same steps.
    losses_a = {
        r["step"]: r["loss"] for r in read_metrics(tmp_path / "a") if r["kind"] == "interval"
    }
    losses_b = {
        r["step"]: r["loss"] for r in read_metrics(tmp_path / "b") if r["kind"] == "interval"
    }
    assert [losses_a[s] for s in (2, 4, 8)] == [losses_b[s] for s in (2, 4, 8)]


def test_same_seed_same_loss_curve(tmp_path):
    curves = []
    for name in ("a", "b"):
        Trainer(small_config(tmp_path / name, max_steps=4, log_every=1)).run()
        curves.append([r["loss"] for r in read_metrics(tmp_path / name) if r["kind"] == "interval"])
    assert len(curves[0]) == 4 and curves[0] == curves[1]


def test_metrics_files_and_figure(tmp_path):
    Trainer(small_config(tmp_path, max_steps=None, epochs=2)).run()
    records = read_metrics(tmp_path)
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [0, 1]
    record = epochs[-1]
    assert sum(record["bin_share"]) == pytest.approx(1.0, abs=1e-4)
    assert record["difficulty_q10"] <= record["difficulty_q50"] <= record["difficulty_q90"]
    assert record["decoder_tokens"] == 1 + 7 + (57 - int(0.2 * 57))
    assert 0 < record["ess"] <= 1 and record["weight_min"] <= 1 <= record["weight_max"]
    for name in ("metrics.csv", "loss_per_bin.png", "checkpoint.pt", "summary.json"):
        assert (tmp_path / name).stat().st_size > 100
    assert json.loads((tmp_path / "summary.json").read_text())["difficulty_share"] < 0.2


def test_loss_falls_over_100_cpu_steps(tmp_path):
    config = small_config(
        tmp_path,
        metric="none",
        weighting="none",
        decoder_mask_ratio=0.0,
        mask_ratio=0.75,
        batch_size=32,
        max_steps=100,
        dataset_length=3200,
        log_every=10,
        blr=1.5e-3,
        warmup_epochs=0.1,
    )
    Trainer(config).run()
    losses = [r["loss"] for r in read_metrics(tmp_path) if r["kind"] == "interval"]
    assert len(losses) == 10
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:2])


def test_train_cli_bad_data(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["train", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "r")]) == 2
    assert "no images" in capsys.readouterr().err
    assert main(["train", "--weighting", "flatten", "--out", str(tmp_path / "r")]) == 2
    assert "needs a --metric" in capsys.readouterr().err


def test_image_folder_skips_unreadable_files(tmp_path):
    from PIL import Image

    from maskstats.mae.data import load_dataset

    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for k in range(3):
            Image.fromarray(np.full((40, 40, 3), 40 * k, np.uint8)).save(
                tmp_path / cls / f"{k}.png"
            )
    (tmp_path / "dogs" / "broken.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="broken.png"):
        data = load_dataset(str(tmp_path), 32, train=True)
    assert len(data) == 6 and sorted(set(data.labels)) == [0, 1]
    image, label = data[4]
    assert image.shape == (3, 32, 32) and label == 1


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ddp_two_cpu_processes_hold_the_same_weights(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    worker = Path(__file__).with_name("ddp_worker.py")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            f"--master_port={_free_port()}",
            str(worker),
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = torch.load(tmp_path / "rank0.pt")
    rank1 = torch.load(tmp_path / "rank1.pt")
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    assert (tmp_path / "checkpoint.pt").exists()
    assert len(read_metrics(tmp_path)) == 3  # only rank 0 logs
