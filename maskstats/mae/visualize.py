"""``maskstats visualize``: reconstructions of any MAE checkpoint next to the loss, the
difficulty and the loss weight of every patch. Loads a maskstats run or checkpoint, a Hugging
Face ``ViTMAEForPreTraining`` folder (``save_pretrained``) or a facebook-MAE-style state dict
(with the factory that builds its model) and writes its gallery (:mod:`maskstats.mae.gallery`);
also the galleries of the table5 rows and their image-by-image comparison."""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from maskstats.mae.checkpoint import MODEL_KEYS, checkpoint_file, load_checkpoint
from maskstats.mae.config import GALLERY_FOLDER, Table5Settings, VisualizeSettings
from maskstats.mae.data import IMAGENET_MEAN, IMAGENET_STD
from maskstats.mae.evaluate import load_pretrained
from maskstats.mae.gallery import (
    FB_MASK_RATIO,
    LoadedMAE,
    facts,
    from_run,
    resolve_shown,
    run_gallery,
)
from maskstats.mae.train import pick_device
from maskstats.masks.strategies import import_callable
from maskstats.report.gallery import (
    check_gallery_output,
    read_gallery_manifest,
    write_comparison,
    write_gallery,
)

DEFAULT_OUT = "maskstats-gallery"
VISUALIZE_FOLDER = "visualize"
"""``maskstats visualize``'s folder inside a run (RUN/gallery is the trainer's own)."""


def _size(value: Any) -> int:
    """An HF image/patch size (an int or a pair) as one side; a non-square one is refused."""
    if isinstance(value, list | tuple):
        if len(set(value)) != 1:
            raise ValueError(f"non-square sizes are not supported, got {value}")
        return int(value[0])
    return int(value)


