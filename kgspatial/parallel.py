"""Threads over chunks: shapely's vectorised functions release the GIL, so two cores do twice
the geometry work without the cost of processes."""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

CHUNK = 20_000  # items per task: large enough to amortise, small enough to balance two cores
ARENAS = 2  # glibc malloc arenas for GEOS's threads (its default, 8 a core, kept 170 MB more at 1M zones)


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:  # not glibc (musl, macOS): the defaults stay
        return None


_LIBC = _libc()
_ARENAS_SET = False


def limit_arenas() -> None:
    """Few malloc arenas for the worker threads: each thread's own arena keeps the memory it
    freed, so peak RSS grew with the threads.  Once per process, before the first pool."""
    global _ARENAS_SET
    if _LIBC is not None and not _ARENAS_SET:
        _LIBC.mallopt(-8, ARENAS)  # M_ARENA_MAX
        _ARENAS_SET = True


def release_memory() -> None:
    """Hand the heap's free pages back to the system (glibc keeps them): after the master plan is
    read (its Arrow table and WKB are gone) and after each overlay, so later stages start lower."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def aligned_slices(keys: np.ndarray, chunk: int | None = None) -> list[slice]:
    """Chunks of about `chunk` items that never split a run of equal `keys` (sorted).

    GEOS builds a prepared geometry's indexes lazily on first use and that is not thread-safe:
    all the pairs of one prepared feature must stay on one thread.
    """
    chunk = chunk or CHUNK
    n = len(keys)
    cuts = [0]
    while cuts[-1] < n:
        end = min(cuts[-1] + chunk, n)
        if end < n:
            end = int(np.searchsorted(keys, keys[end - 1], side="right"))  # finish that feature's run
        cuts.append(end)
    return [slice(a, b) for a, b in zip(cuts[:-1], cuts[1:])]


def run_chunked(
    fn, n: int, jobs: int, on_progress: Callable[[int, int], None] | None = None, slices: list[slice] | None = None
) -> list:
    """Call fn(slice) over [0, n) in chunks, on `jobs` threads; results in order.

    `on_progress(done, n)` is called as chunks finish, for long runs a user watches.
    """
    if slices is None:
        slices = [slice(i, min(i + CHUNK, n)) for i in range(0, n, CHUNK)]
    if on_progress is not None:
        lock = threading.Lock()
        done = [0]
        inner = fn

        def fn(part: slice):  # noqa: F811  (the same work, then a progress report)
            result = inner(part)
            with lock:
                done[0] += part.stop - part.start
                on_progress(done[0], n)
            return result

    if jobs <= 1 or len(slices) <= 1:
        return [fn(s) for s in slices]
    limit_arenas()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(fn, slices))
