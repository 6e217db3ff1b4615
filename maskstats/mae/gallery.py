"""Running any MAE on seeded images and masks, and its reconstruction gallery: the same images
and masks for every checkpoint given the same seed (data, image size, strategy and ratio), the
difficulty, weights and decoder selection of :class:`maskstats.torch.DifficultyWeighting`, the
model's predictions, and the folder :mod:`maskstats.report.gallery` writes. A model comes as a
:class:`LoadedMAE` (:mod:`maskstats.mae.visualize` loads checkpoints of each kind);
``maskstats train`` calls :func:`training_gallery`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from maskstats import masks as mask_lib
from maskstats.mae.config import (
    GALLERY_FOLDER,
    GALLERY_STEPS_FOLDER,
    TrainConfig,
    VisualizeSettings,
)
from maskstats.mae.data import IMAGENET_MEAN, IMAGENET_STD, load_dataset
from maskstats.mae.model import MaskedAutoencoderViT
from maskstats.masks.strategies import VARIABLE_COUNT
from maskstats.metrics import REGISTRY, compute
from maskstats.recon import Reconstructions, reconstructions
from maskstats.report.gallery import write_gallery
from maskstats.torch import DecoderMasking, DifficultyTargets, DifficultyWeighting, noise_for_mask
from maskstats.weights import default_alpha

DEFAULT_DATA = "builtin:natural"
FB_MASK_RATIO = 0.75
"""facebook MAE's default mask ratio (main_pretrain.py), for state dicts that do not say."""


@dataclass
class LoadedMAE:
    """A model ready to reconstruct, whatever its origin.

    Attributes:
        kind: "maskstats", "huggingface" or "facebook-mae".
        model: the torch module (eval mode).
        img_size: image side it takes, in pixels.
        patch_size: patch side in pixels.
        in_chans: input channels.
        norm_pix_loss: it predicts per-patch normalised pixels.
        mask_ratio: its own mask ratio (the default of the gallery).
        mean: per-channel input normalisation mean.
        std: per-channel input normalisation std.
        run: the maskstats run's settings (``TrainConfig`` as a dict), else None.
        describe: one line naming the model.
    """

    kind: str
    model: nn.Module
    img_size: int
    patch_size: int
    in_chans: int
    norm_pix_loss: bool
    mask_ratio: float
    mean: tuple[float, ...] = tuple(IMAGENET_MEAN.flatten().tolist())
    std: tuple[float, ...] = tuple(IMAGENET_STD.flatten().tolist())
    run: dict | None = None
    describe: str = ""
    step: int | None = field(default=None)

    @property
    def grid(self) -> tuple[int, int]:
        """Patch grid (h, w)."""
        return self.img_size // self.patch_size, self.img_size // self.patch_size

    @torch.no_grad()
    def predict(self, images: torch.Tensor, targets: DifficultyTargets) -> np.ndarray:
        """The model's predicted patches for ``images`` under ``targets``' masks (and decoder
        selection).

        Args:
            images: (N, C, H, W) model-input pixels, on the model's device.
            targets: masks, decoder selection and noise (:class:`DifficultyWeighting`), on the
                model's device.

        Returns:
            (N, L, p*p*C) float32; zeros where the decoder made no prediction.
        """
        self.model.eval()
        predict = {
            "maskstats": _predict_maskstats,
            "huggingface": _predict_hf,
            "facebook-mae": _predict_fb,
        }[self.kind]
        return predict(self, images, targets)


def _predict_maskstats(loaded: LoadedMAE, images: torch.Tensor, t: DifficultyTargets):
    out = loaded.model(images, t.mask, t.keep)
    pred = out["pred"].float()
    full = pred.new_zeros(pred.shape[0], t.mask.shape[1], pred.shape[-1])
    full.scatter_(1, out["ids_target"].unsqueeze(-1).expand_as(pred), pred)
    return full.cpu().numpy()


def _decoder_masking(model: nn.Module, targets: DifficultyTargets) -> DecoderMasking | None:
    dropped = bool((targets.mask & ~targets.keep).any())
    return DecoderMasking(model, targets) if dropped else None


