import errno
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import maskstats
from maskstats.cli import main
from maskstats.report import (
    MANIFEST,
    agreement_finding,
    headline_table,
    html_table,
    loss_finding,
    metric_finding,
    output,
    read_manifest,
    sweep_finding,
)

EXPECTED = [
    "sweep.csv",
    "summary.csv",
    "p2dist_cdf.csv",
    "metric_table.csv",
    "metric_table.md",
    "metric_table.tex",
    "agreement.csv",
    "loss_difficulty.csv",
    "literature_mae_table1f.csv",
    "literature_rank_correlations.csv",
    "literature_ijepa_views.csv",
    "index.html",
    MANIFEST,
] + [
    f"{name}.{ext}"
    for name in (
        "difficulty_vs_ratio",
        "p2dist_distributions",
        "mask_gallery",
        "metric_agreement",
        "effective_difficulty",
        "literature_mae_table1f",
    )
    for ext in ("png", "pdf")
]
SMALL = ["--img-size", "64", "--patch-size", "8", "--ratios", "0.5,0.75,0.9", "-n", "64"]


def _report(out: Path, *extra: str) -> int:
    return main(["report", "--out", str(out), *SMALL, *extra])


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """One small report shared by the read-only tests."""
    out = tmp_path_factory.mktemp("shared") / "report"
    assert _report(out) == 0
    return out


def _text_of(page: str) -> str:
    """The page without its inlined script and data (what a reader sees, and its markup)."""
    return re.sub(r"<script.*?</script>", "", page, flags=re.S)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_report_writes_every_file_and_a_manifest(report, capsys):
    for name in EXPECTED:
        assert (report / name).stat().st_size > 100, name
    manifest = json.loads((report / MANIFEST).read_text())
    assert manifest["tool"] == "maskstats report"
    assert sorted(manifest["files"]) == sorted(p.name for p in report.iterdir())
    assert manifest["settings"]["img_size"] == 64 and manifest["settings"]["n"] == 64
    assert "--img-size 64" in manifest["command"]
    assert manifest["version"] == maskstats.__version__
    # No temporary sibling is left behind.
    assert [p.name for p in report.parent.iterdir()] == ["report"]
    for path in report.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, path  # readable by others


def test_index_reads_like_an_appendix(report):
    page = _text_of((report / "index.html").read_text())
    assert '<meta name="viewport"' in page
    # Every output file is linked, with a relative link.
    for name in os.listdir(report):
        if name != "index.html":
            assert f'href="{name}"' in page, name
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert links and all(not link.startswith(("/", "file:", "http")) for link in links)
    # Readable headers and cells: no raw column names, no NaN, no MultiIndex filler.
    for raw in ("easy_share", "hard_share", "mask_ratio", "NaN", ">nan<", "Unnamed"):
        assert raw not in page, raw
    assert "mean P²Dist [patch]" in page and "AvgDist [px]" in page
    # The header says what was run, by which version, when and where.
    assert "maskstats report --out" in page and "machine" in page
    assert (
        f"<dt>maskstats</dt><dd>{maskstats.__version__}</dd>" in (report / "index.html").read_text()
    )
    # Each figure has a caption that is not its file name, and links to its PNG and PDF.
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page, re.S)
    assert len(captions) == 6 and all(len(c) > 80 for c in captions)
    assert all(">PNG</a>" in c and ">PDF</a>" in c for c in captions)
    # Offline: no network address anywhere, the script inlined.
    full = (report / "index.html").read_text()
    assert "http://" not in full and "https://" not in full and "<script src" not in full
    # SimMIM's 32-px cells hide every patch of a 64-px image at 0.9: undefined, not 0.
    sweep = pd.read_csv(report / "sweep.csv")
    hidden = sweep[(sweep.strategy == "simmim") & (sweep.mask_ratio == 0.9)]
    assert len(hidden) and hidden[["p2dist", "easy_share", "hard_share"]].isna().all().all()
    assert "simmim masks, from ratio 0.5 to 0.75" in page


def test_headline_findings_come_from_the_numbers():
    summary = pd.DataFrame(
        {
            "strategy": ["random", "random", "block"],
            "mask_ratio": [0.5, 0.9, 0.5],
            "p2dist": [0.4, 1.3, 0.9],
            "avgdist": [6.0, 20.0, 14.0],
            "easy_share": [0.81, 0.08, 0.2],
            "hard_share": [0.01, 0.48, 0.3],
        }
    )
    text = sweep_finding(summary)
    assert text.startswith("With random masks, from ratio 0.5 to 0.9, the easy share falls from")
    assert "falls from 81% to 8% while the hard share rises from 1% to 48%" in text
    assert "block masks at ratio 0.5 leave 20%" in text
    flat = summary.assign(hard_share=[0.34, 0.341, 0.3])
    assert "the hard share stays at 34%" in sweep_finding(flat)
    # A setting without distances (every patch hidden) is not a finding.
    hidden = summary.assign(avgdist=[6.0, float("nan"), 14.0], hard_share=[0.01, 0.0, 0.3])
    assert sweep_finding(hidden).startswith("Random masks at ratio 0.5 leave 81%")
    metrics = pd.DataFrame(
        {"spearman vs p2dist": [0.9, 0.8, 0.95, 1.0, float("nan")]},
        index=pd.Index(["density3", "invdist5", "nearest", "p2dist", "avgdist"], name="metric"),
    )
    assert metric_finding(metrics).startswith("Nearest ranks masked patches most like P²Dist")
    assert "invdist5 least (0.80)" in metric_finding(metrics)
    agreement = pd.DataFrame(
        {
            "mask_ratio": [0.75, 0.75, 0.9, 0.9],
            "method": "spearman",
            "metric_a": ["a", "a", "a", "a"],
            "metric_b": ["a", "b", "a", "b"],
            "correlation": [1.0, 0.6, 1.0, 0.8],
        }
    )
    assert agreement_finding(agreement) == (
        "The metrics agree more at higher mask ratios: mean pairwise Spearman 0.60 at ratio "
        "0.75, 0.80 at ratio 0.9."
    )
    by_strategy = pd.concat(
        [
            agreement.assign(strategy="random"),
            agreement.assign(strategy="grid", correlation=[1.0, 0.9, 1.0, 0.3]),
        ]
    )
    assert agreement_finding(by_strategy) == (
        "The metrics agree more at higher mask ratios on random masks: mean pairwise Spearman "
        "0.60 at ratio 0.75, 0.80 at ratio 0.9; the metrics agree less at higher mask ratios on "
        "grid masks: mean pairwise Spearman 0.90 at ratio 0.75, 0.30 at ratio 0.9."
    )


