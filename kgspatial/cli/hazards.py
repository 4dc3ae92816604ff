"""`kgspatial hazards`: plans screened against flood / sea-level-rise rasters (CONTRACT §8).

Examples:
    kgspatial hazards --plan qhc.gpkg --hazards layers/demo/hazards/HAZARDS.yaml --out out/
    kgspatial hazards --plan a.shp --plan b.gpkg --hazards HAZARDS.yaml --admin xa_2025.gpkg \\
        --admin-field ma_xa --admin-previous xa_2024.gpkg --map --report html,xlsx --out out/
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from .check import DEFAULT_JOBS
from .common import status_printer

Opt = typer.Option
HAZARD_OUTPUTS = ("hazards.gpkg", "summary.json", "map.html", "report.html", "report.xlsx", "report.pdf")


@app.command("hazards")
def hazards(
    plan: Annotated[list[str], Opt(help="Plan layer; repeat for several plans.")],
    hazards_file: Annotated[str, Opt("--hazards", help="HAZARDS.yaml: the rasters and the hazard-rules table.")],
    out: Annotated[Path, Opt(help="Output folder (left untouched on error).")],
    admin: Annotated[Optional[str], Opt(help="Administrative units (communes) to split pieces by.")] = None,
    admin_field: Annotated[Optional[str], Opt(help="Unit code column.")] = None,
    admin_name_field: Annotated[Optional[str], Opt(help="Unit name column.")] = None,
    admin_previous: Annotated[Optional[str], Opt(help="Previous units (e.g. pre-2025 communes).")] = None,
    admin_previous_field: Annotated[Optional[str], Opt(help="Previous unit code column.")] = None,
    admin_previous_name_field: Annotated[Optional[str], Opt(help="Previous unit name column.")] = None,
    plan_field: Annotated[Optional[str], Opt(help="Plan land-use code column (default: detected).")] = None,
    plan_label_field: Annotated[Optional[str], Opt(help="Plan name column carried to the output.")] = None,
    plan_id_field: Annotated[Optional[str], Opt(help="Plan feature id column (default: FID).")] = None,
    assume_crs: Annotated[Optional[str], Opt(help="CRS for plan layers that have none (no .prj).")] = None,
    encoding: Annotated[Optional[str], Opt(help="Text encoding of the plan(s), over their .cpg.")] = None,
    analysis_crs: Annotated[Optional[str], Opt(help="CRS for areas and lengths (default: profile, EPSG:9207).")] = None,
    map_: Annotated[bool, Opt("--map", help="Also write map.html (interactive, works offline).")] = False,
    report: Annotated[Optional[str], Opt(help="Also write reports: any of html,xlsx,pdf (comma-separated).")] = None,
    english: Annotated[bool, Opt("--english", help="English column names in reports.")] = False,
    jobs: Annotated[int, Opt(help="Threads for the commune split.", min=1)] = DEFAULT_JOBS,
    engine: Annotated[str, Opt(help="Reading engine: pyogrio or fiona.", envvar="KGSPATIAL_ENGINE")] = "pyogrio",
    profile: Annotated[str, Opt(help="Province profile.")] = "kien-giang",
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress messages.")] = False,
) -> None:
    """Screen plans against hazard rasters: exposed area by depth band (sàng lọc ngập)."""
    from ..check import AdminInput, PlanInput
    from ..errors import InputError
    from ..hazards import HazardOptions, run_hazards
    from ..output import check_out_folder, staged_output, write_conflicts_gpkg, write_summary

    check_out_folder(out)
    formats = [f.strip().lower() for f in report.split(",") if f.strip()] if report else []
    bad = [f for f in formats if f not in {"html", "xlsx", "pdf"}]
    if bad:
        raise InputError(f"--report: unknown format(s) {', '.join(bad)}; use html, xlsx, pdf")
    opts = HazardOptions(
        plans=[
            PlanInput(
                path=p, code_field=plan_field, label_field=plan_label_field, id_field=plan_id_field, encoding=encoding
            )
            for p in plan
        ],
        hazards=hazards_file,
        admin=AdminInput(admin, admin_field, admin_name_field) if admin else None,
        admin_previous=AdminInput(admin_previous, admin_previous_field, admin_previous_name_field)
        if admin_previous
        else None,
        analysis_crs=analysis_crs,
        assume_crs=assume_crs,
        engine=engine,
        profile=profile,
        jobs=jobs,
    )
    with status_printer(quiet) as progress:
        run = run_hazards(opts, progress)
        progress("ghi kết quả / writing outputs")
        with staged_output(out, owned=HAZARD_OUTPUTS) as stage:
            write_conflicts_gpkg(run.result.findings, stage / "hazards.gpkg", layer="hazards")
            if map_:
                from ..maps import write_hazard_map

                write_hazard_map(run, stage / "map.html")
            if formats:
                from ..reports import write_hazard_reports

                write_hazard_reports(run, stage, formats, english=english)
            write_summary(run.summary, stage / "summary.json")
    totals = run.summary["hazards"]["totals"]
    print(
        f"{totals['conflict_pieces']} conflict band piece(s): {totals['conflict_area_m2'] / 1e4:,.2f} ha,"
        f" {totals['conflict_length_m']:,.0f} m, {totals['conflict_points']} point(s);"
        f" {totals['conditional_pieces']} conditional; unknown {totals['unknown_m2'] / 1e4:,.2f} ha -> {out}",
        file=sys.stderr,
    )
    raise typer.Exit(run.result.exit_code)
