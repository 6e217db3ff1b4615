"""Step time of mae_vit_micro (32x32, patch 4, batch 64) on this CPU: plain MAE at mask ratio
0.75 against mask ratio 0.9 with P2Dist Difficulty-Flatten and decoder masking 0.3, steps
interleaved in one process, medians. Writes figures/step_time.csv.

Usage: python analysis/step_time.py [--steps 40]
"""

import argparse
import tempfile
from pathlib import Path

import pandas as pd

from maskstats.bench import machine
from maskstats.mae.config import TrainConfig
from maskstats.mae.timing import compare_step_times

FIGURES = Path(__file__).resolve().parent.parent / "figures"

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        common = dict(
            model="mae_vit_micro", batch_size=64, progress=False, out=tmp, dataset_length=64
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
    table["machine"] = machine()
    FIGURES.mkdir(exist_ok=True)
    table.to_csv(FIGURES / "step_time.csv")
    print(table.drop(columns="machine").to_string(float_format="{:.3f}".format))
    print(machine())
