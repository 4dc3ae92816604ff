"""`kgspatial demo`: the batch over the bundled demo province (layers/demo/registry.yaml).

Examples:
    kgspatial demo                 # writes ./demo-out
    kgspatial demo --out /tmp/kg --jobs 2 --report html
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from .batch import parse_formats, run_and_report

Opt = typer.Option


@app.command("demo")
def demo(
    out: Annotated[Path, Opt(help="Output folder.")] = Path("demo-out"),
    jobs: Annotated[int, Opt(help="Plans checked at the same time (threads).", min=1)] = 2,
    resume: Annotated[bool, Opt("--resume", help="Reuse results of unchanged plans.")] = False,
    report: Annotated[Optional[str], Opt(help="Reports: any of html,xlsx,pdf, or none (default: all).")] = None,
    english: Annotated[bool, Opt("--english", help="English column names in reports.")] = False,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress bar or messages.")] = False,
) -> None:
    """Run the batch over the demo province (a generated Kiên Giang-like province)."""
    from ..batch import BatchOptions
    from ..demo import ensure_demo

    registry = ensure_demo()
    opts = BatchOptions(
        registry=registry, out=out, jobs=jobs, resume=resume, formats=parse_formats(report), english=english
    )
    raise typer.Exit(run_and_report(opts, quiet))
