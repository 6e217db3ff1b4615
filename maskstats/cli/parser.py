"""The ``maskstats`` argument parser. Flags of settings dataclasses are generated from their
fields (``maskstats._options.option``), so every default is written once."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from maskstats.cli import commands
from maskstats.cli.argtypes import (
    KINDS,
    UsageError,
    parse_grid,
    parse_ratio,
    parse_sizes,
    positive_int,
)
from maskstats.mae.config import EvalSettings, Table5Settings, TrainConfig
from maskstats.masks import STRATEGIES
from maskstats.report import ReportSettings


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise UsageError(f"{self.prog}: {message}")


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
        kwargs: dict[str, object] = {"dest": field.name, "help": help_text}
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
    formatter = argparse.ArgumentDefaultsHelpFormatter
    parser = _Parser(prog="maskstats", description="Difficulty of masked-image-modeling masks.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, formatter_class=formatter)

    stats = command("stats", "metric statistics of generated or saved masks")
    add_mask_options(stats)
    stats.add_argument("--masks", help="read masks from a .npy/.npz file instead")
    stats.add_argument("--grid", type=parse_grid, help="HxW for (N, L) mask files")
    stats.add_argument("--out", help="write one row per mask (.csv or .parquet)")
    stats.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    stats.add_argument(
        "--on-empty",
        choices=("raise", "nan"),
        default="raise",
        help="masks with no visible patch: error or NaN",
    )
    stats.set_defaults(func=commands.cmd_stats)

    masks = command("masks", "generate masks of any strategy and save them (.npy)")
    add_mask_options(masks)
    masks.add_argument("--out", required=True, help="output .npy path")
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

    table5 = command("table5", "the Tab.5 comparison: train, evaluate, one table")
    add_settings(table5, Table5Settings)
    table5.add_argument(
        "--quick", action="store_true", help="60 steps per run and one seed (minutes on a CPU)"
    )
    table5.set_defaults(func=commands.cmd_table5)

    bench = command("bench", "time the kernels against numpy/scipy/torch baselines")
    bench.add_argument("--sizes", type=parse_sizes, default=(256, 4096, 65536), help="batch sizes")
    bench.add_argument(
        "--repeats", type=positive_int, default=5, help="timed repeats per case (the median)"
    )
    bench.add_argument(
        "--out", default="maskstats-bench", help="folder for benchmark.csv, .md and .png"
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


__all__ = ["add_settings", "build_parser"]
