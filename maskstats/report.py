"""``maskstats report``: the sweep, the Tab.5-style table, four figures and an index.html."""

from __future__ import annotations

import html
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from maskstats import plot, sweeps, tables
from maskstats._options import option
from maskstats.masks import STRATEGIES, generate, grid_from_image
from maskstats.metrics import compute

FIG2_RATIOS = (0.75, 0.85, 0.9, 0.95)
GALLERY_RATIOS = (0.5, 0.75, 0.9, 0.95)


def default_image(img_size: int) -> np.ndarray:
    """A photo that ships inside scikit-image (the astronaut), centre-cropped and resized to
    ``img_size`` x ``img_size``; (img_size, img_size, 3) float in [0, 1]."""
    from skimage import data, transform

    photo = data.astronaut()
    side = min(photo.shape[:2])
    top = (photo.shape[0] - side) // 2
    left = (photo.shape[1] - side) // 2
    crop = photo[top : top + side, left : left + side]
    return transform.resize(crop, (img_size, img_size), anti_aliasing=True)


DEFAULT_RATIOS = tuple(round(0.5 + 0.05 * k, 10) for k in range(10))
"""0.5, 0.55, ..., 0.95."""


@dataclass
class ReportSettings:
    """What ``maskstats report`` runs; the CLI's flags and defaults come from these fields."""

    out: Path = option(Path("maskstats-report"), "output folder", kind="path")
    img_size: int = option(224, "image side in pixels", kind="positive_int")
    patch_size: int = option(16, "patch side in pixels", kind="positive_int")
    strategies: Sequence[str] = option(
        tuple(name for name in STRATEGIES if name != "difficulty"),
        f"comma-separated, from {', '.join(STRATEGIES)}",
        kind="strategies",
    )
    mask_ratios: Sequence[float] = option(
        DEFAULT_RATIOS,
        "start:stop:step (stop included) or a,b,c",
        kind="ratios",
        aliases=("--ratios",),
    )
    n: int = option(2048, "masks per setting", kind="positive_int")
    seed: int = option(0, "seed")
    table_ratios: Sequence[float] = option((0.75, 0.9), cli=False)
    gallery_metric: str = option("p2dist", cli=False)
    overwrite: bool = option(False, "replace an existing output folder")
    target_avgdist: float | None = option(
        None, "AvgDist (px) for the difficulty strategy", kind="float"
    )


def prepare_output(out: Path, overwrite: bool) -> None:
    """Create ``out``; refuse an existing non-empty folder unless ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} already exists and is not empty; pass --overwrite")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def write_sweep(
    out: Path, s: ReportSettings, progress: bool = True, per_mask_rows: bool = True
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Sweep strategies x ratios; write summary.csv (and sweep.csv, one row per mask) and the
    difficulty-vs-ratio figure. Returns the per-(strategy, ratio) summary and the files."""
    files: dict[str, Path] = {}
    table = sweeps.sweep(
        s.strategies,
        s.mask_ratios,
        s.img_size,
        s.patch_size,
        s.n,
        s.seed,
        progress=progress,
        target_avgdist=s.target_avgdist,
    )
    if per_mask_rows:
        files["sweep.csv"] = out / "sweep.csv"
        table.to_csv(files["sweep.csv"], index=False)
    summary = tables.sweep_summary(table)
    files["summary.csv"] = out / "summary.csv"
    summary.to_csv(files["summary.csv"], index=False)
    files.update(_save(plot.difficulty_vs_ratio(table), out / "difficulty_vs_ratio"))
    return summary, files


def write_distribution_figures(out: Path, s: ReportSettings) -> dict[str, Path]:
    """Fig.2-style p2dist distributions and the mask gallery (random masks)."""
    fig2_values = {}
    for k, ratio in enumerate(FIG2_RATIOS):
        masks = generate(
            "random",
            s.n,
            s.img_size,
            s.patch_size,
            ratio,
            seed=np.random.default_rng([s.seed, 2000 + k]),
        )
        fig2_values[ratio] = compute(masks, "p2dist", s.patch_size)["p2dist"][masks]
    gallery_masks = np.concatenate(
        [generate("random", 1, s.img_size, s.patch_size, r, seed=s.seed) for r in GALLERY_RATIOS]
    )
    gallery_values = compute(gallery_masks, s.gallery_metric, s.patch_size)[s.gallery_metric]
    files = _save(
        plot.p2dist_distributions(fig2_values, easy_threshold=sweeps.EASY_P2DIST),
        out / "p2dist_distributions",
    )
    gallery = plot.mask_gallery(
        default_image(s.img_size),
        gallery_masks,
        gallery_values,
        [f"mask ratio {r:g}" for r in GALLERY_RATIOS],
        s.gallery_metric,
        s.patch_size,
    )
    files.update(_save(gallery, out / "mask_gallery"))
    return files


