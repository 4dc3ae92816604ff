"""`kgspatial register`: every registered plan's legal and review status on a date (CONTRACT §7).

Examples:
    kgspatial register layers/demo/registry.yaml --out out/register
    kgspatial register registry.yaml --out out/register --on 2025-12-31 --results out/batch
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from .batch import _PlainUsage

Opt = typer.Option


def parse_day(value: str | None, option: str = "--on") -> dt.date | None:
    from ..errors import InputError
    from ..registry import _parse_date

    if value is None:
        return None
    try:
        day = _parse_date(value)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None
    if not isinstance(day, dt.date):
        raise InputError.say(
            f"{option}: {value!r} không phải là ngày (năm-tháng-ngày, ví dụ 2025-12-31, hoặc ngày/tháng/năm)",
            f"{value!r} is not a date (year-month-day, e.g. 2025-12-31, or day/month/year)",
        )
    return day


@app.command("register", cls=_PlainUsage)
def register(
    registry: Annotated[Path, typer.Argument(metavar="REGISTRY", help="Plan register (YAML), as for batch.")],
    out: Annotated[Path, Opt(help="Output folder for register.json, .xlsx, .html, .pdf.")],
    on: Annotated[Optional[str], Opt(help="The day the statuses are for (default: today).")] = None,
    results: Annotated[Optional[Path], Opt(help="A batch output folder: review status from its results.")] = None,
    english: Annotated[bool, Opt("--english", help="English headings and status names.")] = False,
) -> None:
    """Legal status (in force, expired, abolished...) and review status of every registered plan."""
    from ..register import run_register

    content = run_register(registry, out, parse_day(on), results, english)
    counts = content["counts"]
    legal = ", ".join(f"{n} {s}" for s, n in counts["legal_status"].items() if n)
    print(
        f"{len(content['plans'])} plan(s) on {content['on']}: {legal}; {counts['overdue']} overdue / quá hạn -> {out}",
        file=sys.stderr,
    )
