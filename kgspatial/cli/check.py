"""`kgspatial check`: one or more plans against the master plan (CONTRACT §1).

Examples:
    kgspatial check --master master.gpkg --plan qhc.zip --out out/
    kgspatial check --master qh_tinh.gpkg::sdd --plan plan.shp --plan-field MaLoaiDat \\
        --admin xa_2025.gpkg --admin-field ma_xa --admin-previous xa_2024.gpkg --jobs 2 --out out/
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from .common import status_printer, totals_text

Opt = typer.Option
# GEOS releases the GIL: a check uses the cores it has unless told otherwise (results do not
# depend on the thread count; conflict ids neither).
DEFAULT_JOBS = max(1, min(os.cpu_count() or 1, 8))
# The last result stays referenced: the console script leaves with os._exit once the outputs are
# written (cli.run), and freeing a million geometries one by one on the way out of `check` would
# cost 0.7 s at 1M zones for nothing.
_KEPT: list = []


@app.command("check")
def check(
    master: Annotated[str, Opt(help="Master-plan land-use layer (PATH or PATH::LAYER).")],
    plan: Annotated[list[str], Opt(help="Plan zoning layer; repeat for several plans.")],
    out: Annotated[Path, Opt(help="Output folder (left untouched on error).")],
    master_field: Annotated[Optional[str], Opt(help="Master land-use code column (default: detected).")] = None,
    plan_field: Annotated[Optional[str], Opt(help="Plan land-use code column (default: detected).")] = None,
    master_label_field: Annotated[Optional[str], Opt(help="Master name column carried to the output.")] = None,
    plan_label_field: Annotated[Optional[str], Opt(help="Plan name column carried to the output.")] = None,
    plan_id_field: Annotated[Optional[str], Opt(help="Plan feature id column (default: FID).")] = None,
    master_id_field: Annotated[Optional[str], Opt(help="Master feature id column (default: FID).")] = None,
    rules: Annotated[Optional[Path], Opt(help="Rules table CSV (default: the profile's).")] = None,
    exceptions: Annotated[
        Optional[Path], Opt(help="exceptions.csv: findings accepted by a decision (CONTRACT §10).")
    ] = None,
    hazards: Annotated[
        Optional[str], Opt(help="HAZARDS.yaml: also screen the plans for flooding (hazards.gpkg).")
    ] = None,
    admin: Annotated[Optional[str], Opt(help="Administrative units (communes) to split pieces by.")] = None,
    admin_field: Annotated[Optional[str], Opt(help="Unit code column.")] = None,
    admin_name_field: Annotated[Optional[str], Opt(help="Unit name column.")] = None,
    admin_previous: Annotated[Optional[str], Opt(help="Previous units (e.g. pre-2025 communes).")] = None,
    admin_previous_field: Annotated[Optional[str], Opt(help="Previous unit code column.")] = None,
    admin_previous_name_field: Annotated[Optional[str], Opt(help="Previous unit name column.")] = None,
    analysis_crs: Annotated[Optional[str], Opt(help="CRS for areas and lengths (default: profile, EPSG:9207).")] = None,
    assume_crs: Annotated[Optional[str], Opt(help="CRS for layers that have none (no .prj).")] = None,
    encoding: Annotated[
        Optional[str],
        Opt(help="Text encoding of the plan(s), over their .cpg (utf-8, cp1258, tcvn3, vni...); default: detected."),
    ] = None,
    master_encoding: Annotated[
        Optional[str], Opt(help="Text encoding of the master plan, over its .cpg; default: detected.")
    ] = None,
    min_area: Annotated[float, Opt(help="Polygon pieces below this many m² are counted as slivers, not listed.")] = 1.0,
    jobs: Annotated[
        int, Opt(help="Threads for the overlay (default: this machine's cores, up to 8).", min=1)
    ] = DEFAULT_JOBS,
    geojson: Annotated[bool, Opt("--geojson", help="Also write conflicts.geojson (EPSG:4326).")] = False,
    map_: Annotated[bool, Opt("--map", help="Also write map.html (interactive, works offline).")] = False,
    report: Annotated[Optional[str], Opt(help="Also write reports: any of html,xlsx,pdf (comma-separated).")] = None,
    english: Annotated[bool, Opt("--english", help="English column names in reports.")] = False,
    engine: Annotated[str, Opt(help="Reading engine: pyogrio or fiona.", envvar="KGSPATIAL_ENGINE")] = "pyogrio",
    profile: Annotated[str, Opt(help="Province profile.")] = "kien-giang",
    master_checks: Annotated[str, Opt(help="Master coverage checks: auto, always or never.")] = "auto",
    exact_unreviewed: Annotated[
        bool,
        Opt(
            "--exact-unreviewed",
            help="Intersect the code pairs no rule covers for their exact areas (default: the plan features they concern, far cheaper).",
        ),
    ] = False,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress messages.")] = False,
) -> None:
    """Find the conflicts between plans and the provincial master plan."""
    from ..check import AdminInput, CheckOptions, PlanInput, run_check
    from ..errors import InputError
    from ..output import check_out_folder, write_check_outputs

    check_out_folder(out)
    if master_checks not in {"auto", "always", "never"}:
        raise InputError.say(
            "--master-checks phải là auto, always hoặc never", "--master-checks must be auto, always or never"
        )
    formats = [f.strip().lower() for f in report.split(",") if f.strip()] if report else []
    bad = [f for f in formats if f not in {"html", "xlsx", "pdf"}]
    if bad:
        raise InputError.say(
            f"--report: không có định dạng {', '.join(bad)}; dùng html, xlsx, pdf",
            f"--report: unknown format(s) {', '.join(bad)}; use html, xlsx, pdf",
        )
    opts = CheckOptions(
        master=master,
        plans=[
            PlanInput(
                path=p, code_field=plan_field, label_field=plan_label_field, id_field=plan_id_field, encoding=encoding
            )
            for p in plan
        ],
        master_field=master_field,
        master_label_field=master_label_field,
        master_id_field=master_id_field,
        rules=str(rules) if rules else None,
        exceptions=str(exceptions) if exceptions else None,
        admin=AdminInput(admin, admin_field, admin_name_field) if admin else None,
        admin_previous=AdminInput(admin_previous, admin_previous_field, admin_previous_name_field)
        if admin_previous
        else None,
        analysis_crs=analysis_crs,
        assume_crs=assume_crs,
        encoding=master_encoding,
        min_area=min_area,
        jobs=jobs,
        engine=engine,
        profile=profile,
        master_checks=master_checks,
        hazards=hazards,
        exact_unreviewed=exact_unreviewed,
    )
    with status_printer(quiet) as progress:
        result = run_check(opts, progress)
        progress("ghi kết quả / writing outputs")
        write_check_outputs(result, out, geojson=geojson, extra=_presenters(result, map_, formats, english))
    _KEPT[:] = [result]
    totals = result.summary["totals"]
    unreviewed = len(result.summary["unreviewed"])
    print(
        f"{totals_text(totals)}; {unreviewed} cặp mã chưa xét / {totals_text(totals, english=True)};"
        f" {unreviewed} unreviewed pair(s) -> {out}",
        file=sys.stderr,
    )
    raise typer.Exit(result.exit_code)


def _presenters(result, with_map: bool, formats: list[str], english: bool):
    """Map and reports are written into the same staging folder as the other outputs."""
    if not with_map and not formats:
        return None

    def extra(stage: Path) -> None:
        if with_map:
            from ..maps import write_map

            write_map(result, stage / "map.html")
        if formats:
            from ..reports import write_check_reports

            write_check_reports(result, stage, formats, english=english)

    return extra
