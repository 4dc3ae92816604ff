"""Registry, keys and jobs in SQL (SQLAlchemy Core): the same tables in SQLite and PostgreSQL.

Subclasses keep the geometry (layers, conflict rows) where they like; this class keeps the rows
that say what exists, who owns it and where each job stands.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import threading
import time
import uuid

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa

from kgspatial.prepare import kinds_of, repair

from .base import ACTIVE, ROLES, Conflict, NotFound, Store
from .features import json_safe

metadata = sa.MetaData()

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.String(32), nullable=False),
)

layers = sa.Table(
    "layers",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("plan_type", sa.String(64)),
    sa.Column("owner_id", sa.String(32)),
    sa.Column("filename", sa.Text),
    sa.Column("crs", sa.Text),
    sa.Column("crs_wkt", sa.Text),
    sa.Column("crs_source", sa.Text),
    sa.Column("encoding", sa.Text),
    sa.Column("feature_count", sa.Integer),
    sa.Column("code_field", sa.Text),
    sa.Column("label_field", sa.Text),
    sa.Column("id_field", sa.Text),
    sa.Column("name_field", sa.Text),
    sa.Column("bbox", sa.Text),  # JSON [minx, miny, maxx, maxy] in EPSG:4326
    sa.Column("info", sa.Text),  # JSON: what the check reports about this input
    sa.Column("warnings", sa.Text),  # JSON list
    sa.Column("created_at", sa.String(32), nullable=False),
    # How the plan is named in reports and the register (CONTRACT §5, §7); plans only.
    sa.Column("decision", sa.Text),
    sa.Column("approved", sa.String(10)),  # YYYY-MM-DD
    sa.Column("authority", sa.Text),
    sa.Column("register_keys", sa.Text),  # JSON: the §7 keys (status, horizon, parent, ...)
)

rules_tables = sa.Table(
    "rules_tables",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("filename", sa.Text),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("rule_count", sa.Integer, nullable=False),
    sa.Column("owner_id", sa.String(32)),
    sa.Column("created_at", sa.String(32), nullable=False),
)

checks = sa.Table(
    "checks",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("plan_id", sa.String(32), nullable=False, index=True),
    sa.Column("master_id", sa.String(32), nullable=False),
    sa.Column("rules_id", sa.String(32)),
    sa.Column("admin_id", sa.String(32)),
    sa.Column("admin_prev_id", sa.String(32)),  # the pre-2025 units (conflict rows gain admin_prev_*)
    sa.Column("min_area", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("reason", sa.Text),
    sa.Column("progress", sa.Text),
    sa.Column("owner_id", sa.String(32)),
    sa.Column("worker", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("heartbeat", sa.Float),  # epoch seconds of the worker's last sign of life
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("started_at", sa.String(32)),
    sa.Column("finished_at", sa.String(32)),
    sa.Column("summary", sa.Text),  # summary.json when successful
    sa.Column("inputs", sa.Text),  # JSON: content digests of what it checks (the register's "outdated")
)

exceptions = sa.Table(
    "exceptions",
    metadata,  # findings accepted by a decision (CONTRACT §10)
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("plan_id", sa.String(32), nullable=False, index=True),
    sa.Column("rule_id", sa.Text, nullable=False),
    sa.Column("plan_feature", sa.Text, nullable=False),
    sa.Column("master_feature", sa.Text, nullable=False),
    sa.Column("decision", sa.Text, nullable=False),
    sa.Column("until", sa.String(10)),  # YYYY-MM-DD, or none: no end
    sa.Column("basis", sa.Text),
    sa.Column("note", sa.Text),
    sa.Column("owner_id", sa.String(32)),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("against", sa.Text),  # "master" (or none: made before the column), or the parent plan's id
)

# Columns added after the first release: a database made before them gains them when opened.
ADDED_COLUMNS = {
    "layers": ("decision", "approved", "authority", "register_keys"),
    "checks": ("inputs",),
    "exceptions": ("against",),
}
REGISTER_DEFAULTS = {
    "status": None,
    "horizon": None,
    "integrated": False,
    "fixes_quantities": False,
    "parent": None,
    "superseded_by": None,
    "review_due": None,
    "adjustments": [],
}
PLAN_EDITABLE = ("name", "plan_type", "decision", "approved", "authority", "register_keys")

KEY_PREFIX = "kgs_"


def new_id() -> str:
    return uuid.uuid4().hex[:16]


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def hash_key(secret: str) -> str:
    """sha256 suffices: keys are 256-bit random tokens, not passwords (no dictionary to try)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _storable(gdf):
    """The layer as both stores keep it: 2D (checks are planar; PostGIS refuses Z or M in its
    columns), and degenerate parts (rings under 4 points, lines under 2) repaired as
    kgspatial.prepare repairs them, so PostGIS can hold them and both stores serve the same."""
    gdf = _without_nul(gdf)
    geoms = gdf.geometry.values
    flat = shapely.has_z(geoms).any() or shapely.has_m(geoms).any()
    bad = _degenerate(geoms)
    if not flat and not bad.any():
        return gdf
    geoms = shapely.force_2d(np.asarray(geoms, dtype=object))
    if bad.any():
        geoms[bad] = repair(geoms[bad], kinds_of(geoms[bad]))[0]
    gdf = gdf.copy()
    gdf[gdf.geometry.name] = geoms
    return gdf


