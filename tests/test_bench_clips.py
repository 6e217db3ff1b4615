"""The clip benchmark harness on a tiny case: every baseline gives the kernel's numbers and
the table has a row per metric and implementation (times are not checked)."""

from maskstats.bench import clip_benchmark, clip_markdown
from maskstats.cli import main


def test_clip_benchmark_baselines_agree_with_the_kernels():
    table = clip_benchmark(
        n=4, grid=(2, 4, 4), mask_ratio=0.75, patch_size=4, repeats=1, baseline_clips=2,
        progress=lambda line: None,
    )  # fmt: skip
    assert table["matches_kernel"].all()
    metrics = {"density3", "invdist5", "nearest", "temporal", "p2dist+avgdist", "all metrics"}
    assert set(table["metric"]) == metrics and set(table["strategy"]) == {"random", "tube"}
    kernel = table[table.implementation == "maskstats (numba)"]
    assert (kernel["ms"] > 0).all() and kernel["speedup_vs_fastest_baseline"].notna().sum() == 10
    text = clip_markdown(table, 1)
    assert "| tube | p2dist+avgdist |" in text and "NO" not in text


def test_bench_clips_refuses_to_replace_results(tmp_path, capsys):
    (tmp_path / "clip_benchmark.md").write_text("old")
    assert main(["bench", "--clips", "--out", str(tmp_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "clip_benchmark.md").read_text() == "old"
