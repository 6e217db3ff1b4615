"""What each ``maskstats`` subcommand does: turn parsed flags into library calls and print a
short summary. Heavy imports (pandas, matplotlib, torch) happen inside the command that needs
them, so ``maskstats --help`` stays fast and torch stays optional."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from maskstats import masks as mask_lib
from maskstats.cli.argtypes import UsageError

MEMORY_SHARE = 0.5
"""A command refuses up front to hold more than this share of the machine's memory."""
CHUNK = 2048
"""Masks per piece when ``stats`` reads a file or computes metrics."""
DIFFICULTY_PIECE = 256
"""Masks per piece when the CLI makes difficulty masks (a progress bar between pieces)."""
METRIC_BYTES_PER_CELL = 4 * 5
"""The five metrics' float32 values per patch of a chunk (tracemalloc: 19.7)."""
ROW_BYTES = 256
"""``stats --out``: one row per mask (mask, counts and the metrics' means, as float64)."""
REPORT_BYTES_PER_CELL = 256
"""``report``: peak bytes per patch of one setting's masks, beyond making them: the
Tab.5-style table holds two ratios' masks, their five float32 metrics and the per-patch
tables its agreement ranks (tracemalloc: 215 in that stage, 105 in the sweep; peak RSS
grew 240 per patch from -n 256 to 1024 at 224/4)."""

if TYPE_CHECKING:
    import pandas as pd
    from _typeshed import DataclassInstance

SettingsT = TypeVar("SettingsT", bound="DataclassInstance")
"""A settings dataclass (ReportSettings, TrainConfig, ...)."""

TORCH_HINT = (
    "pip install 'maskstats[train]' (CPU-only machines first: "
    "pip install torch --index-url https://download.pytorch.org/whl/cpu)"
)


def settings_from_args(settings: type[SettingsT], args: argparse.Namespace) -> SettingsT:
    """The dataclass ``settings`` from parsed flags (fields the CLI does not expose keep their
    defaults)."""
    names = {f.name for f in dataclasses.fields(settings) if f.metadata.get("cli", True)}
    return settings(**{name: getattr(args, name) for name in names if hasattr(args, name)})


def require_torch(command: str) -> None:
    """Raise a one-line :class:`UsageError` saying what to install when torch is missing."""
    if importlib.util.find_spec("torch") is None:
        raise UsageError(f"maskstats {command} needs PyTorch, which is not installed: {TORCH_HINT}")


