"""What changed between two versions of one zoning layer (CONTRACT §7 `kgspatial diff`).

A master plan or a plan is adjusted by decision: some zones change code, some land is added or
dropped. The diff says where, with how much area: pieces where both versions have a zone of
different canonical codes (`changed`), land only the new version covers (`added`) and land only
the old one covered (`removed`), split by communes with --admin. Both versions go through the
same read -> normalise path as a check (taxonomy codes, repair, VN-2000 analysis CRS), so a
recoding of legacy codes to Circular 08/2024 codes is no change, and two files in different
CRSs are compared in one. `batch --resume` uses `changed_area` to re-check only the plans that
touch a changed piece.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import __version__
from . import crs as crs_mod
from .admin import AdminUnits, admin_selector, prepare_admin
from .engine import code_labels, intersect_pairs
from .errors import InputError, say
from .io import read_layer
from .numfmt import number
from .prepare import POLYGON, PreparedLayer, field_selector, prepare_layer
from .profile import load_profile

CHANGES_LAYER = "changes"
CHANGED, ADDED, REMOVED = "changed", "added", "removed"
COLUMNS = ["change", "from_code", "to_code", "from_label", "to_label", "old_feature", "new_feature", "area_m2"]


@dataclass
class LayerSpec:
    path: str
    code_field: str | None = None
    label_field: str | None = None
    id_field: str | None = None
    encoding: str | None = None
    assume_crs: str | None = None


@dataclass
class DiffOptions:
    old: LayerSpec
    new: LayerSpec
    admin: object | None = None  # check.AdminInput: pieces split by these units (admin_code, admin_name)
    admin_previous: object | None = None  # and these (admin_prev_code, admin_prev_name)
    profile: str = "kien-giang"
    analysis_crs: str | None = None
    min_area: float = 1.0  # pieces below (m²): digitising noise between versions, counted not listed
    jobs: int = 1
    engine: str = "pyogrio"


@dataclass
class DiffResult:
    changes: gpd.GeoDataFrame  # one row per piece, analysis CRS
    summary: dict  # diff.json


def _read(spec: LayerSpec, role: str, taxonomy, analysis_crs, profile, opts: DiffOptions) -> PreparedLayer:
    layer = read_layer(
        spec.path,
        engine=opts.engine,
        encoding=spec.encoding,
        assume_crs=spec.assume_crs,
        encoding_option="--encoding",
        select=field_selector(
            spec.path, role, spec.code_field, spec.label_field, spec.id_field, profile.code_fields, profile.label_fields
        ),
    )
    prepared = prepare_layer(
        layer,
        taxonomy,
        analysis_crs,
        code_field=spec.code_field,
        label_field=spec.label_field,
        id_field=spec.id_field,
        code_candidates=profile.code_fields,
        label_candidates=profile.label_fields,
        role=role,
        name=role,
        jobs=opts.jobs,
    )
    prepared.info["warnings"] = list(layer.warnings)
    keep = prepared.kinds == POLYGON
    if not keep.any():
        raise InputError(f"{spec.path}: no zone (polygon) to compare / lớp không có vùng nào để so sánh")
    if not keep.all():
        n = int((~keep).sum())
        prepared.info["warnings"].append(
            f"{spec.path}: {n} feature(s) that are not zones ignored / bỏ qua {n} đối tượng không phải vùng"
        )
        for name in ("geoms", "codes", "raw_codes", "labels", "feature_ids", "kinds"):
            setattr(prepared, name, getattr(prepared, name)[keep])
    return prepared


def _outside(geoms: np.ndarray, other: np.ndarray, tree: shapely.STRtree) -> np.ndarray:
    """Each geometry less the union of the other layer's geometries it meets (empty when covered)."""
    out = geoms.copy()
    covered = np.zeros(len(geoms), dtype=bool)
    inside, _ = tree.query(geoms, predicate="covered_by")  # most zones are unchanged: no overlay at all
    covered[inside] = True
    left, right = tree.query(geoms, predicate="intersects")
    for i in np.nonzero(~covered)[0]:
        near = right[left == i]
        out[i] = shapely.difference(geoms[i], shapely.union_all(other[near])) if len(near) else geoms[i]
    out[covered] = shapely.Polygon()
    return out


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Only the area of each result: the lines and points where zones touch are no piece."""
    from .engine import keep_kind

    return keep_kind(geoms, np.full(len(geoms), POLYGON, dtype=np.int8))


def _once(geoms: np.ndarray) -> tuple[np.ndarray, float]:
    """Each piece less the earlier pieces it shares interior with, and the area so taken off.
    Zones of one version may overlap (real layers do): the pieces made from each of them would
    count the shared land twice (two LUC zones under one new ODT zone: twice its area)."""
    geoms = geoms.copy()
    live = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if live.sum() < 2:
        return geoms, 0.0
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    earlier = (right < left) & live[left] & live[right]
    left, right = left[earlier], right[earlier]
    shared = shapely.relate_pattern(geoms[left], geoms[right], "2********")  # interiors meet in an area
    taken = 0.0
    original = geoms.copy()
    for i in np.unique(left[shared]):
        before = shapely.area(geoms[i])
        geoms[i] = _polygonal(
            np.array(
                [shapely.difference(original[i], shapely.union_all(original[right[shared & (left == i)]]))],
                dtype=object,
            )
        )[0]
        taken += float(before - shapely.area(geoms[i]))
    return geoms, taken


def diff_prepared(old: PreparedLayer, new: PreparedLayer, jobs: int = 1) -> pd.DataFrame:
    """Changed, added and removed pieces of two prepared polygon layers (one analysis CRS): a
    frame of COLUMNS but area, and `geometry` (object array; slivers not yet dropped)."""
    old_codes, new_codes = code_labels(old), code_labels(new)
    # Changed: pairs of zones that overlap with different codes (compared before any geometry).
    new_tree = shapely.STRtree(new.geoms)
    li, ri = new_tree.query(old.geoms)
    differ = old_codes[li] != new_codes[ri]
    pieces = intersect_pairs(old.geoms, old.kinds, new.geoms, li[differ], ri[differ], jobs)
    changed_geoms = _polygonal(pieces.geoms)
    # Added and removed: land one version covers and the other does not.
    removed_geoms = _polygonal(_outside(old.geoms, new.geoms, new_tree))
    added_geoms = _polygonal(_outside(new.geoms, old.geoms, shapely.STRtree(old.geoms)))
    # Land where a version's zones overlap is counted once (the earlier pair or zone keeps it).
    changed_geoms, taken_changed = _once(changed_geoms)
    removed_geoms, taken_removed = _once(removed_geoms)
    added_geoms, taken_added = _once(added_geoms)

    parts = [
        (CHANGED, pieces.left, pieces.right, changed_geoms),
        (REMOVED, np.arange(len(old)), np.full(len(old), -1), removed_geoms),
        (ADDED, np.full(len(new), -1), np.arange(len(new)), added_geoms),
    ]
    frames = []
    for change, oi, ni, geoms in parts:
        keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        oi, ni, geoms = oi[keep], ni[keep], geoms[keep]
        frames.append(
            pd.DataFrame(
                {
                    "change": np.full(len(geoms), change, dtype=object),
                    "from_code": np.where(oi >= 0, old_codes[np.maximum(oi, 0)], ""),
                    "to_code": np.where(ni >= 0, new_codes[np.maximum(ni, 0)], ""),
                    "from_label": np.where(oi >= 0, old.labels[np.maximum(oi, 0)], ""),
                    "to_label": np.where(ni >= 0, new.labels[np.maximum(ni, 0)], ""),
                    "old_feature": np.where(oi >= 0, old.feature_ids[np.maximum(oi, 0)], ""),
                    "new_feature": np.where(ni >= 0, new.feature_ids[np.maximum(ni, 0)], ""),
                    "geometry": geoms,
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    for column in COLUMNS[:-1]:
        frame[column] = frame[column].astype(object)
    frame.attrs["counted_once_m2"] = taken_changed + taken_removed + taken_added
    return frame


def compare(opts: DiffOptions) -> DiffResult:
    """The changed, added and removed pieces between the two versions, and diff.json's content."""
    if not np.isfinite(opts.min_area) or opts.min_area < 0:
        raise InputError(f"--min-area must be a number of m², 0 or more (got {opts.min_area})")
    profile = load_profile(opts.profile)
    taxonomy = profile.load_taxonomy()
    analysis_crs = crs_mod.recognise(opts.analysis_crs or profile.analysis_crs)
    if analysis_crs.is_geographic:
        raise InputError(f"analysis CRS {crs_mod.crs_label(analysis_crs)} is geographic: areas need a projected CRS")
    old = _read(opts.old, "old", taxonomy, analysis_crs, profile, opts)
    new = _read(opts.new, "new", taxonomy, analysis_crs, profile, opts)
    frame = diff_prepared(old, new, opts.jobs)
    geoms = frame["geometry"].to_numpy(dtype=object)

    warnings = list(old.info["warnings"]) + list(new.info["warnings"])
    once = frame.attrs.get("counted_once_m2", 0.0)
    if once >= 0.01:
        warnings.append(
            say(
                f"các vùng của một phiên bản chồng lên nhau: {number(once, 2)} m² đất thay đổi nằm dưới"
                " nhiều vùng, chỉ tính một lần",
                f"zones of one version overlap: {number(once, 2, True)} m² of changed land lies under"
                " more than one zone, counted once",
            )
        )
    unit_columns: dict[str, np.ndarray] = {}
    units_info = []
    given = [(spec, prefix) for spec, prefix in ((opts.admin, "admin"), (opts.admin_previous, "admin_prev")) if spec]
    if given:
        from .check import split_plan

        as_layer = PreparedLayer(
            name="diff",
            geoms=geoms,
            codes=np.zeros(len(geoms), dtype=object),
            raw_codes=np.zeros(len(geoms), dtype=object),
            labels=np.zeros(len(geoms), dtype=object),
            feature_ids=np.arange(len(geoms)).astype(str).astype(object),
            kinds=np.full(len(geoms), POLYGON, dtype=np.int8),
        )
        units_list = []
        for spec, prefix in given:
            units = _units(spec, analysis_crs, opts)
            units_list.append((units, prefix))
            units_info.append(units.info)
            warnings += units.warnings
        split, src, _, unit_columns = split_plan(as_layer, units_list, opts.jobs)
        frame = frame.iloc[src].reset_index(drop=True)
        geoms = split.geoms
        for prefix in (p for _, p in units_list):
            outside = int((unit_columns[f"{prefix}_code"] == "").sum())
            if outside:
                option = "--admin" if prefix == "admin" else "--admin-previous"
                warnings.append(
                    f"{outside} piece(s) lie outside every unit of {option} (kept with an empty code)"
                    f" / {outside} mảnh nằm ngoài mọi đơn vị hành chính"
                )

    area = shapely.area(geoms)
    sliver = area < opts.min_area
    changes = gpd.GeoDataFrame(
        {
            **{c: frame[c].to_numpy()[~sliver] for c in COLUMNS[:-1]},
            "area_m2": area[~sliver],
            **{k: v[~sliver] for k, v in unit_columns.items()},
        },
        geometry=gpd.GeoSeries(geoms[~sliver], crs=analysis_crs),
    )
    order = np.lexsort(
        (
            changes["new_feature"].to_numpy(dtype=str),
            changes["old_feature"].to_numpy(dtype=str),
            changes["change"].map({CHANGED: 0, ADDED: 1, REMOVED: 2}).to_numpy(),
        )
    )
    changes = changes.iloc[order].reset_index(drop=True)
    summary = _summary(
        changes,
        old,
        new,
        opts,
        analysis_crs,
        units_info,
        warnings,
        {"count": int(sliver.sum()), "area_m2": round(float(area[sliver].sum()), 3)},
    )
    return DiffResult(changes, summary)


