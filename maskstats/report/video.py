"""``maskstats report --frames F``: the video report. VideoMAE's tube masks against whole-clip
random masks (VideoMAE v2's random generator) across mask ratios: spatial (one frame) and
spatio-temporal (the clip) difficulty, easy/hard shares, and how often a masked token's own
position is visible in another token-frame; a table, a figure and a finding computed from the
numbers, in a folder swapped in when complete, like the image report."""

from __future__ import annotations

import html
import json
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from maskstats.masks import video_grid
from maskstats.report.output import (
    MANIFEST,
    building,
    jsonable,
    now_text,
    package_version,
)
from maskstats.report.page import CSS, PX_PER_INCH, html_table, machine_line
from maskstats.report.settings import CLIP_STRATEGIES, ReportSettings

if TYPE_CHECKING:  # pandas and matplotlib load only when a report runs
    import pandas as pd

LEAK_RATIO = 0.9
"""The mask ratio the finding speaks of (VideoMAE's), or the asked ratio nearest to it."""
CLIP_FILES = {
    "clip_summary.csv": "one row per strategy and mask ratio: every column of the table",
    "clip_summary.md": "the table, Markdown",
    "clip_summary.tex": "the table, LaTeX",
    "clip_difficulty.png": "figure: spatial vs spatio-temporal difficulty and the leak",
    "clip_difficulty.pdf": "the figure, PDF",
    MANIFEST: "settings, version and file list of this report",
}
COLUMNS = {
    "avgdist": "AvgDist clip [px]",
    "avgdist_frame": "AvgDist frame [px]",
    "p2dist": "P²Dist clip [patch]",
    "p2dist_frame": "P²Dist frame [patch]",
    "easy_share": "easy share clip",
    "easy_share_frame": "easy share frame",
    "hard_share": "hard share clip",
    "hard_share_frame": "hard share frame",
    "leak_share": "visible one tubelet away share",
    "seen_share": "visible in another frame share",
    "temporal_gap": "temporal gap [frames]",
}


def clip_settings(settings: ReportSettings) -> ReportSettings:
    """The settings with the video defaults filled in: tube and whole-clip random masks when
    the image report's default strategies were left as they are, and ``n`` clips per setting
    when ``n`` was changed but ``clips`` was not (``-n 64 --frames 8`` is 64 clips)."""
    default = ReportSettings()
    if tuple(settings.strategies) == tuple(default.strategies):
        settings = replace(settings, strategies=CLIP_STRATEGIES)
    if settings.n != default.n and settings.clips == default.clips:
        settings = replace(settings, clips=settings.n)
    return settings


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with readable headers (units in the header), indexed by strategy and
    mask ratio."""
    shown = summary[["strategy", "mask_ratio", *COLUMNS]].rename(
        columns={"mask_ratio": "mask ratio", **COLUMNS}
    )
    return shown.set_index(["strategy", "mask ratio"])


TERMINAL_COLUMNS = {
    "avgdist": "AvgDist clip",
    "avgdist_frame": "AvgDist frame",
    "easy_share": "easy clip",
    "easy_share_frame": "easy frame",
    "leak_share": "visible 1 tubelet away",
}
"""The columns the terminal shows (the page and clip_summary.md have them all), short names:
a line stays under 100 characters."""


def terminal_table(summary: pd.DataFrame) -> str:
    """The summary for a terminal: AvgDist [px] and the easy share, clip and frame, and the
    share of masked tokens visible one tubelet away, per strategy and ratio; blanks where
    undefined."""
    shown = summary[["strategy", "mask_ratio", *TERMINAL_COLUMNS]].rename(
        columns={"mask_ratio": "ratio", **TERMINAL_COLUMNS}
    )
    return shown.set_index(["strategy", "ratio"]).to_string(float_format="{:.3f}".format, na_rep="")


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%" if np.isfinite(value) else "n/a"


def _at(rows: pd.DataFrame, ratio: float) -> pd.Series:
    return rows.iloc[int(np.argmin(np.abs(rows["mask_ratio"].to_numpy() - ratio)))]


def clip_finding(summary: pd.DataFrame, ratio: float = LEAK_RATIO) -> str:
    """One paragraph, from the numbers: per strategy at the asked ratio nearest ``ratio``,
    the share of masked tokens whose own position is visible one tubelet away, and the clip's
    AvgDist and easy share against one frame's; then the leak across all ratios."""
    parts = []
    for strategy, rows in summary.groupby("strategy", sort=False):
        rows = rows.sort_values("mask_ratio")
        row = _at(rows, ratio)
        if not np.isfinite(row.avgdist):  # nothing measurable at this ratio
            continue
        drop = 1 - row.avgdist / row.avgdist_frame if row.avgdist_frame > 0 else np.nan
        if row.seen_share == 0:
            parts.append(
                f"{strategy} masks at ratio {row.mask_ratio:g} leave no masked token's position "
                f"visible in any other frame, so the clip is exactly as hard as one frame: "
                f"AvgDist {row.avgdist:.1f} px against {row.avgdist_frame:.1f} px, "
                f"{_pct(row.easy_share)} easy tokens against {_pct(row.easy_share_frame)}"
            )
        else:
            parts.append(
                f"{strategy} masks at ratio {row.mask_ratio:g} leave {_pct(row.leak_share)} of "
                f"masked tokens with their own position visible one tubelet away "
                f"({_pct(row.seen_share)} in some frame); the clip's AvgDist is "
                f"{row.avgdist:.1f} px against {row.avgdist_frame:.1f} px in one frame "
                f"({_pct(drop)} lower) and {_pct(row.easy_share)} of its masked tokens are easy "
                f"against {_pct(row.easy_share_frame)} in one frame"
            )
    text = "; ".join(parts)
    text = text[:1].upper() + text[1:] + "." if text else ""
    leaking = summary[summary["seen_share"] > 0]
    if not leaking.empty and len(leaking) < len(summary):
        low, high = leaking["leak_share"].min(), leaking["leak_share"].max()
        text += (
            f" Across ratios {summary['mask_ratio'].min():g}–{summary['mask_ratio'].max():g} "
            f"the masks that leak show their masked tokens' positions one tubelet away "
            f"{_pct(low)}–{_pct(high)} of the time, while the others never do: the leak "
            "VideoMAE's tube masking is meant to close, measured."
        )
    return text


