"""Benchmark harness: the numba kernels against what a user would otherwise write, timed in
one process, medians of repeats, results checked equal. Speed claims come from here, as ratios
against baselines measured in the same run."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd
from scipy import ndimage

from maskstats import masks as mask_lib
from maskstats.metrics import METRIC_NAMES, clear_memo, compute, reference


@dataclass(frozen=True)
class Case:
    """One benchmark input: ``n`` masks of ``strategy`` at ``img_size``/``patch_size``."""

    strategy: str
    img_size: int
    patch_size: int
    mask_ratio: float
    n: int

    @property
    def label(self) -> str:
        """The case as a table label, e.g. 'random 224/16 r=0.75 N=256'."""
        return f"{self.strategy} {self.img_size}/{self.patch_size} r={self.mask_ratio} N={self.n}"

    def masks(self, seed: int = 0) -> np.ndarray:
        """(N, H, W) bool masks of this case."""
        return mask_lib.generate(
            self.strategy, self.n, self.img_size, self.patch_size, self.mask_ratio, seed=seed
        )


def default_cases(sizes: tuple[int, ...] = (256, 4096, 65536)) -> list[Case]:
    """Random masks at 224/16 (ratios 0.75, 0.9) and SimMIM masks (32-px cells) at 192/16."""
    cases = []
    for n in sizes:
        cases.append(Case("random", 224, 16, 0.75, n))
        cases.append(Case("random", 224, 16, 0.9, n))
        cases.append(Case("simmim", 192, 16, 0.6, n))
    return cases


def median_time(func: Callable[..., object], repeats: int, *args: object) -> float:
    """Median wall time of ``repeats`` calls ``func(*args)``, in seconds."""
    return median_time_over(func, [args] * repeats)


def median_time_over(func: Callable[..., object], inputs: list[tuple]) -> float:
    """Median wall time of ``func(*args)`` over the argument tuples in ``inputs``, in seconds.
    The p2dist memo keeps what it learnt between calls, so kernels are timed on fresh masks
    each repeat (as in training, where every batch is new)."""
    times = []
    for args in inputs:
        start = time.perf_counter()
        func(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _window_numpy(masks: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Numpy shifted adds: sum of weight * visible over the window, for all masks at once."""
    radius = weights.shape[0] // 2
    visible = np.pad(~masks, ((0, 0), (radius, radius), (radius, radius))).astype(np.float32)
    height, width = masks.shape[1:]
    total = np.zeros(masks.shape, np.float32)
    for a in range(weights.shape[0]):
        for b in range(weights.shape[1]):
            if weights[a, b]:
                total += np.float32(weights[a, b]) * visible[:, a : a + height, b : b + width]
    return np.where(masks, total, np.nan)