def test_loss_finding_comes_from_the_numbers():
    rows = []
    for ratio, values in {
        0.75: (10.2, 8.8, 7.0, 6.4, 32.0),
        0.9: (20.3, 16.7, 13.2, 9.5, 34.7),
    }.items():
        for (name, q), px in zip(
            [
                ("plain MAE", 0.0),
                ("flatten p2dist", 0.0),
                ("decoder q=0.3", 0.3),
                ("flatten p2dist + q=0.3", 0.3),
                ("histogram p2dist", 0.0),
            ],
            values,
            strict=True,
        ):
            rows.append(
                {
                    "setting": name,
                    "mask_ratio": ratio,
                    "decoder_mask_ratio": q,
                    "effective_avgdist": px,
                }
            )
    text = loss_finding(pd.DataFrame(rows))
    assert text == (
        "At mask ratio 0.9 the loss's targets have an effective AvgDist of 20.3 px with plain MAE "
        "(above SimMIM's moderate 10–20 px), 16.7 px with flatten p2dist (inside), 13.2 px with "
        "decoder q=0.3 (inside) and 9.5 px with flatten p2dist + q=0.3 (below); the histogram "
        "equaliser instead raises it to 34.7 px."
    )
    assert loss_finding(pd.DataFrame(rows[:3])) == ""  # a setting missing: no finding


def test_report_quantifies_section_b(report):
    table = pd.read_csv(report / "loss_difficulty.csv")
    assert sorted(set(table["mask_ratio"])) == [0.5, 0.75, 0.9]
    at = table[table["mask_ratio"] == 0.9].set_index("setting")
    assert at.loc["plain MAE", "ess_share"] == pytest.approx(1.0)
    assert at.loc["plain MAE", "effective_avgdist"] == pytest.approx(
        at.loc["plain MAE", "mask_avgdist"], rel=1e-5
    )
    for name in ("flatten p2dist", "decoder q=0.3", "flatten p2dist + q=0.3"):
        assert at.loc[name, "effective_avgdist"] < at.loc["plain MAE", "effective_avgdist"]
    assert (
        at.loc["histogram p2dist", "effective_avgdist"] > at.loc["plain MAE", "effective_avgdist"]
    )
    page = (report / "index.html").read_text()
    assert "section B, quantified" in page and 'href="effective_difficulty.png"' in page
    assert "effective AvgDist px @0.9" in page


def test_html_table_blanks_nan_and_keeps_plus_minus_together():
    summary = pd.DataFrame(
        {
            "strategy": ["simmim"],
            "mask_ratio": [0.9],
            "p2dist": [0.0],
            "avgdist": [float("nan")],
            "easy_share": [0.0],
            "hard_share": [0.0],
        }
    )
    page = html_table(headline_table(summary))
    cells = re.findall(r"<td[^>]*>(.*?)</td>", page)
    assert cells == ["", "", "", ""]  # no distance defined: blank, not 0 or NaN
    page = html_table(pd.DataFrame({"mean ± std": ["1.000 ± 0.100"]}))
    assert re.search(r'<td class="num"[^>]* data-v="1"[^>]*>1.000 ± 0.100</td>', page)
    # Sortable: each number carries its value; the tooltip names the row and column.
    page = html_table(headline_table(summary.assign(avgdist=12.3456789)))
    assert 'data-v="12.3456789"' in page and 'data-tip="simmim, 0.9: AvgDist [px] 12.3457"' in page
    assert (
        "white-space:nowrap" in (Path(__file__).parents[1] / "maskstats/report/page.py").read_text()
    )


def test_existing_report_needs_overwrite_and_is_replaced_whole(tmp_path, capsys):
    out = tmp_path / "report"
    assert _report(out, "-n", "16") == 0
    before = (out / MANIFEST).read_text()
    capsys.readouterr()
    assert _report(out, "-n", "16") == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and err.count("\n") == 1
    assert (out / MANIFEST).read_text() == before
    assert _report(out, "-n", "24", "--overwrite") == 0
    assert json.loads((out / MANIFEST).read_text())["settings"]["n"] == 24
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_overwrite_refuses_a_folder_that_is_not_a_report(tmp_path, capsys):
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "thesis.tex").write_text("my thesis")
    assert _report(out, "--overwrite") == 2
    err = capsys.readouterr().err
    assert "not a maskstats report" in err and err.count("\n") == 1
    assert (out / "thesis.tex").read_text() == "my thesis"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]


