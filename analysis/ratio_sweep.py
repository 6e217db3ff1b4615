"""Regenerate figures/summary.csv, difficulty_vs_ratio, p2dist_distributions and mask_gallery
(PNG + PDF) with the report's defaults: random, block, simmim, grid and multiblock masks at
224/16, mask ratios 0.5 to 0.95 (grid: the ratios it allows; multiblock: its own), 2048 masks
per setting, seed 0.

Usage: python analysis/ratio_sweep.py
"""

from pathlib import Path

from maskstats.report import ReportSettings, write_distribution_figures, write_sweep

FIGURES = Path(__file__).resolve().parent.parent / "figures"

if __name__ == "__main__":
    settings = ReportSettings(out=FIGURES)
    FIGURES.mkdir(exist_ok=True)
    summary, files = write_sweep(FIGURES, settings, per_mask_rows=False)
    files.update(write_distribution_figures(FIGURES, settings, summary=summary))
    print(summary.to_string(float_format="{:.3f}".format))
    print("wrote", ", ".join(sorted(files)))
