"""Strategy specs: built-in names, your own ``module:function`` generators and saved mask files,
through generate(), the sweep, ``parse_strategies`` and ``maskstats report``."""

import argparse
import os
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

from maskstats import sweeps
from maskstats.cli import main
from maskstats.cli.argtypes import parse_strategies
from maskstats.masks import (
    OWN_RATIO,
    STRATEGIES,
    generate,
    grid_masks,
    resolve_strategies,
    resolve_strategy,
)


def checker_masks(n, grid, mask_ratio, seed):
    """A test generator: checkerboards, shifted by one patch on odd seeds (ignores the ratio)."""
    height, width = grid
    rows, cols = np.indices((height, width))
    board = (rows + cols + (seed or 0)) % 2 == 0
    return np.broadcast_to(board, (n, height, width)).copy()


def flat_tensor_masks(n, grid, mask_ratio, seed):
    """(n, L) 0/1 torch output: accepted, reshaped to the grid."""
    generator = torch.Generator().manual_seed(seed)
    length = grid[0] * grid[1]
    return (torch.rand(n, length, generator=generator) < mask_ratio).to(torch.uint8)


def wrong_shape(n, grid, mask_ratio, seed):
    return np.zeros((n, grid[0] + 1, grid[1]), dtype=bool)


def wrong_count(n, grid, mask_ratio, seed):
    return np.zeros((n + 1, *grid), dtype=bool)


def wrong_values(n, grid, mask_ratio, seed):
    return np.full((n, *grid), 0.5)


def returns_none(n, grid, mask_ratio, seed):
    return None


def two_arguments(n, grid):
    return np.zeros((n, *grid), dtype=bool)


HERE = __file__


def spec(name: str) -> str:
    return f"{HERE}:{name}"


def test_builtin_strategies_include_grid_and_multiblock():
    images = {"random", "block", "simmim", "grid", "multiblock", "difficulty"}
    assert images | {"tube", "running_cell"} == set(STRATEGIES)  # the last two: clips only
    assert OWN_RATIO == {"multiblock"}
    np.testing.assert_array_equal(
        generate("grid", 4, 64, 8, 0.75, seed=0), grid_masks(4, 8, 0.75, seed=0)
    )
    # multiblock ignores mask_ratio: the same masks whatever the ratio.
    np.testing.assert_array_equal(
        generate("multiblock", 4, 224, 16, 0.5, seed=0),
        generate("multiblock", 4, 224, 16, 0.9, seed=0),
    )


def test_callable_from_a_file_path():
    strategy = resolve_strategy(spec("checker_masks"))
    assert (strategy.kind, strategy.name, strategy.own_ratio) == (
        "callable",
        "checker_masks",
        False,
    )
    masks = strategy.generate(3, (4, 6), 0.5, seed=1)
    assert masks.shape == (3, 4, 6) and masks.dtype == bool
    np.testing.assert_array_equal(masks, checker_masks(3, (4, 6), 0.5, 1))
    # generate() takes the spec too, and hands the callable an int seed from a Generator.
    got = generate(spec("checker_masks"), 2, 32, 8, 0.5, seed=np.random.default_rng(0))
    assert got.shape == (2, 4, 4)


