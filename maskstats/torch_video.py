"""The drop-in for Hugging Face ``VideoMAEForPreTraining`` (and VideoMAE-style decoders):
per-token targets and loss from its masked-only ``logits``, and decoder masking, difficulty
based or VideoMAE v2's running cell. This module imports torch; ``import maskstats`` does not.

Why a module of its own beside :mod:`maskstats.torch`: VideoMAE lays its decoder out
differently from MAE (no cls token; the visible tokens first, then one mask token per masked
position, both in token order; ``logits`` only for the last ``return_token_num`` tokens), takes
``bool_masked_pos`` instead of ``noise`` and clips (N, frames, C, H, W); the weights and
targets are those of :class:`maskstats.torch.DifficultyWeighting` with ``grid=(T, H, W)``.

Three lines, as for images::

    weighting = DifficultyWeighting("p2dist", grid=(8, 14, 14), patch_size=16, tubelet_size=2,
                                    decoder_mask_ratio=0.5, decoder_masking="running_cell")
    masking = VideoDecoderMasking(model)            # once
    masking.targets = targets = weighting(bool_masked_pos)
    out = model(pixel_values, bool_masked_pos=targets.mask)
    loss = targets.loss(videomae_patch_loss(out.logits, pixel_values, targets.mask, config))
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from maskstats.torch import DifficultyTargets

__all__ = [
    "IMAGENET_DEFAULT_MEAN",
    "IMAGENET_DEFAULT_STD",
    "VideoDecoderMasking",
    "gather_masked",
    "scatter_masked",
    "videomae_patch_loss",
    "videomae_targets",
]

IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)
"""The channel means VideoMAE (and Hugging Face's port) undo before making its targets."""
IMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)
"""The channel standard deviations VideoMAE undoes before making its targets."""


def _setting(config: Any, name: str, value: Any) -> Any:
    if value is not None:
        return value
    if config is None or not hasattr(config, name):
        raise ValueError(f"pass {name}= or a config with .{name} (e.g. VideoMAEConfig)")
    return getattr(config, name)


