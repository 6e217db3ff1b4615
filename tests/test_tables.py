import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from maskstats import metrics, plot, sweeps, tables
from maskstats.cli.argtypes import parse_ratios
from maskstats.io import export_table, to_latex, to_markdown
from maskstats.masks import generate, random_masks


@pytest.fixture(scope="module")
def small_sweep():
    ratios = (0.5, 0.75, 0.9, 0.95)
    strategies = ("random", "block", "simmim")
    return sweeps.sweep(strategies, ratios, 128, 8, 300, 0, progress=False, mask_patch_size=16)


def test_sweep_equals_metrics_called_directly(small_sweep):
    rows = small_sweep[(small_sweep.strategy == "block") & (small_sweep.mask_ratio == 0.75)]
    masks = generate("block", 300, 128, 8, 0.75, seed=np.random.default_rng([0, 5]))
    p2 = metrics.p2dist(masks, patch_size=8).astype(np.float64)
    np.testing.assert_allclose(rows["p2dist"], np.nanmean(p2.reshape(300, -1), axis=1), rtol=1e-5)
    np.testing.assert_allclose(rows["avgdist"], metrics.avgdist(masks, patch_size=8), rtol=1e-6)
    np.testing.assert_allclose(
        rows["easy_share"], (p2 < 0.5).sum(axis=(1, 2)) / masks.sum(axis=(1, 2))
    )
    d3 = metrics.density3(masks).astype(np.float64)
    np.testing.assert_allclose(rows["density3"], np.nanmean(d3.reshape(300, -1), axis=1), rtol=1e-6)


def test_difficulty_rises_with_ratio(small_sweep):
    means = tables.sweep_summary(small_sweep).set_index(["strategy", "mask_ratio"])
    for strategy in ("random", "block", "simmim"):
        s = means.loc[strategy].sort_index()
        assert (np.diff(s["nearest"]) >= -1e-9).all()
        assert (np.diff(s["p2dist"]) >= -1e-9).all()
        assert (np.diff(s["easy_share"]) <= 1e-9).all()


def test_patch_table_has_one_row_per_masked_patch():
    masks = random_masks(20, (6, 7), 0.6, seed=1)
    table = tables.patch_table(masks, patch_size=4)
    assert len(table) == masks.sum()
    p2 = metrics.p2dist(masks, patch_size=4)
    np.testing.assert_array_equal(table["p2dist"], p2[masks])
    np.testing.assert_array_equal(
        table["avgdist"], metrics.avgdist(masks, patch_size=4)[table["mask"]]
    )


def test_metric_agreement_is_symmetric_and_matches_scipy():
    from scipy import stats

    masks = random_masks(200, 14, 0.75, seed=0)
    table = tables.metric_agreement({0.75: masks}, patch_size=16)
    spearman = table[table.method == "spearman"].pivot(
        index="metric_a", columns="metric_b", values="correlation"
    )
    np.testing.assert_allclose(spearman.to_numpy(), spearman.to_numpy().T)
    patches = tables.patch_table(masks, 16)
    expected = stats.spearmanr(-patches["density3"], patches["p2dist"])[0]
    assert spearman.loc["density3", "p2dist"] == pytest.approx(expected)
    assert (spearman.to_numpy() > 0).all()  # oriented: every metric agrees in sign


def test_compare_metrics_table_and_exports(tmp_path):
    table = tables.compare_metrics((0.75, 0.9), img_size=64, patch_size=8, n=200)
    assert list(table.index) == list(metrics.METRIC_NAMES)
    assert table.loc["p2dist", "spearman vs p2dist"] == pytest.approx(1.0)
    # Easy patches vanish: the easiest decile's share falls from 0.75 to 0.9.
    for name in ("density3", "nearest", "p2dist"):
        assert table.loc[name, "easiest decile @0.9"] < table.loc[name, "easiest decile @0.75"]
    paths = export_table(table, tmp_path / "tab5")
    assert [p.suffix for p in paths] == [".csv", ".md", ".tex"]
    markdown, latex = paths[1].read_text(), paths[2].read_text()
    assert "P²Dist" in markdown and "\\begin{tabular}" in latex
    assert len(pd.read_csv(paths[0])) == len(table)
    # avgdist has no Spearman or deciles: blank cells, never "nan".
    assert "nan" not in markdown.lower() and "nan" not in latex.lower()
    avgdist_row = next(line for line in markdown.splitlines() if line.startswith("| avgdist"))
    assert avgdist_row.split("|")[-2].strip() == ""
    # LaTeX: one header row (no separate index-name row), ±, µ, ² as LaTeX commands.
    body = latex.split("\\hline")[1]
    assert body.strip().startswith("metric & paper name")
    assert latex.count("\\\\") == len(table) + 1
    assert "±" not in latex and "²" not in latex and "$\\pm$" in latex and "P$^2$Dist" in latex


