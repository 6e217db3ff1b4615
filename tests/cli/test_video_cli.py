"""``maskstats masks`` and ``maskstats stats`` with clips (--frames, --tubelet-size)."""

import numpy as np
import pandas as pd
import pytest

from maskstats.cli import main
from maskstats.masks import tube_masks
from maskstats.metrics import compute

CLIP = ["--img-size", "64", "--patch-size", "16", "--frames", "8", "--tubelet-size", "2"]


def test_masks_saves_tubes_and_stats_reads_them(tmp_path, capsys):
    path = tmp_path / "tubes.npy"
    assert main(["masks", "--strategy", "tube", "--mask-ratio", "0.75", "-n", "6", *CLIP,
                 "--out", str(path)]) == 0  # fmt: skip
    saved = np.load(path)
    np.testing.assert_array_equal(saved, tube_masks(6, (4, 4, 4), 0.75, seed=0))
    printed = capsys.readouterr().out
    assert "6 tube clips, grid 4x4x4, 48 masked each" in printed  # int(0.75 * 16) = 12 a frame
    rows = tmp_path / "rows.csv"
    assert main(["stats", "--masks", str(path), "--patch-size", "16", "--out", str(rows)]) == 0
    printed = capsys.readouterr().out
    assert "6 clips on a 4x4x4 grid" in printed and "temporal_step=16 px" in printed
    assert "100.0% of masked tokens have it masked in every token-frame" in printed
    table = pd.read_csv(rows)
    values = compute(saved, ("avgdist",), 16, tubelet_size=2)["avgdist"]
    np.testing.assert_allclose(table["avgdist"], values, rtol=1e-6)
    assert (table["n_masked"] == 48).all() and table["temporal"].isna().all()


def test_stats_generates_whole_clip_random_masks_and_reads_flat_files(tmp_path, capsys):
    assert main(["stats", "--strategy", "random", "--mask-ratio", "0.9", "-n", "8", *CLIP]) == 0
    printed = capsys.readouterr().out
    assert "8 clips on a 4x4x4 grid (random clips, mask_ratio=0.9)" in printed
    clips = np.random.default_rng(1).random((5, 4 * 4 * 4)) < 0.7
    clips[:, 0] = False
    path = tmp_path / "flat.npy"
    np.save(path, clips.astype(np.uint8))
    assert main(["stats", "--masks", str(path), "--grid", "4x4x4", "--temporal-step", "4"]) == 0
    assert "5 clips on a 4x4x4 grid" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["masks", "--strategy", "tube", "--out", "x.npy"], "makes clips: pass --frames"),
        (["stats", "--strategy", "running_cell", "--frames", "16", "--mask-ratio", "0.6"],
         "0.25, 0.5 or 0.75"),
        (["stats", "--strategy", "running_cell", "--frames", "16", "--img-size", "208",
          "--mask-ratio", "0.5"], "must be even"),
        (["stats", "--strategy", "tube", "--frames", "15"], "multiple of tubelet_size"),
        (["stats", "--strategy", "tube", "--frames", "16", "--temporal-step", "0"],
         "--temporal-step must be > 0"),
        (["stats", "--masks", "f.npy", "--grid", "8x14x14x2"], "TxHxW"),
        # --num-masked, --min-num-patches and SimMIM's cell are checked for clips too (#24, #26)
        (["masks", "--strategy", "tube", "--frames", "16", "--num-masked", "75", "--out",
          "x.npy"], "--num-masked is BEiT's count"),
        (["stats", "--strategy", "random", "--frames", "16", "--num-masked", "75"],
         "--num-masked is BEiT's count"),
        (["stats", "--strategy", "block", "--frames", "16", "--num-masked", "197"],
         "more than the 14x14 grid's 196"),
        (["stats", "--strategy", "tube", "--frames", "16", "--min-num-patches", "16"],
         "--min-num-patches is for"),
        (["stats", "--strategy", "simmim", "--frames", "16", "--img-size", "112"],
         "(--mask-patch-size)"),
    ],
)  # fmt: skip
def test_clip_options_refuse_bad_input_in_one_line(tmp_path, monkeypatch, capsys, args, words):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
