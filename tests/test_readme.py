"""Every Python block of the README runs as pasted: in a fresh interpreter, in an empty
folder, with nothing but maskstats (and torch / transformers where a block imports them).
A block that cannot run here says so in its first line, ``# not run by the tests: why``."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = "# not run by the tests:"


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """(first line number, code) of each ```python block."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for found in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
        blocks.append((text[: found.start()].count("\n") + 2, found.group(1)))
    return blocks


BLOCKS = python_blocks(ROOT / "README.md")


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"README.md:{n}" for n, _ in BLOCKS])
def test_readme_block_runs_as_pasted(line, code, tmp_path):
    first = code.splitlines()[0] if code.strip() else ""
    if first.startswith(SKIP):
        pytest.skip(first[len(SKIP) :].strip())
    for module in ("torch", "transformers"):
        if re.search(rf"^\s*(from|import) {module}\b", code, re.M):
            pytest.importorskip(module)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"README.md line {line}:\n{result.stderr[-2000:]}"