def test_callable_from_an_importable_module(tmp_path, monkeypatch):
    (tmp_path / "mymasks.py").write_text(
        textwrap.dedent(
            """
            import numpy as np

            def stripes(n, grid, mask_ratio, seed):
                masks = np.zeros((n, *grid), dtype=bool)
                masks[:, ::2] = True
                return masks
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    strategy = resolve_strategy("mymasks:stripes")
    assert strategy.name == "stripes"
    assert strategy.generate(2, (4, 4), 0.5, 0)[:, ::2].all()


def test_callable_module_found_in_the_current_folder(tmp_path, monkeypatch):
    # The console script does not put the current folder on sys.path; the spec still works.
    (tmp_path / "cwdmasks.py").write_text(
        "import numpy as np\n"
        "def ones(n, grid, mask_ratio, seed):\n"
        "    return np.ones((n, *grid), dtype=bool)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert resolve_strategy("cwdmasks:ones").generate(1, (2, 2), 0.5, 0).all()


def test_callable_tensor_and_flat_output_is_accepted():
    masks = resolve_strategy(spec("flat_tensor_masks")).generate(5, (4, 4), 0.5, 3)
    assert masks.shape == (5, 4, 4) and masks.dtype == bool


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("wrong_shape", "returned .*shape \\(3, 5, 4\\)"),
        ("wrong_count", "returned masks of shape \\(4, 4, 4\\); expected \\(3, 4, 4\\)"),
        ("wrong_values", "returned ndarray of shape \\(3, 4, 4\\) and dtype float64.*0/1"),
        ("returns_none", "returned a NoneType"),
    ],
)
def test_callable_bad_output_names_the_callable(name, words):
    strategy = resolve_strategy(spec(name))
    with pytest.raises(ValueError, match=words) as caught:
        strategy.generate(3, (4, 4), 0.5, 0)
    assert name in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("nosuchmodule_xyz:gen", "cannot import 'nosuchmodule_xyz'"),
        ("numpy:no_such_function", "module 'numpy' has no 'no_such_function'"),
        ("numpy:pi", "is not callable"),
        (f"{HERE}:two_arguments", "cannot be called as \\(n, grid, mask_ratio, seed\\)"),
        ("missing/masks.npy", "mask file missing/masks.npy does not exist"),
        ("missing.py:gen", "does not exist"),
        ("checker", "unknown strategy 'checker'"),
        (":gen", "expected module:function"),
    ],
)
def test_bad_specs_are_refused_up_front(text, words):
    with pytest.raises(ValueError, match=words):
        resolve_strategy(text)
    with pytest.raises(argparse.ArgumentTypeError, match=words):
        parse_strategies(f"random,{text}")


def test_two_specs_with_one_display_name_are_refused(tmp_path):
    np.save(tmp_path / "random", np.ones((2, 4, 4), bool))  # random.npy: shown as random.npy
    assert [s.name for s in resolve_strategies(["random", str(tmp_path / "random.npy")])] == [
        "random",
        "random.npy",
    ]
    with pytest.raises(ValueError, match="would both be shown as 'checker_masks'"):
        resolve_strategies([spec("checker_masks"), spec("checker_masks")])


def test_mask_files_load_with_their_grid(tmp_path):
    masks = np.random.default_rng(0).random((6, 4, 4)) < 0.7
    np.save(tmp_path / "a.npy", masks)
    np.savez(tmp_path / "b.npz", masks.reshape(6, 16).astype(np.uint8))
    for name in ("a.npy", "b.npz"):
        strategy = resolve_strategy(str(tmp_path / name))
        assert (strategy.kind, strategy.name, strategy.own_ratio) == ("file", name, True)
        np.testing.assert_array_equal(strategy.load((4, 4)), masks)
    with pytest.raises(ValueError, match="a.npy: grid \\(5, 5\\) does not match"):
        resolve_strategy(str(tmp_path / "a.npy")).load((5, 5))
    np.save(tmp_path / "empty.npy", np.zeros((0, 4, 4), bool))
    with pytest.raises(ValueError, match="holds no masks"):
        resolve_strategy(str(tmp_path / "empty.npy")).load((4, 4))


def test_sweep_puts_every_kind_of_strategy_side_by_side(tmp_path):
    saved = grid_masks(10, 8, 0.75, offset=(0, 0))
    saved[:, 0, 0] = True  # 49 of 64 masked: its own ratio, 0.7656
    np.save(tmp_path / "saved_masks.npy", saved)
    ratios = (0.5, 0.75, 0.9)
    table = sweeps.sweep(
        ["random", "grid", "multiblock", spec("checker_masks"), str(tmp_path / "saved_masks.npy")],
        ratios,
        img_size=64,
        patch_size=8,
        n=20,
        progress=False,
    )
    settings = table.groupby("strategy", sort=False)["mask_ratio"].unique()
    assert list(settings.index) == [
        "random",
        "grid",
        "multiblock",
        "checker_masks",
        "saved_masks.npy",
    ]
    assert list(settings["random"]) == list(ratios)
    assert list(settings["checker_masks"]) == list(ratios)
    # grid: the ratios a grid allows between 0.5 and 0.9 (0.75 and 8/9), recorded at the
    # share achieved on 8 x 8 (s = 3: 3 x 3 cells, 55 of 64 masked).
    np.testing.assert_allclose(settings["grid"], [0.75, round(55 / 64, 4)])
    # multiblock and the file: one setting each at their own mean masked share.
    multiblock = table[table["strategy"] == "multiblock"]
    assert len(multiblock) == 20
    assert multiblock["mask_ratio"].iloc[0] == round(multiblock["masked_share"].mean(), 4)
    saved_rows = table[table["strategy"] == "saved_masks.npy"]
    assert len(saved_rows) == 10  # every mask of the file, not n
    assert (saved_rows["mask_ratio"] == round(49 / 64, 4)).all()
    assert (saved_rows["n_masked"] == 49).all()
    np.testing.assert_allclose(table["masked_share"], table["n_masked"] / 64)


def test_sweep_streams_of_builtin_strategies_are_unchanged_by_specs():
    alone = sweeps.sweep(["random", "block"], (0.5, 0.75), 64, 8, 16, progress=False)
    mixed = sweeps.sweep(
        ["random", "block", "multiblock", "grid"], (0.5, 0.75), 64, 8, 16, progress=False
    )
    pd.testing.assert_frame_equal(alone, mixed[mixed["strategy"].isin(["random", "block"])])


def test_sweep_warns_when_grid_has_no_ratio_in_range():
    with pytest.warns(UserWarning, match="skipping grid masks"):
        table = sweeps.sweep(["random", "grid"], (0.5, 0.6), 64, 8, 8, progress=False)
    assert set(table["strategy"]) == {"random"}


def test_report_shows_custom_generators_and_mask_files(tmp_path, capsys):
    saved = tmp_path / "saved_masks.npy"
    np.save(saved, grid_masks(12, 8, 0.75, seed=0))
    out = tmp_path / "report"
    strategies = f"random,grid,multiblock,{spec('checker_masks')},{saved}"
    code = main(
        [
            "report",
            "--out",
            str(out),
            "--img-size",
            "64",
            "--patch-size",
            "8",
            "-n",
            "64",
            "--ratios",
            "0.5,0.75,0.9",
            "--strategies",
            strategies,
        ]
    )
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(out / "sweep.csv")
    counts = table.groupby("strategy", sort=False).size()
    assert dict(counts) == {
        "random": 3 * 64,
        "grid": 2 * 64,
        "multiblock": 64,
        "checker_masks": 3 * 64,
        "saved_masks.npy": 12,
    }
    assert (table.loc[table["strategy"] == "saved_masks.npy", "mask_ratio"] == 0.75).all()
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["strategy"]) == set(counts.index)
    assert (out / "difficulty_vs_ratio.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("strategies", "words"),
    [
        ("random,nosuchmodule_xyz:gen", "cannot import 'nosuchmodule_xyz'"),
        ("random,missing_masks.npy", "missing_masks.npy does not exist"),
    ],
)
def test_report_refuses_bad_specs_before_writing(tmp_path, capsys, strategies, words):
    out = tmp_path / "report"
    assert main(["report", "--out", str(out), "--strategies", strategies]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("strategy", ["grid", "multiblock"])
def test_masks_command_makes_the_new_strategies(tmp_path, capsys, strategy):
    out = tmp_path / "m.npy"
    args = ["masks", "--strategy", strategy, "--img-size", "64", "--patch-size", "8"]
    assert main([*args, "-n", "5", "--out", str(out)]) == 0
    assert np.load(out).shape == (5, 8, 8)


# --------------------------------------------------------------------------- issue 27


def raises_runtime_error(n, grid, mask_ratio, seed):
    raise RuntimeError("the GPU is busy\nsecond line")


def raises_key_error(n, grid, mask_ratio, seed):
    return {}["masks"]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("raises_runtime_error", "raised RuntimeError: the GPU is busy"),
        ("raises_key_error", "raised KeyError: 'masks'"),
    ],
)
def test_a_generator_that_raises_is_one_line_naming_the_spec(name, words, tmp_path, capsys):
    strategy = resolve_strategy(spec(name))
    with pytest.raises(ValueError, match=words) as caught:
        strategy.generate(3, (4, 4), 0.5, 0)
    assert spec(name) in str(caught.value) and "\n" not in str(caught.value)
    out = tmp_path / "report"
    argv = ["report", "--out", str(out), "--img-size", "32", "--patch-size", "8", "-n", "4"]
    assert main([*argv, "--ratios", "0.75", "--strategies", f"random,{spec(name)}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0] and name in err[0]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


def test_interrupting_a_generator_is_not_turned_into_an_error():
    def interrupted(n, grid, mask_ratio, seed):
        raise KeyboardInterrupt

    from maskstats.masks import Strategy

    with pytest.raises(KeyboardInterrupt):
        Strategy("x:interrupted", "interrupted", "callable", func=interrupted).generate(
            1, (2, 2), 0.5, 0
        )


CALLED = """
import os, pathlib
import numpy as np

def called(n, grid, mask_ratio, seed):
    pathlib.Path(os.environ["MASKSTATS_TEST_CALLED"]).write_text("called")
    return np.ones((n, *grid), dtype=bool)
"""


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: np.zeros((2, 2, 2, 2), bool), "shape \\(2, 2, 2, 2\\)"),
        (lambda: np.full((2, 4, 4), 0.5), "0/1"),
        (lambda: np.ones((2, 5, 5), bool), "grid"),
    ],
)
def test_every_mask_file_is_checked_before_any_generator_runs(
    tmp_path, monkeypatch, capsys, make, words
):
    called = tmp_path / "called.txt"
    monkeypatch.setenv("MASKSTATS_TEST_CALLED", str(called))
    (tmp_path / "gen.py").write_text(CALLED)
    np.save(tmp_path / "bad.npy", make())
    specs = [f"{tmp_path / 'gen.py'}:called", str(tmp_path / "bad.npy")]
    with pytest.raises(ValueError, match=words):
        sweeps.sweep(specs, (0.5,), img_size=32, patch_size=8, n=2, progress=False)
    assert not called.exists()
    out = tmp_path / "report"
    argv = ["report", "--out", str(out), "--img-size", "32", "--patch-size", "8", "-n", "2"]
    assert main([*argv, "--ratios", "0.5", "--strategies", ",".join(specs)]) == 2
    err = capsys.readouterr().err
    assert words.replace("\\", "") in err.replace("\\", "") and err.count("\n") == 1
    assert not called.exists() and not out.exists()


def test_a_mask_file_that_is_a_fifo_is_named_so(tmp_path):
    os.mkfifo(tmp_path / "fifo.npy")
    with pytest.raises(ValueError, match="is a named pipe"):
        resolve_strategy(str(tmp_path / "fifo.npy"))
