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
# # Difficulty-Flatten and decoder masking in a Hugging Face ViTMAE loop
#
# `maskstats.torch` plugs into an MAE training loop you already have. Per batch it gives
# every masked patch a difficulty (here P²Dist: how far, in patches, its pixels are from the
# nearest visible pixel), and from it
#
# - **Difficulty-Flatten** loss weights: more weight on the easy targets, which are rare at
#   high mask ratios, the least on the hardest (the rule and its guarantees are on the
#   [metrics page](../metrics.md#difficulty-flatten-weights-from-difficulty));
# - **decoder masking**: the hardest share `q` of each mask's masked patches is dropped from
#   the decoder's sequence and from the loss, so the decoder runs on fewer tokens.
#
# This tutorial trains a tiny, randomly initialised `transformers.ViTMAEForPreTraining` for a
# few dozen steps on a CPU three ways — plain MAE, flatten, flatten + decoder masking — on the
# same images, masks and initial weights, and measures what each loss trains on. Nothing is
# downloaded: the images are crops of the photos that ship inside scikit-image.
#
# **What a few CPU steps can show, and what they cannot.** They show the mechanics (the three
# lines to add, the shorter decoder sequence, the weights) and the *effective difficulty* of
# each loss, which depends only on the masks and is the same at any training length. They
# cannot show that flatten learns better representations: that takes hundreds of epochs on a
# real data set and a downstream evaluation (`maskstats table5` runs such a comparison). The
# loss curves at the end are as much noise as signal.

# %%
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets

import torch
from transformers import ViTMAEConfig, ViTMAEForPreTraining

from maskstats.mae.data import natural_dataset
from maskstats.torch import (
    DecoderMasking,
    DifficultyWeighting,
    MaskCollator,
    mae_patch_loss,
    patchify,
)

torch.set_num_threads(1)  # a model this small runs fastest (and steadiest) on one thread

# %% [markdown]
# ## A tiny ViTMAE and a few images
#
# 32 x 32 images in 4-pixel patches: an 8 x 8 patch grid, L = 64. At a mask ratio of 0.9
# the encoder sees `int(64 * 0.1) = 6` patches and 58 are masked: the high-ratio regime where
# easy targets are rare and flatten has work to do (at 0.75 it changes the loss much less).

# %%
IMG, PATCH, RATIO = 32, 4, 0.9
GRID = IMG // PATCH
config = ViTMAEConfig(
    image_size=IMG,
    patch_size=PATCH,
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=128,
    decoder_hidden_size=32,
    decoder_num_hidden_layers=2,
    decoder_num_attention_heads=4,
    decoder_intermediate_size=64,
    mask_ratio=RATIO,
    norm_pix_loss=True,
)


def crops(seed: int, n: int) -> torch.Tensor:
    """n random resized 32 x 32 crops (normalised) of scikit-image's photos."""
    photos = natural_dataset(IMG, train=True, seed=seed, length=n)
    return torch.stack([photos[i][0] for i in range(n)])


train_images = crops(seed=0, n=128)
held_out = crops(seed=1, n=32)
print(train_images.shape, held_out.shape)

# %% [markdown]
# ## The three maskstats lines
#
# 1. A `DifficultyWeighting` says which metric, which weighting and which decoder-mask ratio.
# 2. A `MaskCollator` (the DataLoader's `collate_fn`) makes the masks, their difficulty
#    targets and the matching `noise` in the data pipeline. HF's `random_masking` keeps the
#    patches of smallest noise, so `noise=batch["noise"]` makes the model use exactly these
#    masks (`maskstats.torch.noise_for_mask` turns any mask into such noise).
# 3. `targets.loss(per_patch_loss)` is the weighted loss: sum of w · loss over sum of w,
#    with w = 0 on visible and dropped patches. The model's own `outputs.loss` is unweighted,
#    so the per-patch loss is recomputed from `outputs.logits` with `mae_patch_loss`.
#
# With decoder masking, `DecoderMasking(model)` hooks the decoder so that it runs on
# 1 (cls) + visible + kept tokens only.

# %%
SETTINGS = {
    "plain MAE": {"weighting": "none"},
    "flatten": {"weighting": "flatten"},
    "flatten + decoder q=0.3": {"weighting": "flatten", "decoder_mask_ratio": 0.3},
}
BATCH, EPOCHS, EVAL_EVERY, LR = 16, 4, 4, 5e-4  # 128 / 16 = 8 steps an epoch


def weighting_for(setting: dict) -> DifficultyWeighting:
    return DifficultyWeighting("p2dist", grid=GRID, patch_size=PATCH, seed=0, **setting)


