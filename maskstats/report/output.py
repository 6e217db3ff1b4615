"""The report's output folder: built beside ``out`` and moved into place only when complete,
with a manifest (``maskstats-report.json``: settings, version, file list). ``overwrite``
replaces only a folder holding such a manifest and nothing the report did not write; it never
touches ``/``, the home folder or the current folder (or a folder above it)."""

from __future__ import annotations

import datetime
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas and matplotlib load only when a report runs
    pass

MANIFEST = "maskstats-report.json"
"""The file that marks a folder as a maskstats report (settings, version, files)."""


def _protected(path: Path) -> str | None:
    """Why ``path`` may never be replaced, or None."""
    resolved = path.resolve()
    if resolved == Path(resolved.anchor):
        return "it is the file system's root"
    home = Path.home().resolve()
    if resolved == home or resolved in home.parents:
        return "it is your home folder" if resolved == home else "it holds your home folder"
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        return "it is the current folder" if resolved == cwd else "it holds the current folder"
    return None


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a report folder, or None when ``folder`` is not a maskstats report."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("tool") != "maskstats report":
        return None
    return manifest


def check_output(out: Path, overwrite: bool) -> None:
    """Refuse, before any work, an output the report may not write or replace.

    A new or empty folder is fine. An existing one needs ``overwrite`` and must be a
    maskstats report (its manifest lists every file in it) that is not ``/``, the home folder
    or the current folder (or above them).

    Raises:
        FileExistsError, ValueError: one line saying why.
    """
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if not out.exists() or not any(out.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(f"{out} already exists and is not empty; pass --overwrite")
    why = _protected(out)
    if why:
        raise ValueError(f"refusing to replace {out}: {why}; pass a new --out folder")
    manifest = read_manifest(out)
    if manifest is None:
        raise ValueError(
            f"refusing to replace {out}: it is not a maskstats report (no {MANIFEST}); "
            "pass a new --out folder"
        )
    listed = set(manifest.get("files", [])) | {MANIFEST}
    foreign = sorted(p.name for p in out.iterdir() if p.name not in listed)
    if foreign:
        shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise ValueError(
            f"refusing to replace {out}: it holds files the report did not write ({shown})"
        )


def sibling_folder(out: Path, kind: str) -> Path:
    """A hidden, unique folder name beside ``out`` (same file system, so a rename moves it)."""
    return out.parent / f".{out.name}.{kind}-{os.getpid()}-{os.urandom(3).hex()}"


def swap_in(build: Path, out: Path) -> None:
    """Move the finished report ``build`` to ``out``; an old report is removed only after the
    new one is in place."""
    if out.exists() and not any(out.iterdir()):
        for path in build.iterdir():
            path.rename(out / path.name)
        build.rmdir()
        return
    if out.exists():
        old = sibling_folder(out, "old")
        out.rename(old)
        build.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        build.rename(out)


def jsonable(value: object) -> object:
    """``value`` with tuples and paths turned into what JSON holds (lists, strings)."""
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def package_version() -> str:
    """The installed maskstats version."""
    import maskstats

    return maskstats.__version__


def now_text() -> str:
    """The time now, UTC, to the minute."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