def test_markdown_and_latex_writers():
    table = pd.DataFrame(
        {"time [µs]": [1.5, float("nan")], "mean ± std": ["1.0 ± 0.1", "nan ± nan"]},
        index=pd.Index(["a_b", "c&d"], name="row"),
    )
    markdown = to_markdown(table)
    lines = markdown.splitlines()
    assert lines[0].split("|")[1].strip() == "row" and len(lines) == 4
    assert lines[1].split("|")[2].endswith(":")  # numbers right-aligned
    assert lines[3].split("|")[2].strip() == "" and lines[3].split("|")[3].strip() == ""
    latex = to_latex(table)
    assert "row & time [$\\mu$s] & mean $\\pm$ std \\\\" in latex
    assert "a\\_b & 1.500 & 1.0 $\\pm$ 0.1 \\\\" in latex
    assert "c\\&d &  &  \\\\" in latex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_table_compiles_with_pdflatex(tmp_path):
    table = tables.compare_metrics((0.75, 0.9), img_size=32, patch_size=8, n=20)
    (tmp_path / "t.tex").write_text(
        "\\documentclass{article}\\usepackage[T1]{fontenc}\\begin{document}\n"
        + to_latex(table)
        + "\\end{document}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.5:0.95:0.05", 10), ("0.75,0.9", 2), ("0.1:0.1:0.1", 1)],
)
def test_parse_ratios(text, expected):
    assert len(parse_ratios(text)) == expected


@pytest.mark.parametrize("text", ["0.5:1.2:0.1", "a,b", "0.5:0.9:0", "1.0"])
def test_parse_ratios_rejects(text):
    with pytest.raises(ValueError):
        parse_ratios(text)


def test_figures_are_written(tmp_path, small_sweep):
    masks = random_masks(4, 8, 0.75, seed=0)
    values = metrics.p2dist(masks, patch_size=8)
    figures = {
        "ratio": plot.difficulty_vs_ratio(small_sweep),
        "fig2": plot.p2dist_distributions({0.75: values[masks], 0.9: values[masks] + 1}),
        "gallery": plot.mask_gallery(
            np.random.default_rng(0).random((64, 64, 3)),
            masks,
            values,
            ["a", "b", "c", "d"],
            "p2dist",
            8,
        ),
        "agreement": plot.agreement_heatmap(tables.metric_agreement({0.75: masks}, 8)),
    }
    for name, fig in figures.items():
        png, pdf = plot.save(fig, tmp_path / name)
        assert png.stat().st_size > 10_000 and pdf.stat().st_size > 5_000
        assert png.read_bytes()[:4] == b"\x89PNG"


def test_mask_table_is_nan_where_no_masked_patch_has_a_value():
    masks = np.zeros((3, 4, 4), bool)
    masks[1, 0, 0] = True  # one masked patch
    masks[2] = True  # nothing visible: distances undefined
    values = tables.compute_chunked(masks, metrics.METRIC_NAMES, 4, False, on_empty="nan")
    table = tables.mask_table(masks, 4, values=values)
    assert table.loc[0, ["density3", "nearest", "p2dist"]].isna().all()  # nothing masked
    assert table.loc[1, "density3"] == 3.0 and table.loc[1, "nearest"] == 1.0  # corner: 3
    assert table.loc[2, "density3"] == 0.0  # window metrics are defined without visible
    assert table.loc[2, ["nearest", "p2dist"]].isna().all()
