"""MAE's mask-sampling ablation (its Table 1(f)) explained by difficulty, and its replication.

1. MAE's four published rows (random 0.75, block 0.5, block 0.75, grid 0.75; ViT-L/16,
   ImageNet-1k) beside maskstats' statistics of the same masks at 224/16 (AvgDist, mean
   P²Dist, easy and hard shares, distance of AvgDist to SimMIM's 10-20 px band), the rank
   correlation of each statistic with MAE's linear and fine-tune columns (exact permutation
   p), a finding computed from the numbers; the same with BEiT's pretraining blocks (min 16
   patches per block) as a check on the block generator's setting. Writes
   figures/literature/mae_table1f.{csv,md}, mae_table1f_block16.{csv,md},
   rank_correlations.{csv,md}, rank_correlations_block16.{csv,md}, finding.md and
   mae_table1f.{png,pdf}.

2. With ``--runs DIR`` (a finished ``maskstats table5 --rows mae-sampling`` folder): our
   numbers beside MAE's and whether its order reproduces. Copies the table5 files into
   figures/mae_sampling_fashion_mnist/ and writes mae_order.{csv,md} and
   order_correlations.{csv,md} there (COMMAND.md is written by hand).

Usage:
    python analysis/mae_sampling_ablation.py [-n 2048] [--seed 0]
    python analysis/mae_sampling_ablation.py --runs runs/mae_sampling_fashion_mnist
"""

import argparse
import json
import shutil
from pathlib import Path

import pandas as pd

from maskstats import literature, plot
from maskstats.io import to_markdown

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "figures" / "literature"
RUN_OUT = ROOT / "figures" / "mae_sampling_fashion_mnist"
TABLE5_FILES = (
    "table5.csv",
    "table5.md",
    "table5.tex",
    "table5.png",
    "table5.pdf",
    "separation.csv",
    "separation.md",
    "spearman_by_metric.csv",
    "spearman_by_metric.md",
    "settings.json",
)


def write(table: pd.DataFrame, stem: Path, float_format: str = "{:.3f}") -> None:
    """stem.csv (numbers as they are) and stem.md (MAE's accuracies as published: one
    decimal)."""
    table.to_csv(stem.with_suffix(".csv"))
    shown = table.copy()
    for column in ("fine-tune", "linear"):
        if column in shown:
            shown[column] = [f"{value:.1f}" for value in shown[column]]
    stem.with_suffix(".md").write_text(to_markdown(shown, float_format), encoding="utf-8")


def explain(n: int, seed: int, command: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    table = literature.mae_sampling_statistics(n=n, seed=seed)
    correlations = literature.rank_correlations(table)
    table16 = literature.mae_sampling_statistics(n=n, seed=seed, block_min_num_patches=16)
    correlations16 = literature.rank_correlations(table16)
    write(table, OUT / "mae_table1f")
    write(correlations, OUT / "rank_correlations")
    write(table16, OUT / "mae_table1f_block16")
    write(correlations16, OUT / "rank_correlations_block16")
    finding = literature.mae_sampling_finding(
        table,
        correlations,
        ("BEiT's pretraining blocks (min 16 patches per block)", table16, correlations16),
    )
    (OUT / "finding.md").write_text(
        f"{finding}\n\nMAE's numbers: {literature.MAE_CITATION}.\n\nMade by `{command}`.\n",
        encoding="utf-8",
    )
    plot.save(plot.literature_scatter(table, correlations), OUT / "mae_table1f")
    print(to_markdown(table))
    print(to_markdown(correlations))
    print(finding)


def replication(runs: Path) -> None:
    RUN_OUT.mkdir(parents=True, exist_ok=True)
    for name in TABLE5_FILES:
        if (runs / name).exists():
            shutil.copy2(runs / name, RUN_OUT / name)
    ours = pd.read_csv(runs / "table5.csv", index_col="configuration")
    settings = json.loads((runs / "settings.json").read_text())
    rows, correlations = literature.replication_order(ours)
    write(rows, RUN_OUT / "mae_order")
    write(correlations.reset_index().set_index("ours"), RUN_OUT / "order_correlations")
    finding = literature.replication_finding(rows, correlations, len(settings["seeds"]))
    (RUN_OUT / "finding.md").write_text(finding + "\n", encoding="utf-8")
    print(to_markdown(rows))
    print(to_markdown(correlations))
    print(finding)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2048, help="masks per row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=Path, help="a finished table5 --rows mae-sampling folder")
    args = parser.parse_args()
    if args.runs:
        replication(args.runs)
    else:
        explain(
            args.n,
            args.seed,
            f"python analysis/mae_sampling_ablation.py -n {args.n} --seed {args.seed}",
        )
