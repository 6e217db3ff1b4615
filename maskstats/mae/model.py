"""MAE ViT (He et al. 2022) from torch's own layers, with a decoder that takes only the
tokens it is given, so that decoder masking really shortens the decoder's sequence."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from maskstats.mae.config import CONFIGS, MAEConfig


def sincos_pos_embed(dim: int, grid: tuple[int, int], cls_token: bool = True) -> torch.Tensor:
    """Fixed 2-D sin-cos position embedding as in MAE: half the channels encode the row, half
    the column. Returns (1 + H*W, dim) with a zero row for the cls token, or (H*W, dim)."""
    if dim % 4:
        raise ValueError(f"embedding dim must be divisible by 4, got {dim}")
    height, width = grid
    omega = 1.0 / 10000 ** (np.arange(dim // 4, dtype=np.float64) / (dim / 4.0))
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")

    def encode(pos: np.ndarray) -> np.ndarray:
        out = np.einsum("m,d->md", pos.reshape(-1).astype(np.float64), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    embed = np.concatenate([encode(cols), encode(rows)], axis=1)
    if cls_token:
        embed = np.concatenate([np.zeros((1, dim)), embed], axis=0)
    return torch.from_numpy(embed).float()


def _encoder(dim: int, depth: int, heads: int, mlp_ratio: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        d_model=dim,
        nhead=heads,
        dim_feedforward=int(dim * mlp_ratio),
        dropout=0.0,
        activation="gelu",
        batch_first=True,
        norm_first=True,
        layer_norm_eps=1e-6,
    )
    return nn.TransformerEncoder(layer, num_layers=depth, enable_nested_tensor=False)


def gather_tokens(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x: (N, L, D), index: (N, K) -> (N, K, D)."""
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def selected_indices(selection: torch.Tensor) -> torch.Tensor:
    """(N, L) bool with the same count K per row -> (N, K) indices of the True entries, in
    increasing order."""
    counts = selection.sum(dim=1)
    if (counts != counts[0]).any():
        raise ValueError("every sample must select the same number of patches")
    order = torch.argsort((~selection).to(torch.int8), dim=1, stable=True)
    return order[:, : int(counts[0])]