def _window_scipy(masks: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Batched scipy.ndimage.convolve with a (1, k, k) kernel (symmetric, so = correlate)."""
    visible = (~masks).astype(np.float32)
    total = ndimage.convolve(visible, weights[None].astype(np.float32), mode="constant")
    return np.where(masks, total, np.nan)


def _window_torch(masks: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    """Torch conv2d on the CPU, (N, 1, H, W) input."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    visible = torch.from_numpy(~masks).float()[:, None]
    kernel = torch.from_numpy(weights.astype(np.float32))[None, None]
    with torch.no_grad():
        total = torch.nn.functional.conv2d(visible, kernel, padding=weights.shape[0] // 2)
    return np.where(masks, total[:, 0].numpy(), np.nan)


def baselines(metric: str) -> dict[str, Callable[[np.ndarray, int], object]]:
    """What a user would otherwise write, per benchmarked metric (p2dist covers avgdist)."""
    if metric in ("density3", "invdist5"):
        weights = (
            reference.density3_weights() if metric == "density3" else reference.invdist5_weights()
        )
        return {
            "numpy shifted adds": lambda m, p: _window_numpy(m, weights),
            "scipy convolve (batched)": lambda m, p: _window_scipy(m, weights),
            "torch conv2d (CPU)": lambda m, p: _window_torch(m, weights),
        }
    if metric == "nearest":
        return {"scipy EDT per mask": lambda m, p: reference.nearest(m)}
    return {"scipy EDT per mask (upsampled)": reference.p2dist_avgdist}


BENCH_METRICS = {
    "density3": ("density3",),
    "invdist5": ("invdist5",),
    "nearest": ("nearest",),
    "p2dist+avgdist": ("p2dist", "avgdist"),
}


def _check_equal(kernel: dict[str, np.ndarray], baseline: object, names: tuple[str, ...]) -> bool:
    outputs = baseline if isinstance(baseline, tuple) else (baseline,)
    return all(
        np.allclose(kernel[name], out, rtol=1e-4, atol=1e-4, equal_nan=True)
        for name, out in zip(names, outputs, strict=True)
    )


def run_cases(
    cases: list[Case],
    repeats: int = 5,
    baseline_max_masks: int = 512,
    progress: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Time every kernel and baseline on every case.

    Baselines that loop over masks run on the first ``baseline_max_masks`` masks and are
    reported per mask (their cost is linear in N by construction); vectorised baselines run
    on all N. Returns one row per (case, metric, implementation) with us_per_mask, the ratio
    fastest-baseline/kernel, and whether the outputs matched.
    """
    rows = []
    for case in cases:
        masks = case.masks()
        fresh = [case.masks(seed=1 + r) for r in range(repeats)]
        for label, names in BENCH_METRICS.items():
            compute(masks[:8], names, case.patch_size)  # compile or load from cache
            kernel_s = median_time_over(
                compute, [(batch, names, case.patch_size) for batch in fresh]
            )
            kernel_us = kernel_s / case.n * 1e6
            subset = masks[:baseline_max_masks]
            expected = compute(subset, names, case.patch_size)
            rows.append(_row(case, label, "maskstats (numba)", kernel_us, True, case.n))
            for base_name, base in baselines(names[0]).items():
                per_mask_loop = "per mask" in base_name
                sample = subset if per_mask_loop else masks
                if base(sample[:2], case.patch_size) is None:
                    continue
                base_repeats = max(1, repeats if not per_mask_loop else min(repeats, 3))
                base_s = median_time(base, base_repeats, sample, case.patch_size)
                same = _check_equal(expected, base(subset, case.patch_size), names)
                rows.append(
                    _row(case, label, base_name, base_s / len(sample) * 1e6, same, len(sample))
                )
            progress(f"{case.label:40s} {label:15s} kernel {kernel_us:9.3f} us/mask")
    table = pd.DataFrame(rows)
    kernel = table[table.implementation == "maskstats (numba)"].set_index(["case", "metric"])
    fastest = (
        table[table.implementation != "maskstats (numba)"]
        .groupby(["case", "metric"])["us_per_mask"]
        .min()
    )
    table["speedup_vs_fastest_baseline"] = [
        fastest[(c, m)] / kernel.loc[(c, m), "us_per_mask"]
        if impl.startswith("maskstats")
        else np.nan
        for c, m, impl in zip(table.case, table.metric, table.implementation, strict=True)
    ]
    return table


def _row(case: Case, metric: str, impl: str, us: float, same: bool, timed_n: int) -> dict:
    return {
        "case": case.label,
        "strategy": case.strategy,
        "img_size": case.img_size,
        "patch_size": case.patch_size,
        "mask_ratio": case.mask_ratio,
        "n": case.n,
        "metric": metric,
        "implementation": impl,
        "us_per_mask": us,
        "timed_masks": timed_n,
        "matches_kernel": same,
    }


def scaling_and_threads(n: int = 4096, repeats: int = 5) -> dict[str, float]:
    """time(16N)/time(N) for all five metrics at 224/16, r=0.75, the speed-up of the
    available threads (at most 2 used) over 1 thread, the time of a batch of 256, the fixed
    cost of one compute() call (one mask, density3), and p2dist at r=0.9 with an empty memo
    and on the next call (new masks)."""
    small = mask_lib.random_masks(n, 14, 0.75, seed=0)
    large = mask_lib.random_masks(16 * n, 14, 0.75, seed=1)
    compute(small[:8])
    # Interleaved pairs, the median of their ratios: drift on a shared machine hits both
    # sides of each ratio alike.
    small_times, large_times = [], []
    for _ in range(max(3, repeats // 2)):
        small_times.append(median_time(lambda: compute(small), 1))
        large_times.append(median_time(lambda: compute(large), 1))
    scaling = statistics.median(b / a for a, b in zip(small_times, large_times, strict=True))
    threads = numba.get_num_threads()
    used = min(2, threads)
    one_times, two_times = [], []
    try:
        for _ in range(2 * repeats):
            numba.set_num_threads(1)
            one_times.append(median_time(lambda: compute(small), 1))
            numba.set_num_threads(used)
            two_times.append(median_time(lambda: compute(small), 1))
    finally:
        numba.set_num_threads(threads)
    speedup = statistics.median(a / b for a, b in zip(one_times, two_times, strict=True))
    batches = [mask_lib.random_masks(256, 14, 0.75, seed=100 + r) for r in range(max(repeats, 20))]
    t_batch = median_time_over(lambda b: compute(b, METRIC_NAMES, 16), [(b,) for b in batches])
    one = batches[0][:1]
    t_call = median_time(lambda: compute(one, "density3"), 50)
    clear_memo()
    cold = mask_lib.random_masks(n, 14, 0.9, seed=3)
    t_cold = median_time(lambda: compute(cold, ("p2dist", "avgdist")), 1)
    warm = mask_lib.random_masks(n, 14, 0.9, seed=4)
    t_warm = median_time(lambda: compute(warm, ("p2dist", "avgdist")), 1)
    return {
        "n": n,
        "time_16n_over_n": scaling,
        "threads": used,
        "thread_speedup": speedup,
        "batch256_all_metrics_ms": t_batch * 1e3,
        "fixed_us_per_compute_call": t_call * 1e6,
        "p2dist_r0.9_empty_memo_us_per_mask": t_cold / n * 1e6,
        "p2dist_r0.9_next_call_us_per_mask": t_warm / n * 1e6,
    }


_STARTUP_SCRIPT = """
import time, json
t0 = time.perf_counter()
import numpy as np
from maskstats.masks import random_masks
from maskstats.metrics import compute
masks = random_masks(4, 14, 0.75, seed=0)
t1 = time.perf_counter()
compute(masks)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_call_s": t2 - t1, "ready_s": t2 - t0}))
"""


def startup_times() -> dict[str, float]:
    """First call in a fresh process with an empty numba cache (compile), then again in a
    second process that finds the on-disk cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        results = []
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, "-c", _STARTUP_SCRIPT],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "compile_first_call_s": results[0]["first_call_s"],
        "cached_process_ready_s": results[1]["ready_s"],
        "cached_first_call_s": results[1]["first_call_s"],
    }


_MEMORY_SCRIPT = """
import json, resource, sys
import numpy as np
from maskstats.masks import random_masks
from maskstats.metrics import compute
n = int(sys.argv[1])
compute(random_masks(4, 14, 0.75, seed=0))
masks = np.concatenate([random_masks(1024, 14, 0.75, seed=s) for s in range(n // 1024 or 1)])
pages = int(open("/proc/self/statm").read().split()[1])
before = pages * resource.getpagesize()
peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
try:  # reset the peak (VmHWM) so that it measures the computation alone (Linux >= 4.0)
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
except OSError:
    pass
out = compute(masks)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
try:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
except OSError:
    pass
size = sum(v.nbytes for v in out.values())
print(json.dumps({"output_bytes": size, "rss_before": before, "rss_peak": peak,
                  "peak_before_compute": peak_before}))
"""


def memory_peak(n: int = 65536) -> dict[str, float]:
    """Peak RSS of computing all five metrics for ``n`` masks (a multiple of 1024), against
    the outputs' size: growth_over_outputs = (peak - RSS just before) / output bytes. Masks
    are generated in chunks so that the peak is the computation's, not the generator's."""
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["growth_over_outputs"] = (result["rss_peak"] - result["rss_before"]) / result[
        "output_bytes"
    ]
    result["peak_over_outputs"] = result["rss_peak"] / result["output_bytes"]
    return result


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """A line naming this machine: CPU model, cores, numba threads."""
    threads = numba.get_num_threads()
    return f"{cpu_model()}, {os.cpu_count()} cores, numba {numba.__version__} ({threads} threads)"


OUTPUT_FILES = ("benchmark.csv", "benchmark.md", "benchmark.png")
"""What :func:`run_benchmark` writes into its folder."""
CELLS = (14, 14)
"""The largest patch grid of :func:`default_cases` (224/16)."""
BENCH_BYTES_PER_CELL = 128
"""Peak bytes per patch of a case's masks while it is timed, beside the masks: torch's
conv2d unfolds the 5x5 window (25 float32 per patch), the numpy and scipy baselines and
the kernels' outputs hold float32 copies; measured 90 with ``--repeats 2 --no-extras``
(peak RSS at 4096 and 16384 masks per case)."""


def peak_bytes(sizes: tuple[int, ...], repeats: int = 5) -> int:
    """About how much memory :func:`run_benchmark` needs at its peak (bytes): the largest
    case's masks (one set per timed repeat and one more) and what is timed on them (the
    extras' memory measurement, in a process of its own, needs ~22 bytes per patch, less)."""
    return max(sizes) * CELLS[0] * CELLS[1] * (BENCH_BYTES_PER_CELL + repeats + 1)


def check_bench_output(out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse, before any timing, an ``out_dir`` that is a file, or one that already holds
    benchmark files (unless ``overwrite``): a benchmark run never replaces published numbers
    by accident.

    Returns:
        ``out_dir`` as a Path.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"benchmark output {out_dir} is a file; pass a folder")
    existing = [name for name in OUTPUT_FILES if (out_dir / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{out_dir} already holds {', '.join(existing)}; pass --overwrite to replace them"
        )
    return out_dir


def _timing_words(repeats: int) -> str:
    if repeats == 1:
        return "One timed run per case (--repeats 1: no median; expect noise)"
    return f"Medians of {repeats} timed runs"


def _speedup_text(ratio: float) -> str:
    """3 significant digits, so a slow-down reads 0.0412x, not 0.0x."""
    if not np.isfinite(ratio):
        return ""
    return f"{ratio:.1f}x" if ratio >= 10 else f"{ratio:.3g}x"


def summary_markdown(table: pd.DataFrame, extra: dict[str, dict], repeats: int = 5) -> str:
    """The Performance table (docs/results/performance.md): medians in us/mask and speed-up
    over the fastest baseline, per case and metric, and the scaling, thread, start-up and
    memory lines.

    Args:
        table: :func:`run_cases` output.
        extra: name -> measurements, one line each.
        repeats: timed repeats per case (1: the header says there is no median).
    """
    kernel = table[table.implementation == "maskstats (numba)"]
    base = table[table.implementation != "maskstats (numba)"]
    fastest = base.loc[base.groupby(["case", "metric"])["us_per_mask"].idxmin()]
    merged = kernel.merge(fastest, on=["case", "metric"], suffixes=("", "_baseline"))
    lines = [
        f"Machine: {machine()}. {_timing_words(repeats)}, µs per mask.",
        "",
        "| case | metric | maskstats | fastest baseline | baseline µs | speed-up | same numbers |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    for _, row in merged.iterrows():
        lines.append(
            f"| {row.case} | {row.metric} | {row.us_per_mask:.3f} | "
            f"{row.implementation_baseline} | {row.us_per_mask_baseline:.2f} | "
            f"{_speedup_text(row.us_per_mask_baseline / row.us_per_mask)} | "
            f"{'yes' if row.matches_kernel_baseline else 'NO'} |"
        )
    lines.append("")
    for name, values in extra.items():
        shown = ", ".join(
            f"{k} = {v:.3g}" if isinstance(v, float) else f"{k} = {v}" for k, v in values.items()
        )
        lines.append(f"- {name}: {shown}")
    return "\n".join(lines) + "\n"


def run_benchmark(
    out_dir: str | os.PathLike = "maskstats-bench",
    sizes: tuple[int, ...] = (256, 4096, 65536),
    repeats: int = 5,
    extras: bool = True,
    progress: Callable[[str], None] = print,
) -> tuple[pd.DataFrame, str]:
    """Run the whole harness; write benchmark.csv, benchmark.md and benchmark.png to
    ``out_dir`` (created; files already there are replaced: the CLI checks with
    :func:`check_bench_output` first).

    Args:
        out_dir: output folder.
        sizes: batch sizes N of the cases.
        repeats: timed repeats per case.
        extras: also measure scaling, threads, start-up and memory.
        progress: called with one line per timed case.

    Returns:
        The table and the Markdown summary.
    """
    out_dir = check_bench_output(out_dir, overwrite=True)
    table = run_cases(default_cases(sizes), repeats=repeats, progress=progress)
    extra: dict[str, dict] = {}
    if extras:
        scaling_n = 4096 if max(sizes) >= 4096 else max(sizes)
        extra["scaling and threads (224/16, r=0.75, all five metrics)"] = scaling_and_threads(
            scaling_n, repeats
        )
        extra["start-up"] = startup_times()
        extra["memory"] = memory_peak(max(sizes))
    out_dir.mkdir(parents=True, exist_ok=True)  # only now: a failed run leaves no empty folder
    table.to_csv(out_dir / "benchmark.csv", index=False)
    text = summary_markdown(table, extra, repeats)
    (out_dir / "benchmark.md").write_text(text)
    from maskstats import plot

    plot.save(plot.speedups(table), out_dir / "benchmark", formats=("png",), dpi=150)
    return table, text


# --------------------------------------------------------------------------- clips

CLIP_OUTPUT_FILES = ("clip_benchmark.csv", "clip_benchmark.md")
"""What :func:`run_clip_benchmark` writes into its folder."""
CLIP_BENCH_METRICS = {
    "density3": ("density3",),
    "invdist5": ("invdist5",),
    "nearest": ("nearest",),
    "temporal": ("temporal",),
    "p2dist+avgdist": ("p2dist", "avgdist"),
}


def clip_baselines(
    metric: str, patch_size: int, tubelet_size: int, temporal_step: float
) -> dict[str, Callable[[np.ndarray], object]]:
    """What a user would otherwise write for clips: scipy per clip (EDT with ``sampling``, on
    the token grid or the voxels) or batched (correlate over (N, T, H, W)), numpy for the
    temporal gap."""
    tau = temporal_step / patch_size
    if metric == "density3":
        weights = reference.video_density3_weights()
        return {"scipy correlate (batched)": lambda m: reference._video_window(m, weights)}
    if metric == "invdist5":
        weights = reference.video_invdist5_weights(tau)
        return {"scipy correlate (batched)": lambda m: reference._video_window(m, weights)}
    if metric == "nearest":
        return {"scipy EDT per clip (sampling)": lambda m: reference.video_nearest(m, tau)}
    if metric == "temporal":
        return {"numpy over frame pairs": lambda m: reference.video_temporal(m, tubelet_size)}
    frame_px = temporal_step / tubelet_size
    return {
        "scipy EDT per clip (voxels, sampling)": lambda m: reference.video_p2dist_avgdist(
            m, patch_size, tubelet_size, frame_px
        )
    }


def clip_benchmark(
    n: int = 64,
    grid: tuple[int, int, int] = (8, 14, 14),
    mask_ratio: float = 0.9,
    patch_size: int = 16,
    tubelet_size: int = 2,
    temporal_step: float | None = None,
    strategies: tuple[str, ...] = ("random", "tube"),
    repeats: int = 7,
    baseline_clips: int = 4,
    progress: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Time the clip kernels on ``n`` clips against the baselines, in one process.

    Kernels run on fresh clips each repeat (median); baselines that loop over clips run on
    the first ``baseline_clips`` and are scaled to ``n`` (linear by construction), batched ones
    on all ``n``. Every baseline's output is checked against the kernel's (rtol 1e-4).

    Returns:
        One row per (strategy, metric, implementation): ms for the batch of ``n``, the
        speed-up of the kernel over the fastest baseline, whether the numbers matched; rows
        "all metrics" time one ``compute`` of every clip metric.
    """
    from maskstats.metrics import VIDEO_METRIC_NAMES

    step = float(patch_size) if temporal_step is None else float(temporal_step)
    frames, height, width = grid
    rows = []
    for strategy in strategies:

        def clips(seed: int, strategy: str = strategy) -> np.ndarray:
            img = (height * patch_size, width * patch_size)
            return mask_lib.generate(
                strategy, n, img, patch_size, mask_ratio, seed=seed,
                frames=frames * tubelet_size, tubelet_size=tubelet_size,
            )  # fmt: skip

        masks = clips(0)
        fresh = [clips(1 + r) for r in range(repeats)]
        kwargs: dict = {"tubelet_size": tubelet_size, "temporal_step": step}
        compute(masks[:2], VIDEO_METRIC_NAMES, patch_size, **kwargs)  # compile or load
        for label, names in CLIP_BENCH_METRICS.items():
            seconds = median_time_over(
                lambda b, names=names, kwargs=kwargs: compute(b, names, patch_size, **kwargs),
                [(batch,) for batch in fresh],
            )
            expected = compute(masks, names, patch_size, **kwargs)
            row = {"strategy": strategy, "n": n, "grid": "x".join(map(str, grid)),
                   "mask_ratio": mask_ratio, "metric": label}  # fmt: skip
            rows.append({**row, "implementation": "maskstats (numba)", "ms": seconds * 1e3,
                         "timed_clips": n, "matches_kernel": True})  # fmt: skip
            for base_name, base in clip_baselines(names[0], patch_size, tubelet_size, step).items():
                loop = "per clip" in base_name
                sample = masks[:baseline_clips] if loop else masks
                base_s = median_time(base, 1 if loop else max(1, repeats // 2), sample)
                out = base(sample)
                outputs = out if isinstance(out, tuple) else (out,)
                same = all(
                    np.allclose(expected[name][: len(sample)], value, rtol=1e-4, atol=1e-4,
                                equal_nan=True)
                    for name, value in zip(names, outputs, strict=True)
                )  # fmt: skip
                rows.append({**row, "implementation": base_name,
                             "ms": base_s * 1e3 * n / len(sample), "timed_clips": len(sample),
                             "matches_kernel": same})  # fmt: skip
            progress(f"clips {strategy} {label:15s} kernel {seconds * 1e3:8.2f} ms")
        total = median_time_over(
            lambda b, kwargs=kwargs: compute(b, VIDEO_METRIC_NAMES, patch_size, **kwargs),
            [(batch,) for batch in fresh],
        )
        rows.append({"strategy": strategy, "n": n, "grid": "x".join(map(str, grid)),
                     "mask_ratio": mask_ratio, "metric": "all metrics",
                     "implementation": "maskstats (numba)", "ms": total * 1e3, "timed_clips": n,
                     "matches_kernel": True})  # fmt: skip
    table = pd.DataFrame(rows)
    kernel = table[table.implementation == "maskstats (numba)"].set_index(["strategy", "metric"])
    fastest = (
        table[table.implementation != "maskstats (numba)"]
        .groupby(["strategy", "metric"])["ms"]
        .min()
    )
    table["speedup_vs_fastest_baseline"] = [
        fastest[(s, m)] / kernel.loc[(s, m), "ms"]
        if impl.startswith("maskstats") and (s, m) in fastest.index
        else np.nan
        for s, m, impl in zip(table.strategy, table.metric, table.implementation, strict=True)
    ]
    return table


def clip_markdown(table: pd.DataFrame, repeats: int) -> str:
    """The clip benchmark as Markdown: ms per batch, the fastest baseline and the speed-up."""
    first = table.iloc[0]
    lines = [
        f"Machine: {machine()}. {_timing_words(repeats)}; {first.n} clips of "
        f"{first.grid} tokens at mask ratio {first.mask_ratio:g}, ms per batch.",
        "",
        "| masks | metric | maskstats ms | fastest baseline | baseline ms | speed-up "
        "| same numbers |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    for (strategy, metric), rows in table.groupby(["strategy", "metric"], sort=False):
        kernel = rows[rows.implementation == "maskstats (numba)"].iloc[0]
        base = rows[rows.implementation != "maskstats (numba)"]
        if base.empty:
            lines.append(f"| {strategy} | {metric} | {kernel.ms:.2f} | | | | |")
            continue
        best = base.loc[base["ms"].idxmin()]
        scaled = f" (timed on {best.timed_clips}, scaled)" if best.timed_clips < best.n else ""
        lines.append(
            f"| {strategy} | {metric} | {kernel.ms:.2f} | {best.implementation}{scaled} | "
            f"{best.ms:.1f} | "
            f"{_speedup_text(best.ms / kernel.ms)} | {'yes' if best.matches_kernel else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def run_clip_benchmark(
    out_dir: str | os.PathLike = "maskstats-bench",
    repeats: int = 7,
    progress: Callable[[str], None] = print,
    **kwargs: Any,
) -> tuple[pd.DataFrame, str]:
    """:func:`clip_benchmark`; writes clip_benchmark.csv and .md into ``out_dir``.

    Returns:
        The table and its Markdown.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = clip_benchmark(repeats=repeats, progress=progress, **kwargs)
    table.to_csv(out_dir / "clip_benchmark.csv", index=False)
    text = clip_markdown(table, repeats)
    (out_dir / "clip_benchmark.md").write_text(text)
    return table, text
