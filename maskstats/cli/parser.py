"""The ``maskstats`` argument parser. Flags of settings dataclasses are generated from their
fields (``maskstats._options.option``), so every default is written once."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path
from typing import Any, NoReturn

from maskstats._version import __version__
from maskstats.cli import commands
from maskstats.cli.argtypes import (
    KINDS,
    UsageError,
    parse_grid,
    parse_ratio,
    parse_sizes,
    path_text,
    positive_int,
)
from maskstats.mae.config import EvalSettings, Table5Settings, TrainConfig, VisualizeSettings
from maskstats.masks import STRATEGIES
from maskstats.report import ReportSettings


def default_text(value: object) -> str:
    """A default as a user would type it: 0.5,0.6 for a tuple, start:stop:step for four or
    more evenly spaced numbers (as ``--ratios`` reads them), the path as text."""
    if isinstance(value, tuple | list):
        items = list(value)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in items)
        if numbers and len(items) >= 4 and any(isinstance(v, float) for v in items):
            steps = {round(b - a, 9) for a, b in zip(items, items[1:], strict=False)}
            if len(steps) == 1 and next(iter(steps)) > 0:
                return f"{items[0]:g}:{items[-1]:g}:{next(iter(steps)):g}"
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in items)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each default said once, as typed: not for required options, flags, options without a
    default, or help that already names its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            action.required
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or "default" in text.lower()
            or isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
        ):
            return text
        return f"{text} (default: {default_text(default).replace('%', '%%')})"


def _suggestion(word: str, choices: list[str]) -> str:
    """' (did you mean X?)' for the closest of ``choices``, or ''."""
    import difflib

    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)  # --ratio is not --ratios
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if found:
            choices = re.findall(r"'([^']*)'", found.group(2))
            message += _suggestion(found.group(1), choices)
        raise UsageError(f"{self.prog}: {message}")

    def parse_args(self, args=None, namespace=None):  # noqa: D102 - argparse's
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self._unknown(parsed, extras)
        return parsed

    def _unknown(self, parsed: argparse.Namespace, extras: list[str]) -> None:
        """Raise 'unrecognized arguments: X', naming the chosen command's closest option."""
        parser: argparse.ArgumentParser = self
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                parser = action.choices.get(getattr(parsed, action.dest, ""), self)
        options = [o for a in parser._actions for o in a.option_strings]
        first = next((e for e in extras if e.startswith("-")), extras[0])
        hint = _suggestion(first.split("=")[0], options) if first.startswith("-") else ""
        prog = parser.prog if parser is not self else self.prog
        raise UsageError(f"{prog}: unrecognized arguments: {' '.join(extras)}{hint}")


def _kind_of(field: dataclasses.Field) -> str:
    kind = field.metadata.get("kind")
    if kind:
        return kind
    default = field.default
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, float):
        return "float"
    if isinstance(default, int):
        return "int"
    if isinstance(default, Path):
        return "path"
    return "str"


def _flags(name: str, aliases: tuple[str, ...]) -> list[str]:
    primary = f"-{name}" if len(name) == 1 else f"--{name.replace('_', '-')}"
    return [primary, *(alias for alias in aliases if alias != primary)]


def add_settings(
    parser: argparse.ArgumentParser, settings: type, exclude: tuple[str, ...] = ()
) -> None:
    """One flag per field of the dataclass ``settings`` that has ``cli`` set, with its default,
    help, parser (from ``kind``) and choices; a field without a default is required."""
    for field in dataclasses.fields(settings):
        meta = field.metadata
        if not meta.get("cli", True) or field.name in exclude:
            continue
        flags = _flags(field.name, meta.get("aliases", ()))
        kind = _kind_of(field)
        help_text = meta.get("help") or field.name.replace("_", " ")
        kwargs: dict[str, Any] = {"dest": field.name, "help": help_text}
        if kind == "bool":
            kwargs["action"] = "store_true"
        else:
            kwargs["type"] = KINDS[kind]
            if meta.get("choices"):
                kwargs["choices"] = meta["choices"]
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                kwargs["required"] = True
            else:
                kwargs["default"] = field.default
        parser.add_argument(*flags, **kwargs)


