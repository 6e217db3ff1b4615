"""One entry point for every mask strategy, by name: what the CLI, the sweeps, the report and
the trainer call; and strategy *specs* for the report: a built-in name, your own generator
(``module:function``) or a saved mask file (``.npy``/``.npz``)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maskstats._validate import (
    GridLike,
    SeedLike,
    as_grid,
    as_masks,
    check_count,
    grid_from_image,
    video_grid,
)
from maskstats.masks.video import VIDEO_STRATEGIES, tubes, video_strategy_masks

IMAGE_STRATEGIES = ("random", "block", "simmim", "grid", "multiblock", "difficulty")
"""The built-in strategies that make image masks (and, with ``frames=``, tubes of them): what
an image MAE (``maskstats train``, ``maskstats visualize``) can train or be shown with."""
STRATEGIES = (*IMAGE_STRATEGIES, *VIDEO_STRATEGIES)
"""Every built-in strategy :func:`generate` knows; "difficulty" needs a target; "tube" and
"running_cell" make clips only (``frames=``)."""

OWN_RATIO = frozenset({"multiblock"})
"""Built-in strategies whose masked share is their own: they ignore ``mask_ratio``."""

VARIABLE_COUNT = frozenset({"multiblock"})
"""Built-in strategies whose masked count differs from mask to mask (a trainer that needs one
count per batch, as MAE's encoder does, cannot use them as they are)."""

MASK_FILE_SUFFIXES = (".npy", ".npz")

GENERATION_BYTES_PER_CELL = {
    "random": 18,
    "block": 3,
    "grid": 3,
    "multiblock": 8,
    "difficulty": 40,
}
"""Peak memory of each built-in generator, in bytes per patch of each mask it makes, its
output included: random's float64 noise and int64 argsort (MAE's random_masking: 17 + a
little), the difficulty search's candidates. Measured with tracemalloc at 224/16 and 224/2
(the most: random 17.4, block 1.9, grid 2.0, multiblock 6.2, difficulty 30.6 at 64/8;
tests/masks/test_memory.py checks that these cover the measured peak); SimMIM's follows
from its cell (:func:`generation_bytes`); a ``module:function`` is assumed to need
random's."""


def generation_bytes(
    strategy: str, n: int, img_size: GridLike, patch_size: int, mask_patch_size: int = 32
) -> int:
    """About how much memory making ``n`` masks of ``strategy`` at once needs at its peak
    (bytes, the masks included; see ``GENERATION_BYTES_PER_CELL``): what the CLI checks
    against the machine's memory before any work.

    Args:
        strategy: a strategy name or spec.
        n: number of masks.
        img_size: image size in pixels, int or (H, W).
        patch_size: model patch size in pixels.
        mask_patch_size: SimMIM's masking cell in pixels (simmim only).
    """
    height, width = grid_from_image(img_size, patch_size)
    cells = int(n) * height * width
    if _is_mask_file(strategy):  # read, not made: the masks themselves
        return cells
    if strategy == "simmim":
        # float64 noise + int64 order per cell, the cell masks and one upsampling step
        scale = max(1, mask_patch_size // patch_size)
        return cells + (17 * cells) // scale**2 + cells // scale
    return cells * GENERATION_BYTES_PER_CELL.get(strategy, GENERATION_BYTES_PER_CELL["random"])


def generate(
    strategy: str,
    n: int,
    img_size: GridLike,
    patch_size: int,
    mask_ratio: float,
    seed: SeedLike = None,
    mask_patch_size: int = 32,
    target_avgdist: float | None = None,
    target_p2dist: float | None = None,
    tol: float = 0.02,
    num_masked: int | None = None,
    *,
    frames: int | None = None,
    tubelet_size: int = 2,
    **kwargs: Any,
) -> np.ndarray:
    """Make N masks of one strategy for an image and patch size (or, with ``frames``, N clips).

    Args:
        strategy: one of ``STRATEGIES``, or ``"module:function"`` (see
            :func:`resolve_strategy`; such a callable gets ``(n, grid, mask_ratio, seed)``
            with an int seed, and nothing of ``**kwargs``).
        n: number of masks.
        img_size: image size in pixels, int or (H, W).
        patch_size: model patch size in pixels.
        mask_ratio: in [0, 1). "grid" needs 1 - 1/s**2 (0.75, 0.8889, ...); "multiblock"
            ignores it (its ratio follows from I-JEPA's block scales, 0.586 on average at
            224/16, varying per mask: see ``VARIABLE_COUNT``).
        seed: int, numpy Generator, or None.
        mask_patch_size: SimMIM's masking cell in pixels (simmim only).
        target_avgdist: "difficulty" only: target AvgDist in pixels (ignored by the others).
        target_p2dist: "difficulty" only: target mean P²Dist in patches (or target_avgdist).
        tol: "difficulty" only: relative tolerance of the target.
        num_masked: "block" only: the masked count in patches, as BEiT takes it
            (``num_masking_patches``; BEiT pretrains with 75 of 196); ``mask_ratio`` is then
            ignored. None: the count follows from ``mask_ratio``.
        frames: clip length in frames: masks on the token grid (frames // tubelet_size, H, W).
            "random" is then whole-clip random (VideoMAE v2's count), "tube" VideoMAE's tube
            masks, "running_cell" VideoMAE v2's decoder pattern (``mask_ratio`` 0.25, 0.5 or
            0.75); every image strategy (and ``module:function``) gives tubes: its mask
            repeated in every token-frame. None: image masks.
        tubelet_size: frames per token (VideoMAE: 2); with ``frames`` only.
        **kwargs: passed to the generator (e.g. block_masks' ``min_num_patches``).

    Returns:
        (N, H, W) bool, True = masked, on the model's patch grid; (N, T, H, W) with ``frames``.

    Examples:
        >>> from maskstats.masks import generate
        >>> generate("simmim", 2, 224, 16, 0.6, seed=0).shape  # the 14 x 14 patch grid
        (2, 14, 14)
        >>> int(generate("grid", 1, 64, 16, 0.75, seed=0).sum())  # 4 x 4 grid, 4 kept
        12
        >>> generate("tube", 2, 224, 16, 0.9, seed=0, frames=16).shape  # (N, T, H, W) clips
        (2, 8, 14, 14)
    """
    # The generators load here, not with this module: the CLI's parser reads STRATEGIES.
    from maskstats.masks.difficulty import difficulty_masks
    from maskstats.masks.generators import block_masks, grid_masks, random_masks, simmim_masks
    from maskstats.masks.multiblock import multiblock_masks

    n = check_count(n)
    grid = grid_from_image(img_size, patch_size)
    if frames is not None:
        clip = video_grid(frames, tubelet_size, img_size, patch_size)
        if strategy in ("random", *VIDEO_STRATEGIES):
            return video_strategy_masks(strategy, n, clip, mask_ratio, seed=seed, **kwargs)
        image = generate(
            strategy, n, img_size, patch_size, mask_ratio, seed, mask_patch_size,
            target_avgdist, target_p2dist, tol, num_masked, **kwargs,
        )  # fmt: skip
        return tubes(image, clip[0])
    if strategy in VIDEO_STRATEGIES:
        raise ValueError(
            f"strategy {strategy!r} makes clips: pass frames= (CLI: --frames, --tubelet-size)"
        )
    if num_masked is not None:
        if strategy != "block":
            raise ValueError(
                f"a masked count (num_masked) is BEiT's way to set block masks; strategy "
                f"{strategy!r} takes mask_ratio"
            )
        return block_masks(n, grid, seed=seed, num_masking_patches=num_masked, **kwargs)
    if strategy == "random":
        return random_masks(n, grid, mask_ratio, seed=seed, **kwargs)
    if strategy == "block":
        return block_masks(n, grid, mask_ratio, seed=seed, **kwargs)
    if strategy == "simmim":
        return simmim_masks(
            n, img_size, mask_patch_size, patch_size, mask_ratio, seed=seed, **kwargs
        )
    if strategy == "grid":
        return grid_masks(n, grid, mask_ratio, seed=seed, **kwargs)
    if strategy == "multiblock":
        return multiblock_masks(n, grid, seed=seed, **kwargs)
    if strategy == "difficulty":
        if target_avgdist is None and target_p2dist is None:
            raise ValueError("strategy 'difficulty' needs target_avgdist or target_p2dist")
        return difficulty_masks(
            n,
            grid,
            mask_ratio,
            patch_size,
            target_avgdist=target_avgdist,
            target_p2dist=target_p2dist,
            tol=tol,
            seed=seed,
            **kwargs,
        )
    if isinstance(strategy, str) and ":" in strategy and not _is_mask_file(strategy):
        spec = resolve_strategy(strategy)
        return spec.generate(n, grid, mask_ratio, seed)
    raise ValueError(
        f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)} or module:function"
    )


