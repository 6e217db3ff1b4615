# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The difficulty of your masks in five minutes
#
# A masked-image-modeling model (MAE, SimMIM, BEiT) sees the visible patches of an image and
# reconstructs the masked ones. How hard that is depends less on *how many* patches are masked
# than on *how far* each masked patch lies from what the model can see. maskstats measures
# that distance, exactly, for every masked patch and every mask.
#
# In this tutorial you will:
#
# 1. compute the five metrics on a small mask you can check by hand;
# 2. make MAE random, BEiT block, SimMIM and MAE grid masks at the same mask ratio and compare
#    how hard they are;
# 3. read a per-mask table and two figures;
# 4. make masks at a chosen difficulty;
# 5. measure masks of your own.
#
# Everything runs on a CPU in well under a minute. Conventions throughout: masks are boolean
# arrays on the model's patch grid, **True = masked** (removed), shaped `(N, H, W)` (or
# `(N, L)` with `grid=(H, W)`), numpy or torch. The exact definitions are on the
# [metrics page](../metrics.md).

# %%
import warnings

import numpy as np

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets

import maskstats as ms
from maskstats import plot, sweeps, tables

np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## 1. Five numbers on a mask you can check by hand
#
# A 4 x 4 patch grid with 4-pixel patches (a 16 x 16-pixel image), `M` masked, `.` visible:
# the worked example of the [metrics page](../metrics.md), where every value below is derived
# by hand.
#
# ```
# M . M M
# . M . M
# M . M M
# M M M M
# ```

# %%
mask = np.array(
    [
        [1, 0, 1, 1],
        [0, 1, 0, 1],
        [1, 0, 1, 1],
        [1, 1, 1, 1],
    ],
    dtype=bool,
)[None]  # (1, 4, 4): one mask
values = ms.compute(mask, patch_size=4)
for name in ("density3", "invdist5", "nearest", "p2dist"):
    print(f"{name}:\n{np.round(values[name][0], 3)}\n")
print("avgdist:", np.round(values["avgdist"], 3), "px")

# %% [markdown]
# What each number says (NaN = visible patch, which has nothing to reconstruct):
#
# - **density3** — how many of the 8 neighbours are visible (0..8; *higher = easier*). Patch
#   (1, 1) sees all four visible patches; the corner (3, 3) sees none.
# - **invdist5** — the sum of 1/d over the visible patches of the 5 x 5 window, d the centre
#   distance in patches (*higher = easier*): (1, 1) has four visible patches at d = 1, so 4.0.
# - **nearest** — the centre distance, in patches, to the nearest visible patch (*higher =
#   harder*): 1 next to a visible patch, √2 ≈ 1.414 diagonally, √5 ≈ 2.236 at (3, 3).
# - **p2dist** (P²Dist) — the mean over the patch's *pixels* of the distance to the nearest
#   visible pixel, divided by the patch size (*higher = harder*). Patches (1, 1) and (3, 1)
#   both have `nearest = 1`, but (1, 1) is surrounded by visible pixels (0.3125) while (3, 1)
#   sees them only from above (0.625): P²Dist separates what the patch-level distance cannot.
# - **avgdist** (SimMIM's AvgDist) — one number per mask: the mean over all masked pixels of
#   the distance to the nearest visible pixel, in pixels. It equals `patch_size` times the mean
#   P²Dist of the masked patches:

# %%
masked = mask[0]
print(round(float(4 * values["p2dist"][0][masked].mean()), 4))  # patch_size x mean P²Dist
print(round(float(values["avgdist"][0]), 4))  # AvgDist

# %% [markdown]
# ## 2. Four strategies at one mask ratio
#
# The usual ViT setting: 224 x 224 images, 16-pixel patches, so a 14 x 14 patch grid, and a
# mask ratio of 0.75. `ms.generate` makes every built-in strategy by name (the functions behind
# it are `ms.random_masks`, `ms.block_masks`, `ms.simmim_masks`, `ms.grid_masks`). A fixed
# seed gives the same masks on every machine.

# %%
IMG, PATCH, RATIO, N = 224, 16, 0.75, 256
strategies = ("random", "block", "simmim", "grid")
masks = {s: ms.generate(s, N, IMG, PATCH, RATIO, seed=0) for s in strategies}
for s, m in masks.items():
    print(f"{s:7s} {m.shape}  masked share {ms.masked_share(m).mean():.3f}")

# %% [markdown]
# - **random** (MAE): every patch masked independently of the others;
# - **block** (BEiT): rectangles added until the count is reached;
# - **simmim**: random masking of 32-pixel cells (2 x 2 patches here), then upsampled; at 7 x 7
#   cells its count is `ceil(49 * 0.75) = 37` cells = 148 patches, one more than the others;
# - **grid** (MAE's ablation): one visible patch in every 2 x 2 cell.
#
# ## 3. Every metric, and one row per mask
#
# `ms.compute` returns every metric at once (per-patch ones as `(N, H, W)` float32 with NaN on
# visible patches, AvgDist as `(N,)` in pixels). `tables.mask_table` turns them into one row
# per mask: the masked count and each per-patch metric's mean over the masked patches.

# %%
table = tables.mask_table(masks["random"], PATCH, progress=False)
table.head()

# %% [markdown]
# Stack the four strategies and compare the means:

# %%
import pandas as pd

per_mask = pd.concat(
    {s: tables.mask_table(m, PATCH, progress=False) for s, m in masks.items()}, names=["strategy"]
).reset_index(level=0)
comparison = per_mask.groupby("strategy", sort=False)[list(ms.METRIC_NAMES)].mean()
comparison.round(3)