def _figure(out: Path, name: str, title: str, caption: str, finding: str) -> str:
    width = ""
    try:
        from matplotlib import image as mpimg

        pixels = mpimg.imread(out / f"{name}.png").shape[1]
        width = f' width="{round(pixels / 200 * PX_PER_INCH)}"'
    except (OSError, ValueError, SyntaxError):  # pragma: no cover - no PNG: no width
        pass
    return (
        f"<section><h2>{html.escape(title)}</h2><p class=finding>{html.escape(finding)}</p>"
        f'<figure><img src="{name}.png"{width} alt="{html.escape(title)}">'
        f"<figcaption>{html.escape(caption)} "
        f'(<a href="{name}.pdf">PDF</a>, <a href="{name}.png">PNG</a>)</figcaption>'
        "</figure></section>"
    )


def write_clip_index(
    out: Path,
    s: ReportSettings,
    summary: pd.DataFrame,
    files: list[str],
    elapsed: float,
    skipped: Sequence[str] = (),
) -> Path:
    """index.html of the video report: header (command, version, date, machine), the
    finding, the figure, the table, the settings left out and every file, relative links.

    Returns:
        The path of index.html.
    """
    from maskstats.sweeps import EASY_P2DIST, HARD_P2DIST

    grid = video_grid(s.frames, s.tubelet_size, s.img_size, s.patch_size)
    step = s.temporal_step if s.temporal_step is not None else s.patch_size
    ratios = ", ".join(f"{r:g}" for r in s.mask_ratios)
    finding = clip_finding(summary)
    header = f"""<header><h1>maskstats report: clips</h1>
<p>How hard is each masked token of a clip to reconstruct, from its own frame and from the
whole clip? {html.escape(", ".join(s.strategies))} masks on {s.frames}-frame clips of
{s.img_size} px ({s.patch_size} px patches, tubelet {s.tubelet_size}: a
{"×".join(str(side) for side in grid)} token grid), {s.clips} clips per setting, mask ratios
{ratios}. <em>Clip</em>: distances to the nearest visible voxel of the clip, frames
{step / s.tubelet_size:g} px apart (consecutive token-frames {step:g} px apart);
<em>frame</em>: each token-frame on its own, as the image report measures it.
Easy: P²Dist &lt; {EASY_P2DIST} patch; hard: P²Dist &gt; {HARD_P2DIST} patch.
Definitions: maskstats' docs/metrics.md, section Video.</p>
<dl><dt>command</dt><dd><code>{html.escape(s.command or "maskstats report --frames")}</code></dd>
<dt>maskstats</dt><dd>{html.escape(package_version())}</dd>
<dt>date</dt><dd>{now_text()} (the report took {elapsed:.0f} s)</dd>
<dt>machine</dt><dd>{html.escape(machine_line())}</dd>
<dt>seed</dt><dd>{s.seed}</dd></dl></header>"""
    parts = [header]
    if skipped:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in skipped)
        parts.append(
            '<section class="skipped"><h2>Settings left out</h2><p>These settings could not '
            "be made or measured; the table and figure below leave them out:</p>"
            f"<ul>{items}</ul></section>"
        )
    parts.append(
        _figure(
            out,
            "clip_difficulty",
            "Does the clip leak what a frame hides?",
            "Left: AvgDist of the clip (solid) and of one frame (dashed); middle: the easy share "
            "of masked tokens, clip and frame; right: the share of masked tokens whose own "
            "position is visible one tubelet away (solid) or in any other token-frame (dotted). "
            "A colour per strategy; means over clips.",
            finding,
        )
    )
    parts.append("<section><h2>Difficulty by strategy and mask ratio</h2>")
    parts.append(
        html_table(
            display_table(summary),
            "Means over clips. Shares: of a clip's masked tokens. 'Visible one tubelet away': "
            "the token's own position is visible in the adjacent token-frame (temporal gap = "
            f"{s.tubelet_size} frames). Temporal gap: frames to the nearest frame showing the "
            "token's position, over the tokens that have one (blank: none has, as in tubes).",
        )
    )
    parts.append("</section>")
    links = "".join(
        f'<li><a href="{html.escape(name)}">{html.escape(name)}</a>'
        f"{' — ' + html.escape(CLIP_FILES[name]) if name in CLIP_FILES else ''}</li>"
        for name in sorted(files)
        if name != "index.html"
    )
    parts.append(f'<section><h2>Files</h2><ul class="files">{links}</ul></section>')
    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>maskstats report: clips, {html.escape(', '.join(s.strategies))}</title>\n"
        f"<style>{CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def check_clip_strategies(strategies: Sequence[str]) -> None:
    """Check every strategy spec of the video report before anything runs: it must name a
    strategy or a ``module:function`` (the report makes its own clips; a mask file is
    measured with ``maskstats stats --masks``).

    Raises:
        ValueError: one line naming the spec.
    """
    from maskstats.masks import resolve_strategies

    for spec in strategies:
        if Path(spec).suffix in (".npy", ".npz"):
            raise ValueError(
                f"the video report makes its own clips: {spec} is a mask file, not a strategy "
                f"(measure it with maskstats stats --masks {spec})"
            )
    resolve_strategies(strategies)


