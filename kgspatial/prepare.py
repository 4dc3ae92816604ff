"""Normalise a layer as read into plain arrays: canonical codes, valid geometry, analysis CRS.

This is the middle arrow of read -> normalise -> check: everything the overlay core needs, and
nothing it would have to recompute.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyproj
import shapely

from . import crs as crs_mod
from .errors import InputError, say
from .io import Layer
from .numfmt import en, vn
from .parallel import run_chunked
from .taxonomy import Taxonomy

POLYGON, LINE, POINT = 0, 1, 2
KIND_NAMES = ("polygon", "line", "point")
# shapely type id (-1 missing .. 7 collection) -> kind; collections count as polygons until repaired
_KIND_TABLE = np.array([POLYGON, POINT, LINE, LINE, POLYGON, POINT, LINE, POLYGON, POLYGON], dtype=np.int8)


def kinds_of(geoms: np.ndarray) -> np.ndarray:
    return _KIND_TABLE[shapely.get_type_id(geoms) + 1]


@dataclass
class PreparedLayer:
    """One layer as arrays in the analysis CRS; row i of each array is feature i."""

    name: str
    geoms: np.ndarray  # shapely geometries, valid, not empty
    codes: np.ndarray  # canonical code per feature (object; None when unknown)
    raw_codes: np.ndarray  # normalised source value (shown for unknown codes)
    labels: np.ndarray  # label per feature ("" when no label field)
    feature_ids: np.ndarray  # plan/master feature id as text
    kinds: np.ndarray  # int8 POLYGON / LINE / POINT
    source_crs: pyproj.CRS | None = None
    info: dict = field(default_factory=dict)  # what summary.json says about this input

    def __len__(self) -> int:
        return len(self.geoms)


# What find_field looks for, in the Vietnamese half of its message.
FIELD_ROLES_VI = {
    "land-use code": "mã loại đất",
    "label": "tên vùng",
    "feature id": "mã đối tượng",
    "unit code": "mã đơn vị hành chính",
    "unit name": "tên đơn vị hành chính",
}


def find_field(columns, wanted: str | None, candidates: list[str], what: str, path: str) -> str | None:
    """The column to use: the one asked for (case-insensitive), else the first known candidate."""
    by_lower = {str(c).lower(): str(c) for c in columns if c != "geometry"}
    if wanted:
        if wanted in by_lower.values():
            return wanted
        if wanted.lower() in by_lower:
            return by_lower[wanted.lower()]
        fields = ", ".join(by_lower.values())
        raise InputError.say(
            f"{path}: không có trường {wanted!r} cho {FIELD_ROLES_VI.get(what, what)}; các trường:"
            f" {fields or '(không có)'}",
            f"no field {wanted!r} for the {what}; fields: {fields or '(none)'}",
        )
    for candidate in candidates:
        if candidate.lower() in by_lower:
            return by_lower[candidate.lower()]
    return None


def _no_code_field(path: str, role: str, columns) -> InputError:
    fields = ", ".join(str(c) for c in columns if c != "geometry") or "none: is the layer empty?"
    fields_vi = ", ".join(str(c) for c in columns if c != "geometry") or "không có: lớp có rỗng không?"
    return InputError.say(
        f"{path}: không tìm thấy trường mã loại đất; hãy chỉ ra bằng tùy chọn --{role}-field (các trường: {fields_vi})",
        f"no land-use code field found; name it with --{role}-field (fields: {fields})",
    )


def field_selector(
    path: str, role: str, code_field=None, label_field=None, id_field=None, code_candidates=(), label_candidates=()
):
    """For io.read_layer(select=...): read only the code, label and id columns."""

    def select(names: list[str]) -> list[str]:
        code = find_field(names, code_field, list(code_candidates), "land-use code", path)
        if code is None:
            raise _no_code_field(path, role, names)
        label = find_field(names, label_field, list(label_candidates), "label", path)
        ident = find_field(names, id_field, [], "feature id", path) if id_field else None
        return [c for c in (code, label, ident) if c]

    return select


def _keep_dimension(geoms: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Collections reduced to the parts of each feature's kind: make_valid's debris (a polygon's
    stray lines or points), or a mixed feature as read (see _reduce_collections)."""
    out = geoms.copy()
    mixed = np.nonzero(shapely.get_type_id(geoms) == 7)[0]
    for i in mixed:
        parts = _flat_parts(geoms[i])
        keep = parts[kinds_of(parts) == kinds[i]] if len(parts) else parts
        out[i] = shapely.union_all(keep) if len(keep) else shapely.Polygon()
    return out