def _units(spec, analysis_crs, opts: DiffOptions) -> AdminUnits:
    layer = read_layer(
        spec.path,
        engine=opts.engine,
        encoding_option=None,
        select=admin_selector(spec.path, spec.code_field, spec.name_field),
    )
    return prepare_admin(layer, analysis_crs, spec.code_field, spec.name_field)


def _sum(frame: pd.DataFrame, keys: list[str]) -> list[dict]:
    if frame.empty:
        return []
    grouped = frame.groupby(keys, sort=True, dropna=False)["area_m2"].agg(["size", "sum"])
    return [
        {**dict(zip(keys, k if isinstance(k, tuple) else (k,))), "pieces": int(n), "area_m2": round(float(a), 3)}
        for k, (n, a) in zip(grouped.index, grouped.itertuples(index=False))
    ]


def _summary(changes, old, new, opts, analysis_crs, units_info, warnings, slivers) -> dict:
    frame = pd.DataFrame(changes.drop(columns="geometry"))
    totals = {}
    for change in (CHANGED, ADDED, REMOVED):
        sub = frame[frame["change"] == change]
        totals[f"{change}_pieces"] = int(len(sub))
        totals[f"{change}_area_m2"] = round(float(sub["area_m2"].sum()), 3)
    by_unit = {}
    for prefix in ("admin", "admin_prev"):
        by_unit[prefix] = []
        if f"{prefix}_code" not in frame:
            continue
        for (code, name), sub in frame.groupby([f"{prefix}_code", f"{prefix}_name"], sort=True):
            by_unit[prefix].append(
                {
                    "code": code,
                    "name": name,
                    **{
                        f"{c}_area_m2": round(float(sub.loc[sub["change"] == c, "area_m2"].sum()), 3)
                        for c in (CHANGED, ADDED, REMOVED)
                    },
                }
            )
    return {
        "kgspatial_version": __version__,
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "profile": opts.profile,
        "analysis_crs": crs_mod.crs_label(analysis_crs),
        "min_area_m2": opts.min_area,
        "inputs": {"old": old.info, "new": new.info, "admin": units_info},
        "totals": {**totals, "slivers": slivers},
        "by_change": _sum(frame[frame["change"] == CHANGED], ["from_code", "to_code"]),
        "by_admin": by_unit["admin"],
        "by_admin_previous": by_unit["admin_prev"],
        "warnings": warnings,
    }


def write_diff(result: DiffResult, out: str | Path) -> Path:
    """diff.gpkg (layer `changes`) and diff.json, all or none (staged like a check's outputs)."""
    from .output import staged_output, write_conflicts_gpkg, write_summary

    with staged_output(out, owned=("diff.gpkg", "diff.json")) as stage:
        write_conflicts_gpkg(result.changes, stage / "diff.gpkg", layer=CHANGES_LAYER)
        write_summary(result.summary, stage / "diff.json")
    return Path(out)


def changed_area(result: DiffResult) -> shapely.Geometry:
    """Where the two versions differ (changed, added or removed), as one geometry: a plan that
    does not touch it has the same conflicts against either version."""
    geoms = result.changes.geometry.to_numpy()
    return shapely.union_all(geoms) if len(geoms) else shapely.Polygon()
