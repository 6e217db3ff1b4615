import numpy as np
import pandas as pd
import pytest

from maskstats import bench


def test_benchmark_harness_runs_on_tiny_inputs(tmp_path):
    table, text = bench.run_benchmark(
        tmp_path, sizes=(16,), repeats=1, extras=False, progress=lambda line: None
    )
    assert table["matches_kernel"].all()
    kernels = table[table.implementation == "maskstats (numba)"]
    assert len(kernels) == 3 * len(bench.BENCH_METRICS)
    # The ratio is finite and is the fastest baseline's time over the kernel's, per case.
    for (case, metric), rows in table.groupby(["case", "metric"]):
        kernel = rows[rows.implementation == "maskstats (numba)"].iloc[0]
        fastest = rows[rows.implementation != "maskstats (numba)"]["us_per_mask"].min()
        assert np.isfinite(kernel["speedup_vs_fastest_baseline"]), (case, metric)
        assert kernel["speedup_vs_fastest_baseline"] == pytest.approx(
            fastest / kernel["us_per_mask"], rel=1e-9
        )
    for name in ("benchmark.csv", "benchmark.md", "benchmark.png"):
        assert (tmp_path / name).stat().st_size > 100
    assert "| case | metric |" in text


def _table(kernel_us: float, baseline_us: float) -> pd.DataFrame:
    row = dict(case="c", strategy="random", img_size=32, patch_size=8, mask_ratio=0.75, n=8)
    return pd.DataFrame(
        [
            dict(
                row,
                metric="nearest",
                implementation="maskstats (numba)",
                us_per_mask=kernel_us,
                matches_kernel=True,
            ),
            dict(
                row,
                metric="nearest",
                implementation="scipy EDT per mask",
                us_per_mask=baseline_us,
                matches_kernel=True,
            ),
        ]
    )


def test_summary_never_prints_a_zero_speedup_or_a_median_of_one():
    one = bench.summary_markdown(_table(100.0, 1.23), {}, repeats=1)
    assert "One timed run per case" in one and "Median" not in one
    assert "| 0.0123x |" in one and "0.0x" not in one
    five = bench.summary_markdown(_table(1.0, 26.44), {}, repeats=5)
    assert "Medians of 5 timed runs" in five and "| 26.4x |" in five


def test_bench_output_check(tmp_path):
    bench.check_bench_output(tmp_path)  # empty: fine
    (tmp_path / "benchmark.png").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="--overwrite"):
        bench.check_bench_output(tmp_path)
    assert bench.check_bench_output(tmp_path, overwrite=True) == tmp_path
    with pytest.raises(ValueError, match="is a file"):
        bench.check_bench_output(tmp_path / "benchmark.png")