# --------------------------------------------------------------------------- strategy specs


@dataclass(frozen=True)
class Strategy:
    """A resolved strategy spec.

    Attributes:
        spec: what the user wrote ("random", "mypkg.masks:my_generator", "saved/masks.npy").
        name: display name, the sweep's ``strategy`` column: the built-in name, the callable's
            name, or the file's name ("masks.npy").
        kind: "builtin", "callable" or "file".
        func: the callable (kind "callable"), else None.
        path: the mask file (kind "file"), else None.
    """

    spec: str
    name: str
    kind: str
    func: Callable[..., Any] | None = None
    path: Path | None = None

    @property
    def own_ratio(self) -> bool:
        """True when the masks' share is their own (files, multiblock), not ``mask_ratio``."""
        return self.kind == "file" or self.name in OWN_RATIO

    def generate(self, n: int, grid: GridLike, mask_ratio: float, seed: SeedLike) -> np.ndarray:
        """Call a "callable" strategy: ``func(n, grid, mask_ratio, seed)`` -> (n, H, W) bool.

        The seed is passed as an int (drawn from a Generator), so the callable may use numpy,
        torch or ``random``. The output goes through :func:`maskstats.as_masks` (numpy or torch,
        (n, H, W) or (n, L), bool or 0/1).

        Raises:
            ValueError: the callable raised (any exception; its type and first line are
                named) or returned anything else, naming it and what it returned.
        """
        if self.kind != "callable":
            raise ValueError(f"strategy {self.spec!r} is a {self.kind}, not a callable")
        assert self.func is not None  # a "callable" strategy holds its function
        grid = as_grid(grid)
        if isinstance(seed, np.random.Generator):
            seed = int(seed.integers(0, 2**31 - 1))
        try:
            out = self.func(n, grid, mask_ratio, seed)
        except Exception as error:  # the user's code failed: one line naming it, not ours
            text = str(error).splitlines()[0] if str(error) else ""
            raise ValueError(
                f"strategy {self.spec!r}: {_describe(self.func)} raised "
                f"{type(error).__name__}{': ' + text if text else ''}"
            ) from None
        expected = f"({n}, {grid[0]}, {grid[1]}) bool masks"
        try:
            masks = as_masks(out, grid)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"strategy {self.spec!r}: {_describe(self.func)} returned {_what(out)}; "
                f"expected {expected} ({error})"
            ) from None
        if masks.shape != (n, *grid):
            raise ValueError(
                f"strategy {self.spec!r}: {_describe(self.func)} returned masks of shape "
                f"{masks.shape}; expected {expected}"
            )
        return masks

    def load(self, grid: GridLike) -> np.ndarray:
        """Read a "file" strategy's masks: (N, H, W) bool on ``grid`` ((N, L) files are
        reshaped to it).

        Raises:
            ValueError: unreadable, empty, or made for another grid (one line naming the file).
        """
        if self.kind != "file":
            raise ValueError(f"strategy {self.spec!r} is a {self.kind}, not a mask file")
        assert self.path is not None  # a "file" strategy holds its path
        from maskstats.io import load_masks  # io imports only _validate and _cleanup

        try:
            masks = load_masks(self.path, as_grid(grid))
        except (TypeError, ValueError) as error:
            raise ValueError(_in_file(self.path, error)) from None
        if masks.shape[0] == 0:
            raise ValueError(f"mask file {self.path} holds no masks")
        return masks

    def check(self, grid: GridLike) -> None:
        """Check a "file" strategy's masks for ``grid`` (readable, shape, dtype, 0/1 values)
        a chunk at a time, without holding them: what the sweep and the report do for every
        file before any generator runs. Other kinds: nothing to check.

        Raises:
            ValueError: as :meth:`load`.
        """
        if self.kind != "file":
            return
        assert self.path is not None  # a "file" strategy holds its path
        from maskstats.io import iter_mask_chunks

        try:
            for _ in iter_mask_chunks(self.path, as_grid(grid)):
                pass
        except (TypeError, ValueError) as error:
            raise ValueError(_in_file(self.path, error)) from None


