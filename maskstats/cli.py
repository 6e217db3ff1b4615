"""``maskstats`` command line: parses, calls the library, turns errors into one line + exit 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from maskstats import masks as mask_lib
from maskstats.masks import STRATEGIES


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise UsageError(f"{self.prog}: {message}")


def parse_grid(text: str) -> tuple[int, int]:
    """'14x14' or '14' -> (14, 14)."""
    parts = text.lower().split("x")
    try:
        values = [int(part) for part in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW like 14x14, got {text!r}") from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected HxW like 14x14, got {text!r}")
    return values[0], values[1]


def parse_ratio(text: str) -> float:
    """A mask ratio in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"mask ratio must be in [0, 1), got {text}")
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


def add_mask_options(parser: argparse.ArgumentParser) -> None:
    """Options that say which masks to make (shared by stats and masks)."""
    parser.add_argument("--strategy", default="random", choices=(*STRATEGIES, "difficulty"))
    parser.add_argument(
        "--target-avgdist",
        type=float,
        default=None,
        help="difficulty strategy: target AvgDist in pixels",
    )
    parser.add_argument(
        "--target-p2dist",
        type=float,
        default=None,
        help="difficulty strategy: target mean P2Dist in patches",
    )
    parser.add_argument(
        "--tol", type=float, default=0.02, help="difficulty strategy: relative tolerance"
    )
    parser.add_argument("--mask-ratio", type=parse_ratio, default=0.75)
    parser.add_argument("--img-size", type=positive_int, default=224)
    parser.add_argument("--patch-size", type=positive_int, default=16)
    parser.add_argument(
        "--mask-patch-size",
        type=positive_int,
        default=32,
        help="SimMIM masking cell in pixels (simmim only)",
    )
    parser.add_argument("-n", type=positive_int, default=4096, help="number of masks")
    parser.add_argument("--seed", type=int, default=0)


def masks_from_args(args: argparse.Namespace) -> np.ndarray:
    """Make the masks the options describe, or read them from --masks."""
    if getattr(args, "masks", None):
        from maskstats.io import load_masks

        return load_masks(args.masks, args.grid)
    extra = {}
    if args.strategy == "difficulty":
        extra = {
            "target_avgdist": args.target_avgdist,
            "target_p2dist": args.target_p2dist,
            "tol": args.tol,
        }
    return mask_lib.generate(
        args.strategy,
        args.n,
        args.img_size,
        args.patch_size,
        args.mask_ratio,
        seed=args.seed,
        mask_patch_size=args.mask_patch_size,
        **extra,
    )


def cmd_masks(args: argparse.Namespace) -> int:
    """Generate masks of any strategy and save them as .npy (N, H, W) bool."""
    from maskstats.io import save_masks
    from maskstats.metrics import avgdist

    masks = masks_from_args(args)
    path = save_masks(args.out, masks)
    values = avgdist(masks, args.patch_size, on_empty="nan")
    print(
        f"{masks.shape[0]} {args.strategy} masks, grid {masks.shape[1]}x{masks.shape[2]}, "
        f"{int(masks[0].sum())} masked each; AvgDist mean {np.nanmean(values):.3f} px "
        f"[{np.nanmin(values):.3f}, {np.nanmax(values):.3f}]; wrote {path}"
    )
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """Print per-metric statistics; optionally write one row per mask."""
    import pandas as pd

    from maskstats.analysis import compute_chunked, mask_table, summarize
    from maskstats.metrics import METRIC_NAMES

    masks = masks_from_args(args)
    values = compute_chunked(masks, METRIC_NAMES, args.patch_size, on_empty=args.on_empty)
    summary = summarize(masks, args.patch_size, METRIC_NAMES, values=values)
    source = args.masks or f"{args.strategy} masks, mask_ratio={args.mask_ratio}"
    grid = f"{masks.shape[1]}x{masks.shape[2]}"
    print(f"{masks.shape[0]} masks on a {grid} grid ({source}), patch_size={args.patch_size}")
    with pd.option_context("display.width", 120, "display.float_format", "{:.3f}".format):
        print(summary.to_string())
    if args.out:
        from maskstats.io import write_table

        path = write_table(mask_table(masks, args.patch_size, values=values), args.out)
        print(f"wrote {path}")
    return 0


