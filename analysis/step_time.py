"""Step time of plain MAE at mask ratio 0.75 against mask ratio 0.9 with P2Dist
Difficulty-Flatten and decoder masking 0.3 (and 0.9 plain), steps interleaved in one process,
medians. Defaults: mae_vit_micro (32x32, patch 4, batch 64) on this CPU, written to
figures/step_time.csv. On a GPU (bf16 autocast, as the trainer) e.g.
``--model mae_vit_large_patch16 --img-size 224 --device cuda`` (the paper's ViT-L claim:
27-30% faster).

Usage: python analysis/step_time.py [--steps 40] [--model M] [--img-size PX] [--batch-size N]
    [--device auto|cpu|cuda] [--out CSV]
"""

import argparse
import tempfile
from pathlib import Path

import pandas as pd
import torch

from maskstats.bench import machine
from maskstats.mae.config import CONFIGS, TrainConfig
from maskstats.mae.timing import compare_step_times

FIGURES = Path(__file__).resolve().parent.parent / "figures"

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--model", default="mae_vit_micro", choices=tuple(CONFIGS))
    parser.add_argument("--img-size", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=FIGURES / "step_time.csv")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        common = dict(
            model=args.model,
            img_size=args.img_size,
            batch_size=args.batch_size,
            device=args.device,
            progress=False,
            out=tmp,
            dataset_length=args.batch_size,
        )
        configs = {
            "MAE, mask ratio 0.75": TrainConfig(mask_ratio=0.75, **common),
            "mask ratio 0.9, p2dist flatten, decoder mask 0.3": TrainConfig(
                mask_ratio=0.9,
                metric="p2dist",
                weighting="flatten",
                decoder_mask_ratio=0.3,
                **common,
            ),
            "mask ratio 0.9, plain": TrainConfig(mask_ratio=0.9, **common),
        }
        result = compare_step_times(configs, steps=args.steps)
    table = pd.DataFrame(result).T
    table.index.name = "setting"
    table["model"] = f"{args.model} {args.img_size or 'default'}px batch {args.batch_size}"
    table["machine"] = machine()
    if args.device != "cpu" and torch.cuda.is_available():
        table["machine"] += f"; {torch.cuda.get_device_name()}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out)
    print(table.drop(columns="machine").to_string(float_format="{:.3f}".format))
    print(table["machine"].iloc[0])
