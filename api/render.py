"""Maps and reports of a finished check, drawn by kgspatial's presenters on first request.

The analysis is never re-run: the conflict rows and summary come from the store; only the
inputs the presenters draw (master plan, plan) are read and normalised again.  Non-admins get
a masked copy (CONTRACT §5): defence and security rows lose geometry, master label and master
feature id, and those zones are not drawn.  Files are cached per check and audience.
"""

from __future__ import annotations

import inspect
import shutil
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import shapely
from fastapi import HTTPException

from kgspatial import crs as crs_mod
from kgspatial.check import CheckResult
from kgspatial.io import read_layer
from kgspatial.masking import blank_out, withheld_area
from kgspatial.prepare import PreparedLayer, prepare_layer
from kgspatial.rules import load_rules

from .store import NotFound
from .store.features import CONFLICT_WITHHELD

MEDIA = {
    "map": "text/html; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "gpkg": "application/geopackage+sqlite3",
    "geojson": "application/geo+json",
}
DATA_FORMATS = ("gpkg", "geojson")  # the conflict rows as files, written by kgspatial.output
_locks: dict[tuple, threading.Lock] = {}
_locks_guard = threading.Lock()
_cells: dict[str, object] = {}  # layer id -> withheld cells (analysis CRS) or None; layers never change
_served: dict[tuple, object] = {}  # layer ids -> their cells in EPSG:4326, prepared
_trees: dict[str, object] = {}  # master id -> STRtree of its zones (analysis CRS); layers never change


def _presenter(what: str):
    """kgspatial.maps.write_map or kgspatial.reports.write_check_reports; 501 when not installed."""
    try:
        if what == "map":
            from kgspatial.maps import write_map

            return write_map
        from kgspatial.reports import write_check_reports

        return write_check_reports
    except ImportError as exc:
        module = "kgspatial.maps" if what == "map" else "kgspatial.reports"
        raise HTTPException(
            501,
            f"bản cài đặt này chưa có {module} ({exc}); hãy cài kgspatial[maps,reports] / {module} is not"
            f" available in this installation ({exc}); install kgspatial[maps,reports]",
        ) from None


def render_dir(app, check_id: str) -> Path:
    return app.state.settings.data_dir / "render" / check_id


def drop_renders(app, check_id: str) -> None:
    shutil.rmtree(render_dir(app, check_id), ignore_errors=True)


def _data_writer(what: str):
    from kgspatial.output import write_conflicts_gpkg, write_geojson

    def write(result, path: Path, **_):
        (write_conflicts_gpkg if what == "gpkg" else write_geojson)(result.conflicts, path)

    return write


def render(app, check_id: str, what: str, unmasked: bool, english: bool = False) -> Path:
    presenter = _data_writer(what) if what in DATA_FORMATS else _presenter(what)
    audience = ("admin" if unmasked else "masked") + ("-en" if english else "")
    name = "map.html" if what == "map" else f"conflicts.{what}" if what in DATA_FORMATS else f"report.{what}"
    target = render_dir(app, check_id) / audience / name
    with _locks_guard:
        lock = _locks.setdefault((check_id, audience, what), threading.Lock())
    with lock:
        if target.exists():
            return target
        result = result_for(app, check_id, unmasked)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".render-") as tmp:
            if what == "map":
                params = inspect.signature(presenter).parameters
                kwargs = {}
                if app.state.settings.tiles and "tiles" in params:
                    kwargs["tiles"] = app.state.settings.tiles
                if "mask_sensitive" in params:
                    kwargs["mask_sensitive"] = not unmasked
                if "plan_names" in params:
                    check = app.state.store.get_check(check_id)
                    plan = app.state.store.get_layer(check["plan_id"], "plan")
                    kwargs["plan_names"] = {plan["id"]: plan["name"]}
                    parent_id = (check.get("inputs") or {}).get("parent_id")
                    if parent_id:  # popups of rows against the parent name it (CONTRACT §7)
                        try:
                            kwargs["plan_names"][parent_id] = app.state.store.get_layer(parent_id, "plan")["name"]
                        except NotFound:
                            pass
                presenter(result, Path(tmp) / name, **kwargs)
            elif what in DATA_FORMATS:
                presenter(result, Path(tmp) / name)
            else:
                plan = app.state.store.get_layer(app.state.store.get_check(check_id)["plan_id"], "plan")
                known = {
                    plan["id"]: {
                        "name": plan["name"],
                        "type": plan.get("plan_type") or "",
                        "path": plan.get("filename") or "",
                        "decision": plan.get("decision"),
                        "approved": plan.get("approved"),
                        "authority": plan.get("authority"),
                    }
                }
                presenter(result, Path(tmp), [what], english=english, plans=known)
            (Path(tmp) / name).replace(target)
        return target


def _prepare(store, province, record: dict, role: str) -> PreparedLayer:
    with store.layer_file(record["id"]) as path:
        layer = read_layer(str(path))
        return prepare_layer(
            layer,
            province.taxonomy,
            province.analysis_crs,
            code_field=record["code_field"],
            label_field=record["label_field"],
            id_field=record["id_field"],
            code_candidates=province.profile.code_fields,
            label_candidates=province.profile.label_fields,
            role=role,
            name=record["id"] if role == "plan" else record["name"],
        )


