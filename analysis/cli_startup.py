"""Wall time of `maskstats --help` against `python -c "import numpy"`, measured in the same run.

Each round runs, in turn: the numpy baseline, `python -m maskstats.cli --help` and the
`maskstats` console script (when found next to this Python), so that the machine's load hits
them alike; the medians over the rounds and their ratios to the baseline are printed, with the
machine (lscpu's model name, cores, load average before and after). The commands run with
bytecode caching on (PYTHONDONTWRITEBYTECODE removed), as after `pip install`, which compiles
the package: a first, uncounted run of each writes the caches.

    python analysis/cli_startup.py            # N = 20 rounds
    python analysis/cli_startup.py --rounds 50
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def cpu_model() -> str:
    """lscpu's model name (/proc/cpuinfo where lscpu is missing)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in text.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def console_script() -> str | None:
    """The `maskstats` script beside this Python (a venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / "maskstats"
    return str(beside) if beside.exists() else shutil.which("maskstats")


ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="runs of each command")
    args = parser.parse_args()
    commands = {
        'python -c "import numpy"': [sys.executable, "-c", "import numpy"],
        "python -m maskstats.cli --help": [sys.executable, "-m", "maskstats.cli", "--help"],
    }
    script = console_script()
    if script:
        commands["maskstats --help"] = [script, "--help"]
    for command in commands.values():  # write the bytecode, warm the file cache; not counted
        wall(command)
    before = load()
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, command in commands.items():
            times[name].append(wall(command))
    after = load()
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; load average {before} -> {after}")
    print(f"python {sys.version.split()[0]} ({sys.executable}), {args.rounds} rounds, interleaved")
    baseline = statistics.median(times['python -c "import numpy"'])
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"{name:34s} median {median * 1000:6.0f} ms  "
            f"(min {min(values) * 1000:4.0f}, max {max(values) * 1000:4.0f})  "
            f"{median / baseline:.2f}x numpy"
        )


if __name__ == "__main__":
    main()
