"""Redraw figures/table5_fashion_mnist/ (table5.png/.pdf, .md, .tex, spearman_by_metric.md, and
separation.md where separation.csv was committed) from the committed numbers in FOLDER's
table5.csv and spearman_by_metric.csv, without retraining.

Usage: python analysis/table5_replot.py [FOLDER]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from maskstats.mae.table5 import write_tables

FOLDER = Path(__file__).resolve().parent.parent / "figures" / "table5_fashion_mnist"

if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else FOLDER
    tables = {
        "table": pd.read_csv(folder / "table5.csv", index_col="configuration"),
        "spearman": pd.read_csv(folder / "spearman_by_metric.csv", index_col="configuration"),
    }
    if (folder / "separation.csv").exists():
        separation = pd.read_csv(folder / "separation.csv")
        separation[["best", "worst"]] = separation[["best", "worst"]].fillna("")
        tables["separation"] = separation
    for path in write_tables(tables, folder):
        print("wrote", path)