def master_tree(app, master_id: str):
    """An STRtree of a master plan's zones in the analysis CRS, built once per master plan (an
    upload asks where the plan lies on it)."""
    with _lock(("tree", master_id)):
        if master_id not in _trees:
            store = app.state.store
            layer = _prepare(store, app.state.province, store.get_layer(master_id, "master"), "master")
            _trees[master_id] = shapely.STRtree(layer.geoms)
        return _trees[master_id]


def _units(store, province, layer_id: str | None):
    """The check's administrative units as kgspatial.admin.AdminUnits, for the maps to draw."""
    if not layer_id:
        return None
    from kgspatial.admin import prepare_admin

    record = store.get_layer(layer_id, "admin")
    with store.layer_file(record["id"]) as path:
        return prepare_admin(read_layer(str(path)), province.analysis_crs, record["code_field"], record["name_field"])


def _lock(key: tuple) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _sensitive_cells(layer: PreparedLayer, sensitive: frozenset):
    return withheld_area(layer.geoms[np.isin(layer.codes.astype(str), list(sensitive))])


def layer_cells(app, layer_id: str):
    """The cells a masked map blanks for one layer's defence and security land, worked out once."""
    with _lock(("cells", layer_id)):
        if layer_id not in _cells:
            store, province = app.state.store, app.state.province
            record = store.get_layer(layer_id)
            none = record["kind"] == "admin" or (record.get("info") or {}).get("sensitive_features") == 0
            _cells[layer_id] = (
                None
                if none
                else _sensitive_cells(
                    _prepare(store, province, record, record["kind"]), province.taxonomy.sensitive_codes
                )
            )
        return _cells[layer_id]


def served_withheld(app, *layer_ids: str):
    """What a non-admin may not see of the geometry served for these layers (a check: its master
    plan and plan): their cells in EPSG:4326, prepared for cutting every feature of a page."""
    with _lock(("served", layer_ids)):
        if layer_ids not in _served:
            cells = [c for c in (layer_cells(app, i) for i in layer_ids) if c is not None]
            area = None
            if cells:
                area = crs_mod.transform_geometries(
                    [shapely.union_all(cells)], app.state.province.analysis_crs, "EPSG:4326"
                )[0]
                shapely.prepare(area)
            _served[layer_ids] = area
        return _served[layer_ids]


def _without(layer: PreparedLayer, sensitive: frozenset, withheld) -> PreparedLayer:
    """The layer without its sensitive features, and the rest without the withheld area."""
    geoms = blank_out(layer.geoms, withheld)
    keep = np.array([c not in sensitive for c in layer.codes], dtype=bool) & ~shapely.is_missing(geoms)
    parts = {n: getattr(layer, n)[keep] for n in ("codes", "raw_codes", "labels", "feature_ids", "kinds")}
    return PreparedLayer(name=layer.name, source_crs=layer.source_crs, info=layer.info, geoms=geoms[keep], **parts)


def result_for(app, check_id: str, unmasked: bool) -> CheckResult:
    """A CheckResult from the stored rows and summary, masked unless `unmasked`."""
    store, province = app.state.store, app.state.province
    record = store.get_check(check_id)
    conflicts = store.conflicts_frame(check_id)
    master = _prepare(store, province, store.get_layer(record["master_id"], "master"), "master")
    plan = _prepare(store, province, store.get_layer(record["plan_id"], "plan"), "plan")
    with ExitStack() as stack:
        if record.get("rules_id"):
            rules_rec = store.get_rules(record["rules_id"], with_content=True)
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            rules_path = tmp / "rules.csv"
            rules_path.write_bytes(rules_rec["content"])
        else:
            rules_path = province.profile.rules
        rules = load_rules(rules_path, province.taxonomy)
    withheld = None
    if not unmasked:
        sensitive = province.taxonomy.sensitive_codes
        rows = (conflicts["plan_code"].isin(sensitive) | conflicts["master_code"].isin(sensitive)).to_numpy()
        # Drawings leave out the 500 m cells that hold such land, not only the land: its outline
        # would show as a hole in the zones and pieces around it.
        cells = []
        for layer_id, layer in ((record["master_id"], master), (record["plan_id"], plan)):
            with _lock(("cells", layer_id)):  # the layer_cells of the routes, from layers read anyway
                if layer_id not in _cells:
                    _cells[layer_id] = _sensitive_cells(layer, sensitive)
                cells.append(_cells[layer_id])
        cells = [c for c in cells if c is not None]
        withheld = shapely.union_all(cells) if cells else None
        conflicts = conflicts.copy()
        if rows.any():
            conflicts.loc[rows, list(CONFLICT_WITHHELD)] = None
            conflicts.loc[rows, conflicts.geometry.name] = None
        conflicts[conflicts.geometry.name] = blank_out(conflicts.geometry.to_numpy(), withheld)
        master, plan = (_without(layer, sensitive, withheld) for layer in (master, plan))
    return CheckResult(
        conflicts=conflicts,
        summary=record["summary"],
        plans=[plan],
        master=master,
        taxonomy=province.taxonomy,
        rules=rules,
        withheld=withheld,
        admin=_units(store, province, record.get("admin_id")),
    )
