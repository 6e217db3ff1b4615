"""Settings of the MAE trainer, its evaluation and the Tab.5 comparison: the one home of every
default (the CLI's flags are generated from these fields). Imports no torch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields, replace
from pathlib import Path

from maskstats._options import option
from maskstats._validate import check_mask_ratio, mae_num_masked
from maskstats.masks import IMAGE_STRATEGIES
from maskstats.masks.strategies import VARIABLE_COUNT
from maskstats.metrics import PATCH_METRICS
from maskstats.weights import FLATTEN_ALPHA, FLATTEN_MIN_SHARE, WEIGHTINGS, check_weighting


@dataclass(frozen=True)
class MAEConfig:
    """Architecture of an MAE ViT; sizes in pixels and channels."""

    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    decoder_embed_dim: int = 512
    decoder_depth: int = 8
    decoder_num_heads: int = 16
    mlp_ratio: float = 4.0
    norm_pix_loss: bool = False

    @property
    def grid(self) -> tuple[int, int]:
        """Patch grid (H, W)."""
        return self.img_size // self.patch_size, self.img_size // self.patch_size


CONFIGS: dict[str, dict] = {
    "mae_vit_base_patch16": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12),
    "mae_vit_large_patch16": dict(patch_size=16, embed_dim=1024, depth=24, num_heads=16),
    "mae_vit_huge_patch14": dict(patch_size=14, embed_dim=1280, depth=32, num_heads=16),
    "mae_vit_tiny": dict(
        patch_size=16,
        embed_dim=192,
        depth=12,
        num_heads=3,
        decoder_embed_dim=128,
        decoder_depth=2,
        decoder_num_heads=4,
    ),
    "mae_vit_micro": dict(
        img_size=32,
        patch_size=4,
        embed_dim=192,
        depth=4,
        num_heads=3,
        decoder_embed_dim=128,
        decoder_depth=2,
        decoder_num_heads=4,
    ),
}
"""The MAE architectures by name (``--model``): the fields that differ from
:class:`MAEConfig`'s defaults; the first three are MAE's ViT-B/16, ViT-L/16 and ViT-H/14."""


@dataclass
class TrainConfig:
    """Everything a run depends on; flag names follow MAE's main_pretrain.py where they
    overlap (blr, weight_decay, warmup_epochs, norm_pix_loss, accum_iter)."""

    model: str = option("mae_vit_micro", "architecture", choices=tuple(CONFIGS))
    data: str = option(
        "builtin:natural",
        "fashion-mnist[:DIR], mnist:DIR, cifar:PATH, an image folder, builtin:natural (ten "
        "photos) or builtin:digits",
    )
    img_size: int | None = option(
        None, "image side in pixels (default: the model's)", kind="positive_int"
    )
    patch_size: int | None = option(
        None, "patch side in pixels (default: the model's)", kind="positive_int"
    )
    in_chans: int = option(3, cli=False)
    mask_ratio: float = option(0.75, "share of patches masked", kind="ratio")
    strategy: str = option("random", "mask strategy", choices=IMAGE_STRATEGIES)
    mask_patch_size: int = option(
        32, "SimMIM masking cell in pixels (simmim only)", kind="positive_int"
    )
    target_avgdist: float | None = option(
        None, "AvgDist target in pixels (strategy difficulty)", kind="float"
    )
    metric: str = option(
        "none",
        "difficulty metric for weights and decoder masking",
        choices=("none", *PATCH_METRICS),
    )
    weighting: str = option(
        "none",
        "loss weighting by difficulty: flatten (Difficulty-Flatten: more weight on easy targets),"
        " histogram (the histogram equaliser, for comparison), inverse",
        choices=WEIGHTINGS,
    )
    flatten_alpha: float | None = option(
        None,
        f"flatten / histogram exponent, 0 = plain MAE (default: {FLATTEN_ALPHA:g} for flatten, "
        "1 for histogram)",
        kind="float",
    )
    flatten_min_share: float = option(
        FLATTEN_MIN_SHARE,
        "flatten pools the easiest patches up to this share of the batch (bounds every weight "
        "by share^-alpha times the mean)",
        kind="ratio",
    )
    inverse_gamma: float = option(1.0, "inverse weighting exponent")
    decoder_mask_ratio: float = option(
        0.0, "share of the hardest masked patches dropped from the decoder", kind="ratio"
    )
    epochs: int = option(5, "epochs", kind="positive_int")
    max_steps: int | None = option(
        None, "optimizer steps in all (overrides epochs)", kind="positive_int"
    )
    stop_after_steps: int | None = option(
        None,
        "stop early, as if killed; the schedule still spans the full run",
        kind="positive_int",
    )
    batch_size: int = option(64, "images per micro-batch", kind="positive_int")
    accum_iter: int = option(
        1, "micro-batches per optimizer step", kind="positive_int", aliases=("--accum_iter",)
    )
    blr: float = option(1.5e-4, "base lr: lr = blr * effective batch / 256")
    lr: float | None = option(None, "absolute lr (overrides blr)", kind="float")
    min_lr: float = option(0.0, "lr at the end of the cosine", aliases=("--min_lr",))
    weight_decay: float = option(0.05, "AdamW weight decay", aliases=("--weight_decay",))
    warmup_epochs: float = option(1.0, "linear warmup", aliases=("--warmup_epochs",))
    warmup_steps: int | None = option(
        None, "linear warmup in optimizer steps (overrides warmup-epochs)", kind="positive_int"
    )
    norm_pix_loss: bool = option(
        False, "normalise target pixels per patch (MAE)", aliases=("--norm_pix_loss",)
    )
    seed: int = option(0, "seed of weights, data order and masks")
    out: str | None = option(
        None, "run folder (default: runs/mae, or the folder of the run given to --resume)"
    )
    overwrite: bool = option(False, "replace the run already in --out")
    save_every: int = option(200, "checkpoint every N steps", kind="positive_int")
    log_every: int = option(10, "log a record every N steps", kind="positive_int")
    gallery_images: int = option(
        4,
        "images in the reconstruction gallery written at the end of the run (RUN/gallery; 0: none)",
        kind="int",
    )
    gallery_every: int | None = option(
        None, "also write a gallery every N steps (RUN/gallery-steps/step_N)", kind="positive_int"
    )
    resume: str | None = option(
        None, "checkpoint file or run folder to resume, with its saved settings"
    )
    allow_changes: bool = option(
        False, "resume with options that differ from the run's saved settings"
    )
    device: str = option("auto", "auto, cpu, cuda or cuda:N")
    num_workers: int = option(0, "DataLoader workers")
    dataset_length: int | None = option(
        None, "images per epoch for built-in data (default 4096 crops)", kind="positive_int"
    )
    progress: bool = option(True, cli=False)

    def validate(self) -> None:
        """Raise ValueError with one line for settings that cannot work."""
        if self.model not in CONFIGS:
            raise ValueError(f"unknown model {self.model!r}; expected one of {', '.join(CONFIGS)}")
        check_mask_ratio(self.mask_ratio)
        if self.metric not in ("none", *PATCH_METRICS):
            raise ValueError(f"metric must be none or one of {PATCH_METRICS}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}")
        if self.weighting != "none" and self.metric == "none":
            raise ValueError(f"--weighting {self.weighting} needs a --metric")
        if not 0.0 <= self.decoder_mask_ratio < 1.0:
            raise ValueError(f"decoder mask ratio must be in [0, 1), got {self.decoder_mask_ratio}")
        if self.decoder_mask_ratio > 0 and self.metric == "none":
            raise ValueError("--decoder-mask-ratio needs a --metric to find the hardest patches")
        for name in ("epochs", "batch_size", "accum_iter", "save_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.gallery_images < 0:
            raise ValueError(f"gallery_images must be 0 or more, got {self.gallery_images}")
        if self.strategy not in IMAGE_STRATEGIES:
            raise ValueError(
                f"strategy {self.strategy!r} is not an image strategy; an image MAE trains with "
                f"one of {', '.join(IMAGE_STRATEGIES)}"
            )
        if self.strategy in VARIABLE_COUNT:
            raise ValueError(
                f"strategy {self.strategy} masks a different number of patches in each image; "
                "MAE's encoder needs one count per batch (use it with maskstats report/stats)"
            )
        if self.mask_ratio <= 0:
            raise ValueError("training needs a mask ratio above 0: at 0 nothing is reconstructed")
        for name, value in (("blr", self.blr), ("lr", self.lr)):
            if value is not None and not (math.isfinite(value) and 0 < value <= MAX_LR):
                raise ValueError(
                    f"{name} must be in (0, {MAX_LR:g}], got {value:g} (AdamW diverges above)"
                )
        for name in ("min_lr", "weight_decay", "warmup_epochs"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        self.check_lr(world_size=1)
        if self.weight_decay > MAX_WEIGHT_DECAY:
            raise ValueError(
                f"weight_decay must be in [0, {MAX_WEIGHT_DECAY:g}], got {self.weight_decay:g}: "
                "beyond it AdamW's decay lr * weight_decay flips the weights' sign"
            )
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueError(f"num_workers must be an integer >= 0, got {self.num_workers}")
        check_weighting(
            self.flatten_alpha,
            self.inverse_gamma,
            self.flatten_min_share,
            names=("--flatten-alpha", "--inverse-gamma", "--flatten-min-share"),
        )
        architecture = self.architecture()
        if architecture.img_size % architecture.patch_size:
            raise ValueError(
                f"img_size {architecture.img_size} is not divisible by patch_size "
                f"{architecture.patch_size}"
            )
        num_patches = architecture.grid[0] * architecture.grid[1]
        masked = mae_num_masked(num_patches, self.mask_ratio)
        if masked < 1 or masked >= num_patches:
            raise ValueError(
                f"mask ratio {self.mask_ratio:g} masks {masked} of {num_patches} patches; "
                "training needs at least one masked and one visible patch"
            )

    def base_lr(self, world_size: int = 1) -> float:
        """The peak lr: ``lr``, else blr x effective batch / 256 (MAE's rule), the effective
        batch being batch_size x accum_iter x ``world_size``."""
        if self.lr is not None:
            return self.lr
        return self.blr * self.batch_size * self.accum_iter * world_size / 256

    def check_lr(self, world_size: int = 1) -> None:
        """Refuse a peak lr above ``MAX_LR`` and a min_lr above the peak, in one line."""
        lr = self.base_lr(world_size)
        if lr > MAX_LR:
            batch = self.batch_size * self.accum_iter * world_size
            raise ValueError(
                f"--blr {self.blr:g} with an effective batch of {batch} gives lr = {lr:g}, "
                f"above {MAX_LR:g} (AdamW diverges): lower --blr or pass --lr"
            )
        if self.min_lr > lr:
            raise ValueError(
                f"--min-lr {self.min_lr:g} is above the run's lr {lr:g}: the cosine would rise; "
                "pass a --min-lr below it"
            )

    def architecture(self) -> MAEConfig:
        """The model's architecture: the named config with this run's overrides."""
        overrides = dict(
            img_size=self.img_size,
            patch_size=self.patch_size,
            in_chans=self.in_chans,
            norm_pix_loss=self.norm_pix_loss,
        )
        settings = {**CONFIGS[self.model], **{k: v for k, v in overrides.items() if v is not None}}
        return MAEConfig(**settings)

    @property
    def run_folder(self) -> str:
        """Where the run writes: ``out``, else the resumed run's folder, else runs/mae."""
        if self.out is not None:
            return self.out
        if self.resume is not None:
            path = Path(self.resume)
            return str(path if path.is_dir() or not path.suffix else path.parent)
        return DEFAULT_RUN_FOLDER


DEFAULT_RUN_FOLDER = "runs/mae"
MAX_LR = 1.0
"""Largest lr/blr accepted: AdamW with an lr above 1 diverges on the first steps."""
MAX_WEIGHT_DECAY = 1.0
"""Largest weight decay accepted: with lr <= 1 AdamW's decoupled decay (1 - lr * wd) then never
flips the weights' sign."""
RUN_SETTINGS = (
    "model",
    "data",
    "img_size",
    "patch_size",
    "in_chans",
    "mask_ratio",
    "strategy",
    "mask_patch_size",
    "target_avgdist",
    "metric",
    "weighting",
    "flatten_alpha",
    "flatten_min_share",
    "inverse_gamma",
    "decoder_mask_ratio",
    "epochs",
    "max_steps",
    "batch_size",
    "accum_iter",
    "blr",
    "lr",
    "min_lr",
    "weight_decay",
    "warmup_epochs",
    "warmup_steps",
    "norm_pix_loss",
    "seed",
    "dataset_length",
)
"""Fields that define a run: a resume takes them from the run's saved settings."""
LOG_SETTINGS = ("log_every", "save_every", "gallery_images", "gallery_every")
"""Fields a resume takes from the saved settings when left at their default, and lets change
without a conflict."""


def resume_config(config: TrainConfig, saved: dict) -> TrainConfig:
    """The configuration a resume runs with: the run's saved settings, except where ``config``
    sets a run setting to something other than its default and the saved value.

    Such a change is refused unless ``config.allow_changes``; an option left at its default
    takes the saved value (so ``--resume RUN`` alone continues RUN as it was started).

    Args:
        config: the settings given now (``resume`` set).
        saved: the run's saved ``TrainConfig`` as a dict (checkpoint["config"]).

    Raises:
        ValueError: one line naming the first conflicting option.
    """
    defaults = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}
    merged = {}
    for name in RUN_SETTINGS:
        given = getattr(config, name)
        if name not in saved:
            merged[name] = given
            continue
        was = saved[name]
        if isinstance(was, list):
            was = tuple(was)
        if given == defaults.get(name) or given == was:
            merged[name] = was
        elif config.allow_changes:
            merged[name] = given
        else:
            flag = "--" + name.replace("_", "-")
            raise ValueError(
                f"{flag} {given} conflicts with the resumed run's {name}={was}; "
                "pass --allow-changes to resume with it anyway"
            )
    for name in LOG_SETTINGS:
        if name in saved and getattr(config, name) == defaults.get(name):
            merged[name] = saved[name]
    return replace(config, **merged)


