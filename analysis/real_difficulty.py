"""Which metric predicts what the model finds hard? For every checkpoint of a table5 run,
Spearman(metric difficulty, real per-patch loss) on 512 fresh crops of builtin:natural (the
pretraining domain) with fresh masks at the run's mask ratio, pooled over patches (bootstrap
95% intervals over images in the CSV), for the raw loss and for the loss divided by the
patch's pixel variance. Writes figures/real_difficulty_natural.{csv,md}.

Usage: python analysis/real_difficulty.py [--runs runs/table5]
"""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from maskstats.mae.data import load_dataset
from maskstats.mae.evaluate import HELD_OUT_SEED, load_pretrained, real_difficulty
from maskstats.metrics import PATCH_METRICS

FIGURES = Path(__file__).resolve().parent.parent / "figures"


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds per configuration, raw loss and loss / patch variance."""
    order = list(dict.fromkeys(table["configuration"]))
    columns = [f"{n}{suffix}" for suffix in ("", " normalized") for n in PATCH_METRICS]
    summary = table.groupby("configuration")[columns].agg(["mean", "std"])
    shown = pd.DataFrame(index=order)
    for name in columns:
        label = name.replace(" normalized", " (loss/var)")
        shown[label] = [
            f"{summary.loc[c, (name, 'mean')]:.3f} ± "
            f"{np.nan_to_num(summary.loc[c, (name, 'std')]):.3f}"
            for c in order
        ]
    return shown


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", default="runs/table5")
    args = parser.parse_args()
    rows = []
    for result_path in sorted(Path(args.runs).glob("*/seed*/eval.json")):
        run = json.loads(result_path.read_text())
        model, state = load_pretrained(result_path.parent)
        seed = int(run["seed"])
        data = load_dataset(
            "builtin:natural", model.config.img_size, train=True, seed=seed + HELD_OUT_SEED
        )
        data.length = 512
        values = real_difficulty(model, data, run["mask_ratio"], seed=seed)
        row = {
            "configuration": run["row"],
            "seed": seed,
            "mean_patch_loss": values["mean_patch_loss"],
        }
        for name in PATCH_METRICS:
            row[name] = values[name]["spearman_pooled"]
            row[f"{name} lo"], row[f"{name} hi"] = values[name]["spearman_pooled_ci"]
            row[f"{name} per image"] = values[name]["spearman_per_image"]
            row[f"{name} normalized"] = values[name]["spearman_normalized"]
        rows.append(row)
        print(
            row["configuration"],
            seed,
            {n: round(row[n], 3) for n in PATCH_METRICS},
            {n: round(row[f"{n} normalized"], 3) for n in PATCH_METRICS},
        )
    table = pd.DataFrame(rows)
    FIGURES.mkdir(exist_ok=True)
    table.to_csv(FIGURES / "real_difficulty_natural.csv", index=False)
    shown = summary_table(table)
    (FIGURES / "real_difficulty_natural.md").write_text(shown.to_markdown() + "\n")
    print(shown.to_markdown())
