"""The documentation site builds with ``mkdocs build --strict`` (a warning, a broken link or an
undocumented public name fails it), and the build hook (docs/hooks.py) does what it says: the
CLI reference comes from the parser, the API check names what is missing, links into the
repository resolve. Skipped where the ``[docs]`` extra is not installed; CI installs it and sets
MASKSTATS_REQUIRE_DOCS=1, where a missing module fails instead of skipping."""

import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
for _module in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter", "griffe"):
    if os.environ.get("MASKSTATS_REQUIRE_DOCS") == "1":
        importlib.import_module(_module)
    else:
        pytest.importorskip(_module, reason="the [docs] extra is not installed")


@pytest.fixture(scope="module")
def hooks():
    spec = importlib.util.spec_from_file_location("maskstats_docs_hooks", ROOT / "docs/hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_site_builds_strict(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    # Every public name has its entry, under the module's own path.
    masks = (site / "reference/masks/index.html").read_text(encoding="utf-8")
    for name in ("random_masks", "difficulty_masks", "multiblock_masks", "GridLike"):
        assert f'id="maskstats.masks.{name}"' in masks
    torch_page = (site / "reference/torch/index.html").read_text(encoding="utf-8")
    assert 'id="maskstats.torch.DifficultyWeighting"' in torch_page
    # The CLI page holds every subcommand's options, from the parser.
    cli = (site / "cli/index.html").read_text(encoding="utf-8")
    for flag in ("--target-avgdist", "--flatten-min-share", "--decoder-mask-ratio", "--eval-seed"):
        assert flag in cli
    # The figures the pages show are served, byte for byte.
    figure = "figures/table5_fashion_mnist/table5.png"
    assert (site / figure).read_bytes() == (ROOT / figure).read_bytes()
    assert not (ROOT / "docs/figures").exists()  # nothing generated inside docs/
    # Tutorials, where their files exist, are executed into pages with their outputs.
    for script in sorted((ROOT / "docs/tutorials").glob("*.py")):
        page = site / "tutorials" / script.stem / "index.html"
        assert page.is_file(), f"{script.name} has no page"
        assert "jp-OutputArea" in page.read_text(encoding="utf-8")


def test_cli_reference_has_every_option_of_every_command(hooks):
    from maskstats.cli.parser import build_parser

    text = hooks.cli_reference()
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    assert len(sub.choices) >= 8
    for name, command in sub.choices.items():
        assert f"## `maskstats {name}`" in text
        for action in command._actions:
            for flag in action.option_strings:
                assert flag in text, f"maskstats {name} {flag}"


def test_api_check_names_what_is_not_rendered(hooks, caplog):
    names = hooks.public_names()
    every = {f"{module}.{name}" for module, objs in names.items() for name in objs}
    assert "maskstats.masks.random_masks" in every and "maskstats.torch.MaskCollator" in every
    caplog.set_level(logging.ERROR, logger="mkdocs.hooks.maskstats")

    hooks._anchors.clear()
    hooks._anchors.update(every - {"maskstats.weights.flatten_weights"})
    hooks.on_post_build({})
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        "API reference: public name maskstats.weights.flatten_weights is not rendered on any "
        "page under docs/reference/"
    ]

    # A re-export counts as rendered where the object it names is: maskstats.random_masks is
    # maskstats.masks.random_masks.
    caplog.clear()
    hooks._anchors.clear()
    hooks._anchors.update(n for n in every if not n.startswith("maskstats.") or n.count(".") > 1)
    hooks.on_post_build({})
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    hooks._anchors.clear()


def test_links_into_the_repository_resolve(hooks, caplog):
    page = "concepts/x.md"
    text = "![f](../../figures/benchmark.png) [e](../../examples/fb_mae.py#L3) [m](../metrics.md)"
    out = hooks._rewrite_links(text, page)
    assert out == "![f](../figures/benchmark.png) [e](../examples/fb_mae.py#L3) [m](../metrics.md)"
    assert hooks._rewrite_links("[d](../../figures/literature)", page) == (
        "[d](../figures/literature/index.md)"
    )
    caplog.set_level(logging.WARNING, logger="mkdocs.hooks.maskstats")
    hooks._rewrite_links("[gone](../../figures/nothing.png) [src](../../maskstats/io.py)", page)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and "nothing.png" in warnings[0] and "maskstats/" in warnings[1]
    # Code blocks are left alone, a fence inside a longer fence included.
    fenced = "```text\n[x](../../figures/nothing.png)\n```\n"
    assert hooks._rewrite_links(fenced, page) == fenced
    nested = "````text\n``` { .python }\n[x](../../figures/nothing.png)\n```\n````\n"
    after = "[f](../../figures/benchmark.png)\n"
    assert hooks._rewrite_links(nested + after, page) == nested + "[f](../figures/benchmark.png)\n"
