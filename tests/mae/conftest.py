"""Shared settings of the trainer tests; ``ddp_worker.py`` imports :func:`small_config` too."""

import pytest

from maskstats.mae.config import TrainConfig


def small_config(out, **overrides):
    """A few-step micro run on built-in data: p2dist flatten, decoder masking 0.2, no
    gallery."""
    base = dict(
        model="mae_vit_micro",
        data="builtin:natural",
        mask_ratio=0.9,
        metric="p2dist",
        weighting="flatten",
        decoder_mask_ratio=0.2,
        batch_size=16,
        max_steps=8,
        dataset_length=64,
        out=str(out),
        progress=False,
        log_every=2,
        save_every=3,
        warmup_epochs=0.5,
        gallery_images=0,  # tests/mae/test_visualize.py draws the galleries
    )
    base.update(overrides)
    return TrainConfig(**base)


@pytest.fixture(name="small_config")
def small_config_fixture():
    """:func:`small_config`, for tests."""
    return small_config