def add_mask_options(parser: argparse.ArgumentParser) -> None:
    """Options that say which masks to make (shared by stats and masks)."""
    parser.add_argument("--strategy", default="random", choices=STRATEGIES, help="mask strategy")
    parser.add_argument(
        "--target-avgdist", type=KINDS["float"], help="difficulty strategy: target AvgDist (px)"
    )
    parser.add_argument(
        "--target-p2dist", type=KINDS["float"], help="difficulty strategy: target P2Dist (patches)"
    )
    parser.add_argument(
        "--tol", type=KINDS["float"], default=0.02, help="difficulty strategy: relative tolerance"
    )
    parser.add_argument("--mask-ratio", type=parse_ratio, default=0.75, help="share masked")
    parser.add_argument(
        "--num-masked",
        type=positive_int,
        default=None,
        help="block strategy: masked patches per mask, as BEiT counts them (BEiT pretrains "
        "with 75 at 224/16); overrides --mask-ratio",
    )
    parser.add_argument(
        "--min-num-patches",
        type=positive_int,
        default=None,
        help="block strategy: smallest block in patches (default 4, BEiT's class default; "
        "BEiT pretrains with 16)",
    )
    parser.add_argument("--img-size", type=positive_int, default=224, help="image side (px)")
    parser.add_argument("--patch-size", type=positive_int, default=16, help="patch side (px)")
    parser.add_argument(
        "--mask-patch-size",
        type=positive_int,
        default=32,
        help="SimMIM masking cell in pixels (simmim only)",
    )
    parser.add_argument("-n", type=positive_int, default=4096, help="number of masks")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the masks")
    add_clip_options(parser)


def add_clip_options(parser: argparse.ArgumentParser) -> None:
    """Options for clips (VideoMAE): frames, tubelet size and the temporal step."""
    parser.add_argument(
        "--frames",
        type=positive_int,
        default=None,
        help="clip length in frames: masks on the token grid (frames/tubelet, H, W); "
        "strategies tube, running_cell, random (whole clip) and image strategies as tubes",
    )
    parser.add_argument(
        "--tubelet-size", type=positive_int, default=2, help="frames per token (VideoMAE: 2)"
    )
    parser.add_argument(
        "--temporal-step",
        type=KINDS["float"],
        default=None,
        help="px between consecutive token-frames (default: the patch size, a token is a cube)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``maskstats`` parser with every subcommand."""
    formatter = HelpFormatter
    parser = _Parser(prog="maskstats", description="Difficulty of masked-image-modeling masks.")
    parser.add_argument(
        "--version", action="version", version=f"maskstats {__version__}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, formatter_class=formatter)

    stats = command("stats", "metric statistics of generated or saved masks")
    add_mask_options(stats)
    stats.add_argument("--masks", type=path_text, help="read masks from a .npy/.npz file instead")
    stats.add_argument("--grid", type=parse_grid, help="HxW for (N, L) mask files")
    stats.add_argument("--out", type=path_text, help="write one row per mask (.csv or .parquet)")
    stats.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    stats.add_argument(
        "--on-empty",
        choices=("raise", "nan"),
        default="raise",
        help="masks with no visible patch: error or NaN",
    )
    stats.set_defaults(func=commands.cmd_stats)

    masks = command("masks", "generate masks of any strategy and save them (.npy or .npz)")
    add_mask_options(masks)
    masks.add_argument("--out", type=path_text, required=True, help="output .npy or .npz path")
    masks.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    masks.set_defaults(func=commands.cmd_masks)

    report = command("report", "the main job: sweep, tables, figures, index.html")
    add_settings(report, ReportSettings)
    report.set_defaults(func=commands.cmd_report)

    train = command("train", "MAE pretraining with difficulty-weighted loss")
    add_settings(train, TrainConfig)
    train.set_defaults(func=commands.cmd_train)

    evaluate = command("eval", "linear probe, k-NN and real difficulty of a checkpoint")
    add_settings(evaluate, EvalSettings)
    evaluate.set_defaults(func=commands.cmd_eval)

    visualize = command(
        "visualize",
        "reconstructions of an MAE checkpoint next to each patch's loss, difficulty and weight",
    )
    add_settings(visualize, VisualizeSettings)
    visualize.set_defaults(func=commands.cmd_visualize)

    table5 = command("table5", "the Tab.5 comparison: train, evaluate, one table")
    add_settings(table5, Table5Settings)
    table5.add_argument(
        "--quick",
        action="store_true",
        help="60 steps per run and one seed: 13 runs, each announced as run i of n with the "
        "time left",
    )
    table5.set_defaults(func=commands.cmd_table5)

    bench = command("bench", "time the kernels against numpy/scipy/torch baselines")
    bench.add_argument("--sizes", type=parse_sizes, default=(256, 4096, 65536), help="batch sizes")
    bench.add_argument(
        "--repeats", type=positive_int, default=5, help="timed repeats per case (the median)"
    )
    bench.add_argument(
        "--out",
        type=path_text,
        default="maskstats-bench",
        help="folder for benchmark.csv, .md and .png",
    )
    bench.add_argument(
        "--overwrite", action="store_true", help="replace benchmark files already in --out"
    )
    bench.add_argument(
        "--no-extras",
        action="store_true",
        help="skip the scaling, thread, start-up and memory measurements",
    )
    bench.add_argument(
        "--clips",
        action="store_true",
        help="time the clip metrics instead: 64 clips of 8x14x14 tokens at mask ratio 0.9 "
        "against scipy per clip (clip_benchmark.csv, .md)",
    )
    bench.set_defaults(func=commands.cmd_bench)
    return parser


__all__ = ["HelpFormatter", "add_settings", "build_parser", "default_text"]