def _check_mask(kind: str, returned: torch.Tensor, wanted: torch.Tensor) -> None:
    if not torch.equal(returned.reshape(wanted.shape).bool(), wanted.bool()):
        raise ValueError(f"the {kind} model did not use the masks it was given")


def _predict_hf(loaded: LoadedMAE, images: torch.Tensor, t: DifficultyTargets):
    model: Any = loaded.model  # a transformers ViTMAEForPreTraining
    visible = int((~t.mask[0]).sum())
    length = t.mask.shape[1]
    ratio = model.config.mask_ratio
    # HF keeps int(L * (1 - mask_ratio)) patches: a ratio that keeps exactly ``visible``.
    model.config.mask_ratio = 1.0 - (visible + 0.5) / length
    masking = _decoder_masking(model, t)
    try:
        out = model(pixel_values=images, noise=t.noise)
    finally:
        model.config.mask_ratio = ratio
        if masking is not None:
            masking.remove()
    _check_mask("Hugging Face", out.mask, t.mask)
    return out.logits.float().cpu().numpy()


def _predict_fb(loaded: LoadedMAE, images: torch.Tensor, t: DifficultyTargets):
    model: Any = loaded.model  # the user's facebook-MAE-style module
    mask = t.mask

    def random_masking(x: torch.Tensor, mask_ratio: float, *args: Any, **kwargs: Any):
        # facebook MAE's random_masking with maskstats' masks: the visible patches in index
        # order (the argsort of noise_for_mask), mask 1 = removed, ids_restore to unshuffle.
        n, _, dim = x.shape
        ids_shuffle = torch.argsort(noise_for_mask(mask).to(x.device), dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        keep = int((~mask[0]).sum())
        ids_keep = ids_shuffle[:, :keep]
        x_masked = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, dim))
        return x_masked, mask.to(x.dtype), ids_restore

    masking = _decoder_masking(model, t)
    model.random_masking = random_masking
    try:
        out = model(images, loaded.mask_ratio)
    finally:
        del model.random_masking
        if masking is not None:
            masking.remove()
    if not isinstance(out, tuple | list) or len(out) < 3:
        raise ValueError(
            f"{loaded.describe}: forward() should return (loss, pred, mask) as facebook MAE's"
        )
    _check_mask("facebook-MAE", out[2], t.mask)
    return out[1].float().cpu().numpy()


def from_run(model: MaskedAutoencoderViT, state: dict, path: Path) -> LoadedMAE:
    """A maskstats model with its checkpoint dict (``config``, ``step``, ``model_name``)."""
    config = state.get("config") or {}
    c = model.config
    return LoadedMAE(
        "maskstats",
        model,
        c.img_size,
        c.patch_size,
        c.in_chans,
        c.norm_pix_loss,
        float(config.get("mask_ratio", FB_MASK_RATIO)),
        run=config,
        describe=f"maskstats {state.get('model_name', 'MAE')} ({path}, step {state.get('step')})",
        step=int(state.get("step", 0)),
    )


def gallery_images(
    data: str, img_size: int, n: int, seed: int
) -> tuple[torch.Tensor, list[str], list[int]]:
    """``n`` seeded images of ``data`` in evaluation form (resized, no crop or flip,
    ImageNet-normalised), in index order: the same for every checkpoint given the seed.

    Returns:
        images (n', 3, img_size, img_size) with n' = min(n, distinct images), their names and
        their indices in the data.
    """
    dataset = load_dataset(data, img_size, train=False, seed=seed)
    pool = len(getattr(dataset, "loaders", dataset))
    count = min(n, pool)
    rng = np.random.default_rng([seed, 0])
    indices = sorted(int(i) for i in rng.choice(pool, count, replace=False))
    images = torch.stack([dataset[i][0] for i in indices])
    names = getattr(dataset, "names", None)
    titles = []
    for i in indices:  # a source's own name, else the data and the index
        name = str(names[i]) if names is not None else str(i)
        titles.append(name if name != str(i) else f"{data}[{i}]")
    return images, titles, indices


