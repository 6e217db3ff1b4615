"""The report's output folder: built beside ``out`` and moved into place only when complete,
with a manifest (``maskstats-report.json``: settings, version, file list). ``overwrite``
replaces only a folder holding such a manifest and nothing the report did not write; it never
touches ``/``, the home folder or the current folder (or a folder above it). The folder is
checked again right before the swap (a strategy may have written into it meanwhile); one run
at a time holds ``out`` (a lock file ``.NAME.lock`` beside it); what a killed run left beside
it (``.NAME.building-PID-…``, ``.NAME.old-PID-…``) is cleaned up by the next run."""

from __future__ import annotations

import datetime
import errno
import json
import os
import re
import shutil
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from maskstats._cleanup import pid_alive, stale_entries, uninterrupted

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the lock falls back to O_EXCL
    fcntl = None  # type: ignore[assignment]  # None marks "no flock here" for the lock code

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
    if read_manifest(out, manifest, tool) is None:
        raise ValueError(
            f"refusing to replace {out}: it is not {KINDS.get(tool, tool)} (no {manifest}); "
            "pass a new --out folder"
        )
    foreign = foreign_files(out, manifest, tool)
    if foreign:
        raise ValueError(
            f"refusing to replace {out}: it holds files {tool} did not write ({_shown(foreign)})"
        )


def foreign_files(folder: Path, manifest: str = MANIFEST, tool: str = TOOL) -> list[str]:
    """Names in ``folder`` that its manifest does not list: every name when it is not a
    maskstats report (or ``tool``'s folder, with its ``manifest`` file)."""
    found = read_manifest(folder, manifest, tool)
    listed = set(found.get("files", [])) | {manifest} if found else set()
    return sorted(p.name for p in folder.iterdir() if p.name not in listed)


def _shown(names: list[str]) -> str:
    return ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")


def sibling_folder(out: Path, kind: str) -> Path:
    """A hidden, unique folder name beside ``out`` (same file system, so a rename moves it):
    ``.NAME.KIND-PID-6HEX``, which :func:`sweep_leftovers` recognises."""
    return out.parent / f".{out.name}.{kind}-{os.getpid()}-{os.urandom(3).hex()}"


def _changed(out: Path, names: list[str]) -> ValueError:
    return ValueError(
        f"refusing to replace {out}: files appeared in it while the report ran "
        f"({_shown(names)}); nothing was changed (the new report was discarded)"
    )


def swap_in(
    build: Path, out: Path, overwrite: bool = False, manifest: str = MANIFEST, tool: str = TOOL
) -> list[str]:
    """Move the finished report ``build`` to ``out``, checking ``out`` again first: a new
    or empty folder takes it; one that is not empty now (something wrote into it while the
    report ran) is replaced only with ``overwrite`` and only if it is still a report holding
    nothing but its own files, else refused with nothing changed. An old report is removed
    only after the new one is in place; no signal breaks the swap. ``manifest`` and ``tool``
    name another kind of folder (a reconstruction gallery), as in :func:`check_output`.

    Returns:
        Notes for the user (an old folder that could not be removed whole), usually none.

    Raises:
        ValueError: ``out`` changed while the report ran (one line; ``build`` is left for
            the caller to remove).
    """
    with uninterrupted():
        if not os.path.lexists(out):
            try:
                build.rename(out)
                return []
            except OSError as error:  # created meanwhile, and not empty
                if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
        if out.is_dir() and not any(out.iterdir()):
            return _into_empty(build, out, overwrite, manifest, tool)
        return _replace(build, out, overwrite, manifest, tool)


def _into_empty(
    build: Path, out: Path, overwrite: bool, manifest: str = MANIFEST, tool: str = TOOL
) -> list[str]:
    """``out`` is an empty folder: take its place (rmdir fails if anything appeared in it),
    or, where it cannot be removed (a mount point, the current folder, a link), move the
    files into it, the manifest last."""
    if not out.is_symlink() and _protected(out) is None:
        mode = stat.S_IMODE(out.stat().st_mode)
        try:
            out.rmdir()
        except OSError as error:
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
                return _replace(build, out, overwrite, manifest, tool)
        else:
            os.chmod(build, mode)
            build.rename(out)
            return []
    names = sorted(p.name for p in build.iterdir())
    present = sorted(p.name for p in out.iterdir())
    if present:
        raise _changed(out, present)
    for name in sorted(names, key=lambda name: name == manifest):
        (build / name).rename(out / name)
    build.rmdir()
    return []


def _replace(
    build: Path, out: Path, overwrite: bool, manifest: str = MANIFEST, tool: str = TOOL
) -> list[str]:
    """``out`` holds something: replace it only if allowed and it is still a clean report
    (or ``tool``'s folder)."""
    if not out.is_dir():
        raise ValueError(f"refusing to replace {out}: it is no longer a folder")
    foreign = foreign_files(out, manifest, tool)
    if foreign or not overwrite:
        raise _changed(out, foreign or sorted(p.name for p in out.iterdir()))
    why = _protected(out)
    if why:
        raise ValueError(f"refusing to replace {out}: {why}; pass a new --out folder")
    old = sibling_folder(out, "old")
    out.rename(old)
    foreign = foreign_files(old, manifest, tool)  # the last look: nothing can write into out
    if foreign:
        old.rename(out)
        raise _changed(out, foreign)
    try:
        build.rename(out)
    except BaseException:
        old.rename(out)
        raise
    return remove_report(old, manifest, tool)


