import pytest

from maskstats.cli import main

EXPECTED = [
    "sweep.csv",
    "summary.csv",
    "metric_table.csv",
    "metric_table.md",
    "metric_table.tex",
    "agreement.csv",
    "index.html",
] + [
    f"{name}.{ext}"
    for name in ("difficulty_vs_ratio", "p2dist_distributions", "mask_gallery", "metric_agreement")
    for ext in ("png", "pdf")
]


def test_report_smoke_writes_every_file(tmp_path, capsys):
    out = tmp_path / "report"
    args = [
        "report",
        "--out",
        str(out),
        "--img-size",
        "64",
        "--patch-size",
        "8",
        "--ratios",
        "0.5,0.75,0.9",
        "-n",
        "64",
    ]
    assert main(args) == 0
    for name in EXPECTED:
        assert (out / name).stat().st_size > 100, name
    html = (out / "index.html").read_text()
    assert "difficulty_vs_ratio.png" in html and "<table" in html
    assert "p2dist" in capsys.readouterr().out
    # An existing folder is not overwritten without --overwrite.
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--ratios", "0.5:1.5:0.1"], "[0, 1)"),
        (["--strategies", "random,checker"], "unknown strategy"),
        (["--img-size", "100", "--patch-size", "16"], "not divisible"),
    ],
)
def test_report_bad_options(tmp_path, capsys, args, words):
    assert main(["report", "--out", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()