class MaskedAutoencoderViT(nn.Module):
    """MAE with a ViT encoder over the visible tokens and a light decoder.

    forward(imgs, mask, decoder_keep=None, weights=None) takes masks from maskstats
    (True = masked), so the metrics see exactly the mask the model trains on.
    """

    pos_embed: torch.Tensor  # buffers (register_buffer), fixed sin-cos embeddings
    decoder_pos_embed: torch.Tensor

    def __init__(self, config: MAEConfig) -> None:
        super().__init__()
        c = self.config = config
        if c.img_size % c.patch_size:
            raise ValueError(f"img_size {c.img_size} is not divisible by patch_size {c.patch_size}")
        grid = c.grid
        self.num_patches = grid[0] * grid[1]
        self.patch_embed = nn.Conv2d(c.in_chans, c.embed_dim, c.patch_size, c.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim))
        self.register_buffer("pos_embed", sincos_pos_embed(c.embed_dim, grid)[None], False)
        self.blocks = _encoder(c.embed_dim, c.depth, c.num_heads, c.mlp_ratio)
        self.norm = nn.LayerNorm(c.embed_dim, eps=1e-6)
        self.decoder_embed = nn.Linear(c.embed_dim, c.decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c.decoder_embed_dim))
        self.register_buffer(
            "decoder_pos_embed", sincos_pos_embed(c.decoder_embed_dim, grid)[None], False
        )
        self.decoder_blocks = _encoder(
            c.decoder_embed_dim, c.decoder_depth, c.decoder_num_heads, c.mlp_ratio
        )
        self.decoder_norm = nn.LayerNorm(c.decoder_embed_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(c.decoder_embed_dim, c.patch_size**2 * c.in_chans)
        self._init_weights()

    def _init_weights(self) -> None:
        weight = self.patch_embed.weight.data
        nn.init.xavier_uniform_(weight.view(weight.shape[0], -1))
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """imgs: (N, C, H, W) -> (N, L, p*p*C), row-major patches as MAE's patchify."""
        p = self.config.patch_size
        n, c, h, w = imgs.shape
        x = imgs.reshape(n, c, h // p, p, w // p, p)
        return torch.einsum("nchpwq->nhwpqc", x).reshape(n, (h // p) * (w // p), p * p * c)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L, p*p*C) -> (N, C, H, W)."""
        p, c = self.config.patch_size, self.config.in_chans
        h, w = self.config.grid
        x = x.reshape(x.shape[0], h, w, p, p, c)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(x.shape[0], c, h * p, w * p)

    def forward_encoder(
        self, imgs: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode the visible patches. mask: (N, L) bool, True = masked.

        Returns:
            latent: (N, 1 + n_visible, D) with the cls token first; ids_visible: (N, n_visible).
        """
        x = self.patch_embed(imgs).flatten(2).transpose(1, 2) + self.pos_embed[:, 1:]
        ids_visible = selected_indices(~mask)
        x = gather_tokens(x, ids_visible)
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = self.blocks(torch.cat([cls, x], dim=1))
        return self.norm(x), ids_visible

    def forward_decoder(
        self, latent: torch.Tensor, ids_visible: torch.Tensor, ids_target: torch.Tensor
    ) -> torch.Tensor:
        """Decode: the cls and visible tokens plus one mask token per target patch, each with
        its position; the sequence holds nothing else (1 + n_visible + n_target tokens).

        Returns:
            (N, n_target, p*p*C) predictions for the target patches.
        """
        x = self.decoder_embed(latent)
        pos = self.decoder_pos_embed
        n = x.shape[0]
        visible = x[:, 1:] + gather_tokens(pos[:, 1:].expand(n, -1, -1), ids_visible)
        targets = self.mask_token + gather_tokens(pos[:, 1:].expand(n, -1, -1), ids_target)
        tokens = torch.cat([x[:, :1] + pos[:, :1], visible, targets], dim=1)
        tokens = self.decoder_norm(self.decoder_blocks(tokens))
        return self.decoder_pred(tokens[:, 1 + ids_visible.shape[1] :])

    def patch_targets(self, imgs: torch.Tensor) -> torch.Tensor:
        """(N, L, p*p*C) targets; per-patch normalised when norm_pix_loss."""
        target = self.patchify(imgs)
        if self.config.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1.0e-6) ** 0.5
        return target

    def forward(
        self,
        imgs: torch.Tensor,
        mask: torch.Tensor,
        decoder_keep: torch.Tensor | None = None,
        weights: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """One MAE pass.

        Args:
            imgs: (N, C, H, W).
            mask: (N, L) bool, True = masked; the same count per sample.
            decoder_keep: (N, L) bool, True = masked patch that reaches the decoder and the
                loss (default: every masked patch).
            weights: (N, L) float loss weight per patch (read at the kept patches).

        Returns:
            loss (scalar: sum of w * patch loss / sum of w over the kept patches),
            patch_loss (N, K) per kept patch, ids_target (N, K), pred (N, K, p*p*C).
        """
        keep = mask if decoder_keep is None else decoder_keep
        latent, ids_visible = self.forward_encoder(imgs, mask)
        ids_target = selected_indices(keep)
        pred = self.forward_decoder(latent, ids_visible, ids_target)
        target = gather_tokens(self.patch_targets(imgs), ids_target)
        patch_loss = ((pred.float() - target) ** 2).mean(dim=-1)
        if weights is None:
            w = torch.ones_like(patch_loss)
        else:
            w = torch.gather(weights.to(patch_loss.dtype), 1, ids_target)
        loss = (patch_loss * w).sum() / w.sum().clamp_min(1e-12)
        return {"loss": loss, "patch_loss": patch_loss, "ids_target": ids_target, "pred": pred}


def create_model(name: str, **overrides: object) -> MaskedAutoencoderViT:
    """A named config (``CONFIGS``) with overrides such as img_size, patch_size, in_chans,
    norm_pix_loss."""
    if name not in CONFIGS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(CONFIGS)}")
    settings = {**CONFIGS[name], **{k: v for k, v in overrides.items() if v is not None}}
    return MaskedAutoencoderViT(MAEConfig(**settings))
