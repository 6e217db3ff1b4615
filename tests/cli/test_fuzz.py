"""A table of bad arguments for every subcommand: each must exit 2 with exactly one line on
stderr, no traceback, and leave the output folder (and its sentinel file) as it was."""

import importlib.util
import io
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from tiny_checkpoints import EXAMPLE_ARCH

from maskstats.cli import commands, main

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
    with zipfile.ZipFile(inputs / "not_npy.npz", "w") as archive:
        archive.writestr("notes.txt", "not an array")
    os.mkfifo(inputs / "fifo.npy")
    (inputs / "gen.py").write_text(GENERATORS)
    # Files whose unpickling would create {in}/SENTINEL (issue 27, items 1 and 2).
    evil = {b"data": _RunsShell(inputs / "SENTINEL"), b"labels": [0]}
    with open(inputs / "evil.pt", "wb") as handle:  # torch's legacy format is a plain pickle
        pickle.dump({"model": _RunsShell(inputs / "SENTINEL")}, handle, protocol=2)
    (inputs / "cifar").mkdir()
    (inputs / "cifar" / "data_batch_1").write_bytes(pickle.dumps(evil, protocol=2))
    return tmp_path


GENERATORS = """
def boom(n, grid, mask_ratio, seed):
    raise RuntimeError("boom")

def missing_key(n, grid, mask_ratio, seed):
    return {}["masks"]
"""


