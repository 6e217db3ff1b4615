"""Run under torchrun by tests/mae/test_train.py: a few DDP steps, then each rank saves its
weights."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from conftest import small_config
from maskstats.mae.train import Trainer

if __name__ == "__main__":
    out = Path(sys.argv[1])
    config = small_config(out, max_steps=3, batch_size=8, log_every=1, save_every=100)
    trainer = Trainer(config)
    trainer.run()
    torch.save(trainer.model.state_dict(), out / f"rank{dist.get_rank()}.pt")
    dist.barrier()
    dist.destroy_process_group()
