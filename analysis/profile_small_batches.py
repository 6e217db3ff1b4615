"""Where the time of a small batch goes (the profile behind the README's N=256 numbers).

For density3 and invdist5 at 224/16, mask ratio 0.75: the median time of one compute() call
at N = 1 .. 4096 (fresh masks each repeat), the fixed cost (N = 1), the per-mask cost of the
kernel (slope between N = 1024 and 4096 on one thread), the cost of waking a pool thread, and
the fastest baseline at N = 256 in the same run. Writes figures/small_batch_profile.csv and
prints it as Markdown.

Usage: python analysis/profile_small_batches.py
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from maskstats.bench import baselines, machine, median_time_over
from maskstats.masks import random_masks
from maskstats.metrics import compute

FIGURES = Path(__file__).resolve().parent.parent / "figures"
SIZES = (1, 16, 64, 256, 1024, 4096)


def call_us(metric: str, n: int, repeats: int = 31) -> float:
    batches = [(random_masks(n, 14, 0.75, seed=s), metric) for s in range(repeats)]
    return median_time_over(compute, batches) * 1e6


def thread_wake_us(repeats: int = 301) -> float:
    with ThreadPoolExecutor(1) as pool:
        pool.submit(int).result()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            pool.submit(int).result()
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main() -> None:
    compute(random_masks(8, 14, 0.75, seed=0))
    rows = []
    threads = numba.get_num_threads()
    wake = thread_wake_us()
    for metric in ("density3", "invdist5"):
        calls = {n: call_us(metric, n) for n in SIZES}
        numba.set_num_threads(1)
        try:
            one_thread = {n: call_us(metric, n) for n in (1024, 4096)}
        finally:
            numba.set_num_threads(threads)
        kernel_per_mask = (one_thread[4096] - one_thread[1024]) / 3072
        masks = random_masks(256, 14, 0.75, seed=99)
        fastest = min(
            median_time_over(base, [(masks, 16)] * 15) * 1e6 / 256
            for base in baselines(metric).values()
        )
        for n, us in calls.items():
            rows.append(
                {
                    "metric": metric,
                    "n": n,
                    "us_per_call": us,
                    "us_per_mask": us / n,
                    "fixed_us_per_call": calls[1],
                    "kernel_us_per_mask_one_thread": kernel_per_mask,
                    "thread_wake_us": wake,
                    "fastest_baseline_us_per_mask_n256": fastest,
                }
            )
    table = pd.DataFrame(rows)
    FIGURES.mkdir(exist_ok=True)
    table.to_csv(FIGURES / "small_batch_profile.csv", index=False)
    print(f"Machine: {machine()}\n")
    print(table.to_markdown(index=False, floatfmt=".3f"))
    for metric, sub in table.groupby("metric"):
        first = sub.iloc[0]
        at256 = sub[sub.n == 256].iloc[0]
        print(
            f"\n{metric} at N=256: {at256.us_per_call:.1f} us per call = fixed "
            f"{first.fixed_us_per_call:.1f} us + 256 x {first.kernel_us_per_mask_one_thread:.3f}"
            f" us (one thread); a second thread costs {first.thread_wake_us:.0f} us to wake; "
            f"speed-up over the fastest baseline "
            f"{first.fastest_baseline_us_per_mask_n256 / at256.us_per_mask:.1f}x"
        )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
