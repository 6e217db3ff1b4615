"""Masks: generators (MAE random, BEiT block-wise, SimMIM, MAE grid-wise, I-JEPA multi-block),
masks at a chosen difficulty, video masks (VideoMAE tubes, VideoMAE v2 whole-clip random and
running cell), and :func:`generate`, every strategy by name (plus your own generators and saved
mask files as strategy specs). Masks are (N, H, W) bool, True = masked; clips (N, T, H, W)."""

from typing import TYPE_CHECKING

from maskstats._lazy import lazy_exports

if TYPE_CHECKING:
    from maskstats._validate import (
        GridLike,
        SeedLike,
        as_grid,
        as_masks,
        grid_from_image,
        mae_num_masked,
        video_grid,
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
        IMAGE_STRATEGIES,
        OWN_RATIO,
        STRATEGIES,
        VARIABLE_COUNT,
        Strategy,
        generate,
        generation_bytes,
        resolve_strategies,
        resolve_strategy,
    )
    from maskstats.masks.video import (
        RUNNING_CELL_RATIOS,
        VIDEO_STRATEGIES,
        clip_num_masked,
        clip_random_masks,
        running_cell_masks,
        tube_masks,
        tube_num_masked,
        tubes,
    )

__all__ = [
    "GENERATION_BYTES_PER_CELL",
    "IMAGE_STRATEGIES",
    "OWN_RATIO",
    "RUNNING_CELL_RATIOS",
    "STRATEGIES",
    "VARIABLE_COUNT",
    "VIDEO_STRATEGIES",
    "GridLike",
    "MultiBlockMasks",
    "SeedLike",
    "Strategy",
    "achievable_range",
    "as_grid",
    "as_masks",
    "block_masks",
    "clip_num_masked",
    "clip_random_masks",
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
    "running_cell_masks",
    "simmim_masks",
    "simmim_num_masked",
    "tube_masks",
    "tube_num_masked",
    "tubes",
    "video_grid",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "maskstats._validate": (
            "GridLike",
            "SeedLike",
            "as_grid",
            "as_masks",
            "grid_from_image",
            "mae_num_masked",
            "video_grid",
        ),
        "maskstats.masks.difficulty": (
            "achievable_range",
            "difficulty_masks",
            "mean_pairwise_hamming",
        ),
        "maskstats.masks.generators": (
            "block_masks",
            "grid_cell_side",
            "grid_masks",
            "grid_ratios",
            "masked_share",
            "random_masks",
            "simmim_masks",
            "simmim_num_masked",
        ),
        "maskstats.masks.multiblock": (
            "MultiBlockMasks",
            "multiblock_blocks",
            "multiblock_masks",
        ),
        "maskstats.masks.strategies": (
            "GENERATION_BYTES_PER_CELL",
            "IMAGE_STRATEGIES",
            "OWN_RATIO",
            "STRATEGIES",
            "VARIABLE_COUNT",
            "Strategy",
            "generate",
            "generation_bytes",
            "resolve_strategies",
            "resolve_strategy",
        ),
        "maskstats.masks.video": (
            "RUNNING_CELL_RATIOS",
            "VIDEO_STRATEGIES",
            "clip_num_masked",
            "clip_random_masks",
            "running_cell_masks",
            "tube_masks",
            "tube_num_masked",
            "tubes",
        ),
    },
    submodules=("difficulty", "generators", "multiblock", "strategies", "video"),
)
