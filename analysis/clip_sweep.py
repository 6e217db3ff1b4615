"""The video report's numbers: tube vs whole-clip random masks on 16-frame clips of 224 px
(tubelet 2, patch 16: 8 x 14 x 14 tokens), mask ratios 0.5-0.95, 256 clips per setting,
seed 0 - the same sweep as ``maskstats report --frames 16 --tubelet-size 2``. Writes
figures/clip_summary.csv and figures/clip_difficulty.{png,pdf}.

Usage: python analysis/clip_sweep.py [--clips 256]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from maskstats import plot
from maskstats.report.settings import CLIP_STRATEGIES, DEFAULT_RATIOS
from maskstats.report.video import clip_finding
from maskstats.sweeps import clip_sweep

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "figures")
    args = parser.parse_args()
    table = clip_sweep(CLIP_STRATEGIES, DEFAULT_RATIOS, 224, 16, 16, 2, args.clips, seed=0)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "clip_summary.csv", index=False)
    plot.save(plot.clip_difficulty(table), args.out / "clip_difficulty")
    print(table.to_string(float_format="{:.3f}".format))
    print(clip_finding(table))


if __name__ == "__main__":
    main()
