"""What maskstats.torch costs a training loop: a 256 x 196 batch (224 px images, patch 16),
MAE random masks at ratio 0.9, p2dist Difficulty-Flatten, decoder mask ratio 0.3.

1. Main thread, in the loop: ``DifficultyWeighting(masks)`` (metric, decoder selection,
   weights, decoder ids, noise, tensors), split into its parts, and mask generation beside it;
   medians of repeats.
2. With ``MaskCollator`` in 2 DataLoader workers: the main thread's wait for a batch, and the
   time per training step (simulated by a fixed 50 ms sleep) against the same loader with a
   plain collate (no masks), runs interleaved, ratios per pair, medians.

Writes figures/dropin_overhead.csv.

Usage: python analysis/dropin_overhead.py [--repeats 60] [--steps 60] [--pairs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from maskstats import weights
from maskstats.bench import cpu_model
from maskstats.masks import random_masks
from maskstats.metrics import compute
from maskstats.torch import DifficultyWeighting, MaskCollator

FIGURES = Path(__file__).resolve().parent.parent / "figures"
N, IMG, PATCH, RATIO, Q = 256, 224, 16, 0.9, 0.3
GRID = IMG // PATCH
STEP_S = 0.050


def machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}"


def main_thread(repeats: int) -> list[dict]:
    """Per-part medians of the work a loop does without the collator, the parts interleaved
    in every repeat (so that they share the machine's load), and their ratio to the metric
    alone (p2dist), the baseline."""
    weighting = DifficultyWeighting(
        "p2dist", grid=GRID, patch_size=PATCH, decoder_mask_ratio=Q, seed=0
    )
    rng = np.random.default_rng(0)
    masks = random_masks(N, GRID, RATIO, seed=rng)
    flat = masks.reshape(N, -1)
    difficulty = weights.patch_difficulty(masks, "p2dist", PATCH).reshape(N, -1)
    keep = weights.decoder_keep(flat, difficulty, Q, 0)
    weighting(masks)  # compile / load the kernels
    parts = {
        "p2dist (compute), the baseline": lambda: compute(masks, "p2dist", PATCH),
        "mask generation (random_masks)": lambda: random_masks(N, GRID, RATIO, seed=rng),
        "decoder_keep": lambda: weights.decoder_keep(flat, difficulty, Q, rng),
        "flatten weights": lambda: weights.flatten_weights(difficulty[keep], oriented=True),
        "DifficultyWeighting(masks), all": lambda: weighting(masks),
        "DifficultyWeighting(torch mask), all": lambda: weighting(torch.from_numpy(masks)),
    }
    times: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(repeats):
        for name, fn in parts.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["p2dist (compute), the baseline"])
    rows = []
    for name, values in times.items():
        ms = 1e3 * statistics.median(values)
        rows.append(
            {"measure": "main thread", "what": name, "median_ms": ms, "ratio": ms / 1e3 / base}
        )
        print(f"main thread  {name:40s} {ms:7.3f} ms  x{ms / 1e3 / base:.2f} of p2dist")
    return rows


class Tokens(torch.utils.data.Dataset):
    """Tiny samples: the masks, not the images, are what is measured."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.zeros(3, 8, 8)


def loop(collate, steps: int) -> tuple[float, float]:
    """(median step ms, median wait-for-batch ms) over ``steps`` steps after 5 warm-up."""
    loader = torch.utils.data.DataLoader(
        Tokens(N * (steps + 5)),
        batch_size=N,
        num_workers=2,
        collate_fn=collate,
        multiprocessing_context="spawn",
        persistent_workers=False,
        prefetch_factor=2,
    )
    step_times, waits = [], []
    iterator = iter(loader)
    for step in range(steps + 5):
        start = time.perf_counter()
        batch = next(iterator)
        got = time.perf_counter()
        if isinstance(batch, dict):
            batch["targets"].to("cpu", non_blocking=True)
        time.sleep(STEP_S)  # the training step
        end = time.perf_counter()
        if step >= 5:
            step_times.append(end - start)
            waits.append(got - start)
    del iterator
    return 1e3 * statistics.median(step_times), 1e3 * statistics.median(waits)


def with_workers(steps: int, pairs: int) -> list[dict]:
    weighting = DifficultyWeighting("p2dist", grid=GRID, patch_size=PATCH, decoder_mask_ratio=Q)
    collator = MaskCollator(weighting, "random", mask_ratio=RATIO, seed=0)
    plain = torch.utils.data.default_collate
    rows, ratios, extra_waits = [], [], []
    for pair in range(pairs):
        base_step, base_wait = loop(plain, steps)
        step, wait = loop(collator, steps)
        ratios.append(step / base_step)
        extra_waits.append(wait - base_wait)
        print(
            f"pair {pair}: step {step:.2f} ms (wait {wait:.3f}) vs no masking "
            f"{base_step:.2f} ms (wait {base_wait:.3f}): x{step / base_step:.4f}"
        )
        rows += [
            {"measure": "2 workers", "what": "step, no masking", "median_ms": base_step},
            {"measure": "2 workers", "what": "wait, no masking", "median_ms": base_wait},
            {"measure": "2 workers", "what": "step, MaskCollator", "median_ms": step},
            {"measure": "2 workers", "what": "wait, MaskCollator", "median_ms": wait},
        ]
    overhead = statistics.median(ratios) - 1
    extra = statistics.median(extra_waits)
    print(f"step-time overhead with MaskCollator: {100 * overhead:+.2f}% (median of pairs)")
    print(f"main-thread wait for a batch, MaskCollator minus no masking: {extra:+.3f} ms")
    rows.append({"measure": "2 workers", "what": "step ratio - 1 (median)", "ratio": overhead})
    rows.append({"measure": "2 workers", "what": "extra wait (median)", "median_ms": extra})
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args()
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.2f} at start")
    print(f"batch {N} x {GRID * GRID} patches, ratio {RATIO}, p2dist flatten, decoder mask {Q}")
    load = os.getloadavg()[0]
    rows = with_workers(args.steps, args.pairs) + main_thread(args.repeats)
    table = pd.DataFrame(rows)
    table["machine"] = machine()
    table["load_average_at_start"] = round(load, 2)
    FIGURES.mkdir(exist_ok=True)
    table.to_csv(FIGURES / "dropin_overhead.csv", index=False)
    print(f"wrote {FIGURES / 'dropin_overhead.csv'}; load average at end {os.getloadavg()[0]:.2f}")
