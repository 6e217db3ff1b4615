"""Regenerate figures/metric_table.{csv,md,tex}, agreement.csv and metric_agreement (PNG +
PDF): the Tab.5-style comparison of the metrics on 2048 random masks at 224/16, mask ratios
0.75 and 0.9, seed 0 -- the same random masks as figures/summary.csv (analysis/ratio_sweep.py),
so the two agree.

Usage: python analysis/metric_table.py
"""

from pathlib import Path

from maskstats.io import to_markdown
from maskstats.report import ReportSettings, write_metric_table
from maskstats.tables import wide_metric_table

FIGURES = Path(__file__).resolve().parent.parent / "figures"

if __name__ == "__main__":
    FIGURES.mkdir(exist_ok=True)
    settings = ReportSettings(out=FIGURES, strategies=("random",))
    table, files = write_metric_table(FIGURES, settings)
    print(to_markdown(wide_metric_table(table.drop(columns="strategy"))), end="")
    print("wrote", ", ".join(sorted(files)))
