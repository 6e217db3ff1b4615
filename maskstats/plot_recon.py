"""Reconstruction figures: what an MAE makes of each masked patch, next to how hard maskstats
says the patch is and how much the loss weighs it. One row per image: the original, the masked
input, the reconstruction with the visible patches pasted back, the per-patch loss, the
difficulty of the chosen metric and the loss weight; patches dropped by decoder masking are
hatched. Every colour scale is stated on a colour bar and shared by all rows; the colour maps
(viridis, magma, cividis) are colour-blind-safe and perceptually uniform.

Re-exported by :mod:`maskstats.plot`; builds figures without pyplot (nothing to close)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.colors import Colormap, ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from maskstats.metrics import REGISTRY
from maskstats.recon import IMAGENET_MEAN, IMAGENET_STD, Reconstructions, reconstructions

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

FULL_WIDTH = 7.0
"""Inches: a two-column paper's full width (as :mod:`maskstats.plot`)."""
PANEL_WIDTH = 5.0
"""Inches: one image's 2 x 3 panel (the gallery page's figure)."""
LOSS_QUANTILE = 99.0
"""The loss colour scale ends at this percentile of every row's patch losses (one outlier does
not wash out the rest); larger losses show the top colour and the bar has an arrow."""
TITLE_HEIGHT = 0.16
"""Inches the column titles take above the first row."""
CHAR_WIDTH_PT = 3.8
"""About the width of one 6-point character, to wrap a colour bar's label to its bar."""
MASKED_GREY = 0.5
"""Grey of the masked patches in the masked input (and of dropped patches)."""
HATCH = "xxxx"
BACKGROUND = (0.78, 0.98)
"""Lightness range of the faint grey image under the map panels (visible patches)."""
STYLE: dict[RcKeyType, Any] = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 7,
    "xtick.labelsize": 6,
    "ytick.labelsize": 6,
    "figure.titlesize": 8,
    "hatch.linewidth": 0.6,
}

LOSS_CMAP = "magma"
LOSS_CMAP_TOP = 0.85
DIFFICULTY_CMAP = "viridis"
WEIGHT_CMAP = "cividis"


@dataclass(frozen=True)
class Scale:
    """One colour scale: what it shows, its map and range."""

    label: str
    short: str
    cmap: Colormap
    norm: Normalize
    extend: str = "neither"

    def mappable(self) -> matplotlib.cm.ScalarMappable:
        """A mappable for a colour bar of this scale."""
        return matplotlib.cm.ScalarMappable(norm=self.norm, cmap=self.cmap)


def _cmap(name: str, top: float = 1.0) -> Colormap:
    """The colour map ``name`` up to ``top`` of its range (magma's near-white end is cut, so
    that no value looks like the light background of the visible patches)."""
    base = matplotlib.colormaps[name]
    if top >= 1.0:
        return base
    return ListedColormap(base(np.linspace(0.0, top, 256)), name=f"{name}_to_{top:g}")


def _range(values: np.ndarray | None) -> tuple[float, float] | None:
    if values is None:
        return None
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    return float(finite.min()), float(finite.max())


