"""Root conftest: which modules ``--doctest-modules`` (pyproject's addopts) imports. A package
module whose optional dependency (the ``train`` / ``hf`` extras: torch) is not installed is
skipped rather than failing collection; its docstring examples then do not run."""

import importlib.util


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken or half-removed installation
        return False


# Modules that import torch when imported (directly or through maskstats.mae.train): the
# drop-in, its clip part and the trainer package (whose settings need no torch but hold no
# examples either).
NEEDS_TORCH = ["maskstats/torch.py", "maskstats/torch_video.py", "maskstats/mae"]

collect_ignore = [] if _installed("torch") else list(NEEDS_TORCH)
# Not a test module: torchrun's script for tests/mae/test_train.py, which imports its folder's
# conftest as a top-level module (only a script's own folder makes that import work).
collect_ignore.append("tests/mae/ddp_worker.py")
