"""Difficulty-Flatten loss weights and decoder masking for facebookresearch/mae's
models_mae.py (here a tiny stand-in with the same structure, examples/tiny_models_mae.py).

The three maskstats lines are marked ``# maskstats``. facebook's forward() draws its own
noise; pass ``noise`` through forward -> forward_encoder -> random_masking (a 3-line edit,
see tiny_models_mae.py) so that the model uses the collator's masks.

    python examples/fb_mae.py
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from tiny_models_mae import MaskedAutoencoderViT  # noqa: E402  (your models_mae)

from maskstats.torch import (  # noqa: E402
    DecoderMasking,
    DifficultyWeighting,
    MaskCollator,
    mae_patch_loss,
)

img_size, patch_size, mask_ratio, norm_pix_loss = 32, 4, 0.75, True
torch.manual_seed(0)
model = MaskedAutoencoderViT(img_size, patch_size, norm_pix_loss=norm_pix_loss)
optimizer = torch.optim.AdamW(model.parameters(), lr=1.5e-4, betas=(0.9, 0.95))
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
model.to(device)
dataset = torch.utils.data.TensorDataset(torch.randn(24, 3, img_size, img_size))

weighting = DifficultyWeighting(
    "p2dist", grid=img_size // patch_size, patch_size=patch_size, decoder_mask_ratio=0.3
)
collate = MaskCollator(weighting, "random", mask_ratio=mask_ratio)  # maskstats
loader = torch.utils.data.DataLoader(dataset, batch_size=8, collate_fn=collate, num_workers=0)
masking = DecoderMasking(model)  # maskstats: hooks on decoder_blocks[0] and decoder_pred

for step, batch in enumerate(loader):
    imgs = batch["pixel_values"].to(device, non_blocking=True)
    masking.targets = targets = batch["targets"].to(device, non_blocking=True)
    _, pred, mask = model(imgs, mask_ratio, noise=batch["noise"].to(device))
    loss = targets.loss(mae_patch_loss(pred, model.patchify(imgs), norm_pix_loss))  # maskstats
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print(f"step {step} decoder tokens {targets.decoder_length} loss {loss.item():.4f}")