def color_scales(rec: Reconstructions, weighting: str | None = None) -> dict[str, Scale]:
    """The colour scales of the map panels, shared by every row of ``rec``.

    Args:
        rec: the rows (:func:`maskstats.recon.reconstructions`).
        weighting: named in the weight bar's label (e.g. "flatten alpha=0.5").

    Returns:
        {"loss": ..., "difficulty": ... (with a metric), "weights": ... (with weights)}.
    """
    scales = {}
    finite = rec.loss[np.isfinite(rec.loss)]
    top = float(np.percentile(finite, LOSS_QUANTILE)) if finite.size else 1.0
    top = top if top > 0 else (float(finite.max()) if finite.size and finite.max() > 0 else 1.0)
    space = "per-patch normalised pixels" if rec.norm_pix_loss else "model-input pixels"
    scales["loss"] = Scale(
        f"loss per patch: MSE of {space} (0 to its {LOSS_QUANTILE:g}th percentile)",
        "loss: MSE of " + ("normalised patch" if rec.norm_pix_loss else "input") + " pixels",
        _cmap(LOSS_CMAP, LOSS_CMAP_TOP),
        Normalize(0.0, top),
        "max" if finite.size and finite.max() > top else "neither",
    )
    span = _range(rec.difficulty)
    if rec.metric is not None:
        info = REGISTRY[rec.metric]
        low, high = span if span is not None else (0.0, 1.0)
        if high <= low:
            low, high = low - 0.5, high + 0.5
        name = DIFFICULTY_CMAP if info.higher_is_harder else f"{DIFFICULTY_CMAP}_r"
        way = "higher" if info.higher_is_harder else "lower"
        scales["difficulty"] = Scale(
            f"{rec.metric} [{info.unit}], {way} = harder (shown brighter)",
            f"{rec.metric} [{info.unit}], brighter = harder",
            _cmap(name),
            Normalize(low, high),
        )
    if rec.weights is not None:
        span = _range(rec.weights)
        high = span[1] if span is not None and span[1] > 0 else 1.0
        what = f" ({weighting})" if weighting else ""
        scales["weights"] = Scale(
            f"loss weight{what}, mean 1 over the predicted patches of these images",
            "loss weight (mean 1)",
            _cmap(WEIGHT_CMAP),
            Normalize(0.0, high),
        )
    return scales


COLUMN_TITLES = {
    "original": "original",
    "masked": "masked input",
    "reconstruction": "reconstruction + visible",
    "loss": "loss per patch",
    "difficulty": "difficulty",
    "weights": "loss weight",
}


def _columns(rec: Reconstructions) -> list[str]:
    columns = ["original", "masked", "reconstruction", "loss"]
    if rec.difficulty is not None:
        columns.append("difficulty")
    if rec.weights is not None:
        columns.append("weights")
    return columns


def caption(rec: Reconstructions, row: int, title: str | None = None) -> str:
    """One row's caption: the Spearman of difficulty against loss over its predicted masked
    patches (or the mean loss without a metric), and how many patches the decoder dropped."""
    head = f"{title}: " if title else ""
    count = int(rec.scored[row])
    if rec.metric is not None:
        value = rec.spearman[row]
        shown = f"{value:+.2f}" if np.isfinite(value) else "n/a"
        text = f"Spearman({rec.metric} difficulty, loss) = {shown} over {count} masked patches"
    else:
        text = f"mean loss {np.nanmean(rec.loss[row]):.3f} over {count} masked patches"
    dropped = int(rec.dropped[row].sum())
    if dropped:
        text += f"; {dropped} dropped by decoder masking (hatched)"
    return head + text