@dataclass
class EvalSettings:
    """What ``maskstats eval`` runs."""

    ckpt: str = option(help="checkpoint file or run folder")
    data: str = option("builtin:digits", "labelled data for the probe and k-NN")
    img_size: int | None = option(
        None, "image side (default: the checkpoint's)", kind="positive_int"
    )
    test_share: float = option(
        0.2, "share of the evaluation images the probe and k-NN are tested on", kind="share"
    )
    seed: int = option(0, "seed of the subset, the split, the probe and the masks")
    k: int = option(20, "neighbours of the k-NN classifier", kind="positive_int", aliases=("-k",))
    temperature: float = option(0.07, cli=False)
    probe_epochs: int = option(300, "linear-probe epochs", kind="positive_int")
    mask_ratio: float | None = option(
        None, "masks for the real-difficulty test (default: the training ratio)", kind="ratio"
    )
    difficulty_data: str | None = option(
        None,
        "measure real difficulty on fresh crops of this data instead "
        "(e.g. builtin:natural, the pretraining domain)",
    )
    out: str | None = option(None, "JSON path (default: RUN/eval.json)")
    overwrite: bool = option(False, "replace the JSON file already at --out")
    max_images: int | None = option(
        None, "evaluate on a seeded subset of this many images", kind="positive_int"
    )
    device: str = option("auto", "auto (CUDA when present), cpu, cuda or cuda:N")
    no_baseline: bool = option(
        False,
        "skip the baseline: the same probe and k-NN on an untrained encoder of the same "
        "architecture (its random initialisation), the number pretraining has to beat",
    )


