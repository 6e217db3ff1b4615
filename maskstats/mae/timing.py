"""Step-time comparison of training settings, measured interleaved in one process."""

from __future__ import annotations

import statistics
import time

import torch

from maskstats.mae.config import TrainConfig
from maskstats.mae.train import Trainer


def _one_step(trainer: Trainer, imgs: torch.Tensor, index: int) -> tuple[float, float]:
    """One optimizer step on ``imgs`` as the trainer takes it (targets moved to its device,
    bf16 autocast on CUDA); returns (step seconds, difficulty seconds). On CUDA the clock is
    read after a synchronize, so the step's kernels are inside the measurement."""
    device = trainer.device
    start = time.perf_counter()
    masks = trainer.make_masks(index, imgs.shape[0])
    targets = trainer.prepare_targets(masks, index)
    difficulty_s = time.perf_counter() - start
    on_device = targets.to(device, non_blocking=True)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=trainer.use_amp):
        out = trainer.net(imgs, on_device.mask, on_device.keep, on_device.weights)
    out["loss"].backward()
    trainer.optimizer.step()
    trainer.optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, difficulty_s


def compare_step_times(
    configs: dict[str, TrainConfig], steps: int = 30, warmup: int = 3
) -> dict[str, dict[str, float]]:
    """Median step time of each setting, the settings' steps interleaved (so machine noise hits
    all alike), on the same batch of images.

    Returns:
        name -> {"step_ms", "difficulty_ms", "difficulty_share", "ratio_to_first"}.
    """
    trainers = {name: Trainer(config) for name, config in configs.items()}
    first = next(iter(trainers.values()))
    batch_size = next(iter(configs.values())).batch_size
    imgs = torch.stack([first.dataset[i][0] for i in range(batch_size)]).to(first.device)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in trainers}
    for index in range(warmup + steps):
        for name, trainer in trainers.items():
            measured = _one_step(trainer, imgs, index)
            if index >= warmup:
                times[name].append(measured)
    result = {}
    for name, pairs in times.items():
        step = statistics.median(p[0] for p in pairs)
        diff = statistics.median(p[1] for p in pairs)
        result[name] = {
            "step_ms": 1e3 * step,
            "difficulty_ms": 1e3 * diff,
            "difficulty_share": diff / step,
        }
    base = next(iter(result.values()))["step_ms"]
    for values in result.values():
        values["ratio_to_first"] = values["step_ms"] / base
    return result
