"""Split a GIL-releasing kernel's rows over threads (numba's thread count, as
``numba.set_num_threads`` sets it), and pool the scratch that concurrent calls must not share."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:  # loaded by the first pool: maskstats --help needs none
    from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()
_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}


def _executor(workers: int) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads (the threads beside the caller), one per count, so that a
    concurrent call with another thread count never finds its pool shut down. Pools made
    before a fork are dropped in the child (their threads do not exist there)."""
    pid = os.getpid()
    with _lock:
        for key in [key for key in _pools if key[0] != pid]:
            del _pools[key]
        pool = _pools.get((pid, workers))
        if pool is None:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="maskstats")
            _pools[(pid, workers)] = pool
        return pool


def row_ranges(n: int, parts: int, align: int) -> list[tuple[int, int]]:
    """Split rows 0..n-1 into at most ``parts`` contiguous ranges whose bounds are multiples
    of ``align`` (except the last), as equal as that allows; empty ranges are dropped."""
    blocks = -(-n // align)
    parts = max(1, min(parts, blocks))
    bounds = [min(n, (blocks * k // parts) * align) for k in range(parts + 1)]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def run_rows(
    kernel: Callable[[int, int], object], n: int, align: int, min_rows_per_thread: int
) -> None:
    """Call ``kernel(first, last)`` over disjoint ranges covering 0..n-1, on up to
    numba.get_num_threads() threads (the caller is one of them); fewer when a thread would get
    under ``min_rows_per_thread`` rows (waking it would cost more than it saves). Each thread
    gets about four ranges in turn, so that one that runs ahead takes more."""
    if n < 2 * min_rows_per_thread or n <= align:
        if n:
            kernel(0, n)
        return
    import numba  # here, not at import: maskstats --help loads no numba

    threads = min(numba.get_num_threads(), n // max(1, min_rows_per_thread))
    if threads <= 1:
        kernel(0, n)
        return
    pending = iter(row_ranges(n, 4 * threads, align))  # next() on it is atomic under the GIL

    def work() -> None:
        for first, last in pending:
            kernel(first, last)

    pool = _executor(threads - 1)
    futures = [pool.submit(work) for _ in range(threads - 1)]
    work()
    for future in futures:
        future.result()


Scratch = TypeVar("Scratch")


class ScratchPool(Generic[Scratch]):
    """Reusable per-task scratch, keyed (e.g. by patch size): a task takes one set, uses it
    alone, and gives it back, so concurrent calls never share a set. Sets made before a fork
    are dropped in the child."""

    def __init__(self, make: Callable[[object], Scratch]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._free: dict[object, list[Scratch]] = {}
        self._pid = os.getpid()

    def take(self, key: object) -> Scratch:
        if self._pid != os.getpid():
            self._lock, self._free, self._pid = threading.Lock(), {}, os.getpid()
        with self._lock:
            free = self._free.get(key)
            if free:
                return free.pop()
        return self._make(key)

    def give(self, key: object, item: Scratch) -> None:
        if self._pid == os.getpid():
            with self._lock:
                self._free.setdefault(key, []).append(item)

    def clear(self) -> None:
        with self._lock:
            self._free.clear()
