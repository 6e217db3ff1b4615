"""Peers' masks as the peers train on them.

- I-JEPA: its ImageNet mask settings (batch 128 per GPU, min_keep 10) untruncated
  (``multiblock_masks``' default) and as its encoder sees them (``collator_batch=128``), at
  224/16 and at its ViT-H/14's 224/14: visible patches, masked share, AvgDist.
- BEiT: how often its own loop stops short of its count at its pretraining preset (75
  patches, min 16 per block) and at ratio 0.9, and what maskstats' exact-count fill changes
  (the same rectangles with and without the fill).
- MAE: how often float32 ``torch.rand`` noise ties at the keep boundary (where
  ``random_masks(noise=...)`` and torch's argsort may keep different patches), at L = 196.

Writes figures/literature/ijepa_views.{csv,md}, beit_count_fill.{csv,md} and
torch_rand_ties.{csv,md}.

Usage: python analysis/peer_masks.py [--batches 64] [-n 8192] [--tie-rows 1000000]
"""

import argparse
from pathlib import Path

import pandas as pd

from maskstats import literature
from maskstats.io import to_markdown

OUT = Path(__file__).resolve().parent.parent / "figures" / "literature"


def write(table: pd.DataFrame, stem: Path, float_format: str = "{:.3f}") -> None:
    table.to_csv(stem.with_suffix(".csv"))
    stem.with_suffix(".md").write_text(to_markdown(table, float_format), encoding="utf-8")


def torch_rand_ties(rows: int, ratios=(0.75, 0.9), length: int = 196, seed: int = 0):
    """Rows of float32 torch.rand(rows, length) whose len_keep-th and (len_keep+1)-th smallest
    values are equal, per mask ratio."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    counts = dict.fromkeys(ratios, 0)
    done = 0
    while done < rows:
        chunk = min(100_000, rows - done)
        ordered = torch.sort(torch.rand(chunk, length, generator=generator), dim=1).values
        for ratio in ratios:
            keep = int(length * (1 - ratio))
            counts[ratio] += int((ordered[:, keep - 1] == ordered[:, keep]).sum())
        done += chunk
    # Expected for values uniform on torch.rand's grid of 2**24 float32 values: about
    # C(L, 2) / 2**24 equal pairs per row, spread over the L - 1 neighbouring places of the
    # sorted row, so a tie at one given place in about L / 2**25 of the rows.
    return pd.DataFrame(
        {
            "mask ratio": list(ratios),
            "rows": rows,
            "rows with a tie at the boundary": [counts[r] for r in ratios],
            "per million": [1e6 * counts[r] / rows for r in ratios],
            "approx. expected per million": 1e6 * length / 2**25,
        }
    ).set_index("mask ratio")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=64, help="I-JEPA batches of 128")
    parser.add_argument("-n", type=int, default=8192, help="BEiT masks per case")
    parser.add_argument("--tie-rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    views = pd.concat(
        {
            f"224/{p}": literature.ijepa_views(batches=args.batches, patch_size=p, seed=args.seed)
            for p in (16, 14)
        },
        names=["size"],
    ).reset_index(level="view")
    write(views, OUT / "ijepa_views")
    print(to_markdown(views))
    beit = literature.beit_count_fill(n=args.n, seed=args.seed)
    write(beit, OUT / "beit_count_fill", "{:.4f}")
    print(to_markdown(beit, "{:.4f}"))
    if args.tie_rows:
        ties = torch_rand_ties(args.tie_rows, seed=args.seed)
        write(ties, OUT / "torch_rand_ties", "{:.2f}")
        print(to_markdown(ties, "{:.2f}"))
    print(f"wrote {OUT}/ijepa_views, beit_count_fill, torch_rand_ties (.csv, .md)")
