"""Checkpoints: written atomically (a killed save never leaves a half file), holding only
tensors, numbers, strings, None, lists, tuples and dicts, and read with
``torch.load(weights_only=True)``, so that loading a checkpoint never runs code from it; errors
are one line; stale temporary files of a save killed by SIGKILL are removed on resume.

Checkpoints written before issue 27 hold numpy arrays (numpy's random state and the running
statistics). They still load: numpy's array reconstruction is admitted for numeric arrays
(it builds an array from a shape, a dtype and bytes, and calls nothing else); object arrays
are refused."""

from __future__ import annotations

import errno
import random
import re
import shutil
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from maskstats.io import atomic_path

TRAINING_KEYS = ("model", "optimizer", "scheduler", "step", "rng", "config", "model_config")
"""What a checkpoint must hold to resume training."""
MODEL_KEYS = ("model", "model_config", "model_name")
"""What a checkpoint must hold to rebuild its model (evaluation)."""

_ARRAY_REDUCE = np.zeros(1).__reduce__()[0]  # numpy's _reconstruct, whatever its module
LEGACY_NUMPY_GLOBALS: list[Any] = [
    np.ndarray,
    np.dtype,
    (_ARRAY_REDUCE, "numpy.core.multiarray._reconstruct"),
    (_ARRAY_REDUCE, "numpy._core.multiarray._reconstruct"),
    *(type(np.dtype(code)) for code in "?bBhHiIlLqQefdgFD"),  # numeric dtypes' state
]
"""What a checkpoint of the previous format needs besides torch's own allow-list: numpy arrays
(of numbers; an object array is refused after loading)."""


def plain(value: Any) -> Any:
    """``value`` with numpy arrays as tensors and numpy scalars as Python numbers, recursively
    through dicts, lists and tuples: what a checkpoint may hold.

    Raises:
        TypeError: an object array.
    """
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            raise TypeError(f"a checkpoint cannot hold a numpy array of dtype {value.dtype}")
        return torch.from_numpy(np.array(value))
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return type(value)((key, plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(plain(item) for item in value)
    return value


def to_numpy(value: Any) -> Any:
    """``value`` with every tensor as a numpy array, recursively (the inverse of :func:`plain`
    for the parts kept as numpy in memory: running statistics, numpy's random state)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, dict):
        return {key: to_numpy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_numpy(item) for item in value)
    return value


def random_state() -> dict:
    """The random states of torch, numpy (its legacy global generator) and Python, in plain
    types."""
    return {
        "torch": torch.get_rng_state(),
        "numpy": plain(np.random.get_state(legacy=False)),
        "python": random.getstate(),
    }


def restore_random_state(state: dict) -> None:
    """Restore what :func:`random_state` saved (or numpy's tuple, as older checkpoints hold)."""
    torch.set_rng_state(state["torch"])
    numpy_state = to_numpy(state["numpy"])
    if isinstance(numpy_state, dict):
        numpy_state["state"]["key"] = np.asarray(numpy_state["state"]["key"], np.uint32)
    np.random.set_state(numpy_state)
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))


def _write(state: dict, tmp: Path) -> None:
    # Through a Python file: a full disk is then an OSError with its errno (ENOSPC), where
    # torch.save(state, path) reports an unexplained "unexpected pos" RuntimeError.
    with open(tmp, "wb") as handle:
        torch.save(state, handle)


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` (made :func:`plain`) to ``path`` atomically: a temporary file beside it,
    then rename. The file already at ``path`` stays as it was when the write fails.

    Raises:
        OSError: ENOSPC with one line when the disk (or quota) is full.
    """
    state = plain(state)
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            _write(state, tmp)
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        try:
            free = f"{shutil.disk_usage(path.parent).free / 1e6:.0f} MB free"
        except OSError:  # pragma: no cover - the folder went away
            free = "free space unknown"
        kept = "the previous checkpoint is kept" if path.exists() else "nothing was written"
        raise OSError(
            errno.ENOSPC,
            f"no space left on the device writing checkpoint {path} ({free}; {kept}): free some "
            "space and resume",
        ) from None


def checkpoint_file(path: str | Path) -> Path:
    """``path`` itself, or ``path``/checkpoint.pt for a run folder."""
    path = Path(path)
    return path / "checkpoint.pt" if path.is_dir() else path


def _refusal(path: Path, error: Exception) -> str:
    """One line for a file that holds more than plain values."""
    text = str(error)
    found = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"got <class '([\w.]+)'>", text)
    what = f" ({found.group(1)})" if found else " (or pickle instructions torch does not admit)"
    return (
        f"{path} holds Python objects other than tensors, numbers, strings, lists and dicts"
        f"{what}: maskstats does not load it, since loading such a file could run code"
    )


def _check_arrays(value: Any, path: Path) -> None:
    if isinstance(value, np.ndarray) and value.dtype.kind not in "biufc":
        raise ValueError(
            f"{path} holds a numpy array of dtype {value.dtype}: maskstats does not load it, "
            "since loading such a file could run code"
        )
    if isinstance(value, dict):
        for item in value.values():
            _check_arrays(item, path)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_arrays(item, path)


def _looks_like_torch(path: Path) -> bool:
    """Whether ``path`` starts as torch.save writes: a zip archive, or (the legacy format) a
    pickle of protocol 2 or later (opcode PROTO, 0x80)."""
    import zipfile

    try:
        with open(path, "rb") as handle:
            first = handle.read(1)
    except OSError:
        return True  # let torch.load say what is wrong
    return first == b"\x80" or zipfile.is_zipfile(path)


def load_checkpoint(path: Path, keys: Iterable[str] = ()) -> dict:
    """Read a checkpoint with ``weights_only=True`` (nothing in it can run code).

    Raises:
        ValueError: one line for a missing or corrupt file, a file holding other Python
            objects than tensors, numbers, strings, lists and dicts (or numeric numpy arrays,
            which checkpoints of the previous format hold), or one that is not a dict holding
            ``keys`` (e.g. a bare tensor).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    if not _looks_like_torch(path):
        raise ValueError(
            f"cannot read checkpoint {path}: not a torch file (neither torch's zip format nor "
            "a pickle)"
        )
    try:
        with torch.serialization.safe_globals(LEGACY_NUMPY_GLOBALS), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols it refuses
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        text = str(error)
        if "Weights only load failed" in text or "Unsupported global" in text:
            raise ValueError(_refusal(path, error)) from None
        first = (text.strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(f"cannot read checkpoint {path}: {first}") from None
    _check_arrays(state, path)
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
