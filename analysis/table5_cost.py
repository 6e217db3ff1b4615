"""What one table5 row costs on this machine: per (row, seed), the pretraining wall time and
step time (from summary.json) and the evaluation time (eval.json's write time minus the
checkpoint's), to size a table5 run to a time budget.

Writes figures/table5_fashion_mnist/cost.{csv,md}.

Usage: python analysis/table5_cost.py [--runs runs/table5_fashion_mnist]
"""

import argparse
import json
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parent.parent / "figures" / "table5_fashion_mnist"

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", default="runs/table5_fashion_mnist")
    args = parser.parse_args()
    rows = []
    for path in sorted(Path(args.runs).glob("*/seed*/eval.json")):
        run = json.loads(path.read_text())
        checkpoint = path.parent / "checkpoint.pt"
        rows.append(
            {
                "configuration": run["row"],
                "seed": run["seed"],
                "steps": run["train"]["step"],
                "pretrain wall s": run["train"]["wall_s"],
                "step ms": run["train"]["step_ms"],
                "eval s": path.stat().st_mtime - checkpoint.stat().st_mtime,
            }
        )
    table = pd.DataFrame(rows)
    OUT.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT / "cost.csv", index=False)
    total = table["pretrain wall s"].sum() + table["eval s"].sum()
    text = table.to_markdown(index=False, floatfmt=".1f")
    text += (
        f"\n\nTotal: {total / 60:.1f} min for {len(table)} (row, seed) pairs; median pretraining "
        f"{table['pretrain wall s'].median():.0f} s, median evaluation "
        f"{table['eval s'].median():.0f} s.\n"
    )
    (OUT / "cost.md").write_text(text)
    print(text)
