"""Time and diversity of difficulty_masks: 4096 masks at mask ratio 0.75, patch size 16, on
14x14 (224/16), 24x24 (384/16) and 32x32 (512/16) grids, for targets at random masks' 10/50/90%
AvgDist quantiles and two targets outside that range (5% and 40% up the achievable range).
Reports the seconds (median of ``--repeats`` runs after a warm-up that compiles the kernels;
the far targets' first call also computes the achievable range, reported apart as
``range_seconds``), the share of masks within tolerance, and the mean pairwise Hamming distance
against random masks. Writes figures/difficulty_masks.csv.

Usage: python analysis/difficulty_masks_speed.py [--grids 14,24,32] [--repeats 3]
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from maskstats.bench import machine
from maskstats.masks import (
    achievable_range,
    difficulty_masks,
    mae_num_masked,
    mean_pairwise_hamming,
    random_masks,
)
from maskstats.metrics import avgdist

FIGURES = Path(__file__).resolve().parent.parent / "figures"
N, PATCH, RATIO, TOL = 4096, 16, 0.75, 0.02


def measure(side: int, repeats: int) -> list[dict]:
    grid = (side, side)
    reference = random_masks(N, grid, RATIO, seed=1)
    random_values = avgdist(reference, PATCH)
    median = float(np.median(random_values))
    difficulty_masks(64, grid, RATIO, PATCH, target_avgdist=median)  # compile, calibrate
    start = time.perf_counter()
    found = achievable_range(grid, RATIO, PATCH)
    range_seconds = time.perf_counter() - start
    low, high = found
    targets = {f"random q{q}": float(np.quantile(random_values, q / 100)) for q in (10, 50, 90)}
    targets["low (range 5%)"] = low + 0.05 * (high - low)
    targets["high (range 40%)"] = low + 0.4 * (high - low)
    random_hamming = mean_pairwise_hamming(reference)
    rows = []
    for name, target in targets.items():
        times = []
        for repeat in range(repeats):
            begin = time.perf_counter()
            masks = difficulty_masks(
                N, grid, RATIO, PATCH, target_avgdist=target, tol=TOL, seed=repeat
            )
            times.append(time.perf_counter() - begin)
        seconds = statistics.median(times)
        values = avgdist(masks, PATCH)
        rows.append(
            {
                "grid": f"{side}x{side}",
                "target": name,
                "avgdist_px": target,
                "seconds_for_4096": seconds,
                "ns_per_patch": seconds / (N * side * side) * 1e9,
                "within_tol": float(np.mean(np.abs(values - target) <= TOL * target + 1e-6)),
                "exact_count": bool(
                    (masks.sum(axis=(1, 2)) == mae_num_masked(side * side, RATIO)).all()
                ),
                "hamming": mean_pairwise_hamming(masks),
                "hamming_random": random_hamming,
                "achievable_low": low,
                "achievable_high": high,
                "range_exact": found.exact,
                "range_seconds": range_seconds,
            }
        )
        print(rows[-1], flush=True)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grids", default="14,24,32")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = [row for side in args.grids.split(",") for row in measure(int(side), args.repeats)]
    table = pd.DataFrame(rows)
    table["machine"] = machine()
    FIGURES.mkdir(exist_ok=True)
    table.to_csv(FIGURES / "difficulty_masks.csv", index=False)
    print(table.drop(columns="machine").to_markdown(index=False, floatfmt=".3f"))