def _image(ax: Any, pixels: np.ndarray) -> None:
    shown = np.where(np.isnan(pixels), MASKED_GREY, pixels)
    if shown.shape[-1] == 1:
        ax.imshow(shown[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(shown, interpolation="nearest")


def _background(pixels: np.ndarray) -> np.ndarray:
    """A faint grey copy of the image (lightness 0.78-0.98) under the map panels: visible
    patches show where they are without competing with the colour scale."""
    grey = np.nan_to_num(pixels).mean(axis=-1)
    return np.repeat((BACKGROUND[0] + (BACKGROUND[1] - BACKGROUND[0]) * grey)[..., None], 3, -1)


def _map(ax: Any, values: np.ndarray, scale: Scale, patch_size: int, under: np.ndarray) -> None:
    h, w = values.shape
    ax.imshow(_background(under), interpolation="nearest")
    ax.imshow(
        np.ma.masked_invalid(values),
        cmap=scale.cmap,
        norm=scale.norm,
        interpolation="nearest",
        extent=(-0.5, w * patch_size - 0.5, h * patch_size - 0.5, -0.5),
    )


def _hatch(ax: Any, dropped: np.ndarray, patch_size: int, fill: bool) -> None:
    """Hatch the patches the decoder dropped; ``fill``: on mid grey (they have no value)."""
    p = patch_size
    for i, j in zip(*np.nonzero(dropped), strict=True):
        ax.add_patch(
            Rectangle(
                (j * p - 0.5, i * p - 0.5),
                p,
                p,
                fill=fill,
                facecolor=str(MASKED_GREY),
                hatch=HATCH,
                lw=0,
                edgecolor="0.1",
            )
        )


def _draw(ax: Any, rec: Reconstructions, row: int, column: str, scales: dict) -> None:
    p = rec.patch_size
    if column == "original":
        _image(ax, rec.original[row])
    elif column == "masked":
        _image(ax, rec.masked_input[row])
    elif column == "reconstruction":
        _image(ax, rec.reconstruction[row])
        _hatch(ax, rec.dropped[row], p, fill=True)
    else:
        values = {"loss": rec.loss, "difficulty": rec.difficulty, "weights": rec.weights}[column]
        assert values is not None  # a column is shown only for values the figure has
        _map(ax, values[row], scales[column], p, rec.original[row])
        _hatch(ax, rec.dropped[row], p, fill=column != "difficulty")  # no loss, weight 0
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("0.6")
        spine.set_linewidth(0.5)


def _column_title(rec: Reconstructions, column: str) -> str:
    if column == "difficulty" and rec.metric is not None:
        return f"difficulty: {rec.metric}"
    return COLUMN_TITLES[column]


def reconstruction_figure(
    rec: Reconstructions,
    titles: Sequence[str] | None = None,
    scales: dict[str, Scale] | None = None,
    weighting: str | None = None,
    suptitle: str | None = None,
) -> Figure:
    """All rows in one figure (for a paper or a PDF): one row per image, a caption above each
    row, one colour bar per map column at the bottom (shared by every row).

    Args:
        rec: the rows.
        titles: a name per row (e.g. the image, or the configuration in a comparison).
        scales: colour scales (default: :func:`color_scales` of ``rec``).
        weighting: named in the weight bar's label.
        suptitle: the figure's title.

    Returns:
        The figure (full paper width).
    """
    scales = scales or color_scales(rec, weighting)
    columns = _columns(rec)
    n = len(rec)
    side = FULL_WIDTH / len(columns)
    row_height = side * 0.93 + 0.22
    bar_height = 0.8
    with matplotlib.rc_context(STYLE):
        fig = Figure(
            figsize=(
                FULL_WIDTH,
                n * row_height + TITLE_HEIGHT + bar_height + (0.3 if suptitle else 0.0),
            ),
            layout="constrained",
        )
        # The first row also holds the column titles: as much more height, so that its panels
        # come out as large as the others'.
        heights = [row_height + TITLE_HEIGHT] + [row_height] * (n - 1) + [bar_height]
        # n + 1 >= 2 rows: an array of subfigures
        subfigs = cast("np.ndarray", fig.subfigures(n + 1, 1, height_ratios=heights))
        for row in range(n):
            sub = subfigs[row]
            axes = sub.subplots(1, len(columns))
            for ax, column in zip(axes, columns, strict=True):
                _draw(ax, rec, row, column, scales)
                if row == 0:
                    ax.set_title(_column_title(rec, column))
            title = titles[row] if titles is not None else f"image {row}"
            sub.suptitle(caption(rec, row, title), x=0.005, ha="left", fontsize=7)
        bars = subfigs[n].subplots(1, len(columns))
        for ax, column in zip(bars, columns, strict=True):
            if column in scales:
                _colorbar(subfigs[n], ax, scales[column], scales[column].label, side)
            else:
                ax.axis("off")
        if suptitle:
            fig.suptitle(suptitle)
    return fig


def _colorbar(fig: Any, cax: Any, scale: Scale, label: str, width: float) -> None:
    """A horizontal colour bar in ``cax`` with at most 4 ticks and its label, wrapped."""
    bar = fig.colorbar(scale.mappable(), cax=cax, orientation="horizontal", extend=scale.extend)
    bar.ax.tick_params(labelsize=6, length=2, pad=1)
    bar.locator = matplotlib.ticker.MaxNLocator(4)
    bar.update_ticks()
    chars = max(12, int(width * 72 / CHAR_WIDTH_PT))
    bar.set_label(textwrap.fill(label, chars), fontsize=6, labelpad=2)


def reconstruction_panel(
    rec: Reconstructions,
    row: int,
    title: str | None = None,
    scales: dict[str, Scale] | None = None,
    weighting: str | None = None,
) -> Figure:
    """One image as a 2 x 3 panel (the gallery page's figure, readable on a phone): original,
    masked input and reconstruction above; loss, difficulty and weight maps below, each with
    its colour bar (pass the ``scales`` of all rows so that every panel shares them).

    Args:
        rec: the rows.
        row: which one.
        title: the image's name, in the caption above the panel.
        scales: colour scales (default: :func:`color_scales` of ``rec``).
        weighting: named in the weight bar's label.

    Returns:
        The figure (5 inches wide).
    """
    scales = scales or color_scales(rec, weighting)
    columns = _columns(rec)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(PANEL_WIDTH, PANEL_WIDTH * 0.9), layout="constrained")
        axes = fig.subplots(2, 3)
        for ax, column in zip(axes[0], columns[:3], strict=True):
            _draw(ax, rec, row, column, scales)
            ax.set_title(_column_title(rec, column))
        maps = columns[3:]
        shown: list[str | None] = [*maps, *[None] * (3 - len(maps))]
        for ax, name in zip(axes[1], shown, strict=True):
            if name is None:
                ax.axis("off")
                continue
            _draw(ax, rec, row, name, scales)
            ax.set_title(_column_title(rec, name))
            cax = ax.inset_axes([0.0, -0.13, 1.0, 0.06])
            _colorbar(fig, cax, scales[name], scales[name].short, PANEL_WIDTH / 3)
        fig.suptitle(caption(rec, row, title), fontsize=7, wrap=True)
    return fig


def reconstruction_gallery(
    images: Any,
    mask: Any,
    pred: Any,
    patch_size: int,
    norm_pix_loss: bool = False,
    *,
    metric: str | None = "p2dist",
    difficulty: Any = None,
    loss: Any = None,
    weights: Any = None,
    decoder_keep: Any = None,
    mean: Any = IMAGENET_MEAN,
    std: Any = IMAGENET_STD,
    titles: Sequence[str] | None = None,
    weighting: str | None = None,
) -> Figure:
    """The reconstruction figure from what any MAE returns, one row per image.

    Example with Hugging Face (``noise`` fixes the masks; ``outputs.mask`` is 1 = masked)::

        outputs = model(pixel_values=pixels, noise=noise)
        fig = reconstruction_gallery(pixels, outputs.mask.bool(), outputs.logits,
                                     model.config.patch_size, model.config.norm_pix_loss)

    Args:
        images: (N, C, H, W) model-input pixels (numpy or torch).
        mask: (N, L) or (N, h, w), True = masked.
        pred: (N, L, p*p*C) predicted patches (HF ``logits``, facebook MAE ``pred``).
        patch_size: p in pixels.
        norm_pix_loss: the model predicts per-patch normalised pixels (the reconstruction
            is de-normalised with each target patch's mean and variance).
        metric: difficulty metric of the difficulty map and the Spearman (None: neither).
        difficulty: (N, L) the metric's values (default: computed from the mask).
        loss: (N, L) per-patch loss (default: MAE's, from pred and the images).
        weights: (N, L) loss weights (None: no weight map).
        decoder_keep: (N, L) True = masked patch the decoder predicted (default: all).
        mean: per-channel normalisation mean to undo for display (None: images in [0, 1]).
        std: per-channel normalisation std.
        titles: a name per row.
        weighting: named in the weight bar's label.

    Returns:
        The figure (:func:`reconstruction_figure`).
    """
    rec = reconstructions(
        images,
        mask,
        pred,
        patch_size,
        norm_pix_loss,
        metric=metric,
        difficulty=difficulty,
        loss=loss,
        weights=weights,
        decoder_keep=decoder_keep,
        mean=mean,
        std=std,
    )
    return reconstruction_figure(rec, titles, weighting=weighting)
