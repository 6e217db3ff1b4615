"""Every Python block of the documentation pages runs as pasted, like the README's
(tests/test_readme.py): the blocks of one page run in order in one fresh interpreter, so a
block may use what an earlier block of its page defined, in an empty folder, with nothing but
maskstats (and torch / transformers where the page imports them).

A block that cannot run here says so in its first line, ``# not run by the tests: why``; it
is skipped and the page's later blocks still run. Blocks included from files
(``--8<-- "examples/..."``, fenced as ``{ .python }``) are not ```` ```python ```` blocks: the
examples have tests of their own (tests/test_torch.py)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_readme import SKIP, python_blocks

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p for p in (ROOT / "docs").rglob("*.md") if python_blocks(p))

RUNNER = """
import sys, traceback
blocks = {blocks!r}
scope = {{"__name__": "__main__"}}
for line, code in blocks:
    try:
        exec(compile(code, f"{page}:{{line}}", "exec"), scope)
    except BaseException:
        traceback.print_exc()
        sys.exit(f"{page}: the block at line {{line}} failed")
"""


def test_the_docs_have_python_blocks():
    assert len(PAGES) >= 5


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_docs_blocks_run_as_pasted(page, tmp_path):
    blocks = [(n, c) for n, c in python_blocks(page) if not c.startswith(SKIP)]
    if not blocks:
        pytest.skip("every block of the page says why it is not run")
    code = "\n".join(c for _, c in blocks)
    for module in ("torch", "transformers"):
        if re.search(rf"^\s*(from|import) {module}\b", code, re.M):
            pytest.importorskip(module)
    rel = page.relative_to(ROOT).as_posix()
    result = subprocess.run(
        [sys.executable, "-c", RUNNER.format(blocks=blocks, page=rel)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_every_committed_figure_is_in_the_results_catalogue():
    """docs/results/index.md names every table and figure of figures/ with its command."""
    catalogue = (ROOT / "docs/results/index.md").read_text(encoding="utf-8")
    files = [p for p in (ROOT / "figures").iterdir() if p.suffix in (".png", ".csv", ".md")]
    assert len(files) > 20
    missing = [p.name for p in files if f"figures/{p.name})" not in catalogue]
    assert missing == [], f"not in docs/results/index.md: {missing}"
    for folder in (p for p in (ROOT / "figures").iterdir() if p.is_dir()):
        assert f"figures/{folder.name}/" in catalogue or f"figures/{folder.name})" in catalogue
