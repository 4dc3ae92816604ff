"""The PostGIS store: registry, jobs and keys in PostgreSQL tables, layers and conflict rows as
PostGIS geometry columns (the source/analysis CRS geometry, and an EPSG:4326 copy made through
kgspatial.crs so the pinned VN-2000 transformation is used, never PostGIS's default).

    layer_features(layer_id, fid, sensitive, props jsonb, geom, geom4326 geometry(Geometry,4326))
    conflict_features(check_id, seq, conflict_id, verdict, severity, rule_id, admin_code,
                      sensitive, props jsonb, geom, geom4326 geometry(Geometry,4326))
    feature_schemas(owner_id, columns jsonb, crs_wkt)      column order and CRS of each
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
import sqlalchemy as sa

from kgspatial import crs as crs_mod
from kgspatial.errors import InputError

from .. import owner
from .base import ConflictFilter, NotFound, Page
from .embedded import sensitive_rows
from .features import conflict_feature, layer_feature, plain
from .sql import SqlStore

DDL = [
    "CREATE EXTENSION IF NOT EXISTS postgis",
    """CREATE TABLE IF NOT EXISTS feature_schemas (
        owner_id varchar(32) PRIMARY KEY, columns jsonb NOT NULL, crs_wkt text NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS layer_features (
        layer_id varchar(32) NOT NULL, fid integer NOT NULL, sensitive boolean NOT NULL,
        props jsonb NOT NULL, geom geometry, geom4326 geometry(Geometry, 4326),
        PRIMARY KEY (layer_id, fid))""",
    "CREATE INDEX IF NOT EXISTS layer_features_geom4326 ON layer_features USING gist (geom4326)",
    """CREATE TABLE IF NOT EXISTS conflict_features (
        check_id varchar(32) NOT NULL, seq integer NOT NULL, conflict_id text, verdict text, severity text,
        rule_id text, admin_code text, sensitive boolean NOT NULL, props jsonb NOT NULL,
        geom geometry, geom4326 geometry(Geometry, 4326), PRIMARY KEY (check_id, seq))""",
    "CREATE INDEX IF NOT EXISTS conflict_features_geom4326 ON conflict_features USING gist (geom4326)",
]
BATCH = 2000
_KEPT_RESULT = "SELECT 1 FROM checks c WHERE c.id = {} AND c.status IN ('successful', 'running')"
SWEEP = [
    "DELETE FROM layer_features f WHERE NOT EXISTS (SELECT 1 FROM layers l WHERE l.id = f.layer_id)",
    f"DELETE FROM conflict_features f WHERE NOT EXISTS ({_KEPT_RESULT.format('f.check_id')})",
    "DELETE FROM feature_schemas s WHERE NOT EXISTS (SELECT 1 FROM layers l WHERE l.id = s.owner_id)"
    f" AND NOT EXISTS ({_KEPT_RESULT.format('s.owner_id')})",
]
MAX_ROWS = 2**62  # LIMIT/OFFSET are bigint: larger ones (fine in embedded) are clamped, not an error


def sqlalchemy_url(url: str) -> str:
    """postgresql://... as users write it -> the psycopg 3 driver SQLAlchemy needs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _wkb(geoms) -> list:
    out = shapely.to_wkb(np.asarray(geoms, dtype=object))
    return [None if g is None else bytes(g) for g in out]


def _from_wkb(value):
    return None if value is None else shapely.from_wkb(bytes(value))


def _bad_value(context):
    """A value PostgreSQL refuses (NUL byte, number out of range) is the caller's input: a 400,
    never a 500 with the SQL. The failed transaction is rolled back as its block exits."""
    if isinstance(context.original_exception, psycopg.DataError):
        return InputError(f"a value cannot be used by the database: {context.original_exception}".splitlines()[0])
    return None


class PostgisStore(SqlStore):
    def __init__(self, url: str, data_dir: Path, sensitive_codes):
        self.data_dir = Path(data_dir)
        self.sensitive_codes = frozenset(sensitive_codes)
        engine = sa.create_engine(sqlalchemy_url(url), pool_pre_ping=True, pool_size=10, max_overflow=10)
        sa.event.listen(engine, "handle_error", _bad_value)
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(5727415)"))  # one server creates the tables
            for statement in DDL:
                conn.execute(sa.text(statement))
        super().__init__(engine)
        self._sweep()

    def _sweep(self) -> None:
        """Rows no record owns (an earlier server killed mid-write, or mid-delete) are removed.

        Writes in progress elsewhere are uncommitted, so invisible here and untouched."""
        with self.engine.begin() as conn:
            for statement in SWEEP:
                conn.execute(sa.text(statement))

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT postgis_lib_version()"))

    # -- schemas ---------------------------------------------------------------------------
    def _schema_save(self, conn, owner_id: str, columns: list[str], crs_wkt: str) -> None:
        conn.execute(
            sa.text("INSERT INTO feature_schemas VALUES (:o, CAST(:c AS jsonb), :w)"),
            {"o": owner_id, "c": json.dumps(columns), "w": crs_wkt},
        )

    def _schema(self, owner_id: str) -> tuple[list[str], str]:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT columns, crs_wkt FROM feature_schemas WHERE owner_id = :o"), {"o": owner_id}
            ).first()
        if row is None:
            raise NotFound(owner_id)
        return list(row[0]), row[1]

    # -- layers ----------------------------------------------------------------------------
    def _layer_save(self, conn, layer_id: str, gdf, sensitive) -> None:
        columns = [str(c) for c in gdf.columns if c != gdf.geometry.name]
        wgs84 = crs_mod.to_crs(gdf, "EPSG:4326")
        props = gdf.drop(columns=gdf.geometry.name)
        props.columns = columns
        records = props.to_dict("records")
        geom, geom4326 = _wkb(gdf.geometry.values), _wkb(wgs84.geometry.values)
        sensitive = np.asarray(sensitive, dtype=bool)
        insert = sa.text(
            "INSERT INTO layer_features (layer_id, fid, sensitive, props, geom, geom4326) VALUES "
            "(:l, :f, :s, CAST(:p AS jsonb), ST_GeomFromWKB(:g), ST_SetSRID(ST_GeomFromWKB(:g4), 4326))"
        )
        self._schema_save(conn, layer_id, columns, gdf.crs.to_wkt())
        for start in range(0, len(records), BATCH):
            conn.execute(
                insert,
                [
                    {
                        "l": layer_id,
                        "f": i,
                        "s": bool(sensitive[i]),
                        "g": geom[i],
                        "g4": geom4326[i],
                        "p": json.dumps({k: plain(v) for k, v in records[i].items()}, ensure_ascii=False),
                    }
                    for i in range(start, min(start + BATCH, len(records)))
                ],
            )

    def _layer_delete(self, layer_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM layer_features WHERE layer_id = :l"), {"l": layer_id})
            conn.execute(sa.text("DELETE FROM feature_schemas WHERE owner_id = :l"), {"l": layer_id})

    @contextlib.contextmanager
    def layer_file(self, layer_id: str):
        """The layer exported to a scratch GeoParquet file (source CRS) for kgspatial to read."""
        gdf = self._features_frame(
            layer_id, "SELECT props, ST_AsBinary(geom) FROM layer_features WHERE layer_id = :o ORDER BY fid"
        )
        tmp = owner.scratch_folder(self.data_dir / "tmp", "layer")  # swept at start if the server dies
        try:
            path = tmp / f"{layer_id}.parquet"
            gdf.to_parquet(path)
            yield path
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @staticmethod
    def _bbox_sql(bbox, unmasked: bool, params: dict) -> str:
        if bbox is None:
            return ""
        region = "ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4326)"
        if not isinstance(bbox, tuple):  # a geometry: features.query_region
            if bbox.is_empty:
                return " AND false"
            params["region"], bbox, region = shapely.to_wkb(bbox), bbox.bounds, "ST_GeomFromWKB(:region, 4326)"
        params.update(x1=bbox[0], y1=bbox[1], x2=bbox[2], y2=bbox[3])
        sql = f" AND geom4326 && ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4326) AND ST_Intersects(geom4326, {region})"
        return sql + ("" if unmasked else " AND NOT sensitive")

    def layer_features(self, layer_id: str, *, bbox=None, limit: int, offset: int, unmasked: bool) -> Page:
        record = self.get_layer(layer_id)
        columns, _ = self._schema(layer_id)
        params = {"l": layer_id, "lim": min(limit, MAX_ROWS), "off": min(offset, MAX_ROWS)}
        where = "layer_id = :l" + self._bbox_sql(bbox, unmasked, params)
        with self.engine.connect() as conn:
            matched = conn.execute(sa.text(f"SELECT count(*) FROM layer_features WHERE {where}"), params).scalar_one()
            rows = conn.execute(
                sa.text(
                    f"SELECT fid, sensitive, props, ST_AsBinary(geom4326) FROM layer_features WHERE {where} "
                    "ORDER BY fid LIMIT :lim OFFSET :off"
                ),
                params,
            ).all()
        return Page([self._layer_feature(r, columns, record, unmasked) for r in rows], int(matched))

    @staticmethod
    def _layer_feature(row, columns, record, unmasked):
        props = {c: row[2].get(c) for c in columns}
        return layer_feature(row[0], props, _from_wkb(row[3]), row[1], unmasked, record.get("code_field"))

    def layer_feature(self, layer_id: str, fid: int, *, unmasked: bool) -> dict:
        record = self.get_layer(layer_id)
        columns, _ = self._schema(layer_id)
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT fid, sensitive, props, ST_AsBinary(geom4326) FROM layer_features "
                    "WHERE layer_id = :l AND fid = :f"
                ),
                {"l": layer_id, "f": fid},
            ).first()
        if row is None:
            raise NotFound(f"{layer_id}/{fid}")
        return self._layer_feature(row, columns, record, unmasked)

    # -- results ---------------------------------------------------------------------------
    def _result_save(self, conn, check_id: str, result) -> None:
        conflicts = result.conflicts
        columns = [str(c) for c in conflicts.columns if c != conflicts.geometry.name]
        wgs84 = crs_mod.to_crs(conflicts, "EPSG:4326") if len(conflicts) else conflicts
        sensitive = sensitive_rows(conflicts, self.sensitive_codes)
        records = pd.DataFrame(conflicts.drop(columns=conflicts.geometry.name)).to_dict("records")
        geom, geom4326 = _wkb(conflicts.geometry.values), _wkb(wgs84.geometry.values)
        insert = sa.text(
            "INSERT INTO conflict_features (check_id, seq, conflict_id, verdict, severity, rule_id, admin_code, "
            "sensitive, props, geom, geom4326) VALUES (:c, :n, :cid, :v, :s, :r, :a, :sens, CAST(:p AS jsonb), "
            "ST_GeomFromWKB(:g), ST_SetSRID(ST_GeomFromWKB(:g4), 4326))"
        )
        self._rows_delete(conn, check_id)  # rows an earlier server left (written before the fix) go
        self._schema_save(conn, check_id, columns, conflicts.crs.to_wkt())
        for start in range(0, len(records), BATCH):
            batch = []
            for i in range(start, min(start + BATCH, len(records))):
                rec = {k: plain(v) for k, v in records[i].items()}
                batch.append(
                    {
                        "c": check_id,
                        "n": i,
                        "cid": rec.get("conflict_id"),
                        "v": rec.get("verdict"),
                        "s": rec.get("severity"),
                        "r": rec.get("rule_id"),
                        "a": rec.get("admin_code"),
                        "sens": bool(sensitive[i]),
                        "p": json.dumps(rec, ensure_ascii=False),
                        "g": geom[i],
                        "g4": geom4326[i],
                    }
                )
            conn.execute(insert, batch)

    def _result_delete(self, check_id: str) -> None:
        with self.engine.begin() as conn:
            self._rows_delete(conn, check_id)

    def _rows_gone(self, conn, layer_id: str, check_ids: list[str]) -> None:
        conn.execute(sa.text("DELETE FROM layer_features WHERE layer_id = :l"), {"l": layer_id})
        conn.execute(sa.text("DELETE FROM feature_schemas WHERE owner_id = :l"), {"l": layer_id})
        for check_id in check_ids:
            self._rows_delete(conn, check_id)

    @staticmethod
    def _rows_delete(conn, check_id: str) -> None:
        conn.execute(sa.text("DELETE FROM conflict_features WHERE check_id = :c"), {"c": check_id})
        conn.execute(sa.text("DELETE FROM feature_schemas WHERE owner_id = :c"), {"c": check_id})

    def conflicts(self, check_id: str, flt: ConflictFilter, *, limit: int, offset: int, unmasked: bool) -> Page:
        self._require_successful(check_id)
        params: dict = {"c": check_id, "lim": min(limit, MAX_ROWS), "off": min(offset, MAX_ROWS)}
        where = "check_id = :c"
        for column, wanted in (
            ("severity", flt.severity),
            ("rule_id", flt.rule_id),
            ("admin_code", flt.admin_code),
            ("verdict", flt.verdict),
        ):
            if wanted:
                names = []
                for i, value in enumerate(wanted):
                    params[f"{column}{i}"] = value
                    names.append(f":{column}{i}")
                where += f" AND {column} IN ({', '.join(names)})"
        if flt.kind:  # kept in the row's properties only
            names = []
            for i, value in enumerate(flt.kind):
                params[f"kind{i}"] = value
                names.append(f":kind{i}")
            where += f" AND props->>'kind' IN ({', '.join(names)})"
        where += self._bbox_sql(flt.bbox, unmasked, params)
        with self.engine.connect() as conn:
            matched = conn.execute(
                sa.text(f"SELECT count(*) FROM conflict_features WHERE {where}"), params
            ).scalar_one()
            rows = conn.execute(
                sa.text(
                    f"SELECT props, sensitive, ST_AsBinary(geom4326) FROM conflict_features WHERE {where} "
                    "ORDER BY seq LIMIT :lim OFFSET :off"
                ),
                params,
            ).all()
        columns, _ = self._schema(check_id)
        return Page(
            [conflict_feature({c: r[0].get(c) for c in columns}, _from_wkb(r[2]), r[1], unmasked) for r in rows],
            int(matched),
        )

    def conflict(self, check_id: str, conflict_id: str, *, unmasked: bool) -> dict:
        self._require_successful(check_id)
        columns, _ = self._schema(check_id)
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT props, sensitive, ST_AsBinary(geom4326) FROM conflict_features "
                    "WHERE check_id = :c AND conflict_id = :i ORDER BY seq LIMIT 1"
                ),
                {"c": check_id, "i": conflict_id},
            ).first()
        if row is None:
            raise NotFound(conflict_id)
        return conflict_feature({c: row[0].get(c) for c in columns}, _from_wkb(row[2]), row[1], unmasked)

    def conflicts_frame(self, check_id: str) -> gpd.GeoDataFrame:
        self._require_successful(check_id)
        return self._features_frame(
            check_id, "SELECT props, ST_AsBinary(geom) FROM conflict_features WHERE check_id = :o ORDER BY seq"
        )

    def _features_frame(self, owner_id: str, sql: str) -> gpd.GeoDataFrame:
        """Rows of (JSON properties, WKB) back into a GeoDataFrame with the owner's stored schema."""
        columns, crs_wkt = self._schema(owner_id)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(sql), {"o": owner_id}).all()
        frame = pd.DataFrame([r[0] for r in rows], columns=columns)
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([_from_wkb(r[1]) for r in rows]), crs=crs_wkt)