def _without_nul(gdf):
    """Text without NUL characters, as GDAL reads most formats: PostgreSQL cannot store them."""

    def clean(v):
        return v.replace("\x00", "") if isinstance(v, str) else v

    names = {c: clean(c) for c in gdf.columns}
    texts = [
        c
        for c in gdf.columns
        if c != gdf.geometry.name
        and (gdf[c].dtype == object or pd.api.types.is_string_dtype(gdf[c]))
        and gdf[c].map(lambda v: isinstance(v, str) and "\x00" in v).any()
    ]
    if not texts and all(k == v for k, v in names.items()):
        return gdf
    gdf = gdf.copy()
    for c in texts:
        gdf[c] = gdf[c].map(clean)
    return gdf.rename(columns=names)


def _degenerate(geoms) -> np.ndarray:
    """Per feature: has it a ring of fewer than 4 points or a line of fewer than 2?"""
    parts, owner = shapely.get_parts(np.asarray(geoms, dtype=object), return_index=True)
    while len(parts) and (shapely.get_type_id(parts) >= 4).any():  # multi-parts and collections
        multi = shapely.get_type_id(parts) >= 4
        inner, at = shapely.get_parts(parts[multi], return_index=True)
        parts, owner = np.concatenate([parts[~multi], inner]), np.concatenate([owner[~multi], owner[multi][at]])
    bad = np.zeros(len(geoms), dtype=bool)
    rings, ring_owner = shapely.get_rings(parts, return_index=True)
    bad[owner[ring_owner[shapely.get_num_coordinates(rings) < 4]]] = True
    lines = shapely.get_type_id(parts) == 1
    bad[owner[lines & (shapely.get_num_coordinates(parts) < 2)]] = True
    return bad


class _Gone(Exception):
    """The job stopped being ours while its result was written: roll the write back."""


def _lookable(record_id: str) -> None:
    """No record has a NUL in its id; PostgreSQL refuses to even compare one (embedded: 404 too)."""
    if "\x00" in record_id:
        raise NotFound(record_id)


def _layer_record(row) -> dict:
    rec = dict(row._mapping)
    for key in ("bbox", "info", "warnings"):
        rec[key] = json.loads(rec[key]) if rec[key] else ([] if key == "warnings" else None)
    rec.pop("crs_wkt", None)
    keys = rec.pop("register_keys", None)
    if rec["kind"] == "plan":  # the register keys at the top, as a registry's plan has them
        rec.update({**REGISTER_DEFAULTS, **(json.loads(keys) if keys else {})})
    else:
        for key in ("decision", "approved", "authority"):
            rec.pop(key, None)
    return rec


def _check_record(row) -> dict:
    rec = dict(row._mapping)
    rec["summary"] = json.loads(rec["summary"]) if rec["summary"] else None
    rec["inputs"] = json.loads(rec["inputs"]) if rec.get("inputs") else None
    rec.pop("worker", None)
    return rec


