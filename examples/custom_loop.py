"""Difficulty-Flatten loss weights in your own loop: any model that predicts every patch from
a mask. The three maskstats lines are marked ``# maskstats``.

Here the masks come from the model's side (a torch tensor on the training device, as
``outputs.mask`` of an MAE): the weights are computed after the forward from that mask. Tiny
model and random images, a few seconds on a CPU.

    python examples/custom_loop.py
"""

import torch
from torch import nn

from maskstats.torch import DifficultyWeighting, mae_patch_loss, patchify

img_size, patch_size, mask_ratio = 32, 4, 0.75
grid = img_size // patch_size
dim = 3 * patch_size**2


class TinyMaskedModel(nn.Module):
    """Zero the masked patches, mix patches with a small transformer, predict every patch."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(dim, 64)
        self.pos = nn.Parameter(torch.randn(1, grid * grid, 64) * 0.02)
        layer = nn.TransformerEncoderLayer(64, 4, 128, batch_first=True, dropout=0.0)
        self.mixer = nn.TransformerEncoder(layer, 2)
        self.head = nn.Linear(64, dim)

    def forward(self, imgs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        patches = patchify(imgs, patch_size)
        n, length, _ = patches.shape
        scores = torch.rand(n, length, device=imgs.device)
        masked = scores.argsort(dim=1).argsort(dim=1) >= int(length * (1 - mask_ratio))
        x = self.embed(patches.masked_fill(masked[..., None], 0.0)) + self.pos
        return self.head(self.mixer(x)), masked  # (N, L, P), (N, L) True = masked


torch.manual_seed(0)
model = TinyMaskedModel()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
weighting = DifficultyWeighting("p2dist", grid=grid, patch_size=patch_size)  # maskstats

for step in range(3):
    imgs = torch.randn(16, 3, img_size, img_size)
    pred, mask = model(imgs)
    targets = weighting(mask)  # maskstats: difficulty and Difficulty-Flatten weights, (N, L)
    loss = weighting.loss(mae_patch_loss(pred, patchify(imgs, patch_size)), targets)  # maskstats
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print(f"step {step} loss {loss.item():.4f}")
