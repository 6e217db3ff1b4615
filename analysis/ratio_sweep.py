"""Regenerate figures/summary.csv, difficulty_vs_ratio, p2dist_distributions (and
p2dist_cdf.csv) and mask_gallery (PNG + PDF) with the report's defaults: random, block, simmim,
grid and multiblock masks at 224/16, mask ratios 0.5 to 0.95 (grid: the ratios it allows;
multiblock: its own), 2048 masks per setting, seed 0. Every file measures the same masks of
each setting (made once), as in ``maskstats report``.

Usage: python analysis/ratio_sweep.py
"""

from pathlib import Path

from maskstats.report import ReportSettings, report_masks, write_distribution_figures, write_sweep

FIGURES = Path(__file__).resolve().parent.parent / "figures"

if __name__ == "__main__":
    settings = ReportSettings(out=FIGURES)
    FIGURES.mkdir(exist_ok=True)
    masks = report_masks(settings, progress=True)
    summary, files = write_sweep(FIGURES, settings, per_mask_rows=False, masks=masks)
    files.update(write_distribution_figures(FIGURES, settings, masks=masks))
    print(summary.iloc[:, :11].to_string(float_format="{:.3f}".format))
    print("wrote", ", ".join(sorted(files)))
