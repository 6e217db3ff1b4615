"""Checkpoints: written atomically (a killed save never leaves a half file), read with one-line
errors."""

from __future__ import annotations

from pathlib import Path

import torch

from maskstats.io import atomic_path


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file beside it, then rename."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict:
    """Read a checkpoint; a missing or corrupt file is a one-line ValueError."""
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise ValueError(f"cannot read checkpoint {path}: {error}") from None
