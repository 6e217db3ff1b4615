"""Same numbers on every CPU and in forked workers.

The metrics, ``difficulty_masks`` and ``achievable_range`` run again in a subprocess whose numba
compiles for a generic x86-64 CPU (``NUMBA_CPU_NAME=generic``: no AVX, other vector widths)
from an empty cache, and with one numba thread; every float array must match the host's bit for
bit and every mask must be identical.

Run as a script (``python tests/masks/test_determinism.py OUT.npz``) it writes its results to OUT.
"""

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from maskstats.masks import (
    achievable_range,
    block_masks,
    difficulty,
    difficulty_masks,
    random_masks,
    simmim_masks,
    tube_masks,
)
from maskstats.metrics import METRIC_NAMES, VIDEO_METRIC_NAMES, compute

ROOT = Path(__file__).resolve().parents[2]


def results() -> dict[str, np.ndarray]:
    """Everything compared: metrics of fixed masks, difficulty masks and ranges."""
    mask_sets = {
        "random7x9": random_masks(48, (7, 9), 0.75, seed=0),
        "random14": random_masks(48, 14, 0.9, seed=1),
        "block8": block_masks(48, 8, 0.5, seed=2),
        "simmim12": simmim_masks(32, 192, 32, 16, 0.6, seed=3),
    }
    out: dict[str, np.ndarray] = {}
    for name, masks in mask_sets.items():
        out[f"masks/{name}"] = masks
        for patch_size in (1, 3, 16):
            values = compute(masks, METRIC_NAMES, patch_size, on_empty="nan")
            for metric, value in values.items():
                out[f"{name}/p{patch_size}/{metric}"] = value
    clip_sets = {
        "clip8x14": random_masks(16, (8, 14, 14), 0.9, seed=10),
        "clip3x7x9": random_masks(24, (3, 7, 9), 0.6, seed=11),
        "tube4x10": tube_masks(16, (4, 10, 10), 0.75, seed=12),
    }
    for name, clips in clip_sets.items():
        out[f"masks/{name}"] = clips
        for patch_size, tubelet_size, step in ((16, 2, None), (3, 1, 1.5), (5, 3, 0.7)):
            values = compute(
                clips,
                VIDEO_METRIC_NAMES,
                patch_size,
                on_empty="nan",
                tubelet_size=tubelet_size,
                temporal_step=step,
            )
            for metric, value in values.items():
                out[f"{name}/p{patch_size}t{tubelet_size}/{metric}"] = value
    out["difficulty/p2dist"] = difficulty_masks(
        40, (10, 12), 0.8, 8, target_p2dist=1.0, tol=0.02, seed=4
    )
    low, high = achievable_range((6, 6), 0.75, 4, method="search")
    out["difficulty/far"] = difficulty_masks(
        24, (6, 6), 0.75, 4, target_avgdist=low + 0.8 * (high - low), tol=0.03, seed=5
    )
    for key, (grid, ratio, patch_size, method) in {
        "range/enumerated": ((4, 5), 0.6, 4, "auto"),
        "range/search": ((6, 6), 0.75, 4, "search"),
        "range/search9": ((9, 9), 0.5, 16, "search"),
    }.items():
        found = achievable_range(grid, ratio, patch_size, method=method)
        out[f"{key}/values"] = np.array([found.low, found.high])
        out[f"{key}/easiest"] = found.easiest
        out[f"{key}/hardest"] = found.hardest
    return out


def test_generic_cpu_gives_the_same_bits(tmp_path):
    env = dict(os.environ)
    env.update(
        NUMBA_CPU_NAME="generic",
        NUMBA_CACHE_DIR=str(tmp_path / "numba_cache"),
        NUMBA_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
    )
    target = tmp_path / "generic.npz"
    subprocess.run(
        [sys.executable, str(Path(__file__)), str(target)], env=env, check=True, timeout=1800
    )
    host = results()
    with np.load(target) as generic:
        assert sorted(generic.files) == sorted(host)
        for key, value in host.items():
            other = generic[key]
            assert other.dtype == value.dtype and other.shape == value.shape, key
            assert np.array_equal(other, value, equal_nan=value.dtype.kind == "f"), key
            assert other.tobytes() == value.tobytes(), key


def _forked(_: int) -> dict[str, np.ndarray]:
    difficulty._achievable.cache_clear()
    difficulty._calibration.cache_clear()
    return _mask_results()


def _mask_results() -> dict[str, np.ndarray]:
    found = achievable_range((5, 7), 0.75, 8, method="search")
    return {
        "block": block_masks(300, 14, 0.4, seed=6),
        "difficulty": difficulty_masks(100, 14, 0.75, 16, target_avgdist=12.0, seed=7),
        "far": difficulty_masks(20, (7, 7), 0.75, 8, target_avgdist=16.0, tol=0.05, seed=8),
        "range": np.stack([found.easiest, found.hardest]),
    }


def test_forked_workers_match_the_parent():
    parent = _mask_results()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        children = pool.map(_forked, range(2))
    for child in children:
        assert sorted(child) == sorted(parent)
        for key, value in parent.items():
            np.testing.assert_array_equal(child[key], value, err_msg=key)


def test_generators_and_metrics_from_four_threads_match_one():
    """Issue 14: with the old OpenMP kernels, four threads calling the generators aborted the
    process. Each thread must get what a single call gets (per-mask seeds, no shared state)."""
    from concurrent.futures import ThreadPoolExecutor

    single = _mask_results()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: _mask_results(), range(4)))
    for result in results:
        for key, value in single.items():
            np.testing.assert_array_equal(result[key], value, err_msg=key)
    masks = single["block"]
    with ThreadPoolExecutor(4) as pool:
        values = list(pool.map(lambda _: compute(masks, METRIC_NAMES, 16), range(4)))
    for value in values:
        for name in METRIC_NAMES:
            np.testing.assert_array_equal(value[name], values[0][name], err_msg=name)


if __name__ == "__main__":
    np.savez(sys.argv[1], **results())
