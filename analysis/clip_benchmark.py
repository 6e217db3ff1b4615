"""The clip benchmark: a 64-clip batch of (8, 14, 14) tokens (16 frames of 224 px, tubelet 2,
patch 16) at mask ratio 0.9, whole-clip random and tube masks, every clip metric against what
a user would write (scipy EDT per clip with ``sampling``, scipy correlate over the batch),
ratios from one run. Writes figures/clip_benchmark.{csv,md}.

Usage: python analysis/clip_benchmark.py [--repeats 7] [--baseline-clips 4]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from maskstats.bench import run_clip_benchmark

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--baseline-clips", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "figures")
    args = parser.parse_args()
    _, text = run_clip_benchmark(args.out, args.repeats, baseline_clips=args.baseline_clips)
    print(text)


if __name__ == "__main__":
    main()
