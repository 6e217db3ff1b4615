"""Leaving nothing behind: SIGTERM, SIGHUP and SIGINT turned into exceptions (so that ``with``
and ``finally`` blocks remove temporaries), sections that no signal breaks (a report's
swap-in), and the sweep of temporaries of our own naming whose process is gone (a run that
was ``kill -9``'d cannot clean up; the next one does)."""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TERMINATING = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""Signals whose default action ends the process without running any cleanup."""


class Terminated(SystemExit):
    """SIGTERM or SIGHUP arrived inside :func:`terminate_on_signals`: raised in the main
    thread so that cleanup runs; the exit code is 128 + the signal's number, as a shell
    reports a process killed by that signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + int(signum))
        self.signum = int(signum)

    def __str__(self) -> str:
        return f"terminated by {signal.Signals(self.signum).name}"


class _Guard:
    """Module state: how deep inside :func:`uninterrupted` the main thread is, and a signal
    that arrived there."""

    critical = 0
    pending: int | None = None


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def _handler(signum: int, frame: object) -> None:
    if _Guard.critical:
        _Guard.pending = _Guard.pending or signum
        return
    _raise_for(signum)


@contextmanager
def terminate_on_signals() -> Iterator[None]:
    """Inside: SIGTERM and SIGHUP raise :class:`Terminated`, SIGINT ``KeyboardInterrupt``,
    in the main thread, so cleanup code runs; none of them breaks an :func:`uninterrupted`
    block (it is raised when the block ends). A signal whose handler is not the default
    (a program's own, or SIG_IGN under ``nohup``) is left as it is; outside the main thread
    nothing changes. Nesting is fine."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in (*TERMINATING, signal.SIGINT):
        current = signal.getsignal(signum)
        default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
        if current is default:
            previous[signum] = signal.signal(signum, _handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def uninterrupted() -> Iterator[None]:
    """A block that a signal handled by :func:`terminate_on_signals` does not break: the
    signal is raised when the block ends (a report's old folder is never left renamed away
    with the new one not yet in place)."""
    _Guard.critical += 1
    try:
        yield
    finally:
        _Guard.critical -= 1
        if not _Guard.critical and _Guard.pending is not None:
            signum, _Guard.pending = _Guard.pending, None
            _raise_for(signum)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (True where that cannot be told, so
    that nothing of a live process is swept)."""
    if pid <= 0:
        return False
    if pid == os.getpid() or os.name == "nt":  # Windows' os.kill would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it runs, as another user
        return True
    return True


def stale_entries(folder: Path, pattern: re.Pattern[str]) -> list[tuple[Path, re.Match[str]]]:
    """Entries of ``folder`` whose name matches ``pattern`` (with a group ``pid``) and whose
    process is gone: temporaries of ours that a killed run left.

    Returns:
        (path, match) per stale entry, sorted by name.
    """
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    found = []
    for name in names:
        match = pattern.fullmatch(name)
        if match and not pid_alive(int(match["pid"])):
            found.append((Path(folder) / name, match))
    return found
