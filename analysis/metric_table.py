"""Regenerate figures/metric_table.{csv,md,tex}, agreement.csv and metric_agreement (PNG +
PDF): the Tab.5-style comparison of the metrics on 2048 random masks at 224/16, mask ratios
0.75 and 0.9, seed 0.

Usage: python analysis/metric_table.py
"""

from pathlib import Path

from maskstats.report import ReportSettings, write_metric_table

FIGURES = Path(__file__).resolve().parent.parent / "figures"

if __name__ == "__main__":
    FIGURES.mkdir(exist_ok=True)
    table, files = write_metric_table(FIGURES, ReportSettings(out=FIGURES))
    print(table.to_markdown(floatfmt=".3f"))
    print("wrote", ", ".join(sorted(files)))
