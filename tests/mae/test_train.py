import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from maskstats.cli import main
from maskstats.mae.runlog import read_metrics
from maskstats.mae.train import Trainer


def test_resume_ends_with_the_same_weights(tmp_path, small_config):
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


def test_same_seed_same_loss_curve(tmp_path, small_config):
    curves = []
    for name in ("a", "b"):
        Trainer(small_config(tmp_path / name, max_steps=4, log_every=1)).run()
        curves.append([r["loss"] for r in read_metrics(tmp_path / name) if r["kind"] == "interval"])
    assert len(curves[0]) == 4 and curves[0] == curves[1]


def test_metrics_files_and_figure(tmp_path, small_config):
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


@pytest.mark.slow
def test_loss_falls_over_100_cpu_steps(tmp_path, small_config):
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


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
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


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"strategy": "multiblock"}, "different number of patches"),
        ({"strategy": "grid", "mask_ratio": 0.9}, "1 - 1/s"),
        ({"strategy": "grid", "mask_ratio": 8 / 9}, "do not tile"),
        ({"strategy": "tube"}, "'tube' is not an image strategy"),  # clips only
    ],
)
def test_trainer_refuses_strategies_without_one_count_per_batch(
    tmp_path, small_config, overrides, message
):
    with pytest.raises(ValueError, match=message):
        Trainer(
            small_config(
                tmp_path, metric="none", weighting="none", decoder_mask_ratio=0.0, **overrides
            )
        )


def test_trainer_runs_grid_masks(tmp_path, small_config):
    trainer = Trainer(small_config(tmp_path, strategy="grid", mask_ratio=0.75, max_steps=2))
    summary = trainer.run()
    assert summary["step"] == 2 and math.isfinite(summary["loss"])
    masks = trainer.make_masks(0, 4).reshape(4, -1)
    assert (masks.sum(axis=1) == 48).all()  # 8x8 patches, one visible per 2x2 cell


def test_short_runs_say_what_they_miss_and_still_draw_loss_per_bin(
    tmp_path, small_config, capsys, monkeypatch
):
    from maskstats.mae import train as train_module

    # 3 steps with a one-epoch warmup (4 steps): the peak learning rate is never reached.
    monkeypatch.setattr(train_module, "ESS_WARNING", 1.01)  # any weighting below 1 warns
    trainer = Trainer(small_config(tmp_path, max_steps=3, warmup_epochs=1.0, log_every=1))
    assert trainer.warmup_steps == 4 and trainer.total_steps == 3
    trainer.run()
    err = capsys.readouterr().err
    assert "the warmup (4 steps) is longer than the run (3 steps)" in err
    assert "--warmup-steps" in err
    # Flatten's weights are uneven (ESS < 1): said once, not at every log line.
    assert err.count("the loss rests on few patches") == 1
    # No epoch ended, yet the loss-per-bin figure is drawn from the interval records.
    assert not [r for r in read_metrics(tmp_path) if r["kind"] == "epoch"]
    assert (tmp_path / "loss_per_bin.png").stat().st_size > 1000


def test_runs_that_reach_their_peak_and_spread_their_weights_say_nothing(
    tmp_path, small_config, capsys
):
    # 8 steps, a 2-step warmup; and a run exactly as long as its warmup reaches the peak at
    # its last step: no warning either.
    Trainer(small_config(tmp_path / "a", weighting="none", decoder_mask_ratio=0.0)).run()
    trainer = Trainer(small_config(tmp_path / "b", max_steps=2, weighting="none"))
    assert trainer.warmup_steps == trainer.total_steps == 2
    trainer.run()
    from maskstats.mae.train import lr_factor

    assert lr_factor(1, 2, 2, 0.0) == 1.0  # its second (last) step runs at the peak
    err = capsys.readouterr().err
    assert "warning" not in err


def test_loss_per_bin_of_a_short_run_labels_lines_by_steps(tmp_path):
    from maskstats.mae.runlog import append_record, write_loss_per_bin

    for step in range(1, 10):
        append_record(
            tmp_path,
            {
                "kind": "interval",
                "step": step,
                "epoch": 0,
                "metric": "p2dist",
                "bin_centre": [0.25, 0.75],
                "bin_loss": [1.0, 2.0],
                "bin_share": [0.5, 0.5],
            },
        )
    drawn = []
    from maskstats import plot

    real = plot.loss_per_bin
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plot, "loss_per_bin", lambda records: drawn.extend(records) or real(records))
        assert write_loss_per_bin(tmp_path) == tmp_path / "loss_per_bin.png"
    # At most five of the nine intervals, spread out, the last one included.
    assert [r["label"] for r in drawn] == [f"steps {k}-{k}" for k in (1, 3, 5, 7, 9)]
