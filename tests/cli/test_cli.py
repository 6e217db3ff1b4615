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


def _small(*extra):
    return ["--img-size", "32", "--patch-size", "8", "-n", "40", *extra]


def test_outputs_are_0644_and_not_overwritten_without_flag(tmp_path, capsys):
    import os
    import stat

    old = os.umask(0o022)
    try:
        masks_path, rows_path = tmp_path / "m.npy", tmp_path / "rows.csv"
        assert main(["masks", *_small("--out", str(masks_path))]) == 0
        assert main(["stats", *_small("--out", str(rows_path))]) == 0
        for path in (masks_path, rows_path):
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
        first = masks_path.read_bytes()
        assert main(["masks", *_small("--seed", "1", "--out", str(masks_path))]) == 2
        assert "--overwrite" in capsys.readouterr().err and masks_path.read_bytes() == first
        assert main(["masks", *_small("--seed", "1", "--out", str(masks_path), "--overwrite")]) == 0
        assert masks_path.read_bytes() != first
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npy", "rows.csv"]
    finally:
        os.umask(old)


def test_stats_reads_a_large_file_in_chunks(tmp_path, capsys, monkeypatch):
    """A memory-mapped file read a chunk at a time gives the rows and summary of the whole."""
    from maskstats.cli import commands
    from maskstats.masks import random_masks

    masks = random_masks(50, 4, 0.5, seed=3)
    path = tmp_path / "m.npy"
    np.save(path, masks)
    whole = tmp_path / "whole.csv"
    assert main(["stats", "--masks", str(path), "--patch-size", "4", "--out", str(whole)]) == 0
    printed_whole = capsys.readouterr().out
    seen = []
    from maskstats import metrics

    original = metrics.compute

    def spy(chunk, *args, **kwargs):
        seen.append(len(chunk))
        return original(chunk, *args, **kwargs)

    monkeypatch.setattr(commands, "CHUNK", 16)
    monkeypatch.setattr(metrics, "compute", spy)
    chunked = tmp_path / "chunked.csv"
    assert main(["stats", "--masks", str(path), "--patch-size", "4", "--out", str(chunked)]) == 0
    assert max(seen) == 16 and sum(seen) == 50
    pd.testing.assert_frame_equal(pd.read_csv(whole), pd.read_csv(chunked))
    assert capsys.readouterr().out.replace("chunked", "whole") == printed_whole


