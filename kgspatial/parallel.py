"""Threads over chunks: shapely's vectorised functions release the GIL, so two cores do twice
the geometry work without the cost of processes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

CHUNK = 20_000  # items per task: large enough to amortise, small enough to balance two cores


def run_chunked(fn, n: int, jobs: int) -> list:
    """Call fn(slice) over [0, n) in chunks, on `jobs` threads; results in order."""
    slices = [slice(i, min(i + CHUNK, n)) for i in range(0, n, CHUNK)]
    if jobs <= 1 or len(slices) <= 1:
        return [fn(s) for s in slices]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(fn, slices))