def physical_memory() -> int:
    """Bytes of memory of this machine (a large number where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 40


def check_memory_for(
    need_for: Callable[[int], int],
    n: int,
    grid: tuple[int, int],
    flag: str = "-n",
    what: str = "masks",
) -> None:
    """Refuse, before any work, a run whose peak memory ``need_for(n)`` (bytes; it grows
    with n) is above ``MEMORY_SHARE`` of this machine's memory, in one line with the
    estimate and the largest ``n`` that fits.

    Raises:
        UsageError: the estimate does not fit.
    """
    need = need_for(n)
    limit = int(physical_memory() * MEMORY_SHARE)
    if need <= limit:
        return
    low, high = 0, n  # the largest count that fits: need_for(low) <= limit < need_for(high)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if need_for(middle) <= limit else (low, middle)
    raise UsageError(
        f"maskstats: {flag} {n} {what} on a {grid[0]}x{grid[1]} grid need about "
        f"{need / 1e9:.1f} GB at their peak; this machine allows {limit / 1e9:.1f} GB (half "
        f"its memory): use at most {flag} {max(low, 1)} per run"
    )


def generation_peak(args: argparse.Namespace, n: int) -> int:
    """Peak bytes of making ``n`` masks as :func:`_generate` does (difficulty masks in
    pieces of ``DIFFICULTY_PIECE``); clips (``--frames``): 18 bytes per token, what whole-clip
    random masks hold at their peak (float64 noise, its int64 argsort, the masks)."""
    if getattr(args, "frames", None) is not None:
        return 18 * n * _cells(args)
    if args.strategy == "difficulty" and n > DIFFICULTY_PIECE:
        piece = mask_lib.generation_bytes(
            "difficulty", DIFFICULTY_PIECE, args.img_size, args.patch_size
        )
        return 2 * n * _cells(args) + piece  # the pieces, their concatenation, one piece's peak
    return mask_lib.generation_bytes(
        args.strategy, n, args.img_size, args.patch_size, args.mask_patch_size
    )


def _cells(args: argparse.Namespace) -> int:
    """Patches of one mask (tokens of one clip with ``--frames``)."""
    if getattr(args, "frames", None) is not None:
        clip = mask_lib.video_grid(args.frames, args.tubelet_size, args.img_size, args.patch_size)
        return clip[0] * clip[1] * clip[2]
    height, width = mask_lib.grid_from_image(args.img_size, args.patch_size)
    return height * width


KERNEL_MODULES = (
    "maskstats.metrics._window_kernels",
    "maskstats.metrics.distance_kernels",
    "maskstats.masks._block_kernels",
    "maskstats.masks._search_kernels",
    "maskstats.metrics._video_kernels",
)
"""Modules whose cached numba kernels a first run compiles."""


def kernels_compiled(modules: tuple[str, ...] = KERNEL_MODULES) -> bool:
    """Whether numba's on-disk cache already holds every cached kernel of ``modules`` (False:
    the first call compiles some, which takes seconds). Modules that do not exist are
    skipped."""
    import importlib

    try:
        for name in modules:
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            for value in vars(module).values():
                cache = getattr(value, "_cache", None)
                index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
                if index is not None and not Path(index).exists():
                    return False
    except Exception:  # pragma: no cover - numba internals moved: assume compiled, say nothing
        return True
    return True


def kernel_modules(strategies: tuple[str, ...] = (), clips: bool = False) -> tuple[str, ...]:
    """The kernel modules a run with these mask strategies uses: the metrics always, the block
    generator for "block", the search for "difficulty", the clip metrics for clips."""
    modules = list(KERNEL_MODULES[:2])
    if clips:
        modules.append("maskstats.metrics._video_kernels")
    if "block" in strategies:
        modules.append("maskstats.masks._block_kernels")
    if "difficulty" in strategies:
        modules.append("maskstats.masks._search_kernels")
    return tuple(modules)


def compile_notice(strategies: tuple[str, ...] = (), clips: bool = False) -> None:
    """Print "compiling kernels (first run only)" on stderr when numba's cache lacks a kernel
    this run will use (see :func:`kernel_modules`)."""
    if not kernels_compiled(kernel_modules(tuple(strategies), clips)):
        print(
            "maskstats: compiling kernels (first run only: seconds on a quiet machine, a minute or "
            "more on a busy small one; later runs load them)",
            file=sys.stderr,
            flush=True,
        )


def _generate(args: argparse.Namespace, progress: bool = True) -> np.ndarray:
    """The masks the options describe. Difficulty masks are made in pieces behind a progress
    bar (a far target takes seconds per thousand masks)."""
    kwargs = dict(
        seed=args.seed,
        mask_patch_size=args.mask_patch_size,
        target_avgdist=args.target_avgdist,
        target_p2dist=args.target_p2dist,
        tol=args.tol,
        **clip_kwargs(args),
    )
    if getattr(args, "num_masked", None) is not None:
        kwargs["num_masked"] = args.num_masked
    if getattr(args, "min_num_patches", None) is not None:
        kwargs["min_num_patches"] = args.min_num_patches
    make = mask_lib.generate
    if args.strategy != "difficulty" or args.n <= DIFFICULTY_PIECE:
        return make(
            args.strategy, args.n, args.img_size, args.patch_size, args.mask_ratio, **kwargs
        )
    from tqdm.auto import tqdm

    rng = np.random.default_rng(args.seed)
    kwargs["seed"] = rng
    pieces = []
    with tqdm(
        total=args.n, desc="difficulty masks", unit="mask", delay=1.0, disable=not progress
    ) as bar:
        for start in range(0, args.n, DIFFICULTY_PIECE):
            count = min(DIFFICULTY_PIECE, args.n - start)
            pieces.append(
                make(
                    args.strategy, count, args.img_size, args.patch_size, args.mask_ratio, **kwargs
                )
            )
            bar.update(count)
    return np.concatenate(pieces)


def clip_kwargs(args: argparse.Namespace) -> dict:
    """``frames`` and ``tubelet_size`` for ``generate`` when ``--frames`` is given, else {}."""
    frames = getattr(args, "frames", None)
    return {} if frames is None else {"frames": frames, "tubelet_size": args.tubelet_size}


def metric_kwargs(args: argparse.Namespace) -> dict:
    """``tubelet_size`` and ``temporal_step`` for the clip metrics."""
    step = getattr(args, "temporal_step", None)
    if step is not None and not step > 0:
        raise UsageError(f"maskstats: --temporal-step must be > 0 pixels, got {step:g}")
    return {"tubelet_size": getattr(args, "tubelet_size", 2), "temporal_step": step}


def _check_mask_options(
    args: argparse.Namespace, after: Callable[[int], int] = lambda n: 0
) -> tuple[int, int]:
    """Validate the mask options before any work; returns the patch grid. The memory check
    covers making the masks and, beside the masks, what the command needs after that
    (``after(n)`` bytes)."""
    grid = mask_lib.grid_from_image(args.img_size, args.patch_size)
    if args.strategy == "difficulty" and args.target_avgdist is None and args.target_p2dist is None:
        raise UsageError("maskstats: strategy difficulty needs --target-avgdist or --target-p2dist")
    clips = getattr(args, "frames", None) is not None
    if not clips and args.strategy in mask_lib.VIDEO_STRATEGIES:
        raise UsageError(
            f"maskstats: strategy {args.strategy} makes clips: pass --frames (and --tubelet-size)"
        )
    if getattr(args, "min_num_patches", None) is not None and args.strategy != "block":
        raise UsageError(
            f"maskstats: --min-num-patches is for --strategy block, not {args.strategy}"
        )
    num_masked = getattr(args, "num_masked", None)
    if num_masked is not None:
        if args.strategy != "block":
            raise UsageError(
                f"maskstats: --num-masked is BEiT's count for --strategy block; strategy "
                f"{args.strategy} takes --mask-ratio"
            )
        if num_masked > grid[0] * grid[1]:
            raise UsageError(
                f"maskstats: --num-masked {num_masked} is more than the {grid[0]}x{grid[1]} "
                f"grid's {grid[0] * grid[1]} patches"
            )
    if args.strategy == "simmim":
        from maskstats.masks.generators import check_simmim_cell

        try:
            check_simmim_cell(args.img_size, args.mask_patch_size, args.patch_size)
        except ValueError as error:
            raise UsageError(f"maskstats: {error} (--mask-patch-size)") from None
    if clips:  # the checks above hold for clips too (block and simmim make tubes there)
        clip = mask_lib.video_grid(args.frames, args.tubelet_size, args.img_size, args.patch_size)
        metric_kwargs(args)
        cells = _cells(args)
        check_memory_for(
            lambda n: max(generation_peak(args, n), n * cells + after(n)),
            args.n,
            (clip[0] * clip[1], clip[2]),
            what="clips",
        )
        return grid
    cells = grid[0] * grid[1]
    check_memory_for(lambda n: max(generation_peak(args, n), n * cells + after(n)), args.n, grid)
    return grid


def masks_from_args(args: argparse.Namespace) -> np.ndarray:
    """Make the masks the options describe, or read them from --masks."""
    if getattr(args, "masks", None):
        from maskstats.io import load_masks

        return load_masks(args.masks, args.grid)
    _check_mask_options(args)
    return _generate(args)


def cmd_masks(args: argparse.Namespace) -> int:
    """Generate masks of any strategy and save them as .npy or .npz (N, H, W) bool."""
    from maskstats.io import check_output_file, save_masks
    from maskstats.metrics import avgdist

    if Path(args.out).suffix not in (".npy", ".npz"):
        raise UsageError(f"maskstats masks: --out must end in .npy or .npz, got {args.out}")
    check_output_file(args.out, args.overwrite)
    _check_mask_options(args, lambda n: 4 * n)  # AvgDist per mask (float32)
    compile_notice((args.strategy,), clips=args.frames is not None)
    masks = _generate(args)
    values = avgdist(masks, args.patch_size, on_empty="nan", **metric_kwargs(args))
    path = save_masks(args.out, masks, overwrite=args.overwrite)
    what = "clips" if masks.ndim == 4 else "masks"
    grid = "x".join(str(side) for side in masks.shape[1:])
    print(
        f"{masks.shape[0]} {args.strategy} {what}, grid {grid}, "
        f"{int(masks[0].sum())} masked each; AvgDist mean {np.nanmean(values):.3f} px "
        f"[{np.nanmin(values):.3f}, {np.nanmax(values):.3f}]; wrote {path}"
    )
    return 0


class ValueCounts:
    """Exact running tally of a metric's values: each distinct value and how often it occurs.
    The metrics take few distinct values (density3 9, nearest a few dozen, p2dist and invdist5
    a few thousand at 224/16), so memory stays bounded however many masks stream through,
    and the mean, std and quantiles equal numpy's over the pooled values."""

    def __init__(self) -> None:
        self.values = np.empty(0, np.float64)
        self.counts = np.empty(0, np.int64)

    def add(self, sample: np.ndarray) -> None:
        """Count the finite entries of ``sample`` (any shape)."""
        sample = np.asarray(sample, dtype=np.float64).ravel()
        values, counts = np.unique(sample[np.isfinite(sample)], return_counts=True)
        merged, inverse = np.unique(np.concatenate([self.values, values]), return_inverse=True)
        self.counts = np.bincount(
            inverse, np.concatenate([self.counts, counts]), len(merged)
        ).astype(np.int64)
        self.values = merged

    @property
    def count(self) -> int:
        """Values tallied."""
        return int(self.counts.sum())

    def mean(self) -> float:
        """Mean of the tallied values (NaN when none)."""
        return float(np.dot(self.values, self.counts) / self.count) if self.count else np.nan

    def std(self) -> float:
        """Population standard deviation of the tallied values (NaN when none)."""
        if not self.count:
            return np.nan
        centred = self.values - self.mean()
        return float(np.sqrt(np.dot(centred * centred, self.counts) / self.count))

    def quantile(self, q: float) -> float:
        """Numpy's default ("linear") quantile of the pooled values."""
        if not self.count:
            return np.nan
        position = q * (self.count - 1)
        below, frac = int(np.floor(position)), position - np.floor(position)
        ends = np.cumsum(self.counts)  # sorted index k lies in the first bin with ends > k
        low = self.values[np.searchsorted(ends, below, side="right")]
        high = self.values[np.searchsorted(ends, min(below + 1, self.count - 1), side="right")]
        return float(low + (high - low) * frac)