def test_overwrite_refuses_a_report_holding_foreign_files(tmp_path, capsys):
    out = tmp_path / "report"
    assert _report(out, "-n", "16") == 0
    (out / "notes.txt").write_text("keep me")
    assert _report(out, "-n", "16", "--overwrite") == 2
    assert "notes.txt" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("where", ["cwd", "home", "parent_of_cwd"])
def test_overwrite_refuses_current_home_and_above(tmp_path, monkeypatch, capsys, where):
    home = tmp_path / "home"
    work = home / "work"
    work.mkdir(parents=True)
    (work / "sentinel.txt").write_text("keep")
    # Even a folder that looks like a report is refused here.
    (work / MANIFEST).write_text(json.dumps({"tool": "maskstats report", "files": []}))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    out = {"cwd": ".", "home": str(home), "parent_of_cwd": ".."}[where]
    assert _report(Path(out), "--overwrite") == 2
    err = capsys.readouterr().err
    assert "refusing to replace" in err and err.count("\n") == 1
    assert (work / "sentinel.txt").read_text() == "keep"


def test_failing_run_leaves_the_old_report_untouched(tmp_path, capsys):
    out = tmp_path / "report"
    assert _report(out, "-n", "16") == 0
    before = _snapshot(out)
    capsys.readouterr()
    # Every ratio out of reach: the sweep has nothing to show and the run fails.
    code = _report(out, "-n", "16", "--overwrite", "--strategies", "difficulty")
    code2 = main(
        [
            "report",
            "--out",
            str(out),
            *SMALL,
            "--overwrite",
            "--strategies",
            "difficulty",
            "--target-avgdist",
            "9999",
        ]
    )
    assert code == 2 and code2 == 2
    err = capsys.readouterr().err
    assert "out of reach at every mask ratio" in err and "Traceback" not in err
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_difficulty_report_shows_only_difficulty_and_reports_unreachable(tmp_path, capsys):
    out = tmp_path / "report"
    args = ["--strategies", "difficulty", "--target-avgdist", "5", "-n", "32"]
    assert _report(out, *args) == 0
    captured = capsys.readouterr()
    # 5 px is below the lowest AvgDist of any 0.9 mask on an 8x8 grid (6.95 px).
    assert "left out difficulty masks at mask ratio 0.9" in captured.err
    assert "UserWarning" not in captured.err
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["strategy"]) == {"difficulty"}
    assert sorted(summary["mask_ratio"]) == [0.5, 0.75]
    assert (summary["avgdist"].sub(5).abs() <= 5 * 0.02 + 1e-6).all()
    table = pd.read_csv(out / "metric_table.csv")
    assert "random" not in table.to_string()
    # The table takes two ratios the sweep could make (0.9 is out of reach).
    agreement = pd.read_csv(out / "agreement.csv")
    assert set(agreement["strategy"]) == {"difficulty"} and set(agreement["mask_ratio"]) == {
        0.5,
        0.75,
    }
    # Every figure is drawn, from difficulty masks only (the gallery at the reachable ratios).
    for name in ("difficulty_vs_ratio", "p2dist_distributions", "metric_agreement", "mask_gallery"):
        assert (out / f"{name}.png").stat().st_size > 1000, name
    assert set(pd.read_csv(out / "loss_difficulty.csv")["strategy"]) == {"difficulty"}
    page = _text_of((out / "index.html").read_text())
    assert page.count("<figure>") == 5
    assert "Settings left out" in page and "mask ratio 0.9" in page
    assert "random" not in page.split("<h2>Files")[0].split("</header>")[1]
    assert "NaN" not in page and ">nan<" not in page
    assert "Against the literature" not in page  # it would show strategies not asked for


