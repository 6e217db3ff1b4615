"""The MAE pretraining loop: AdamW, warmup + cosine schedule, bf16 autocast on CUDA, gradient
accumulation, atomic checkpoints and exact resume, DDP under torchrun, difficulty-weighted
loss and decoder masking from maskstats' metrics."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from maskstats import masks as mask_lib
from maskstats import weights as weight_lib
from maskstats.mae.checkpoint import (
    TRAINING_KEYS,
    checkpoint_file,
    load_checkpoint,
    random_state,
    remove_stale_temporaries,
    restore_random_state,
    save_checkpoint,
    to_numpy,
)
from maskstats.mae.config import (
    GALLERY_FOLDER,
    GALLERY_STEPS_FOLDER,
    TrainConfig,
    resume_config,
)
from maskstats.mae.data import load_dataset
from maskstats.mae.model import MaskedAutoencoderViT, create_model
from maskstats.mae.runlog import (
    append_record,
    run_loss_difficulty,
    truncate_records,
    write_csv,
    write_loss_per_bin,
)
from maskstats.mae.stats import DifficultyStats
from maskstats.masks.generators import grid_cell_side
from maskstats.metrics import compute
from maskstats.torch import DifficultyTargets, DifficultyWeighting


@dataclass
class DistInfo:
    """This process's place in a torchrun job (rank 0 of 1 without one)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs and saves."""
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
    """The torch device for ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or
    ``cuda:N``.

    Raises:
        ValueError: one line for an unknown name or a CUDA device this machine does not have.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"unknown device {name!r}; expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"--device {name}: this machine has no CUDA device (use cpu or auto)")
        if device.index is not None and device.index >= count:
            raise ValueError(f"--device {name}: this machine has {count} CUDA device(s)")
    elif device.type != "cpu":
        raise ValueError(f"unsupported device {name!r}; expected auto, cpu, cuda or cuda:N")
    return device


RUN_FILES = (
    "checkpoint.pt",
    "config.json",
    "metrics.jsonl",
    "metrics.csv",
    "summary.json",
    "loss_per_bin.png",
    "loss_per_bin.pdf",
)
"""The files a training run writes into its folder (``--overwrite`` removes these only)."""


def unstarted_run(out: Path) -> bool:
    """Whether ``out`` holds what a run stopped before its first checkpoint leaves (its
    config.json, maybe some log records) and nothing that can be resumed or was finished (no
    checkpoint.pt, no summary.json)."""
    return (
        (out / "config.json").is_file()
        and not (out / "checkpoint.pt").exists()
        and not (out / "summary.json").exists()
    )


def claim_run_folder(out: Path, overwrite: bool) -> None:
    """Make sure a new run may write into ``out``: an empty or new folder, an unstarted run's
    folder (:func:`unstarted_run`: replaced, since nothing in it can be resumed), or any run's
    with ``overwrite``.

    Raises:
        ValueError: ``out`` already holds a run and ``overwrite`` is False (one line saying how
            to resume it or replace it).
    """
    existing = [name for name in RUN_FILES if (out / name).exists()]
    if not existing:
        return
    if not overwrite and not unstarted_run(out):
        raise ValueError(
            f"{out} already holds a run ({', '.join(existing)}): resume it with --resume {out}, "
            "or pass --overwrite to replace it"
        )
    for name in existing:
        (out / name).unlink()
    remove_stale_temporaries(out)
    from maskstats.report.gallery import remove_galleries

    remove_galleries(out, (GALLERY_FOLDER, GALLERY_STEPS_FOLDER))


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


class TrainingDiverged(ValueError):
    """A non-finite loss or non-finite weights: the run stops, its last checkpoint is kept."""


def memory_bytes() -> int:
    """Bytes of memory of this machine (a large number where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 40


ORDER_BYTES_PER_IMAGE = 100
"""Memory per image of an epoch's sample order (the sampler's permutation and index lists)."""


class Trainer:
    """Runs one pretraining job described by a :class:`TrainConfig`.

    With ``config.resume`` the run's saved settings are used (see
    :func:`maskstats.mae.config.resume_config`), and its weights, optimizer, schedule, random
    states, running statistics and timings are restored, so that the resumed run's weights and
    logs equal an uninterrupted run's. SIGINT and SIGTERM during :meth:`run` save a checkpoint
    before the process exits.
    """

    def __init__(self, config: TrainConfig) -> None:
        resumed = None
        self.restart_notice = ""
        if config.resume and unstarted_run(Path(config.resume)):
            # Stopped before its first checkpoint: start it again, from step 0, as it was set.
            folder = Path(config.resume)
            try:
                saved = json.loads((folder / "config.json").read_text())
            except (OSError, ValueError):
                saved = None
            if not isinstance(saved, dict):
                raise ValueError(f"{folder}/config.json is not a maskstats run's settings")
            config = replace(resume_config(config, saved), resume=None, out=config.run_folder)
            self.restart_notice = (
                f"{folder} has no checkpoint (it stopped before its first one): starting it "
                "again from step 0 with its saved settings"
            )
        elif config.resume:
            path = checkpoint_file(config.resume)
            resumed = load_checkpoint(path, TRAINING_KEYS)
            if not isinstance(resumed["config"], dict):
                raise ValueError(f"{path} is not a maskstats training checkpoint (no settings)")
            config = resume_config(config, resumed["config"])
        config.validate()
        self.cfg = config
        self.out = Path(config.run_folder)
        resume = config.resume  # set whenever a checkpoint was resumed
        self.resumes_in_place = resumed is not None and (
            resume is not None and self.out.resolve() == checkpoint_file(resume).parent.resolve()
        )
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
            need = config.dataset_length * ORDER_BYTES_PER_IMAGE
            limit = memory_bytes() // 2
            if need > limit:
                raise ValueError(
                    f"--dataset-length {config.dataset_length} needs about {need / 1e9:.0f} GB "
                    f"for each epoch's sample order; this machine has {2 * limit / 1e9:.0f} GB: "
                    f"use at most {limit // ORDER_BYTES_PER_IMAGE}"
                )
            self.dataset.length = config.dataset_length
        self.dataset[0]  # some image decodes (a DataError otherwise), before anything is written
        self.sampler: DistributedSampler[int] = DistributedSampler(
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
        config.check_lr(self.dist.world_size)
        self.base_lr = config.base_lr(self.dist.world_size)
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
        self.saved_step: int | None = None  # the step of the checkpoint on disk
        self.stats_metric = config.metric if config.metric != "none" else "p2dist"
        self.binning = weight_lib.default_binning(self.stats_metric)
        if config.strategy == "grid":
            side = grid_cell_side(self.grid, config.mask_ratio)  # a one-line error otherwise
            if self.grid[0] % side or self.grid[1] % side:
                raise ValueError(
                    f"grid masks with {side}x{side} cells do not tile the {self.grid[0]}x"
                    f"{self.grid[1]} patch grid, so images would differ in their masked count"
                )
        self.weighting = DifficultyWeighting(
            self.stats_metric,
            grid=self.grid,
            patch_size=self.patch_size,
            weighting=config.weighting if config.metric != "none" else "none",
            alpha=config.flatten_alpha,
            gamma=config.inverse_gamma,
            min_share=config.flatten_min_share,
            decoder_mask_ratio=config.decoder_mask_ratio,
        )
        # Running statistics and timings: saved with every checkpoint.
        self.interval = self._new_stats()
        self.epoch_stats = self._new_stats()
        self.timing = {"difficulty_s": 0.0, "step_s": 0.0, "images": 0, "steps": 0, "wall_s": 0.0}
        self.last_loss = float("nan")
        self._wall_start = time.perf_counter()
        self._wall_before = 0.0
        self._signal: int | None = None
        # How a run stopped by a signal is continued (table5 says: rerun table5).
        self.resume_hint = f"--resume {self.out}"
        self._warned_ess = False
        self.net: MaskedAutoencoderViT | DistributedDataParallel = self.model
        if self.dist.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        if resumed is not None and resume is not None:
            self._resume(resumed, checkpoint_file(resume))
        # Load (or compile) the numba kernels now, so that step timings measure steady state.
        self.prepare_targets(self.make_masks(-1, 2), -1)

    def _new_stats(self) -> DifficultyStats:
        return DifficultyStats(self.stats_metric, self.binning, self.patch_size)

    # --- checkpoints -------------------------------------------------------------------
    def state(self) -> dict:
        """Everything a resume needs: weights, optimizer, schedule, step, random states,
        settings, and the running statistics and timings of the current interval and epoch."""
        timing = dict(self.timing)
        timing["wall_s"] = self._wall_before + time.perf_counter() - self._wall_start
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "rng": random_state(),
            "config": asdict(self.cfg),
            "model_config": asdict(self.model.config),
            "model_name": self.cfg.model,
            "running": {
                "interval": self.interval.state_dict(),
                "epoch": self.epoch_stats.state_dict(),
                "timing": timing,
                "last_loss": self.last_loss,
            },
        }

    def _resume(self, state: dict, path: Path) -> None:
        saved_model = state["model_config"]
        current = asdict(self.model.config)
        differ = [k for k in current if k in saved_model and saved_model[k] != current[k]]
        if differ:
            name = differ[0]
            raise ValueError(
                f"{path} was trained with {name}={saved_model[name]}, this run has "
                f"{name}={current[name]}; it cannot be resumed with another architecture"
            )
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            if "scaler" in state:
                self.scaler.load_state_dict(state["scaler"])
            restore_random_state(state["rng"])
        except (KeyError, RuntimeError, ValueError, TypeError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise ValueError(f"cannot resume from {path}: {first}") from None
        self.step = int(state["step"])
        self.saved_step = self.step if self.resumes_in_place else None
        running = to_numpy(state.get("running"))
        if running:  # checkpoints before statistics were saved restart them at the checkpoint
            self.interval.load_state_dict(running["interval"])
            self.epoch_stats.load_state_dict(running["epoch"])
            self.timing.update(running["timing"])
            self._wall_before = float(running["timing"].get("wall_s", 0.0))
            self.last_loss = float(running["last_loss"])
        if self.dist.is_main:
            remove_stale_temporaries(path.parent)
            if self.resumes_in_place:
                truncate_records(self.out, self.step)

    def _kept(self) -> str:
        if self.saved_step is None:
            return f"no checkpoint was written yet (start again with --out {self.out})"
        return f"the checkpoint of step {self.saved_step} in {self.out} is kept"

    def save(self) -> None:
        """Write the checkpoint (main process only), atomically.

        Raises:
            TrainingDiverged: the weights hold NaN or infinity (the checkpoint on disk, of an
                earlier step, is kept).
        """
        if not self.dist.is_main:
            return
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            raise TrainingDiverged(
                f"the weights hold non-finite values after step {self.step}: training "
                f"diverged (lower --blr or --lr); {self._kept()}"
            )
        save_checkpoint(self.out / "checkpoint.pt", self.state())
        self.saved_step = self.step

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

    def prepare_targets(self, masks: np.ndarray, micro_index: int) -> DifficultyTargets:
        """Difficulty, loss weights and decoder selection from the masks alone, by the same
        :class:`maskstats.torch.DifficultyWeighting` a custom loop would use (CPU tensors; the
        decoder-masking tie-breaks are seeded per micro-batch, so a resumed run draws the
        same)."""
        c = self.cfg
        self.weighting.reseed([c.seed, micro_index + 1, self.dist.rank, 1])
        return self.weighting(masks)

    def run(self) -> dict:
        """Train until total_steps (or stop_after_steps); returns a summary dict.

        A SIGINT or SIGTERM (in the main thread) stops after the current optimizer step, saves a
        checkpoint, and raises KeyboardInterrupt (SIGINT) or SystemExit(143) (SIGTERM).
        """
        previous = self._install_signal_handlers()
        try:
            return self._run()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _install_signal_handlers(self) -> dict:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, self._on_signal)
        return previous

    def _on_signal(self, signum: int, frame: object) -> None:
        if self._signal is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self._signal = signum

    def _stop_on_signal(self, bar: tqdm) -> None:
        signum = self._signal
        assert signum is not None  # called once a signal arrived
        self.save()
        bar.close()
        name = signal.Signals(signum).name
        if self.dist.is_main:
            print(
                f"maskstats: {name} at step {self.step}: checkpoint saved; "
                f"continue with {self.resume_hint}",
                file=sys.stderr,
            )
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + int(signum))

    def _run(self) -> dict:
        c = self.cfg
        self._wall_start = time.perf_counter()
        first_step = self.step
        created: list[Path] = []
        if self.dist.is_main:
            if self.restart_notice:
                print(f"maskstats: {self.restart_notice}", file=sys.stderr)
            if not self.resumes_in_place:
                claim_run_folder(self.out, c.overwrite)
            created = [p for p in (self.out, *self.out.parents) if not p.exists()]
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(asdict(c), indent=2))
        try:
            return self._loop()
        except BaseException:
            if self.dist.is_main and self.step == first_step and not self.resumes_in_place:
                self._remove_unstarted(created)
            raise

    def _remove_unstarted(self, created: list[Path]) -> None:
        """A new run that stopped before its first step leaves nothing: its files and the
        folders it made are removed."""
        if (self.out / "checkpoint.pt").exists():
            return
        for name in RUN_FILES:
            (self.out / name).unlink(missing_ok=True)
        for folder in created:  # innermost first
            try:
                folder.rmdir()
            except OSError:
                break

    def _loop(self) -> dict:
        c = self.cfg
        stop_at = min(self.total_steps, c.stop_after_steps or self.total_steps)
        # Step k runs at lr_factor(k) = (k + 1) / warmup during the warmup: a run of fewer
        # steps than the warmup never reaches the peak.
        if self.dist.is_main and self.step == 0 and self.warmup_steps > self.total_steps:
            print(
                f"maskstats train: warning: the warmup ({self.warmup_steps} steps) is longer "
                f"than the run ({self.total_steps} steps), so the learning rate never reaches "
                f"its peak {self.base_lr:.3g}; pass --warmup-steps (e.g. "
                f"{max(1, self.total_steps // 10)})",
                file=sys.stderr,
            )
        bar = tqdm(
            total=stop_at,
            initial=self.step,
            desc="train",
            unit="step",
            disable=not (c.progress and self.dist.is_main),
            dynamic_ncols=True,
        )
        timing = self.timing
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
                self.last_loss = self._micro_step(
                    imgs, micro_index, micro_in_step, self.interval, self.epoch_stats, timing
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
                bar.set_postfix(loss=f"{self.last_loss:.4f}", img_s=f"{images_per_s:.0f}")
                if self.step % c.log_every == 0:
                    self._log("interval", epoch, self.interval, timing)
                    self.interval = self._new_stats()
                end_of_epoch = self.step % self.steps_per_epoch == 0
                if end_of_epoch:
                    self._log("epoch", epoch, self.epoch_stats, timing)
                    self.epoch_stats = self._new_stats()
                if self.step % c.save_every == 0:
                    self.save()
                if c.gallery_every and self.step % c.gallery_every == 0 and self.step < stop_at:
                    self.write_gallery(final=False)
                if self._signal is not None:
                    self._stop_on_signal(bar)
                if end_of_epoch or self.step >= stop_at:
                    break
        bar.close()
        self.save()
        summary = {
            "step": self.step,
            "loss": self.last_loss,
            "wall_s": self._wall_before + time.perf_counter() - self._wall_start,
            "step_ms": 1e3 * timing["step_s"] / timing["steps"] if timing["steps"] else math.nan,
            "difficulty_share": timing["difficulty_s"] / max(timing["step_s"], 1e-9),
            "out": str(self.out),
        }
        if self.dist.is_main:
            summary.update(run_loss_difficulty(self.out))
            write_csv(self.out)
            write_loss_per_bin(self.out)
            (self.out / "summary.json").write_text(json.dumps(summary, indent=2))
            self.write_gallery(final=True)
        return summary

    def write_gallery(self, final: bool) -> None:
        """The reconstruction gallery of the model as it is now (main process, when
        ``gallery_images`` > 0): RUN/gallery at the end, RUN/gallery-steps/step_N during the
        run (:func:`maskstats.mae.gallery.training_gallery`). A gallery folder that is not
        one (a user's folder in its place) is left alone, with a warning."""
        if not (self.dist.is_main and self.cfg.gallery_images > 0):
            return
        from maskstats.mae.gallery import training_gallery

        try:
            training_gallery(self.model, self.cfg, self.out, self.step, final)
        except (FileExistsError, ValueError) as error:
            tqdm.write(f"maskstats: no gallery at step {self.step}: {error}", file=sys.stderr)

    def _micro_step(self, imgs, micro_index, micro_in_step, interval, epoch_stats, timing) -> float:
        c = self.cfg
        t0 = time.perf_counter()
        masks = self.make_masks(micro_index, imgs.shape[0])
        targets = self.prepare_targets(masks, micro_index)
        timing["difficulty_s"] += time.perf_counter() - t0
        device = self.device
        on_device = targets.to(device, non_blocking=True)
        imgs = imgs.to(device, non_blocking=True)
        sync = micro_in_step == c.accum_iter - 1 or self.dist.world_size == 1
        context: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        if not sync and isinstance(self.net, DistributedDataParallel):  # world_size > 1
            context = self.net.no_sync()
        with context, torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.use_amp):
            out = self.net(imgs, on_device.mask, on_device.keep, on_device.weights)
            loss = out["loss"]
        (loss / c.accum_iter).backward()
        timing["images"] += imgs.shape[0]
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise TrainingDiverged(
                f"loss is {loss_value} at step {self.step + 1}: training diverged (lower --blr "
                f"or --lr) or the data holds non-finite pixels; {self._kept()}"
            )
        ids = out["ids_target"].cpu().numpy()
        patch_loss = out["patch_loss"].detach().float().cpu().numpy()
        difficulty = targets.difficulty.numpy()
        flat_masks = targets.mask.numpy()
        kept_difficulty = np.take_along_axis(difficulty, ids, axis=1)
        kept_weights = np.take_along_axis(targets.weights.numpy(), ids, axis=1)
        masked_difficulty = difficulty[flat_masks]
        if self.stats_metric == "p2dist":
            kept_p2dist = kept_difficulty
        else:
            p2dist = compute(masks, "p2dist", self.patch_size)["p2dist"].reshape(len(masks), -1)
            kept_p2dist = np.take_along_axis(p2dist, ids, axis=1)
        tokens = 1 + int((~flat_masks[0]).sum()) + ids.shape[1]
        for stats in (interval, epoch_stats):
            stats.add(
                masked_difficulty,
                kept_difficulty.ravel(),
                patch_loss.ravel(),
                kept_weights.ravel(),
                tokens,
                loss_value,
                kept_p2dist.ravel(),
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
        ess = record.get("ess")
        if ess is not None and ess < ESS_WARNING and not self._warned_ess:
            self._warned_ess = True
            tqdm.write(
                f"maskstats train: warning: the loss rests on few patches: effective sample "
                f"size {100 * ess:.0f}% of them, weights up to "
                f"{_fmt(record.get('weight_max_over_mean'), 0)}x the mean (step {self.step}); "
                "a lower --flatten-alpha or a higher --flatten-min-share spreads it",
                file=sys.stderr,
            )
        tqdm.write(
            f"[{kind} {epoch} step {self.step}] loss {_fmt(record['loss'], 4)} "
            f"{self.stats_metric} median {_fmt(record.get('difficulty_q50'), 3)} "
            f"w [{_fmt(record['weight_min'], 2)}, {_fmt(record['weight_max'], 2)}] "
            f"ess {_fmt(record['ess'], 2)} effective AvgDist "
            f"{_fmt(record['effective_avgdist'], 1)} px (targets {_fmt(record['loss_avgdist'], 1)})"
            f" decoder tokens {_fmt(record['decoder_tokens'], 0)}"
        )


ESS_WARNING = 0.1
"""A logged effective sample size below this share of the patches is warned about (once)."""
TIMING_FIELDS = ("step_ms", "difficulty_share", "images_per_s")
"""Fields of a metrics.jsonl record that measure time (they differ between equal runs)."""


def _fmt(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def train(config: TrainConfig) -> dict:
    """Build a :class:`Trainer` and run it; tears down the process group at the end."""
    trainer = Trainer(config)
    try:
        return trainer.run()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
