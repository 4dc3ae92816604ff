"""The embedded store: SQLite for the registry and jobs, GeoParquet/GeoPackage files for geometry.

Nothing to install: everything lives under the data dir.

    data_dir/kgspatial.sqlite           keys, layers, rules, checks
    data_dir/layers/<id>/layer.parquet  the layer as uploaded (decoded text, source CRS): checks read it
    data_dir/layers/<id>/features.parquet  the same in EPSG:4326 with the masking flag: the API serves it
    data_dir/checks/<id>/conflicts.gpkg, summary.json   (as `kgspatial check --out`)
    data_dir/checks/<id>/conflicts_4326.parquet         served rows with the masking flag
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections import OrderedDict
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
import sqlalchemy as sa

from kgspatial import crs as crs_mod
from kgspatial.output import write_check_outputs

from .base import ConflictFilter, NotFound, Page
from .features import conflict_feature, layer_feature
from .sql import SqlStore

SENSITIVE = "_kgs_sensitive"
FID = "_kgs_fid"


class _FrameCache:
    """A few recently served frames kept in memory (results never change once written)."""

    def __init__(self, size: int = 8):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, load):
        key = (str(path), path.stat().st_mtime_ns)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        frame = load(path)
        with self._lock:
            self._items[key] = frame
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return frame

    def drop(self, path: Path) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == str(path)]:
                del self._items[key]


def sensitive_rows(frame, sensitive_codes) -> np.ndarray:
    codes = set(sensitive_codes)
    if frame.empty:
        return np.zeros(0, dtype=bool)
    return (frame["plan_code"].isin(codes) | frame["master_code"].isin(codes)).to_numpy(dtype=bool)


def conflicts_wgs84(conflicts: gpd.GeoDataFrame, sensitive_codes) -> gpd.GeoDataFrame:
    """The served copy of the conflict rows: EPSG:4326 through kgspatial.crs (pinned VN-2000 shift)."""
    out = (
        crs_mod.to_crs(conflicts, "EPSG:4326")
        if len(conflicts)
        else conflicts.set_crs("EPSG:4326", allow_override=True)
    )
    out = out.copy()
    out[SENSITIVE] = sensitive_rows(conflicts, sensitive_codes)
    return out


def _bbox_positions(frame: gpd.GeoDataFrame, bbox) -> np.ndarray:
    region = shapely.box(*bbox) if isinstance(bbox, tuple) else bbox  # a geometry: features.query_region
    hits = frame.sindex.query(region, predicate="intersects")
    keep = np.zeros(len(frame), dtype=bool)
    keep[hits] = True
    return keep


class EmbeddedStore(SqlStore):
    def __init__(self, data_dir: Path, sensitive_codes):
        self.data_dir = Path(data_dir)
        for sub in ("layers", "checks", "tmp"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        self.sensitive_codes = frozenset(sensitive_codes)
        engine = sa.create_engine(
            f"sqlite:///{self.data_dir / 'kgspatial.sqlite'}",
            connect_args={"check_same_thread": False, "timeout": 30},
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # WAL: readers never wait for the job writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        self._cache = _FrameCache()
        super().__init__(engine)
        self._sweep()

    def _sweep(self) -> None:
        """Remove half-written folders a killed process left (never referenced by a row)."""
        for sub in ("layers", "checks"):
            for item in (self.data_dir / sub).glob("*.part"):
                shutil.rmtree(item, ignore_errors=True)
            for item in (self.data_dir / sub).glob(".*.part"):
                shutil.rmtree(item, ignore_errors=True)
        with self.engine.connect() as conn:
            known = {
                "layers": {r[0] for r in conn.execute(sa.text("SELECT id FROM layers"))},
                "checks": {
                    r[0]
                    for r in conn.execute(sa.text("SELECT id FROM checks WHERE status IN ('successful', 'running')"))
                },
            }
        for sub, ids in known.items():  # results of failed or deleted checks too (killed before cleanup)
            for item in (self.data_dir / sub).iterdir():
                if item.is_dir() and item.name not in ids:
                    shutil.rmtree(item, ignore_errors=True)

    # -- layers ----------------------------------------------------------------------------
    def _layer_dir(self, layer_id: str) -> Path:
        return self.data_dir / "layers" / layer_id

    def _layer_save(self, conn, layer_id: str, gdf, sensitive) -> None:
        final = self._layer_dir(layer_id)
        part = final.with_name(layer_id + ".part")
        part.mkdir(parents=True)
        try:
            gdf.to_parquet(part / "layer.parquet")
            served = crs_mod.to_crs(gdf, "EPSG:4326") if len(gdf) else gdf
            served = served.copy()
            served[FID] = np.arange(len(served), dtype=np.int64)
            served[SENSITIVE] = np.asarray(sensitive, dtype=bool)
            served.to_parquet(part / "features.parquet")
            os.replace(part, final)
        except BaseException:
            shutil.rmtree(part, ignore_errors=True)
            raise

    def _layer_delete(self, layer_id: str) -> None:
        path = self._layer_dir(layer_id)
        self._cache.drop(path / "features.parquet")
        shutil.rmtree(path, ignore_errors=True)

    @contextlib.contextmanager
    def layer_file(self, layer_id: str):
        path = self._layer_dir(layer_id) / "layer.parquet"
        if not path.exists():
            raise NotFound(layer_id)
        yield path

    def _served_layer(self, layer_id: str) -> gpd.GeoDataFrame:
        path = self._layer_dir(layer_id) / "features.parquet"
        if not path.exists():
            raise NotFound(layer_id)
        return self._cache.get(path, gpd.read_parquet)

    def layer_features(self, layer_id: str, *, bbox=None, limit: int, offset: int, unmasked: bool) -> Page:
        record = self.get_layer(layer_id)
        frame = self._served_layer(layer_id)
        keep = np.ones(len(frame), dtype=bool)
        if bbox is not None:
            keep &= _bbox_positions(frame, bbox)
            if not unmasked:
                keep &= ~frame[SENSITIVE].to_numpy(dtype=bool)
        sub = frame[keep]
        page = sub.iloc[offset : offset + limit]
        return Page([self._layer_feature(row, record, unmasked) for row in page.to_dict("records")], int(len(sub)))

    def _layer_feature(self, row: dict, record: dict, unmasked: bool) -> dict:
        geom = row.pop("geometry")
        fid = row.pop(FID)
        sensitive = row.pop(SENSITIVE)
        return layer_feature(fid, row, geom, sensitive, unmasked, record.get("code_field"))

    def layer_feature(self, layer_id: str, fid: int, *, unmasked: bool) -> dict:
        record = self.get_layer(layer_id)
        frame = self._served_layer(layer_id)
        if not 0 <= fid < len(frame):
            raise NotFound(f"{layer_id}/{fid}")
        return self._layer_feature(frame.iloc[[fid]].to_dict("records")[0], record, unmasked)

    # -- results ---------------------------------------------------------------------------
    def _check_dir(self, check_id: str) -> Path:
        return self.data_dir / "checks" / check_id

    def _result_save(self, conn, check_id: str, result) -> None:
        served = conflicts_wgs84(result.conflicts, self.sensitive_codes)
        write_check_outputs(
            result, self._check_dir(check_id), extra=lambda stage: served.to_parquet(stage / "conflicts_4326.parquet")
        )

    def _result_delete(self, check_id: str) -> None:
        path = self._check_dir(check_id)
        self._cache.drop(path / "conflicts_4326.parquet")
        shutil.rmtree(path, ignore_errors=True)

    def _served_conflicts(self, check_id: str) -> gpd.GeoDataFrame:
        self._require_successful(check_id)
        path = self._check_dir(check_id) / "conflicts_4326.parquet"
        if not path.exists():
            raise NotFound(check_id)
        return self._cache.get(path, gpd.read_parquet)

    def conflicts(self, check_id: str, flt: ConflictFilter, *, limit: int, offset: int, unmasked: bool) -> Page:
        frame = self._served_conflicts(check_id)
        keep = np.ones(len(frame), dtype=bool)
        for column, wanted in (
            ("severity", flt.severity),
            ("rule_id", flt.rule_id),
            ("admin_code", flt.admin_code),
            ("verdict", flt.verdict),
            ("kind", flt.kind),
        ):
            if wanted:
                if column not in frame:
                    keep &= False
                else:
                    keep &= frame[column].isin(wanted).to_numpy(dtype=bool)
        if flt.bbox is not None and len(frame):
            keep &= _bbox_positions(frame, flt.bbox)
            if not unmasked:
                keep &= ~frame[SENSITIVE].to_numpy(dtype=bool)
        sub = frame[keep]
        page = sub.iloc[offset : offset + limit]
        return Page([self._conflict_feature(row, unmasked) for row in page.to_dict("records")], int(len(sub)))

    @staticmethod
    def _conflict_feature(row: dict, unmasked: bool) -> dict:
        geom = row.pop("geometry")
        sensitive = row.pop(SENSITIVE)
        return conflict_feature(row, geom, sensitive, unmasked)

    def conflict(self, check_id: str, conflict_id: str, *, unmasked: bool) -> dict:
        frame = self._served_conflicts(check_id)
        sub = frame[frame["conflict_id"] == conflict_id]
        if sub.empty:
            raise NotFound(conflict_id)
        return self._conflict_feature(sub.to_dict("records")[0], unmasked)

    def conflicts_frame(self, check_id: str) -> gpd.GeoDataFrame:
        self._require_successful(check_id)
        return pyogrio.read_dataframe(self._check_dir(check_id) / "conflicts.gpkg", layer="conflicts")
