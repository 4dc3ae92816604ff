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
