import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from maskstats.cli import main
from maskstats.metrics import avgdist, p2dist


def test_stats_prints_table_and_writes_rows(tmp_path, capsys):
    out = tmp_path / "stats.csv"
    code = main(
        [
            "stats",
            "--mask-ratio",
            "0.75",
            "--img-size",
            "64",
            "--patch-size",
            "8",
            "-n",
            "50",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    for name in ("density3", "invdist5", "nearest", "p2dist", "avgdist"):
        assert name in printed
    table = pd.read_csv(out)
    assert len(table) == 50 and (table["n_masked"] == 64 - 16).all()


def test_stats_reads_saved_flat_masks(tmp_path, capsys):
    masks = np.random.default_rng(0).random((10, 16)) < 0.5
    masks[:, 0] = False
    path = tmp_path / "masks.npy"
    np.save(path, masks.astype(np.uint8))
    out = tmp_path / "rows.csv"
    assert (
        main(
            ["stats", "--masks", str(path), "--grid", "4x4", "--patch-size", "4", "--out", str(out)]
        )
        == 0
    )
    rows = pd.read_csv(out)
    grid_masks = masks.reshape(10, 4, 4)
    np.testing.assert_allclose(rows["avgdist"], avgdist(grid_masks, patch_size=4), rtol=1e-6)
    expected = np.nanmean(p2dist(grid_masks, patch_size=4).reshape(10, -1), axis=1)
    np.testing.assert_allclose(rows["p2dist"], expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["stats", "--mask-ratio", "1.0"], "[0, 1)"),
        (["stats", "--img-size", "225"], "not divisible"),
        (["stats", "--masks", "missing.npy"], "does not exist"),
        (["stats", "-n", "0"], "positive integer"),
        (["stats", "--grid", "axb", "--masks", "x.npy"], "HxW"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args, words, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_corrupt_mask_file(tmp_path, capsys):
    path = tmp_path / "bad.npy"
    path.write_bytes(b"not a numpy file")
    assert main(["stats", "--masks", str(path)]) == 2
    assert "not a numpy file" in capsys.readouterr().err


def test_console_script_has_no_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "maskstats.cli.main", "stats", "--mask-ratio", "2"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_import_does_not_import_torch():
    modules = "maskstats, maskstats.tables, maskstats.sweeps, maskstats.cli, maskstats.report"
    code = f"import sys, {modules}, maskstats.mae.config; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
