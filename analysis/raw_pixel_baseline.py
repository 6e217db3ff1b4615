"""The floor every encoder of the Fashion-MNIST table5 should beat: the same linear probe and
k-NN, same images and splits (5,000 test-split images per seed, 70/30), on raw 28x28 pixels.

Writes figures/table5_fashion_mnist/raw_pixels.md.

Usage: python analysis/raw_pixel_baseline.py
"""

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from maskstats.mae.data import load_dataset
from maskstats.mae.evaluate import knn_accuracy, linear_probe, split_indices

OUT = Path(__file__).resolve().parent.parent / "figures" / "table5_fashion_mnist"

if __name__ == "__main__":
    data = load_dataset("fashion-mnist", 28, train=False)
    rows = []
    for seed in (0, 1):  # as table5's evaluation: subset by seed, then a stratified split
        keep = np.sort(np.random.default_rng(seed).choice(len(data), 5000, replace=False))
        x = torch.from_numpy(data.loaders.images[keep].reshape(len(keep), -1) / 255.0).float()
        y = torch.tensor([data.labels[i] for i in keep])
        train, test = (torch.from_numpy(i) for i in split_indices(y.numpy(), 0.3, seed))
        rows.append(
            {
                "seed": seed,
                "linear probe": linear_probe(x[train], y[train], x[test], y[test], seed=seed),
                "k-NN": knn_accuracy(x[train], y[train], x[test], y[test]),
            }
        )
    table = pd.DataFrame(rows)
    text = table.to_markdown(index=False, floatfmt=".3f")
    text += (
        f"\n\nmean: linear probe {table['linear probe'].mean():.3f}, "
        f"k-NN {table['k-NN'].mean():.3f}\n"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "raw_pixels.md").write_text(text)
    print(text)
