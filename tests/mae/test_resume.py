"""Runs are never replaced or misplaced, resumes use the run's own settings, and a killed and
resumed run's logs equal an uninterrupted run's (issue 14, items 5, 6, 8 and 9)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from maskstats.cli import main
from maskstats.mae.checkpoint import load_checkpoint
from maskstats.mae.config import TrainConfig, resume_config
from maskstats.mae.runlog import read_metrics
from maskstats.mae.train import TIMING_FIELDS, Trainer

REPO = Path(__file__).resolve().parents[2]
SMALL_FLAGS = [
    "--model",
    "mae_vit_micro",
    "--data",
    "builtin:natural",
    "--batch-size",
    "8",
    "--dataset-length",
    "32",
]


def _records(folder):
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in read_metrics(folder)]


def test_killed_and_resumed_logs_equal_the_straight_run(tmp_path, small_config):
    """4 steps per epoch, 8 steps: a kill after step 5 with the last checkpoint at step 3 (the
    log already holds step 4's record) resumes mid-interval and mid-epoch."""
    settings = dict(max_steps=None, epochs=2, log_every=2, save_every=3)
    Trainer(small_config(tmp_path / "straight", **settings)).run()
    run = tmp_path / "killed"
    Trainer(small_config(run, stop_after_steps=3, **settings)).run()
    shutil.copy(run / "checkpoint.pt", tmp_path / "step3.pt")
    Trainer(small_config(run, stop_after_steps=5, resume=str(run), **settings)).run()
    assert [r["step"] for r in read_metrics(run)] == [2, 4, 4]  # interval 2, 4, epoch 0
    shutil.copy(tmp_path / "step3.pt", run / "checkpoint.pt")  # as if killed before the save
    Trainer(small_config(run, resume=str(run), **settings)).run()
    straight, resumed = _records(tmp_path / "straight"), _records(run)
    assert [r["step"] for r in resumed] == [2, 4, 4, 6, 8, 8]
    assert resumed == straight


def test_train_refuses_to_replace_an_existing_run(tmp_path, capsys, small_config):
    Trainer(small_config(tmp_path, max_steps=2)).run()
    before = (tmp_path / "checkpoint.pt").read_bytes()
    flags = [*SMALL_FLAGS, "--max-steps", "2", "--out", str(tmp_path)]
    assert main(["train", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert "already holds a run" in err and "--overwrite" in err and len(err.splitlines()) == 1
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert main(["train", *flags, "--overwrite"]) == 0
    assert load_checkpoint(tmp_path / "checkpoint.pt")["config"]["batch_size"] == 8


def test_resume_without_out_continues_in_the_run_with_its_settings(
    tmp_path, monkeypatch, small_config
):
    run = tmp_path / "run"
    Trainer(small_config(run, max_steps=4, stop_after_steps=2)).run()
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--resume", str(run)]) == 0
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["step"] == 4
    config = state["config"]
    assert (config["metric"], config["weighting"], config["mask_ratio"]) == (
        "p2dist",
        "flatten",
        0.9,
    )
    assert not (tmp_path / "runs").exists()


def test_resume_refuses_a_conflicting_option_unless_allowed(tmp_path, capsys, small_config):
    run = tmp_path / "run"
    Trainer(small_config(run, max_steps=4, stop_after_steps=2)).run()
    for flags, name in (
        (["--metric", "density3"], "--metric"),
        (["--weighting", "inverse"], "--weighting"),
        (["--mask-ratio", "0.5"], "--mask-ratio"),
    ):
        assert main(["train", "--resume", str(run), *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and name in err and "--allow-changes" in err
    saved = load_checkpoint(run / "checkpoint.pt")["config"]
    allowed = resume_config(
        TrainConfig(resume=str(run), metric="density3", allow_changes=True), saved
    )
    assert (allowed.metric, allowed.weighting, allowed.mask_ratio) == ("density3", "flatten", 0.9)


def test_resume_removes_stale_checkpoint_temporaries(tmp_path, small_config):
    Trainer(small_config(tmp_path, max_steps=3, stop_after_steps=2)).run()
    stale = tmp_path / ".checkpoint.pt.k1ll3d.tmp"  # what a save killed by SIGKILL leaves
    stale.write_bytes(b"half a checkpoint")
    Trainer(small_config(tmp_path, max_steps=3, resume=str(tmp_path))).run()
    assert not stale.exists()
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


BAD_TRAIN = [
    (["--device", "bogus"], "unknown device"),
    (["--lr", "1e6"], "lr must be in"),
    (["--blr", "-1"], "blr must be in"),
    (["--weight-decay", "nan"], "finite"),
    (["--flatten-alpha", "nan"], "finite"),
    (["--mask-ratio", "0"], "mask ratio above 0"),
    (["--mask-ratio", "0.99"], "at least one masked and one visible"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_TRAIN)
def test_bad_training_flags_are_one_line_and_exit_2(tmp_path, capsys, flags, message):
    out = tmp_path / "run"
    assert main(["train", *SMALL_FLAGS, "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_one_line(tmp_path, capsys):
    assert main(["train", *SMALL_FLAGS, "--out", str(tmp_path / "r"), "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no CUDA device" in err and len(err.splitlines()) == 1


def test_config_validate_rejects_non_finite_numbers():
    for bad in (
        dict(weight_decay=float("nan")),
        dict(flatten_alpha=float("nan")),
        dict(lr=float("inf")),
        dict(min_lr=-1.0),
        dict(mask_ratio=0.0),
    ):
        with pytest.raises(ValueError):
            TrainConfig(**bad).validate()


def test_bad_checkpoints_are_one_line(tmp_path, capsys, small_config):
    tensor_file = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor_file)
    keyless = tmp_path / "keyless.pt"
    torch.save({"step": 3}, keyless)
    run = tmp_path / "run"
    Trainer(small_config(run, max_steps=2)).run()
    cases = [
        (["train", "--resume", str(tensor_file)], "not a maskstats checkpoint"),
        (["train", "--resume", str(keyless)], "not a maskstats checkpoint"),
        (["train", "--resume", str(run), "--patch-size", "8"], "--patch-size"),
        (
            ["train", "--resume", str(run), "--patch-size", "8", "--allow-changes"],
            "another architecture",
        ),
        (["eval", "--ckpt", str(tensor_file)], "not a maskstats checkpoint"),
        (["eval", "--ckpt", str(keyless)], "not a maskstats checkpoint"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, (argv, err)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_a_checkpoint_and_the_run_resumes(tmp_path, signum):
    run = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    argv = [sys.executable, "-m", "maskstats.cli.main", "train", *SMALL_FLAGS]
    flags = ["--max-steps", "400", "--log-every", "1", "--save-every", "1000"]
    process = subprocess.Popen(
        [*argv, *flags, "--out", str(run)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(read_metrics_safe(run)) < 2:
        time.sleep(0.2)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == (130 if signum == signal.SIGINT else 128 + signum), err
    assert "checkpoint saved" in err and "Traceback" not in err
    step = load_checkpoint(run / "checkpoint.pt")["step"]
    assert 2 <= step < 400
    intervals = [r["step"] for r in read_metrics(run) if r["kind"] == "interval"]
    assert intervals == list(range(1, step + 1))
    resumed = subprocess.run(
        [*argv[:4], "--resume", str(run), "--max-steps", str(step + 2)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 2 and "--max-steps" in resumed.stderr  # a conflict
    resumed = subprocess.run(
        [*argv[:4], "--resume", str(run), "--stop-after-steps", str(step + 2)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert load_checkpoint(run / "checkpoint.pt")["step"] == step + 2
    intervals = [r["step"] for r in read_metrics(run) if r["kind"] == "interval"]
    assert intervals == list(range(1, step + 3))  # log_every 1 carried over from the run
    assert json.loads((run / "summary.json").read_text())["step"] == step + 2


def read_metrics_safe(folder):
    try:
        return read_metrics(folder)
    except (json.JSONDecodeError, OSError):
        return []