def load_hf(folder: Path) -> LoadedMAE:
    """A Hugging Face ``ViTMAEForPreTraining`` saved with ``save_pretrained`` in ``folder``
    (read locally; nothing is downloaded). Its input normalisation comes from
    ``preprocessor_config.json`` when the folder has one (else ImageNet's).

    Raises:
        ValueError: not a ViTMAE pretraining model, no weights, or transformers missing.
    """
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read {folder / 'config.json'}: {error}") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type != "vit_mae":
        raise ValueError(
            f"wrong architecture: {folder} holds a Hugging Face {model_type!r} model, not "
            "ViTMAE (model_type vit_mae)"
        )
    architectures = config.get("architectures") or ["ViTMAEForPreTraining"]
    if "ViTMAEForPreTraining" not in architectures:
        raise ValueError(
            f"wrong architecture: {folder} holds {', '.join(architectures)}, which has no "
            "decoder; save the ViTMAEForPreTraining model"
        )
    try:
        from transformers import ViTMAEForPreTraining
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise ValueError(
            "a Hugging Face model needs transformers: pip install 'maskstats[hf]'"
        ) from None
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        model = ViTMAEForPreTraining.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(f"cannot load the Hugging Face model in {folder}: {first}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    c = model.config
    mean, std = tuple(IMAGENET_MEAN.flatten().tolist()), tuple(IMAGENET_STD.flatten().tolist())
    processor = folder / "preprocessor_config.json"
    if processor.is_file():
        try:
            settings = json.loads(processor.read_text())
            mean = tuple(float(v) for v in settings.get("image_mean", mean))
            std = tuple(float(v) for v in settings.get("image_std", std))
        except (OSError, ValueError, TypeError) as error:
            raise ValueError(f"cannot read {processor}: {error}") from None
    return LoadedMAE(
        "huggingface",
        model,
        _size(c.image_size),
        _size(c.patch_size),
        int(c.num_channels),
        bool(c.norm_pix_loss),
        float(c.mask_ratio),
        mean,
        std,
        describe=f"Hugging Face ViTMAEForPreTraining ({folder})",
    )


FB_SHAPES = {
    "patch_size": lambda sd: sd["patch_embed.proj.weight"].shape[-1],
    "in_chans": lambda sd: sd["patch_embed.proj.weight"].shape[1],
    "embed_dim": lambda sd: sd["patch_embed.proj.weight"].shape[0],
    "img_size": lambda sd: (
        math.isqrt(sd["pos_embed"].shape[1] - 1) * sd["patch_embed.proj.weight"].shape[-1]
    ),
    "depth": lambda sd: _count_blocks(sd, "blocks."),
    "decoder_embed_dim": lambda sd: sd["decoder_embed.weight"].shape[0],
    "decoder_depth": lambda sd: _count_blocks(sd, "decoder_blocks."),
}
"""What a facebook-MAE state dict fixes about its model (the head counts it does not)."""


def _count_blocks(state_dict: dict, prefix: str) -> int:
    found = {key[len(prefix) :].split(".")[0] for key in state_dict if key.startswith(prefix)}
    return len([part for part in found if part.isdigit()])


def load_fb(path: Path, state: dict, arch: str | None, norm_pix_loss: bool) -> LoadedMAE:
    """A facebook-MAE-style state dict (``{"model": state_dict}`` or the state dict itself)
    with the model ``arch`` builds: ``FILE.py:FACTORY`` or ``module:FACTORY`` (a class or a
    function). Arguments of the factory that the state dict fixes (img_size, patch_size,
    in_chans, embed_dim, depth, decoder_embed_dim, decoder_depth) are passed when its
    signature names them; head counts keep the factory's defaults. ``norm_pix_loss`` (which the
    weights do not say) is passed when the factory names it or takes ``**kwargs``.

    Raises:
        ValueError: no --arch, not such a state dict, or a model it does not fit.
    """
    weights = state.get("model", state)
    if not isinstance(weights, dict) or "patch_embed.proj.weight" not in weights:
        raise ValueError(
            f"wrong architecture: {path} holds neither a maskstats checkpoint nor a "
            "facebook-MAE-style state dict (no patch_embed.proj.weight)"
        )
    if not arch:
        raise ValueError(
            f"{path} is a facebook-MAE-style state dict: pass --arch FILE.py:FACTORY building "
            "its model (e.g. examples/tiny_models_mae.py:MaskedAutoencoderViT)"
        )
    factory = import_callable(arch, "--arch")
    try:
        inferred = {name: int(get(weights)) for name, get in FB_SHAPES.items()}
    except (KeyError, IndexError, AttributeError, ValueError) as error:
        raise ValueError(
            f"wrong architecture: {path} is not a facebook-MAE state dict (no {error})"
        ) from None
    accepted: Mapping[str, inspect.Parameter]
    try:
        accepted = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        accepted = {}
    kwargs = {k: v for k, v in inferred.items() if k in accepted}
    forwards = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    if "norm_pix_loss" in accepted or forwards:  # facebook's factories pass **kwargs on
        kwargs["norm_pix_loss"] = norm_pix_loss
    try:
        model = factory(**kwargs)
        model.load_state_dict(weights)
    except Exception as error:  # the user's factory: any failure is one line
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(f"wrong architecture: {arch} does not fit {path}: {first}") from None
    if not isinstance(model, nn.Module):
        raise ValueError(f"--arch {arch} returned a {type(model).__name__}, not a torch module")
    return LoadedMAE(
        "facebook-mae",
        model.eval(),
        inferred["img_size"],
        inferred["patch_size"],
        inferred["in_chans"],
        norm_pix_loss,
        FB_MASK_RATIO,
        describe=f"facebook-MAE-style {arch} ({path})",
    )


def load_mae(path: str | Path, arch: str | None = None, norm_pix_loss: bool = False) -> LoadedMAE:
    """Load any supported MAE checkpoint (see the module's docstring).

    Args:
        path: a maskstats run folder or checkpoint file, a Hugging Face model folder, or a
            facebook-MAE-style state dict file.
        arch: ``FILE.py:FACTORY`` for facebook-MAE-style state dicts.
        norm_pix_loss: facebook-MAE-style state dicts: the model predicts per-patch
            normalised pixels (the weights do not say).

    Raises:
        ValueError: one line: missing, unreadable, or not an MAE this can run.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"checkpoint {path} does not exist")
    if path.is_dir():
        if (path / "checkpoint.pt").is_file():
            model, state = load_pretrained(path)
            return from_run(model, state, checkpoint_file(path))
        if (path / "config.json").is_file():
            return load_hf(path)
        raise ValueError(
            f"{path} holds neither a maskstats run (checkpoint.pt) nor a Hugging Face model "
            "(config.json)"
        )
    state = load_checkpoint(path)
    if all(key in state for key in MODEL_KEYS):
        model, state = load_pretrained(path)
        return from_run(model, state, path)
    return load_fb(path, state, arch, norm_pix_loss)


def check_fits(loaded: LoadedMAE, img_size: int | None) -> int:
    """The image side to use: the model's; another ``img_size`` is refused (one line)."""
    if img_size is not None and img_size != loaded.img_size:
        raise ValueError(
            f"--img-size {img_size} does not fit the model: it takes {loaded.img_size} px images "
            f"({loaded.patch_size} px patches, a {loaded.grid[0]}x{loaded.grid[1]} grid)"
        )
    if loaded.in_chans != 3:
        raise ValueError(
            f"the model takes {loaded.in_chans}-channel images; maskstats' data sources give RGB"
        )
    return loaded.img_size


def default_out(s: VisualizeSettings) -> Path:
    """``--out``, else RUN/visualize for a run folder (or a checkpoint in one), else
    maskstats-gallery."""
    if s.out:
        return Path(s.out)
    path = Path(s.ckpt)
    if path.is_dir() and (path / "checkpoint.pt").is_file():
        return path / VISUALIZE_FOLDER
    if path.is_file() and (path.parent / "config.json").is_file() and path.suffix == ".pt":
        return path.parent / VISUALIZE_FOLDER
    return Path(DEFAULT_OUT)


def visualize(settings: VisualizeSettings) -> dict:
    """Load the checkpoint, make the rows and write the gallery.

    Returns:
        {"out": the folder, "index": its index.html, "rows": per image (title, Spearman,
        patches), "kind": the checkpoint's kind}.
    """
    s = settings
    s.validate()
    out = default_out(s)
    check_gallery_output(out, s.overwrite)  # before the model loads
    device = pick_device(s.device)
    loaded = load_mae(s.ckpt, s.arch, s.norm_pix_loss)
    check_fits(loaded, s.img_size)
    shown = resolve_shown(s, loaded)
    loaded.model.to(device)
    rec, titles, extra = run_gallery(loaded, shown, s.n, s.seed, device)
    title = s.title or f"Reconstructions: {s.ckpt}"
    index = write_gallery(
        out,
        rec,
        titles,
        facts(loaded, shown, s.seed, s.command),
        title=title,
        weighting=shown.weighting_label(),
        overwrite=s.overwrite,
        manifest=extra,
    )
    rows = [(t, float(r), int(c)) for t, r, c in zip(titles, rec.spearman, rec.scored, strict=True)]
    return {"out": out, "index": index, "rows": rows, "kind": loaded.kind}


def row_gallery(
    checkpoint: Path,
    out: Path,
    data: str,
    n: int,
    seed: int,
    name: str,
    device: str = "auto",
    strategy: str = "random",
) -> Path:
    """One table5 row's gallery: the row's checkpoint on the evaluation images (``data``),
    with the row's own mask strategy (``strategy``: block and grid in the mae-sampling rows),
    mask ratio, weighting and decoder masking, P²Dist as the difficulty shown (the same for
    every row, so the comparison can stack them).

    Returns:
        The gallery folder.
    """
    s = VisualizeSettings(
        ckpt=str(checkpoint),
        data=data,
        n=n,
        seed=seed,
        metric="p2dist",
        strategy=strategy,
        out=str(out),
        overwrite=True,
        device=device,
        title=f"Reconstructions: {name}",
    )
    visualize(s)
    return out


def _is_current(
    gallery: Path, n: int, seed: int, data: str, step: int | None, strategy: str = "random"
) -> bool:
    """Whether ``gallery`` was made with these images and ``strategy``'s masks from a
    checkpoint at ``step``."""
    manifest = read_gallery_manifest(gallery)
    if manifest is None:
        return False
    shown = manifest.get("shown") or {}
    return (
        manifest.get("requested") == n
        and manifest.get("seed") == seed
        and shown.get("data") == data
        and shown.get("strategy", "random") == strategy
        and manifest.get("step") == step
    )


def table5_galleries(s: Table5Settings, rows: Sequence, echo: Callable[[str], None]) -> Path:
    """Each table5 row's gallery (its first seed's checkpoint, ``s.gallery_images`` evaluation
    images of ``s.eval_data`` chosen by ``s.eval_seed``: the same images for every row, and the
    same masks for rows of one mask strategy and ratio), an image-by-image comparison of all rows
    (OUT/gallery) and OUT/gallery.md linking them; a row's gallery already made from the same
    checkpoint step and images is kept.

    Returns:
        The path of gallery.md.
    """
    out = Path(s.out)
    seed = s.seeds[0]
    made = []
    for row in rows:
        run = out / row.slug / f"seed{seed}"
        if not (run / "checkpoint.pt").is_file():
            continue
        gallery = out / row.slug / GALLERY_FOLDER
        step = (
            int(json.loads((run / "eval.json").read_text()).get("step", 0))
            if (run / "eval.json").is_file()
            else None
        )
        strategy = getattr(row, "strategy", "random")
        if step is None or not _is_current(
            gallery, s.gallery_images, s.eval_seed, s.eval_data, step, strategy
        ):
            echo(f"gallery {row.name} -> {gallery}")
            row_gallery(
                run,
                gallery,
                s.eval_data,
                s.gallery_images,
                s.eval_seed,
                row.name,
                strategy=strategy,
            )
        made.append((row.name, gallery))
    compare = out / GALLERY_FOLDER
    facts = [
        ("table", str(out / "table5.md")),
        ("images", f"{s.gallery_images} of {s.eval_data} (seed {s.eval_seed})"),
        ("checkpoints", f"seed {seed} of each configuration"),
    ]
    write_comparison(compare, made, facts, title="table5: reconstructions, row by row")
    lines = [
        "# Reconstructions of every table5 row",
        "",
        f"The same {s.gallery_images} evaluation images ({s.eval_data}, seed {s.eval_seed}) for "
        f"every row (seed {seed}'s checkpoint), the same masks for rows of one mask strategy "
        "and ratio. "
        f"Image by image, every row in one figure: [{GALLERY_FOLDER}/index.html]"
        f"({GALLERY_FOLDER}/index.html).",
        "",
        "| configuration | gallery | mean Spearman(p2dist, loss) over images |",
        "|:--|:--|--:|",
    ]
    for name, gallery in made:
        manifest = read_gallery_manifest(gallery) or {}
        values = [r["spearman"] for r in manifest.get("rows", []) if r.get("spearman") is not None]
        mean = f"{sum(values) / len(values):+.3f}" if values else ""
        link = f"{gallery.relative_to(out).as_posix()}/index.html"
        lines.append(f"| {name} | [{link}]({link}) | {mean} |")
    path = out / "gallery.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
