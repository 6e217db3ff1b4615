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

import numpy as np
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
    # issue 27, items 6, 11 and 20: refused before the run folder is made
    (["--num-workers", "-1"], "num_workers"),
    (["--dataset-length", "1000000000000"], "--dataset-length"),
    (["--min-lr", "1e30"], "--min-lr"),
    (["--min-lr", "0.5"], "above the run's lr"),
    (["--weight-decay", "1e30"], "weight_decay"),
    (["--flatten-alpha", "1e30", "--metric", "p2dist", "--weighting", "flatten"], "alpha"),
    (["--inverse-gamma", "1e30", "--metric", "p2dist", "--weighting", "inverse"], "gamma"),
    (["--blr", "1", "--batch-size", "512", "--dataset-length", "1024"], "lr ="),
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


def _truncated_jpegs(folder, count=4):
    """JPEGs that pass Image.verify() but fail to decode."""
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(count):
        path = folder / f"{k}.jpg"
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_data_where_nothing_decodes_is_refused_before_the_run_folder_exists(tmp_path, capsys):
    _truncated_jpegs(tmp_path / "broken")
    out = tmp_path / "run"
    argv = ["train", "--data", str(tmp_path / "broken"), "--batch-size", "2", "--out", str(out)]
    with pytest.warns(UserWarning):
        assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "can be decoded" in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def _first_checkpoint_never_written(run, env):
    """Start a run whose first checkpoint would come at step 1000 and SIGKILL it once it has
    logged two steps: the folder holds config.json and metrics.jsonl, no checkpoint."""
    argv = [sys.executable, "-m", "maskstats.cli.main", "train", *SMALL_FLAGS, "--out", str(run)]
    process = subprocess.Popen(
        [*argv, "--max-steps", "400", "--log-every", "1", "--save-every", "1000"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(read_metrics_safe(run)) < 2:
        time.sleep(0.2)
    process.kill()
    process.wait(timeout=60)
    assert (run / "config.json").exists() and not (run / "checkpoint.pt").exists()


@pytest.mark.slow
def test_a_run_killed_before_its_first_checkpoint_resumes_from_step_0_or_is_replaced(
    tmp_path, capsys
):
    """Issue 27, item 7: kill -9 before the first checkpoint, then ``--resume RUN`` starts it
    again from step 0 with its saved settings (logs equal to a straight run's), and after a
    second kill ``--out RUN`` replaces it without --overwrite."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    run = tmp_path / "run"
    _first_checkpoint_never_written(run, env)
    capsys.readouterr()
    resume = ["train", "--resume", str(run), "--max-steps", "400", "--stop-after-steps", "2"]
    assert main(resume) == 0
    assert "from step 0" in capsys.readouterr().err
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 2
    straight = tmp_path / "straight"
    flags = [*SMALL_FLAGS, "--max-steps", "400", "--log-every", "1", "--save-every", "1000"]
    assert main(["train", *flags, "--stop-after-steps", "2", "--out", str(straight)]) == 0
    assert _records(run) == _records(straight)
    shutil.rmtree(run)
    _first_checkpoint_never_written(run, env)
    assert main(["train", *flags, "--stop-after-steps", "2", "--out", str(run)]) == 0
    assert _records(run) == _records(straight)


def test_a_run_folder_without_checkpoint_or_summary_is_replaced_without_overwrite(
    tmp_path, small_config
):
    """What a run killed before its first checkpoint leaves (config.json, metrics.jsonl) does
    not block a new run; a finished run (summary.json) still does."""
    run = tmp_path / "run"
    Trainer(small_config(run, max_steps=2)).run()
    (run / "checkpoint.pt").unlink()
    with pytest.raises(ValueError, match="already holds a run"):
        Trainer(small_config(run, max_steps=2)).run()  # summary.json: a finished run
    for name in ("summary.json", "metrics.csv", "loss_per_bin.png", "loss_per_bin.pdf"):
        (run / name).unlink(missing_ok=True)
    (run / "metrics.jsonl").write_text('{"kind": "interval", "step": 1, "loss": 9.0}\n')
    Trainer(small_config(run, max_steps=2)).run()
    assert [r["step"] for r in read_metrics(run)] == [2]  # the stale record is gone


def test_a_non_finite_loss_is_one_line_naming_the_step_and_keeps_the_checkpoint(
    tmp_path, small_config
):
    """Issue 27, item 11: weights that turn non-finite after step 3 (checkpointed) stop the run
    at step 4 with a ValueError naming the step; checkpoint.pt is still step 3's."""
    Trainer(small_config(tmp_path, max_steps=8, save_every=3, stop_after_steps=3)).run()
    before = (tmp_path / "checkpoint.pt").read_bytes()
    trainer = Trainer(small_config(tmp_path, max_steps=8, save_every=3, resume=str(tmp_path)))
    with torch.no_grad():
        trainer.model.decoder_pred.weight[0, 0] = float("nan")
    with pytest.raises(ValueError) as error:
        trainer.run()
    message = str(error.value)
    assert len(message.splitlines()) == 1 and "step 4" in message and "nan" in message, message
    assert "step 3" in message and "kept" in message
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    with pytest.raises(ValueError, match="non-finite"):
        trainer.save()  # a save never writes non-finite weights over a good checkpoint
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_a_non_finite_loss_from_the_data_is_exit_2_in_one_line(tmp_path, capsys):
    """A float TIFF with an infinite pixel gives a non-finite loss at step 1: one line, exit 2,
    and the folder (no step done) is left as it was: absent."""
    from PIL import Image

    data = tmp_path / "data"
    data.mkdir()
    pixels = np.full((32, 32), 0.5, np.float32)
    pixels[10, 10] = np.inf
    for k in range(4):
        Image.fromarray(pixels, mode="F").save(data / f"{k}.tif")
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--batch-size", "4", "--max-steps", "2"]
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("train:")]
    assert len(lines) == 1 and "at step 1" in lines[0] and "Traceback" not in err, err
    assert not out.exists()
