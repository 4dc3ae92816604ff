"""`kgspatial diff`: what changed between two versions of one zoning layer (CONTRACT §7).

Examples:
    kgspatial diff qh_tinh_2023.gpkg qh_tinh_2025.gpkg --out thay_doi/
    kgspatial diff cu.shp moi.shp --old-field MaLoaiDat --new-field MA_QH --admin xa.gpkg --out thay_doi/
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from .batch import _PlainUsage

Opt = typer.Option


@app.command("diff", cls=_PlainUsage)
def diff(
    old: Annotated[str, typer.Argument(metavar="OLD", help="The earlier version (PATH or PATH::LAYER).")],
    new: Annotated[str, typer.Argument(metavar="NEW", help="The later version (PATH or PATH::LAYER).")],
    out: Annotated[Path, Opt(help="Output folder for diff.gpkg (layer changes) and diff.json.")],
    old_field: Annotated[Optional[str], Opt(help="Land-use code column of OLD (default: detected).")] = None,
    new_field: Annotated[Optional[str], Opt(help="Land-use code column of NEW (default: detected).")] = None,
    old_label_field: Annotated[Optional[str], Opt(help="Name column of OLD carried to the output.")] = None,
    new_label_field: Annotated[Optional[str], Opt(help="Name column of NEW carried to the output.")] = None,
    old_id_field: Annotated[Optional[str], Opt(help="Feature id column of OLD (default: FID).")] = None,
    new_id_field: Annotated[Optional[str], Opt(help="Feature id column of NEW (default: FID).")] = None,
    admin: Annotated[Optional[str], Opt(help="Administrative units (communes) to split pieces by.")] = None,
    admin_field: Annotated[Optional[str], Opt(help="Unit code column.")] = None,
    admin_name_field: Annotated[Optional[str], Opt(help="Unit name column.")] = None,
    admin_previous: Annotated[Optional[str], Opt(help="Previous units (e.g. pre-2025 communes).")] = None,
    admin_previous_field: Annotated[Optional[str], Opt(help="Previous unit code column.")] = None,
    admin_previous_name_field: Annotated[Optional[str], Opt(help="Previous unit name column.")] = None,
    analysis_crs: Annotated[Optional[str], Opt(help="CRS for areas (default: profile, EPSG:9207).")] = None,
    assume_crs: Annotated[Optional[str], Opt(help="CRS for layers that have none (no .prj).")] = None,
    encoding: Annotated[Optional[str], Opt(help="Text encoding of both layers, over their .cpg.")] = None,
    min_area: Annotated[float, Opt(help="Pieces below this many m² are counted as slivers, not listed.")] = 1.0,
    jobs: Annotated[int, Opt(help="Threads for the overlay.", min=1)] = 1,
    profile: Annotated[str, Opt(help="Province profile.")] = "kien-giang",
) -> None:
    """Zones whose land-use code changed between two versions of a layer, and land added or removed."""
    from ..check import AdminInput
    from ..diff import DiffOptions, LayerSpec, compare, write_diff
    from ..output import check_out_folder

    check_out_folder(out)
    opts = DiffOptions(
        old=LayerSpec(old, old_field, old_label_field, old_id_field, encoding, assume_crs),
        new=LayerSpec(new, new_field, new_label_field, new_id_field, encoding, assume_crs),
        admin=AdminInput(admin, admin_field, admin_name_field) if admin else None,
        admin_previous=(
            AdminInput(admin_previous, admin_previous_field, admin_previous_name_field) if admin_previous else None
        ),
        profile=profile,
        analysis_crs=analysis_crs,
        min_area=min_area,
        jobs=jobs,
    )
    result = compare(opts)
    write_diff(result, out)
    t = result.summary["totals"]
    print(
        f"{t['changed_pieces']} changed piece(s), {t['changed_area_m2'] / 1e4:,.4f} ha; added"
        f" {t['added_area_m2'] / 1e4:,.4f} ha, removed {t['removed_area_m2'] / 1e4:,.4f} ha -> {out}",
        file=sys.stderr,
    )
