"""``maskstats --help``, every ``COMMAND --help`` and argument errors load no heavy library:
checked exactly, in a fresh interpreter, by what is in ``sys.modules`` afterwards (not timed;
analysis/cli_startup.py measures the time)."""

import json
import subprocess
import sys

import pytest

from maskstats.cli.parser import build_parser

HEAVY = ("numba", "scipy", "pandas", "matplotlib", "torch")
COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)

# Each case: argv and the exit code it must give (0 for help, 2 for an argument error).
CASES = [
    (["--help"], 0),
    (["--version"], 0),
    *(([name, "--help"], 0) for name in COMMANDS),
    ([], 2),  # bare `maskstats`: the help on stderr, a usage error's code
    (["frobnicate"], 2),  # an unknown command
    (["train", "--strategy", "nope"], 2),  # an invalid choice
    (["report", "--ratios", "0.5:1.5:0.1"], 2),  # a bad ratio list
    (["stats", "--mask-ratio", "2"], 2),  # a bad ratio
    (["report", "--strategies", "random,bogus"], 2),  # an unknown strategy
    (["report", "--img-size", "0"], 2),  # not a positive integer
    (["report", "--ratio", "0.75"], 2),  # an unrecognised option
]

# Runs every case's main() in one fresh interpreter and records, after each, which of HEAVY it
# has loaded (a module loaded by one case stays loaded, so it is charged to the first case).
PROBE = """
import contextlib, io, json, sys
from maskstats.cli.main import main

heavy, cases = json.loads(sys.argv[1])
results = []
for argv, _ in cases:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code
    loaded = sorted({m.split(".")[0] for m in sys.modules} & set(heavy))
    results.append({"argv": argv, "code": code, "loaded": loaded, "text": out.getvalue()})
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def results():
    payload = json.dumps([HEAVY, CASES])
    run = subprocess.run(
        [sys.executable, "-c", PROBE, payload], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_every_command_is_probed():
    assert {"stats", "masks", "report", "train", "eval", "visualize", "table5", "bench"} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("index", range(len(CASES)), ids=[" ".join(a) or "bare" for a, _ in CASES])
def test_help_and_argument_errors_load_no_heavy_library(results, index):
    result = results[index]
    argv, code = CASES[index]
    assert result["argv"] == argv
    assert result["code"] == code, result["text"]
    assert result["loaded"] == [], f"maskstats {' '.join(argv)} loaded {result['loaded']}"
    if code == 2:  # an error is one line, no traceback
        assert "Traceback" not in result["text"]
        if argv:
            assert len(result["text"].strip().splitlines()) == 1, result["text"]


def test_the_probe_sees_a_heavy_import(tmp_path):
    """The probe can fail: a run that does work (saving 4 random masks) loads numba."""
    out = str(tmp_path / "masks.npy")
    cases = [[["masks", "-n", "4", "--img-size", "32", "--patch-size", "8", "--out", out], 0]]
    run = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps([HEAVY, cases])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    (result,) = json.loads(run.stdout)
    assert result["code"] == 0 and "numba" in result["loaded"], result


def test_import_maskstats_loads_no_heavy_library():
    code = (
        "import sys, maskstats, maskstats.masks, maskstats.metrics, maskstats.report, "
        "maskstats.mae.config, maskstats.report.settings\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.strip() == "[]", run.stdout + run.stderr