def loader_for(weighting: DifficultyWeighting) -> torch.utils.data.DataLoader:
    collate = MaskCollator(weighting, "random", mask_ratio=RATIO, seed=0)  # maskstats
    dataset = torch.utils.data.TensorDataset(train_images)
    return torch.utils.data.DataLoader(dataset, batch_size=BATCH, collate_fn=collate)


# %% [markdown]
# To compare the runs on equal terms, each is scored the same way: the *unweighted* MAE loss
# (norm_pix_loss) over every masked patch of 32 held-out images, with fixed masks and the full
# decoder (`masking.targets = None` switches decoder masking off). The held-out loss is also
# split into easy patches (P²Dist < 0.5) and hard ones (P²Dist ≥ 1).

# %%
held_out_weighting = DifficultyWeighting("p2dist", grid=GRID, patch_size=PATCH, weighting="none")
held_out_batch = MaskCollator(held_out_weighting, "random", mask_ratio=RATIO, seed=123)(
    [(image,) for image in held_out]
)
held_targets = held_out_batch["targets"]
easy = held_targets.mask & (held_targets.difficulty < 0.5)
hard = held_targets.mask & (held_targets.difficulty >= 1.0)
print(
    f"held-out masked patches: {int(held_targets.mask.sum())}, "
    f"easy {int(easy.sum())}, hard {int(hard.sum())}"
)


def held_out_loss(model, masking) -> dict[str, float]:
    masking.targets = None  # the full decoder
    with torch.no_grad():
        pixels = held_out_batch["pixel_values"]
        outputs = model(pixel_values=pixels, noise=held_out_batch["noise"])
        loss = mae_patch_loss(outputs.logits, patchify(pixels, PATCH), config.norm_pix_loss)
    return {
        "all": float(loss[held_targets.mask].mean()),
        "easy": float(loss[easy].mean()),
        "hard": float(loss[hard].mean()),
    }


# %% [markdown]
# ## The loop
#
# The loop is the one of `examples/hf_vitmae.py`; the lines marked `# maskstats` are all that
# differs from a plain HF ViTMAE loop. Every run starts from the same initial weights
# (`torch.manual_seed(0)`) and sees the same batches and masks (the collator's `seed=0`).

