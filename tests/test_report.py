import json
import os
import re
import shutil
import stat
from pathlib import Path

import pandas as pd
import pytest

from maskstats.cli import main
from maskstats.report import (
    MANIFEST,
    agreement_finding,
    headline_table,
    html_table,
    loss_finding,
    metric_finding,
    sweep_finding,
)

EXPECTED = [
    "sweep.csv",
    "summary.csv",
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
    # No temporary sibling is left behind.
    assert [p.name for p in report.parent.iterdir()] == ["report"]
    for path in report.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, path  # readable by others


def test_index_reads_like_an_appendix(report):
    page = (report / "index.html").read_text()
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
    assert "maskstats report --out" in page and "machine" in page and "0.1.0" in page
    # Each figure has a caption that is not its file name.
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page, re.S)
    assert len(captions) == 6 and all(len(c) > 80 for c in captions)
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
    assert "section B, quantified" in page and 'src="effective_difficulty.png"' in page
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
    assert '<td class="num">1.000 ± 0.100</td>' in page
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
    page = (out / "index.html").read_text()
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


@pytest.mark.parametrize("width", [1400, 400])
def test_report_page_in_a_real_browser(report, tmp_path, width):
    sync_playwright, executable = _browser_or_skip()
    shots = Path(os.environ.get("MASKSTATS_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((report / "index.html").resolve().as_uri())
            page.wait_for_load_state("load")
            found = page.evaluate(
                """() => ({
                    scrollWidth: document.scrollingElement.scrollWidth,
                    innerWidth: window.innerWidth,
                    images: [...document.images].map(i => ({
                        src: i.getAttribute('src'), natural: i.naturalWidth,
                        shown: i.getBoundingClientRect().width})),
                    tables: [...document.querySelectorAll('table')].map(t =>
                        t.parentElement.getBoundingClientRect().right),
                })"""
            )
            page.screenshot(path=str(shots / f"report-{width}px.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert found["scrollWidth"] <= found["innerWidth"], found["scrollWidth"]
    assert len(found["images"]) == 6  # five report figures and the literature figure
    for image in found["images"]:
        assert image["natural"] > 0, image["src"]
        assert 0 < image["shown"] <= width, image
    # Tables scroll inside their own box: the box never runs past the window.
    assert found["tables"] and max(found["tables"]) <= width
    if width == 1400:
        # One scale for every figure: the shown width follows the figure's width in inches.
        ratios = [i["shown"] / i["natural"] for i in found["images"]]
        assert max(ratios) - min(ratios) < 0.01


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
