"""A run's log: metrics.jsonl (one JSON record per interval and epoch), metrics.csv and the
loss-per-bin figure made from it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def append_record(out: Path, record: dict) -> None:
    """Append one record to ``out``/metrics.jsonl."""
    with open(Path(out) / "metrics.jsonl", "a") as handle:
        handle.write(json.dumps(record) + "\n")


def truncate_records(out: Path, step: int) -> int:
    """Keep only the records of ``out``/metrics.jsonl up to ``step`` (a resume from the
    checkpoint at ``step`` writes the later ones again); rewritten atomically.

    Returns:
        The number of records dropped.
    """
    from maskstats.io import atomic_path

    path = Path(out) / "metrics.jsonl"
    if not path.exists():
        return 0
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    kept = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a kill
            continue
        if record.get("step", 0) <= step:
            kept.append(line)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(line + "\n" for line in kept))
    return len(lines) - len(kept)


def read_metrics(out: Path) -> list[dict]:
    """The records of ``out``/metrics.jsonl."""
    path = Path(out) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


LOSS_DIFFICULTY_KEYS = ("effective_avgdist", "loss_avgdist", "ess", "weight_max_over_mean")
"""Per-interval record fields that describe how hard the loss's targets are."""


def run_loss_difficulty(out: Path) -> dict[str, float | None]:
    """The run's mean over its interval records of each ``LOSS_DIFFICULTY_KEYS`` field (every
    interval has the same number of steps but the last); None where no record has it."""
    records = [r for r in read_metrics(out) if r.get("kind") == "interval"]
    means: dict[str, float | None] = {}
    for key in LOSS_DIFFICULTY_KEYS:
        values = [r[key] for r in records if r.get(key) is not None]
        means[key] = float(sum(values) / len(values)) if values else None
    return means


def write_csv(out: Path) -> Path:
    """metrics.csv: one row per record, list fields spread into numbered columns."""
    rows = []
    for record in read_metrics(out):
        row = {}
        for key, value in record.items():
            if isinstance(value, list):
                row.update({f"{key}_{k}": v for k, v in enumerate(value)})
            else:
                row[key] = value
        rows.append(row)
    path = Path(out) / "metrics.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


LOSS_PER_BIN_LINES = 5
"""A run shorter than an epoch draws at most this many of its interval records."""


def write_loss_per_bin(out: Path) -> Path | None:
    """``out``/loss_per_bin.png and .pdf from the epoch records, or, for a run shorter than an
    epoch, from up to :data:`LOSS_PER_BIN_LINES` of its interval records, the last included,
    each labelled by its steps (None without any record)."""
    from maskstats import plot

    all_records = read_metrics(out)
    records = [r for r in all_records if r["kind"] == "epoch"]
    if not records:
        intervals = [r for r in all_records if r["kind"] == "interval" and "bin_loss" in r]
        if not intervals:
            return None
        picked = sorted({round(k) for k in _spread(len(intervals), LOSS_PER_BIN_LINES)})
        records = []
        for k in picked:
            record = dict(intervals[k])
            start = intervals[k - 1]["step"] if k else 0
            record["label"] = f"steps {start + 1}-{record['step']}"
            records.append(record)
    stem = Path(out) / "loss_per_bin"
    plot.save(plot.loss_per_bin(records), stem)
    return stem.with_suffix(".png")


def _spread(count: int, most: int) -> list[float]:
    """Up to ``most`` indices of ``count`` items, evenly spread, the last one included."""
    if count <= most:
        return list(range(count))
    return [k * (count - 1) / (most - 1) for k in range(most)]
