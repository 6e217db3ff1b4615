import json
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from maskstats.cli import main
from maskstats.mae.config import EvalSettings, TrainConfig
from maskstats.mae.evaluate import (
    drop_repeats,
    evaluate,
    knn_accuracy,
    linear_probe,
    spearman,
    split_indices,
)
from maskstats.mae.train import Trainer


def one_hot_problem(n=600, classes=10, noise=False, seed=0):
    rng = np.random.default_rng(seed)
    labels = torch.from_numpy(rng.integers(0, classes, n))
    if noise:
        features = torch.from_numpy(rng.normal(size=(n, 32))).float()
    else:
        features = torch.nn.functional.one_hot(labels, classes).float()
    return features[: n // 2], labels[: n // 2], features[n // 2 :], labels[n // 2 :]


def test_probe_and_knn_are_perfect_on_one_hot_features():
    problem = one_hot_problem()
    assert linear_probe(*problem) == 1.0
    assert knn_accuracy(*problem) == 1.0


def test_probe_and_knn_are_at_chance_on_noise():
    problem = one_hot_problem(n=4000, noise=True)
    assert 0.06 < linear_probe(*problem) < 0.15
    assert 0.06 < knn_accuracy(*problem) < 0.15


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.floats(-10, 10, allow_nan=False)), min_size=3, max_size=60
    )
)
def test_spearman_matches_scipy(pairs):
    x = np.array([p[0] for p in pairs], dtype=float)
    y = np.array([p[1] for p in pairs], dtype=float)
    expected = stats.spearmanr(x, y)[0]
    got = spearman(x, y)
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(expected, abs=1e-9)


def test_split_is_stratified_and_disjoint():
    labels = np.repeat(np.arange(5), 20)
    train, test = split_indices(labels, 0.2, seed=0)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 100
    assert (np.bincount(labels[test]) == 4).all()