# %%
runs = {}
for name, setting in SETTINGS.items():
    torch.manual_seed(0)
    model = ViTMAEForPreTraining(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    weighting = weighting_for(setting)  # maskstats
    loader = loader_for(weighting)
    masking = DecoderMasking(model)  # maskstats: no-op unless the targets drop tokens
    curve, first_targets, step = [(0, held_out_loss(model, masking))], None, 0
    for _ in range(EPOCHS):
        for batch in loader:
            masking.targets = targets = batch["targets"]  # maskstats
            outputs = model(pixel_values=batch["pixel_values"], noise=batch["noise"])
            patches = patchify(batch["pixel_values"], PATCH)
            loss = targets.loss(mae_patch_loss(outputs.logits, patches, config.norm_pix_loss))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if first_targets is None:
                first_targets = targets
            if step % EVAL_EVERY == 0:
                curve.append((step, held_out_loss(model, masking)))
    masking.remove()
    runs[name] = {"curve": curve, "weighting": weighting, "targets": first_targets}
    final = curve[-1][1]
    print(
        f"{name:24s} decoder tokens {first_targets.decoder_length:2d}  held-out loss "
        f"{curve[0][1]['all']:.3f} -> {final['all']:.3f} (easy {final['easy']:.3f}, "
        f"hard {final['hard']:.3f})"
    )

# %% [markdown]
# The decoder runs on 1 + 64 tokens in plain MAE and flatten, and on 1 + 6 visible + 41 kept
# (58 masked minus the floor(0.3 · 58) = 17 hardest) with decoder masking.
#
# ## What each loss trains on
#
# `weighting.loss_difficulty(targets)` measures a batch's loss: the **effective AvgDist**
# (the loss-weighted mean of `patch_size` × P²Dist over the patches in the loss, in pixels:
# the AvgDist the loss actually trains on), the plain AvgDist of the same patches, the
# **ESS share** ((Σw)² / Σw² as a share of the patches: 1 when every patch counts fully) and
# the largest weight over the mean. It depends on the masks only, not on the model, so it is
# as true after 32 steps as after 800 epochs.

# %%
import pandas as pd

loss_table = pd.DataFrame(
    {
        name: {
            **run["weighting"].loss_difficulty(run["targets"]).as_dict(),
            "decoder_tokens": run["targets"].decoder_length,
        }
        for name, run in runs.items()
    }
).T.astype({"patches": int, "decoder_tokens": int})
loss_table.round(3)

# %% [markdown]
# The guarantees of flatten, checked on this batch: at the defaults (`alpha = 0.5`,
# `min_share = 0.01`) no weight exceeds M = 0.01^-0.5 = 10 times the mean, and the ESS share
# is at least 4M / (1 + M)² whatever the batch.

# %%
flat = loss_table.loc["flatten"]
M = 0.01**-0.5
print(f"flatten trains on {flat.effective_avgdist:.3f} px instead of {flat.avgdist:.3f} px")
print(f"ESS share {flat.ess_share:.3f} >= {4 * M / (1 + M) ** 2:.3f} (the bound)")
print(f"largest weight {flat.max_weight:.3f} x the mean <= M = {M:g}")

# %% [markdown]
# Reading the table (first batch of each run, the same 16 masks):
#
# - **plain MAE** trains on every masked patch with weight 1: effective = plain AvgDist,
#   ESS 1.
# - **flatten** keeps every target but moves weight to the easy ones: the effective AvgDist
#   drops below the plain one, at the price of an ESS below 1. Whatever the batch, no weight
#   exceeds 10× the mean and the ESS stays above a third (the bound on the metrics page).
# - **flatten + decoder q=0.3** first discards the hardest 30% of each mask's targets (the
#   "extremely hard" ones the paper drops), then flattens the rest: easier still, and with a
#   shorter decoder sequence.
#
# On an 8 x 8 grid of 4-pixel patches every distance is small in pixels; at ViT-B's 224 / 16
# the same weights span SimMIM's 10–20 px band. The same measurement on 256 masks at 224 / 16,
# without any model, by `maskstats.sweeps.loss_difficulty_sweep`:

# %%
import maskstats as ms
from maskstats import plot, sweeps

settings = [
    sweeps.LossSetting("plain MAE"),
    sweeps.LossSetting("flatten p2dist", "flatten"),
    sweeps.LossSetting("decoder q=0.3", decoder_mask_ratio=0.3),
    sweeps.LossSetting("flatten p2dist + q=0.3", "flatten", decoder_mask_ratio=0.3),
]
ratios = (0.75, 0.8, 0.85, 0.9, 0.95)
masks_by_ratio = {r: ms.random_masks(256, 14, r, seed=0) for r in ratios}
at_224 = sweeps.loss_difficulty_sweep(masks_by_ratio, 16, settings)
at_224.pivot(index="setting", columns="mask_ratio", values="effective_avgdist").round(1)

# %%
fig = plot.effective_difficulty(at_224.assign(strategy="random"))

# %% [markdown]
# ## The tiny run's loss curves

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 3, figsize=(9, 2.8), layout="constrained", sharex=True)
for name, run in runs.items():
    steps = [s for s, _ in run["curve"]]
    for ax, part in zip(axes, ("all", "easy", "hard"), strict=True):
        ax.plot(steps, [losses[part] for _, losses in run["curve"]], marker="o", ms=3, label=name)
for ax, part in zip(axes, ("all masked", "easy (P²Dist < 0.5)", "hard (P²Dist ≥ 1)"), strict=True):
    ax.set_title(f"held-out loss: {part} patches")
    ax.set_xlabel("training step")
    ax.grid(alpha=0.3)
axes[0].set_ylabel("MAE loss (norm_pix, unweighted)")
axes[0].legend(frameon=False, fontsize=7)
fig.suptitle(f"Tiny ViTMAE, {step} steps on a CPU: mechanics, not results")
plt.show()

# %% [markdown]
# The three held-out losses fall together, cross, and jump from one evaluation to the next by
# as much as they differ: do not read a winner into them. Note also what the held-out measure
# is: the unweighted loss over *every* masked patch, which is exactly what plain MAE
# optimises. Flatten optimises a reweighted loss and decoder masking never trains on the
# hardest 30% of the targets, by design; neither has a reason to score better on this measure
# after a few steps. Whether their representations are better is a question for a linear
# probe after real pretraining.
#
# What carries over to real training is the table above: which targets each loss weighs, how
# many patches effectively count, and how much shorter the decoder sequence is. To go
# further:
#
# - `maskstats train --weighting flatten --decoder-mask-ratio 0.3` trains our own MAE with
#   these settings, and `maskstats table5` compares them by linear probing;
# - `examples/hf_vitmae.py`, `examples/fb_mae.py` and `examples/custom_loop.py` are the same
#   three lines in other loops;
# - under DDP, make the collator's weighting with `sync_bins=False` and call
#   `weighting.sync_weights(batch["targets"])` in the training process, so the flatten bins
#   count the global batch.
