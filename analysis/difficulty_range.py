"""AvgDist achievable at each mask ratio at 224/16 (lowest: dispersed; highest: one compact
block), with random, block and simmim masks' typical AvgDist inside it.
Writes figures/achievable_range.{csv,png,pdf}.

Usage: python analysis/difficulty_range.py
"""

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
        low, high = achievable_range(14, ratio, 16)
        rows.append({"mask_ratio": ratio, "low": low, "high": high})
        print(f"mask ratio {ratio:.2f}: AvgDist from {low:.2f} to {high:.2f} px")
    table = pd.DataFrame(rows)
    FIGURES.mkdir(exist_ok=True)
    table.to_csv(FIGURES / "achievable_range.csv", index=False)
    sweep = sweeps.sweep(("random", "block", "simmim"), RATIOS, 224, 16, n=512, seed=0)
    plot.save(plot.achievable_range_plot(table, sweep), FIGURES / "achievable_range")