def _reduce_collections(geoms: np.ndarray, kinds: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """A GeometryCollection (CAD exports mix a parcel with its outline and label point) is measured
    as its highest-dimension parts; returns how many collections lost lower-dimension parts."""
    mixed = np.nonzero(shapely.get_type_id(geoms) == 7)[0]
    if len(mixed) == 0:
        return geoms, kinds, 0
    kinds = kinds.copy()
    reduced = 0
    for i in mixed:
        part_kinds = kinds_of(_flat_parts(geoms[i]))
        if len(part_kinds) == 0:
            continue  # nothing but empty parts: dropped later, counted as without geometry
        best = POLYGON if (part_kinds == POLYGON).any() else LINE if (part_kinds == LINE).any() else POINT
        kinds[i] = best
        reduced += bool((part_kinds != best).any())
    return _keep_dimension(geoms, kinds), kinds, reduced


def _flat_parts(geom) -> np.ndarray:
    """Every non-empty single or multi part of a collection, however deeply nested."""
    parts = shapely.get_parts(geom)
    while len(parts) and (shapely.get_type_id(parts) == 7).any():
        nested = shapely.get_type_id(parts) == 7
        parts = np.concatenate([parts[~nested], shapely.get_parts(parts[nested])])
    return parts[~shapely.is_empty(parts)] if len(parts) else parts


def dropped_notes(info: dict) -> list[str]:
    """What of a layer as read is not checked as drawn, from prepare_layer's counts: for the
    summary's warnings and the service's upload record, where users read first."""
    notes = []
    if info.get("collections_reduced"):
        n = info["collections_reduced"]
        notes.append(
            say(
                f"{vn(n)} đối tượng trộn vùng với đường hoặc điểm (tập hợp hình học): chỉ kiểm tra phần"
                " vùng (không có vùng thì phần đường)",
                f"{en(n)} feature(s) mix polygons with lines or points (geometry collections): only their"
                " polygons (lacking polygons, their lines) are checked",
            )
        )
    if info.get("empty_geometries_dropped"):
        n = info["empty_geometries_dropped"]
        notes.append(
            say(
                f"{vn(n)} đối tượng không có hình học (rỗng, thiếu hoặc vòng không có diện tích), không được kiểm tra",
                f"{en(n)} feature(s) without geometry (empty, missing, or rings with no area) are not checked",
            )
        )
    return notes


def repair(geoms: np.ndarray, kinds: np.ndarray, jobs: int = 1) -> tuple[np.ndarray, int]:
    """make_valid only the invalid geometries; return them and how many were repaired."""
    invalid = ~np.concatenate(
        run_chunked(lambda part: shapely.is_valid(geoms[part]), len(geoms), jobs) or [np.zeros(0, bool)]
    )
    count = int(invalid.sum())
    if count:
        geoms = geoms.copy()
        fixed = _keep_dimension(shapely.make_valid(geoms[invalid]), kinds[invalid])
        # A ring of fewer than 4 points or no area becomes a line or point: no longer the zone the
        # plan drew, so it is dropped (and counted) rather than checked as a line.
        collapsed = ~shapely.is_empty(fixed) & (kinds_of(fixed) != kinds[invalid])
        fixed[collapsed] = shapely.Polygon()
        geoms[invalid] = fixed
    return geoms, count


def _require_finite(geoms: np.ndarray, source_index: np.ndarray, path: str, chunk: int = 100_000) -> None:
    """Refuse coordinates that are not numbers (NaN, infinity): GEOS cannot measure or repair them."""
    for start in range(0, len(geoms), chunk):
        part = geoms[start : start + chunk]
        coords = shapely.get_coordinates(part)
        if np.isfinite(coords).all():
            continue
        owner = np.repeat(np.arange(len(part)), shapely.get_num_coordinates(part))
        bad = np.unique(owner[~np.isfinite(coords).all(axis=1)])
        first = int(source_index[start + bad[0]])
        raise InputError.say(
            f"{path}: {vn(len(bad))} đối tượng có tọa độ không phải là số (NaN hoặc vô cực), đối tượng"
            f" đầu tiên là số {first} (đếm từ 0): hãy sửa hoặc bỏ chúng",
            f"{en(len(bad))} feature(s) have coordinates that are not numbers (NaN or infinite),"
            f" the first is feature {first} (0-based): fix or remove them",
        )


def as_text(value) -> str:
    """A code cell as text: numeric codes written by spreadsheets (12.0) read as "12"."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _shared_texts(values: pd.Series) -> np.ndarray:
    """The column as text (missing -> ""), one string object per distinct value: a million zones
    named after a few dozen land uses held 130 MB of copies of the same names."""
    index, distinct = pd.factorize(values, use_na_sentinel=True)
    texts = np.array([*pd.Series(distinct, dtype=object).astype(str), ""], dtype=object)
    return texts[index]  # -1 -> the last slot, ""


def _map_codes(values: pd.Series, taxonomy: Taxonomy) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Map each distinct value once (layers have a million rows but a few dozen codes)."""
    index, distinct = pd.factorize(values, use_na_sentinel=True)  # missing -> -1
    texts = [as_text(v) for v in distinct] + [""]  # the last slot stands for missing values
    canonical_distinct, _ = taxonomy.map_values(texts)
    raw_distinct = [taxonomy.normalise(t) for t in texts]
    counts = np.bincount(index + 1, minlength=len(texts) + 1)  # counts[0]: missing
    unknown: dict[str, int] = {}
    for slot, (canon, text) in enumerate(zip(canonical_distinct, texts)):
        n = int(counts[0] if slot == len(texts) - 1 else counts[slot + 1])
        if canon is None and n:
            # As the layer spells it, so the user finds it in the attribute table ("Nhà ở", not "NHÀỞ").
            key = unicodedata.normalize("NFC", text.strip()) or "(trống/empty)"
            unknown[key] = unknown.get(key, 0) + n
    canonical = np.array(canonical_distinct, dtype=object)[index]  # index -1 -> the missing slot
    raw = np.array(raw_distinct, dtype=object)[index]
    return canonical, raw, unknown


def prepare_layer(
    layer: Layer,
    taxonomy: Taxonomy,
    analysis_crs: pyproj.CRS,
    *,
    code_field: str | None = None,
    label_field: str | None = None,
    id_field: str | None = None,
    code_candidates: list[str] = (),
    label_candidates: list[str] = (),
    role: str = "plan",
    name: str | None = None,
    jobs: int = 1,
) -> PreparedLayer:
    """Codes through the taxonomy, geometry repaired and projected; counts everything dropped."""
    gdf = layer.gdf
    path = layer.path
    code_col = find_field(gdf.columns, code_field, list(code_candidates), "land-use code", path)
    if code_col is None:
        raise _no_code_field(path, role, gdf.columns)
    label_col = find_field(gdf.columns, label_field, list(label_candidates), "label", path)
    id_col = find_field(gdf.columns, id_field, [], "feature id", path) if id_field else None

    geoms = np.asarray(gdf.geometry.values, dtype=object)
    n_read = len(geoms)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    dropped_empty = int(n_read - present.sum())
    source_index = np.arange(n_read)[present]
    geoms = geoms[present]
    _require_finite(geoms, source_index, path)

    geoms = crs_mod.transform_geometries(geoms, layer.crs, analysis_crs)
    # Heights (CAD exports carry Z) play no part in plan areas; 2D keeps every output one type.
    with_z = shapely.has_z(geoms)
    if with_z.any():
        geoms = shapely.force_2d(geoms)
    kinds = kinds_of(geoms)
    geoms, kinds, reduced = _reduce_collections(geoms, kinds)
    geoms, repaired = repair(geoms, kinds, jobs)
    still_empty = shapely.is_empty(geoms)
    if still_empty.any():
        dropped_empty += int(still_empty.sum())
        keep = ~still_empty
        geoms, kinds, source_index = geoms[keep], kinds[keep], source_index[keep]

    canonical, raw, unknown = _map_codes(gdf[code_col].iloc[source_index], taxonomy)
    labels = _shared_texts(gdf[label_col].iloc[source_index]) if label_col else np.full(len(geoms), "", dtype=object)
    if id_col:
        ids = gdf[id_col].iloc[source_index]
        feature_ids = np.array(["" if pd.isna(v) else as_text(v) for v in ids], dtype=object)
    else:
        feature_ids = np.array(
            list(map(str, gdf.index.to_numpy()[source_index].tolist())), dtype=object
        )  # 2x numpy's astype(str)

    info = {
        "path": path,
        "layer": layer.layer,
        "engine": layer.engine,
        "crs": crs_mod.crs_label(layer.crs),
        "crs_source": layer.crs_source,
        "encoding": layer.encoding,
        "code_field": code_col,
        "code_field_detected": code_field is None,
        "label_field": label_col,
        "id_field": id_col,
        # Rows that cannot be traced back to one feature of the source: said, not refused.
        "ids_missing": int((feature_ids == "").sum()) if id_col else 0,
        "ids_repeated": int((pd.Series(feature_ids).duplicated(keep=False) & (feature_ids != "")).sum())
        if id_col
        else 0,
        "features_read": n_read,
        "features_used": int(len(geoms)),
        "empty_geometries_dropped": dropped_empty,
        "geometries_repaired": repaired,
        "collections_reduced": reduced,
        "heights_dropped": int(with_z.sum()),
        "kinds": {KIND_NAMES[k]: int((kinds == k).sum()) for k in range(3) if (kinds == k).any()},
        "unknown_codes": dict(sorted(unknown.items(), key=lambda kv: (-kv[1], str(kv[0])))),
    }
    return PreparedLayer(
        name=name or layer.name,
        geoms=geoms,
        codes=np.array(canonical, dtype=object),
        raw_codes=raw,
        labels=labels,
        feature_ids=feature_ids,
        kinds=kinds,
        source_crs=layer.crs,
        info=info,
    )
