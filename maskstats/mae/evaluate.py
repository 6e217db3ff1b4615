"""Evaluating a pretrained encoder: linear probe and k-NN on frozen features, and how well each
difficulty metric predicts the per-patch reconstruction loss the model really has."""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from torch.utils.data import Dataset, Subset
from tqdm.auto import tqdm

from maskstats._validate import check_mask_ratio, mae_num_masked
from maskstats.io import atomic_path, check_output_file
from maskstats.mae.checkpoint import MODEL_KEYS, checkpoint_file, load_checkpoint
from maskstats.mae.config import EvalSettings
from maskstats.mae.data import ImageDataset, load_dataset
from maskstats.mae.model import MaskedAutoencoderViT, create_model
from maskstats.mae.train import pick_device
from maskstats.masks import random_masks
from maskstats.metrics import PATCH_METRICS
from maskstats.weights import patch_difficulty

EvalData: TypeAlias = "ImageDataset | Subset[Any]"
"""What evaluation reads: a data set of (image (3, H, W) float tensor, label) with a length."""


def load_pretrained(path: str | Path) -> tuple[MaskedAutoencoderViT, dict]:
    """Model and checkpoint dict from a checkpoint file or run folder."""
    path = checkpoint_file(path)
    state = load_checkpoint(path, MODEL_KEYS)
    try:
        model = create_model(state["model_name"], **state["model_config"])
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError, TypeError, ValueError) as error:
        first = (str(error).strip().splitlines() or [repr(error)])[0]
        raise ValueError(f"{path} is not a maskstats MAE checkpoint ({first})") from None
    return model.eval(), state


