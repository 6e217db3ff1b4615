import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maskstats.cli import commands, main
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


# --------------------------------------------------------------------------- issue 27 item 30

GIB = 2**30


def _estimate(err: str) -> tuple[float, int]:
    """The GB estimate and the largest count a memory refusal names."""
    found = re.search(r"need about ([\d.]+) GB .* use at most (?:-n|--sizes) (\d+) per run", err)
    assert found, err
    return float(found[1]), int(found[2])


def test_stats_memory_estimate_covers_generating_the_masks(monkeypatch, capsys):
    monkeypatch.setattr(commands, "physical_memory", lambda: 64 * GIB)
    assert main(["stats", "-n", "50374", "--img-size", "224", "--patch-size", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    need, most = _estimate(err)
    cells = 224 * 224
    # MAE's random_masking holds float64 noise and its int64 argsort: 17 bytes per patch
    # (the outputs alone, 2 bytes per patch, were all the old estimate counted: 5 GB).
    assert need >= 17 * 50374 * cells / 1e9
    assert 17 * most * cells <= 32 * GIB < 17 * (most + 1) * cells * 1.1


def test_bench_refuses_sizes_that_do_not_fit_and_leaves_no_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(commands, "physical_memory", lambda: 64 * GIB)
    out = tmp_path / "bench"
    assert main(["bench", "--out", str(out), "--sizes", "256,100000000"]) == 2
    need, most = _estimate(capsys.readouterr().err)
    assert need >= 100_000_000 * 196 * 18 / 1e9  # generating the largest case at least
    assert 0 < most < 100_000_000
    assert not out.exists()


def test_report_estimate_covers_the_traced_growth_per_patch():
    """The report's bytes per patch of a setting's masks cover what its stages allocate per
    patch (tracemalloc, the growth from 64 to 256 masks: fixed costs such as figures cancel)."""
    import tracemalloc

    from maskstats.report import ReportSettings, build

    def peak(n: int, stage) -> int:
        settings = ReportSettings(
            img_size=128, patch_size=4, strategies=("random",), mask_ratios=(0.75, 0.9), n=n
        )
        with tempfile.TemporaryDirectory() as folder:
            tracemalloc.start()
            try:
                stage(Path(folder), settings)
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    stages = {
        "sweep": lambda out, s: build.write_sweep(out, s, progress=False),
        "metric table": build.write_metric_table,
        "loss difficulty": build.write_loss_difficulty,
    }
    cells = (256 - 64) * 32 * 32
    for name, stage in stages.items():
        peak(8, stage)  # compile, warm up
        growth = (peak(256, stage) - peak(64, stage)) / cells
        assert 0 < growth <= commands.REPORT_BYTES_PER_CELL, (name, growth)


@pytest.mark.slow
def test_bench_estimate_covers_the_measured_growth_per_patch(tmp_path):
    """Peak RSS of the timed cases (torch, numpy and scipy baselines included) at two sizes:
    the growth per patch is below the estimate's."""
    from maskstats.bench import peak_bytes

    script = (
        "import sys\n"
        "from maskstats import bench\n"
        "bench.run_cases(bench.default_cases((8,)), repeats=2, progress=lambda line: None)\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        "status = lambda key: next(int(l.split()[1]) * 1024 for l in open('/proc/self/status')"
        " if l.startswith(key))\n"
        "before = status('VmRSS:')\n"
        "bench.run_cases(bench.default_cases((int(sys.argv[1]),)), repeats=2,"
        " progress=lambda line: None)\n"
        "print(status('VmHWM:') - before)\n"
    )
    grown = {}
    for n in (2048, 8192):
        result = subprocess.run(
            [sys.executable, "-c", script, str(n)], capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stderr
        grown[n] = int(result.stdout.split()[-1])
    per_patch = (grown[8192] - grown[2048]) / ((8192 - 2048) * 196)
    estimate = (peak_bytes((8192,), 2) - peak_bytes((2048,), 2)) / ((8192 - 2048) * 196)
    assert 0 < per_patch <= estimate, (per_patch, estimate)


def _help(name: str, capsys) -> str:
    with pytest.raises(SystemExit):
        main([name, "--help"])
    return capsys.readouterr().out


def test_help_says_each_default_once_as_typed(capsys):
    from maskstats.cli.argtypes import parse_ratios
    from maskstats.cli.parser import build_parser
    from maskstats.report import DEFAULT_RATIOS

    commands = build_parser()._subparsers._group_actions[0].choices
    for name in commands:
        text = " ".join(_help(name, capsys).split())  # one line: wrapped help joined
        for bad in ("(default: None)", "(default: False)", "(default: ('", "(default: (0"):
            assert bad not in text, (name, bad)
        # "(default: the checkpoint's) (default: None)" and the like: at most one per option.
        assert not re.search(r"\(default:[^()]*\)\s*\(default:", text), name
    report = " ".join(_help("report", capsys).split())
    assert "(default: random,block,simmim,grid,multiblock)" in report
    shown = re.search(r"--ratios MASK_RATIOS .*?\(default: ([^)]*)\)", report).group(1)
    assert shown == "0.5:0.95:0.05" and parse_ratios(shown) == DEFAULT_RATIOS
    evaluate = " ".join(_help("eval", capsys).split())
    assert re.search(r"--ckpt CKPT checkpoint file or run folder --data", evaluate)  # required
    assert "image side (default: the checkpoint's) --test-share" in evaluate


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["report", "--ratio", "0.5"],
            "unrecognized arguments: --ratio 0.5 (did you mean --ratios?)",
        ),
        (["report", "--strategy", "grid"], "(did you mean --strategies?)"),
        (["stats", "--mask-ration", "0.5"], "(did you mean --mask-ratio?)"),
        (["reprot"], "invalid choice: 'reprot'"),
        (["reprot"], "(did you mean report?)"),
        (["stats", "--zzz"], "unrecognized arguments: --zzz"),
    ],
)
def test_unknown_options_suggest_and_prefixes_are_refused(args, words, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_bare_command_prints_usage(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: maskstats") and "report" in err and "table5" in err


def test_masks_writes_npz_that_stats_reads(tmp_path, capsys):
    out = tmp_path / "m.npz"
    args = ["--img-size", "32", "--patch-size", "4", "-n", "6", "--mask-ratio", "0.5"]
    assert main(["masks", *args, "--out", str(out)]) == 0
    with np.load(out) as saved:
        masks = saved["masks"]
    assert masks.shape == (6, 8, 8) and masks.dtype == bool and (masks.sum(axis=(1, 2)) == 32).all()
    capsys.readouterr()
    assert main(["stats", "--masks", str(out), "--patch-size", "4"]) == 0
    assert "6 masks on a 8x8 grid" in capsys.readouterr().out
    assert main(["masks", *args, "--out", str(tmp_path / "m.txt")]) == 2
    assert ".npy or .npz" in capsys.readouterr().err


def test_stats_parquet_without_pyarrow_is_refused_before_the_work(monkeypatch, capsys, tmp_path):
    import importlib.util

    from maskstats.cli import commands

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("pyarrow", "fastparquet") else real(name, *a),
    )

    def no_work(*args, **kwargs):
        raise AssertionError("the masks were made before the output was checked")

    monkeypatch.setattr(commands, "_generate", no_work)
    assert main(["stats", *_small(), "--out", str(tmp_path / "x.parquet")]) == 2
    err = capsys.readouterr().err
    assert "needs pyarrow" in err and err.count("\n") == 1
    assert not (tmp_path / "x.parquet").exists()


def test_achievable_range_prints_short():
    import maskstats as ms

    found = ms.achievable_range(4, 0.5, 16)
    text = repr(found)
    assert len(text) < 200 and "[[" not in text and "array" not in text
    assert f"low={found.low:.4g} px" in text and "exact=True" in text
    low, high = found  # still unpacks
    assert (low, high) == (found.low, found.high)


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