def gallery_masks(
    strategy: str,
    n: int,
    img_size: int,
    patch_size: int,
    mask_ratio: float,
    seed: int,
    **kwargs: Any,
) -> np.ndarray:
    """(n, h, w) seeded masks, True = masked, with the same count in every row.

    Raises:
        ValueError: a strategy whose count varies, or a mask with no visible patch.
    """
    if strategy in VARIABLE_COUNT:
        raise ValueError(
            f"strategy {strategy} masks a different number of patches in each image; an MAE "
            "encoder needs one count per batch"
        )
    masks = mask_lib.generate(
        strategy,
        n,
        img_size,
        patch_size,
        mask_ratio,
        seed=np.random.default_rng([seed, 1]),
        **kwargs,
    )
    counts = masks.reshape(n, -1).sum(axis=1)
    if (counts != counts[0]).any():
        raise ValueError(
            f"strategy {strategy} gave masks with different counts ({counts.min()}..{counts.max()})"
        )
    if counts[0] >= masks[0].size:
        raise ValueError("the masks hide every patch: lower --mask-ratio")
    return masks


@dataclass(frozen=True)
class Shown:
    """What a gallery shows, once every default is resolved."""

    data: str
    strategy: str
    mask_ratio: float
    metric: str
    weighting: str
    weight_metric: str
    alpha: float | None
    decoder_mask_ratio: float
    mask_patch_size: int
    target_avgdist: float | None

    def weighting_label(self) -> str:
        """The weighting as the weight scale names it."""
        if self.weighting == "none":
            return "none: 1 on every predicted patch"
        alpha = f" alpha={self.alpha:g}" if self.alpha is not None else ""
        return f"{self.weighting}{alpha} on {self.weight_metric}"


def resolve_shown(s: VisualizeSettings, loaded: LoadedMAE) -> Shown:
    """Defaults from the run where ``s`` leaves them open (see :class:`VisualizeSettings`)."""
    run = loaded.run or {}
    run_metric = run.get("metric", "none")
    metric = s.metric or (run_metric if run_metric != "none" else "p2dist")
    use_run = s.weighting is None and run_metric != "none"
    weighting = s.weighting or (run.get("weighting", "flatten") if loaded.run else "flatten")
    alpha = s.flatten_alpha
    if alpha is None and weighting == run.get("weighting"):
        alpha = run.get("flatten_alpha")
    if alpha is None and weighting in ("flatten", "histogram"):
        alpha = default_alpha(weighting)
    q = s.decoder_mask_ratio
    if q is None:
        q = float(run.get("decoder_mask_ratio", 0.0))
    return Shown(
        data=s.data or run.get("data") or DEFAULT_DATA,
        strategy=s.strategy,
        mask_ratio=s.mask_ratio if s.mask_ratio is not None else loaded.mask_ratio,
        metric=metric,
        weighting=weighting,
        weight_metric=run_metric if use_run else metric,
        alpha=alpha,
        decoder_mask_ratio=q,
        mask_patch_size=s.mask_patch_size,
        target_avgdist=s.target_avgdist,
    )


def run_gallery(
    loaded: LoadedMAE,
    shown: Shown,
    n: int,
    seed: int,
    device: torch.device,
) -> tuple[Reconstructions, list[str], dict]:
    """Images, masks, targets and the model's predictions: the rows of a gallery.

    Returns:
        The rows, their titles and manifest entries (image indices, settings).
    """
    images, titles, indices = gallery_images(shown.data, loaded.img_size, n, seed)
    count = len(images)
    masks = gallery_masks(
        shown.strategy,
        count,
        loaded.img_size,
        loaded.patch_size,
        shown.mask_ratio,
        seed,
        mask_patch_size=shown.mask_patch_size,
        target_avgdist=shown.target_avgdist,
    )
    weighting = DifficultyWeighting(
        shown.weight_metric,
        grid=loaded.grid,
        patch_size=loaded.patch_size,
        weighting=shown.weighting,
        alpha=shown.alpha,
        decoder_mask_ratio=shown.decoder_mask_ratio,
        seed=[seed, 2],
    )
    targets = weighting(masks)
    # maskstats' data are ImageNet-normalised; a model with its own normalisation gets its own.
    mean = torch.tensor(loaded.mean, dtype=images.dtype).view(-1, 1, 1)
    std = torch.tensor(loaded.std, dtype=images.dtype).view(-1, 1, 1)
    model_input = images
    if not (torch.equal(mean, IMAGENET_MEAN) and torch.equal(std, IMAGENET_STD)):
        model_input = (images * IMAGENET_STD + IMAGENET_MEAN - mean) / std
    pred = loaded.predict(model_input.to(device), targets.to(device))
    difficulty = compute(masks, shown.metric, loaded.patch_size)[shown.metric]
    rec = reconstructions(
        model_input.numpy(),
        targets.mask.numpy(),
        pred,
        loaded.patch_size,
        loaded.norm_pix_loss,
        metric=shown.metric,
        difficulty=difficulty.reshape(count, -1),
        weights=targets.weights.numpy(),
        decoder_keep=targets.keep.numpy(),
        mean=loaded.mean,
        std=loaded.std,
    )
    extra = {
        "images": indices,
        "requested": n,
        "shown": shown.__dict__,
        "seed": seed,
        "model": loaded.kind,
        "step": loaded.step,
    }
    return rec, titles, extra