def split_indices(
    labels: np.ndarray, test_share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/test split of sample indices: per class, round(share x members) of
    them to test.

    Returns:
        (train, test) sorted int64 indices (either may be empty).
    """
    rng = np.random.default_rng(seed)
    train: list[np.ndarray] = []
    test: list[np.ndarray] = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        cut = int(round(len(members) * test_share))
        test.extend(members[:cut])
        train.extend(members[cut:])
    return np.sort(np.array(train, np.int64)), np.sort(np.array(test, np.int64))


def check_split(
    train: np.ndarray,
    test: np.ndarray,
    test_share: float,
    images: int,
    flags: tuple[str, str] = ("--max-images", "--test-share"),
) -> None:
    """Refuse a split with an empty side, in one line naming ``flags`` (images, share).

    Raises:
        ValueError: no training or no test image.
    """
    for side, indices in (("training", train), ("test", test)):
        if len(indices) == 0:
            raise ValueError(
                f"the split of {images} evaluation images at test share {test_share:g} leaves "
                f"no {side} image: evaluate on more images ({flags[0]}) or change {flags[1]}"
            )


def dataset_labels(dataset: Dataset) -> np.ndarray | None:
    """The labels of an image data set (or a Subset of one) without loading any image; None
    for other data sets."""
    if isinstance(dataset, Subset):
        inner = dataset_labels(dataset.dataset)
        return None if inner is None else inner[np.asarray(dataset.indices, np.int64)]
    labels = getattr(dataset, "labels", None)
    if labels is None or len(labels) == 0:
        return None
    # An ImageDataset longer than its images (built-in crops) repeats them in order.
    length = len(dataset)  # type: ignore[arg-type]  # torch's Dataset declares no __len__
    return np.asarray(labels)[np.arange(length) % len(labels)]


def evaluation_subset(data: EvalData, max_images: int | None, seed: int) -> EvalData:
    """``data``, or a seeded subset of ``max_images`` of its images."""
    if max_images and max_images < len(data):
        keep = np.random.default_rng(seed).choice(len(data), max_images, replace=False)
        return Subset(data, np.sort(keep).tolist())
    return data


def check_mask_ratio_for(grid: tuple[int, int], mask_ratio: float, flag: str) -> None:
    """Refuse a mask ratio that masks no patch or every patch of ``grid`` (the real-difficulty
    test needs masked patches and a visible one for their distances).

    Raises:
        ValueError: one line naming ``flag``.
    """
    patches = grid[0] * grid[1]
    masked = mae_num_masked(patches, check_mask_ratio(mask_ratio))
    if masked < 1 or masked >= patches:
        raise ValueError(
            f"{flag} {mask_ratio:g} masks {masked} of {patches} patches: the real-difficulty "
            "test needs at least one masked and one visible patch"
        )


@torch.no_grad()
def extract_features(
    model: MaskedAutoencoderViT,
    dataset: EvalData,
    batch_size: int = 256,
    progress: bool = False,
) -> dict[str, Any]:
    """Frozen encoder features of every image, nothing masked (``progress``: a bar on stderr
    after a second).

    Returns:
        {"cls": (N, D), "mean": (N, D) mean of the patch tokens, "labels": (N,),
        "digests": N strings, a hash of each model-input image (equal images, equal digests)}.
    """
    model.eval()
    device = next(model.parameters()).device
    cls: list[torch.Tensor] = []
    mean: list[torch.Tensor] = []
    labels: list[int] = []
    digests: list[str] = []
    starts = range(0, len(dataset), batch_size)
    for start in tqdm(starts, desc="features", unit="batch", delay=1.0, disable=not progress):
        items = [dataset[i] for i in range(start, min(len(dataset), start + batch_size))]
        imgs = torch.stack([img for img, _ in items])
        digests.extend(hashlib.sha1(img.numpy().tobytes()).hexdigest() for img in imgs)
        imgs = imgs.to(device)
        mask = torch.zeros(imgs.shape[0], model.num_patches, dtype=torch.bool, device=device)
        latent, _ = model.forward_encoder(imgs, mask)
        cls.append(latent[:, 0].float().cpu())
        mean.append(latent[:, 1:].mean(dim=1).float().cpu())
        labels.extend(label for _, label in items)
    return {
        "cls": torch.cat(cls),
        "mean": torch.cat(mean),
        "labels": torch.tensor(labels),
        "digests": digests,
    }


MAX_REPEATED_SHARE = 0.1
"""``evaluate`` refuses data whose probe test split repeats more than this share of training
images (builtin:natural repeats all of them); fewer repeats are dropped with a warning."""


def drop_repeats(
    digests: list[str], train_idx: np.ndarray, test_idx: np.ndarray, data: str
) -> np.ndarray:
    """The test indices whose image is not also a probe-training image.

    Args:
        digests: per image, a hash of its pixels (``extract_features``'s ``digests``).
        train_idx: the probe's training indices into ``digests``.
        test_idx: the probe's test indices into ``digests``.
        data: the data spec, for messages.

    Returns:
        ``test_idx`` without the repeats (a warning gives their count).

    Raises:
        ValueError: more than ``MAX_REPEATED_SHARE`` of the test images repeat training images:
            the accuracy would measure memory, not features.
    """
    seen = {digests[i] for i in train_idx}
    repeated = np.array([digests[i] in seen for i in test_idx], dtype=bool)
    count = int(repeated.sum())
    if count > MAX_REPEATED_SHARE * len(test_idx):
        raise ValueError(
            f"{count} of {len(test_idx)} test images of {data} repeat probe-training images: "
            "accuracy there measures memory; evaluate on labelled data with distinct images "
            "(e.g. fashion-mnist)"
        )
    if count:
        warnings.warn(
            f"dropped {count} of {len(test_idx)} test images of {data} that repeat "
            "probe-training images",
            stacklevel=2,
        )
    return test_idx[~repeated]


def linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    epochs: int = 300,
    lr: float = 0.01,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> float:
    """Logistic regression on standardised frozen features (full batch, AdamW, fixed epochs);
    returns top-1 accuracy on the test set."""
    generator = torch.Generator().manual_seed(seed)
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    classes = int(max(train_y.max(), test_y.max())) + 1
    layer = torch.nn.Linear(train_x.shape[1], classes)
    with torch.no_grad():
        layer.weight.normal_(0, 0.01, generator=generator)
        layer.bias.zero_()
    optimizer = torch.optim.AdamW(layer.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        optimizer.zero_grad()
        F.cross_entropy(layer(train_x), train_y).backward()
        optimizer.step()
    with torch.no_grad():
        return float((layer(test_x).argmax(1) == test_y).float().mean())


def knn_accuracy(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    k: int = 20,
    temperature: float = 0.07,
) -> float:
    """Weighted k-NN as in DINO: cosine similarity, the k nearest vote with exp(sim / T)."""
    train_x = F.normalize(train_x, dim=1)
    test_x = F.normalize(test_x, dim=1)
    classes = int(max(train_y.max(), test_y.max())) + 1
    k = min(k, len(train_x))
    sims, index = (test_x @ train_x.T).topk(k, dim=1)
    votes = torch.zeros(len(test_x), classes)
    votes.scatter_add_(1, train_y[index], (sims / temperature).exp())
    return float((votes.argmax(1) == test_y).float().mean())


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Scipy's Spearman rank correlation (ties share a rank); NaN when either side is constant
    (instead of scipy's warning)."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


def bootstrap_interval(
    values: list[np.ndarray], statistic, n_boot: int = 100, seed: int = 0
) -> tuple[float, float]:
    """95% percentile interval of ``statistic`` over images resampled with replacement.

    Args:
        values: per image, an (M_i, 2) array of (difficulty, loss) rows.
        statistic: function of the concatenated (M, 2) rows -> float.
        n_boot: bootstrap resamples.
        seed: seed of the resampling.

    Returns:
        (2.5th, 97.5th) percentile of the statistic.
    """
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(values), len(values))
        results.append(statistic(np.concatenate([values[i] for i in pick])))
    return float(np.nanpercentile(results, 2.5)), float(np.nanpercentile(results, 97.5))


@torch.no_grad()
def real_difficulty(
    model: MaskedAutoencoderViT,
    dataset: EvalData,
    mask_ratio: float,
    seed: int = 0,
    max_images: int = 512,
    n_boot: int = 100,
    progress: bool = False,
) -> dict[str, Any]:
    """How well each metric predicts the model's per-patch reconstruction loss.

    Fresh random masks (seeded) on held-out images; for each metric, Spearman between its
    difficulty (oriented, higher = harder) and the loss of every masked patch: pooled over
    patches, and the mean of per-image correlations, each with a bootstrap 95% interval over
    images. ``spearman_normalized`` does the same for the loss divided by the patch's own pixel
    variance (the share of the patch the model failed to explain), which takes the patch's
    content (flat sky vs texture) out of the comparison. Runs on the model's device;
    ``progress``: a bar on stderr after a second.

    Returns:
        Per metric name, the Spearman values and intervals; "mean_patch_loss"; "images", how
        many images were used (at most ``max_images``).
    """
    count = min(len(dataset), max_images)
    grid = model.config.grid
    device = next(model.parameters()).device
    masks = random_masks(count, grid, mask_ratio, seed=np.random.default_rng([seed, 77]))
    losses, variances = [], []
    starts = range(0, count, 128)
    for start in tqdm(
        starts, desc="per-patch losses", unit="batch", delay=1.0, disable=not progress
    ):
        stop = min(count, start + 128)
        imgs = torch.stack([dataset[i][0] for i in range(start, stop)])
        mask = torch.from_numpy(masks[start:stop].reshape(stop - start, -1))
        out = model(imgs.to(device), mask.to(device))
        full = torch.full(mask.shape, float("nan"))
        full.scatter_(1, out["ids_target"].cpu(), out["patch_loss"].float().cpu())
        losses.append(full.numpy())
        variances.append(model.patchify(imgs).var(dim=-1).numpy())
    loss = np.concatenate(losses)
    normalized = loss / (np.concatenate(variances) + 1e-6)
    result: dict[str, Any] = {}
    for name in PATCH_METRICS:
        difficulty = patch_difficulty(masks, name, model.config.patch_size).reshape(count, -1)
        per_image = [
            np.stack([difficulty[i][row], loss[i][row]], axis=1)
            for i, row in enumerate(masks.reshape(count, -1))
        ]

        def pooled(rows: np.ndarray) -> float:
            return spearman(rows[:, 0], rows[:, 1])

        rng = np.random.default_rng(seed)
        image_values = np.array([spearman(r[:, 0], r[:, 1]) for r in per_image])
        boot_means = [
            np.nanmean(image_values[rng.integers(0, count, count)]) for _ in range(n_boot)
        ]
        flat_masks = masks.reshape(count, -1)
        normalized_per_image = [
            np.stack([difficulty[i][row], normalized[i][row]], axis=1)
            for i, row in enumerate(flat_masks)
        ]
        result[name] = {
            "spearman_normalized": pooled(np.concatenate(normalized_per_image)),
            "spearman_normalized_ci": bootstrap_interval(
                normalized_per_image, pooled, n_boot, seed
            ),
            "spearman_pooled": pooled(np.concatenate(per_image)),
            "spearman_pooled_ci": bootstrap_interval(per_image, pooled, n_boot, seed),
            "spearman_per_image": float(np.nanmean(image_values)),
            "spearman_per_image_ci": (
                float(np.nanpercentile(boot_means, 2.5)),
                float(np.nanpercentile(boot_means, 97.5)),
            ),
        }
    result["mean_patch_loss"] = float(np.nanmean(loss))
    result["images"] = count
    return result


HELD_OUT_SEED = 1_000_003


def _probe_and_knn(
    features: dict, train_t: torch.Tensor, test_t: torch.Tensor, s: EvalSettings
) -> dict[str, float]:
    """Linear probe and k-NN top-1 on cls and mean-pooled features."""
    y_train, y_test = features["labels"][train_t], features["labels"][test_t]
    result = {}
    for kind in ("cls", "mean"):
        x = features[kind]
        result[f"linear_probe_{kind}"] = linear_probe(
            x[train_t], y_train, x[test_t], y_test, epochs=s.probe_epochs, seed=s.seed
        )
        result[f"knn_{kind}"] = knn_accuracy(
            x[train_t], y_train, x[test_t], y_test, s.k, s.temperature
        )
    return result


def evaluate(
    settings: EvalSettings,
    notice: Callable[[], None] | None = None,
    echo: Callable[[str], None] | None = None,
) -> dict:
    """Linear probe and k-NN (cls and mean-pooled features) on a held-out split, the same for
    an untrained encoder of the same architecture (the baseline, unless ``no_baseline``), and
    the real difficulty correlations (on the held-out split, or on fresh crops of
    ``difficulty_data``); written as JSON next to the checkpoint (or to ``out``).

    Args:
        settings: what to evaluate.
        notice: called once the checkpoint and the data have loaded, before the long part
            (the CLI says there what it is doing).
        echo: called with one line as each part ends (what it did, how long it took), and
            progress bars are shown; None: silent.

    Returns:
        The results, as written to the JSON file.
    """
    s = settings
    out = (
        Path(s.out)
        if s.out
        else Path(s.ckpt if Path(s.ckpt).is_dir() else Path(s.ckpt).parent) / "eval.json"
    )
    check_output_file(out, overwrite=s.overwrite)  # before any work: new, not a folder, writable
    model, state = load_pretrained(s.ckpt)
    trained_at = model.config.img_size
    if s.img_size is not None and s.img_size != trained_at:
        raise ValueError(
            f"--img-size {s.img_size}: this checkpoint was trained at {trained_at} px (its "
            f"position embeddings are for a {model.config.grid[0]}x{model.config.grid[1]} patch "
            f"grid); leave --img-size out or pass {trained_at}"
        )
    img_size = trained_at
    if s.mask_ratio is not None:
        mask_ratio, flag = s.mask_ratio, "--mask-ratio"
    else:
        try:
            mask_ratio = float(state["config"]["mask_ratio"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{s.ckpt} does not say its mask ratio: pass --mask-ratio") from None
        flag = "the checkpoint's mask ratio"
    check_mask_ratio_for(model.config.grid, mask_ratio, flag)
    model = model.to(pick_device(s.device))
    data = evaluation_subset(
        load_dataset(s.data, img_size, train=False, seed=s.seed), s.max_images, s.seed
    )
    labels = dataset_labels(data)
    if labels is not None:  # the split, before the long part (features, probe)
        check_split(*split_indices(labels, s.test_share, s.seed), s.test_share, len(data))
    if notice is not None:
        notice()
    say = echo or (lambda line: None)
    started = time.perf_counter()
    features = extract_features(model, data, progress=echo is not None)
    say(f"features of {len(data)} images: {time.perf_counter() - started:.0f} s")
    labels = features["labels"].numpy()
    train_idx, test_idx = split_indices(labels, s.test_share, s.seed)
    check_split(train_idx, test_idx, s.test_share, len(data))
    test_idx = drop_repeats(features["digests"], train_idx, test_idx, s.data)
    train_t, test_t = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
    result: dict = {
        "checkpoint": str(s.ckpt),
        "data": s.data,
        "n_train": len(train_idx),
        "n_test": len(test_idx),
        "seed": s.seed,
        "test_share": s.test_share,
        "max_images": s.max_images,
        "step": int(state.get("step", 0)),
    }
    started = time.perf_counter()
    result.update(_probe_and_knn(features, train_t, test_t, s))
    say(
        f"linear probe and k-NN on {len(train_idx)} / {len(test_idx)} images: "
        f"{time.perf_counter() - started:.0f} s"
    )
    if not s.no_baseline:
        # The same architecture at its random initialisation (seeded): what pretraining
        # has to beat (on easy data an untrained encoder's features already separate well).
        started = time.perf_counter()
        torch.manual_seed(s.seed)
        untrained = create_model(state["model_name"], **state["model_config"])
        untrained = untrained.to(next(model.parameters()).device).eval()
        baseline = extract_features(untrained, data, progress=echo is not None)
        result["untrained"] = _probe_and_knn(baseline, train_t, test_t, s)
        say(f"untrained-encoder baseline: {time.perf_counter() - started:.0f} s")
    mask_ratio = s.mask_ratio if s.mask_ratio is not None else state["config"]["mask_ratio"]
    difficulty_source = data
    if s.difficulty_data:
        # Fresh random crops (a seed no training run uses), so builtin:natural gives unseen
        # crops of its photos; image folders give their images with new crops.
        difficulty_source = load_dataset(
            s.difficulty_data, img_size, train=True, seed=s.seed + HELD_OUT_SEED
        )
        test_idx = np.arange(min(len(difficulty_source), 512))
    held_out = Subset(difficulty_source, test_idx.tolist())
    result["mask_ratio"] = mask_ratio
    started = time.perf_counter()
    result["real_difficulty"] = real_difficulty(
        model, held_out, mask_ratio, seed=s.seed, progress=echo is not None
    )
    say(
        f"per-patch losses and Spearman on {result['real_difficulty']['images']} images: "
        f"{time.perf_counter() - started:.0f} s"
    )
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    result["path"] = str(out)
    return result
