"""Checkpoints: written atomically (a killed save never leaves a half file), read with one-line
errors; stale temporary files of a save killed by SIGKILL are removed on resume."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from maskstats.io import atomic_path

TRAINING_KEYS = ("model", "optimizer", "scheduler", "step", "rng", "config", "model_config")
"""What a checkpoint must hold to resume training."""
MODEL_KEYS = ("model", "model_config", "model_name")
"""What a checkpoint must hold to rebuild its model (evaluation)."""


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file beside it, then rename."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def checkpoint_file(path: str | Path) -> Path:
    """``path`` itself, or ``path``/checkpoint.pt for a run folder."""
    path = Path(path)
    return path / "checkpoint.pt" if path.is_dir() else path


def load_checkpoint(path: Path, keys: Iterable[str] = ()) -> dict:
    """Read a checkpoint; a missing or corrupt file, or one that is not a dict holding ``keys``
    (e.g. a bare tensor), is a one-line ValueError."""
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise ValueError(f"cannot read checkpoint {path}: {error}") from None
    if not isinstance(state, dict):
        raise ValueError(
            f"{path} is not a maskstats checkpoint: it holds a {type(state).__name__}, not a dict"
        )
    missing = [key for key in keys if key not in state]
    if missing:
        raise ValueError(f"{path} is not a maskstats checkpoint: no {', '.join(missing)}")
    return state


def remove_stale_temporaries(folder: Path, name: str = "checkpoint.pt") -> list[Path]:
    """Delete ``.{name}.*.tmp`` files that a save killed by SIGKILL left in ``folder``.

    Returns:
        The deleted paths.
    """
    stale = sorted(Path(folder).glob(f".{name}.*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