@pytest.mark.slow
def test_eval_end_to_end_on_a_briefly_pretrained_model(tmp_path, capsys):
    config = TrainConfig(
        max_steps=3,
        batch_size=16,
        dataset_length=48,
        out=str(tmp_path),
        progress=False,
        mask_ratio=0.9,
    )
    Trainer(config).run()
    flags = ["--probe-epochs", "50", "--max-images", "1000", "--test-share", "0.25"]
    assert main(["eval", "--ckpt", str(tmp_path), *flags, "--seed", "3"]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "linear probe top-1" in printed
    assert "loss/var" in printed.splitlines()[-2]  # the last metric's line, before "wrote"
    # Beside each accuracy, the untrained encoder's (the baseline a reader compares with).
    assert re.search(r"linear probe top-1: .*\(untrained encoder: cls 0\.\d{4}", printed)
    assert re.search(r"k-NN \(k=20\) top-1: .*\(untrained encoder: cls 0\.\d{4}", printed)
    # Each part says when it is done and how long it took.
    for part in ("features of 1000 images", "linear probe and k-NN", "untrained-encoder baseline"):
        assert re.search(rf"{part}.*: \d+ s", captured.err), part
    assert re.search(r"per-patch losses and Spearman on \d+ images: \d+ s", captured.err)
    result = json.loads((tmp_path / "eval.json").read_text())
    baseline = result["untrained"]
    assert set(baseline) == {"linear_probe_cls", "linear_probe_mean", "knn_cls", "knn_mean"}
    assert all(0 <= v <= 1 for v in baseline.values())
    assert baseline != {k: result[k] for k in baseline}  # another encoder, other features
    # What was evaluated is recorded: 1,000 of the 1,797 digits, a quarter of them to test.
    assert (result["seed"], result["test_share"], result["max_images"]) == (3, 0.25, 1000)
    assert result["n_train"] + result["n_test"] == 1000 and 240 <= result["n_test"] <= 260
    assert result["real_difficulty"]["images"] == result["n_test"]
    # Ten digit classes: chance is 0.1; features of a 3-step encoder still separate them.
    assert result["knn_mean"] > 0.25 and result["linear_probe_cls"] > 0.2
    assert result["mask_ratio"] == 0.9  # the real-difficulty test used the training ratio
    for name in ("density3", "invdist5", "nearest", "p2dist"):
        values = result["real_difficulty"][name]
        lo, hi = values["spearman_pooled_ci"]
        assert -1 <= lo <= values["spearman_pooled"] <= hi <= 1


def test_eval_rejects_a_missing_or_corrupt_checkpoint(tmp_path, capsys):
    assert main(["eval", "--ckpt", str(tmp_path / "nothing.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    assert main(["eval", "--ckpt", str(tmp_path / "bad.pt")]) == 2
    assert "cannot read checkpoint" in capsys.readouterr().err


def test_drop_repeats_removes_a_few_and_refuses_many():
    digests = ["a", "b", "c", "d"] + ["a"] * 8 + [f"unique{k}" for k in range(88)]
    train = np.arange(0, 4)
    test = np.arange(4, 100)
    with pytest.warns(UserWarning, match="dropped 8 of 96"):
        kept = drop_repeats(digests, train, test, "data")
    assert len(kept) == 88 and all(digests[i].startswith("unique") for i in kept)
    with pytest.raises(ValueError, match="repeat probe-training images"):
        drop_repeats(digests, train, np.arange(4, 20), "data")


def test_eval_refuses_builtin_natural_whose_test_images_repeat_training_images(tmp_path):
    """builtin:natural is ten photos resized and repeated: every test image is a copy of a
    training image (its old 0.909 accuracy was exactly 10/11)."""
    Trainer(TrainConfig(max_steps=1, out=str(tmp_path), progress=False)).save()
    settings = EvalSettings(
        ckpt=str(tmp_path), data="builtin:natural", probe_epochs=5, max_images=200
    )
    with pytest.raises(ValueError, match="repeat probe-training images"):
        evaluate(settings)
    assert not (tmp_path / "eval.json").exists()


def test_eval_checks_its_output_before_any_work(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    argv = ["eval", "--ckpt", str(tmp_path / "missing"), "--out", str(tmp_path / "file" / "e.json")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot write" in err and len(err.splitlines()) == 1
    assert main(["eval", "--ckpt", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


@pytest.fixture(scope="module")
def untrained_run(tmp_path_factory):
    """A micro MAE run folder holding the checkpoint of step 0 (no training: quick)."""
    run = tmp_path_factory.mktemp("run")
    Trainer(TrainConfig(max_steps=1, out=str(run), progress=False, mask_ratio=0.75)).save()
    return run


def _one_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_eval_refuses_to_replace_its_output_without_overwrite(untrained_run, tmp_path, capsys):
    """Issue 27, item 5: an existing --out (or RUN/eval.json) is kept unless --overwrite."""
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    quick = ["--max-images", "60", "--probe-epochs", "2", "--data", "builtin:digits"]
    assert main(["eval", "--ckpt", str(untrained_run), *quick, "--out", str(notes)]) == 2
    assert "--overwrite" in _one_line(capsys)
    assert notes.read_text() == "mine"
    assert (
        main(["eval", "--ckpt", str(untrained_run), *quick, "--out", str(notes), "--overwrite"])
        == 0
    )
    capsys.readouterr()
    assert json.loads(notes.read_text())["n_train"] + json.loads(notes.read_text())["n_test"] == 60


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--img-size", "64"], "trained at 32"),  # item 21
        (["--max-images", "2"], "no test image"),  # item 22
        (["--test-share", "0.999", "--max-images", "100"], "no training image"),  # item 22
        (["--mask-ratio", "0"], "masks 0 of 64"),  # item 23
        (["--mask-ratio", "0.99"], "masks 64 of 64"),
    ],
)
def test_eval_refuses_what_cannot_work_before_the_long_part(
    untrained_run, tmp_path, capsys, flags, words
):
    """One line and exit 2, before the "evaluating" notice (so before features and probe), and
    nothing written."""
    out = tmp_path / "e.json"
    argv = ["eval", "--ckpt", str(untrained_run), "--out", str(out), "--probe-epochs", "2"]
    assert main([*argv, *flags]) == 2
    assert words in _one_line(capsys)
    assert not out.exists()


def test_split_indices_are_integer_indices_even_when_a_side_is_empty():
    train, test = split_indices(np.array([0, 1]), 0.2, seed=0)
    assert train.dtype == np.int64 and test.dtype == np.int64
    assert len(test) == 0 and sorted(train) == [0, 1]