def write_metric_table(out: Path, s: ReportSettings) -> tuple[pd.DataFrame, dict[str, Path]]:
    """The Tab.5-style table (CSV, Markdown, LaTeX), metric agreement (CSV and heatmap), on
    random masks at ``s.table_ratios``."""
    rng = np.random.default_rng([s.seed, 999])
    masks = {
        r: generate("random", s.n, s.img_size, s.patch_size, r, seed=rng) for r in s.table_ratios
    }
    table = tables.compare_metrics(patch_size=s.patch_size, masks_by_ratio=masks)
    files = {path.name: path for path in tables.export_table(table, out / "metric_table")}
    agreement = tables.metric_agreement(masks, s.patch_size)
    files["agreement.csv"] = out / "agreement.csv"
    agreement.to_csv(files["agreement.csv"], index=False)
    files.update(_save(plot.agreement_heatmap(agreement), out / "metric_agreement"))
    return table, files


def _save(fig, stem: Path) -> dict[str, Path]:
    return {path.name: path for path in plot.save(fig, stem)}


FIGURES = ("difficulty_vs_ratio", "p2dist_distributions", "mask_gallery", "metric_agreement")


def run_report(
    settings: ReportSettings, echo: Callable[[str], None] = print, progress: bool = True
) -> dict[str, Path]:
    """Run the sweep and write every table and figure into ``settings.out``.

    Returns:
        Name -> path of each file written (CSV, Markdown, LaTeX, PNG, PDF, index.html).
    """
    started = time.perf_counter()
    s = settings
    grid_from_image(s.img_size, s.patch_size)  # validate before touching the disk
    out = Path(s.out)
    prepare_output(out, s.overwrite)
    summary, files = write_sweep(out, s, progress)
    metric_table, table_files = write_metric_table(out, s)
    files.update(table_files)
    files.update(write_distribution_figures(out, s))
    headline = headline_table(summary)
    files["index.html"] = write_index(out, s, headline, metric_table, FIGURES)
    echo(headline.to_string(float_format="{:.3f}".format))
    echo(f"\nTab.5-style metric table ({', '.join(f'{r:g}' for r in s.table_ratios)}):")
    echo(metric_table.iloc[:, 3:].to_string(float_format="{:.3f}".format))
    echo(
        f"\nwrote {len(files)} files to {out}/ in {time.perf_counter() - started:.1f} s "
        f"(open {files['index.html']})"
    )
    return files


def headline_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean p2dist, avgdist and the easy/hard shares per strategy (rows) and ratio."""
    wide = summary.pivot(
        index="mask_ratio",
        columns="strategy",
        values=["p2dist", "avgdist", "easy_share", "hard_share"],
    )
    return wide.swaplevel(axis=1).sort_index(axis=1, level=0, sort_remaining=False)


def write_index(
    out: Path,
    settings: ReportSettings,
    headline: pd.DataFrame,
    metric_table: pd.DataFrame,
    figure_names: Sequence[str],
) -> Path:
    """index.html showing the figures and tables together."""
    s = settings
    figures_html = "\n".join(
        f'<figure><img src="{name}.png" alt="{name}"><figcaption>{name} '
        f'(<a href="{name}.pdf">PDF</a>)</figcaption></figure>'
        for name in figure_names
    )
    body = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>maskstats report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
img{{max-width:100%}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}</style></head><body>
<h1>maskstats report</h1>
<p>{html.escape(", ".join(s.strategies))} masks, image {s.img_size}px, patch {s.patch_size}px,
{s.n} masks per setting, seed {s.seed}. Easy: p2dist &lt; {sweeps.EASY_P2DIST};
hard: p2dist &gt; {sweeps.HARD_P2DIST} (patch units).</p>
<h2>Difficulty by strategy and mask ratio</h2>
{headline.to_html(float_format="{:.3f}".format)}
<h2>Tab.5-style metric table</h2>
{metric_table.to_html(float_format="{:.3f}".format)}
<p>Files: <a href="sweep.csv">sweep.csv</a>, <a href="summary.csv">summary.csv</a>,
<a href="metric_table.md">metric_table.md</a>, <a href="metric_table.tex">metric_table.tex</a>,
<a href="agreement.csv">agreement.csv</a></p>
<h2>Figures</h2>
{figures_html}
</body></html>
"""
    path = out / "index.html"
    path.write_text(body)
    return path
