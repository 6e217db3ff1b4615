"""Difficulty-Flatten loss weights and decoder masking for Hugging Face VideoMAEForPreTraining.

VideoMAE's tube masks at 0.9 made in the DataLoader workers, flatten weights on the clips'
spatio-temporal P2Dist, and decoder masking: VideoMAE v2's running cell at 0.5 (``--decoder
running_cell``, the default) or the hardest 30% of each clip's masked tokens dropped
(``--decoder difficulty``). The maskstats lines are marked ``# maskstats``. A tiny random-init
model and random clips, so it runs in seconds on a CPU; for real training use your config,
dataset and num_workers.

    python examples/hf_videomae.py [--decoder difficulty]
"""

import argparse

import torch
from transformers import VideoMAEConfig, VideoMAEForPreTraining

from maskstats.torch import DifficultyWeighting, MaskCollator
from maskstats.torch_video import VideoDecoderMasking, videomae_patch_loss

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--decoder", choices=("running_cell", "difficulty"), default="running_cell")
parser.add_argument("--steps", type=int, default=3)
args = parser.parse_args()

config = VideoMAEConfig(
    image_size=32,
    patch_size=8,
    num_frames=8,
    tubelet_size=2,
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=128,
    decoder_hidden_size=32,
    decoder_num_hidden_layers=2,
    decoder_num_attention_heads=4,
    decoder_intermediate_size=64,
    norm_pix_loss=True,
)
torch.manual_seed(0)
model = VideoMAEForPreTraining(config)
optimizer = torch.optim.AdamW(model.parameters(), lr=1.5e-4)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
model.to(device)
grid = (
    config.num_frames // config.tubelet_size,
    config.image_size // config.patch_size,
    config.image_size // config.patch_size,
)  # (4, 4, 4) tokens
clips = torch.randn(6 * args.steps, config.num_frames, 3, config.image_size, config.image_size)
dataset = torch.utils.data.TensorDataset(clips)

if args.decoder == "running_cell":  # VideoMAE v2's dual masking: tube 0.9, running cell 0.5
    decoder = {"decoder_mask_ratio": 0.5, "decoder_masking": "running_cell"}
else:  # the hardest 30% of each clip's masked tokens leave the decoder and the loss
    decoder = {"decoder_mask_ratio": 0.3}
weighting = DifficultyWeighting(  # maskstats: flatten weights on the clips' P2Dist
    "p2dist", grid=grid, patch_size=config.patch_size, tubelet_size=config.tubelet_size, **decoder
)
collate = MaskCollator(weighting, "tube", mask_ratio=0.9)  # maskstats: masks in the workers
loader = torch.utils.data.DataLoader(dataset, batch_size=6, collate_fn=collate, num_workers=0)
masking = VideoDecoderMasking(model)  # maskstats: the decoder runs on the kept tokens only

for step, batch in enumerate(loader):
    pixels = batch["pixel_values"].to(device, non_blocking=True)
    masking.targets = targets = batch["targets"].to(device, non_blocking=True)
    outputs = model(pixels, bool_masked_pos=targets.mask)
    patch_loss = videomae_patch_loss(outputs.logits, pixels, targets.mask, config)
    loss = targets.loss(patch_loss)  # maskstats: flatten weights, dropped tokens weigh 0
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print(f"step {step} decoder tokens {masking.last_length} loss {loss.item():.4f}")