def parse_sizes(text: str) -> tuple[int, ...]:
    """'256,4096' -> (256, 4096)."""
    try:
        sizes = tuple(positive_int(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected sizes like 256,4096, got {text!r}") from None
    return sizes


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark harness and print its Markdown summary."""
    from maskstats.bench import run_benchmark

    _, text = run_benchmark(args.out, args.sizes, args.repeats, extras=not args.no_extras)
    print(text)
    print(f"wrote {args.out}/benchmark.csv, benchmark.md, benchmark.png")
    return 0


def parse_ratio_list(text: str) -> tuple[float, ...]:
    """'0.5:0.95:0.05' or '0.75,0.9' -> ratios in [0, 1)."""
    from maskstats.analysis import parse_ratios

    try:
        return parse_ratios(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_strategies(text: str) -> tuple[str, ...]:
    """'random,block' -> strategies, each one maskstats can generate."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in (*STRATEGIES, "difficulty")]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown strategy {unknown or text!r}; expected names from {', '.join(STRATEGIES)}"
        )
    return names


def cmd_report(args: argparse.Namespace) -> int:
    """Run the sweep and write the report folder."""
    from pathlib import Path

    from maskstats.report import ReportSettings, run_report

    settings = ReportSettings(
        out=Path(args.out),
        img_size=args.img_size,
        patch_size=args.patch_size,
        strategies=args.strategies,
        mask_ratios=args.ratios,
        n=args.n,
        seed=args.seed,
        overwrite=args.overwrite,
        target_avgdist=args.target_avgdist,
    )
    if "difficulty" in args.strategies and args.target_avgdist is None:
        raise UsageError("maskstats report: strategy difficulty needs --target-avgdist")
    run_report(settings)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Pretrain an MAE; prints a summary line."""
    from maskstats.mae.data import DataError
    from maskstats.mae.train import config_from_args, train

    try:
        summary = train(config_from_args(vars(args)))
    except DataError as error:
        raise ValueError(str(error)) from None
    print(
        f"done: step {summary['step']}, loss {summary['loss']:.4f}, "
        f"{summary['step_ms']:.1f} ms/step, difficulty share of step time "
        f"{100 * summary['difficulty_share']:.2f}%, outputs in {args.out}"
    )
    return 0


def add_train_options(parser: argparse.ArgumentParser) -> None:
    """Flags of ``maskstats train`` (MAE's main_pretrain.py names where they overlap)."""
    from maskstats.mae.model import CONFIGS
    from maskstats.weights import DIFFICULTY_METRICS, WEIGHTINGS

    parser.add_argument("--model", default="mae_vit_micro", choices=tuple(CONFIGS))
    parser.add_argument(
        "--data",
        default="builtin:natural",
        help="builtin:natural, builtin:digits, cifar:PATH, or an image folder",
    )
    parser.add_argument("--img-size", type=positive_int, default=None)
    parser.add_argument("--patch-size", type=positive_int, default=None)
    parser.add_argument("--mask-ratio", type=parse_ratio, default=0.75)
    parser.add_argument("--strategy", default="random", choices=(*STRATEGIES, "difficulty"))
    parser.add_argument("--mask-patch-size", type=positive_int, default=32)
    parser.add_argument(
        "--target-avgdist",
        type=float,
        default=None,
        help="AvgDist target in pixels (strategy difficulty)",
    )
    parser.add_argument("--metric", default="none", choices=("none", *DIFFICULTY_METRICS))
    parser.add_argument("--weighting", default="none", choices=WEIGHTINGS)
    parser.add_argument("--flatten-alpha", type=float, default=1.0)
    parser.add_argument("--inverse-gamma", type=float, default=1.0)
    parser.add_argument("--decoder-mask-ratio", type=parse_ratio, default=0.0)
    parser.add_argument("--epochs", type=positive_int, default=5)
    parser.add_argument("--max-steps", type=positive_int, default=None)
    parser.add_argument(
        "--stop-after-steps",
        type=positive_int,
        default=None,
        help="stop early, as if killed; the schedule still spans the full run",
    )
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument(
        "--accum_iter", "--accum-iter", dest="accum_iter", type=positive_int, default=1
    )
    parser.add_argument("--blr", type=float, default=1.5e-4)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--min_lr", "--min-lr", dest="min_lr", type=float, default=0.0)
    parser.add_argument(
        "--weight_decay", "--weight-decay", dest="weight_decay", type=float, default=0.05
    )
    parser.add_argument(
        "--warmup_epochs", "--warmup-epochs", dest="warmup_epochs", type=float, default=1.0
    )
    parser.add_argument(
        "--norm_pix_loss", "--norm-pix-loss", dest="norm_pix_loss", action="store_true"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/mae")
    parser.add_argument("--save-every", type=positive_int, default=200)
    parser.add_argument("--log-every", type=positive_int, default=10)
    parser.add_argument("--resume", default=None, help="checkpoint file or run folder")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument(
        "--dataset-length",
        type=positive_int,
        default=None,
        help="images per epoch for built-in data (default 4096 crops)",
    )


def cmd_eval(args: argparse.Namespace) -> int:
    """Linear probe, k-NN and real-difficulty correlations of a pretrained checkpoint."""
    from maskstats.mae.data import DataError
    from maskstats.mae.evaluate import EvalSettings, evaluate

    settings = EvalSettings(
        ckpt=args.ckpt,
        data=args.data,
        img_size=args.img_size,
        seed=args.seed,
        k=args.k,
        probe_epochs=args.probe_epochs,
        mask_ratio=args.mask_ratio,
        out=args.out,
        difficulty_data=args.difficulty_data,
    )
    try:
        result = evaluate(settings)
    except DataError as error:
        raise ValueError(str(error)) from None
    print(
        f"linear probe top-1: cls {result['linear_probe_cls']:.4f}, "
        f"mean-pooled {result['linear_probe_mean']:.4f}"
    )
    print(
        f"k-NN (k={args.k}) top-1: cls {result['knn_cls']:.4f}, "
        f"mean-pooled {result['knn_mean']:.4f}"
    )
    print(f"Spearman(metric difficulty, real per-patch loss) at mask ratio {result['mask_ratio']}:")
    for name, values in result["real_difficulty"].items():
        if isinstance(values, dict):
            lo, hi = values["spearman_pooled_ci"]
            print(
                f"  {name:9s} pooled {values['spearman_pooled']:+.3f} [{lo:+.3f}, {hi:+.3f}]  "
                f"per image {values['spearman_per_image']:+.3f}"
            )
    print(f"wrote {result['path']}")
    return 0


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0,1,2' -> (0, 1, 2)."""
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like 0,1,2, got {text!r}") from None
    return seeds


def cmd_table5(args: argparse.Namespace) -> int:
    """Run (or resume) the Tab.5 comparison and print the table."""
    from maskstats.mae.data import DataError
    from maskstats.mae.table5 import Table5Settings, display_table, run_table5

    settings = Table5Settings(
        data=args.data,
        eval_data=args.eval_data,
        model=args.model,
        mask_ratio=args.mask_ratio,
        baseline_ratio=args.baseline_ratio,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        seeds=args.seeds,
        out=args.out,
        dataset_length=args.dataset_length,
    )
    if args.quick:
        settings = settings.quick()
    try:
        tables = run_table5(settings)
    except DataError as error:
        raise ValueError(str(error)) from None
    print(display_table(tables["table"]).to_markdown())
    print(f"wrote {args.out}/table5.csv, .md, .tex, .png")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``maskstats`` parser with every subcommand."""
    parser = _Parser(prog="maskstats", description="Difficulty of masked-image-modeling masks.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    stats = sub.add_parser("stats", help="metric statistics of generated or saved masks")
    add_mask_options(stats)
    stats.add_argument("--masks", help="read masks from a .npy/.npz file instead")
    stats.add_argument("--grid", type=parse_grid, help="HxW for (N, L) mask files")
    stats.add_argument("--out", help="write one row per mask (.csv or .parquet)")
    stats.add_argument(
        "--on-empty",
        choices=("raise", "nan"),
        default="raise",
        help="masks with no visible patch: error (default) or NaN",
    )
    stats.set_defaults(func=cmd_stats)

    masks = sub.add_parser("masks", help="generate masks of any strategy and save them (.npy)")
    add_mask_options(masks)
    masks.add_argument("--out", required=True, help="output .npy path")
    masks.set_defaults(func=cmd_masks)

    report = sub.add_parser("report", help="the main job: sweep, tables, figures, index.html")
    report.add_argument("--out", default="maskstats-report")
    report.add_argument("--img-size", type=positive_int, default=224)
    report.add_argument("--patch-size", type=positive_int, default=16)
    report.add_argument("--strategies", type=parse_strategies, default=STRATEGIES)
    report.add_argument(
        "--ratios",
        type=parse_ratio_list,
        default="0.5:0.95:0.05",
        help="start:stop:step (stop included) or a,b,c",
    )
    report.add_argument("-n", type=positive_int, default=2048, help="masks per setting")
    report.add_argument("--seed", type=int, default=0)
    report.add_argument(
        "--target-avgdist",
        type=float,
        default=None,
        help="AvgDist (px) for the difficulty strategy",
    )
    report.add_argument(
        "--overwrite", action="store_true", help="replace an existing output folder"
    )
    report.set_defaults(func=cmd_report)

    train = sub.add_parser("train", help="MAE pretraining with difficulty-weighted loss")
    add_train_options(train)
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("eval", help="linear probe, k-NN and real difficulty of a checkpoint")
    evaluate.add_argument("--ckpt", required=True, help="checkpoint file or run folder")
    evaluate.add_argument("--data", default="builtin:digits")
    evaluate.add_argument("--img-size", type=positive_int, default=None)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("-k", type=positive_int, default=20)
    evaluate.add_argument("--probe-epochs", type=positive_int, default=300)
    evaluate.add_argument(
        "--mask-ratio",
        type=parse_ratio,
        default=None,
        help="masks for the real-difficulty test (default: the training ratio)",
    )
    evaluate.add_argument(
        "--difficulty-data",
        default=None,
        help="measure real difficulty on fresh crops of this data instead "
        "(e.g. builtin:natural, the pretraining domain)",
    )
    evaluate.add_argument("--out", default=None, help="JSON path (default: RUN/eval.json)")
    evaluate.set_defaults(func=cmd_eval)

    table5 = sub.add_parser("table5", help="the Tab.5 comparison: train, evaluate, one table")
    table5.add_argument("--data", default="builtin:natural")
    table5.add_argument("--eval-data", default="builtin:digits")
    table5.add_argument("--model", default="mae_vit_micro")
    table5.add_argument("--mask-ratio", type=parse_ratio, default=0.9)
    table5.add_argument("--baseline-ratio", type=parse_ratio, default=0.75)
    table5.add_argument("--epochs", type=positive_int, default=8)
    table5.add_argument("--max-steps", type=positive_int, default=None)
    table5.add_argument("--batch-size", type=positive_int, default=64)
    table5.add_argument("--seeds", type=parse_seeds, default=(0, 1, 2))
    table5.add_argument("--dataset-length", type=positive_int, default=None)
    table5.add_argument("--out", default="runs/table5")
    table5.add_argument(
        "--quick",
        action="store_true",
        help="60 steps per run and one seed (minutes on a 2-core CPU)",
    )
    table5.set_defaults(func=cmd_table5)

    bench = sub.add_parser("bench", help="time the kernels against numpy/scipy/torch baselines")
    bench.add_argument("--sizes", type=parse_sizes, default=(256, 4096, 65536))
    bench.add_argument("--repeats", type=positive_int, default=5)
    bench.add_argument("--out", default="figures", help="folder for benchmark.csv/.md/.png")
    bench.add_argument(
        "--no-extras",
        action="store_true",
        help="skip the scaling, thread, start-up and memory measurements",
    )
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for bad input, with one line on stderr)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except UsageError as error:
        print(str(error), file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as error:
        print(f"maskstats: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("maskstats: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
