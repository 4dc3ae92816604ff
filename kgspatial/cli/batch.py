"""`kgspatial batch`: every plan of a province's registry against its master plan (README: "Batch runs").

Examples:
    kgspatial batch layers/demo/registry.yaml --out out/ --jobs 2
    kgspatial batch registry.yaml --out out/ --resume --report html,xlsx
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from typer.core import TyperCommand

from ..numfmt import number
from . import app
from .common import totals_text

Opt = typer.Option


class _PlainUsage(TyperCommand):
    """Usage line `kgspatial batch [OPTIONS] REGISTRY`: typer writes a required argument as
    `{REGISTRY}`, which reads like a set of choices to someone who has not met the convention."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        return [re.sub(r"^\{(.*)\}$", r"\1", piece) for piece in super().collect_usage_pieces(ctx)]


def parse_formats(report: str | None) -> tuple[str, ...]:
    from ..batch import REPORT_FORMATS
    from ..errors import InputError

    if report is None:
        return REPORT_FORMATS
    formats = tuple(dict.fromkeys(f.strip().lower() for f in report.split(",") if f.strip()))
    if any(f == "none" for f in formats):
        return ()
    bad = [f for f in formats if f not in REPORT_FORMATS]
    if bad:
        raise InputError.say(
            f"--report: không có định dạng {', '.join(bad)}; dùng {', '.join(REPORT_FORMATS)} hoặc none",
            f"--report: unknown format(s) {', '.join(bad)}; use {', '.join(REPORT_FORMATS)} or none",
        )
    return formats


