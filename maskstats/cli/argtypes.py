"""Parsers of command-line text into values: each raises ``argparse.ArgumentTypeError`` with
one line saying what was expected. ``KINDS`` maps the settings fields' ``kind`` to them."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

from maskstats.masks import STRATEGIES, resolve_strategies

MAX_RATIOS = 1000
"""A ratio list longer than this is a typo (e.g. a step of 1e-8), not a sweep."""


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """A finite number (no nan or inf)."""
    return _number(text)


def path_text(text: str) -> str:
    """A file or folder path, refusing an empty one (an unset shell variable: ``--masks
    "$MASKS"`` would otherwise fall back silently to something else)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return text


def path_arg(text: str) -> Path:
    """:func:`path_text` as a Path."""
    return Path(path_text(text))


def parse_grid(text: str) -> tuple[int, ...]:
    """'14x14' or '14' -> (14, 14); a clip's token grid 'TxHxW' ('8x14x14') -> (8, 14, 14)."""
    parts = text.lower().split("x")
    try:
        values = [int(part) for part in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected HxW like 14x14 (clips: TxHxW like 8x14x14), got {text!r}"
        ) from None
    if len(values) == 1:
        values = values * 2
    if len(values) not in (2, 3) or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected HxW like 14x14 (clips: TxHxW like 8x14x14), got {text!r}"
        )
    return tuple(values)


def parse_ratio(text: str) -> float:
    """A mask ratio in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"mask ratio must be in [0, 1), got {text}")
    return value


def parse_share(text: str) -> float:
    """A share strictly between 0 and 1 (e.g. of the evaluation images held out for testing)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a share in (0, 1), got {text}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def parse_ratios(text: str) -> tuple[float, ...]:
    """'0.5:0.95:0.05' (start:stop:step, stop included) or '0.75,0.9' -> mask ratios in [0, 1).

    Raises:
        ValueError: malformed text, a ratio outside [0, 1), start > stop, or more than
            ``MAX_RATIOS`` ratios.
    """
    try:
        if ":" in text:
            start, stop, step = (float(part) for part in text.split(":"))
        else:
            ratios = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"expected ratios as start:stop:step or a,b,c, got {text!r}") from None
    if ":" in text:
        if not all(math.isfinite(v) for v in (start, stop, step)) or step <= 0:
            raise ValueError(f"expected start:stop:step with a finite step > 0, got {text!r}")
        if start > stop:
            raise ValueError(f"start {start:g} is above stop {stop:g} in {text!r}")
        count = math.floor((stop - start) / step + 1e-9) + 1
        if count > MAX_RATIOS:
            raise ValueError(f"{text!r} gives {count} ratios; at most {MAX_RATIOS}")
        ratios = tuple(round(start + k * step, 10) for k in range(count))
    if not ratios or any(not 0 <= r < 1 for r in ratios):
        raise ValueError(f"mask ratios must be in [0, 1), got {text!r}")
    return ratios


def parse_ratio_list(text: str) -> tuple[float, ...]:
    """:func:`parse_ratios` for argparse."""
    try:
        return parse_ratios(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_strategies(text: str) -> tuple[str, ...]:
    """'random,grid,mypkg.masks:my_generator,saved.npy' -> strategy specs, each checked up
    front (:func:`maskstats.masks.resolve_strategies`): a built-in name, an importable
    ``module:function``, or an existing .npy/.npz mask file."""
    specs = tuple(part.strip() for part in text.split(",") if part.strip())
    if not specs:
        raise argparse.ArgumentTypeError(
            f"expected strategies from {', '.join(STRATEGIES)}, module:function or .npy/.npz "
            f"files, got {text!r}"
        )
    try:
        resolve_strategies(specs)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return specs


def parse_sizes(text: str) -> tuple[int, ...]:
    """'256,4096' -> (256, 4096)."""
    try:
        return tuple(positive_int(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected sizes like 256,4096, got {text!r}") from None


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0,1,2' -> (0, 1, 2); a repeated seed is refused (it would run the same run twice)."""
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like 0,1,2, got {text!r}") from None
    if len(set(seeds)) < len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds, got {text!r} (one repeats)")
    return seeds


KINDS: dict[str, Callable[[str], object]] = {
    "float": finite_float,
    "int": int,
    "str": str,
    "path": path_arg,
    "positive_int": positive_int,
    "ratio": parse_ratio,
    "share": parse_share,
    "ratios": parse_ratio_list,
    "strategies": parse_strategies,
    "seeds": parse_seeds,
    "sizes": parse_sizes,
    "grid": parse_grid,
}
"""Settings field ``kind`` -> parser of its command-line text."""