def resolve_strategy(spec: str) -> Strategy:
    """Resolve one strategy spec, checking up front that it can work.

    A spec is a built-in name (``STRATEGIES``); a path to a saved mask file ending in .npy or
    .npz ((N, H, W) or (N, L) bool or 0/1, True = masked; shown with its own ratio); or
    ``module:function`` (``pkg.masks:my_generator``, or ``path/to/file.py:my_generator``): a
    callable ``(n, grid, mask_ratio, seed) -> (n, H, W) bool``. A module that is not
    importable as it stands is also looked for in the current folder.

    Raises:
        ValueError: unknown name, missing file, unimportable module, missing attribute, or a
            callable that cannot take those four arguments (one line).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"a strategy must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    if spec in STRATEGIES:
        return Strategy(spec, spec, "builtin")
    if _is_mask_file(spec):
        from maskstats.io import check_mask_file  # io imports only _validate and _cleanup

        path = Path(spec).expanduser()
        try:
            check_mask_file(path)
        except (OSError, ValueError) as error:
            raise ValueError(f"strategy {spec!r}: {error}") from None
        return Strategy(spec, path.name, "file", path=path)
    if ":" not in spec:
        raise ValueError(
            f"unknown strategy {spec!r}; expected one of {', '.join(STRATEGIES)}, "
            "module:function, or a .npy/.npz mask file"
        )
    func = import_callable(spec)
    attr = spec.rpartition(":")[2]
    try:
        inspect.signature(func).bind(1, (1, 1), 0.5, 0)
    except TypeError:
        raise ValueError(
            f"strategy {spec!r}: {_describe(func)} cannot be called as (n, grid, mask_ratio, seed)"
        ) from None
    except ValueError:  # no signature (some builtins): find out when it is called
        pass
    return Strategy(spec, attr.split(".")[-1], "callable", func=func)


def resolve_strategies(specs: Sequence[str]) -> list[Strategy]:
    """:func:`resolve_strategy` for each spec; refuses two specs with one display name."""
    resolved = [resolve_strategy(spec) for spec in specs]
    if not resolved:
        raise ValueError("no strategy given")
    seen: dict[str, str] = {}
    for strategy in resolved:
        if strategy.name in seen:
            raise ValueError(
                f"strategies {seen[strategy.name]!r} and {strategy.spec!r} would both be shown "
                f"as {strategy.name!r}"
            )
        seen[strategy.name] = strategy.spec
    return resolved


def import_callable(spec: str, what: str = "strategy") -> Any:
    """The callable that ``module:function`` (or ``path/to/file.py:function``, or
    ``module:Class.method``) names.

    Args:
        spec: the text.
        what: what the callable is for, named in errors (e.g. "strategy", "--arch").

    Raises:
        ValueError: no ``:``, an unimportable module, a missing attribute or one that is not
            callable (one line).
    """
    module_name, _, attr = spec.strip().rpartition(":")
    if not module_name or not attr:
        raise ValueError(f"{what} {spec!r}: expected module:function")
    module = _import(spec, module_name, what)
    func: Any = module
    for part in attr.split("."):
        if not hasattr(func, part):
            raise ValueError(f"{what} {spec!r}: module {module_name!r} has no {attr!r}")
        func = getattr(func, part)
    if not callable(func):
        raise ValueError(f"{what} {spec!r}: {attr!r} in {module_name!r} is not callable")
    return func


def _is_mask_file(spec: str) -> bool:
    return Path(spec).suffix.lower() in MASK_FILE_SUFFIXES


def _import(spec: str, module_name: str, what: str = "strategy") -> Any:
    """Import ``module_name`` (a dotted name, or a path to a .py file)."""
    try:
        if module_name.endswith(".py"):
            path = Path(module_name).expanduser()
            if not path.is_file():
                raise ValueError(f"{what} {spec!r}: {path} does not exist")
            name = f"_maskstats_strategy_{abs(hash(str(path.resolve())))}"
            if name in sys.modules:
                return sys.modules[name]
            loader_spec = importlib.util.spec_from_file_location(name, path)
            if loader_spec is None or loader_spec.loader is None:  # not for a .py file
                raise ValueError(f"{what} {spec!r}: cannot import {path}")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[name] = module
            try:
                loader_spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
            return module
        try:
            return importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            cwd = os.getcwd()
            if error.name != module_name.split(".")[0] or cwd in sys.path or "" in sys.path:
                raise
            sys.path.append(cwd)  # a console script does not look in the current folder
            return importlib.import_module(module_name)
    except ValueError:
        raise
    except Exception as error:  # the user's module failed to import: one line, named
        raise ValueError(
            f"{what} {spec!r}: cannot import {module_name!r} ({type(error).__name__}: {error})"
        ) from None


def _describe(func: Any) -> str:
    module = getattr(func, "__module__", None)
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func))
    loaded = sys.modules.get(module) if module else None
    if module and module.startswith("_maskstats_strategy_") and loaded is not None:
        return f"{Path(str(loaded.__file__)).name}:{name}"  # a file.py:function spec
    return f"{module}.{name}" if module else str(name)


def _in_file(path: Path | None, error: Exception) -> str:
    """An error about a mask file, naming the file once."""
    text = str(error)
    return text if str(path) in text else f"mask file {path}: {text}"


def _what(value: Any) -> str:
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None:
        return f"{type(value).__name__} of shape {tuple(shape)} and dtype {dtype}"
    return f"a {type(value).__name__}"
