"""A reconstruction gallery folder: one 2 x 3 figure per image, all rows in one figure (PNG and
PDF), the arrays behind them (``reconstructions.npz``), an ``index.html`` and a manifest
(``maskstats-gallery.json``). Built beside ``out`` and moved into place when complete; an
existing folder is replaced only with ``overwrite`` and only if it is such a gallery. Imports no
torch: it draws what :func:`maskstats.recon.reconstructions` computed."""

from __future__ import annotations

import html
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maskstats.recon import Reconstructions
from maskstats.report.output import (
    KINDS,
    check_output,
    jsonable,
    now_text,
    package_version,
    read_manifest,
    sibling_folder,
    swap_in,
)

MANIFEST = "maskstats-gallery.json"
"""The file that marks a folder as a maskstats reconstruction gallery."""
TOOL = "maskstats visualize"
KINDS[TOOL] = "a maskstats gallery"
ARRAYS = "reconstructions.npz"
FIGURE = "reconstructions"
PANEL_DPI = 150
"""Pixels per inch of the per-image PNGs (a 5-inch panel: 750 px)."""
FIGURE_DPI = 200

CSS_EXTRA = """
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,420px),1fr));
gap:1em}
.gallery figure{margin:0}
dl.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.1em 1em;
font-size:.9em}
dl.facts dt{color:#666}dl.facts dd{margin:0;overflow-wrap:anywhere}
"""


def check_gallery_output(out: Path, overwrite: bool) -> None:
    """Refuse, before any work, a gallery folder that may not be written or replaced (one line:
    FileExistsError or ValueError)."""
    check_output(Path(out), overwrite, MANIFEST, TOOL)


def read_gallery_manifest(folder: Path) -> dict | None:
    """The manifest of the gallery ``folder``, or None when it is not one."""
    return read_manifest(Path(folder), MANIFEST, TOOL)


def is_gallery(folder: Path) -> bool:
    """Whether ``folder`` holds a maskstats gallery (its manifest)."""
    return read_gallery_manifest(folder) is not None


def remove_galleries(parent: Path, names: Sequence[str]) -> list[Path]:
    """Delete the galleries ``parent``/NAME, and the galleries inside ``parent``/NAME (e.g.
    one per training step), for each name; anything that is not a gallery stays.

    Returns:
        The folders deleted.
    """
    removed = []
    for name in names:
        folder = Path(parent) / name
        if not folder.is_dir():
            continue
        candidates = [folder] if is_gallery(folder) else sorted(folder.iterdir())
        for candidate in candidates:
            if candidate.is_dir() and is_gallery(candidate):
                shutil.rmtree(candidate)
                removed.append(candidate)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return removed


def _pixels(x: np.ndarray) -> np.ndarray:
    return np.round(np.nan_to_num(x, nan=0.5) * 255).astype(np.uint8)


