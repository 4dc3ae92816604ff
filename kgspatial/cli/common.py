"""Helpers shared by the subcommands."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from rich.console import Console


@contextlib.contextmanager
def status_printer(quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """Progress as timestamped lines on stderr (a spinner would hide them in CI logs)."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    start = time.perf_counter()

    def show(message: str) -> None:
        if not quiet:
            console.print(f"[dim]{time.perf_counter() - start:7.1f}s[/dim] {message}")

    yield show


def totals_text(totals: dict, english: bool = False) -> str:
    """A run's conflict figures in one language, numbers in its own format (kgspatial.numfmt)."""
    from ..numfmt import hectares, number

    def n(value: float, decimals: int = 0) -> str:
        return number(value, decimals, english)

    if english:
        return (
            f"{n(totals['conflict_pieces'])} conflict piece(s): {hectares(totals['conflict_area_m2'], True)}, "
            f"{n(totals['conflict_length_m'])} m, {n(totals['conflict_points'])} point(s); "
            f"{n(totals['conditional_pieces'])} conditional"
            + (f"; {n(totals['excepted_pieces'])} excepted by a decision" if totals.get("excepted_pieces") else "")
        )
    return (
        f"{n(totals['conflict_pieces'])} mảnh xung đột: {hectares(totals['conflict_area_m2'])}, "
        f"{n(totals['conflict_length_m'])} m, {n(totals['conflict_points'])} điểm; "
        f"{n(totals['conditional_pieces'])} có điều kiện"
        + (f"; {n(totals['excepted_pieces'])} được miễn theo quyết định" if totals.get("excepted_pieces") else "")
    )