def summary_of_counts(tallies: dict[str, ValueCounts]) -> pd.DataFrame:
    """Per metric: over, unit, count, mean, std and quantiles q10 ... q90 (masked patches;
    avgdist: masks), as :func:`maskstats.tables.summarize` gives them."""
    import pandas as pd

    from maskstats.metrics import REGISTRY
    from maskstats.tables import QUANTILES

    rows = []
    for name, tally in tallies.items():
        info = REGISTRY[name]
        row = {
            "metric": name,
            "over": "masked patches" if info.per_patch else "masks",
            "unit": info.unit,
            "count": tally.count,
            "mean": tally.mean(),
            "std": tally.std(),
        }
        row.update({f"q{round(q * 100)}": tally.quantile(q) for q in QUANTILES})
        rows.append(row)
    return pd.DataFrame(rows).set_index("metric")


def _stats_chunks(args: argparse.Namespace) -> tuple[Iterator[np.ndarray], int]:
    """Chunks of the masks to describe and their total count; a mask file is memory-mapped
    and read one chunk at a time."""
    if args.masks:
        from maskstats.io import iter_mask_chunks, mask_count

        total = mask_count(args.masks)
        return iter_mask_chunks(args.masks, args.grid, CHUNK), total
    cells = _cells(args)
    _check_mask_options(
        args,
        lambda n: (
            min(n, CHUNK) * cells * (METRIC_BYTES_PER_CELL + 1) + (n * ROW_BYTES if args.out else 0)
        ),
    )
    masks = _generate(args)
    return (masks[start : start + CHUNK] for start in range(0, len(masks), CHUNK)), len(masks)