def save_arrays(path: Path, rec: Reconstructions, titles: Sequence[str]) -> None:
    """Write ``rec`` (display pixels as uint8, maps as float32) and the row titles to ``path``
    (.npz), for :func:`load_arrays`."""
    arrays: dict[str, Any] = {
        "original": _pixels(rec.original),
        "masked_input": _pixels(rec.masked_input),
        "reconstruction": _pixels(rec.reconstruction),
        "mask": rec.mask,
        "dropped": rec.dropped,
        "loss": rec.loss.astype(np.float32),
        "spearman": rec.spearman,
        "scored": rec.scored,
        "titles": np.array(list(titles), dtype=str),
        "info": np.array(
            json.dumps(
                {
                    "patch_size": rec.patch_size,
                    "metric": rec.metric,
                    "norm_pix_loss": rec.norm_pix_loss,
                }
            )
        ),
    }
    for name in ("difficulty", "weights"):
        value = getattr(rec, name)
        if value is not None:
            arrays[name] = value.astype(np.float32)
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def load_arrays(path: Path) -> tuple[Reconstructions, list[str]]:
    """The rows and titles :func:`save_arrays` wrote (pixels back in [0, 1]; the
    reconstruction's dropped patches come back grey).

    Raises:
        ValueError: not such a file (one line).
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            info = json.loads(str(data["info"]))
            fields = {name: data[name] for name in data.files if name not in ("info", "titles")}
            titles = [str(t) for t in data["titles"]]
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"cannot read the gallery arrays {path}: {error}") from None
    for name in ("original", "masked_input", "reconstruction"):
        fields[name] = fields[name].astype(np.float64) / 255.0
    fields.setdefault("difficulty", None)
    fields.setdefault("weights", None)
    return Reconstructions(**fields, **info), titles


FIGURE_TEXT = (
    "Top row: the image as the model sees it (its input normalisation undone for display), "
    "the masked input (masked patches grey) and the reconstruction with the visible patches "
    "pasted back{denorm}. Bottom row, on the masked patches: the loss of each patch, the "
    "difficulty of each patch by {metric} and its loss weight; the visible patches show a "
    "faint grey copy of the image. Hatched patches were dropped by decoder masking: the "
    "decoder made no prediction there and their loss weight is 0. Every colour scale is "
    "shared by all images of this page (colour-blind-safe maps: magma, viridis, cividis). "
    "Each caption gives the Spearman rank correlation of the metric's difficulty (oriented "
    "higher = harder) with the model's loss over that image's predicted masked patches: "
    "positive when the metric ranks the patches as the model finds them."
)


def write_gallery(
    out: str | Path,
    rec: Reconstructions,
    titles: Sequence[str],
    facts: Sequence[tuple[str, str]],
    *,
    title: str,
    weighting: str | None = None,
    overwrite: bool = False,
    links: Sequence[tuple[str, str]] = (),
    manifest: Mapping | None = None,
) -> Path:
    """Write the gallery folder ``out`` for the rows ``rec``.

    Args:
        out: the folder (a new one, or a gallery to replace with ``overwrite``).
        rec: the rows, one per image.
        titles: a name per row (the image's source, or a configuration).
        facts: (label, text) pairs for the page's header (checkpoint, model, data, masks, ...).
        title: the page's heading.
        weighting: named in the weight scale's label (e.g. "flatten alpha=0.5").
        overwrite: replace an existing gallery.
        links: (text, relative href) pairs listed under "See also".
        manifest: more entries for the manifest (settings, image indices, ...).

    Returns:
        The path of index.html.

    Raises:
        FileExistsError, ValueError: ``out`` may not be written (before any work).
    """
    from maskstats import plot
    from maskstats.plot_recon import (
        caption,
        color_scales,
        reconstruction_figure,
        reconstruction_panel,
    )

    out = Path(out)
    check_gallery_output(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    build = sibling_folder(out, "build")
    build.mkdir()
    try:
        scales = color_scales(rec, weighting)
        files = []
        captions = []
        for row in range(len(rec)):
            stem = f"image_{row:03d}"
            fig = reconstruction_panel(rec, row, titles[row], scales)
            plot.save(fig, build / stem, ("png",), dpi=PANEL_DPI)
            files.append(f"{stem}.png")
            captions.append(caption(rec, row, titles[row]))
        fig = reconstruction_figure(rec, titles, scales, suptitle=title)
        files += [p.name for p in plot.save(fig, build / FIGURE, dpi=FIGURE_DPI)]
        save_arrays(build / ARRAYS, rec, titles)
        files.append(ARRAYS)
        files.append("index.html")
        text = FIGURE_TEXT.format(
            denorm=(
                ", de-normalised with each target patch's mean and variance (norm_pix_loss)"
                if rec.norm_pix_loss
                else ""
            ),
            metric=rec.metric or "(no metric)",
        )
        _write_page(build, title, facts, text, captions, scales, links)
        record = {
            "tool": TOOL,
            "version": package_version(),
            "date": now_text(),
            "title": title,
            "facts": dict(facts),
            "rows": [
                {"title": t, "spearman": _finite(s), "patches": int(c)}
                for t, s, c in zip(titles, rec.spearman, rec.scored, strict=True)
            ],
            **(manifest or {}),
            "files": sorted(files),
        }
        (build / MANIFEST).write_text(json.dumps(jsonable(record), indent=2), encoding="utf-8")
        swap_in(build, out, overwrite, MANIFEST, TOOL)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return out / "index.html"


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _write_page(
    folder: Path,
    title: str,
    facts: Sequence[tuple[str, str]],
    text: str,
    captions: Sequence[str],
    scales: Mapping,
    links: Sequence[tuple[str, str]],
) -> None:
    from maskstats.plot_recon import PANEL_WIDTH
    from maskstats.report.page import CSS

    width = round(PANEL_WIDTH * PANEL_DPI)
    rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts)
    figures = "".join(
        f'<figure><a href="image_{k:03d}.png"><img src="image_{k:03d}.png" width="{width}" '
        f'alt="{html.escape(c)}" loading="lazy"></a><figcaption>{html.escape(c)}</figcaption>'
        "</figure>"
        for k, c in enumerate(captions)
    )
    scale_items = "".join(
        f"<li><b>{html.escape(name)}</b>: {html.escape(scale.label)}</li>"
        for name, scale in scales.items()
    )
    see_also = ""
    if links:
        items = "".join(
            f'<li><a href="{html.escape(href)}">{html.escape(label)}</a></li>'
            for label, href in links
        )
        see_also = f"<section><h2>See also</h2><ul>{items}</ul></section>"
    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}{CSS_EXTRA}</style></head><body>\n"
        f"<header><h1>{html.escape(title)}</h1><dl class=facts>{rows}"
        f"<dt>maskstats</dt><dd>{html.escape(package_version())}</dd>"
        f"<dt>date</dt><dd>{now_text()}</dd></dl></header>\n"
        f"<p>{html.escape(text)}</p>\n"
        f'<section><h2>Images</h2><div class="gallery">{figures}</div></section>\n'
        f"<section><h2>Colour scales</h2><ul>{scale_items}</ul></section>\n"
        f"<section><h2>Files</h2><ul class=files>"
        f'<li><a href="{FIGURE}.pdf">{FIGURE}.pdf</a>, <a href="{FIGURE}.png">{FIGURE}.png</a>'
        " — every image in one figure (one row each)</li>"
        f'<li><a href="{ARRAYS}">{ARRAYS}</a> — the arrays behind the figures (numpy)</li>'
        f'<li><a href="{MANIFEST}">{MANIFEST}</a> — settings, per-image Spearman, file list'
        "</li></ul></section>\n"
        f"{see_also}\n</body></html>\n"
    )
    (folder / "index.html").write_text(page, encoding="utf-8")


def write_comparison(
    out: str | Path,
    galleries: Sequence[tuple[str, Path]],
    facts: Sequence[tuple[str, str]],
    *,
    title: str,
    overwrite: bool = True,
) -> Path:
    """Compare galleries made on the same images, image by image: for each image one figure
    with a row per gallery (e.g. per table5 configuration), colour scales shared by all.

    Args:
        out: the comparison's folder (a gallery folder: same manifest rules).
        galleries: (name, gallery folder) pairs, each written by :func:`write_gallery` on the
            same images.
        facts: (label, text) pairs for the page's header.
        title: the page's heading.
        overwrite: replace an earlier comparison.

    Returns:
        The path of its index.html.
    """
    from maskstats import plot
    from maskstats.plot_recon import color_scales, reconstruction_figure

    out = Path(out)
    check_gallery_output(out, overwrite)
    loaded = [(name, folder, *load_arrays(Path(folder) / ARRAYS)) for name, folder in galleries]
    if not loaded:
        raise ValueError("no gallery to compare")
    count = min(len(rec) for _, _, rec, _ in loaded)
    out.parent.mkdir(parents=True, exist_ok=True)
    build = sibling_folder(out, "build")
    build.mkdir()
    try:
        files, sections = [], []
        for k in range(count):
            rows = _stack([rec.select([k]) for _, _, rec, _ in loaded])
            names = [name for name, *_ in loaded]
            image_title = loaded[0][3][k]
            fig = reconstruction_figure(
                rows, names, color_scales(rows), suptitle=f"image {k}: {image_title}"
            )
            stem = f"compare_{k:03d}"
            files += [p.name for p in plot.save(fig, build / stem, dpi=FIGURE_DPI)]
            sections.append(
                f'<figure><a href="{stem}.png"><img src="{stem}.png" alt="image {k}" '
                f'loading="lazy"></a><figcaption>Image {k} ({html.escape(image_title)}), one '
                f'row per configuration (<a href="{stem}.pdf">PDF</a>).</figcaption></figure>'
            )
        links = "".join(
            f'<li><a href="{html.escape(_relative(Path(folder) / "index.html", out))}">'
            f"{html.escape(name)}</a></li>"
            for name, folder, *_ in loaded
        )
        from maskstats.report.page import CSS

        rows_html = "".join(f"<dt>{html.escape(a)}</dt><dd>{html.escape(b)}</dd>" for a, b in facts)
        page = (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{CSS}{CSS_EXTRA}</style></head><body>"
            f"\n<header><h1>{html.escape(title)}</h1><dl class=facts>{rows_html}</dl></header>\n"
            "<p>The same images and masks (per mask ratio) for every configuration, one figure "
            "per image with a row per configuration; colour scales are shared within a figure. "
            "Columns as in each configuration's own gallery: original, masked input, "
            "reconstruction with the visible patches pasted back, loss, difficulty and loss "
            "weight per masked patch; hatched patches were dropped by decoder masking.</p>\n"
            f"<section><h2>Each configuration's gallery</h2><ul>{links}</ul></section>\n"
            f"<section><h2>Image by image</h2>{''.join(sections)}</section>\n</body></html>\n"
        )
        (build / "index.html").write_text(page, encoding="utf-8")
        files.append("index.html")
        record = {
            "tool": TOOL,
            "version": package_version(),
            "date": now_text(),
            "title": title,
            "compared": [[name, str(folder)] for name, folder, *_ in loaded],
            "files": sorted(files),
        }
        (build / MANIFEST).write_text(json.dumps(record, indent=2), encoding="utf-8")
        swap_in(build, out, overwrite, MANIFEST, TOOL)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return out / "index.html"


def _relative(target: Path, start: Path) -> str:
    import os

    return Path(os.path.relpath(target, start)).as_posix()


def _stack(parts: Sequence[Reconstructions]) -> Reconstructions:
    """One :class:`Reconstructions` of the rows of ``parts`` (maps a part lacks are NaN)."""
    first = parts[0]
    fields = {}
    for name, value in vars(first).items():
        if not isinstance(value, np.ndarray) and value is not None:
            fields[name] = value
            continue
        values = [getattr(p, name) for p in parts]
        if all(v is None for v in values):
            fields[name] = None
            continue
        shape = next(v for v in values if v is not None).shape[1:]
        fields[name] = np.concatenate(
            [v if v is not None else np.full((1, *shape), np.nan) for v in values]
        )
    metrics = {p.metric for p in parts}
    fields["metric"] = first.metric if len(metrics) == 1 else None
    if fields["metric"] is None:
        fields["difficulty"] = None
    return Reconstructions(**fields)
