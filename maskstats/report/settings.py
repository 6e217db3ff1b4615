"""What ``maskstats report`` runs (its settings; the CLI's flags come from them), and the ratios
its figures show."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from maskstats._options import option
from maskstats.masks import STRATEGIES, VIDEO_STRATEGIES

if TYPE_CHECKING:  # pandas and matplotlib load only when a report runs
    pass

FIG2_RATIOS = (0.75, 0.85, 0.9, 0.95)
CLIP_STRATEGIES = ("tube", "random")
"""The video report's strategies when none are asked for: VideoMAE's tubes against whole-clip
random masks (VideoMAE v2's random generator)."""
GALLERY_RATIOS = (0.5, 0.75, 0.9, 0.95)
LOSS_TABLE_RATIOS = (0.75, 0.9, 0.95)
"""The mask ratios the effective-difficulty table shows (of those the report asked for)."""
DEFAULT_RATIOS = tuple(round(0.5 + 0.05 * k, 10) for k in range(10))
"""0.5, 0.55, ..., 0.95."""


@dataclass
class ReportSettings:
    """What ``maskstats report`` runs; the CLI's flags and defaults come from these fields."""

    out: Path = option(Path("maskstats-report"), "output folder", kind="path")
    img_size: int = option(224, "image side in pixels", kind="positive_int")
    patch_size: int = option(16, "patch side in pixels", kind="positive_int")
    strategies: Sequence[str] = option(
        tuple(name for name in STRATEGIES if name not in ("difficulty", *VIDEO_STRATEGIES)),
        f"comma-separated, from {', '.join(STRATEGIES)}",
        kind="strategies",
    )
    mask_ratios: Sequence[float] = option(
        DEFAULT_RATIOS,
        "start:stop:step (stop included) or a,b,c",
        kind="ratios",
        aliases=("--ratios",),
    )
    mask_patch_size: int = option(
        32, "SimMIM's masking cell in pixels (simmim only)", kind="positive_int"
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
    frames: int | None = option(
        None,
        "clip length in frames: a video report (tube vs whole-clip random masks by default) "
        "instead of the image report",
        kind="positive_int",
    )
    tubelet_size: int = option(
        2, "with --frames: frames per token (VideoMAE: 2)", kind="positive_int"
    )
    temporal_step: float | None = option(
        None, "with --frames: px between token-frames (default: the patch size)", kind="float"
    )
    clips: int = option(
        256, "with --frames: clips per setting (a changed -n sets it too)", kind="positive_int"
    )


@dataclass
class Skipped:
    """Settings the report could not make (a difficulty target out of reach, nothing
    masked, a strategy that does not fit the image), with why; ratio None: the strategy at
    every ratio."""

    items: list[tuple[str, float | None, str]] = field(default_factory=list)

    def add(self, strategy: str, ratio: float | None, reason: str) -> None:
        """Record a setting that could not be made (once), with the first line of why."""
        key = (strategy, None if ratio is None else float(ratio))
        if all((s, r) != key for s, r, _ in self.items):
            self.items.append((*key, reason.splitlines()[0]))

    def lines(self) -> list[str]:
        """One sentence per skipped setting."""
        return [
            f"{s} masks: {why}" if r is None else f"{s} masks at mask ratio {r:g}: {why}"
            for s, r, why in self.items
        ]


def ratios_for(wanted: Sequence[float], asked: Sequence[float], count: int = 4) -> list[float]:
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
