"""maskstats: how hard each masked patch, and each mask, is to reconstruct in masked image
modeling (MAE, SimMIM, BEiT); fast exact metrics, analysis, and a difficulty-aware trainer.

``import maskstats`` never imports torch; only ``maskstats.mae`` does. The names below load on
first use (``from maskstats import random_masks`` loads :mod:`maskstats.masks`), so importing
the package, and ``maskstats --help``, loads neither numba nor scipy.
"""

from typing import TYPE_CHECKING

from maskstats._lazy import lazy_exports
from maskstats._version import __version__ as __version__

if TYPE_CHECKING:
    from maskstats.masks import (
        achievable_range,
        as_masks,
        block_masks,
        difficulty_masks,
        generate,
        grid_masks,
        masked_share,
        multiblock_masks,
        random_masks,
        simmim_masks,
    )
    from maskstats.metrics import (
        METRIC_NAMES,
        REGISTRY,
        avgdist,
        compute,
        density3,
        invdist5,
        nearest,
        p2dist,
    )

__all__ = [
    "METRIC_NAMES",
    "REGISTRY",
    "achievable_range",
    "as_masks",
    "avgdist",
    "block_masks",
    "compute",
    "density3",
    "difficulty_masks",
    "generate",
    "grid_masks",
    "invdist5",
    "masked_share",
    "multiblock_masks",
    "nearest",
    "p2dist",
    "random_masks",
    "simmim_masks",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "maskstats.masks": (
            "achievable_range",
            "as_masks",
            "block_masks",
            "difficulty_masks",
            "generate",
            "grid_masks",
            "masked_share",
            "multiblock_masks",
            "random_masks",
            "simmim_masks",
        ),
        "maskstats.metrics": (
            "METRIC_NAMES",
            "REGISTRY",
            "avgdist",
            "compute",
            "density3",
            "invdist5",
            "nearest",
            "p2dist",
        ),
    },
    submodules=("masks", "metrics"),
)