def run_clip_report(
    settings: ReportSettings,
    echo: Callable[[str], None] = print,
    progress: bool = True,
    notice: Callable[[], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """The video report (``settings.frames`` set): clip_summary.csv/.md/.tex, the
    clip_difficulty figure, index.html and the manifest, written into ``settings.out``
    atomically (built beside it, moved into place when complete).

    Args:
        settings: what to run (``frames``, ``tubelet_size``, ``temporal_step``, ``clips``).
        echo: prints the summary.
        progress: show progress bars.
        notice: called once before the first metric computation.
        warn: prints each setting left out (default: a line on stderr).

    Returns:
        Name -> path of each file written, inside ``settings.out``.
    """
    from maskstats import plot, sweeps
    from maskstats.io import export_table

    started = time.perf_counter()
    s = clip_settings(settings)
    video_grid(s.frames, s.tubelet_size, s.img_size, s.patch_size)  # validate first
    check_clip_strategies(s.strategies)
    out = Path(s.out)
    warn = warn or (lambda line: print(line, file=sys.stderr))
    with building(out, s.overwrite) as (build, notes):
        if notice is not None:
            notice()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert s.frames is not None  # the video report is the one with frames
            summary = sweeps.clip_sweep(
                s.strategies, s.mask_ratios, s.img_size, s.patch_size, s.frames,
                s.tubelet_size, s.clips, s.seed, s.temporal_step, progress,
            )  # fmt: skip
        skipped = [
            str(w.message).removeprefix("skipping ")
            for w in caught
            if str(w.message).startswith("skipping ")
        ]
        names = [
            path.name
            for path in export_table(
                display_table(summary).reset_index(level=1), build / "clip_summary"
            )
        ]
        summary.to_csv(build / "clip_summary.csv", index=False)
        names += [
            path.name
            for path in plot.save(plot.clip_difficulty(summary), build / "clip_difficulty")
        ]
        names = sorted({*names, "index.html", MANIFEST})
        write_clip_index(build, s, summary, names, time.perf_counter() - started, skipped)
        manifest = {
            "tool": "maskstats report",
            "kind": "clips",
            "version": package_version(),
            "created": now_text(),
            "command": s.command,
            "settings": jsonable(asdict(s)),
            "skipped": skipped,
            "files": names,
        }
        (build / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    for line in skipped:
        warn(f"maskstats report: left out {line}")
    for line in notes:
        warn(f"maskstats report: {line}")
    echo(f"{terminal_table(summary)}\n(AvgDist in px; full table: {out / 'clip_summary.md'})")
    echo(f"\n{clip_finding(summary)}")
    echo(
        f"\nwrote {len(names)} files to {out}/ in {time.perf_counter() - started:.1f} s "
        f"(open {out / 'index.html'})"
    )
    return {name: out / name for name in names}
