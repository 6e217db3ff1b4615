"""Time and diversity of difficulty_masks: 4096 masks at 224/16, mask ratio 0.75, for targets
at random masks' 10/50/90% AvgDist quantiles and two targets outside that range. Reports the
seconds (after a warm-up that compiles the kernels and computes the achievable range), the
share of masks within tolerance, and the mean pairwise Hamming distance against random masks.
Writes figures/difficulty_masks.csv.

Usage: python analysis/difficulty_masks_speed.py
"""

import time
from pathlib import Path

import numpy as np
import pandas as pd

from maskstats.bench import machine
from maskstats.masks import achievable_range, difficulty_masks, mean_pairwise_hamming, random_masks
from maskstats.metrics import avgdist

FIGURES = Path(__file__).resolve().parent.parent / "figures"
N, GRID, PATCH, RATIO, TOL = 4096, (14, 14), 16, 0.75, 0.02

if __name__ == "__main__":
    reference = random_masks(N, GRID, RATIO, seed=1)
    random_values = avgdist(reference, PATCH)
    low, high = achievable_range(GRID, RATIO, PATCH)
    difficulty_masks(64, GRID, RATIO, PATCH, target_avgdist=float(np.median(random_values)))
    targets = {f"random q{q}": float(np.quantile(random_values, q / 100)) for q in (10, 50, 90)}
    targets["low (range 5%)"] = low + 0.05 * (high - low)
    targets["high (range 40%)"] = low + 0.4 * (high - low)
    random_hamming = mean_pairwise_hamming(reference)
    rows = []
    for name, target in targets.items():
        start = time.perf_counter()
        masks = difficulty_masks(N, GRID, RATIO, PATCH, target_avgdist=target, tol=TOL, seed=0)
        seconds = time.perf_counter() - start
        values = avgdist(masks, PATCH)
        rows.append(
            {
                "target": name,
                "avgdist_px": target,
                "seconds_for_4096": seconds,
                "within_tol": float(np.mean(np.abs(values - target) <= TOL * target + 1e-6)),
                "exact_count": bool((masks.sum(axis=(1, 2)) == 147).all()),
                "hamming": mean_pairwise_hamming(masks),
                "hamming_random": random_hamming,
            }
        )
        print(rows[-1])
    table = pd.DataFrame(rows)
    table["achievable_low"], table["achievable_high"], table["machine"] = low, high, machine()
    FIGURES.mkdir(exist_ok=True)
    table.to_csv(FIGURES / "difficulty_masks.csv", index=False)
    print(table.drop(columns="machine").to_markdown(index=False, floatfmt=".3f"))