def cmd_stats(args: argparse.Namespace) -> int:
    """Print per-metric statistics; optionally write one row per mask. Works chunk by chunk:
    beyond the chunk, memory holds a tally of each metric's distinct values (and, with --out,
    one row per mask)."""
    import pandas as pd
    from tqdm.auto import tqdm

    from maskstats.metrics import METRIC_NAMES, REGISTRY, VIDEO_METRIC_NAMES, compute
    from maskstats.tables import mask_table

    if args.out:
        from maskstats.io import check_table_output

        check_table_output(args.out, args.overwrite)
    clip_options = metric_kwargs(args)
    chunks, total = _stats_chunks(args)
    tallies: dict[str, ValueCounts] = {}
    rows = []
    shape = None
    names = METRIC_NAMES
    endless = 0  # clips: masked tokens whose position is masked in every token-frame
    strategies = () if args.masks else (args.strategy,)
    clips = getattr(args, "frames", None) is not None or _is_clip_file(args)
    compiled = kernels_compiled(kernel_modules(strategies, clips))
    with tqdm(total=total, desc="metrics", unit="mask", delay=1.0) as bar:
        for start_chunk in _offsets(chunks):
            start, chunk = start_chunk
            if shape is None:
                names = VIDEO_METRIC_NAMES if chunk.ndim == 4 else METRIC_NAMES
                tallies = {name: ValueCounts() for name in names}
                compute(chunk[:0], names, args.patch_size, on_empty=args.on_empty, **clip_options)
                shape = chunk.shape[1:]
                if not compiled:
                    bar.clear()
                    compile_notice(strategies, clips)
            values = compute(chunk, names, args.patch_size, on_empty=args.on_empty, **clip_options)
            for name in names:
                value = values[name]
                picked = value[chunk] if REGISTRY[name].per_patch else value
                tallies[name].add(picked)
            if "temporal" in values:
                endless += int(np.isinf(values["temporal"][chunk]).sum())
            if args.out:
                table = mask_table(chunk, args.patch_size, names=names, values=values)
                table["mask"] += start
                rows.append(table)
            bar.update(len(chunk))
    assert shape is not None  # the loop ran: a mask source holds at least one mask
    summary = summary_of_counts(tallies)
    what = "clips" if len(shape) == 3 else "masks"
    source = args.masks or f"{args.strategy} {what}, mask_ratio={args.mask_ratio}"
    if not args.masks and getattr(args, "num_masked", None) is not None:
        source = f"{args.strategy} {what}, {args.num_masked} masked"
    grid = "x".join(str(side) for side in shape)
    sizes = f"patch_size={args.patch_size}"
    if len(shape) == 3:
        step = clip_options["temporal_step"] or args.patch_size
        sizes += f", tubelet_size={args.tubelet_size}, temporal_step={step:g} px"
    print(f"{total} {what} on a {grid} grid ({source}), {sizes}")
    with pd.option_context("display.width", 120, "display.float_format", "{:.3f}".format):
        print(summary.to_string())
    if len(shape) == 3:
        masked = tallies["temporal"].count + endless
        share = endless / masked if masked else float("nan")
        print(
            f"temporal: over the masked tokens with their position visible in another "
            f"token-frame; {share:.1%} of masked tokens have it masked in every token-frame "
            "(gap infinite, as in tube masks)"
        )
    if args.out:
        from maskstats.io import write_table

        path = write_table(pd.concat(rows, ignore_index=True), args.out, overwrite=args.overwrite)
        print(f"wrote {path}")
    return 0


