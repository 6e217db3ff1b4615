"""``maskstats report --frames``: the video report (tube vs whole-clip random masks)."""

import json

import numpy as np
import pandas as pd
import pytest

from maskstats.cli import main
from maskstats.report import clip_finding
from maskstats.report.output import MANIFEST

SMALL = ["--img-size", "64", "--patch-size", "16", "--ratios", "0.5,0.75,0.9", "--clips", "24"]


@pytest.fixture(scope="module")
def clip_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("clips") / "report"
    assert main(["report", "--out", str(out), "--frames", "8", "--tubelet-size", "2", *SMALL]) == 0
    return out


def test_clip_report_files_manifest_and_numbers(clip_report):
    names = {p.name for p in clip_report.iterdir()}
    assert names == {
        "clip_summary.csv", "clip_summary.md", "clip_summary.tex", "clip_difficulty.png",
        "clip_difficulty.pdf", "index.html", MANIFEST,
    }  # fmt: skip
    manifest = json.loads((clip_report / MANIFEST).read_text())
    assert manifest["kind"] == "clips" and sorted(manifest["files"]) == sorted(names)
    assert manifest["settings"]["strategies"] == ["tube", "random"]
    table = pd.read_csv(clip_report / "clip_summary.csv")
    assert list(table["strategy"].unique()) == ["tube", "random"] and len(table) == 6
    tube = table[table["strategy"] == "tube"]
    clip = table[table["strategy"] == "random"]
    # Tubes: no position is ever visible in another frame, the clip is as hard as one frame.
    assert (tube["seen_share"] == 0).all() and (tube["leak_share"] == 0).all()
    pd.testing.assert_series_equal(tube["avgdist"], tube["avgdist_frame"], check_names=False)
    # Whole-clip random masks leak through time: easier as a clip than as one frame.
    assert (clip["leak_share"] > 0).all()
    assert (clip["avgdist"] < clip["avgdist_frame"]).all()
    page = (clip_report / "index.html").read_text()
    for name in names - {"index.html"}:
        assert f'href="{name}"' in page
    assert "Tube masks at ratio 0.9 leave no masked token" in page


def test_clip_finding_is_computed_from_the_numbers():
    table = pd.DataFrame(
        [
            dict(strategy="tube", mask_ratio=0.9, avgdist=19.0, avgdist_frame=19.0,
                 easy_share=0.1, easy_share_frame=0.1, leak_share=0.0, seen_share=0.0),
            dict(strategy="random", mask_ratio=0.9, avgdist=12.0, avgdist_frame=20.0,
                 easy_share=0.2, easy_share_frame=0.1, leak_share=0.17, seen_share=0.53),
        ]
    )  # fmt: skip
    text = clip_finding(table)
    assert "Tube masks at ratio 0.9 leave no masked token's position visible" in text
    assert "19.0 px against 19.0 px" in text
    assert "leave 17% of masked tokens with their own position visible one tubelet away" in text
    assert (
        "(53% in some frame)" in text and "12.0 px against 20.0 px in one frame (40% lower)" in text
    )


def test_clip_report_refuses_frames_that_do_not_split(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["report", "--out", str(out), "--frames", "7", *SMALL]) == 2
    assert "multiple of tubelet_size" in capsys.readouterr().err
    assert not out.exists()


def test_clip_report_shows_what_it_left_out_and_why(tmp_path, capsys):
    """A setting the video report cannot make (SimMIM's cell at 112 px) or measure (ratio 0:
    nothing masked) is named on the page and on stderr, and kept out of the table and the
    finding (#22 no contradictions, #27 items 18 and 25, for clips)."""
    out = tmp_path / "r"
    args = ["report", "--out", str(out), "--frames", "8", "--img-size", "112", "--patch-size",
            "16", "--clips", "8", "--ratios", "0,0.75", "--strategies", "tube,simmim"]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "left out tube at mask ratio 0: no clip masks any token (nothing to measure)" in err
    assert "left out simmim at mask ratio 0.75: SimMIM's mask_patch_size 32 px" in err
    page = (out / "index.html").read_text()
    assert "<h2>Settings left out</h2>" in page
    assert "tube at mask ratio 0: no clip masks any token" in page
    assert "simmim at mask ratio 0.75: SimMIM&#x27;s mask_patch_size 32 px" in page
    table = pd.read_csv(out / "clip_summary.csv")
    assert list(zip(table["strategy"], table["mask_ratio"], strict=True)) == [("tube", 0.75)]
    assert "nan" not in clip_finding(table).lower()
    manifest = json.loads((out / MANIFEST).read_text())
    assert any(line.startswith("simmim at mask ratio 0.75") for line in manifest["skipped"])


@pytest.mark.parametrize(
    ("strategies", "words"),
    [
        ("tube,{gen}:called,masks.npy", "masks.npy is a mask file, not a strategy"),
        ("tube,{gen}:called,nosuch", "unknown strategy 'nosuch'"),
    ],
)
def test_clip_report_checks_every_spec_before_anything_runs(tmp_path, capsys, strategies, words):
    """A mask file or an unknown spec is refused in one line before a generator runs and
    before anything is written (#27 item 26, for clips)."""
    gen = tmp_path / "gen.py"
    gen.write_text(
        "import pathlib\nimport numpy as np\n\n"
        "def called(n, grid, mask_ratio, seed=None):\n"
        "    pathlib.Path(__file__).with_name('CALLED').write_text('x')\n"
        "    return np.random.default_rng(0).random((n, *grid)) < mask_ratio\n"
    )
    np.save(tmp_path / "masks.npy", np.zeros((2, 4, 4, 4), bool))
    out = tmp_path / "r"
    spec = strategies.format(gen=gen).replace("masks.npy", str(tmp_path / "masks.npy"))
    args = ["report", "--out", str(out), "--frames", "8", *SMALL, "--strategies", spec]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
    assert not (tmp_path / "CALLED").exists() and not out.exists()


def test_clip_report_with_nothing_measurable_says_why(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["report", "--out", str(out), "--frames", "8", "--img-size", "64", "--patch-size",
            "16", "--clips", "8", "--ratios", "0", "--strategies", "tube"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(
        "no clip setting could be made or measured (tube at mask ratio 0: no clip masks any "
        "token (nothing to measure))"
    )
    assert not out.exists()


def test_clip_report_terminal_table_is_narrow_and_blank_where_undefined(clip_report, capsys):
    """The terminal copy of the table fits 100 columns and shows no NaN (#22 item 5, for the
    video report); the page and clip_summary.md keep every column."""
    from maskstats.report.video import terminal_table

    table = pd.read_csv(clip_report / "clip_summary.csv")
    table.loc[0, "avgdist"] = float("nan")
    text = terminal_table(table)
    lines = text.splitlines()
    assert max(len(line) for line in lines) < 100 and "NaN" not in text and "nan" not in text
    assert "AvgDist clip" in lines[0] and "visible 1 tubelet away" in lines[0]
    assert f"{table.loc[1, 'avgdist']:.3f}" in text


def test_a_changed_n_sets_the_clips_per_setting_unless_clips_is_given():
    from maskstats.report import ReportSettings
    from maskstats.report.video import clip_settings

    default = ReportSettings(frames=8)
    assert clip_settings(default).clips == 256  # neither changed: the video default
    assert clip_settings(ReportSettings(frames=8, n=64)).clips == 64
    assert clip_settings(ReportSettings(frames=8, n=64, clips=24)).clips == 24  # --clips wins
    assert clip_settings(ReportSettings(frames=8, n=64)).strategies == ("tube", "random")