class _RunsShell:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def _cases():
    i, o = "{in}", "{out}"
    small = ["--img-size", "32", "--patch-size", "8", "-n", "4"]
    flatten = ["--metric", "p2dist", "--weighting", "flatten"]
    inverse = ["--metric", "p2dist", "--weighting", "inverse"]
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
        # issue 27: empty paths, other suffixes, .npz without .npy, FIFOs, memory
        ("stats", ["--masks", ""], "empty string"),
        ("stats", ["--masks", " "], "empty string"),
        ("stats", ["--masks", f"{i}/not_npy.npz"], "'notes.txt' is not a numpy array"),
        ("stats", ["--masks", f"{i}/fifo.npy"], "named pipe (FIFO), not a regular file"),
        ("stats", [*small, "--out", f"{o}/s.xlsx"], ".csv or .parquet, got .xlsx"),
        ("stats", [*small, "--out", f"{o}/s"], ".csv or .parquet, got no suffix"),
        ("stats", [*small, "--out", ""], "empty string"),
        ("stats", ["-n", "50374", "--img-size", "224", "--patch-size", "1"], "45.5 GB"),
        ("stats", ["--strategy", "simmim", "--img-size", "112"], "--mask-patch-size"),
        ("masks", [*small, "--out", ""], "empty string"),
        (
            "masks",
            ["-n", "50374", "--img-size", "224", "--patch-size", "1", "--out", f"{o}/m.npy"],
            "GB",
        ),
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
        ("report", ["--out", ""], "empty string"),
        ("report", ["--out", f"{o}/r", "--strategies", f"random,{i}/not_npy.npz"], "numpy array"),
        ("report", ["--out", f"{o}/r", "--strategies", f"random,{i}/fifo.npy"], "named pipe"),
        (
            "report",
            ["--out", f"{o}/r", *small, "--strategies", f"random,{i}/gen.py:boom"],
            "raised RuntimeError: boom",
        ),
        (
            "report",
            ["--out", f"{o}/r", *small, "--strategies", f"{i}/gen.py:missing_key"],
            "raised KeyError: 'masks'",
        ),
        (
            "report",
            ["--out", f"{o}/r", "--img-size", "112", "--strategies", "simmim"],
            "--mask-patch-size",
        ),
        ("report", ["--out", f"{o}/r", "--mask-patch-size", "0"], "positive"),
        (
            "report",
            ["--out", f"{o}/r", "-n", "100000", "--img-size", "224", "--patch-size", "1"],
            "GB",
        ),
        # bench
        ("bench", ["--out", o], "--overwrite"),
        ("bench", ["--out", f"{o}/sentinel.txt"], "is a file"),
        ("bench", ["--out", f"{o}/b", "--sizes", "0"], "sizes"),
        ("bench", ["--out", f"{o}/b", "--repeats", "0"], "positive"),
        ("bench", ["--out", f"{o}/b", "--sizes", "100000000"], "GB"),
        ("bench", ["--out", ""], "empty string"),
        # train / eval / table5: flags checked while parsing or before any work
        ("train", ["--out", f"{o}/run", "--mask-ratio", "2"], "[0, 1)"),
        ("train", ["--out", f"{o}/run", "--batch-size", "0"], "positive"),
        ("train", ["--out", f"{o}/run", "--strategy", "foo"], ""),
        ("train", ["--out", f"{o}/run", "--strategy", "tube"], "invalid choice: 'tube'"),
        ("visualize", ["--ckpt", f"{i}/ckpt.txt", "--strategy", "running_cell"], "invalid choice"),
        # issue 27: refused before the run folder (or anything in it) is written
        ("train", ["--out", f"{o}/run", "--num-workers", "-1"], "num_workers"),
        ("train", ["--out", f"{o}/run", "--dataset-length", "1000000000000"], "GB"),
        ("train", ["--out", f"{o}/run", "--min-lr", "1e30"], "--min-lr"),
        ("train", ["--out", f"{o}/run", "--weight-decay", "1e30"], "weight_decay"),
        ("train", [f"--out={o}/run", *flatten, "--flatten-alpha", "1e30"], "--flatten-alpha"),
        ("train", [f"--out={o}/run", *inverse, "--inverse-gamma", "1e30"], "--inverse-gamma"),
        ("train", ["--resume", f"{i}/evil.pt"], "could run code"),
        ("train", ["--data", f"cifar:{i}/cifar", "--out", f"{o}/run"], "posix.system"),
        ("eval", ["--ckpt", f"{i}/missing.pt"], "does not exist"),
        ("eval", ["--ckpt", f"{i}/ckpt.txt", "--out", o], "is a folder"),
        ("eval", ["--ckpt", f"{i}/missing.pt", "--test-share", "1"], "share in (0, 1)"),
        ("eval", ["--ckpt", f"{i}/missing.pt", "--test-share", "0"], "share in (0, 1)"),
        ("eval", ["--ckpt", f"{i}/missing.pt", "--max-images", "0"], "positive"),
        ("eval", ["--ckpt", f"{i}/missing.pt", "--out", f"{o}/taken.csv"], "--overwrite"),
        ("eval", ["--ckpt", f"{i}/evil.pt", "--out", f"{o}/e.json"], "could run code"),
        ("table5", ["--out", f"{o}/t5", "--seeds", "a"], "seeds"),
        ("table5", ["--out", f"{o}/t5", "--eval-test-share", "x"], "number in (0, 1)"),
        ("table5", ["--out", f"{o}/t5", "--eval-seed", "1.5"], "invalid int"),
        ("table5", ["--out", f"{o}/t5", "--seeds", "0,0"], "distinct seeds"),
        ("table5", ["--out", f"{o}/t5", "--blr", "5"], "blr must be in"),
        ("table5", ["--out", f"{o}/t5", "--baseline-ratio", "0"], "mask ratio above 0"),
        ("table5", ["--out", f"{o}/t5", "--eval-max-images", "1"], "--eval-max-images"),
        ("frobnicate", [], "invalid choice"),
    ]


