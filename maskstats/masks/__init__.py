"""Masks: generators (MAE random, BEiT block-wise, SimMIM), masks at a chosen difficulty, and
:func:`generate`, every strategy by name. Masks are (N, H, W) bool, True = masked."""

from maskstats._validate import (
    GridLike,
    SeedLike,
    as_grid,
    as_masks,
    grid_from_image,
    mae_num_masked,
)
from maskstats.masks.difficulty import achievable_range, difficulty_masks, mean_pairwise_hamming
from maskstats.masks.generators import block_masks, random_masks, simmim_masks, simmim_num_masked
from maskstats.masks.strategies import STRATEGIES, generate

__all__ = [
    "STRATEGIES",
    "GridLike",
    "SeedLike",
    "achievable_range",
    "as_grid",
    "as_masks",
    "block_masks",
    "difficulty_masks",
    "generate",
    "grid_from_image",
    "mae_num_masked",
    "mean_pairwise_hamming",
    "random_masks",
    "simmim_masks",
    "simmim_num_masked",
]
