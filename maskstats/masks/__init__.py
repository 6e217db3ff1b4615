"""Masks: generators (MAE random, BEiT block-wise, SimMIM, MAE grid-wise, I-JEPA multi-block),
masks at a chosen difficulty, and :func:`generate`, every strategy by name (plus your own
generators and saved mask files as strategy specs). Masks are (N, H, W) bool, True = masked."""

from maskstats._validate import (
    GridLike,
    SeedLike,
    as_grid,
    as_masks,
    grid_from_image,
    mae_num_masked,
)
from maskstats.masks.difficulty import achievable_range, difficulty_masks, mean_pairwise_hamming
from maskstats.masks.generators import (
    block_masks,
    grid_cell_side,
    grid_masks,
    grid_ratios,
    masked_share,
    random_masks,
    simmim_masks,
    simmim_num_masked,
)
from maskstats.masks.multiblock import MultiBlockMasks, multiblock_blocks, multiblock_masks
from maskstats.masks.strategies import (
    GENERATION_BYTES_PER_CELL,
    OWN_RATIO,
    STRATEGIES,
    VARIABLE_COUNT,
    Strategy,
    generate,
    generation_bytes,
    resolve_strategies,
    resolve_strategy,
)

__all__ = [
    "GENERATION_BYTES_PER_CELL",
    "OWN_RATIO",
    "STRATEGIES",
    "VARIABLE_COUNT",
    "GridLike",
    "MultiBlockMasks",
    "SeedLike",
    "Strategy",
    "achievable_range",
    "as_grid",
    "as_masks",
    "block_masks",
    "difficulty_masks",
    "generate",
    "generation_bytes",
    "grid_cell_side",
    "grid_from_image",
    "grid_masks",
    "grid_ratios",
    "mae_num_masked",
    "masked_share",
    "mean_pairwise_hamming",
    "multiblock_blocks",
    "multiblock_masks",
    "random_masks",
    "resolve_strategies",
    "resolve_strategy",
    "simmim_masks",
    "simmim_num_masked",
]