def test_report_bad_ratio_ranges(tmp_path, capsys):
    for ratios, words in [
        ("0.5:0.4:0.1", "start 0.5 is above stop 0.4"),
        ("0:inf:0.1", "finite"),
        ("0:0.9:1e-300", "at most"),
        ("0.5:0.9:1e-8", "at most"),
    ]:
        assert main(["report", "--out", str(tmp_path / "r"), "--ratios", ratios]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, (ratios, err)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--ratios", "0.5:1.5:0.1"], "[0, 1)"),
        (["--strategies", "random,checker"], "unknown strategy"),
        (["--strategies", "foo"], "difficulty"),
        (["--img-size", "100", "--patch-size", "16"], "not divisible"),
    ],
)
def test_report_bad_options(tmp_path, capsys, args, words):
    assert main(["report", "--out", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_report_is_relocatable(report, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.copytree(report, moved)
    page = (moved / "index.html").read_text()
    for link in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert (moved / link).is_file(), link


def _browser_data(report: Path) -> dict:
    page = (report / "index.html").read_text()
    found = re.search(r'<script type="application/json" id="mask-data">(.*?)</script>', page, re.S)
    return json.loads(found.group(1).replace("<\\/", "</"))


def test_one_mask_set_feeds_every_table_and_figure(report):
    """Item 4: the summary, the metric table, the distributions, the loss section and the
    browser measure the same masks of each setting, so their numbers agree."""
    summary = pd.read_csv(report / "summary.csv").set_index(["strategy", "mask_ratio"])
    table = pd.read_csv(report / "metric_table.csv")
    avgdist = table[table["metric"] == "avgdist"].set_index(["strategy", "mask ratio"])
    assert len(avgdist) >= 5  # every strategy, at one or two of its ratios
    for key, row in avgdist.iterrows():
        # The same per-mask values averaged: equal to the last bits.
        assert row["mean"] == pytest.approx(summary.loc[key, "avgdist"], rel=1e-12, abs=0), key
        assert f"{row['mean']:.3f}" == f"{summary.loc[key, 'avgdist']:.3f}"
    # Random masks all mask the same count: the pooled per-patch mean is the mean of means.
    p2 = table[(table["metric"] == "p2dist") & (table["strategy"] == "random")]
    for _, row in p2.iterrows():
        assert row["mean"] == pytest.approx(summary.loc[("random", row["mask ratio"]), "p2dist"])
    # The distribution figure's share below the easy threshold is the summary's easy share.
    cdf = pd.read_csv(report / "p2dist_cdf.csv")
    easy = cdf[(cdf["strategy"] == "random") & (cdf["p2dist"] == 0.5)]
    assert len(easy) >= 2
    for _, row in easy.iterrows():
        assert row["share"] == pytest.approx(
            summary.loc[("random", row["mask_ratio"]), "easy_share"], abs=1e-12
        )
    # The loss section measures the sweep's random masks: plain MAE's mask AvgDist is theirs.
    loss = pd.read_csv(report / "loss_difficulty.csv")
    plain = loss[loss["setting"] == "plain MAE"]
    for _, row in plain.iterrows():
        assert row["mask_avgdist"] == pytest.approx(
            summary.loc[("random", row["mask_ratio"]), "avgdist"], rel=1e-5
        )
    # The browser shows the first masks of each setting: their AvgDists are sweep.csv's rows.
    sweep = pd.read_csv(report / "sweep.csv")
    data = _browser_data(report)
    assert {(s["strategy"], s["ratio"]) for s in data["settings"]} == set(summary.index)
    for setting in data["settings"]:
        rows = sweep[
            (sweep["strategy"] == setting["strategy"]) & (sweep["mask_ratio"] == setting["ratio"])
        ]
        assert setting["n"] == len(rows)
        for k, mask in enumerate(setting["masks"]):
            expected = rows.iloc[k]["avgdist"]
            if pd.isna(expected):
                assert mask["avgdist"] is None
            else:
                assert mask["avgdist"] == pytest.approx(expected, rel=1e-6)
            assert sum(v != -1 for v in mask["v"]) == rows.iloc[k]["n_masked"]


def test_writers_called_alone_make_the_same_masks(report, tmp_path):
    """Without the report's masks, each writer makes them again from the same seeds."""
    from maskstats.report import ReportSettings, write_metric_table

    settings = ReportSettings(
        out=tmp_path, img_size=64, patch_size=8, mask_ratios=(0.5, 0.75, 0.9), n=64
    )
    alone, _ = write_metric_table(tmp_path, settings)
    shared = pd.read_csv(report / "metric_table.csv")
    pd.testing.assert_frame_equal(
        alone.reset_index(drop=True), shared, check_dtype=False, check_exact=False, rtol=1e-12
    )


def test_metric_table_is_per_strategy_at_its_own_ratios(report, capsys):
    """Item 5: no column is a strategy's foreign ratio; the terminal copy is narrow, no NaN."""
    table = pd.read_csv(report / "metric_table.csv")
    assert list(table.columns[:2]) == ["strategy", "metric"]
    ratios = table.groupby("strategy", sort=False)["mask ratio"].unique()
    assert list(ratios["random"]) == [0.75, 0.9]
    assert len(ratios["multiblock"]) == 1 and len(ratios["grid"]) == 2
    markdown = (report / "metric_table.md").read_text()
    blocks = markdown.split("**")[1::2]
    assert [b.split(" masks")[0] for b in blocks] == list(ratios.index)
    for block, part in zip(markdown.split("**")[2::2], ratios, strict=True):
        header = block.strip().splitlines()[0]
        assert header.count("mean ± std @") == len(part)
    # The terminal copy, as `maskstats report` prints it.
    from maskstats.report.build import metric_table_text

    text = metric_table_text(table)
    assert "NaN" not in text and "nan" not in text
    assert max(len(line) for line in text.splitlines()) <= 100
    assert text.count("mean ± std") == len(ratios)


def test_report_prints_narrow_tables(tmp_path, capsys):
    assert _report(tmp_path / "r", "-n", "16") == 0
    out = capsys.readouterr().out
    assert "Tab.5-style metric table" in out and "NaN" not in out
    lines = [line for line in out.splitlines() if str(tmp_path) not in line]  # not the paths
    assert len(lines) > 40 and max(len(line) for line in lines) <= 100


def test_distribution_finding_names_each_strategy_once_at_its_own_ratios():
    """Item 2: a strategy shown at ratios of its own gets those (once each), none is left out."""
    from maskstats.report import distribution_finding

    summary = pd.DataFrame(
        {
            "strategy": ["random", "random", "grid", "grid", "multiblock"],
            "mask_ratio": [0.75, 0.9, 0.75, 0.8724, 0.5823],
            "avgdist": [10.0, 20.0, 6.0, 11.0, 22.0],
            "easy_share": [0.39, 0.08, 0.82, 0.02, 0.04],
        }
    )
    shown = {"random": [0.75, 0.9], "grid": [0.75, 0.8724], "multiblock": [0.5823]}
    assert distribution_finding(summary, shown) == (
        "39% of random masks' masked patches are easy at 0.75, 8% at 0.9; 82% of grid masks' "
        "masked patches are easy at 0.75, 2% at 0.8724; 4% of multiblock masks' masked "
        "patches are easy at 0.5823."
    )
    # The same ratios for every strategy still works; one ratio is named once.
    assert distribution_finding(summary, [0.75]) == (
        "39% of random masks' masked patches are easy at 0.75; 82% of grid masks' masked "
        "patches are easy at 0.75."
    )


def test_gallery_shows_every_strategy_in_its_nearest_column():
    """Item 3: grid and multi-block masks are in the gallery, at the column nearest their own
    ratio; cells without a mask are empty."""
    import numpy as np

    from maskstats.report.build import gallery_layout

    mask = np.zeros((1, 4, 4), bool)
    masks = {
        ("random", 0.5): mask,
        ("random", 0.75): mask,
        ("random", 0.9): mask,
        ("grid", 0.75): mask,
        ("grid", 0.8724): mask,
        ("grid", 0.9184): mask,
        ("multiblock", 0.5823): mask,
    }
    columns, rows, cells = gallery_layout(masks, (0.5, 0.75, 0.9, 0.95))
    assert columns == [0.5, 0.75, 0.9]  # 0.95 was not made
    assert rows == ["random", "grid", "multiblock"]
    assert cells == [[0.5, 0.75, 0.9], [None, 0.75, 0.9184], [0.5823, None, None]]


def test_report_gallery_has_a_row_per_strategy(report):
    from PIL import Image

    with Image.open(report / "mask_gallery.png") as image:
        width, height = image.size
    # Five strategies: five rows of panels (three would be about half as tall).
    assert height > 0.9 * width


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _browser_or_skip():
    """Playwright and a system Chromium, or a skip saying which is missing (a failure where
    MASKSTATS_REQUIRE_BROWSER=1, as in CI)."""
    required = os.environ.get("MASKSTATS_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed (pip install playwright)"
        if required:
            pytest.fail(reason)
        pytest.skip(reason)
    executable = _chromium()
    if executable is None:
        reason = "no chromium on PATH (Debian: apt-get install chromium)"
        if required:
            pytest.fail(reason)
        pytest.skip(reason)
    return sync_playwright, executable


FILLS = "() => [...document.querySelectorAll('#browse-grid rect')].map(r => r.getAttribute('fill'))"


def _launch(playwright, executable):
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)


@pytest.mark.parametrize("width", [1400, 400])
def test_report_page_in_a_real_browser(report, tmp_path, width):
    sync_playwright, executable = _browser_or_skip()
    shots = Path(os.environ.get("MASKSTATS_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = _launch(playwright, executable)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto((report / "index.html").resolve().as_uri())
            page.wait_for_load_state("load")
            found = page.evaluate(
                """() => ({
                    scrollWidth: document.scrollingElement.scrollWidth,
                    innerWidth: window.innerWidth,
                    images: [...document.images].map(i => ({
                        src: i.getAttribute('src'), natural: i.naturalWidth,
                        shown: i.getBoundingClientRect().width})),
                    charts: [...document.querySelectorAll('svg.chart')].map(c =>
                        c.getBoundingClientRect().right),
                    // Titles, ticks and notes inside each chart's view box (not cut off).
                    spill: [...document.querySelectorAll(
                        'svg.chart text.title, svg.chart text.tick, svg.chart text.note')]
                        .map(t => [t.getBBox(), t.ownerSVGElement.viewBox.baseVal])
                        .filter(([b, v]) => b.x < -1 || b.x + b.width > v.width + 1)
                        .map(([b]) => b.width),
                    tables: [...document.querySelectorAll('table')].map(t =>
                        t.parentElement.getBoundingClientRect().right),
                })"""
            )
            # Hover a point of the difficulty-vs-ratio chart: the tooltip shows its value.
            point = page.locator("#difficulty_vs_ratio svg.chart .pt").first
            point.scroll_into_view_if_needed()
            point.hover()
            tip = page.locator("#tip")
            assert tip.is_visible()
            assert re.search(r"mask ratio [0-9.]+: density3 mean [0-9.]+ patches", tip.inner_text())
            # Hover a table cell: its row, column and value.
            cell = page.locator("#metric_agreement td[data-tip]").first
            cell.scroll_into_view_if_needed()
            cell.hover()
            assert re.search(r"Spearman\(density3, invdist5\) = -?[0-9.]+", tip.inner_text())
            # Sort the first table by AvgDist: its rows come in order.
            header = page.locator("table.sortable").first.locator("thead th", has_text="AvgDist")
            header.click()
            values = page.evaluate(
                """() => [...document.querySelector('table.sortable').tBodies[0].rows]
                    .map(r => r.children[3].getAttribute('data-v')).filter(v => v)
                    .map(parseFloat)"""
            )
            assert values == sorted(values) and len(values) > 5
            # The mask browser: another strategy shows another mask.
            grid = page.locator("#browse-grid")
            grid.scroll_into_view_if_needed()
            fills = page.evaluate(FILLS)
            note = page.locator("#browse-note").inner_text()
            page.select_option("#browse-strategy", "block")
            after = page.evaluate(FILLS)
            assert after != fills and len(after) == len(fills) == 64
            assert page.locator("#browse-note").inner_text().startswith("block masks")
            assert page.locator("#browse-note").inner_text() != note
            # ... and another mask of it, another picture; a patch says its P²Dist.
            page.locator("#browse-masks button").nth(1).click()
            second = page.evaluate(FILLS)
            assert second != after
            masked = page.locator("#browse-grid rect[data-tip*='P²Dist']").first
            masked.hover()
            assert re.search(r"row \d+, column \d+: P²Dist [0-9.]+ patch", tip.inner_text())
            page.mouse.move(0, 0)
            page.screenshot(path=str(shots / f"report-{width}px.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert all(url.startswith("file:") for url in requests), requests  # nothing from a network
    assert found["scrollWidth"] <= found["innerWidth"], found["scrollWidth"]
    assert len(found["images"]) == 2  # the gallery and the literature figure; the rest are charts
    for image in found["images"]:
        assert image["natural"] > 0, image["src"]
        assert 0 < image["shown"], image
    assert len(found["charts"]) == 5 + 5 + 2  # metrics, strategies, loss panels
    assert found["spill"] == []
    # Charts and tables stay inside the window (tables scroll inside their own box).
    assert max(found["charts"]) <= width and max(found["tables"]) <= width


def test_mask_browser_says_n_a_for_a_setting_without_a_masked_patch(tmp_path):
    """A setting whose masks hide nothing (left out of the tables) is still in the browser: its
    note says n/a where AvgDist and the easy/hard shares are undefined, with and without the
    script, and the script raises no error on it (#22 item 9: no console errors)."""
    sync_playwright, executable = _browser_or_skip()
    gen = _generators(tmp_path)
    out = tmp_path / "report"
    assert main(["report", "--out", str(out), *FAST, "--strategies", f"{gen}:zeros,random"]) == 0
    page_text = (out / "index.html").read_text(encoding="utf-8")
    assert "AvgDist n/a, 0% masked, n/a of masked patches easy, n/a hard." in page_text
    assert "AvgDist nan" not in page_text
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = _launch(playwright, executable)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((out / "index.html").resolve().as_uri())
            page.wait_for_load_state("load")
            first = page.locator("#browse-note").inner_text()
            page.select_option("#browse-strategy", "random")
            other = page.locator("#browse-note").inner_text()
            page.select_option("#browse-strategy", "zeros")
            again = page.locator("#browse-note").inner_text()
        finally:
            browser.close()
    assert errors == []
    assert first.startswith("zeros masks") and "AvgDist n/a, 0% masked, n/a of masked" in first
    assert "(this setting's means: AvgDist n/a, n/a easy, n/a hard)" in first
    assert again == first and other.startswith("random masks") and "n/a" not in other


def test_report_page_reads_without_javascript(report, tmp_path):
    sync_playwright, executable = _browser_or_skip()
    with sync_playwright() as playwright:
        browser = _launch(playwright, executable)
        try:
            page = browser.new_page(
                viewport={"width": 400, "height": 900}, java_script_enabled=False
            )
            page.goto((report / "index.html").resolve().as_uri())
            found = page.evaluate(
                """() => ({
                    scrollWidth: document.scrollingElement.scrollWidth,
                    points: document.querySelectorAll('svg.chart .pt title').length,
                    cells: document.querySelectorAll('#browse-grid rect').length,
                    controls: document.querySelector('#browser .controls').hidden,
                })"""
            )
        finally:
            browser.close()
    # The charts are drawn, each point with its value as a native tooltip; the browser shows
    # its first mask, without the controls that need the script.
    assert found["scrollWidth"] <= 400
    assert found["points"] > 20 and found["cells"] == 64 and found["controls"] is True


# --------------------------------------------------------------------------- issue 27

GENERATORS = """
import os, pathlib, time
import numpy as np

def wait(n, grid, mask_ratio, seed):
    pathlib.Path(os.environ["READY"]).write_text(str(os.getpid()))
    time.sleep(120)
    return np.ones((n, *grid), dtype=bool)

def touch_out(n, grid, mask_ratio, seed):
    out = pathlib.Path(os.environ["REPORT_OUT"])
    out.mkdir(exist_ok=True)
    (out / "thesis.tex").write_text("my thesis")
    return np.random.default_rng(seed).random((n, *grid)) < mask_ratio

def zeros(n, grid, mask_ratio, seed):
    return np.zeros((n, *grid), dtype=bool)
"""
FAST = ["--img-size", "32", "--patch-size", "8", "--ratios", "0.75", "-n", "8"]


def _generators(folder: Path) -> Path:
    path = folder / "gen.py"
    path.write_text(GENERATORS)
    return path


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _start_waiting_report(folder: Path, out: Path, *extra: str) -> subprocess.Popen:
    """``maskstats report`` in a process of its own, inside a generator that waits (so the
    building folder and the lock exist) until it is signalled."""
    scratch = folder / "scratch"
    scratch.mkdir(exist_ok=True)
    gen = _generators(scratch)
    ready = scratch / "ready"
    ready.unlink(missing_ok=True)
    root = str(Path(__file__).parents[1])
    env = {
        **os.environ,
        "READY": str(ready),
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    argv = ["report", "--out", str(out), *FAST, "--strategies", f"{gen}:wait", *extra]
    process = subprocess.Popen(
        [sys.executable, "-m", "maskstats.cli", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(process.communicate()[1])
        time.sleep(0.05)
    return process


def test_a_strategy_writing_into_out_loses_nothing(tmp_path, monkeypatch, capsys):
    gen = _generators(tmp_path)
    out = tmp_path / "report"
    monkeypatch.setenv("REPORT_OUT", str(out))
    strategies = ["--strategies", f"random,{gen}:touch_out"]
    assert main(["report", "--out", str(out), *FAST, *strategies]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "files appeared in it while the report ran (thesis.tex)" in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]
    assert (out / "thesis.tex").read_text() == "my thesis"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen.py", "report"]
    # An old report replaced with --overwrite: refused the same way, old report kept whole.
    (out / "thesis.tex").unlink()
    assert main(["report", "--out", str(out), *FAST]) == 0
    before = _snapshot(out)
    assert main(["report", "--out", str(out), *FAST, *strategies, "--overwrite"]) == 2
    assert "(thesis.tex)" in capsys.readouterr().err
    assert _snapshot(out) == {**before, "thesis.tex": b"my thesis"}
    assert _hidden(tmp_path) == []


@pytest.mark.slow
def test_two_reports_at_once_the_second_refuses_and_a_killed_ones_lock_is_stale(tmp_path, capsys):
    out = tmp_path / "report"
    first = _start_waiting_report(tmp_path, out)
    try:
        assert main(["report", "--out", str(out), *FAST]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert f"another maskstats report (PID {first.pid}) is writing {out}" in err[0]
        # The same folder through a link shares the lock.
        (tmp_path / "alias").symlink_to(tmp_path, target_is_directory=True)
        assert main(["report", "--out", str(tmp_path / "alias" / "report"), *FAST]) == 2
        assert f"PID {first.pid}" in capsys.readouterr().err
        assert not out.exists()
    finally:
        first.kill()  # SIGKILL: it can clean up nothing
        first.communicate(timeout=60)
    assert ".report.lock" in _hidden(tmp_path)
    assert any(name.startswith(f".report.building-{first.pid}-") for name in _hidden(tmp_path))
    assert main(["report", "--out", str(out), *FAST]) == 0
    assert _hidden(tmp_path) == []  # the lock and the killed run's building folder are gone
    assert read_manifest(out) is not None


def test_lock_without_flock_uses_the_pid(tmp_path, monkeypatch, capsys, dead_pid):
    monkeypatch.setattr(output, "fcntl", None)
    out = tmp_path / "report"
    lock = tmp_path / ".report.lock"
    lock.write_text(f"{os.getppid()}\n")  # a process that runs
    assert main(["report", "--out", str(out), *FAST]) == 2
    assert f"(PID {os.getppid()}) is writing" in capsys.readouterr().err
    assert lock.exists() and not out.exists()
    lock.write_text(f"{dead_pid}\n")  # its run was killed: stale
    assert main(["report", "--out", str(out), *FAST]) == 0
    assert _hidden(tmp_path) == []


def test_a_file_system_without_flock_falls_back_to_the_pid_file(tmp_path, monkeypatch):
    class NoFlock:
        LOCK_EX, LOCK_NB = 2, 4

        @staticmethod
        def flock(fd, operation):
            raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(output, "fcntl", NoFlock)
    out = tmp_path / "report"
    with output.report_lock(out) as lock:
        assert lock.read_text() == f"{os.getpid()}\n"
        with pytest.raises(FileExistsError, match=f"PID {os.getpid()}"):
            with output.report_lock(out):
                pass
    assert _hidden(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_during_report_removes_its_building_folder(tmp_path, capsys, sig):
    out = tmp_path / "report"
    assert main(["report", "--out", str(out), *FAST]) == 0
    before = _snapshot(out)
    running = _start_waiting_report(tmp_path, out, "--overwrite")
    assert any(name.startswith(".report.building-") for name in _hidden(tmp_path))
    running.send_signal(sig)
    _, err = running.communicate(timeout=60)
    assert running.returncode == (130 if sig == signal.SIGINT else 128 + sig)
    word = "interrupted" if sig == signal.SIGINT else f"terminated by {signal.Signals(sig).name}"
    assert err.strip().splitlines()[-1].startswith(f"maskstats: {word}")
    assert "Traceback" not in err
    assert _snapshot(out) == before
    assert _hidden(tmp_path) == []


def test_what_killed_runs_left_is_cleaned_up(tmp_path, capsys, dead_pid):
    out = tmp_path / "report"
    assert main(["report", "--out", str(out), *FAST]) == 0
    before = _snapshot(out)
    # Killed in the middle of the swap: the old report moved away, the new one not in place.
    out.rename(tmp_path / f".report.old-{dead_pid}-abcdef")
    building = tmp_path / f".report.building-{dead_pid}-123456"
    building.mkdir()
    (building / "sweep.csv").write_text("half")
    alive = tmp_path / f".report.building-{os.getppid()}-654321"  # a run still going
    alive.mkdir()
    other = tmp_path / f".other.building-{dead_pid}-123456"  # another output's
    other.mkdir()
    assert main(["report", "--out", str(out), *FAST]) == 2  # the old report is back: refused
    assert "--overwrite" in capsys.readouterr().err
    assert _snapshot(out) == before
    assert _hidden(tmp_path) == sorted([alive.name, other.name])
    # Killed after the swap, before the old report was removed: removed now.
    stale_old = tmp_path / f".report.old-{dead_pid}-fedcba"
    shutil.copytree(out, stale_old)
    assert main(["report", "--out", str(out), *FAST, "--overwrite", "-n", "4"]) == 0
    assert json.loads((out / MANIFEST).read_text())["settings"]["n"] == 4
    assert _hidden(tmp_path) == sorted([alive.name, other.name])


def test_nothing_masked_is_left_out_with_a_note_and_the_page_builds(tmp_path, capsys):
    out = tmp_path / "report"
    assert (
        main(["report", "--out", str(out), *FAST, "--ratios", "0", "--strategies", "random"]) == 0
    )
    err = capsys.readouterr().err
    assert "left out random masks at mask ratio 0: no mask masks any patch" in err
    assert "Traceback" not in err and "IndexError" not in err
    summary = pd.read_csv(out / "summary.csv")
    assert summary["avgdist"].isna().all() and summary["p2dist"].isna().all()
    assert "no mask masks any patch" in (out / "index.html").read_text()
    # An all-zeros generator and file beside random masks: those left out, random reported.
    gen = _generators(tmp_path)
    np.save(tmp_path / "zeros.npy", np.zeros((4, 4, 4), bool))
    strategies = f"random,{gen}:zeros,{tmp_path / 'zeros.npy'}"
    mixed = tmp_path / "mixed"
    assert main(["report", "--out", str(mixed), *FAST, "--strategies", strategies]) == 0
    err = capsys.readouterr().err
    assert "left out zeros masks at mask ratio 0.75: no mask masks any patch" in err
    assert "left out zeros.npy masks at mask ratio 0: no mask masks any patch" in err
    table = pd.read_csv(mixed / "metric_table.csv")  # random's rows alone, one per metric
    assert set(table["strategy"]) == {"random"} and len(table) == 5
    assert set(table["mask ratio"]) == {0.75} and table["mean"].notna().all()
    assert set(pd.read_csv(mixed / "summary.csv")["strategy"]) == {"random", "zeros", "zeros.npy"}


@pytest.mark.slow
def test_simmim_that_does_not_fit_the_image_is_left_out_naming_the_flag(tmp_path, capsys):
    sizes = ["--img-size", "112", "--patch-size", "16", "--ratios", "0.75", "-n", "8"]
    out = tmp_path / "report"
    assert main(["report", "--out", str(out), *sizes]) == 0
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if "left out simmim" in line)
    assert "mask_patch_size 32 px must divide the image (112x112 px)" in line
    assert "these fit: 16, 112" in line and "--mask-patch-size" in line
    summary = pd.read_csv(out / "summary.csv")
    assert "simmim" not in set(summary["strategy"]) and "random" in set(summary["strategy"])
    assert "--mask-patch-size" in (out / "index.html").read_text()
    # The cell size is a report setting: with one that fits, simmim is there.
    fits = tmp_path / "fits"
    assert main(["report", "--out", str(fits), *sizes, "--mask-patch-size", "16"]) == 0
    assert "simmim" in set(pd.read_csv(fits / "summary.csv")["strategy"])
    assert json.loads((fits / MANIFEST).read_text())["settings"]["mask_patch_size"] == 16
    capsys.readouterr()
    # Asked for alone: nothing left to report, one line, nothing written.
    alone = tmp_path / "alone"
    assert main(["report", "--out", str(alone), *sizes, "--strategies", "simmim"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing to report" in err and "--mask-patch-size" in err
    assert not alone.exists()


def test_removing_an_old_report_deletes_only_plain_names_it_lists(tmp_path):
    (tmp_path / "keep.txt").write_text("keep")
    old = tmp_path / "old"
    old.mkdir()
    (old / "summary.csv").write_text("x")
    files = ["..", ".", "../keep.txt", str(tmp_path / "keep.txt"), "summary.csv", MANIFEST]
    (old / MANIFEST).write_text(json.dumps({"tool": "maskstats report", "files": files}))
    assert output.remove_report(old) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    # Anything it does not list is kept, and the folder with it.
    old.mkdir()
    (old / "notes.txt").write_text("mine")
    (old / MANIFEST).write_text(json.dumps({"tool": "maskstats report", "files": [MANIFEST]}))
    assert output.remove_report(old) == [
        f"kept {old}: it holds files the report did not write (notes.txt)"
    ]
    assert sorted(p.name for p in old.iterdir()) == ["notes.txt"]


def test_literature_section_shows_mae_and_ijepa_at_224_16(report):
    """Whatever the report's own sizes (here 64/8), the section against the literature
    measures MAE's samplings and I-JEPA's masks at 224/16 with the report's n and seed."""
    import html as html_lib

    from maskstats import literature

    page = (report / "index.html").read_text()
    assert "<h2>Against the literature: MAE's mask-sampling ablation</h2>" in page
    assert "<h2>Against the literature: I-JEPA's masks as its encoder sees them</h2>" in page
    mae = pd.read_csv(report / "literature_mae_table1f.csv", index_col="sampling")
    assert list(mae.index) == [r.name for r in literature.MAE_SAMPLING_ABLATION]
    assert list(mae["linear"]) == [r.linear for r in literature.MAE_SAMPLING_ABLATION]
    assert mae.loc["grid 0.75", "AvgDist [px]"] == pytest.approx(5.953, abs=1e-3)  # 224/16
    expected = literature.mae_sampling_statistics(n=64, seed=0)
    pd.testing.assert_series_equal(mae["AvgDist [px]"], expected["AvgDist [px]"], check_names=False)
    rho = pd.read_csv(report / "literature_rank_correlations.csv", index_col="statistic")
    finding = literature.mae_sampling_finding(expected, rho)
    assert html_lib.escape(finding.split(". ")[0]) in page  # its first sentence
    views = pd.read_csv(report / "literature_ijepa_views.csv", index_col="view")
    assert (views["masks"] == 2048).all()  # at least 16 batches of 128
    cut = views.loc["truncated, batch 128"]
    assert f"the encoder sees {cut['visible q10']:.0f}–{cut['visible q90']:.0f} patches" in page
    assert "84.9" in page and "84.900" not in page  # MAE's numbers as published


def test_literature_parts_follow_the_asked_strategies(tmp_path):
    """MAE's part needs random, block and grid among the report's strategies, I-JEPA's part
    multiblock (every table shows only the strategies asked for)."""
    from maskstats.report import ReportSettings
    from maskstats.report.build import write_literature

    def parts(*strategies):
        tables, files = write_literature(tmp_path, ReportSettings(strategies=strategies, n=16))
        return (set(tables) - {"n", "seed"} if tables else set()), set(files)

    assert parts("random", "grid") == (set(), set())
    assert parts("multiblock") == ({"ijepa"}, {"literature_ijepa_views.csv"})
    got, files = parts("random", "block", "grid")
    assert got == {"mae", "correlations", "finding"} and "literature_mae_table1f.png" in files