def videomae_targets(
    pixel_values: torch.Tensor,
    config: Any = None,
    *,
    patch_size: int | None = None,
    tubelet_size: int | None = None,
    norm_pix_loss: bool | None = None,
    unnormalize: bool | None = None,
) -> torch.Tensor:
    """The reconstruction target of every token, as ``VideoMAEForPreTraining`` makes it.

    The clip is first mapped back to [0, 1] with ImageNet's mean and std (for 3 channels);
    a token's values are ordered (frame in tubelet, row, column, channel); with
    ``norm_pix_loss`` each channel of a token is normalised over its tubelet_size * p * p
    values, (x - mean) / (std + 1e-6) with the unbiased std (VideoMAE's formula, not MAE's).

    Args:
        pixel_values: (N, frames, C, H, W), as Hugging Face VideoMAE takes them.
        config: a ``VideoMAEConfig`` (or anything with ``patch_size``, ``tubelet_size``,
            ``norm_pix_loss``); the keyword arguments override it.
        patch_size: p, pixels per patch side.
        tubelet_size: frames per token.
        norm_pix_loss: normalise each token's target.
        unnormalize: undo ImageNet's normalisation first (None: for 3 channels, as HF does).

    Returns:
        (N, L, tubelet_size * p * p * C) with L = frames / tubelet_size * H / p * W / p in
        token order (t, h, w); no gradient.
    """
    p = int(_setting(config, "patch_size", patch_size))
    ts = int(_setting(config, "tubelet_size", tubelet_size))
    norm = bool(_setting(config, "norm_pix_loss", norm_pix_loss))
    n, frames, channels, height, width = pixel_values.shape
    if frames % ts or height % p or width % p:
        raise ValueError(
            f"clip of {frames} frames of {height}x{width} does not split into tubelets of "
            f"{ts} x {p} x {p}"
        )
    if unnormalize is None:
        unnormalize = channels == 3
    with torch.no_grad():
        clip = pixel_values
        if unnormalize:
            if channels != 3:
                raise ValueError(
                    "ImageNet's mean and std are for 3 channels; pass unnormalize=False"
                )
            kind: dict[str, Any] = {"device": clip.device, "dtype": clip.dtype}
            mean = torch.as_tensor(IMAGENET_DEFAULT_MEAN).to(**kind)[None, None, :, None, None]
            std = torch.as_tensor(IMAGENET_DEFAULT_STD).to(**kind)[None, None, :, None, None]
            clip = clip * std + mean
        tokens = frames // ts * (height // p) * (width // p)
        clip = clip.reshape(n, frames // ts, ts, channels, height // p, p, width // p, p)
        clip = clip.permute(0, 1, 4, 6, 2, 5, 7, 3).contiguous()
        clip = clip.reshape(n, tokens, ts * p * p, channels)
        if norm:
            mean = clip.mean(dim=-2, keepdim=True)
            std = clip.var(dim=-2, unbiased=True, keepdim=True).sqrt()
            clip = (clip - mean) / (std + 1e-6)
        return clip.reshape(n, tokens, ts * p * p * channels)


def _flat_mask(bool_masked_pos: torch.Tensor, n: int) -> torch.Tensor:
    mask = bool_masked_pos.reshape(n, -1)
    return mask if mask.dtype == torch.bool else mask != 0


def scatter_masked(logits: torch.Tensor, bool_masked_pos: torch.Tensor) -> torch.Tensor:
    """VideoMAE's masked-only predictions (N, M, P), in token order, into (N, L, P) with zeros
    at the visible tokens (differentiable).

    Args:
        logits: (N, M, P), ``VideoMAEForPreTraining``'s ``logits``.
        bool_masked_pos: (N, L) (or (N, T, H, W)) bool, True = masked, M per row.

    Returns:
        (N, L, P).
    """
    n, masked, size = logits.shape
    mask = _flat_mask(bool_masked_pos, n).to(logits.device)
    counts = mask.sum(dim=1)
    if bool((counts != masked).any()):
        raise ValueError(
            f"logits hold {masked} predictions per clip but the masks mask "
            f"{int(counts.min())} .. {int(counts.max())}"
        )
    full = logits.new_zeros(n, mask.shape[1], size)
    return full.masked_scatter(mask.unsqueeze(-1), logits)


def gather_masked(values: torch.Tensor, bool_masked_pos: torch.Tensor) -> torch.Tensor:
    """Back from (N, L, ...) to VideoMAE's masked-only layout (N, M, ...), token order.

    Args:
        values: (N, L, ...).
        bool_masked_pos: (N, L) bool, True = masked, the same count M in every row.

    Returns:
        (N, M, ...).
    """
    n = values.shape[0]
    mask = _flat_mask(bool_masked_pos, n).to(values.device)
    return values[mask].reshape(n, -1, *values.shape[2:])


def videomae_patch_loss(
    logits: torch.Tensor,
    pixel_values: torch.Tensor,
    bool_masked_pos: torch.Tensor,
    config: Any = None,
    **target_kwargs: Any,
) -> torch.Tensor:
    """The per-token loss (N, L) of ``VideoMAEForPreTraining``: the mean squared error over a
    token's values between its prediction and :func:`videomae_targets`, 0 on visible tokens.
    ``DifficultyTargets.loss`` of it with weighting "none" (and no decoder masking) is the
    model's own ``outputs.loss``.

    Args:
        logits: (N, M, P) masked-only predictions (with :class:`VideoDecoderMasking`, zeros at
            the tokens the decoder dropped; they get weight 0).
        pixel_values: (N, frames, C, H, W), the model's input.
        bool_masked_pos: (N, L) bool, True = masked.
        config: the model's config (patch_size, tubelet_size, norm_pix_loss).
        **target_kwargs: override :func:`videomae_targets`' settings.

    Returns:
        (N, L) float, differentiable in ``logits``.
    """
    targets = videomae_targets(pixel_values, config, **target_kwargs)
    pred = scatter_masked(logits, bool_masked_pos)
    mask = _flat_mask(bool_masked_pos, logits.shape[0]).to(logits.device)
    loss = ((pred - targets.to(pred.dtype)) ** 2).mean(dim=-1)
    return loss * mask.to(loss.dtype)


def _videomae_parts(model: nn.Module) -> tuple[nn.Module, nn.Parameter | None, Any]:
    """(decoder, mask_token, position table) of an HF VideoMAEForPreTraining (or a wrapper)."""
    decoder = getattr(model, "decoder", None)
    if decoder is None or not hasattr(decoder, "decoder_layers") or not hasattr(decoder, "head"):
        raise TypeError(
            f"{type(model).__name__} has no decoder.decoder_layers and decoder.head "
            "(Hugging Face VideoMAEForPreTraining); pass decoder="
        )
    return decoder, getattr(model, "mask_token", None), getattr(model, "position_embeddings", None)


class VideoDecoderMasking:
    """Decoder masking for Hugging Face ``VideoMAEForPreTraining``: hooks on its decoder.

    The decoder gets (visible tokens, one mask token per masked token) and predicts the last
    ``return_token_num``. A pre-hook keeps the visible tokens and the mask tokens of
    ``targets``' decoder positions, in token order, and asks for as many predictions; a hook
    on the decoder's output puts them back into (N, M, P) in the model's token order, zeros
    at the dropped masked tokens (weight 0 in ``targets.weights``; the model's own ``loss``
    counts them: use ``targets.loss(videomae_patch_loss(...))``).

    - Difficulty-based (``DifficultyWeighting(..., decoder_mask_ratio=q)``): the decoder runs
      on the visible and the kept masked tokens, the hardest q of each clip's masked tokens
      dropped.
    - Running cell (``decoder_masking="running_cell"``), as VideoMAE v2: the decoder runs on
      the visible tokens and a mask token at every position the cell keeps, encoder-visible
      positions included (their predictions are not in the loss), so every clip has the same
      decoder length V + (1 - q) L; the loss covers the encoder-masked, decoder-kept tokens.

    Kept predictions, the loss and its gradients equal those of the full sequence with the
    dropped mask tokens blocked as attention keys (tested in float64 against the real model).

    Args:
        model: ``VideoMAEForPreTraining`` (or a DDP wrapper of one).
        targets: initial targets; set ``.targets`` before each forward. None: no dropping.
        decoder: the decoder module, for other models laid out like VideoMAE's (called as
            ``decoder(hidden_states, return_token_num)``, returning an object with
            ``.logits`` or a tensor).
    """

    def __init__(
        self,
        model: nn.Module,
        targets: DifficultyTargets | None = None,
        *,
        decoder: nn.Module | None = None,
    ) -> None:
        inner = getattr(model, "module", model)
        self._mask_token: nn.Parameter | None
        self._positions: Any
        found, self._mask_token, self._positions = (
            _videomae_parts(inner)
            if decoder is None
            else (
                decoder,
                getattr(inner, "mask_token", None),
                getattr(inner, "position_embeddings", None),
            )
        )
        self.targets = targets
        self.last_length: int | None = None
        self._restore_index: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._masked = 0
        self._handles = [
            found.register_forward_pre_hook(self._shorten),
            found.register_forward_hook(self._restore),
        ]

    def _extra_tokens(self, hidden: torch.Tensor, visible_positions: torch.Tensor) -> torch.Tensor:
        """Mask tokens at encoder-visible positions (VideoMAE v2's running cell)."""
        if self._mask_token is None or self._positions is None:
            raise TypeError(
                "running-cell decoder masking needs the model's mask_token and "
                "position_embeddings (VideoMAEForPreTraining has them)"
            )
        table = self._positions.detach().to(device=hidden.device, dtype=hidden.dtype)
        return self._mask_token.to(hidden.dtype) + table[0][visible_positions]

    def _shorten(self, module: nn.Module, args: tuple) -> tuple | None:
        self._restore_index = None
        hidden, masked = args[0], int(args[1])
        self.last_length = hidden.shape[1]
        targets = self.targets
        if targets is None:
            return None
        n, length, dim = hidden.shape
        mask = targets.mask.to(hidden.device, non_blocking=True)
        visible = length - masked
        if mask.shape != (n, length) or bool((mask.sum(1) != masked).any()):
            raise ValueError(
                f"decoder input is {tuple(hidden.shape)} with {masked} masked tokens, but the "
                f"targets are for {tuple(targets.mask.shape)} masks: set .targets for this batch"
            )
        decoder = targets.decoder_tokens if targets.decoder_tokens is not None else targets.keep
        decoder = decoder.to(hidden.device, non_blocking=True)
        counts = decoder.sum(1)
        if bool((counts != counts[0]).any()):
            raise ValueError("every clip must keep the same number of decoder tokens")
        kept = int(counts[0])
        if targets.decoder_tokens is None and kept == masked:
            return None  # nothing dropped
        positions = decoder.nonzero()[:, 1].reshape(n, kept)  # token order
        is_masked = mask.gather(1, positions)
        rank_masked = (mask.cumsum(1) - 1).gather(1, positions)
        pool = hidden
        source = visible + rank_masked
        if bool((~is_masked).any()):  # running cell: mask tokens at visible positions too
            visible_positions = (~mask).nonzero()[:, 1].reshape(n, visible)
            pool = torch.cat([hidden, self._extra_tokens(hidden, visible_positions)], dim=1)
            rank_visible = ((~mask).cumsum(1) - 1).gather(1, positions)
            source = torch.where(is_masked, source, length + rank_visible)
        first = torch.arange(visible, device=hidden.device).expand(n, visible)
        index = torch.cat([first, source], dim=1)
        short = torch.gather(pool, 1, index.unsqueeze(-1).expand(-1, -1, dim))
        rows, columns = is_masked.nonzero(as_tuple=True)
        self._restore_index = (rows, columns, rank_masked[rows, columns])
        self._masked = masked
        self.last_length = short.shape[1]
        return (short, kept, *args[2:])

    def _restore(self, module: nn.Module, args: tuple, output: Any) -> Any:
        index = self._restore_index
        if index is None:
            return None
        logits = output.logits if hasattr(output, "logits") else output
        rows, columns, ranks = index
        n, _, size = logits.shape
        full = logits.new_zeros(n, self._masked, size)
        full = full.index_put((rows, ranks), logits[rows, columns])
        if hasattr(output, "logits"):
            output.logits = full
            return output
        return full

    def remove(self) -> None:
        """Remove the hooks; the decoder runs the full sequence again."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> VideoDecoderMasking:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
