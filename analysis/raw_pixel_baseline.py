"""The floor every encoder of the Fashion-MNIST table5 should beat: the same linear probe and
k-NN on raw 28x28 pixels, on the same images and split as table5's evaluation (its
``--eval-seed``: the seeded subset, if any, then the stratified split).

Writes figures/table5_fashion_mnist/raw_pixels.md.

Usage: python analysis/raw_pixel_baseline.py [--test-share 0.3] [--seed 0] [--max-images N]
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from maskstats.mae.data import load_dataset
from maskstats.mae.evaluate import knn_accuracy, linear_probe, split_indices

OUT = Path(__file__).resolve().parent.parent / "figures" / "table5_fashion_mnist"

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--test-share", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0, help="table5's --eval-seed")
    parser.add_argument("--max-images", type=int, default=None)
    args = parser.parse_args()
    data = load_dataset("fashion-mnist", 28, train=False)
    keep = np.arange(len(data))
    if args.max_images and args.max_images < len(data):  # as maskstats.mae.evaluate.evaluate
        keep = np.sort(np.random.default_rng(args.seed).choice(len(data), args.max_images, False))
    x = torch.from_numpy(data.loaders.images[keep].reshape(len(keep), -1) / 255.0).float()
    y = torch.tensor([data.labels[i] for i in keep])
    train, test = (
        torch.from_numpy(i) for i in split_indices(y.numpy(), args.test_share, args.seed)
    )
    probe = linear_probe(x[train], y[train], x[test], y[test], seed=args.seed)
    knn = knn_accuracy(x[train], y[train], x[test], y[test])
    text = (
        f"Raw 28x28 pixels of {len(keep)} Fashion-MNIST test-split images, split seed "
        f"{args.seed}, {len(train)} to fit / {len(test)} to test:\n\n"
        f"| features   | linear probe | k-NN  |\n|:-----------|-------------:|------:|\n"
        f"| raw pixels | {probe:12.3f} | {knn:.3f} |\n"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "raw_pixels.md").write_text(text)
    print(text)