def facts(loaded: LoadedMAE, shown: Shown, seed: int, command: str | None) -> list[tuple[str, str]]:
    """The (label, text) lines of a gallery page's header."""
    ratio = f"{shown.mask_ratio:g}"
    masks = f"{shown.strategy}, mask ratio {ratio}"
    if shown.strategy == "simmim":
        masks += f", {shown.mask_patch_size} px cells"
    if shown.target_avgdist is not None:
        masks += f", AvgDist target {shown.target_avgdist:g} px"
    facts = [
        ("checkpoint", loaded.describe),
        (
            "model",
            f"{loaded.img_size} px images, {loaded.patch_size} px patches "
            f"({loaded.grid[0]}x{loaded.grid[1]}), norm_pix_loss "
            f"{'on' if loaded.norm_pix_loss else 'off'}",
        ),
        ("data", shown.data),
        ("masks", masks),
        ("difficulty", f"{shown.metric} ({REGISTRY[shown.metric].paper_name})"),
        ("loss weight", shown.weighting_label()),
        (
            "decoder masking",
            f"the hardest {shown.decoder_mask_ratio:g} of each image's masked patches dropped "
            f"(by {shown.weight_metric})"
            if shown.decoder_mask_ratio > 0
            else "none",
        ),
        ("seed", f"{seed} (the same seed shows every checkpoint the same images and masks)"),
    ]
    if command:
        facts.insert(0, ("command", command))
    return facts


def training_gallery(
    model: MaskedAutoencoderViT, config: TrainConfig, out: Path, step: int, final: bool
) -> Path:
    """The gallery ``maskstats train`` writes: at the end of a run into RUN/gallery (linking
    the ``--gallery-every`` ones), during it into RUN/gallery-steps/step_NNNNNN; the run's
    data, masks and weighting, ``config.gallery_images`` images (at least one).

    Returns:
        The gallery's index.html.
    """
    state = {"config": asdict(config), "step": step, "model_name": config.model}
    loaded = from_run(model, state, out)
    loaded.describe = f"maskstats run {out}, step {step}"
    s = VisualizeSettings(
        ckpt=str(out),
        strategy=config.strategy,
        mask_patch_size=config.mask_patch_size,
        target_avgdist=config.target_avgdist,
        seed=config.seed,
    )
    shown = resolve_shown(s, loaded)
    device = next(model.parameters()).device
    was_training = model.training
    try:
        rec, titles, extra = run_gallery(
            loaded, shown, max(1, config.gallery_images), config.seed, device
        )
    finally:
        model.train(was_training)
    steps = sorted(Path(out, GALLERY_STEPS_FOLDER).glob("step_*/index.html"))
    if final:
        folder = Path(out) / GALLERY_FOLDER
        links = [
            (
                f"during training: {p.parent.name}",
                f"../{GALLERY_STEPS_FOLDER}/{p.parent.name}/index.html",
            )
            for p in steps
        ]
    else:
        folder = Path(out) / GALLERY_STEPS_FOLDER / f"step_{step:06d}"
        links = []
    return write_gallery(
        folder,
        rec,
        titles,
        facts(loaded, shown, config.seed, None),
        title=f"Reconstructions: {out} at step {step}",
        weighting=shown.weighting_label(),
        overwrite=True,
        links=links,
        manifest=extra,
    )
