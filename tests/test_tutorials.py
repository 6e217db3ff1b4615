"""The tutorials (docs/tutorials/*.py, jupytext percent scripts) run as notebooks, as the site
renders them: converted with jupytext, executed by nbclient in a kernel of this interpreter
with this tree's maskstats first on the path. Each run is checked for what a reader sees: no
error, nothing on stderr, its figures, and numbers that the test derives on its own (scipy's
distance transform, the metrics page's hand-computed values, the flatten bound) or recomputes
from the settings the tutorial states."""

import importlib
import json
import math
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "docs" / "tutorials"
KERNEL = "maskstats-tutorial"


def needs(module: str):
    """The module, or a skip where it is not installed; with MASKSTATS_REQUIRE_TUTORIALS=1 (CI)
    a missing one fails instead, so that the tutorials cannot silently stop running."""
    if os.environ.get("MASKSTATS_REQUIRE_TUTORIALS") == "1":
        return importlib.import_module(module)
    return pytest.importorskip(module)


def execute(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run one tutorial; returns the executed notebook."""
    jupytext = needs("jupytext")
    nbclient = needs("nbclient")
    needs("ipykernel")
    needs("matplotlib_inline")
    # A kernel spec of this very interpreter (not whatever "python3" the machine has).
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    # Figures inline, as in Jupyter, even where the test run chose another backend.
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = jupytext.read(TUTORIALS / name)
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's cwd: not the tree
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    return notebook


def outputs(notebook) -> list[dict]:
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]


def stdout(notebook) -> str:
    return "".join(
        out["text"] for out in outputs(notebook) if out.get("name") == "stdout" and "text" in out
    )


def check_clean(notebook, figures: int) -> None:
    """No error output, nothing on stderr (a warning would show on the site), and the figures
    as PNGs."""
    found = outputs(notebook)
    assert not [out for out in found if out["output_type"] == "error"]
    stderr = [out["text"] for out in found if out.get("name") == "stderr"]
    assert not stderr, stderr
    pngs = [out for out in found if "image/png" in out.get("data", {})]
    assert len(pngs) == figures


def number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"no line matching {pattern!r} in:\n{text}"
    return float(found.group(1))


@pytest.mark.slow
def test_difficulty_in_five_minutes(tmp_path, monkeypatch):
    from scipy import ndimage

    import maskstats as ms

    notebook = execute("difficulty_in_five_minutes.py", tmp_path, monkeypatch)
    check_clean(notebook, figures=2)
    text = stdout(notebook)

    # The 4 x 4 worked example: AvgDist against scipy's EDT on the 16 x 16 pixels ...
    mask = np.array([[1, 0, 1, 1], [0, 1, 0, 1], [1, 0, 1, 1], [1, 1, 1, 1]], dtype=bool)
    pixels = mask.repeat(4, axis=0).repeat(4, axis=1)
    oracle = ndimage.distance_transform_edt(pixels)[pixels].mean()
    assert number(r"avgdist: \[([\d.]+)\] px", text) == round(oracle, 3)
    assert f"{oracle:.4f}\n{oracle:.4f}\n" in text  # p * mean(P2Dist) and AvgDist agree
    # ... and the metrics page's hand-computed values: p2dist 0.3125 at (1, 1), 0.625 at (3, 1),
    # 0.46875 at (0, 0) (np.round to 3 digits, half to even), nearest sqrt 5 at (3, 3).
    p2dist_block = text.split("p2dist:")[1].split("avgdist:")[0]
    assert "0.312" in p2dist_block and "0.625" in p2dist_block and "0.469" in p2dist_block
    assert f"{math.sqrt(5):.3f}" in text.split("nearest:")[1].split("p2dist:")[0]

    # The strategy comparison is what the library gives for the settings the text states.
    means = {}
    for strategy in ("random", "block", "simmim", "grid"):
        masks = ms.generate(strategy, 256, 224, 16, 0.75, seed=0)
        means[strategy] = ms.avgdist(masks, 16).astype(np.float64).mean()
        printed = number(rf"mean AvgDist of {strategy} masks at 0.75: ([\d.]+) px", text)
        assert printed == pytest.approx(means[strategy], abs=5e-4)
    assert means["grid"] < means["random"] < means["simmim"] < means["block"]

    assert "all within 2% of the target: True" in text
    assert "masked per mask: [147]" in text  # MAE's count: 196 - int(196 * 0.25)
    assert "my_masks.npy (2, 14, 14) True" in text
    # Own masks: an 8 x 8 centre square is at most 4 patches from a visible one, the left
    # half of 14 x 14 at most 7.
    assert "largest nearest distance per mask [patches]: [4. 7.]" in text


@pytest.mark.slow
def test_flatten_in_a_vitmae_loop(tmp_path, monkeypatch):
    torch = needs("torch")
    needs("transformers")
    from maskstats.torch import DifficultyWeighting, MaskCollator

    notebook = execute("flatten_in_a_vitmae_loop.py", tmp_path, monkeypatch)
    check_clean(notebook, figures=2)
    text = stdout(notebook)

    # Decoder tokens: 1 (cls) + 64 without decoder masking; 1 + 6 visible + (58 - 17) kept
    # masked with q = 0.3 at ratio 0.9 on 8 x 8 (len_keep = int(64 * 0.1) = 6).
    assert re.search(r"plain MAE\s+decoder tokens 65 ", text)
    assert re.search(r"flatten\s+decoder tokens 65 ", text)
    assert re.search(r"flatten \+ decoder q=0.3\s+decoder tokens 48 ", text)
    # Every run trained: its held-out loss fell.
    for before, after in re.findall(r"held-out loss ([\d.]+) -> ([\d.]+)", text):
        assert float(after) < float(before)

    # The flatten row: the first batch of the collator the tutorial describes (seed 0, 16
    # masks; the masks do not depend on the images), measured here.
    weighting = DifficultyWeighting("p2dist", grid=8, patch_size=4, weighting="flatten", seed=0)
    collate = MaskCollator(weighting, "random", mask_ratio=0.9, seed=0)
    targets = collate([(torch.zeros(3, 32, 32),)] * 16)["targets"]
    expected = weighting.loss_difficulty(targets)
    effective = number(r"flatten trains on ([\d.]+) px", text)
    plain = number(r"flatten trains on [\d.]+ px instead of ([\d.]+) px", text)
    ess = number(r"ESS share ([\d.]+)", text)
    largest = number(r"largest weight ([\d.]+) x", text)
    assert effective == round(expected.effective_avgdist, 3)
    assert plain == round(expected.avgdist, 3)
    assert ess == round(expected.ess_share, 3)
    assert largest == round(expected.max_weight, 3)
    # Flatten's guarantees at the defaults (M = 0.01 ** -0.5 = 10), and its direction.
    assert effective < plain
    assert ess >= 4 * 10 / 11**2 and largest <= 10
