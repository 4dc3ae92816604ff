"""Writing results: everything goes to a folder beside --out and is moved in only when complete,
so a failed run leaves --out exactly as it was."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely

from . import crs as crs_mod
from .errors import InputError

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


# Every file `kgspatial check` may write: one it does not write this time is an earlier run's
# (a map of another plan beside new conflicts) and goes; the user's own files stay.
CHECK_OUTPUTS = (
    "conflicts.gpkg",
    "conflicts.geojson",
    "summary.json",
    "map.html",
    "report.html",
    "report.xlsx",
    "report.pdf",
    "hazards.gpkg",
)


def check_out_folder(out: str | Path) -> None:
    """Refuse an --out that names a file, before any work is done."""
    if Path(out).exists() and not Path(out).is_dir():
        raise InputError.say(f"--out {out} đã có và không phải là thư mục", f"--out {out} exists and is not a folder")


@contextlib.contextmanager
def staged_output(out: str | Path, owned: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a scratch folder; on success its files replace those of the same name in `out`, and
    the `owned` names it did not produce are removed from `out`."""
    out = Path(out)
    check_out_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    usual_mode(stage, directory=True)
    try:
        yield stage
        if not out.exists():
            os.replace(stage, out)
            return
        check_out_folder(out)
        for name in owned:
            if not (stage / name).exists() and (out / name).is_file():
                (out / name).unlink()
        for item in sorted(stage.iterdir()):
            target = out / item.name
            if target.is_dir() and not item.is_dir():
                shutil.rmtree(target)
            elif target.is_dir():
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# Single-part shapely type -> its multi-part shapely type, the WKB header of a one-part multi
# geometry (little-endian, WKB multi type, one part; the single part's own WKB follows it
# unchanged, OGC 06-103r4 §8.2, so promoting rebuilds nothing) and the declared layer type.
# Shapely and WKB number the multi types alike (4, 5, 6).
_PROMOTE = {
    single: (multi, struct.pack("<BII", 1, multi, 1), name)
    for single, multi, name in ((3, 6, "MultiPolygon"), (1, 5, "MultiLineString"), (0, 4, "MultiPoint"))
}


def _layer_type(type_ids: np.ndarray) -> tuple[str, int | None]:
    """The conflicts layer's declared type and the single-part type to promote to it: multi-part
    per kind (GeoPackage wants one type per layer), generic when kinds mix."""
    types = set(np.unique(type_ids[type_ids >= 0]).tolist())  # -1 for missing
    single = next((t for t, (multi, *_) in _PROMOTE.items() if types and types <= {t, multi}), None)
    if single is None:
        return "Unknown", None
    if types == {0}:
        return "Point", None
    return _PROMOTE[single][2], single


def _gpkg_wkb(geoms: np.ndarray, type_ids: np.ndarray, promote: int | None) -> np.ndarray:
    wkb = shapely.to_wkb(geoms, byte_order=1, output_dimension=2)
    if promote is not None:
        prefix = _PROMOTE[promote][1]
        lone = np.nonzero(type_ids == promote)[0]
        wkb[lone] = [prefix + w for w in wkb[lone]]
    return wkb


# Arrow buffers from the C heap, not pyarrow's own pool: the heap has the space the overlay freed,
# the pool would take new pages beside it.
_POOL = pa.system_memory_pool()


def _arrow_column(values: pd.Series) -> pa.Array:
    if values.dtype != object:
        array = pa.Array.from_pandas(values, memory_pool=_POOL)
        # Arrow-backed columns (pyogrio's reads, pandas' string[pyarrow]) come back chunked.
        return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    try:
        return pa.array(values.to_numpy(), type=pa.string(), from_pandas=True, memory_pool=_POOL)
    except (pa.ArrowTypeError, pa.ArrowInvalid):  # a non-text value in a text column: write its text
        return pa.array([None if pd.isna(v) else str(v) for v in values], type=pa.string(), memory_pool=_POOL)


BATCH_ROWS = 16_384  # rows turned into Arrow (text and WKB) at a time while GDAL writes


def write_conflicts_gpkg(conflicts: gpd.GeoDataFrame, path: Path, layer: str = CONFLICTS_LAYER) -> None:
    """One layer (`conflicts`; `hazards` for hazards.gpkg), in the analysis CRS, written by one GDAL call fed a stream of Arrow
    batches: the layer is made once and its R-tree built at the end (appending slices in separate
    calls updated it row by row: twice the time at 900k rows), and only one batch of Arrow text
    and WKB exists at a time (all at once took 250 MB at 400k rows)."""
    geoms = conflicts.geometry.values.to_numpy()
    type_ids = shapely.get_type_id(geoms)
    geometry_type, promote = _layer_type(type_ids)
    names = [c for c in conflicts.columns if c != conflicts.geometry.name]

    def batch(s: slice) -> pa.RecordBatch:
        part = conflicts.iloc[s]
        columns = {c: _arrow_column(part[c]) for c in names}
        columns["geometry"] = pa.array(_gpkg_wkb(geoms[s], type_ids[s], promote), type=pa.binary(), memory_pool=_POOL)
        return pa.RecordBatch.from_pydict(columns)

    first = batch(slice(0, BATCH_ROWS))
    rest = (batch(slice(i, i + BATCH_ROWS)).cast(first.schema) for i in range(BATCH_ROWS, len(conflicts), BATCH_ROWS))
    stream = pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], rest))
    epsg = conflicts.crs.to_epsg() if conflicts.crs is not None else None
    crs = f"EPSG:{epsg}" if epsg else (conflicts.crs.to_wkt() if conflicts.crs is not None else None)
    pyogrio.write_arrow(
        stream, path, layer=layer, driver="GPKG", geometry_name="geometry", geometry_type=geometry_type, crs=crs
    )


def write_geojson(conflicts: gpd.GeoDataFrame, path: Path) -> None:
    """RFC 7946 GeoJSON: WGS 84 via the pinned VN-2000 transformation."""
    wgs84 = crs_mod.to_crs(conflicts, "EPSG:4326")
    pyogrio.write_dataframe(wgs84, path, driver="GeoJSON", layer_options={"RFC7946": "YES"})


def write_summary(summary: dict, path: Path) -> None:
    path.write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")


def write_check_outputs(result, out: str | Path, geojson: bool = False, extra=None) -> Path:
    """conflicts.gpkg, summary.json (and conflicts.geojson), plus whatever `extra(stage)` adds."""
    with staged_output(out, owned=CHECK_OUTPUTS) as stage:
        write_conflicts_gpkg(result.conflicts, stage / "conflicts.gpkg")
        if geojson:
            write_geojson(result.conflicts, stage / "conflicts.geojson")
        hazards = getattr(result, "hazards", None)
        if hazards is not None:  # check --hazards (CONTRACT §8)
            write_conflicts_gpkg(hazards.findings, stage / "hazards.gpkg", layer="hazards")
        if extra is not None:
            extra(stage)
        write_summary(result.summary, stage / "summary.json")
    return Path(out)