TABLE5_ROWS = ("tab5", "mae-sampling")
"""The comparisons ``table5`` runs: ``tab5``, Efficient MAE's Tab.5 (plain MAE, flatten per
metric, decoder masking); ``mae-sampling``, MAE's mask-sampling ablation (its Table 1(f):
random 0.75, block 0.5, block 0.75, grid 0.75, each plain MAE; ``mask_ratio`` and
``baseline_ratio`` do not apply)."""


GALLERY_FOLDER = "gallery"
"""Where a run (and a table5 row) keeps its reconstruction gallery; ``--gallery-every``
galleries go to ``GALLERY_STEPS_FOLDER``/step_NNNNNN."""
GALLERY_STEPS_FOLDER = "gallery-steps"


@dataclass
class VisualizeSettings:
    """What ``maskstats visualize`` shows: reconstructions of a checkpoint next to the loss,
    the difficulty and the loss weight of every patch. Given the same seed, data, image size,
    strategy and mask ratio, every checkpoint is shown the same images and masks."""

    ckpt: str = option(
        help="a maskstats run folder or checkpoint, a Hugging Face ViTMAE folder "
        "(save_pretrained), or a facebook-MAE-style state dict (.pth, with --arch)"
    )
    arch: str | None = option(
        None,
        "facebook-MAE-style state dicts: FILE.py:FACTORY or module:FACTORY building the model "
        "(e.g. examples/tiny_models_mae.py:MaskedAutoencoderViT, models_mae:mae_vit_base_patch16)",
    )
    norm_pix_loss: bool = option(
        False,
        "facebook-MAE-style state dicts: the model predicts per-patch normalised pixels "
        "(maskstats and Hugging Face checkpoints say so themselves)",
    )
    data: str | None = option(
        None, "images to show (default: the run's pretraining data, else builtin:natural)"
    )
    n: int = option(8, "images, one row each", kind="positive_int")
    seed: int = option(0, "seed of the images, the masks and the decoder-masking tie-breaks")
    strategy: str = option("random", "mask strategy", choices=IMAGE_STRATEGIES)
    mask_ratio: float | None = option(
        None, "share of patches masked (default: the model's own)", kind="ratio"
    )
    mask_patch_size: int = option(
        32, "SimMIM masking cell in pixels (simmim only)", kind="positive_int"
    )
    target_avgdist: float | None = option(
        None, "AvgDist target in pixels (strategy difficulty)", kind="float"
    )
    metric: str | None = option(
        None,
        "difficulty metric of the difficulty and weight maps (default: the run's, else p2dist)",
        choices=PATCH_METRICS,
    )
    weighting: str | None = option(
        None, "loss weighting shown (default: the run's, else flatten)", choices=WEIGHTINGS
    )
    flatten_alpha: float | None = option(
        None,
        "flatten / histogram exponent (default: the run's, else the weighting's)",
        kind="float",
    )
    decoder_mask_ratio: float | None = option(
        None,
        "share of the hardest masked patches dropped from the decoder (default: the run's, else 0)",
        kind="ratio",
    )
    img_size: int | None = option(
        None,
        "image side in pixels (default: the model's; it must fit the model)",
        kind="positive_int",
    )
    out: str | None = option(
        None, "gallery folder (default: RUN/visualize for a run, else maskstats-gallery)"
    )
    overwrite: bool = option(False, "replace the gallery already in --out")
    device: str = option("auto", "auto (CUDA when present), cpu, cuda or cuda:N")
    title: str | None = option(None, cli=False)
    """The gallery's name on its page (default: the checkpoint's path)."""
    command: str | None = option(None, cli=False)
    """The command line shown on the page."""

    def validate(self) -> None:
        """Raise ValueError with one line for settings that cannot work."""
        if self.strategy in VARIABLE_COUNT:
            raise ValueError(
                f"strategy {self.strategy} masks a different number of patches in each image; "
                "an MAE encoder needs one count per batch"
            )
        if self.strategy == "difficulty" and self.target_avgdist is None:
            raise ValueError("strategy difficulty needs --target-avgdist")
        if self.mask_ratio is not None and self.mask_ratio <= 0:
            raise ValueError("--mask-ratio must be above 0: at 0 nothing is reconstructed")