def _is_clip_file(args: argparse.Namespace) -> bool:
    """Whether ``--masks`` names clips: a 4-D array, or (N, L) with a TxHxW ``--grid``."""
    if not getattr(args, "masks", None):
        return False
    if args.grid is not None and len(args.grid) == 3:
        return True
    from maskstats.io import open_mask_array

    try:
        return open_mask_array(args.masks).ndim == 4
    except (OSError, ValueError):
        return False  # reported when the file is read


def _offsets(chunks: Iterator[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
    start = 0
    for chunk in chunks:
        yield start, chunk
        start += len(chunk)


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark harness and print its Markdown summary."""
    from maskstats.bench import CELLS, OUTPUT_FILES, check_bench_output, peak_bytes, run_benchmark

    if getattr(args, "clips", False):
        return _bench_clips(args)
    check_bench_output(args.out, args.overwrite)
    largest = max(args.sizes)
    check_memory_for(
        lambda n: peak_bytes((n,), args.repeats),
        largest,
        CELLS,
        flag="--sizes",
        what="masks per case",
    )
    compile_notice()
    _, text = run_benchmark(args.out, args.sizes, args.repeats, extras=not args.no_extras)
    print(text)
    print(f"wrote {', '.join(OUTPUT_FILES)} to {args.out}/")
    return 0


def _bench_clips(args: argparse.Namespace) -> int:
    """``maskstats bench --clips``: the clip benchmark into --out."""
    from maskstats.bench import CLIP_OUTPUT_FILES, run_clip_benchmark

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"maskstats bench: {out} is a file; pass a folder")
    existing = [name for name in CLIP_OUTPUT_FILES if (out / name).exists()]
    if existing and not args.overwrite:
        raise UsageError(
            f"maskstats bench: {out} already holds {', '.join(existing)}; pass --overwrite"
        )
    compile_notice(clips=True)
    _, text = run_clip_benchmark(out, args.repeats)
    print(text)
    print(f"wrote {', '.join(CLIP_OUTPUT_FILES)} to {out}/")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Run the sweep and write the report folder."""
    from maskstats.report import ReportSettings, run_report

    settings = settings_from_args(ReportSettings, args)
    if "difficulty" in settings.strategies and settings.target_avgdist is None:
        raise UsageError("maskstats report: strategy difficulty needs --target-avgdist")
    grid = mask_lib.grid_from_image(settings.img_size, settings.patch_size)

    def need(n: int) -> int:
        making = max(
            mask_lib.generation_bytes(
                spec, n, settings.img_size, settings.patch_size, settings.mask_patch_size
            )
            for spec in settings.strategies
        )
        return max(making, n * grid[0] * grid[1] * REPORT_BYTES_PER_CELL)

    check_memory_for(need, settings.n, grid)
    import shlex

    settings.command = shlex.join(["maskstats", *getattr(args, "argv", ["report"])])
    run_report(settings, notice=lambda: compile_notice(tuple(settings.strategies)))
    return 0


def _is_rank_zero() -> bool:
    """True unless torchrun (or another launcher) says this process is not rank 0."""
    return int(os.environ.get("RANK", "0") or 0) == 0


def cmd_train(args: argparse.Namespace) -> int:
    """Pretrain an MAE; rank 0 prints a summary line."""
    require_torch("train")
    from maskstats.mae.config import TrainConfig
    from maskstats.mae.train import train

    summary = train(settings_from_args(TrainConfig, args))
    if _is_rank_zero():
        print(
            f"done: step {summary['step']}, loss {summary['loss']:.4f}, "
            f"{summary['step_ms']:.1f} ms/step, difficulty share of step time "
            f"{100 * summary['difficulty_share']:.2f}%, outputs in {summary.get('out', args.out)}"
        )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Linear probe, k-NN and real-difficulty correlations of a pretrained checkpoint."""
    require_torch("eval")
    from maskstats.mae.config import EvalSettings
    from maskstats.mae.evaluate import evaluate

    def notice() -> None:
        print(
            "evaluating: features, linear probe and k-NN (and of an untrained encoder, the "
            "baseline), then per-patch losses; each part says when it is done",
            file=sys.stderr,
            flush=True,
        )

    def echo(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    result = evaluate(settings_from_args(EvalSettings, args), notice, echo)
    base = result.get("untrained")

    def untrained(kind: str) -> str:
        if not base:
            return ""
        cls, mean = base[f"{kind}_cls"], base[f"{kind}_mean"]
        return f" (untrained encoder: cls {cls:.4f}, mean-pooled {mean:.4f})"

    print(
        f"linear probe top-1: cls {result['linear_probe_cls']:.4f}, "
        f"mean-pooled {result['linear_probe_mean']:.4f}{untrained('linear_probe')}"
    )
    print(
        f"k-NN (k={args.k}) top-1: cls {result['knn_cls']:.4f}, "
        f"mean-pooled {result['knn_mean']:.4f}{untrained('knn')}"
    )
    difficulty = result["real_difficulty"]
    print(
        f"Spearman(metric difficulty, real per-patch loss) on {difficulty['images']} images at "
        f"mask ratio {result['mask_ratio']} (loss/var: the loss over the patch's pixel variance):"
    )
    for name, values in difficulty.items():
        if isinstance(values, dict):
            lo, hi = values["spearman_pooled_ci"]
            n_lo, n_hi = values["spearman_normalized_ci"]
            print(
                f"  {name:9s} pooled {values['spearman_pooled']:+.3f} [{lo:+.3f}, {hi:+.3f}]  "
                f"per image {values['spearman_per_image']:+.3f}  "
                f"loss/var {values['spearman_normalized']:+.3f} [{n_lo:+.3f}, {n_hi:+.3f}]"
            )
    print(f"wrote {result['path']}")
    return 0


def cmd_visualize(args: argparse.Namespace) -> int:
    """Write a reconstruction gallery of a checkpoint and print one line per image."""
    require_torch("visualize")
    import shlex

    from maskstats.mae.config import VisualizeSettings
    from maskstats.mae.visualize import visualize

    settings = settings_from_args(VisualizeSettings, args)
    settings.command = shlex.join(["maskstats", *getattr(args, "argv", ["visualize"])])
    result = visualize(settings)
    for title, rho, count in result["rows"]:
        shown = f"{rho:+.3f}" if rho == rho else "n/a"
        print(f"{title}: Spearman(difficulty, loss) {shown} over {count} masked patches")
    print(f"wrote {result['index']} ({result['kind']} checkpoint)")
    return 0


def cmd_table5(args: argparse.Namespace) -> int:
    """Run (or resume) the Tab.5 comparison and print the table."""
    require_torch("table5")
    from maskstats.io import to_markdown
    from maskstats.mae.config import Table5Settings
    from maskstats.mae.table5 import (
        STEP_TIME_NOTE,
        display_separation,
        display_table,
        run_table5,
    )

    settings = settings_from_args(Table5Settings, args)
    if args.quick:
        settings = settings.quick()
    tables = run_table5(settings)
    print(to_markdown(display_table(tables["table"])), end="")
    print(f"\n{STEP_TIME_NOTE}")
    separation = tables["separation"]
    if (separation["rows"] >= 2).any():
        print("\nDo the rows differ beyond seed noise? (one-way ANOVA over seeds)")
        print(to_markdown(display_separation(separation)), end="")
    else:
        print("\nWhether the rows differ beyond seed noise needs at least 2 seeds per row.")
    galleries = ", gallery.md" if settings.gallery_images > 0 else ""
    print(
        f"wrote {settings.out}/table5.csv, .md, .tex, .png, spearman_by_metric.md, "
        f"separation.md{galleries}"
    )
    return 0
