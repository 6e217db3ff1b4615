from maskstats import bench


def test_benchmark_harness_runs_on_tiny_inputs(tmp_path):
    table, text = bench.run_benchmark(
        tmp_path, sizes=(16,), repeats=1, extras=False, progress=lambda line: None
    )
    assert table["matches_kernel"].all()
    kernels = table[table.implementation == "maskstats (numba)"]
    assert len(kernels) == 3 * len(bench.BENCH_METRICS)
    assert (kernels["speedup_vs_fastest_baseline"] > 0).all()
    for name in ("benchmark.csv", "benchmark.md", "benchmark.png"):
        assert (tmp_path / name).stat().st_size > 100
    assert "| case | metric |" in text
