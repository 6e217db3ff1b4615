"""Run under torchrun by tests/test_mae.py: a few DDP steps, then each rank saves its weights."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from maskstats.mae.train import TrainConfig, Trainer

if __name__ == "__main__":
    out = Path(sys.argv[1])
    config = TrainConfig(
        model="mae_vit_micro",
        data="builtin:natural",
        mask_ratio=0.9,
        metric="p2dist",
        weighting="flatten",
        decoder_mask_ratio=0.2,
        batch_size=8,
        max_steps=3,
        dataset_length=64,
        out=str(out),
        progress=False,
        log_every=1,
    )
    trainer = Trainer(config)
    trainer.run()
    torch.save(trainer.model.state_dict(), out / f"rank{dist.get_rank()}.pt")
    dist.barrier()
    dist.destroy_process_group()
