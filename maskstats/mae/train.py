"""The MAE pretraining loop: AdamW, warmup + cosine schedule, bf16 autocast on CUDA, gradient
accumulation, atomic checkpoints and exact resume, DDP under torchrun, difficulty-weighted
loss and decoder masking from maskstats' metrics."""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from maskstats import masks as mask_lib
from maskstats import weights as weight_lib
from maskstats.mae.checkpoint import load_checkpoint, save_checkpoint
from maskstats.mae.config import TrainConfig
from maskstats.mae.data import load_dataset
from maskstats.mae.model import MaskedAutoencoderViT, create_model
from maskstats.mae.runlog import append_record, write_csv, write_loss_per_bin
from maskstats.mae.stats import DifficultyStats


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun (gloo on CPU, nccl on CUDA)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    return torch.device(name)


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on biases, norms and tokens (as MAE/timm)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim <= 1 or name.endswith(("cls_token", "mask_token")):
            no_decay.append(param)
        else:
            decay.append(param)
    return [
        {"params": no_decay, "weight_decay": 0.0},
        {"params": decay, "weight_decay": weight_decay},
    ]


def lr_factor(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Linear warmup then half-cosine decay, as a factor of the base lr."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_ratio + (1 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


class Trainer:
    """Runs one pretraining job described by a :class:`TrainConfig`."""

    def __init__(self, config: TrainConfig) -> None:
        config.validate()
        self.cfg = config
        self.device = pick_device(config.device)
        self.dist = setup_distributed(self.device)
        torch.manual_seed(config.seed)
        overrides = dict(
            img_size=config.img_size,
            patch_size=config.patch_size,
            in_chans=config.in_chans,
            norm_pix_loss=config.norm_pix_loss,
        )
        self.model: MaskedAutoencoderViT = create_model(config.model, **overrides).to(self.device)
        mc = self.model.config
        self.img_size, self.patch_size, self.grid = mc.img_size, mc.patch_size, mc.grid
        self.dataset = load_dataset(config.data, self.img_size, train=True, seed=config.seed)
        if config.dataset_length:
            self.dataset.length = config.dataset_length
        self.sampler = DistributedSampler(
            self.dataset,
            num_replicas=self.dist.world_size,
            rank=self.dist.rank,
            shuffle=True,
            seed=config.seed,
            drop_last=True,
        )
        per_step = config.batch_size * config.accum_iter
        self.steps_per_epoch = len(self.sampler) // per_step
        if self.steps_per_epoch < 1:
            raise ValueError(
                f"the data has {len(self.sampler)} images per process, fewer than one step of "
                f"{per_step} (batch_size x accum_iter)"
            )
        self.total_steps = config.max_steps or config.epochs * self.steps_per_epoch
        self.warmup_steps = (
            config.warmup_steps
            if config.warmup_steps is not None
            else int(config.warmup_epochs * self.steps_per_epoch)
        )
        eff_batch = per_step * self.dist.world_size
        self.base_lr = config.lr if config.lr is not None else config.blr * eff_batch / 256
        self.optimizer = torch.optim.AdamW(
            param_groups(self.model, config.weight_decay), lr=self.base_lr, betas=(0.9, 0.95)
        )
        min_ratio = config.min_lr / self.base_lr if self.base_lr else 0.0
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda step: lr_factor(step, max(1, self.warmup_steps), self.total_steps, min_ratio),
        )
        self.use_amp = self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=False)
        self.step = 0
        self.out = Path(config.out)
        self.stats_metric = config.metric if config.metric != "none" else "p2dist"
        self.binning = weight_lib.default_binning(self.stats_metric)
        self.net = self.model
        if self.dist.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        if config.resume:
            self._resume(Path(config.resume))
        # Load (or compile) the numba kernels now, so that step timings measure steady state.
        self.prepare_targets(self.make_masks(-1, 2), -1)

    # --- checkpoints -------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": np.random.get_state(),
                "python": random.getstate(),
            },
            "config": asdict(self.cfg),
            "model_config": asdict(self.model.config),
            "model_name": self.cfg.model,
        }

    def _resume(self, path: Path) -> None:
        if path.is_dir():
            path = path / "checkpoint.pt"
        state = load_checkpoint(path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])

    def save(self) -> None:
        if self.dist.is_main:
            save_checkpoint(self.out / "checkpoint.pt", self.state())

    # --- one micro-batch -----------------------------------------------------------------
    def make_masks(self, micro_index: int, n: int) -> np.ndarray:
        """(n, H, W) masks for global micro-batch ``micro_index`` on this rank, from the run's
        seed alone (so a resumed run draws the same masks)."""
        rng = np.random.default_rng([self.cfg.seed, micro_index + 1, self.dist.rank])
        c = self.cfg
        return mask_lib.generate(
            c.strategy,
            n,
            self.img_size,
            self.patch_size,
            c.mask_ratio,
            seed=rng,
            mask_patch_size=c.mask_patch_size,
            target_avgdist=c.target_avgdist,
        )

    def prepare_targets(self, masks: np.ndarray, micro_index: int) -> dict:
        """Difficulty, loss weights and decoder selection from the masks alone (CPU numpy)."""
        c = self.cfg
        difficulty = weight_lib.patch_difficulty(masks, self.stats_metric, self.patch_size)
        n = masks.shape[0]
        flat_masks = masks.reshape(n, -1)
        flat_difficulty = difficulty.reshape(n, -1)
        if c.decoder_mask_ratio > 0:
            rng = np.random.default_rng([c.seed, micro_index + 1, self.dist.rank, 1])
            keep = weight_lib.decoder_keep(flat_masks, flat_difficulty, c.decoder_mask_ratio, rng)
        else:
            keep = flat_masks
        weights = np.zeros(flat_masks.shape, np.float32)
        binning = self.binning if c.metric != "none" else None
        weights[keep] = weight_lib.patch_weights(
            flat_difficulty[keep], c.weighting, binning, c.flatten_alpha, c.inverse_gamma
        )
        return {
            "masks": flat_masks,
            "keep": keep,
            "weights": weights,
            "difficulty": flat_difficulty,
        }

    def run(self) -> dict:
        """Train until total_steps (or stop_after_steps); returns a summary dict."""
        c = self.cfg
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(asdict(c), indent=2))
        stop_at = min(self.total_steps, c.stop_after_steps or self.total_steps)
        bar = tqdm(
            total=stop_at,
            initial=self.step,
            desc="train",
            unit="step",
            disable=not (c.progress and self.dist.is_main),
            dynamic_ncols=True,
        )
        interval = DifficultyStats(self.stats_metric, self.binning)
        epoch_stats = DifficultyStats(self.stats_metric, self.binning)
        timing = {"difficulty_s": 0.0, "step_s": 0.0, "images": 0, "steps": 0}
        started = time.perf_counter()
        last_loss = float("nan")
        while self.step < stop_at:
            epoch = self.step // self.steps_per_epoch
            self.sampler.set_epoch(epoch)
            self.dataset.set_epoch(epoch)
            indices = list(self.sampler)
            per_step = c.batch_size * c.accum_iter
            first_step = self.step - epoch * self.steps_per_epoch
            batches = [
                indices[i : i + c.batch_size]
                for i in range(first_step * per_step, self.steps_per_epoch * per_step, c.batch_size)
            ]
            loader = DataLoader(self.dataset, batch_sampler=batches, num_workers=c.num_workers)
            micro_in_step = 0
            step_start = time.perf_counter()
            for imgs, _labels in loader:
                micro_index = self.step * c.accum_iter + micro_in_step
                last_loss = self._micro_step(
                    imgs, micro_index, micro_in_step, interval, epoch_stats, timing
                )
                micro_in_step += 1
                if micro_in_step < c.accum_iter:
                    continue
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.scheduler.step()
                self.step += 1
                micro_in_step = 0
                timing["step_s"] += time.perf_counter() - step_start
                timing["steps"] += 1
                step_start = time.perf_counter()
                images_per_s = timing["images"] / max(timing["step_s"], 1e-9)
                bar.update(1)
                bar.set_postfix(loss=f"{last_loss:.4f}", img_s=f"{images_per_s:.0f}")
                if self.step % c.log_every == 0:
                    self._log("interval", epoch, interval, timing)
                    interval = DifficultyStats(self.stats_metric, self.binning)
                if self.step % c.save_every == 0:
                    self.save()
                end_of_epoch = self.step % self.steps_per_epoch == 0
                if end_of_epoch or self.step >= stop_at:
                    if end_of_epoch:
                        self._log("epoch", epoch, epoch_stats, timing)
                        epoch_stats = DifficultyStats(self.stats_metric, self.binning)
                    break
        bar.close()
        self.save()
        summary = {
            "step": self.step,
            "loss": last_loss,
            "wall_s": time.perf_counter() - started,
            "step_ms": 1e3 * timing["step_s"] / max(1, timing["steps"]),
            "difficulty_share": timing["difficulty_s"] / max(timing["step_s"], 1e-9),
        }
        if self.dist.is_main:
            write_csv(self.out)
            write_loss_per_bin(self.out)
            (self.out / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary

    def _micro_step(self, imgs, micro_index, micro_in_step, interval, epoch_stats, timing) -> float:
        c = self.cfg
        t0 = time.perf_counter()
        masks = self.make_masks(micro_index, imgs.shape[0])
        prepared = self.prepare_targets(masks, micro_index)
        timing["difficulty_s"] += time.perf_counter() - t0
        device = self.device
        mask_t = torch.from_numpy(prepared["masks"]).to(device)
        keep_t = torch.from_numpy(prepared["keep"]).to(device)
        weights_t = torch.from_numpy(prepared["weights"]).to(device)
        imgs = imgs.to(device, non_blocking=True)
        sync = micro_in_step == c.accum_iter - 1 or self.dist.world_size == 1
        context = self.net.no_sync() if not sync else contextlib.nullcontext()
        with context, torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.use_amp):
            out = self.net(imgs, mask_t, keep_t, weights_t)
            loss = out["loss"]
        (loss / c.accum_iter).backward()
        timing["images"] += imgs.shape[0]
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"loss is {loss_value} at step {self.step}; stopping")
        ids = out["ids_target"].cpu().numpy()
        patch_loss = out["patch_loss"].detach().float().cpu().numpy()
        difficulty = prepared["difficulty"]
        kept_difficulty = np.take_along_axis(difficulty, ids, axis=1)
        kept_weights = np.take_along_axis(prepared["weights"], ids, axis=1)
        masked_difficulty = difficulty[prepared["masks"]]
        tokens = 1 + int((~prepared["masks"][0]).sum()) + ids.shape[1]
        for stats in (interval, epoch_stats):
            stats.add(
                masked_difficulty,
                kept_difficulty.ravel(),
                patch_loss.ravel(),
                kept_weights.ravel(),
                tokens,
                loss_value,
            )
        return loss_value

    def _log(self, kind: str, epoch: int, stats: DifficultyStats, timing: dict) -> None:
        if not self.dist.is_main:
            return
        record = {
            "kind": kind,
            "step": self.step,
            "epoch": epoch,
            "lr": self.optimizer.param_groups[0]["lr"],
            **stats.summary(),
            "step_ms": 1e3 * timing["step_s"] / max(1, timing["steps"]),
            "difficulty_share": timing["difficulty_s"] / max(timing["step_s"], 1e-9),
            "images_per_s": timing["images"] / max(timing["step_s"], 1e-9),
        }
        append_record(self.out, record)
        q50 = record.get("difficulty_q50")
        tqdm.write(
            f"[{kind} {epoch} step {self.step}] loss {record['loss']:.4f} "
            f"{self.stats_metric} median {q50 if q50 is None else round(q50, 3)} "
            f"w [{record['weight_min']:.2f}, {record['weight_max']:.2f}] "
            f"ess {record['ess']:.2f} decoder tokens {record['decoder_tokens']:.0f}"
        )


def train(config: TrainConfig) -> dict:
    """Build a :class:`Trainer` and run it; tears down the process group at the end."""
    trainer = Trainer(config)
    try:
        return trainer.run()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
