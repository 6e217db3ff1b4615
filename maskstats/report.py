"""``maskstats report``: the sweep, the Tab.5-style table, four figures and an index.html that
reads like a paper's appendix.

The report is built in a temporary folder beside ``out`` and moved into place only when
complete, with a manifest (``maskstats-report.json``: settings and file list). ``overwrite``
replaces only a folder holding such a manifest and nothing the report did not write; it never
touches ``/``, the home folder or the current folder (or a folder above it)."""

from __future__ import annotations

import datetime
import html
import json
import os
import platform
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from maskstats._options import option
from maskstats.masks import STRATEGIES, generate, grid_from_image

if TYPE_CHECKING:  # pandas and matplotlib load only when a report runs
    import pandas as pd

FIG2_RATIOS = (0.75, 0.85, 0.9, 0.95)
GALLERY_RATIOS = (0.5, 0.75, 0.9, 0.95)
MANIFEST = "maskstats-report.json"
"""The file that marks a folder as a maskstats report (settings, version, files)."""
PX_PER_INCH = 120
"""Figures are shown at this many CSS pixels per figure inch, all alike (one scale)."""


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
    overwrite: bool = option(False, "replace an existing report folder (only a maskstats report)")
    target_avgdist: float | None = option(
        None, "AvgDist (px) for the difficulty strategy", kind="float"
    )
    command: str = option("", cli=False)


@dataclass
class Skipped:
    """Settings the report could not make (a difficulty target out of reach), with why."""

    items: list[tuple[str, float, str]] = field(default_factory=list)

    def add(self, strategy: str, ratio: float, reason: str) -> None:
        """Record a setting that could not be made (once), with the first line of why."""
        key = (strategy, float(ratio))
        if all((s, r) != key for s, r, _ in self.items):
            self.items.append((strategy, float(ratio), reason.splitlines()[0]))

    def lines(self) -> list[str]:
        """One sentence per skipped setting."""
        return [f"{s} masks at mask ratio {r:g}: {why}" for s, r, why in self.items]


# --------------------------------------------------------------------------- the output folder


def _protected(path: Path) -> str | None:
    """Why ``path`` may never be replaced, or None."""
    resolved = path.resolve()
    if resolved == Path(resolved.anchor):
        return "it is the file system's root"
    home = Path.home().resolve()
    if resolved == home or resolved in home.parents:
        return "it is your home folder" if resolved == home else "it holds your home folder"
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        return "it is the current folder" if resolved == cwd else "it holds the current folder"
    return None


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a report folder, or None when ``folder`` is not a maskstats report."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("tool") != "maskstats report":
        return None
    return manifest