class ProgressBar:
    """A rich progress bar on stderr: plans done / total, features read, elapsed, ETA."""

    def __init__(self, quiet: bool = False):
        self.console = Console(stderr=True, highlight=False)
        self.quiet = quiet
        self.start_time = time.perf_counter()
        self.features = 0
        self.progress = Progress(
            TextColumn("quy hoạch / plans"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("· {task.fields[features]} đối tượng / features ·"),  # in Vietnamese format
            TimeElapsedColumn(),
            TextColumn("· còn / ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
            disable=quiet,
        )
        self.task = None
        self.started = False

    def start(self, total: int) -> None:
        self.started = True
        self.progress.start()
        self.task = self.progress.add_task("kiểm tra / checking", total=total, features="0")

    def message(self, text: str) -> None:
        if not self.quiet:
            self.console.print(f"[dim]{time.perf_counter() - self.start_time:7.1f}s[/dim] {text}")

    def plan_done(self, record, features: int) -> None:
        self.features += features
        if record.status == "failed":
            note = f"[red]lỗi / failed[/red]: {record.reason}"
        elif record.status == "unchanged" and record.note:
            note = (
                "[dim]quy hoạch tỉnh đổi ở nơi khác, dùng lại kết quả / master plan changed elsewhere,"
                " results reused[/dim]"
            )
        elif record.status == "unchanged":
            note = "[dim]không đổi, dùng lại kết quả / unchanged, results reused[/dim]"
        else:
            note = (
                "[yellow]cần điều chỉnh / needs adjustment[/yellow]" if record.needs_adjustment else "[green]ok[/green]"
            )
        self.message(f"{record.id}: {note}")
        if self.task is not None:
            self.progress.update(self.task, advance=1, features=number(self.features))

    def finish(self) -> None:
        # Stopping a bar that never started still prints a newline: an invalid registry's
        # one-line error would then follow an empty line on stderr.
        if self.started:
            self.started = False
            self.progress.stop()


def run_and_report(opts, quiet: bool) -> int:
    """Run the batch with a progress bar; print the one-paragraph outcome on stderr."""
    from ..batch import run_batch

    bar = ProgressBar(quiet)
    try:
        result = run_batch(opts, bar)
    finally:
        bar.finish()
    s = result.summary
    plans = s["plans"]
    totals = s["totals"]
    print(
        f"{plans['total']} quy hoạch: {plans['checked']} đã kiểm tra, {plans['unchanged']} không đổi"
        + (f" ({plans['kept']} giữ kết quả sau khi quy hoạch tỉnh đổi ở nơi khác)" if plans.get("kept") else "")
        + f", {plans['failed']} lỗi; {plans['needs_adjustment']} cần điều chỉnh. {totals_text(totals)}"
        f" / {plans['total']} plan(s): {plans['checked']} checked, {plans['unchanged']} unchanged"
        + (f" ({plans['kept']} of them after a master-plan change elsewhere)" if plans.get("kept") else "")
        + f", {plans['failed']} failed; {plans['needs_adjustment']} need adjustment."
        f" {totals_text(totals, english=True)} -> {result.out}",
        file=sys.stderr,
    )
    for failed in s["failed"]:
        print(f"  lỗi / failed: {failed['id']}: {failed['reason']}", file=sys.stderr)
    if "projects" in s:  # CONTRACT §9
        p = s["projects"]
        print(
            f"  {p['projects']} project(s) / dự án: {p['siting']['conflict']} conflict, {p['schedule']['overdue']}"
            f" overdue, {p['not_reserved']} not reserved -> {result.out / 'projects.json'}",
            file=sys.stderr,
        )
    if "indicators" in s:
        c = s["indicators"]
        print(
            f"  indicators / chỉ tiêu: master plan {c['master_over']} over, {c['master_under']} under; plans in force"
            f" {c['plans_over']} over, {c['plans_under']} under -> {result.out / 'indicators.json'}",
            file=sys.stderr,
        )
    return result.exit_code


@app.command("batch", cls=_PlainUsage)
def batch(
    registry: Annotated[
        Path,
        typer.Argument(
            metavar="REGISTRY",
            help="Plan register (YAML): province, master, rules and the list of plans (id, name, type, path, "
            "code_field, label_field, decision, approved, authority; optional layer, encoding, assume_crs, "
            "min_area). See the README section 'Batch runs over a plan register' and the example "
            "layers/demo/registry.yaml.",
        ),
    ],
    out: Annotated[Path, Opt(help="Output folder: DIR/<plan id>/ per plan, province summary and reports.")],
    jobs: Annotated[int, Opt(help="Plans checked at the same time (threads).", min=1)] = 1,
    resume: Annotated[
        bool, Opt("--resume", help="Reuse the results of plans whose inputs and rules are unchanged.")
    ] = False,
    report: Annotated[
        Optional[str], Opt(help="Reports to write: any of html,xlsx,pdf, or none (default: all).")
    ] = None,
    english: Annotated[bool, Opt("--english", help="English column names in reports.")] = False,
    min_area: Annotated[
        float, Opt(help="Polygon pieces below this many m² are slivers (per plan: min_area in the registry).")
    ] = 1.0,
    engine: Annotated[str, Opt(help="Reading engine: pyogrio or fiona.", envvar="KGSPATIAL_ENGINE")] = "pyogrio",
    master_checks: Annotated[
        str, Opt(help="Master coverage checks: always (default: one master serves every plan), auto or never.")
    ] = "always",
    exact_unreviewed: Annotated[
        bool,
        Opt(
            "--exact-unreviewed",
            help="Exact areas of the code pairs no rule covers (default: the plan features they concern).",
        ),
    ] = False,
    scheduler: Annotated[
        Optional[str],
        Opt(
            help="Dask scheduler address (tcp://HOST:PORT): check the plans on its cluster; workers must see the registry's paths."
        ),
    ] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress bar or messages.")] = False,
) -> None:
    """Check every plan of a province's registry; exit 1 when a plan has conflicts or failed."""
    from ..batch import BatchOptions
    from ..errors import InputError

    if master_checks not in {"auto", "always", "never"}:
        raise InputError.say(
            "--master-checks phải là auto, always hoặc never", "--master-checks must be auto, always or never"
        )
    if min_area < 0:
        raise InputError.say("--min-area phải từ 0 trở lên", "--min-area must be 0 or more")
    opts = BatchOptions(
        registry=registry,
        out=out,
        jobs=jobs,
        resume=resume,
        formats=parse_formats(report),
        english=english,
        engine=engine,
        min_area=min_area,
        master_checks=master_checks,
        exact_unreviewed=exact_unreviewed,
        scheduler=scheduler,
    )
    raise typer.Exit(run_and_report(opts, quiet))
