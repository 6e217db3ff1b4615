"""Difficulty-Flatten loss weights and decoder masking for Hugging Face ViTMAEForPreTraining.

The three maskstats lines are marked ``# maskstats``. Tiny random-init model and random
images, so it runs in seconds on a CPU; for real training use your config, dataset and
num_workers.

    python examples/hf_vitmae.py
"""

import torch
from transformers import ViTMAEConfig, ViTMAEForPreTraining

from maskstats.torch import DecoderMasking, DifficultyWeighting, MaskCollator, mae_patch_loss

config = ViTMAEConfig(
    image_size=32,
    patch_size=4,
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=128,
    decoder_hidden_size=32,
    decoder_num_hidden_layers=2,
    decoder_num_attention_heads=4,
    decoder_intermediate_size=64,
    mask_ratio=0.75,
    norm_pix_loss=True,
)
torch.manual_seed(0)
model = ViTMAEForPreTraining(config)
optimizer = torch.optim.AdamW(model.parameters(), lr=1.5e-4)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
model.to(device)
dataset = torch.utils.data.TensorDataset(torch.randn(24, 3, 32, 32))
grid = config.image_size // config.patch_size

collate = MaskCollator(  # maskstats: masks, difficulty weights and noise, in the workers
    DifficultyWeighting("p2dist", grid=grid, patch_size=config.patch_size, decoder_mask_ratio=0.3),
    "block",
    mask_ratio=config.mask_ratio,
)
loader = torch.utils.data.DataLoader(dataset, batch_size=8, collate_fn=collate, num_workers=0)
masking = DecoderMasking(model)  # maskstats: the decoder runs on 1 + visible + kept tokens

for step, batch in enumerate(loader):
    pixels = batch["pixel_values"].to(device, non_blocking=True)
    masking.targets = targets = batch["targets"].to(device, non_blocking=True)
    outputs = model(pixel_values=pixels, noise=batch["noise"].to(device))  # these masks
    patch_loss = mae_patch_loss(outputs.logits, model.patchify(pixels), config.norm_pix_loss)
    loss = targets.loss(patch_loss)  # maskstats: Difficulty-Flatten, dropped patches weigh 0
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print(f"step {step} decoder tokens {targets.decoder_length} loss {loss.item():.4f}")
