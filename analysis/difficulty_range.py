"""AvgDist achievable at each mask ratio at 224/16 (lowest: dispersed; highest: compact, one
visible strip along an edge at most ratios), with random, block and simmim masks' typical
AvgDist inside it. At 14x14 no ratio here is small enough to enumerate, so the range is a
bound found by search (column ``exact`` False, ``method`` says how).
Writes figures/achievable_range.{csv,png,pdf}.

Usage: python analysis/difficulty_range.py
"""

import time
from pathlib import Path

import pandas as pd

from maskstats import plot, sweeps
from maskstats.cli.argtypes import parse_ratios
from maskstats.masks import achievable_range

FIGURES = Path(__file__).resolve().parent.parent / "figures"
RATIOS = parse_ratios("0.5:0.95:0.05")

if __name__ == "__main__":
    rows = []
    for ratio in RATIOS:
        start = time.perf_counter()
        found = achievable_range(14, ratio, 16)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "mask_ratio": ratio,
                "low": found.low,
                "high": found.high,
                "exact": found.exact,
                "seconds": seconds,
                "method": found.method,
            }
        )
        print(f"mask ratio {ratio:.2f}: AvgDist from {found.low:.2f} to {found.high:.2f} px "
              f"({'exact' if found.exact else 'search'}, {seconds:.1f} s)")  # fmt: skip
    table = pd.DataFrame(rows)
    FIGURES.mkdir(exist_ok=True)
    table.to_csv(FIGURES / "achievable_range.csv", index=False)
    sweep = sweeps.sweep(("random", "block", "simmim"), RATIOS, 224, 16, n=512, seed=0)
    plot.save(plot.achievable_range_plot(table, sweep), FIGURES / "achievable_range")