def _visualize_cases():
    """Bad checkpoints, options and outputs of ``maskstats visualize`` ({models}: the tiny
    checkpoints of the ``models`` fixture); an --out that the command must never create."""
    i, o, m, hf = "{in}", "{out}", "{models}", "{models}/hf"
    arch = f"{EXAMPLE_ARCH}:MaskedAutoencoderViT"
    ckpts = [
        ("visualize", ["--ckpt", f"{i}/missing.pt"], "does not exist"),
        ("visualize", ["--ckpt", i], "neither a maskstats run"),
        ("visualize", ["--ckpt", f"{i}/ckpt.txt"], "cannot read checkpoint"),
        ("visualize", ["--ckpt", f"{m}/bert"], "wrong architecture"),
        ("visualize", ["--ckpt", f"{m}/fb.pth"], "--arch"),
        ("visualize", ["--ckpt", f"{m}/fb_broken.pth", "--arch", arch], "wrong architecture"),
        ("visualize", ["--ckpt", f"{m}/fb.pth", "--arch", "no_such_module:f"], "cannot import"),
        ("visualize", ["--ckpt", f"{m}/fb.pth", "--arch", f"{EXAMPLE_ARCH}:nope"], "has no"),
        ("visualize", ["--ckpt", f"{m}/tensor.pt"], "not a dict"),
        ("visualize", ["--ckpt", hf, "--img-size", "48"], "does not fit"),
        ("visualize", ["--ckpt", hf, "--strategy", "multiblock"], "different number"),
        ("visualize", ["--ckpt", hf, "--strategy", "difficulty"], "--target-avgdist"),
        ("visualize", ["--ckpt", hf, "--mask-ratio", "1.5"], "[0, 1)"),
        ("visualize", ["--ckpt", hf, "--mask-ratio", "0"], "above 0"),
        ("visualize", ["--ckpt", hf, "-n", "0"], "positive"),
        ("visualize", ["--ckpt", hf, "--data", f"{i}/no_images"], "does not exist"),
        ("visualize", ["--ckpt", hf, "--device", "cuda:7"], "CUDA"),
        ("visualize", ["--ckpt", hf, "--metric", "avgdist"], "invalid choice"),
        ("visualize", [], "--ckpt"),
    ]
    return [(command, [*args, "--out", f"{o}/g"], words) for command, args, words in ckpts] + [
        ("visualize", ["--ckpt", hf, "--out", o], "--overwrite"),
        ("visualize", ["--ckpt", hf, "--out", o, "--overwrite"], "not a maskstats gallery"),
        ("visualize", ["--ckpt", hf, "--out", f"{o}/sentinel.txt"], "not a folder"),
    ]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path | None:
    """Tiny checkpoints for the visualize cases (None without torch and transformers)."""
    if (
        importlib.util.find_spec("torch") is None
        or importlib.util.find_spec("transformers") is None
    ):
        return None
    import torch
    from tiny_checkpoints import save_tiny_fb, save_tiny_vitmae

    folder = tmp_path_factory.mktemp("models")
    save_tiny_vitmae(folder / "hf")
    (folder / "bert").mkdir()
    (folder / "bert" / "config.json").write_text('{"model_type": "bert"}')
    state = torch.load(save_tiny_fb(folder / "fb.pth"))
    del state["model"]["decoder_pred.bias"]
    torch.save(state, folder / "fb_broken.pth")
    torch.save(torch.zeros(3), folder / "tensor.pt")
    return folder


@pytest.mark.parametrize(("command", "args", "words"), _cases() + _visualize_cases())
def test_bad_arguments(place, models, capsys, monkeypatch, command, args, words):
    # The memory checks as on a 16 GB machine, whatever this one has.
    monkeypatch.setattr(commands, "physical_memory", lambda: 16 * 2**30)
    out = place / "out"
    if any("{models}" in a for a in args) and models is None:
        pytest.skip("needs torch and transformers for its checkpoints")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    argv = [
        command,
        *(
            a.replace("{in}", str(place / "in"))
            .replace("{out}", str(out))
            .replace("{models}", str(models))
            for a in args
        ),
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
    assert not (place / "in" / "SENTINEL").exists()


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
