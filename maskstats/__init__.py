"""maskstats: how hard each masked patch, and each mask, is to reconstruct in masked image
modeling (MAE, SimMIM, BEiT); fast exact metrics, analysis, and a difficulty-aware trainer.

``import maskstats`` never imports torch; only ``maskstats.mae`` does.
"""

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

__version__ = "0.1.0"

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
