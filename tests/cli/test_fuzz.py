"""A table of bad arguments for every subcommand: each must exit 2 with exactly one line on
stderr, no traceback, and leave the output folder (and its sentinel file) as it was."""

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from maskstats.cli import main

SENTINEL = "precious"


@pytest.fixture
def place(tmp_path) -> Path:
    """An output folder holding a sentinel and some bad input files."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "sentinel.txt").write_text(SENTINEL)
    (out / "taken.npy").write_text(SENTINEL)
    (out / "taken.csv").write_text(SENTINEL)
    (out / "benchmark.csv").write_text(SENTINEL)
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = np.zeros((4, 4, 4), bool)
    good[:, 0, 0] = True
    buffer = io.BytesIO()
    np.savez(buffer, masks=good)
    (inputs / "truncated.npz").write_bytes(buffer.getvalue()[:-40])
    np.save(inputs / "empty.npy", np.zeros((0, 4, 4), bool))
    (inputs / "table.npy").write_text("a,b\n1,0\n0,1\n")
    np.save(inputs / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(inputs / "five_d.npy", np.zeros((2, 2, 2, 2, 2), bool))  # 4-D files are clips
    np.save(inputs / "floats.npy", np.full((2, 4, 4), 0.5))
    (inputs / "folder.npy").mkdir()
    (inputs / "ckpt.txt").write_text("not a checkpoint")
    with zipfile.ZipFile(inputs / "empty.npz", "w"):
        pass
    return tmp_path


def _cases():
    i, o = "{in}", "{out}"
    small = ["--img-size", "32", "--patch-size", "8", "-n", "4"]
    return [
        # stats: bad mask files
        ("stats", ["--masks", f"{i}/truncated.npz"], "cannot read masks"),
        ("stats", ["--masks", f"{i}/empty.npy"], "no masks"),
        ("stats", ["--masks", f"{i}/table.npy"], "not a numpy file"),
        ("stats", ["--masks", f"{i}/objects.npy"], "Python objects"),
        ("stats", ["--masks", f"{i}/five_d.npy"], "shape"),
        ("stats", ["--masks", f"{i}/floats.npy"], ""),
        ("stats", ["--masks", f"{i}/folder.npy"], "is a folder"),
        ("stats", ["--masks", f"{i}/missing.npy"], "does not exist"),
        ("stats", ["--masks", f"{i}/empty.npz"], "no array"),
        ("stats", ["--masks", f"{i}/five_d.npy", "--grid", "0x3"], "HxW"),
        # stats: bad options and outputs
        ("stats", ["--mask-ratio", "1.0"], "[0, 1)"),
        ("stats", ["--mask-ratio", "nan"], "[0, 1)"),
        ("stats", ["--img-size", "225"], "not divisible"),
        ("stats", ["-n", "1000000000"], "GB"),
        ("stats", ["--strategy", "difficulty"], "target"),
        ("stats", ["--on-empty", "bogus"], "invalid choice"),
        ("stats", ["--tol", "nan"], "finite"),
        ("stats", [*small, "--out", f"{o}/taken.csv"], "--overwrite"),
        ("stats", [*small, "--out", o], "is a folder"),
        # masks
        ("masks", [*small, "--out", f"{o}/m.txt"], ".npy"),
        ("masks", [*small, "--out", f"{o}/taken.npy"], "--overwrite"),
        ("masks", ["-n", "1000000000", "--out", f"{o}/m.npy"], "GB"),
        ("masks", [*small, "--mask-ratio", "-0.1", "--out", f"{o}/m.npy"], "[0, 1)"),
        ("masks", [*small, "--patch-size", "0", "--out", f"{o}/m.npy"], "positive"),
        ("masks", [*small], "--out"),
        (
            "masks",
            [*small, "--strategy", "difficulty", "--target-avgdist", "9999", "--out", f"{o}/m.npy"],
            "",
        ),
        # report
        ("report", ["--out", o], "--overwrite"),
        ("report", ["--out", o, "--overwrite"], "not a maskstats report"),
        ("report", ["--out", f"{o}/sentinel.txt"], "not a folder"),
        ("report", ["--out", f"{o}/r", "--ratios", "0.5:0.4:0.1"], "start 0.5 is above stop"),
        ("report", ["--out", f"{o}/r", "--ratios", "0:inf:0.1"], "finite"),
        ("report", ["--out", f"{o}/r", "--ratios", "0:0.9:1e-300"], "at most"),
        ("report", ["--out", f"{o}/r", "--ratios", "0.5:0.9:1e-8"], "at most"),
        ("report", ["--out", f"{o}/r", "--strategies", "foo"], "difficulty"),
        ("report", ["--out", f"{o}/r", "--strategies", "difficulty"], "--target-avgdist"),
        ("report", ["--out", f"{o}/r", "-n", "0"], "positive"),
        ("report", ["--out", f"{o}/r", "-n", "1000000000"], "GB"),
        ("report", ["--out", f"{o}/r", "--target-avgdist", "nan"], "finite"),
        # bench
        ("bench", ["--out", o], "--overwrite"),
        ("bench", ["--out", f"{o}/sentinel.txt"], "is a file"),
        ("bench", ["--out", f"{o}/b", "--sizes", "0"], "sizes"),
        ("bench", ["--out", f"{o}/b", "--repeats", "0"], "positive"),
        # train / eval / table5: flags checked while parsing or before any work
        ("train", ["--out", f"{o}/run", "--mask-ratio", "2"], "[0, 1)"),
        ("train", ["--out", f"{o}/run", "--batch-size", "0"], "positive"),
        ("train", ["--out", f"{o}/run", "--strategy", "foo"], ""),
        ("eval", ["--ckpt", f"{i}/missing.pt"], "does not exist"),
        ("eval", ["--ckpt", f"{i}/ckpt.txt", "--out", o], "is a folder"),
        ("eval", ["--ckpt", f"{i}/missing.pt", "--test-share", "1"], "share in (0, 1)"),
        ("eval", ["--ckpt", f"{i}/missing.pt", "--test-share", "0"], "share in (0, 1)"),
        ("eval", ["--ckpt", f"{i}/missing.pt", "--max-images", "0"], "positive"),
        ("table5", ["--out", f"{o}/t5", "--seeds", "a"], "seeds"),
        ("table5", ["--out", f"{o}/t5", "--eval-test-share", "x"], "number in (0, 1)"),
        ("table5", ["--out", f"{o}/t5", "--eval-seed", "1.5"], "invalid int"),
        ("frobnicate", [], "invalid choice"),
    ]


@pytest.mark.parametrize(("command", "args", "words"), _cases())
def test_bad_arguments(place, capsys, command, args, words):
    out = place / "out"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    argv = [
        command,
        *(a.replace("{in}", str(place / "in")).replace("{out}", str(out)) for a in args),
    ]
    assert main(argv) == 2
    captured = capsys.readouterr()
    # The one-time "compiling kernels" notice (a cold numba cache, as in CI) is not an error.
    lines = [
        line
        for line in captured.err.splitlines()
        if not line.startswith("maskstats: compiling kernels")
    ]
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert words in lines[0]
    # Nothing in the output folder changed, nothing was added (no temp files either).
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in place.iterdir() if p.name.startswith(".")]


def test_console_error_starts_its_own_line_and_pipe_closing_is_quiet(place):
    """Through the real entry point: an error after a progress bar is on its own line, and a
    reader that stops early (``| head``) gets no "Broken pipe" message."""
    code = (
        "import sys; from maskstats.cli import main; "
        "sys.argv = ['maskstats', 'stats', '--img-size', '32', '--patch-size', '8', '-n', '64'];"
        "sys.exit(main())"
    )
    result = subprocess.run(
        # `true` exits without reading: every write of the command meets a closed pipe.
        f'{sys.executable} -c "{code}" | true; echo done',
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Broken pipe" not in result.stderr and "Errno 32" not in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.strip() == "done"
