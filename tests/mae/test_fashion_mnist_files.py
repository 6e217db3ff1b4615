"""End to end on the real Fashion-MNIST files of Debian's dataset-fashion-mnist package.

Skipped where the package is not installed; CI installs it and sets
MASKSTATS_REQUIRE_FASHION_MNIST=1, which turns the skip into a failure."""

import json
import os

import numpy as np
import pytest

from maskstats.mae.data import IDX_FOLDERS, load_dataset

FOLDER = IDX_FOLDERS["fashion-mnist"]


@pytest.fixture(scope="module")
def splits():
    if not FOLDER.is_dir():
        if os.environ.get("MASKSTATS_REQUIRE_FASHION_MNIST") == "1":
            pytest.fail(f"{FOLDER} is missing: apt-get install dataset-fashion-mnist")
        pytest.skip("dataset-fashion-mnist is not installed")
    return load_dataset("fashion-mnist", 32, train=True), load_dataset(
        "fashion-mnist", 32, train=False
    )


def test_the_official_splits_are_read_whole(splits):
    """Fashion-MNIST's published sizes: 60,000 training and 10,000 test images, 10 classes of
    exactly 6,000 and 1,000 images."""
    train, test = splits
    assert (len(train), len(test)) == (60_000, 10_000)
    assert np.bincount(train.labels).tolist() == [6_000] * 10
    assert np.bincount(test.labels).tolist() == [1_000] * 10
    image, label = test[0]
    assert image.shape == (3, 32, 32) and label == test.labels[0]


@pytest.mark.slow
def test_train_then_eval_on_the_real_files(splits, tmp_path, capsys):
    """Three pretraining steps on the train split, then the probe on 300 test images: labels
    that did not line up with their images would leave it at chance (0.1)."""
    from maskstats.cli.main import main

    run = tmp_path / "run"
    flags = ["--max-steps", "3", "--batch-size", "16", "--log-every", "1"]
    assert main(["train", "--data", "fashion-mnist", "--out", str(run), *flags]) == 0
    out = tmp_path / "eval.json"
    args = ["--data", "fashion-mnist", "--max-images", "300", "--test-share", "0.3"]
    assert main(["eval", "--ckpt", str(run), *args, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert (result["n_train"], result["n_test"]) == (210, 90)
    assert result["linear_probe_mean"] > 0.3 and result["knn_mean"] > 0.3