def check_output(out: Path, overwrite: bool) -> None:
    """Refuse, before any work, an output the report may not write or replace.

    A new or empty folder is fine. An existing one needs ``overwrite`` and must be a
    maskstats report (its manifest lists every file in it) that is not ``/``, the home folder
    or the current folder (or above them).

    Raises:
        FileExistsError, ValueError: one line saying why.
    """
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if not out.exists() or not any(out.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(f"{out} already exists and is not empty; pass --overwrite")
    why = _protected(out)
    if why:
        raise ValueError(f"refusing to replace {out}: {why}; pass a new --out folder")
    manifest = read_manifest(out)
    if manifest is None:
        raise ValueError(
            f"refusing to replace {out}: it is not a maskstats report (no {MANIFEST}); "
            "pass a new --out folder"
        )
    listed = set(manifest.get("files", [])) | {MANIFEST}
    foreign = sorted(p.name for p in out.iterdir() if p.name not in listed)
    if foreign:
        shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise ValueError(
            f"refusing to replace {out}: it holds files the report did not write ({shown})"
        )


def _sibling(out: Path, kind: str) -> Path:
    return out.parent / f".{out.name}.{kind}-{os.getpid()}-{os.urandom(3).hex()}"


def _swap_in(build: Path, out: Path) -> None:
    """Move the finished report ``build`` to ``out``; an old report is removed only after the
    new one is in place."""
    if out.exists() and not any(out.iterdir()):
        for path in build.iterdir():
            path.rename(out / path.name)
        build.rmdir()
        return
    if out.exists():
        old = _sibling(out, "old")
        out.rename(old)
        build.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        build.rename(out)


# --------------------------------------------------------------------------- the computations


def _ratios_for(wanted: Sequence[float], asked: Sequence[float], count: int = 4) -> list[float]:
    """Ratios for a figure: ``wanted`` where the sweep asked for them, else ``count`` of the
    asked ratios spread evenly (the figures show what was asked)."""
    asked = sorted(dict.fromkeys(float(r) for r in asked))
    chosen = [r for r in wanted if any(abs(r - a) < 1e-9 for a in asked)]
    if len(chosen) >= min(count, len(asked)):
        return chosen
    if len(asked) <= count:
        return asked
    index = np.round(np.linspace(0, len(asked) - 1, count)).astype(int)
    return [asked[i] for i in dict.fromkeys(index.tolist())]


def _spec(spec: str) -> object | None:
    """The resolved strategy spec (``maskstats.masks.resolve_strategy``, where this version
    of the masks package has it), else None."""
    from maskstats import masks as mask_lib

    resolve = getattr(mask_lib, "resolve_strategy", None)
    try:
        return resolve(spec) if resolve is not None else None
    except ValueError:
        return None


def display_name(spec: str) -> str:
    """The sweep's ``strategy`` column for a spec: the built-in name, the callable's name or
    the mask file's name."""
    resolved = _spec(spec)
    return getattr(resolved, "name", spec)


def _grid_nominal(ratio: float, grid: tuple[int, int]) -> float:
    """Grid masks: the nominal 1 - 1/s**2 behind a recorded (achieved) share."""
    from maskstats import masks as mask_lib

    grid_ratios = getattr(mask_lib, "grid_ratios", None)
    if grid_ratios is None:
        return ratio
    for side, nominal in grid_ratios(grid).items():
        kept = -(-grid[0] // side) * -(-grid[1] // side)
        if abs(1 - kept / (grid[0] * grid[1]) - ratio) < 5e-4 or abs(nominal - ratio) < 5e-4:
            return nominal
    return ratio


def _masks(
    s: ReportSettings, spec: str, ratio: float, n: int, seed: object, skipped: Skipped
) -> np.ndarray | None:
    """``n`` masks of a strategy spec at ``ratio``, or None (recorded in ``skipped``) where
    they cannot be made (a difficulty target out of reach, a ratio the strategy does not
    have). A mask file gives its first ``n`` masks; multiblock ignores the ratio."""
    resolved = _spec(spec)
    name = getattr(resolved, "name", spec)
    grid = grid_from_image(s.img_size, s.patch_size)
    try:
        if getattr(resolved, "kind", None) == "file":
            return resolved.load(grid)[:n]
        if name == "grid":
            ratio = _grid_nominal(ratio, grid)
        return generate(
            spec,
            n,
            s.img_size,
            s.patch_size,
            ratio,
            seed=seed,
            target_avgdist=s.target_avgdist,
        )
    except ValueError as error:
        skipped.add(name, ratio, str(error))
        return None


def _available(summary: pd.DataFrame) -> dict[str, list[float]]:
    """Display name -> the mask ratios the sweep made for it."""
    return {
        name: sorted(rows["mask_ratio"].astype(float))
        for name, rows in summary.groupby("strategy", sort=False)
    }


def _sweep_or_explain(sweeps, caught: list, *args, **kwargs) -> pd.DataFrame:
    """``sweeps.sweep``; when every setting was out of reach, one line saying so."""
    try:
        return sweeps.sweep(*args, **kwargs)
    except ValueError:
        reasons = [str(w.message) for w in caught if str(w.message).startswith("skipping ")]
        if not reasons:
            raise
        first = reasons[0].partition(": ")[2].splitlines()[0]
        raise ValueError(
            f"nothing to report: the difficulty target is out of reach at every mask ratio "
            f"({first})"
        ) from None


def write_sweep(
    out: Path,
    s: ReportSettings,
    progress: bool = True,
    per_mask_rows: bool = True,
    skipped: Skipped | None = None,
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Sweep strategies x ratios; write summary.csv (and sweep.csv, one row per mask) and the
    difficulty-vs-ratio figure.

    Args:
        out: folder to write into.
        s: the report's settings.
        progress: show a progress bar.
        per_mask_rows: also write sweep.csv.
        skipped: collects settings out of reach (difficulty targets).

    Returns:
        The per-(strategy, ratio) summary (means over masks) and the files written.
    """
    from maskstats import plot, sweeps, tables

    skipped = skipped if skipped is not None else Skipped()
    files: dict[str, Path] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = _sweep_or_explain(
            sweeps,
            caught,
            s.strategies,
            s.mask_ratios,
            s.img_size,
            s.patch_size,
            s.n,
            s.seed,
            progress=progress,
            target_avgdist=s.target_avgdist,
        )
    for warning in caught:
        text = str(warning.message)
        if text.startswith("skipping ") and " at mask ratio " in text:
            head, _, reason = text.partition(": ")
            strategy = head.split()[1]
            ratio = float(head.split(" at mask ratio ")[1])
            skipped.add(strategy, ratio, reason)
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    # A mask that hides every patch has no distance (AvgDist NaN): its per-patch means and
    # shares are undefined too, not 0.
    undefined = ~np.isfinite(table["avgdist"].to_numpy(np.float64))
    if undefined.any():
        columns = [c for c in table.columns if c not in ("strategy", "mask_ratio", "mask")]
        columns = [c for c in columns if c not in ("n_masked", "avgdist")]
        table.loc[undefined, columns] = np.nan
    if per_mask_rows:
        files["sweep.csv"] = out / "sweep.csv"
        table.to_csv(files["sweep.csv"], index=False)
    summary = tables.sweep_summary(table)
    files["summary.csv"] = out / "summary.csv"
    summary.to_csv(files["summary.csv"], index=False)
    files.update(_save(plot.difficulty_vs_ratio(table), out / "difficulty_vs_ratio"))
    return summary, files


def write_distribution_figures(
    out: Path,
    s: ReportSettings,
    skipped: Skipped | None = None,
    summary: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Fig.2-style p2dist distributions (a panel per strategy) and the mask gallery (a row per
    strategy), at the asked ratios closest to the paper's.

    Returns:
        The files written.
    """
    from maskstats import plot, sweeps
    from maskstats.metrics import compute

    skipped = skipped if skipped is not None else Skipped()
    available = _available(summary) if summary is not None else {}
    fig2_values: dict[str, dict[float, np.ndarray]] = {}
    for strategy in s.strategies:
        name = display_name(strategy)
        ratios = _ratios_for(FIG2_RATIOS, available.get(name, s.mask_ratios))
        fig2_values[name] = {}
        for k, ratio in enumerate(ratios):
            rng = np.random.default_rng([s.seed, 2000 + k])
            masks = _masks(s, strategy, ratio, s.n, rng, skipped)
            if masks is not None:
                p2 = compute(masks, "p2dist", s.patch_size, on_empty="nan")["p2dist"][masks]
                fig2_values[name][ratio] = p2[np.isfinite(p2)]
    fig2_values = {k: v for k, v in fig2_values.items() if v}
    files: dict[str, Path] = {}
    if fig2_values:
        files.update(
            _save(
                plot.p2dist_distributions(
                    fig2_values,
                    easy_threshold=sweeps.EASY_P2DIST,
                    img_size=s.img_size,
                    patch_size=s.patch_size,
                ),
                out / "p2dist_distributions",
            )
        )
    # Strategies with ratios of their own (grid, multiblock, mask files) are left out of the
    # gallery's ratio columns; the gallery shows the ratios every other strategy could make.
    swept = [st for st in s.strategies if _follows_ratio(st)]
    gallery_ratios = _ratios_for(GALLERY_RATIOS, s.mask_ratios)
    made = {(st, r): _masks(s, st, r, 1, s.seed, Skipped()) for st in swept for r in gallery_ratios}
    columns = [r for r in gallery_ratios if all(made[(st, r)] is not None for st in swept)]
    if swept and columns:
        gallery_masks = np.concatenate([made[(st, r)] for st in swept for r in columns])
        values = compute(gallery_masks, s.gallery_metric, s.patch_size, on_empty="nan")
        gallery = plot.mask_gallery(
            default_image(s.img_size),
            gallery_masks,
            values[s.gallery_metric],
            [f"mask ratio {r:g}" for r in columns],
            s.gallery_metric,
            s.patch_size,
            rows=[display_name(st) for st in swept],
            img_size=s.img_size,
        )
        files.update(_save(gallery, out / "mask_gallery"))
    return files


def _with_visible(
    masks: np.ndarray | None, strategy: str, ratio: float, skipped: Skipped
) -> np.ndarray | None:
    """The masks that keep a visible patch (distances are undefined without one); None, and
    a note in ``skipped``, when none does."""
    if masks is None:
        return None
    keep = ~masks.all(axis=(1, 2))
    if not keep.any():
        skipped.add(strategy, ratio, "every mask hides every patch (no distance defined)")
        return None
    return masks[keep]


def _follows_ratio(spec: str) -> bool:
    """Whether a strategy makes masks at any asked ratio (not grid, multiblock or a file)."""
    resolved = _spec(spec)
    return display_name(spec) != "grid" and not getattr(resolved, "own_ratio", False)


def write_metric_table(
    out: Path,
    s: ReportSettings,
    skipped: Skipped | None = None,
    summary: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """The Tab.5-style table (CSV, Markdown, LaTeX) and metric agreement (CSV and heatmap),
    per strategy, at ``s.table_ratios`` (those of the asked ratios when they include them).

    Returns:
        The table (one row per strategy and metric; the strategy is the first column when
        there are several) and the files written.
    """
    import pandas as pd

    from maskstats import plot, tables
    from maskstats.io import export_table

    skipped = skipped if skipped is not None else Skipped()
    available = _available(summary) if summary is not None else {}
    parts, agreements = [], []
    for spec in s.strategies:
        strategy = display_name(spec)
        ratios = _ratios_for(s.table_ratios, available.get(strategy, s.mask_ratios), count=2)
        rng = np.random.default_rng([s.seed, 999])
        masks = {r: _masks(s, spec, r, s.n, rng, skipped) for r in ratios}
        masks = {r: _with_visible(m, strategy, r, skipped) for r, m in masks.items()}
        masks = {r: m for r, m in masks.items() if m is not None}
        if not masks:
            continue
        part = tables.compare_metrics(patch_size=s.patch_size, masks_by_ratio=masks)
        part.insert(0, "strategy", strategy)
        parts.append(part)
        agreement = tables.metric_agreement(masks, s.patch_size)
        agreement.insert(0, "strategy", strategy)
        agreements.append(agreement)
    files: dict[str, Path] = {}
    if not parts:
        return pd.DataFrame(), files
    table = pd.concat(parts)
    if len(parts) == 1:
        table = table.drop(columns="strategy")
    files.update({path.name: path for path in export_table(table, out / "metric_table")})
    agreement = pd.concat(agreements, ignore_index=True)
    files["agreement.csv"] = out / "agreement.csv"
    agreement.to_csv(files["agreement.csv"], index=False)
    heatmap = plot.agreement_heatmap(agreement, img_size=s.img_size, patch_size=s.patch_size)
    files.update(_save(heatmap, out / "metric_agreement"))
    return table, files


def _save(fig, stem: Path) -> dict[str, Path]:
    from maskstats import plot

    return {path.name: path for path in plot.save(fig, stem)}


FIGURES = ("difficulty_vs_ratio", "p2dist_distributions", "mask_gallery", "metric_agreement")


def run_report(
    settings: ReportSettings,
    echo: Callable[[str], None] = print,
    progress: bool = True,
    notice: Callable[[], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Run the sweep and write every table and figure into ``settings.out``, atomically:
    built beside it, moved into place when complete (a failure leaves any old report as it
    was).

    Args:
        settings: what to run.
        echo: prints the summary.
        progress: show progress bars.
        notice: called once before the first metric computation (the CLI's "compiling
            kernels" line).
        warn: prints each setting left out (default: a line on stderr).

    Returns:
        Name -> path of each file written (CSV, Markdown, LaTeX, PNG, PDF, index.html,
        the manifest), inside ``settings.out``.
    """
    started = time.perf_counter()
    s = settings
    grid_from_image(s.img_size, s.patch_size)  # validate before touching the disk
    if "difficulty" in s.strategies and s.target_avgdist is None:
        raise ValueError("strategy difficulty needs target_avgdist (--target-avgdist)")
    out = Path(s.out)
    check_output(out, s.overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    build = _sibling(out, "building")
    build.mkdir()
    skipped = Skipped()
    try:
        if notice is not None:
            notice()
        summary, files = write_sweep(build, s, progress, skipped=skipped)
        metric_table, table_files = write_metric_table(build, s, skipped, summary)
        files.update(table_files)
        files.update(write_distribution_figures(build, s, skipped, summary))
        elapsed = time.perf_counter() - started
        files["index.html"] = write_index(build, s, summary, metric_table, files, skipped, elapsed)
        names = sorted([*files, MANIFEST])
        manifest = {
            "tool": "maskstats report",
            "version": _version(),
            "created": _now(),
            "command": s.command,
            "settings": _jsonable(asdict(s)),
            "skipped": skipped.lines(),
            "files": names,
        }
        (build / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _swap_in(build, out)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    files = {name: out / name for name in names}
    warn = warn or (lambda line: print(line, file=sys.stderr))
    for line in skipped.lines():
        warn(f"maskstats report: left out {line}")
    echo(headline_table(summary).to_string(float_format="{:.3f}".format))
    if len(metric_table):
        shown = [r for r in metric_table.columns if "decile" not in r]
        echo(f"\nTab.5-style metric table ({', '.join(f'{r:g}' for r in s.table_ratios)}):")
        echo(metric_table[shown].to_string(float_format="{:.3f}".format))
    echo(
        f"\nwrote {len(files)} files to {out}/ in {time.perf_counter() - started:.1f} s "
        f"(open {files['index.html']})"
    )
    return files


def _jsonable(value: object) -> object:
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _version() -> str:
    import maskstats

    return maskstats.__version__


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def machine_line() -> str:
    """CPU model, cores, OS and the Python/numba versions, in one line."""
    import numba

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, numba {numba.__version__}"
    )


# --------------------------------------------------------------------------- tables and words


def headline_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per strategy and mask ratio: mean P²Dist, AvgDist and the easy/hard shares,
    with readable headers and units."""
    table = summary[["strategy", "mask_ratio", "p2dist", "avgdist", "easy_share", "hard_share"]]
    table = table.rename(
        columns={
            "mask_ratio": "mask ratio",
            "p2dist": "mean P²Dist [patch]",
            "avgdist": "AvgDist [px]",
            "easy_share": "easy share",
            "hard_share": "hard share",
        }
    )
    table = table.copy()
    # A setting whose masks hide every patch has no distance: blank, not 0.
    undefined = ~np.isfinite(table["AvgDist [px]"].to_numpy(np.float64))
    table.loc[undefined, ["mean P²Dist [patch]", "easy share", "hard share"]] = np.nan
    return table.set_index(["strategy", "mask ratio"])


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%" if np.isfinite(value) else "n/a"


def _move(start: float, end: float) -> str:
    """'falls from 81% to 2%', 'rises from 1% to 71%' or 'stays at 34%'."""
    a, b = _pct(start), _pct(end)
    if a == b:
        return f"stays at {a}"
    return f"{'falls' if end < start else 'rises'} from {a} to {b}"


def sweep_finding(summary: pd.DataFrame) -> str:
    """One sentence, from the numbers: how the easy and hard shares move with the ratio."""
    parts = []
    defined = summary[np.isfinite(summary["avgdist"].to_numpy(np.float64))]
    for strategy, rows in defined.groupby("strategy", sort=False):
        rows = rows.sort_values("mask_ratio")
        if len(rows) < 2:
            only = rows.iloc[0]
            parts.append(
                f"{strategy} masks at ratio {only.mask_ratio:g} leave {_pct(only.easy_share)} of "
                f"masked patches easy and {_pct(only.hard_share)} hard"
            )
            continue
        lo, hi = rows.iloc[0], rows.iloc[-1]
        easy = _move(lo.easy_share, hi.easy_share)
        hard = _move(lo.hard_share, hi.hard_share)
        parts.append(
            f"with {strategy} masks, from ratio {lo.mask_ratio:g} to {hi.mask_ratio:g}, the easy "
            f"share {easy} while the hard share {hard}"
        )
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "." if text else ""


def metric_finding(table: pd.DataFrame) -> str:
    """One sentence: which metric ranks patches most like P²Dist, per strategy."""
    if table.empty or "spearman vs p2dist" not in table.columns:
        return ""
    parts = []
    by = table.groupby("strategy", sort=False) if "strategy" in table.columns else [("", table)]
    for strategy, rows in by:
        others = rows.drop(index="p2dist", errors="ignore")["spearman vs p2dist"].dropna()
        if others.empty:
            continue
        best, worst = others.idxmax(), others.idxmin()
        where = f" on {strategy} masks" if strategy else ""
        parts.append(
            f"{best} ranks masked patches most like P²Dist{where} (Spearman "
            f"{others[best]:.2f}), {worst} least ({others[worst]:.2f})"
        )
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "." if text else ""


def agreement_finding(agreement: pd.DataFrame) -> str:
    """One sentence: the mean off-diagonal Spearman per mask ratio."""
    chosen = agreement[
        (agreement["method"] == "spearman") & (agreement["metric_a"] != agreement["metric_b"])
    ]
    if chosen.empty:
        return ""
    means = chosen.groupby("mask_ratio")["correlation"].mean()
    shown = ", ".join(f"{v:.2f} at ratio {r:g}" for r, v in means.items())
    if len(means) > 1:
        trend = "more" if means.iloc[-1] > means.iloc[0] else "less"
        return f"The metrics agree {trend} at higher mask ratios: mean pairwise Spearman {shown}."
    return f"Mean pairwise Spearman between the metrics: {shown}."


def distribution_finding(summary: pd.DataFrame, ratios: Sequence[float]) -> str:
    """One sentence: the easy share at the lowest and highest ratio shown in the figure."""
    parts = []
    defined = summary[np.isfinite(summary["avgdist"].to_numpy(np.float64))]
    for strategy, rows in defined.groupby("strategy", sort=False):
        rows = rows[rows["mask_ratio"].round(9).isin([round(r, 9) for r in ratios])]
        if rows.empty:
            continue
        rows = rows.sort_values("mask_ratio")
        lo, hi = rows.iloc[0], rows.iloc[-1]
        parts.append(
            f"{_pct(lo.easy_share)} of {strategy} masks' masked patches are easy at "
            f"{lo.mask_ratio:g}, {_pct(hi.easy_share)} at {hi.mask_ratio:g}"
        )
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "." if text else ""


def _cell(value: object, column: str) -> str:
    if value is None or (isinstance(value, float | np.floating) and not np.isfinite(value)):
        return ""
    if isinstance(value, float | np.floating):
        if "share" in column or "decile" in column:
            return f"{100 * value:.1f}%"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    text = str(value)
    return "" if text.lower() in ("nan", "nan ± nan") else text


def _index_text(value: object) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:g}" if np.isfinite(value) else ""
    return "" if value is None else str(value)


def html_table(table: pd.DataFrame, caption: str = "") -> str:
    """A plain HTML table in its own scrolling box: one header row (the index names head the
    first columns), blanks for NaN, shares in %, numbers right-aligned and never wrapped."""
    index_names = [str(n) if n else "" for n in table.index.names]
    header = "".join(f"<th>{html.escape(n)}</th>" for n in index_names)
    import pandas as pd

    def numeric(column: object) -> bool:
        values = table[column]
        return pd.api.types.is_numeric_dtype(values) or values.astype(str).str.contains("±").any()

    num = ' class="num"'
    header += "".join(
        f"<th{num if numeric(c) else ''}>{html.escape(str(c))}</th>" for c in table.columns
    )
    body = []
    for index, row in zip(table.index, table.itertuples(index=False), strict=True):
        keys = index if isinstance(index, tuple) else (index,)
        cells = "".join(f"<th>{html.escape(_index_text(k))}</th>" for k in keys)
        for column, value in zip(table.columns, row, strict=True):
            numeric = isinstance(value, float | int | np.number) or "±" in str(value)
            css = ' class="num"' if numeric else ""
            cells += f"<td{css}>{html.escape(_cell(value, str(column)))}</td>"
        body.append(f"<tr>{cells}</tr>")
    note = f'<p class="note">{html.escape(caption)}</p>' if caption else ""
    return (
        f'{note}<div class="scroll"><table><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _metric_display(table: pd.DataFrame) -> pd.DataFrame:
    """The metric table with readable headers (units in the header, shares in %)."""
    renamed = {}
    for column in table.columns:
        text = str(column)
        if text.startswith("mean ± std @"):
            text = f"mean ± std, ratio {text.split('@')[1]}"
        elif text.startswith("easiest decile @"):
            text = f"in easiest decile, ratio {text.split('@')[1]}"
        elif text.startswith("hardest decile @"):
            text = f"in hardest decile, ratio {text.split('@')[1]}"
        elif text == "spearman vs p2dist":
            text = "Spearman vs P²Dist"
        renamed[column] = text
    shown = table.rename(columns=renamed)
    if "strategy" in shown.columns:
        shown = shown.set_index("strategy", append=True).swaplevel()
    return shown


FIGURE_TEXT = {
    "difficulty_vs_ratio": (
        "Difficulty vs mask ratio",
        "Each panel is one metric's per-mask mean (a line per strategy: the mean over masks; "
        "the band: 10th to 90th percentile). Arrows in the axis labels say which way is "
        "harder; the grey band in the AvgDist panel is SimMIM's 'moderate' 10–20 px.",
    ),
    "p2dist_distributions": (
        "How hard are masked patches? (P²Dist distributions)",
        "Share of masked patches per P²Dist bin (0.25 patch wide), a line per mask ratio, a "
        "panel per strategy. Left of the dashed line (P²Dist < 0.5) a patch has visible pixels "
        "on at least two sides: easy.",
    ),
    "mask_gallery": (
        "Example masks",
        "One mask per strategy (rows) and ratio (columns) over a photo: visible patches show "
        "the photo, masked patches are coloured by their P²Dist (colour bar; brighter = "
        "harder).",
    ),
    "metric_agreement": (
        "Do the metrics agree?",
        "Spearman rank correlation between metrics over the same masked patches, per mask "
        "ratio. Every metric is first oriented so that higher = harder, so +1 means identical "
        "ranking and 0 no relation.",
    ),
}


def _figure_html(build: Path, name: str, finding: str) -> str:
    title, caption = FIGURE_TEXT[name]
    png = build / f"{name}.png"
    width = ""
    try:
        from matplotlib import image as mpimg

        pixels = mpimg.imread(png).shape[1]
        width = f' width="{round(pixels / 200 * PX_PER_INCH)}"'
    except (OSError, ValueError, SyntaxError):  # pragma: no cover - no PNG: no width
        pass
    finding_html = f"<p class=finding>{html.escape(finding)}</p>" if finding else ""
    return (
        f"<section><h2>{html.escape(title)}</h2>{finding_html}"
        f'<figure><img src="{name}.png"{width} alt="{html.escape(title)}">'
        f"<figcaption>{html.escape(caption)} "
        f'(<a href="{name}.pdf">PDF</a>, <a href="{name}.png">PNG</a>)</figcaption>'
        "</figure></section>"
    )


FILE_TEXT = {
    "sweep.csv": "one row per (strategy, ratio, mask): every metric's mean over its patches",
    "summary.csv": "means per strategy and ratio (the first table)",
    "metric_table.csv": "the metric table, numbers",
    "metric_table.md": "the metric table, Markdown",
    "metric_table.tex": "the metric table, LaTeX (a tabular for pdflatex)",
    "agreement.csv": "Spearman and Kendall correlations between metrics",
    MANIFEST: "settings, version and file list of this report",
}

CSS = """
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
max-width:1000px;margin:0 auto;padding:1em 16px 3em}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.2em;margin:1.6em 0 .4em;
border-bottom:1px solid #ddd}
header dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.1em 1em;
font-size:.9em;margin:.6em 0}
header dt{color:#666}header dd{margin:0;overflow-wrap:anywhere}
code{font-size:.9em;background:#f4f4f4;padding:0 .2em;overflow-wrap:anywhere}
.finding{border-left:3px solid #0072b2;padding:.1em 0 .1em .7em;margin:.6em 0}
.note{font-size:.85em;color:#555;margin:.6em 0 .2em}
figure{margin:.6em 0}
img{max-width:100%;height:auto;display:block}
figcaption{font-size:.9em;color:#444;margin-top:.3em}
.scroll{overflow-x:auto;max-width:100%;margin:.4em 0}
table{border-collapse:collapse;font-size:.85em}
th,td{border-bottom:1px solid #e4e4e4;padding:.2em .6em;white-space:nowrap;text-align:left}
thead th{border-bottom:2px solid #999;vertical-align:bottom}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.skipped{background:#fff4e5;border-left:4px solid #e69f00;padding:.4em .8em}
ul.files{padding-left:1.2em}
"""


def write_index(
    out: Path,
    settings: ReportSettings,
    summary: pd.DataFrame,
    metric_table: pd.DataFrame,
    files: Mapping[str, Path],
    skipped: Skipped | None = None,
    elapsed: float | None = None,
) -> Path:
    """index.html: a header (command, version, date, machine), each table and figure with a
    caption and its headline finding, the settings left out, and links to every file. Only
    relative links, so the folder can be moved.

    Args:
        out: the folder holding the files (index.html is written there).
        settings: the report's settings.
        summary: :func:`maskstats.tables.sweep_summary` of the sweep.
        metric_table: :func:`write_metric_table`'s table.
        files: name -> path of every file written so far (linked at the end).
        skipped: settings out of reach.
        elapsed: seconds the report took.

    Returns:
        The path of index.html.
    """
    import pandas as pd

    from maskstats.sweeps import EASY_P2DIST, HARD_P2DIST

    s = settings
    skipped = skipped or Skipped()
    command = s.command or _equivalent_command(s)
    ratios = ", ".join(f"{r:g}" for r in s.mask_ratios)
    took = f" (the report took {elapsed:.0f} s)" if elapsed is not None else ""
    header = f"""<header><h1>maskstats report</h1>
<p>How hard is each masked patch to reconstruct? {html.escape(", ".join(s.strategies))} masks
on a {s.img_size // s.patch_size}×{s.img_size // s.patch_size} patch grid ({s.img_size} px
images, {s.patch_size} px patches), {s.n} masks per setting, mask ratios {ratios}.
Easy: P²Dist &lt; {EASY_P2DIST} patch (visible pixels on two sides); hard: P²Dist &gt;
{HARD_P2DIST} patch. Definitions: P²Dist is the mean distance of a masked patch's pixels to the
nearest visible pixel, in patches; AvgDist (SimMIM) the same over a whole mask, in pixels.</p>
<dl><dt>command</dt><dd><code>{html.escape(command)}</code></dd>
<dt>maskstats</dt><dd>{html.escape(_version())}</dd>
<dt>date</dt><dd>{_now()}{took}</dd>
<dt>machine</dt><dd>{html.escape(machine_line())}</dd>
<dt>seed</dt><dd>{s.seed}{
        f"; difficulty target AvgDist {s.target_avgdist:g} px" if s.target_avgdist else ""
    }</dd></dl></header>"""
    parts = [header]
    if skipped.items:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in skipped.lines())
        parts.append(
            '<section class="skipped"><h2>Settings left out</h2><p>These settings could not '
            "be made or measured; the tables and figures below leave them out or show blank "
            "cells:</p>"
            f"<ul>{items}</ul></section>"
        )
    parts.append("<section><h2>Difficulty by strategy and mask ratio</h2>")
    finding = sweep_finding(summary)
    if finding:
        parts.append(f"<p class=finding>{html.escape(finding)}</p>")
    parts.append(
        html_table(
            headline_table(summary),
            "Means over masks. Easy/hard share: of a mask's masked patches.",
        )
    )
    parts.append("</section>")
    if "difficulty_vs_ratio" in {Path(n).stem for n in files}:
        parts.append(_figure_html(out, "difficulty_vs_ratio", ""))
    if "p2dist_distributions.png" in files:
        shown = _ratios_for(FIG2_RATIOS, s.mask_ratios)
        parts.append(
            _figure_html(out, "p2dist_distributions", distribution_finding(summary, shown))
        )
    if not metric_table.empty:
        parts.append("<section><h2>The metrics side by side (Tab. 5 style)</h2>")
        parts.append(f"<p class=finding>{html.escape(metric_finding(metric_table))}</p>")
        parts.append(
            html_table(
                _metric_display(metric_table),
                "Per-patch metrics over masked patches, AvgDist over masks. Spearman: with "
                "P²Dist, both oriented higher = harder. Decile shares: of masked patches in the "
                "easiest/hardest 10% of the pooled values (ties at an edge count in).",
            )
        )
        parts.append("</section>")
    if "metric_agreement.png" in files:
        agreement = pd.read_csv(out / "agreement.csv")
        parts.append(_figure_html(out, "metric_agreement", agreement_finding(agreement)))
    if "mask_gallery.png" in files:
        parts.append(_figure_html(out, "mask_gallery", ""))
    links = []
    for name in sorted({*files, "index.html", MANIFEST}):
        if name == "index.html":
            continue
        what = FILE_TEXT.get(name) or (
            f"figure: {FIGURE_TEXT[Path(name).stem][0]}" if Path(name).stem in FIGURE_TEXT else ""
        )
        links.append(
            f'<li><a href="{html.escape(name)}">{html.escape(name)}</a>'
            f"{' — ' + html.escape(what) if what else ''}</li>"
        )
    parts.append(f'<section><h2>Files</h2><ul class="files">{"".join(links)}</ul></section>')
    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>maskstats report: {html.escape(', '.join(s.strategies))}</title>\n"
        f"<style>{CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def _equivalent_command(s: ReportSettings) -> str:
    ratios = ",".join(f"{r:g}" for r in s.mask_ratios)
    text = (
        f"maskstats report --out {s.out} --img-size {s.img_size} --patch-size {s.patch_size} "
        f"--strategies {','.join(s.strategies)} --ratios {ratios} -n {s.n} --seed {s.seed}"
    )
    if s.target_avgdist is not None:
        text += f" --target-avgdist {s.target_avgdist:g}"
    return text
