"""The paper's section B, quantified: the effective AvgDist (loss-weighted, px) of every loss
setting in maskstats.sweeps.LOSS_SETTINGS on MAE random masks at 224/16, mask ratios
0.5-0.95, 2048 masks per ratio, weights made per batch of 256 (as `maskstats report` does).

Writes figures/effective_difficulty.{png,pdf} and figures/loss_difficulty.{csv,md}.

Usage: python analysis/effective_difficulty.py [-n 2048] [--seed 0]
"""

import argparse
from pathlib import Path

from maskstats import plot, sweeps
from maskstats.io import to_markdown
from maskstats.masks import random_masks

FIGURES = Path(__file__).resolve().parent.parent / "figures"
RATIOS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    masks = {r: random_masks(args.n, 14, r, seed=[args.seed, k]) for k, r in enumerate(RATIOS)}
    table = sweeps.loss_difficulty_sweep(masks, 16, seed=args.seed)
    table.insert(0, "strategy", "random")
    table.to_csv(FIGURES / "loss_difficulty.csv", index=False)
    shown = table.pivot(index="setting", columns="mask_ratio", values="effective_avgdist")
    shown = shown.loc[[s.name for s in sweeps.LOSS_SETTINGS]].map("{:.1f}".format)
    shown.columns = [f"{r:g}" for r in shown.columns]
    ess = table[table["mask_ratio"] == 0.9].set_index("setting")["ess_share"]
    shown["ESS share @0.9"] = ess.reindex(shown.index).map("{:.2f}".format)
    (FIGURES / "loss_difficulty.md").write_text(to_markdown(shown), encoding="utf-8")
    plot.save(plot.effective_difficulty(table), FIGURES / "effective_difficulty")
    print(to_markdown(shown))
