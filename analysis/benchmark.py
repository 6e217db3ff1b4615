"""Regenerate figures/benchmark.{csv,md,png} and the table of docs/results/performance.md.

Usage: python analysis/benchmark.py [--sizes 256,4096,65536] [--repeats 5]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from maskstats.bench import run_benchmark
from maskstats.cli.argtypes import parse_sizes

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"


def update_page(text: str, page: Path = ROOT / "docs" / "results" / "performance.md") -> None:
    """Replace the page's block between the benchmark markers with ``text``."""
    content = page.read_text()
    block = f"{START}\n{text}{END}"
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    page.write_text(pattern.sub(lambda _: block, content))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=parse_sizes, default=(256, 4096, 65536))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    _, text = run_benchmark(ROOT / "figures", args.sizes, args.repeats)
    update_page(text)
    print(text)


if __name__ == "__main__":
    main()
