"""`kgspatial projects` and `kgspatial indicators` (CONTRACT §9).

Examples:
    kgspatial projects layers/demo/registry.yaml --out out/projects --on 2026-01-01
    kgspatial indicators layers/demo/registry.yaml --out out/indicators
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from .batch import _PlainUsage
from .common import status_printer
from .register import parse_day

Opt = typer.Option


@app.command("projects", cls=_PlainUsage)
def projects(
    registry: Annotated[Path, typer.Argument(metavar="REGISTRY", help="Plan register (YAML) with a `projects:` key.")],
    out: Annotated[Path, Opt(help="Output folder for projects.json, projects.gpkg, projects.xlsx.")],
    on: Annotated[Optional[str], Opt(help="The day schedules and plans in force are for (default: today).")] = None,
    english: Annotated[bool, Opt("--english", help="English headings and values in projects.xlsx.")] = False,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress messages.")] = False,
) -> None:
    """Siting, reservation, hazard and schedule of every priority project; exit 1 on a conflict or an overdue one."""
    from ..projects import run_projects

    day = parse_day(on)
    with status_printer(quiet) as show:
        result = run_projects(registry, out, day, english, progress=show)
    c = result.counts()
    siting = ", ".join(f"{n} {s}" for s, n in c["siting"].items() if n)
    schedule = ", ".join(f"{n} {s}" for s, n in c["schedule"].items() if n)
    print(
        f"{c['projects']} project(s) on {result.on.isoformat()}: {siting}; {schedule}; {c['not_reserved']} not"
        f" reserved / chưa bố trí quỹ đất -> {out}",
        file=sys.stderr,
    )
    raise typer.Exit(result.exit_code)


@app.command("indicators", cls=_PlainUsage)
def indicators(
    registry: Annotated[
        Path, typer.Argument(metavar="REGISTRY", help="Plan register (YAML) with an `indicators:` key.")
    ],
    out: Annotated[Path, Opt(help="Output folder for indicators.json.")],
    on: Annotated[Optional[str], Opt(help="The day the plans in force are for (default: today).")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress messages.")] = False,
) -> None:
    """Land-use indicators per unit, master plan and plans in force; exit 1 when one is over or under."""
    from ..indicators import run_indicators

    day = parse_day(on)
    with status_printer(quiet) as show:
        result = run_indicators(registry, out, day, progress=show)
    c = result.counts()
    print(
        f"{len(result.rows)} indicator(s): master plan {c['master_ok']} ok, {c['master_over']} over,"
        f" {c['master_under']} under; plans in force {c['plans_ok']} ok, {c['plans_over']} over,"
        f" {c['plans_under']} under -> {out}",
        file=sys.stderr,
    )
    raise typer.Exit(result.exit_code)
