"""Reading mask files and writing tables, with one-line errors for bad files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from maskstats._validate import GridLike, as_masks


def load_masks(path: str | os.PathLike, grid: GridLike | None = None) -> np.ndarray:
    """Read masks saved with numpy (.npy, or the first array of an .npz).

    Args:
        path: file holding (N, H, W) or (N, L) masks, bool or 0/1, True = masked.
        grid: (H, W) for (N, L) files.

    Returns:
        (N, H, W) bool.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mask file {path} does not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                if not loaded.files:
                    raise ValueError("the .npz holds no array")
                loaded = loaded[loaded.files[0]]
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(
            f"cannot read masks from {path}: expected a numpy .npy/.npz file ({error})"
        ) from None
    return as_masks(loaded, grid)


def save_masks(path: str | os.PathLike, masks: np.ndarray) -> Path:
    """Write (N, H, W) bool masks to ``path`` (.npy), atomically."""
    path = Path(path)
    if path.suffix != ".npy":
        raise ValueError(f"mask output must end in .npy, got {path}")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, as_masks(masks))
    return path


def write_table(table: pd.DataFrame, path: str | os.PathLike, index: bool = False) -> Path:
    """Write ``table`` as CSV, or Parquet when ``path`` ends in .parquet, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            try:
                table.to_parquet(tmp, index=index)
            except ImportError:
                raise ValueError("writing Parquet needs pyarrow: pip install pyarrow") from None
        else:
            table.to_csv(tmp, index=index)
    return path


class atomic_path:
    """Context manager yielding a temporary path beside ``path``; renamed onto it on success."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        os.close(handle)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
