"""Which metric predicts what the model finds hard on Fashion-MNIST? For every checkpoint of
the Fashion-MNIST table5 run, Spearman(metric difficulty, real per-patch loss) on its held-out
probe-test images of the official test split (fresh random masks at the row's mask ratio),
pooled over masked patches: for the raw loss and for the loss divided by the patch's pixel
variance, each with a bootstrap 95% interval over images. ``maskstats table5`` measured these
in every row's evaluation (eval.json); this script collects them.

Writes figures/table5_fashion_mnist/real_difficulty.{csv,md}.

Usage: python analysis/real_difficulty_fashion_mnist.py [--runs runs/table5_fashion_mnist]
"""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from maskstats.metrics import PATCH_METRICS

OUT = Path(__file__).resolve().parent.parent / "figures" / "table5_fashion_mnist"


def collect(runs: Path) -> pd.DataFrame:
    """One row per (configuration, seed): raw and normalised Spearman with their intervals."""
    rows = []
    for path in sorted(runs.glob("*/seed*/eval.json")):
        run = json.loads(path.read_text())
        values = run["real_difficulty"]
        row = {
            "configuration": run["row"],
            "seed": int(run["seed"]),
            "mask_ratio": run["mask_ratio"],
            "images": values.get("images", min(run["n_test"], 512)),  # older runs: at most 512
            "mean_patch_loss": values["mean_patch_loss"],
        }
        for name in PATCH_METRICS:
            v = values[name]
            row[name] = v["spearman_pooled"]
            row[f"{name} lo"], row[f"{name} hi"] = v["spearman_pooled_ci"]
            row[f"{name} normalized"] = v["spearman_normalized"]
            lo, hi = v.get("spearman_normalized_ci", (np.nan, np.nan))
            row[f"{name} normalized lo"], row[f"{name} normalized hi"] = lo, hi
        rows.append(row)
    return pd.DataFrame(rows)


def summary_table(table: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Per configuration, mean over seeds with the widest seed's 95% interval."""
    shown = pd.DataFrame(index=order)
    for suffix, label in (("", "loss"), (" normalized", "loss/var")):
        for name in PATCH_METRICS:
            cells = []
            for configuration in order:
                part = table[table["configuration"] == configuration]
                mean = part[f"{name}{suffix}"].mean()
                lo, hi = part[f"{name}{suffix} lo"].min(), part[f"{name}{suffix} hi"].max()
                cells.append(f"{mean:+.3f} [{lo:+.3f}, {hi:+.3f}]")
            shown[f"{name} ({label})"] = cells
    return shown


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", default="runs/table5_fashion_mnist")
    args = parser.parse_args()
    table = collect(Path(args.runs))
    order = list(dict.fromkeys(table["configuration"]))
    settings = Path(args.runs) / "table5.csv"
    if settings.exists():  # the table's row order
        order = [c for c in pd.read_csv(settings)["configuration"] if c in set(order)]
    OUT.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT / "real_difficulty.csv", index=False)
    shown = summary_table(table, order)
    (OUT / "real_difficulty.md").write_text(shown.to_markdown() + "\n")
    print(shown.to_markdown())
