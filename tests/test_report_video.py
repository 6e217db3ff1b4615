"""``maskstats report --frames``: the video report (tube vs whole-clip random masks)."""

import json

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