def test_torch_commands_say_what_to_install(monkeypatch, capsys):
    from maskstats.cli import commands

    real = commands.importlib.util.find_spec
    monkeypatch.setattr(
        commands.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch" else real(name, *a),
    )
    for argv in (["train"], ["eval", "--ckpt", "x"], ["table5"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "pip install 'maskstats[train]'" in err
        assert "download.pytorch.org/whl/cpu" in err


def test_only_rank_zero_prints_done(monkeypatch, capsys, tmp_path):
    import types

    fake = types.ModuleType("maskstats.mae.train")
    fake.train = lambda config: {"step": 3, "loss": 1.0, "step_ms": 2.0, "difficulty_share": 0.01}
    monkeypatch.setitem(sys.modules, "maskstats.mae.train", fake)
    for rank, expected in (("0", 1), ("1", 0)):
        monkeypatch.setenv("RANK", rank)
        assert main(["train", "--out", str(tmp_path / "run")]) == 0
        assert capsys.readouterr().out.count("done:") == expected


def test_compile_notice_when_the_cache_is_empty(monkeypatch, capsys, tmp_path):
    from maskstats.cli import commands

    monkeypatch.setattr(commands, "kernels_compiled", lambda *modules: False)
    assert main(["stats", *_small()]) == 0
    assert "compiling kernels (first run only" in capsys.readouterr().err
    monkeypatch.setattr(commands, "kernels_compiled", lambda *modules: True)
    assert main(["stats", *_small()]) == 0
    assert "compiling" not in capsys.readouterr().err
    # An empty numba cache (a fresh install) is detected as such.
    code = (
        "from maskstats.cli.commands import kernel_modules, kernels_compiled\n"
        "print(kernels_compiled(kernel_modules(('block',))))"
    )
    env = {**__import__("os").environ, "NUMBA_CACHE_DIR": str(tmp_path / "empty-cache")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.stdout.strip() == "False", result.stderr


def test_help_shows_defaults_and_a_line_per_option(capsys):
    from maskstats.cli.parser import build_parser

    parser = build_parser()
    subparsers = parser._subparsers._group_actions[0].choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            if action.dest == "help":
                continue
            assert action.help, (name, action.dest)
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = capsys.readouterr().out
        assert "(default:" in text, name
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    assert "(default: maskstats-report)" in capsys.readouterr().out


def test_help_is_fast_and_imports_no_torch_or_plotting():
    code = (
        "import sys; from maskstats.cli import main\n"
        "try:\n    main(['report', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'matplotlib', 'pandas', 'scipy.stats') "
        "if m in sys.modules), file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stderr.strip() == "[]", result.stderr


def test_bench_defaults_outside_figures_and_refuses_existing(tmp_path, monkeypatch, capsys):
    from maskstats.cli.parser import build_parser

    assert build_parser().parse_args(["bench"]).out == "maskstats-bench"
    (tmp_path / "benchmark.md").write_text("published")
    assert main(["bench", "--out", str(tmp_path), "--sizes", "8", "--no-extras"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "benchmark.md").read_text() == "published"


def test_error_line_is_not_glued_to_a_progress_bar(capsys):
    from tqdm.auto import tqdm

    bar = tqdm(total=10, desc="sweep", file=sys.stderr, delay=0)
    bar.update(3)
    assert main(["stats", "--mask-ratio", "2"]) == 2
    err = capsys.readouterr().err
    assert "sweep" in err
    assert err.splitlines()[-1].startswith("maskstats stats:")  # its own line
    bar.close()


def test_value_counts_match_numpy_over_the_pooled_values():
    from maskstats.cli.commands import ValueCounts

    rng = np.random.default_rng(0)
    pieces = [rng.choice([0.25, 0.5, 1.0, 1.4142135, 2.0, np.nan], size=s) for s in (7, 1, 300)]
    tally = ValueCounts()
    for piece in pieces:
        tally.add(piece)
    pooled = np.concatenate(pieces)
    pooled = pooled[np.isfinite(pooled)]
    assert tally.count == pooled.size and len(tally.values) == 5
    assert tally.mean() == pytest.approx(pooled.mean(), rel=1e-12)
    assert tally.std() == pytest.approx(pooled.std(), rel=1e-12)
    for q in (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0):
        assert tally.quantile(q) == pytest.approx(np.quantile(pooled, q), rel=1e-12), q
    assert np.isnan(ValueCounts().mean()) and np.isnan(ValueCounts().quantile(0.5))


def test_masks_reach_beits_pretraining_preset_by_count(tmp_path, capsys):
    """--num-masked 75 --min-num-patches 16 are BEiT's own pretraining masks at 224/16."""
    from maskstats.masks import block_masks

    out = tmp_path / "beit.npy"
    args = ["masks", "--strategy", "block", "--num-masked", "75", "--min-num-patches", "16"]
    assert main([*args, "-n", "40", "--seed", "3", "--out", str(out)]) == 0
    assert "75 masked each" in capsys.readouterr().out
    expected = block_masks(40, 14, num_masking_patches=75, min_num_patches=16, seed=3)
    np.testing.assert_array_equal(np.load(out), expected)
    for bad, words in (
        (["--strategy", "random", "--num-masked", "75"], "--num-masked is BEiT's count"),
        (["--strategy", "block", "--num-masked", "197"], "more than the 14x14 grid's 196"),
        (["--strategy", "grid", "--min-num-patches", "16"], "--min-num-patches is for"),
    ):
        assert main(["stats", *bad, "-n", "4"]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1