class SqlStore(Store):
    """Shared SQL part; subclasses implement the _layer_* and _result_* hooks."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self._lock = threading.RLock()
        metadata.create_all(engine)
        self._add_columns()

    def _add_columns(self) -> None:
        """Bring a database made by an earlier release up to date: its tables gain the columns
        added since (ALTER TABLE ADD COLUMN keeps every row; the new values are empty)."""
        postgres = self.engine.dialect.name == "postgresql"
        tables = {t.name: t for t in (layers, checks, exceptions)}
        for name, columns in ADDED_COLUMNS.items():
            have = {c["name"] for c in sa.inspect(self.engine).get_columns(name)}
            for column in (tables[name].c[c] for c in columns if c not in have):
                kind = column.type.compile(self.engine.dialect)
                try:
                    with self.engine.begin() as conn:
                        exists = " IF NOT EXISTS" if postgres else ""
                        conn.execute(sa.text(f'ALTER TABLE {name} ADD COLUMN{exists} "{column.name}" {kind}'))
                except sa.exc.OperationalError:  # SQLite: another process added it meanwhile
                    if column.name not in {c["name"] for c in sa.inspect(self.engine).get_columns(name)}:
                        raise

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()

    # -- keys ------------------------------------------------------------------------------
    def create_key(self, name: str, role: str) -> tuple[dict, str]:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
        if not name.strip():
            raise ValueError("a key needs a name (who or what uses it)")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        rec = {
            "id": new_id(),
            "name": name.strip(),
            "role": role,
            "key_hash": hash_key(secret),
            "created_at": now_iso(),
        }
        with self.engine.begin() as conn:
            conn.execute(api_keys.insert().values(**rec))
        rec.pop("key_hash")
        return rec, secret

    def key_by_secret(self, secret: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(api_keys.c.id, api_keys.c.name, api_keys.c.role).where(
                    api_keys.c.key_hash == hash_key(secret)
                )
            ).first()
        return dict(row._mapping) if row else None

    # -- layers ----------------------------------------------------------------------------
    def add_layer(self, meta: dict, gdf, sensitive) -> dict:
        rec = {c.name: meta.get(c.name) for c in layers.columns}
        rec["id"] = new_id()
        rec["created_at"] = now_iso()
        for key in ("bbox", "info", "warnings"):
            rec[key] = json.dumps(meta.get(key), ensure_ascii=False, default=str)
        if meta.get("register_keys") is not None:
            rec["register_keys"] = json.dumps(meta["register_keys"], ensure_ascii=False, default=str)
        gdf = _storable(gdf)
        try:
            with self.engine.begin() as conn:  # one transaction: no feature row outlives a failed upload
                self._layer_save(conn, rec["id"], gdf, sensitive)
                conn.execute(layers.insert().values(**rec))
        except BaseException:
            self._layer_delete(rec["id"])
            raise
        return self.get_layer(rec["id"])

    def get_layer(self, layer_id: str, kind: str | None = None) -> dict:
        _lookable(layer_id)
        query = sa.select(layers).where(layers.c.id == layer_id)
        if kind:
            query = query.where(layers.c.kind == kind)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(layer_id)
        return _layer_record(row)

    def layer_crs_wkt(self, layer_id: str) -> str:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(layers.c.crs_wkt).where(layers.c.id == layer_id)).scalar_one()

    def list_layers(self, kind: str, owner_id: str | None = None) -> list[dict]:
        query = sa.select(layers).where(layers.c.kind == kind)
        if owner_id is not None:
            query = query.where(layers.c.owner_id == owner_id)
        query = query.order_by(layers.c.created_at.desc(), layers.c.id)
        with self.engine.connect() as conn:
            return [_layer_record(r) for r in conn.execute(query)]

    def newest_layer(self, kind: str) -> dict | None:
        found = self.list_layers(kind)
        return found[0] if found else None

    def update_plan(self, layer_id: str, values: dict) -> dict:
        """Change what names a plan and its register keys (never its layer: checks stay valid)."""
        _lookable(layer_id)
        unknown = set(values) - set(PLAN_EDITABLE)
        if unknown:
            raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
        values = dict(values)
        if "register_keys" in values:
            values["register_keys"] = json.dumps(values["register_keys"], ensure_ascii=False, default=str)
        with self.engine.begin() as conn:
            done = conn.execute(
                layers.update().where(layers.c.id == layer_id, layers.c.kind == "plan").values(**values)
            ).rowcount
        if done != 1:
            raise NotFound(layer_id)
        return self.get_layer(layer_id, "plan")

    def delete_plan(self, layer_id: str) -> None:
        _lookable(layer_id)
        with self._lock, self.engine.begin() as conn:
            if (
                conn.execute(sa.select(layers.c.id).where(layers.c.id == layer_id, layers.c.kind == "plan")).first()
                is None
            ):
                raise NotFound(layer_id)
            active = conn.execute(
                sa.select(sa.func.count())
                .select_from(checks)
                .where(checks.c.plan_id == layer_id, checks.c.status.in_(ACTIVE))
            ).scalar_one()
            if active:
                raise Conflict(f"plan {layer_id} has {active} check(s) queued or running; dismiss them or wait")
            ids = [r[0] for r in conn.execute(sa.select(checks.c.id).where(checks.c.plan_id == layer_id))]
            conn.execute(checks.delete().where(checks.c.plan_id == layer_id))
            conn.execute(exceptions.delete().where(exceptions.c.plan_id == layer_id))
            conn.execute(layers.delete().where(layers.c.id == layer_id))
            self._unlink(conn, layer_id)
            self._rows_gone(conn, layer_id, ids)
        for check_id in ids:
            self._result_delete(check_id)
        self._layer_delete(layer_id)

    @staticmethod
    def _unlink(conn, layer_id: str) -> None:
        """Other plans' parent or superseded_by naming a deleted plan are cleared: a link to
        nothing would only show an id no route knows."""
        rows = conn.execute(
            sa.select(layers.c.id, layers.c.register_keys).where(
                layers.c.kind == "plan", layers.c.register_keys.contains(json.dumps(layer_id))
            )
        ).all()
        for plan_id, text in rows:
            keys = json.loads(text)
            changed = {k: None for k in ("parent", "superseded_by") if keys.get(k) == layer_id}
            if changed:
                conn.execute(
                    layers.update()
                    .where(layers.c.id == plan_id)
                    .values(register_keys=json.dumps({**keys, **changed}, ensure_ascii=False))
                )

    # -- exceptions ------------------------------------------------------------------------
    def add_exceptions(self, rows: list[dict], owner_id: str | None) -> list[dict]:
        """Keep exceptions (CONTRACT §10), all or none."""
        recs = [
            {
                "id": new_id(),
                "owner_id": owner_id,
                "created_at": now_iso(),
                **{
                    c: row.get(c)
                    for c in (
                        "plan_id",
                        "rule_id",
                        "plan_feature",
                        "master_feature",
                        "decision",
                        "until",
                        "basis",
                        "note",
                        "against",
                    )
                },
            }
            for row in rows
        ]
        with self.engine.begin() as conn:
            for rec in recs:
                if (
                    conn.execute(
                        sa.select(layers.c.id).where(layers.c.id == rec["plan_id"], layers.c.kind == "plan")
                    ).first()
                    is None
                ):
                    raise NotFound(rec["plan_id"])  # deleted since the caller looked: nothing kept
                conn.execute(exceptions.insert().values(**rec))
        return recs

    def list_exceptions(self, plan_ids: list[str] | None = None) -> list[dict]:
        query = sa.select(exceptions).order_by(exceptions.c.created_at, exceptions.c.id)
        if plan_ids is not None:
            query = query.where(exceptions.c.plan_id.in_(plan_ids))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def delete_exception(self, exception_id: str) -> None:
        _lookable(exception_id)
        with self.engine.begin() as conn:
            if conn.execute(exceptions.delete().where(exceptions.c.id == exception_id)).rowcount != 1:
                raise NotFound(exception_id)

    # -- rules -----------------------------------------------------------------------------
    def add_rules(self, meta: dict, content: bytes) -> dict:
        rec = {
            "id": new_id(),
            "name": meta["name"],
            "filename": meta.get("filename"),
            "content": content,
            "sha256": hashlib.sha256(content).hexdigest(),
            "rule_count": meta["rule_count"],
            "owner_id": meta.get("owner_id"),
            "created_at": now_iso(),
        }
        with self.engine.begin() as conn:
            conn.execute(rules_tables.insert().values(**rec))
        return self.get_rules(rec["id"])

    def get_rules(self, rules_id: str, with_content: bool = False) -> dict:
        _lookable(rules_id)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(rules_tables).where(rules_tables.c.id == rules_id)).first()
        if row is None:
            raise NotFound(rules_id)
        rec = dict(row._mapping)
        content = rec.pop("content")
        if with_content:
            rec["content"] = content
        return rec

    def newest_rules(self) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(rules_tables.c.id).order_by(rules_tables.c.created_at.desc(), rules_tables.c.id).limit(1)
            ).first()
        return self.get_rules(row[0]) if row else None

    def list_rules(self) -> list[dict]:
        with self.engine.connect() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    sa.select(rules_tables.c.id).order_by(rules_tables.c.created_at.desc(), rules_tables.c.id)
                )
            ]
        return [self.get_rules(i) for i in ids]

    # -- checks ----------------------------------------------------------------------------
    def create_check(self, meta: dict) -> dict:
        rec = {
            "id": new_id(),
            "plan_id": meta["plan_id"],
            "master_id": meta["master_id"],
            "rules_id": meta.get("rules_id"),
            "admin_id": meta.get("admin_id"),
            "admin_prev_id": meta.get("admin_prev_id"),
            "min_area": meta["min_area"],
            "status": "accepted",
            "owner_id": meta.get("owner_id"),
            "attempts": 0,
            "created_at": now_iso(),
            "inputs": json.dumps(meta["inputs"], sort_keys=True) if meta.get("inputs") else None,
        }
        _lookable(rec["plan_id"])
        with self._lock, self.engine.begin() as conn:
            # The plan may have been deleted since the caller looked: insert only if it is still there.
            if conn.execute(sa.select(layers.c.id).where(layers.c.id == rec["plan_id"])).first() is None:
                raise NotFound(rec["plan_id"])
            conn.execute(checks.insert().values(**rec))
        # As inserted: a worker may already have claimed it, but the answer describes the acceptance.
        return {**{c.name: None for c in checks.columns if c.name != "worker"}, **rec, "inputs": meta.get("inputs")}

    def get_check(self, check_id: str) -> dict:
        _lookable(check_id)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(checks).where(checks.c.id == check_id)).first()
        if row is None:
            raise NotFound(check_id)
        return _check_record(row)

    def list_checks(self, owner_id: str | None = None, plan_id: str | None = None) -> list[dict]:
        query = sa.select(checks)
        if owner_id is not None:
            query = query.where(checks.c.owner_id == owner_id)
        if plan_id is not None:
            query = query.where(checks.c.plan_id == plan_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(checks.c.created_at.desc(), checks.c.id)).all()
        return [_check_record(r) for r in rows]

    def latest_finished_checks(self, plan_ids: list[str]) -> dict[str, dict]:
        """Per plan, its newest successful or failed check (the register's result): only those
        records are read whole (a summary is kilobytes; a province has thousands of checks)."""
        if not plan_ids:
            return {}
        wanted = set(plan_ids)
        query = (
            sa.select(checks.c.id, checks.c.plan_id)
            .where(checks.c.status.in_(("successful", "failed")))
            .order_by(checks.c.created_at.desc(), checks.c.id)
        )
        latest: dict[str, str] = {}
        with self.engine.connect() as conn:
            for check_id, plan_id in conn.execute(query):
                if plan_id in wanted:
                    latest.setdefault(plan_id, check_id)
            ids = list(latest.values())
            rows = [
                r
                for i in range(0, len(ids), 500)
                for r in conn.execute(sa.select(checks).where(checks.c.id.in_(ids[i : i + 500])))
            ]
        return {r.plan_id: _check_record(r) for r in rows}

    def claim_next(self, worker: str) -> dict | None:
        for _ in range(5):
            with self.engine.connect() as conn:
                row = conn.execute(
                    sa.select(checks.c.id)
                    .where(checks.c.status == "accepted")
                    .order_by(checks.c.created_at, checks.c.id)
                    .limit(1)
                ).first()
            if row is None:
                return None
            with self.engine.begin() as conn:
                done = conn.execute(
                    checks.update()
                    .where(checks.c.id == row[0], checks.c.status == "accepted")
                    .values(
                        status="running",
                        worker=worker,
                        heartbeat=time.time(),
                        started_at=now_iso(),
                        attempts=checks.c.attempts + 1,
                        progress=None,
                    )
                ).rowcount
            if done == 1:
                return self.get_check(row[0])
            # another worker won the race for this job: look again
        return None

    def heartbeat(self, check_ids: list[str], progress: dict[str, str]) -> None:
        if not check_ids:
            return
        with self.engine.begin() as conn:
            for check_id in check_ids:
                values = {"heartbeat": time.time()}
                if check_id in progress:
                    values["progress"] = progress[check_id]
                conn.execute(
                    checks.update().where(checks.c.id == check_id, checks.c.status == "running").values(**values)
                )

    def recover_stale(self, lease_seconds: float, max_attempts: int, dead=None) -> list[dict]:
        """Jobs whose heartbeat lapsed, or whose worker `dead(worker)` says no longer runs (a
        process of this machine that is gone: no need to wait for its lease)."""
        limit = time.time() - lease_seconds
        lapsed = sa.or_(checks.c.heartbeat.is_(None), checks.c.heartbeat < limit)
        with self.engine.connect() as conn:
            running = conn.execute(
                sa.select(checks.c.id, checks.c.attempts, checks.c.worker, lapsed).where(checks.c.status == "running")
            ).all()
        stale = []
        for check_id, attempts, worker, old in running:
            if old:
                stale.append((check_id, attempts, lapsed))
            elif dead is not None and dead(worker):
                stale.append((check_id, attempts, checks.c.worker == worker))
        changed = []
        for check_id, attempts, still in stale:
            stale_cond = sa.and_(checks.c.id == check_id, checks.c.status == "running", still)
            if attempts >= max_attempts:
                values = {
                    "status": "failed",
                    "finished_at": now_iso(),
                    "reason": (
                        f"máy chủ khởi động lại trong khi chạy ({attempts} lần) / server restarted "
                        f"during the job ({attempts} attempt(s)); submit the check again"
                    ),
                }
            else:
                values = {
                    "status": "accepted",
                    "worker": None,
                    "heartbeat": None,
                    "reason": "requeued: server restarted during the job / chạy lại sau khi máy chủ khởi động lại",
                }
            with self.engine.begin() as conn:
                if conn.execute(checks.update().where(stale_cond).values(**values)).rowcount == 1:
                    changed.append({"id": check_id, **values})
        return changed

    def _set_final(self, check_id: str, **values) -> bool:
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    checks.update()
                    .where(checks.c.id == check_id, checks.c.status == "running")
                    .values(finished_at=now_iso(), **values)
                ).rowcount
                == 1
            )

    def finish_check(self, check_id: str, result) -> bool:
        with self._lock:
            if self.get_check(check_id)["status"] != "running":
                return False
        summary = json.dumps(json_safe(result.summary), ensure_ascii=False, allow_nan=False)
        try:
            with self.engine.begin() as conn:  # result rows and `successful` together, or neither
                self._result_save(conn, check_id, result)
                if (
                    conn.execute(
                        checks.update()
                        .where(checks.c.id == check_id, checks.c.status == "running")
                        .values(finished_at=now_iso(), status="successful", summary=summary, reason=None, progress=None)
                    ).rowcount
                    != 1
                ):
                    raise _Gone
        except BaseException as exc:  # dismissed (or recovered elsewhere) meanwhile, or failed: keep nothing
            self._result_delete(check_id)
            if isinstance(exc, _Gone):
                return False
            raise
        return True

    def fail_check(self, check_id: str, reason: str) -> None:
        self._set_final(check_id, status="failed", reason=reason)

    def dismiss_check(self, check_id: str) -> dict:
        _lookable(check_id)
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(checks.c.status).where(checks.c.id == check_id)).first()
            if row is None:
                raise NotFound(check_id)
            if row[0] in ("successful", "failed"):
                raise Conflict(f"check {check_id} has already finished ({row[0]}); only unfinished jobs are dismissed")
            conn.execute(
                checks.update()
                .where(checks.c.id == check_id, checks.c.status.in_(ACTIVE))
                .values(status="dismissed", finished_at=now_iso(), reason="dismissed / đã hủy")
            )
        return self.get_check(check_id)

    def is_dismissed(self, check_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(checks.c.status).where(checks.c.id == check_id)).scalar() != "running"

    def _require_successful(self, check_id: str) -> None:
        status = self.get_check(check_id)["status"]
        if status != "successful":
            raise Conflict(f"check {check_id} is {status}: results exist only once it is successful")

    # -- hooks -------------------------------------------------------------------------------
    def _layer_save(self, conn, layer_id: str, gdf, sensitive) -> None:
        """Keep the layer's geometry; rows through `conn`, the transaction that adds the record."""
        raise NotImplementedError

    def _layer_delete(self, layer_id: str) -> None:
        raise NotImplementedError

    def _rows_gone(self, conn, layer_id: str, check_ids: list[str]) -> None:
        """Delete in `conn` (the transaction removing the records) rows kept in the database."""

    def _result_save(self, conn, check_id: str, result) -> None:
        """Keep the conflict rows; rows through `conn`, the transaction that marks the job successful."""
        raise NotImplementedError

    def _result_delete(self, check_id: str) -> None:
        raise NotImplementedError