QUICK_EVAL_IMAGES = 2000
"""``table5 --quick`` evaluates each row on at most this many images."""


@dataclass
class Table5Settings:
    """The comparison's budget and data; ``quick()`` is the short preset (60 steps a run)."""

    data: str = option("builtin:natural", "pretraining data (fashion-mnist: its train split)")
    eval_data: str = option(
        "builtin:digits", "labelled data for probe and k-NN (fashion-mnist: its test split)"
    )
    model: str = option("mae_vit_micro", "architecture", choices=tuple(CONFIGS))
    img_size: int | None = option(
        None, "image side in pixels (default: the model's)", kind="positive_int"
    )
    patch_size: int | None = option(
        None, "patch side in pixels (default: the model's)", kind="positive_int"
    )
    num_workers: int = option(0, "DataLoader workers of each run")
    mask_ratio: float = option(0.9, "the high mask ratio", kind="ratio")
    baseline_ratio: float = option(0.75, "plain MAE's ratio", kind="ratio")
    epochs: int = option(8, "epochs per run", kind="positive_int")
    max_steps: int | None = option(None, "steps per run (overrides epochs)", kind="positive_int")
    batch_size: int = option(64, "images per batch", kind="positive_int")
    blr: float = option(1.5e-4, "base lr of every run: lr = blr * batch / 256")
    warmup_share: float = option(
        0.1, "share of each run's steps spent in linear warmup (with --max-steps)", kind="ratio"
    )
    seeds: Sequence[int] = option((0, 1, 2), "seeds, e.g. 0,1,2", kind="seeds")
    metrics: Sequence[str] = option(PATCH_METRICS, cli=False)
    decoder_ratios: Sequence[float] = option((0.1, 0.2, 0.3), cli=False)
    alphas: Sequence[float] = option((0.25, 1.0), cli=False)
    """Flatten exponents tried on the k-NN-chosen metric besides the default."""
    histogram_metric: str | None = option("p2dist", cli=False)
    """The metric of the histogram-equaliser comparison row (None: no such row)."""
    flatten_definition: str = option("easy-share", cli=False)
    """What ``weighting="flatten"`` means in these runs ("histogram" before 0.2.0): a folder
    made with the other definition is not resumed."""
    dataset_length: int | None = option(
        None, "images per epoch for built-in data", kind="positive_int"
    )
    out: str = option("runs/table5", "folder of the runs and the table")
    progress: bool = option(True, cli=False)
    eval_max_images: int | None = option(
        None, "evaluate each run on a seeded subset of this many images", kind="positive_int"
    )
    eval_test_share: float = option(
        0.2, "share of the evaluation images the probe and k-NN are tested on", kind="share"
    )
    gallery_images: int = option(
        4,
        "images in each row's reconstruction gallery, the same for every row (0: none)",
        kind="int",
    )
    eval_seed: int = option(
        0,
        "seed of the evaluation subset, split, probe and masks: one for every row and seed, so "
        "all rows are measured on the same images",
    )
    rows: str = option(
        "tab5",
        "which comparison: tab5 (Efficient MAE's Tab.5 rows) or mae-sampling (MAE's Table 1(f): "
        "random 0.75, block 0.5, block 0.75 and grid 0.75 masks)",
        choices=TABLE5_ROWS,
    )
    extra: dict = option(cli=False, default_factory=dict)

    def validate(self) -> None:
        """Raise ValueError with one line for settings that cannot work on their own (each
        row's training settings are checked by ``maskstats.mae.table5.check_rows``)."""
        seeds = list(self.seeds)
        if not seeds or not all(isinstance(v, int) and not isinstance(v, bool) for v in seeds):
            raise ValueError(f"seeds must be one or more integers, got {self.seeds!r}")
        repeated = sorted({v for v in seeds if seeds.count(v) > 1})
        if repeated:
            raise ValueError(
                f"seed {repeated[0]} is repeated in --seeds {','.join(map(str, seeds))}: each "
                "seed must be a different run (repeats would fake agreement between seeds)"
            )
        if not 0.0 < self.eval_test_share < 1.0:
            raise ValueError(f"eval_test_share must be in (0, 1), got {self.eval_test_share}")

    def quick(self) -> Table5Settings:
        """60 steps per run, one seed, at most 2,000 evaluation images: every row, quickly
        (32 minutes on a shared 2-core CPU in issue 22's run)."""
        return replace(
            self,
            max_steps=60,
            seeds=(0,),
            epochs=1,
            eval_max_images=min(self.eval_max_images or QUICK_EVAL_IMAGES, QUICK_EVAL_IMAGES),
        )