def remove_report(folder: Path, manifest: str = MANIFEST, tool: str = TOOL) -> list[str]:
    """Delete a report folder's own files (those its manifest lists, the manifest last) and
    the folder; anything else is kept, and so is the folder then. ``manifest`` and ``tool``
    name another kind of folder (a reconstruction gallery).

    Returns:
        A note naming the folder when it had to be kept, else nothing.
    """
    found = read_manifest(folder, manifest, tool)
    names = [
        name
        for name in (found or {}).get("files", [])
        if isinstance(name, str)
        and name == Path(name).name
        and name not in ("", ".", "..")
        and name != manifest
    ]  # plain names inside the folder only, whatever a manifest lists
    for name in [*names, manifest]:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        left = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        return [f"kept {folder}: it holds files the report did not write ({_shown(left)})"]
    return []


LEFTOVER = r"\.{name}\.(?P<kind>building|old)-(?P<pid>\d+)-[0-9a-f]{{6}}"
"""The names :func:`sibling_folder` gives, for one output folder's name."""


def sweep_leftovers(out: Path) -> list[str]:
    """Clean up what runs killed before they could (SIGKILL, a power cut) left beside
    ``out``: a half-built ``.NAME.building-PID-…`` folder is removed; an old report renamed
    away to ``.NAME.old-PID-…`` is put back when ``out`` is missing (the run died in the
    middle of its swap), else removed like :func:`remove_report`. Only names of our own
    pattern whose PID no longer runs are touched; call it holding :func:`report_lock`.

    Returns:
        One note per old report put back or kept.
    """
    pattern = re.compile(LEFTOVER.format(name=re.escape(out.name)))
    notes = []
    for path, match in stale_entries(out.parent, pattern):
        if match["kind"] == "building":
            shutil.rmtree(path, ignore_errors=True)
        elif not os.path.lexists(out):
            path.rename(out)
            notes.append(f"put back {out}, which a stopped run had moved to {path.name}")
        else:
            notes.extend(remove_report(path))
    return notes


def lock_path(out: Path) -> Path:
    """The lock file of an output folder: ``.NAME.lock`` beside it (links resolved, so two
    spellings of one folder share one lock)."""
    resolved = Path(os.path.realpath(out))
    return resolved.parent / f".{resolved.name}.lock"


def _busy(out: Path, holder: str) -> FileExistsError:
    who = f" (PID {holder})" if holder.isdigit() else ""
    return FileExistsError(
        f"another maskstats report{who} is writing {out}; wait for it to finish or pass "
        "another --out"
    )


@contextmanager
def report_lock(out: Path) -> Iterator[Path]:
    """Hold ``out`` for one run: an exclusive lock on ``.NAME.lock`` beside it (``flock``,
    which the kernel releases when a run dies, so the lock of a killed run is stale at once;
    where there is no ``flock``, a file created with O_EXCL holding the PID, taken over
    when that PID no longer runs). The file holds the PID and is removed at the end.

    Raises:
        FileExistsError: another run holds it (one line naming its PID).
    """
    path = lock_path(out)
    fd = _lock(path, out) if fcntl is not None else _lock_exclusive(path, out)
    try:
        yield path
    finally:
        try:
            if os.path.exists(path) and os.path.samestat(os.stat(path), os.fstat(fd)):
                path.unlink()
        finally:
            os.close(fd)


def _lock(path: Path, out: Path) -> int:
    for _ in range(100):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise _busy(out, holder) from None
        except OSError:  # a file system without flock (ENOLCK, EOPNOTSUPP): the PID file
            empty = os.fstat(fd).st_size == 0
            os.close(fd)
            if empty:
                path.unlink(missing_ok=True)
            return _lock_exclusive(path, out)
        try:  # a finishing run unlinks the file: the one locked must still be the one there
            same = os.path.samestat(os.stat(path), os.fstat(fd))
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            return fd
        os.close(fd)
    raise _busy(out, "")  # pragma: no cover - the lock file replaced 100 times in a row


def _lock_exclusive(path: Path, out: Path) -> int:
    for _ in range(100):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                holder = path.read_text().strip()
            except FileNotFoundError:
                continue
            if holder.isdigit() and not pid_alive(int(holder)):
                path.unlink(missing_ok=True)  # the run that took it is gone: stale
                continue
            raise _busy(out, holder) from None
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd
    raise _busy(out, "")  # pragma: no cover


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


@contextmanager
def building(out: Path, overwrite: bool) -> Iterator[tuple[Path, list[str]]]:
    """Build a report in a hidden folder beside ``out`` and swap it in when the block ends
    without an error; on any error (or a signal: SIGTERM, SIGHUP and SIGINT become one) the
    folder is removed and ``out`` is left as it was.

    Everything of one run in order: ``out`` checked (:func:`check_output`), one run at a time
    (:func:`report_lock`), what killed runs left removed (:func:`sweep_leftovers`), ``out``
    checked again (a stopped run's old report may be back), the build folder made, and at the
    end :func:`swap_in`.

    Args:
        out: the report folder.
        overwrite: an existing report may be replaced.

    Yields:
        The build folder, and the notes to print (what was cleaned up or kept); the list is
        completed by the swap, so read it after the block.
    """
    from maskstats._cleanup import terminate_on_signals

    check_output(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    with terminate_on_signals(), report_lock(out):
        notes = sweep_leftovers(out)
        check_output(out, overwrite)
        build = sibling_folder(out, "building")
        build.mkdir()
        try:
            yield build, notes
            notes += swap_in(build, out, overwrite)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
