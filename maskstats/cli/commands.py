"""What each ``maskstats`` subcommand does: turn parsed flags into library calls and print a
short summary. Heavy imports (pandas, torch) happen inside the command that needs them."""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from maskstats import masks as mask_lib
from maskstats.cli.argtypes import UsageError


def settings_from_args(settings: type, args: argparse.Namespace) -> object:
    """The dataclass ``settings`` from parsed flags (fields the CLI does not expose keep their
    defaults)."""
    names = {f.name for f in dataclasses.fields(settings) if f.metadata.get("cli", True)}
    return settings(**{name: getattr(args, name) for name in names if hasattr(args, name)})


def masks_from_args(args: argparse.Namespace) -> np.ndarray:
    """Make the masks the options describe, or read them from --masks."""
    if getattr(args, "masks", None):
        from maskstats.io import load_masks

        return load_masks(args.masks, args.grid)
    return mask_lib.generate(
        args.strategy,
        args.n,
        args.img_size,
        args.patch_size,
        args.mask_ratio,
        seed=args.seed,
        mask_patch_size=args.mask_patch_size,
        target_avgdist=args.target_avgdist,
        target_p2dist=args.target_p2dist,
        tol=args.tol,
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

    from maskstats.metrics import METRIC_NAMES
    from maskstats.tables import compute_chunked, mask_table, summarize

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


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark harness and print its Markdown summary."""
    from maskstats.bench import run_benchmark

    _, text = run_benchmark(args.out, args.sizes, args.repeats, extras=not args.no_extras)
    print(text)
    print(f"wrote {args.out}/benchmark.csv, benchmark.md, benchmark.png")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Run the sweep and write the report folder."""
    from maskstats.report import ReportSettings, run_report

    settings = settings_from_args(ReportSettings, args)
    if "difficulty" in settings.strategies and settings.target_avgdist is None:
        raise UsageError("maskstats report: strategy difficulty needs --target-avgdist")
    run_report(settings)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Pretrain an MAE; prints a summary line."""
    from maskstats.mae.config import TrainConfig
    from maskstats.mae.train import train

    summary = train(settings_from_args(TrainConfig, args))
    print(
        f"done: step {summary['step']}, loss {summary['loss']:.4f}, "
        f"{summary['step_ms']:.1f} ms/step, difficulty share of step time "
        f"{100 * summary['difficulty_share']:.2f}%, outputs in {args.out}"
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Linear probe, k-NN and real-difficulty correlations of a pretrained checkpoint."""
    from maskstats.mae.config import EvalSettings
    from maskstats.mae.evaluate import evaluate

    result = evaluate(settings_from_args(EvalSettings, args))
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


def cmd_table5(args: argparse.Namespace) -> int:
    """Run (or resume) the Tab.5 comparison and print the table."""
    from maskstats.mae.config import Table5Settings
    from maskstats.mae.table5 import display_table, run_table5

    settings = settings_from_args(Table5Settings, args)
    if args.quick:
        settings = settings.quick()
    tables = run_table5(settings)
    print(display_table(tables["table"]).to_markdown())
    print(f"wrote {args.out}/table5.csv, .md, .tex, .png")
    return 0
