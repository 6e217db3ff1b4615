"""Difficulty-aware loss weights and decoder masking as a drop-in for any MAE training loop:
Hugging Face ``ViTMAEForPreTraining``, facebookresearch/mae ``models_mae.py`` (or a fork) or
your own. This module imports torch; ``import maskstats`` does not import it.

Three lines for a loop that already has masks (here from the model itself)::

    weighting = DifficultyWeighting("p2dist", grid=14, patch_size=16, decoder_mask_ratio=0.3)
    targets = weighting(mask)                       # mask (N, L), True/1 = masked
    loss = weighting.loss(mae_patch_loss(pred, patchify(imgs, 16), norm_pix_loss), targets)

With decoder masking, :class:`DecoderMasking` drops the hardest masked tokens from the
decoder's sequence, and :class:`MaskCollator` makes masks, targets and the matching
``noise`` in the DataLoader workers. Conventions: True = masked (removed), patches row-major
as MAE's patchify, L = H * W.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from maskstats import weights as _weights
from maskstats._validate import (
    as_video_grid,
    as_video_masks,
    check_mask_ratio,
    check_patch_size,
    check_tubelet_size,
    is_video_grid,
)
from maskstats.masks import as_grid, as_masks, generate, running_cell_masks
from maskstats.masks.video import check_running_cell
from maskstats.metrics import PATCH_METRICS, REGISTRY, compute
from maskstats.weights import LossDifficulty

__all__ = [
    "DecoderMasking",
    "DifficultyTargets",
    "DifficultyWeighting",
    "MaskCollator",
    "mae_patch_loss",
    "noise_for_mask",
    "patchify",
]


# --- helpers -----------------------------------------------------------------------------


def patchify(imgs: torch.Tensor, patch_size: int) -> torch.Tensor:
    """MAE's patchify: (N, C, H*p, W*p) images to (N, L, p*p*C) patches, row-major patches and
    (row, column, channel) order inside a patch, as facebookresearch/mae and Hugging Face do.

    Args:
        imgs: (N, C, H*p, W*p) pixels.
        patch_size: p, pixels per patch side.

    Returns:
        (N, H*W, p*p*C).

    Examples:
        >>> import torch
        >>> from maskstats.torch import patchify
        >>> image = torch.arange(16.0).reshape(1, 1, 4, 4)  # one 4 x 4 grey image
        >>> patchify(image, 2)[0].tolist()  # four 2 x 2 patches, row-major
        [[0.0, 1.0, 4.0, 5.0], [2.0, 3.0, 6.0, 7.0],
         [8.0, 9.0, 12.0, 13.0], [10.0, 11.0, 14.0, 15.0]]
    """
    n, c, height, width = imgs.shape
    p = check_patch_size(patch_size)
    if height % p or width % p:
        raise ValueError(f"image {height}x{width} is not divisible by patch_size {p}")
    h, w = height // p, width // p
    x = imgs.reshape(n, c, h, p, w, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(n, h * w, p * p * c)


def mae_patch_loss(
    pred: torch.Tensor, target_patches: torch.Tensor, norm_pix_loss: bool = False
) -> torch.Tensor:
    """MAE's per-patch reconstruction loss, to recompute a loss made inside a model.

    Args:
        pred: (N, L, P) predicted patches (the decoder's output without cls; HF ``logits``).
        target_patches: (N, L, P) ground-truth patches (:func:`patchify` of the images).
        norm_pix_loss: normalise each target patch by its mean and (unbiased) variance,
            (t - mean) / sqrt(var + 1e-6), as MAE's and Hugging Face's norm_pix_loss.

    Returns:
        (N, L) mean squared error over each patch's P values (pixels x channels).

    Examples:
        >>> import torch
        >>> from maskstats.torch import mae_patch_loss
        >>> mae_patch_loss(torch.zeros(1, 2, 4), torch.ones(1, 2, 4)).tolist()
        [[1.0, 1.0]]

        norm_pix_loss: (0, 0, 2, 2) has mean 1 and unbiased variance 4/3, so it becomes +-sqrt(3)/2
        and a zero prediction costs 3/4.

        >>> target = torch.tensor([[[0.0, 0.0, 2.0, 2.0]]])
        >>> round(mae_patch_loss(torch.zeros(1, 1, 4), target, norm_pix_loss=True).item(), 4)
        0.75
    """
    target = target_patches
    if norm_pix_loss:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        target = (target - mean) / (var + 1.0e-6) ** 0.5
    return ((pred - target) ** 2).mean(dim=-1)


def _flat_mask(mask: Any, check: bool) -> tuple[Any, int]:
    """(N, L) bool view of a torch or numpy (N, L) or (N, H, W) mask; returns (mask, L).

    With ``check``, values other than 0/1 (0.5, 2, NaN) are refused.
    """
    if not isinstance(mask, torch.Tensor):
        mask = np.asarray(mask)
    if mask.ndim not in (2, 3):
        raise ValueError(f"mask must be (N, L) or (N, H, W), got shape {tuple(mask.shape)}")
    length = math.prod(mask.shape[1:])
    flat = mask.reshape(mask.shape[0], length)
    if flat.dtype == (torch.bool if isinstance(flat, torch.Tensor) else np.bool_):
        return flat, length
    if check:
        binary = (flat == 0) | (flat == 1)
        if not bool(binary.all()):
            bad = flat[~binary].reshape(-1)[0]
            raise ValueError(f"mask must hold only 0/1 or True/False, found {float(bad):g}")
    return flat != 0, length


def noise_for_mask(
    mask: Any, mask_ratio: float | None = None, *, check: bool | None = None
) -> torch.Tensor:
    """Noise that makes MAE's / Hugging Face's ``random_masking(x, noise=...)`` reproduce
    ``mask`` exactly (they keep the ``len_keep`` patches of smallest noise): the recommended
    way to hand any maskstats mask (random, block, SimMIM, grid, difficulty) to MAE.

    Visible patches get distinct values in [0, 0.5) and masked ones distinct values in
    [0.5, 1), increasing with the patch index, so the result does not depend on whether the
    model's argsort is stable. (Passing the noise ``random_masks`` drew, or any noise of your
    own, to MAE gives the same mask only where no two values tie at the keep boundary:
    ``torch.argsort`` orders equal values as it likes.) Each row must have exactly the model's
    ``len_keep = int(L * (1 - mask_ratio))`` visible patches.

    Args:
        mask: (N, L) or (N, H, W), bool or 0/1, torch (any device) or numpy, True = masked.
        mask_ratio: the model's mask ratio; when given, the visible count is checked
            against its len_keep.
        check: check that the values are 0/1 and that every row has the same visible count
            (and the len_keep above). Default: only when it costs no device sync (numpy or
            CPU masks).

    Returns:
        (N, L) float32 noise on the mask's device (CPU for numpy masks).

    Examples:
        >>> import numpy as np
        >>> from maskstats.torch import noise_for_mask
        >>> noise = noise_for_mask(np.array([[True, False, True, False]]))
        >>> noise.tolist()  # visible in [0, 0.5), masked in [0.5, 1)
        [[0.5, 0.125, 0.75, 0.375]]
        >>> noise.argsort(dim=1)[:, :2].tolist()  # what MAE keeps with len_keep = 2
        [[1, 3]]
    """
    on_host = not isinstance(mask, torch.Tensor) or mask.device.type == "cpu"
    if check is None:
        check = on_host
    flat, length = _flat_mask(mask, check)
    if check and flat.shape[0]:
        visible = (~flat).sum(1)
        if bool((visible != visible[0]).any()):
            raise ValueError(
                "rows have different numbers of visible patches "
                f"({int(visible.min())} .. {int(visible.max())}); MAE keeps the same len_keep "
                "in every row"
            )
        if mask_ratio is not None and int(visible[0]) != int(length * (1 - mask_ratio)):
            raise ValueError(
                f"masks have {int(visible[0])} visible patches per row, but the model keeps "
                f"int(L * (1 - mask_ratio)) = {int(length * (1 - mask_ratio))}"
            )
    if isinstance(flat, torch.Tensor) and flat.device.type != "cpu":
        index = torch.arange(length, device=flat.device, dtype=torch.float32)
        return (flat.to(torch.float32) * length + index) / (2 * length)
    # On the host in numpy: small torch CPU ops pay thread-pool overheads.
    if isinstance(flat, torch.Tensor):
        flat = flat.numpy()
    positions = np.arange(length, dtype=np.float32)
    noise = (flat.astype(np.float32) * np.float32(length) + positions) / np.float32(2 * length)
    return torch.from_numpy(noise)


def _rows_equal(counts: np.ndarray) -> bool:
    return counts.size == 0 or bool((counts == counts[0]).all())


def _pinned(array: np.ndarray, device: torch.device) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if device.type == "cpu":
        return tensor
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


# --- targets -----------------------------------------------------------------------------


@dataclass
class DifficultyTargets:
    """What the loss and the decoder need from one batch of masks (all (N, L), one device).

    Attributes:
        mask: (N, L) bool, True = masked.
        keep: (N, L) bool, True = masked patch that reaches the decoder and the loss (equals
            ``mask`` without decoder masking).
        difficulty: (N, L) float32, the metric oriented higher = harder; NaN on visible.
        weights: (N, L) float32 loss weights: 0 on visible and dropped patches, mean 1 over
            the kept ones.
        ids_keep: (N, V + K) int64, ascending patch indices that the decoder keeps (every
            visible patch and the kept masked ones); None when rows differ in that count.
        noise: (N, L) float32 from :func:`noise_for_mask`, to pass as ``noise=`` to MAE / HF
            ``random_masking``; None when rows differ in their visible count.
        decoder_tokens: clips with running-cell decoder masking only: (N, L) bool, the
            positions whose mask token a VideoMAE decoder runs (every position the cell keeps,
            encoder-visible ones included, as VideoMAE v2 does); None: the kept masked ones.
    """

    mask: torch.Tensor
    keep: torch.Tensor
    difficulty: torch.Tensor
    weights: torch.Tensor
    ids_keep: torch.Tensor | None
    noise: torch.Tensor | None
    decoder_tokens: torch.Tensor | None = None

    @property
    def bool_masked_pos(self) -> torch.Tensor:
        """``mask`` under Hugging Face VideoMAE's name: (N, L) bool, True = masked."""
        return self.mask

    def _map(self, fn: Any) -> DifficultyTargets:
        mapped: dict[str, Any] = {
            f.name: None if getattr(self, f.name) is None else fn(getattr(self, f.name))
            for f in dataclasses.fields(self)
        }
        return DifficultyTargets(**mapped)

    def __reduce__(self) -> tuple:
        # CPU targets travel as one uint8 buffer: a DataLoader worker then hands the training
        # process one shared-memory block per batch instead of one per field (about 2 ms
        # less on the main thread for 256 x 196).
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if not all(t is None or t.device.type == "cpu" for t in fields.values()):
            return (DifficultyTargets, tuple(fields.values()))
        layout: list[tuple[str, torch.dtype | None, tuple[int, ...] | None, int, int]] = []
        total = 0
        for name, tensor in fields.items():
            if tensor is None:
                layout.append((name, None, None, 0, 0))
                continue
            nbytes = tensor.numel() * tensor.element_size()
            layout.append((name, tensor.dtype, tuple(tensor.shape), total, nbytes))
            total += -(-nbytes // 64) * 64
        buffer = torch.empty(total, dtype=torch.uint8)
        raw = buffer.numpy()
        for name, _, _, start, nbytes in layout:
            tensor = fields[name]
            if tensor is not None:
                data = np.ascontiguousarray(tensor.detach().numpy()).view(np.uint8).ravel()
                raw[start : start + nbytes] = data
        return (_unpack_targets, (buffer, layout))

    def to(self, device: Any, non_blocking: bool = False) -> DifficultyTargets:
        """A copy with every tensor on ``device``."""
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> DifficultyTargets:
        """A copy in pinned memory (the DataLoader calls this with ``pin_memory=True``)."""
        return self._map(lambda t: t.pin_memory())

    @property
    def device(self) -> torch.device:
        """The device of every tensor."""
        return self.mask.device

    def loss(self, per_patch_loss: torch.Tensor) -> torch.Tensor:
        """Sum of w * loss / sum of w over the batch (see :meth:`DifficultyWeighting.loss`).

        Args:
            per_patch_loss: (N, L) loss per patch (:func:`mae_patch_loss`).

        Returns:
            scalar tensor.
        """
        dtype = torch.promote_types(per_patch_loss.dtype, torch.float32)
        w = self.weights.to(device=per_patch_loss.device, dtype=dtype)
        if per_patch_loss.shape != w.shape:
            raise ValueError(f"per_patch_loss {tuple(per_patch_loss.shape)} != (N, L) {w.shape}")
        return (per_patch_loss.to(dtype) * w).sum() / w.sum().clamp_min(1e-12)

    def loss_difficulty(
        self, patch_size: int, grid: Any = None, p2dist: np.ndarray | None = None
    ) -> _weights.LossDifficulty:
        """How hard the targets of this loss are: effective AvgDist (loss-weighted, px), the
        unweighted AvgDist of the same patches, ESS share and largest weight.

        Args:
            patch_size: pixels per patch side.
            grid: (H, W) of the patch grid (default: square, L = H * H).
            p2dist: (N, L) P2Dist of the masks, if known (else computed from ``mask``).

        Returns:
            :class:`maskstats.weights.LossDifficulty`.
        """
        mask = self.mask.detach().cpu().numpy()
        if grid is None:
            side = math.isqrt(mask.shape[1])
            if side * side != mask.shape[1]:
                raise ValueError(f"L = {mask.shape[1]} is not a square: pass grid=(H, W)")
            grid = (side, side)
        return _weights.loss_difficulty(
            mask, self.weights.detach().cpu().numpy(), patch_size, grid=grid, p2dist=p2dist
        )

    @property
    def decoder_length(self) -> int | None:
        """Tokens the decoder runs on with :class:`DecoderMasking`: 1 (cls) + V + K."""
        return None if self.ids_keep is None else 1 + self.ids_keep.shape[1]


def _unpack_targets(buffer: torch.Tensor, layout: list[tuple]) -> DifficultyTargets:
    """Rebuild DifficultyTargets as views into one buffer (see ``__reduce__``)."""
    fields: dict[str, Any] = {}
    for name, dtype, shape, start, nbytes in layout:
        if dtype is None:
            fields[name] = None
        else:
            fields[name] = buffer[start : start + nbytes].view(dtype).reshape(shape)
    return DifficultyTargets(**fields)


# --- weighting ---------------------------------------------------------------------------


class DifficultyWeighting:
    """Per-patch difficulty, Difficulty-Flatten (or inverse) loss weights and the decoder
    selection for a batch of masks.

    Args:
        metric: per-patch metric (``maskstats.metrics.PATCH_METRICS``), oriented internally.
        grid: patch grid (H, W), or an int for a square grid.
        patch_size: model patch size in pixels.
        weighting: "flatten" (Difficulty-Flatten: more weight on easy targets, the least on the
            hardest; :func:`maskstats.weights.flatten_weights`), "histogram" (the histogram
            equaliser, for comparison), "inverse" or "none".
        alpha: flatten / histogram power; None: 0.5 for flatten, 1 for histogram; 0: plain
            MAE.
        gamma: inverse power.
        min_share: flatten pools the easiest patches up to this share of the batch (so that
            no weight exceeds ``min_share ** -alpha`` times the mean).
        decoder_mask_ratio: q in [0, 1): share of each row's masked patches, the hardest,
            dropped from the decoder and the loss.
        seed: seed of the decoder-masking tie-breaks (None: fresh entropy).
        sync_bins: under torch.distributed, all-reduce the flatten bin counts so that the
            weights are those of the global batch (one small all-reduce per call). Only in the
            training process: inside a DataLoader worker this is refused; make the targets
            there unsynced and call :meth:`sync_weights` in the training process.
        process_group: the group for ``sync_bins`` (default: the world).
        tubelet_size: clips (``grid=(T, H, W)``) only: frames per token (VideoMAE: 2).
        temporal_step: clips only: px between consecutive token-frames (None: patch_size).
        decoder_masking: clips only: "difficulty" (the hardest ``decoder_mask_ratio`` of each
            clip's masked tokens dropped) or "running_cell" (VideoMAE v2's content-blind cell,
            ``decoder_mask_ratio`` 0.25, 0.5 or 0.75; the loss covers the encoder-masked,
            decoder-kept tokens). See :mod:`maskstats.torch_video`.

    Examples:
        Random masks at 0.75 on 14 x 14 (147 masked), the hardest floor(0.3 * 147) = 44 of each
        dropped: 103 masked patches in the loss, 1 + 49 + 103 tokens in the decoder.

        >>> from maskstats.masks import random_masks
        >>> from maskstats.torch import DifficultyWeighting
        >>> weighting = DifficultyWeighting(
        ...     "p2dist", grid=14, patch_size=16, decoder_mask_ratio=0.3, seed=0
        ... )
        >>> targets = weighting(random_masks(8, 14, 0.75, seed=0))
        >>> targets.weights.shape, targets.keep.sum(1).tolist(), targets.decoder_length
        (torch.Size([8, 196]), [103, 103, 103, 103, 103, 103, 103, 103], 153)
        >>> kept, dropped = targets.weights[targets.keep], targets.weights[~targets.keep]
        >>> round(kept.mean().item(), 4), bool(dropped.eq(0).all())  # mean 1; 0 elsewhere
        (1.0, True)
        >>> difficulty = weighting.loss_difficulty(targets)
        >>> bool(difficulty.effective_avgdist < difficulty.avgdist), difficulty.patches
        (True, 824)
    """

    def __init__(
        self,
        metric: str = "p2dist",
        *,
        grid: Any,
        patch_size: int,
        weighting: str = "flatten",
        alpha: float | None = None,
        gamma: float = 1.0,
        min_share: float = _weights.FLATTEN_MIN_SHARE,
        decoder_mask_ratio: float = 0.0,
        seed: Any = None,
        sync_bins: bool = False,
        process_group: Any = None,
        tubelet_size: int = 2,
        temporal_step: float | None = None,
        decoder_masking: str = "difficulty",
    ) -> None:
        if metric not in PATCH_METRICS:
            raise ValueError(f"metric must be one of {PATCH_METRICS}, got {metric!r}")
        if weighting not in _weights.WEIGHTINGS:
            raise ValueError(f"weighting must be one of {_weights.WEIGHTINGS}, got {weighting!r}")
        if not 0.0 <= decoder_mask_ratio < 1.0:
            raise ValueError(f"decoder_mask_ratio must be in [0, 1), got {decoder_mask_ratio}")
        self.metric = metric
        self.grid = as_video_grid(grid) if is_video_grid(grid) else as_grid(grid)
        self.patch_size = check_patch_size(patch_size)
        self.tubelet_size = check_tubelet_size(tubelet_size)
        self.temporal_step = temporal_step
        if decoder_masking not in ("difficulty", "running_cell"):
            raise ValueError(
                f"decoder_masking must be 'difficulty' or 'running_cell', got {decoder_masking!r}"
            )
        if decoder_masking == "running_cell":
            if len(self.grid) != 3:
                raise ValueError("running-cell decoder masking needs a clip grid (T, H, W)")
            check_running_cell(self.grid, decoder_mask_ratio)
        self.decoder_masking = decoder_masking
        self.weighting = weighting
        self.alpha = _weights.default_alpha(weighting) if alpha is None else float(alpha)
        self.gamma = float(gamma)
        self.min_share = float(min_share)
        _weights.check_weighting(self.alpha, self.gamma, self.min_share)
        self.decoder_mask_ratio = float(decoder_mask_ratio)
        self.sync_bins = bool(sync_bins)
        self.process_group = process_group
        self.reseed(seed)

    @property
    def num_patches(self) -> int:
        """L = H * W (clips: T * H * W)."""
        return math.prod(self.grid)

    @property
    def clips(self) -> bool:
        """Whether this weighting is for clips (a (T, H, W) grid)."""
        return len(self.grid) == 3

    def reseed(self, seed: Any) -> None:
        """Restart the tie-break stream (the collator does this in each worker).

        Args:
            seed: anything ``numpy.random.default_rng`` takes: an int, a list of ints (e.g.
                [run seed, step, rank]), a SeedSequence, or None.
        """
        self.rng = np.random.default_rng(seed)

    def __repr__(self) -> str:
        clip = ""
        if self.clips:
            clip = (
                f", tubelet_size={self.tubelet_size}, temporal_step={self.temporal_step}, "
                f"decoder_masking={self.decoder_masking!r}"
            )
        return (
            f"DifficultyWeighting({self.metric!r}, grid={self.grid}, "
            f"patch_size={self.patch_size}, weighting={self.weighting!r}, alpha={self.alpha}, "
            f"gamma={self.gamma}, min_share={self.min_share}, "
            f"decoder_mask_ratio={self.decoder_mask_ratio}{clip})"
        )

    def _global_counts(self, selected: np.ndarray, always: bool = False) -> np.ndarray | None:
        """Bin counts of ``selected`` summed over the process group (None: no syncing).

        Raises:
            ValueError: syncing asked for inside a DataLoader worker, which is not part of the
                training process's group (a fork would wait forever, a spawn would not sync).
        """
        import torch.distributed as dist

        if not (self.sync_bins or always):
            return None
        if torch.utils.data.get_worker_info() is not None:
            raise ValueError(
                "sync_bins=True cannot all-reduce inside a DataLoader worker (only the training "
                "process is in the process group): give the collator's weighting "
                "sync_bins=False and call weighting.sync_weights(batch['targets']) in the "
                "training process"
            )
        if not (dist.is_available() and dist.is_initialized()):
            return None
        counts = _weights.bin_counts(selected, self.metric, oriented=True)
        backend = dist.get_backend(self.process_group)
        on = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else "cpu"
        total = torch.from_numpy(counts).to(on)
        dist.all_reduce(total, group=self.process_group)
        return total.cpu().numpy()

    def targets_numpy(self, mask: Any) -> dict[str, np.ndarray | None]:
        """The targets as numpy arrays (CPU work only); see :meth:`__call__`."""
        if self.clips:
            masks = as_video_masks(mask, self.grid)
            clip: dict[str, Any] = {
                "tubelet_size": self.tubelet_size,
                "temporal_step": self.temporal_step,
            }
        else:
            assert len(self.grid) == 2  # images: an (H, W) grid
            masks, clip = as_masks(mask, self.grid), {}
        n, length = masks.shape[0], self.num_patches
        flat = masks.reshape(n, length)
        raw = compute(masks, self.metric, self.patch_size, **clip)[self.metric].reshape(n, length)
        difficulty = REGISTRY[self.metric].difficulty(raw)
        decoder_tokens = None
        if self.decoder_masking == "running_cell":
            assert len(self.grid) == 3  # checked at construction: running cells are clips'
            cell = running_cell_masks(n, self.grid, self.decoder_mask_ratio, seed=self.rng)
            decoder_tokens = ~cell.reshape(n, -1)
            keep = flat & decoder_tokens
        elif self.decoder_mask_ratio > 0:
            keep = _weights.decoder_keep(flat, difficulty, self.decoder_mask_ratio, self.rng)
        else:
            keep = flat.copy()
        weights = self._weights(difficulty, keep, self._global_counts(difficulty[keep]))
        decoder = keep | ~flat
        per_row = decoder.sum(axis=1)
        ids_keep = None
        if _rows_equal(per_row):
            width = int(per_row[0]) if n else 0
            ids_keep = np.nonzero(decoder)[1].reshape(n, width).astype(np.int64)
        noise = None
        if _rows_equal(flat.sum(axis=1)):
            noise = noise_for_mask(flat, check=False).numpy()
        return {
            "mask": flat,
            "keep": keep,
            "difficulty": difficulty,
            "weights": weights,
            "ids_keep": ids_keep,
            "noise": noise,
            "decoder_tokens": decoder_tokens,
        }

    def _weights(
        self, difficulty: np.ndarray, keep: np.ndarray, counts: np.ndarray | None
    ) -> np.ndarray:
        """(N, L) float32 weights of the ``keep`` patches (0 elsewhere), from their oriented
        ``difficulty`` and, when given, the global bin ``counts``."""
        weights = np.zeros(keep.shape, np.float32)
        weights[keep] = _weights.patch_weights(
            difficulty[keep],
            self.weighting,
            self.metric,
            self.alpha,
            self.gamma,
            oriented=True,
            counts=counts,
            min_share=self.min_share,
        )
        return weights

    def sync_weights(self, targets: DifficultyTargets) -> DifficultyTargets:
        """The targets with weights from the bin counts of the whole process group: for targets
        made without syncing (in DataLoader workers, e.g. by :class:`MaskCollator`), called in
        the training process. One small all-reduce; every rank must call it for each batch.
        Without an initialised process group the weights stay as they are.

        Args:
            targets: from this weighting's :meth:`__call__` (any device).

        Returns:
            The same targets with new ``weights`` (on the targets' device).
        """
        difficulty = targets.difficulty.detach().cpu().numpy()
        keep = targets.keep.detach().cpu().numpy()
        counts = self._global_counts(difficulty[keep], always=True)
        if counts is None:
            return targets
        weights = self._weights(difficulty, keep, counts)
        return dataclasses.replace(targets, weights=_pinned(weights, targets.device))

    def __call__(self, mask: Any) -> DifficultyTargets:
        """Difficulty, weights and decoder selection for a batch of masks.

        The masks are copied to the CPU once (for a CUDA tensor this is the one host sync);
        the results are copied back to the masks' device without blocking.

        Args:
            mask: (N, L) or (N, H, W), bool or 0/1, True = masked; torch (any device) or
                numpy. Every mask needs a visible patch for the distance metrics.

        Returns:
            DifficultyTargets on the mask's device (CPU for numpy).
        """
        device = mask.device if isinstance(mask, torch.Tensor) else torch.device("cpu")
        arrays = self.targets_numpy(mask)
        pinned: dict[str, Any] = {
            k: None if v is None else _pinned(v, device) for k, v in arrays.items()
        }
        return DifficultyTargets(**pinned)

    def loss(self, per_patch_loss: torch.Tensor, targets: DifficultyTargets) -> torch.Tensor:
        """Sum of w * loss / sum of w: the weighted MAE loss.

        With weighting "none" and no decoder masking, w is 1 on masked patches and this is
        MAE's own ``(loss * mask).sum() / mask.sum()``.

        Args:
            per_patch_loss: (N, L) loss per patch (:func:`mae_patch_loss`); its values on
                visible and dropped patches get weight 0 (zeros or anything finite).
            targets: from :meth:`__call__`, on the loss's device.

        Returns:
            scalar tensor (float32 or the loss's wider dtype).
        """
        return targets.loss(per_patch_loss)

    def loss_difficulty(self, targets: DifficultyTargets) -> LossDifficulty:
        """The effective difficulty of the loss these targets weight: effective AvgDist (px),
        the unweighted AvgDist of the same patches, ESS share and largest weight
        (:class:`maskstats.weights.LossDifficulty`). Reuses the targets' difficulty when the
        metric is p2dist; otherwise computes P2Dist from the masks (on the CPU)."""
        p2dist = None
        if self.metric == "p2dist":
            p2dist = targets.difficulty.detach().cpu().numpy()
        elif self.clips:  # the clip's own P2Dist (tubelet, temporal step), not the defaults
            mask = targets.mask.detach().cpu().numpy()
            p2dist = compute(
                mask,
                "p2dist",
                self.patch_size,
                grid=self.grid,
                on_empty="nan",
                tubelet_size=self.tubelet_size,
                temporal_step=self.temporal_step,
            )["p2dist"]
        return targets.loss_difficulty(self.patch_size, self.grid, p2dist=p2dist)


# --- decoder masking ---------------------------------------------------------------------


def _decoder_modules(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """(first decoder block, decoder prediction head) of an HF or fb-MAE-style model."""
    decoder = getattr(model, "decoder", None)
    if decoder is not None and hasattr(decoder, "decoder_layers"):  # HF ViTMAEForPreTraining
        blocks, pred = decoder.decoder_layers, decoder.decoder_pred
    elif hasattr(model, "decoder_blocks") and hasattr(model, "decoder_pred"):  # models_mae.py
        blocks, pred = model.decoder_blocks, model.decoder_pred
    else:
        blocks = pred = None
    if blocks is not None:
        if len(blocks) == 0:
            raise ValueError(
                f"{type(model).__name__} has no decoder blocks (decoder depth 0): there is no "
                "decoder sequence to shorten; pass blocks= and pred= for another layout"
            )
        return blocks[0], pred
    raise TypeError(
        f"{type(model).__name__} has neither decoder.decoder_layers (Hugging Face ViTMAE) nor "
        "decoder_blocks and decoder_pred (facebookresearch/mae); pass blocks= and pred="
    )


class DecoderMasking:
    """Run an MAE decoder on 1 + visible + kept tokens: hooks on the model's decoder.

    A pre-hook on the first decoder block gathers cls (index 0) and the ``targets.ids_keep``
    tokens out of the full sequence (N, 1 + L, D), which at that point holds the decoder
    position embedding; a hook on the prediction head scatters the (N, 1 + V + K, P)
    predictions back to (N, 1 + L, P) with zeros at the dropped positions. The dropped
    patches have weight 0 in ``targets.weights``, so :meth:`DifficultyWeighting.loss` ignores
    them (the model's own loss does not: recompute it).

    Kept predictions, the loss and its gradients equal those of the full sequence with the
    dropped tokens blocked as attention keys.

    Args:
        model: HF ``ViTMAEForPreTraining``, an fb-MAE-style model (``decoder_blocks``,
            ``decoder_pred``), or a DDP wrapper of one.
        targets: initial targets; set ``.targets`` before each forward. None: no dropping.
        blocks: the decoder's first block, for other models.
        pred: the decoder's prediction head, for other models.
        mask_ratio: the model's mask ratio (default: Hugging Face's ``config.mask_ratio``, or
            a ``mask_ratio`` attribute; fb-MAE takes it in ``forward``: pass it here). When
            known, the targets' visible count per row is checked against the model's
            ``len_keep = int(L * (1 - mask_ratio))``: on the first forward, and on every
            forward whose targets are on the CPU (a check on a GPU costs a sync).
    """

    def __init__(
        self,
        model: nn.Module,
        targets: DifficultyTargets | None = None,
        *,
        blocks: nn.Module | None = None,
        pred: nn.Module | None = None,
        mask_ratio: float | None = None,
    ) -> None:
        inner = getattr(model, "module", model)
        if blocks is None or pred is None:
            first, head = _decoder_modules(inner)
            blocks = first if blocks is None else blocks
            pred = head if pred is None else pred
        if mask_ratio is None:
            mask_ratio = getattr(getattr(inner, "config", None), "mask_ratio", None)
        own_ratio = getattr(inner, "mask_ratio", None)  # facebook MAE keeps it on the model
        if mask_ratio is None and isinstance(own_ratio, float):
            mask_ratio = own_ratio
        self.mask_ratio = None if mask_ratio is None else check_mask_ratio(mask_ratio)
        self._checked = False
        self.targets = targets
        self.last_length: int | None = None
        self._index: torch.Tensor | None = None
        self._full_length = 0
        self._handles = [
            blocks.register_forward_pre_hook(self._shorten),
            pred.register_forward_hook(self._restore),
        ]

    def _shorten(self, module: nn.Module, args: tuple) -> tuple | None:
        self._index = None
        targets = self.targets
        hidden = args[0]
        self.last_length = hidden.shape[1]
        if targets is None:
            return None
        self._check_len_keep(targets)
        if targets.ids_keep is None:
            return None
        n, length, dim = hidden.shape
        ids = targets.ids_keep.to(hidden.device, non_blocking=True)
        if length == 1 + ids.shape[1]:
            return None  # already short (e.g. a recomputation) or nothing dropped
        if length != 1 + targets.mask.shape[1] or ids.shape[0] != n:
            raise ValueError(
                f"decoder input is {tuple(hidden.shape)} but the targets are for "
                f"{tuple(targets.mask.shape)} masks: set .targets for this batch"
            )
        cls = torch.zeros(n, 1, dtype=ids.dtype, device=ids.device)
        index = torch.cat([cls, ids + 1], dim=1)
        self._index = index
        self._full_length = length
        self.last_length = index.shape[1]
        short = torch.gather(hidden, 1, index.unsqueeze(-1).expand(-1, -1, dim))
        return (short, *args[1:])

    def _check_len_keep(self, targets: DifficultyTargets) -> None:
        """Refuse targets whose visible count differs from the model's len_keep (the model
        would then mask other patches than ``targets.mask``)."""
        on_host = targets.mask.device.type == "cpu"
        if self.mask_ratio is None or targets.noise is None or (self._checked and not on_host):
            return
        length = targets.mask.shape[1]
        if targets.mask.shape[0]:
            visible = int((~targets.mask[0]).sum())
            len_keep = int(length * (1 - self.mask_ratio))
            if visible != len_keep:
                raise ValueError(
                    f"the targets' masks have {visible} visible patches per row, but the model "
                    f"(mask_ratio {self.mask_ratio:g}) keeps int(L * (1 - mask_ratio)) = "
                    f"{len_keep}: make the masks (MaskCollator's mask_ratio) with the model's "
                    "mask_ratio"
                )
        self._checked = True

    def _restore(self, module: nn.Module, args: tuple, output: torch.Tensor) -> Any:
        index = self._index
        if index is None or output.shape[1] != index.shape[1]:
            return None
        n, _, size = output.shape
        full = output.new_zeros(n, self._full_length, size)
        return full.scatter(1, index.unsqueeze(-1).expand(-1, -1, size), output)

    def remove(self) -> None:
        """Remove the hooks; the model runs the full sequence again."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> DecoderMasking:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


# --- collator ----------------------------------------------------------------------------


class MaskCollator:
    """A DataLoader ``collate_fn`` that makes the masks, their DifficultyTargets and the
    matching noise in the workers, so the training process does none of it.

    Batches come out as a dict: "pixel_values" (N, C, H, W), "noise" (N, L) (pass it as
    ``noise=`` to HF / MAE so that they use these masks), "targets" (DifficultyTargets on the
    CPU; ``.to(device, non_blocking=True)`` them), and "labels" when samples are
    (image, label) pairs; dict samples keep their keys and values (a sample that already holds
    "noise" or "targets" is refused: pass ``noise_key`` / ``targets_key`` to name the
    collator's entries otherwise). Picklable, for fork and spawn workers.

    Under DDP, the weighting's ``sync_bins`` cannot run in a worker: make the weighting with
    ``sync_bins=False`` and call ``weighting.sync_weights(batch["targets"])`` in the training
    process.

    With a clip weighting (``grid=(T, H, W)``) samples are clips, "pixel_values"
    (N, frames, C, H, W) as Hugging Face VideoMAE takes them, the masks those of
    ``generate(strategy, ..., frames=T * tubelet_size)`` ("tube", "random", ...), and
    "bool_masked_pos" (N, L) is added for ``VideoMAEForPreTraining``.

    Masks are random: in a worker the stream mixes ``seed`` with the worker's torch seed, so
    it differs per worker and epoch and repeats under ``torch.manual_seed``.

    Args:
        weighting: the DifficultyWeighting (its grid and patch_size set the masks').
        strategy: ``maskstats.masks.generate`` strategy: "random" (MAE), "block" (BEiT),
            "simmim", or "difficulty" (with target_avgdist or target_p2dist in mask_kwargs).
        mask_ratio: the model's mask ratio (HF ``config.mask_ratio``, MAE ``mask_ratio``).
        seed: base seed (None: torch's seed in the main process, 0 in workers).
        image_key: the image entry of dict samples.
        noise_key: the batch entry of the noise.
        targets_key: the batch entry of the DifficultyTargets.
        **mask_kwargs: passed to ``generate`` (e.g. mask_patch_size, target_p2dist).

    Raises:
        ValueError: at construction, for a strategy, ratio or ``mask_kwargs`` that cannot
            make masks on the weighting's grid (one mask is made to check); when called, for
            dict samples that already hold ``noise_key`` or ``targets_key`` (rename them, or
            pass other keys here: the collator never overwrites a sample's entry).

    Examples:
        >>> import torch
        >>> from maskstats.torch import DifficultyWeighting, MaskCollator
        >>> collate = MaskCollator(
        ...     DifficultyWeighting(grid=8, patch_size=4), "block", mask_ratio=0.75, seed=0
        ... )
        >>> batch = collate([torch.zeros(3, 32, 32)] * 4)
        >>> sorted(batch), batch["noise"].shape
        (['noise', 'pixel_values', 'targets'], torch.Size([4, 64]))
        >>> (~batch["targets"].mask).sum(1).tolist()  # int(64 * 0.25) visible, as the model keeps
        [16, 16, 16, 16]
    """

    def __init__(
        self,
        weighting: DifficultyWeighting,
        strategy: str = "random",
        *,
        mask_ratio: float = 0.75,
        seed: int | None = None,
        image_key: str = "pixel_values",
        noise_key: str = "noise",
        targets_key: str = "targets",
        **mask_kwargs: Any,
    ) -> None:
        self.weighting = weighting
        self.strategy = strategy
        self.mask_ratio = check_mask_ratio(mask_ratio)
        self.seed = seed
        self.image_key = image_key
        self.noise_key = noise_key
        self.targets_key = targets_key
        self.mask_kwargs = mask_kwargs
        self.img_size = (
            weighting.grid[-2] * weighting.patch_size,
            weighting.grid[-1] * weighting.patch_size,
        )
        self._stream: tuple | None = None
        self.rng: np.random.Generator | None = None
        # One mask now: an unknown strategy, or a cell size, target or ratio this grid cannot
        # take, fails here rather than in a worker.
        generate(
            strategy,
            1,
            self.img_size,
            weighting.patch_size,
            self.mask_ratio,
            seed=0,
            **self._clip_kwargs(),
            **mask_kwargs,
        )

    def _clip_kwargs(self) -> dict[str, int]:
        """``frames`` and ``tubelet_size`` for ``generate`` with a clip weighting, else {}."""
        if not self.weighting.clips:
            return {}
        frames = self.weighting.grid[0] * self.weighting.tubelet_size
        return {"frames": frames, "tubelet_size": self.weighting.tubelet_size}

    def _ensure_rng(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        stream = (os.getpid(), None if info is None else info.seed)
        if self._stream != stream or self.rng is None:
            base = 0 if self.seed is None else int(self.seed)
            if info is None:
                entropy = [base] if self.seed is not None else [torch.initial_seed()]
            else:
                entropy = [base, int(info.seed)]
            sequence = np.random.SeedSequence(entropy)
            mask_seed, tie_seed = sequence.spawn(2)
            self.rng = np.random.default_rng(mask_seed)
            self.weighting.reseed(tie_seed)
            self._stream = stream
        return self.rng

    def masks(self, n: int) -> np.ndarray:
        """(n, H, W) bool masks of the strategy, True = masked ((n, T, H, W) for clips)."""
        return generate(
            self.strategy,
            n,
            self.img_size,
            self.weighting.patch_size,
            self.mask_ratio,
            seed=self._ensure_rng(),
            **self._clip_kwargs(),
            **self.mask_kwargs,
        )

    def __call__(self, samples: list) -> dict[str, Any]:
        """Collate ``samples`` and add masks, their noise and difficulty targets."""
        batch = torch.utils.data.default_collate(samples)
        if isinstance(batch, torch.Tensor):
            out: dict[str, Any] = {"pixel_values": batch}
        elif isinstance(batch, Mapping):
            out = dict(batch)
            taken = [
                key
                for key in (self.noise_key, self.targets_key)
                if key in out and key != self.image_key
            ]
            if "pixel_values" in out and self.image_key != "pixel_values":
                taken.append("pixel_values")
            if taken:
                raise ValueError(
                    f"the samples already hold {taken[0]!r}, which MaskCollator would "
                    "overwrite: rename it in the data set, or pass other noise_key / targets_key"
                )
            out["pixel_values"] = out.pop(self.image_key)
        elif isinstance(batch, Sequence):
            out = {"pixel_values": batch[0]}
            if len(batch) > 1:
                out["labels"] = batch[1]
            if len(batch) > 2:
                out["extra"] = list(batch[2:])
        else:
            raise TypeError(f"cannot find the images in a batch of {type(batch).__name__}")
        targets = self.weighting(self.masks(out["pixel_values"].shape[0]))
        out[self.noise_key] = targets.noise
        out[self.targets_key] = targets
        if self.weighting.clips:  # Hugging Face VideoMAEForPreTraining takes the mask itself
            out["bool_masked_pos"] = targets.mask
        return out
