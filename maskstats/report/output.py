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


TOOL = "maskstats report"
KINDS = {TOOL: "a maskstats report"}
"""How an error names a folder of each tool (a tool not listed is named as it is)."""


def read_manifest(folder: Path, manifest: str = MANIFEST, tool: str = TOOL) -> dict | None:
    """The manifest of a report folder (or of another ``tool``'s folder, in its ``manifest``
    file), or None when ``folder`` is not one."""
    try:
        found = json.loads((folder / manifest).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or found.get("tool") != tool:
        return None
    return found


def check_output(out: Path, overwrite: bool, manifest: str = MANIFEST, tool: str = TOOL) -> None:
    """Refuse, before any work, an output the report may not write or replace.

    A new or empty folder is fine. An existing one needs ``overwrite`` and must be a
    maskstats report (its manifest lists every file in it) that is not ``/``, the home folder
    or the current folder (or above them). ``manifest`` and ``tool`` name another kind of
    folder (e.g. a reconstruction gallery).

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
    found = read_manifest(out, manifest, tool)
    if found is None:
        raise ValueError(
            f"refusing to replace {out}: it is not {KINDS.get(tool, tool)} (no {manifest}); "
            "pass a new --out folder"
        )
    listed = set(found.get("files", [])) | {manifest}
    foreign = sorted(p.name for p in out.iterdir() if p.name not in listed)
    if foreign:
        shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise ValueError(
            f"refusing to replace {out}: it holds files {tool} did not write ({shown})"
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
