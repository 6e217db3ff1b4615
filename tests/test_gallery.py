"""The gallery folder and its pages (no torch): files, manifest, arrays that read back,
replacement rules, the image-by-image comparison, and both pages in headless Chromium at 1400
and 400 px without horizontal overflow of the page."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from maskstats import recon
from maskstats.masks import random_masks
from maskstats.report.gallery import (
    MANIFEST,
    load_arrays,
    remove_galleries,
    write_comparison,
    write_gallery,
)
from tests.test_report import CHROMIUM_ARGS, _browser_or_skip

FACTS = [("checkpoint", "a/very/long/path/" * 8 + "checkpoint.pt"), ("masks", "random, 0.75")]


def _rows(seed=0, n=3, grid=8, p=4):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n, 3, grid * p, grid * p))
    mask = random_masks(n, grid, 0.75, seed=seed).reshape(n, -1)
    keep = mask.copy()
    keep[:, np.argmax(mask[0])] = False
    pred = rng.normal(size=(n, grid * grid, p * p * 3))
    weights = np.where(keep, rng.uniform(0.2, 2.0, mask.shape), 0.0)
    return recon.reconstructions(
        images, mask, pred, p, True, metric="p2dist", weights=weights, decoder_keep=keep & mask
    )


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("g") / "gallery"
    write_gallery(out, _rows(), ["a", "b", "c"], FACTS, title="Reconstructions: test")
    return out


def test_gallery_files_manifest_and_arrays(gallery):
    manifest = json.loads((gallery / MANIFEST).read_text())
    names = sorted(p.name for p in gallery.iterdir())
    assert sorted(manifest["files"] + [MANIFEST]) == names
    assert {"image_000.png", "image_002.png", "reconstructions.pdf", "index.html"} <= set(names)
    rec = _rows()
    assert [r["spearman"] for r in manifest["rows"]] == pytest.approx(rec.spearman.tolist())
    back, titles = load_arrays(gallery / "reconstructions.npz")
    assert titles == ["a", "b", "c"]
    np.testing.assert_allclose(back.loss, rec.loss, rtol=1e-6)
    np.testing.assert_array_equal(back.dropped, rec.dropped)
    assert np.abs(back.original - rec.original).max() <= 0.5 / 255 + 1e-12
    page = (gallery / "index.html").read_text()
    assert 'name="viewport"' in page and "Spearman(p2dist difficulty, loss)" in page
    assert "http" not in page.replace("https://", "").split("<style>")[0]  # relative links only


def test_existing_folder_is_replaced_only_when_it_is_a_gallery(tmp_path):
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_gallery(foreign, _rows(), ["a", "b", "c"], FACTS, title="t")
    with pytest.raises(ValueError, match="not a maskstats gallery"):
        write_gallery(foreign, _rows(), ["a", "b", "c"], FACTS, title="t", overwrite=True)
    assert (foreign / "keep.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["notes"]  # no build folder left behind
    out = tmp_path / "g"
    write_gallery(out, _rows(), ["a", "b", "c"], FACTS, title="first")
    write_gallery(out, _rows(1), ["x", "y", "z"], FACTS, title="second", overwrite=True)
    assert json.loads((out / MANIFEST).read_text())["title"] == "second"
    assert remove_galleries(tmp_path, ["g", "notes"]) == [out]
    assert not out.exists() and (foreign / "keep.txt").exists()


def test_comparison_stacks_galleries_image_by_image(gallery, tmp_path):
    other = tmp_path / "other"
    write_gallery(other, _rows(1), ["a", "b", "c"], FACTS, title="other")
    index = write_comparison(
        tmp_path / "compare", [("row one", gallery), ("row two", other)], FACTS, title="cmp"
    )
    page = index.read_text()
    assert page.count("<figure>") == 3
    assert os.path.relpath(gallery / "index.html", tmp_path / "compare") in page
    assert (tmp_path / "compare" / "compare_002.pdf").stat().st_size > 1000
    # A rerun (table5 run again) replaces its own comparison, and only that (#25, #27 item 3).
    again = write_comparison(tmp_path / "compare", [("row two", other)], FACTS, title="cmp2")
    assert again.read_text().count("<figure>") == 3 and "row one" not in again.read_text()
    assert json.loads((tmp_path / "compare" / MANIFEST).read_text())["title"] == "cmp2"
    (tmp_path / "compare" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="notes.txt"):
        write_comparison(tmp_path / "compare", [("row one", gallery)], FACTS, title="cmp3")
    assert (tmp_path / "compare" / "notes.txt").read_text() == "mine"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def _open(page_path: Path, width: int, shots: Path):
    sync_playwright, executable = _browser_or_skip()
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_path.resolve().as_uri())
            page.wait_for_load_state("load")
            page.evaluate("() => Promise.all([...document.images].map(i => i.decode()))")
            found = page.evaluate(
                """() => ({
                    scrollWidth: document.scrollingElement.scrollWidth,
                    innerWidth: window.innerWidth,
                    images: [...document.images].map(i => ({
                        src: i.getAttribute('src'), natural: i.naturalWidth,
                        shown: i.getBoundingClientRect().width,
                        right: i.getBoundingClientRect().right})),
                })"""
            )
            page.screenshot(
                path=str(shots / f"{page_path.parent.name}-{width}px.png"), full_page=True
            )
        finally:
            browser.close()
    return errors, found


@pytest.mark.parametrize("width", [1400, 400])
def test_gallery_pages_in_a_real_browser(gallery, tmp_path, width):
    shots = Path(os.environ.get("MASKSTATS_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    compare = write_comparison(
        tmp_path / "compare", [("row one", gallery), ("row two", gallery)], FACTS, title="cmp"
    )
    for index, count in ((gallery / "index.html", 3), (compare, 3)):
        errors, found = _open(index, width, shots)
        assert errors == []
        assert found["scrollWidth"] <= found["innerWidth"], (index, found["scrollWidth"])
        assert len(found["images"]) == count
        for image in found["images"]:
            assert image["natural"] > 0, image["src"]
            assert 0 < image["shown"] and image["right"] <= width, image
