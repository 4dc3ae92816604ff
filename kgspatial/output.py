"""Writing results: everything goes to a folder beside --out and is moved in only when complete,
so a failed run leaves --out exactly as it was."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from . import crs as crs_mod

CONFLICTS_LAYER = "conflicts"


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def usual_mode(path: str | Path, directory: bool = False) -> None:
    """Give a file made by mkstemp/mkdtemp (mode 0600/0700) the mode a plain open() would have,
    so results on a shared office drive can be opened by colleagues."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_UMASK)


@contextlib.contextmanager
def staged_output(out: str | Path) -> Iterator[Path]:
    """Yield a scratch folder; on success its files replace those of the same name in `out`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    usual_mode(stage, directory=True)
    try:
        yield stage
        if not out.exists():
            os.replace(stage, out)
            return
        if not out.is_dir():
            raise NotADirectoryError(f"--out {out} exists and is not a folder")
        for item in sorted(stage.iterdir()):
            target = out / item.name
            if target.is_dir() and not item.is_dir():
                shutil.rmtree(target)
            elif target.is_dir():
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _promoted(geoms: np.ndarray, single: int, multi) -> np.ndarray:
    """Single parts as multi-part geometries, in one vectorised call (geopandas' own promotion
    costs about six times more on large results)."""
    out = geoms.copy()
    lone = shapely.get_type_id(geoms) == single
    if lone.any():
        out[lone] = multi(geoms[lone], indices=np.arange(int(lone.sum())))
    return out


def write_conflicts_gpkg(conflicts: gpd.GeoDataFrame, path: Path) -> None:
    """One layer, `conflicts`, in the analysis CRS; multi-part type per kind, generic when mixed."""
    geoms = conflicts.geometry.values.to_numpy()
    types = set(shapely.get_type_id(geoms[~shapely.is_missing(geoms)]).tolist())
    geometry_type = "Unknown"
    if types and types <= {3, 6}:
        geometry_type, geoms = "MultiPolygon", _promoted(geoms, 3, shapely.multipolygons)
    elif types and types <= {1, 5}:
        geometry_type, geoms = "MultiLineString", _promoted(geoms, 1, shapely.multilinestrings)
    elif types and types <= {0, 4}:
        geometry_type = "Point" if types == {0} else "MultiPoint"
        if geometry_type == "MultiPoint":
            geoms = _promoted(geoms, 0, shapely.multipoints)
    frame = conflicts.set_geometry(gpd.GeoSeries(geoms, index=conflicts.index, crs=conflicts.crs))
    # One write: appending slices would update the R-tree row by row (twice the time at 900k rows).
    pyogrio.write_dataframe(frame, path, layer=CONFLICTS_LAYER, driver="GPKG", geometry_type=geometry_type,
                            use_arrow=True)


def write_geojson(conflicts: gpd.GeoDataFrame, path: Path) -> None:
    """RFC 7946 GeoJSON: WGS 84 via the pinned VN-2000 transformation."""
    wgs84 = crs_mod.to_crs(conflicts, "EPSG:4326")
    pyogrio.write_dataframe(wgs84, path, driver="GeoJSON", layer_options={"RFC7946": "YES"})


def write_summary(summary: dict, path: Path) -> None:
    path.write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")


def write_check_outputs(result, out: str | Path, geojson: bool = False, extra=None) -> Path:
    """conflicts.gpkg, summary.json (and conflicts.geojson), plus whatever `extra(stage)` adds."""
    with staged_output(out) as stage:
        write_conflicts_gpkg(result.conflicts, stage / "conflicts.gpkg")
        if geojson:
            write_geojson(result.conflicts, stage / "conflicts.geojson")
        if extra is not None:
            extra(stage)
        write_summary(result.summary, stage / "summary.json")
    return Path(out)