# %%
for s in strategies:
    print(f"mean AvgDist of {s} masks at {RATIO}: {comparison.loc[s, 'avgdist']:.3f} px")

# %% [markdown]
# Same ratio, very different tasks. Grid masks leave a visible patch next to every masked one
# (nearest ≈ 1, AvgDist ≈ 6 px): reconstruction is close to interpolation. Block masks carve
# out large regions whose centres are far from anything visible (AvgDist above 30 px). Random
# and SimMIM lie in between. The four metrics agree on the order; P²Dist and AvgDist also say
# by how much, in pixels.
#
# ### SimMIM's 10–20 px band
#
# SimMIM (Xie et al., CVPR 2022) compared masking strategies by this AvgDist and found that
# masks of *moderate* AvgDist, roughly 10 to 20 px, fine-tune best: much easier and the task
# is interpolation, much harder and there is too little context to learn from. It is a rule
# of thumb from their ViT-B experiments, not a law, but a useful yardstick. How many masks of
# each strategy fall in it?

# %%
low, high = 10.0, 20.0
in_band = per_mask.assign(in_band=per_mask["avgdist"].between(low, high))
in_band.groupby("strategy", sort=False)["in_band"].mean().round(3)

# %% [markdown]
# ## 4. Two figures
#
# Where the masked patches lie, coloured by P²Dist, over a photo that ships with scikit-image
# (visible patches show the photo):

# %%
from skimage import data, transform

photo = transform.resize(data.astronaut(), (IMG, IMG), anti_aliasing=True)  # (224, 224, 3)
shown = np.stack([masks[s][0] for s in strategies])
p2 = ms.p2dist(shown, PATCH)
fig = plot.mask_gallery(photo, shown, p2, list(strategies), "p2dist", PATCH, img_size=IMG)

# %% [markdown]
# How the difficulty grows with the mask ratio: `sweeps.sweep` makes and measures masks over a
# few ratios (128 per setting here; the report uses 2048), and `plot.difficulty_vs_ratio`
# draws each metric's per-mask mean with its 10–90% band, SimMIM's band shaded on the AvgDist
# panel.

# %%
sweep = sweeps.sweep(("random", "block", "simmim"), (0.5, 0.6, 0.75, 0.9), n=128, progress=False)
fig = plot.difficulty_vs_ratio(sweep)

# %% [markdown]
# At every ratio block masks are the hardest and random the easiest of the three, and all of
# them get harder fast as the ratio grows. Random masks enter SimMIM's band only at about 0.75
# and reach its top at 0.9; block masks are above it from 0.5 on; SimMIM's own masks (32-px
# cells) sit in it at 0.5 to 0.6, the ratios SimMIM trains with.
#
# ## 5. Masks at a chosen difficulty
#
# Strategy `"difficulty"` makes masks with MAE's exact masked count *and* an AvgDist within
# ±`tol` (2% by default) of a target: so you can vary difficulty at a fixed ratio, or hold it
# fixed while the ratio changes. `ms.achievable_range` says which targets exist at a ratio
# (a search on a 14 x 14 grid, exact enumeration on small ones).

# %%
reach = ms.achievable_range(14, RATIO, PATCH)
print(f"AvgDist at ratio {RATIO} on 14 x 14: from about {reach.low:.1f} to {reach.high:.1f} px")

target = 15.0  # px, the middle of SimMIM's band
hard = ms.generate("difficulty", 32, IMG, PATCH, RATIO, seed=0, target_avgdist=target)
achieved = ms.avgdist(hard, PATCH)
print("masked per mask:", sorted(set(hard.sum(axis=(1, 2)).tolist())))
print("all within 2% of the target:", bool((abs(achieved - target) <= 0.02 * target).all()))

# %% [markdown]
# ## 6. Bring your own masks
#
# Any boolean (or 0/1) array works, numpy or torch, `(N, H, W)` or flattened `(N, L)` with
# `grid=`. Here: a centre square and a left-half mask on the same 14 x 14 grid, given flattened
# as a model's `(N, L)` mask would be.

# %%
own = np.zeros((2, 14, 14), dtype=bool)
own[0, 3:11, 3:11] = True  # an 8 x 8 square in the middle
own[1, :, :7] = True  # the left half
flat = own.reshape(2, -1).astype(np.uint8)  # (N, L) 0/1, as a model's mask
mine = ms.compute(flat, ["nearest", "avgdist"], patch_size=PATCH, grid=(14, 14))
print("largest nearest distance per mask [patches]:", np.nanmax(mine["nearest"], axis=1))
print("AvgDist [px]:", mine["avgdist"])

# %% [markdown]
# The square (64 patches) is never more than 4 patches from a visible one; the half (98
# patches) reaches 7 at its far edge, and its AvgDist is more than twice the square's.
#
# Masks in a `.npy` or `.npz` file (`maskstats.io.save_masks` writes one, `load_masks` reads
# it back) can be measured without writing Python: `maskstats stats --masks my_masks.npy`, or
# `maskstats report --strategies random,block,my_masks.npy` to put them beside the built-in
# strategies (see the [report page](../report.md)).

# %%
import tempfile
from pathlib import Path

from maskstats import io

with tempfile.TemporaryDirectory() as folder:
    path = io.save_masks(Path(folder) / "my_masks.npy", own)
    print(path.name, io.load_masks(path).shape, bool((io.load_masks(path) == own).all()))
#
# ## Where next
#
# - [The metrics page](../metrics.md): exact definitions, the worked example, and how
#   Difficulty-Flatten turns difficulty into loss weights.
# - The tutorial *Difficulty-Flatten and decoder masking in a Hugging Face ViTMAE loop*: use
#   these numbers inside training.
