"""Administrative units: made into a clean partition once, then used to split conflict pieces.

Real commune layers overlap a little along shared borders.  Each overlap is given to the unit
that comes first (in code order), so every square metre of conflict lands in exactly one unit and
per-commune rows add up to the total; the overlap area is reported as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyproj
import shapely

from . import crs as crs_mod
from .engine import Pieces, intersect_pairs, keep_kind, lines_once, measure, prepare_big
from .errors import InputError, say
from .io import Layer
from .numfmt import en, vn
from .prepare import POINT, POLYGON, as_text, find_field, kinds_of, repair

CODE_CANDIDATES = ["ma_xa", "maxa", "ma_dvhc", "madvhc", "code", "ma", "commune_id", "ward_code", "id"]
NAME_CANDIDATES = ["ten_xa", "tenxa", "ten_dvhc", "name", "ten", "commune_vn", "fullname", "ward"]


def admin_selector(path: str, code_field: str | None = None, name_field: str | None = None):
    """For io.read_layer(select=...): read only the unit code and name columns."""

    def select(names: list[str]) -> list[str]:
        code = find_field(names, code_field, CODE_CANDIDATES, "unit code", path)
        if code is None:
            raise InputError.say(
                f"{path}: không tìm thấy trường mã đơn vị hành chính; hãy chỉ ra bằng tùy chọn"
                f" --admin-field (các trường: {', '.join(names)})",
                f"no unit code field found; name it with --admin-field (fields: {', '.join(names)})",
            )
        name = find_field(names, name_field, NAME_CANDIDATES, "unit name", path)
        return [c for c in (code, name) if c]

    return select


@dataclass
class AdminUnits:
    geoms: np.ndarray  # non-overlapping polygons in the analysis CRS
    codes: np.ndarray
    names: np.ndarray
    tree: shapely.STRtree
    bounds: np.ndarray
    info: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def prepare_admin(
    layer: Layer,
    analysis_crs: pyproj.CRS,
    code_field: str | None = None,
    name_field: str | None = None,
) -> AdminUnits:
    gdf = layer.gdf
    code_col = find_field(gdf.columns, code_field, CODE_CANDIDATES, "unit code", layer.path)
    if code_col is None:
        raise InputError.say(
            f"{layer.path}: không tìm thấy trường mã đơn vị hành chính; hãy chỉ ra bằng tùy chọn --admin-field",
            "no unit code field found; name it with --admin-field",
        )
    name_col = find_field(gdf.columns, name_field, NAME_CANDIDATES, "unit name", layer.path)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not present.any():
        raise InputError.say(
            f"{layer.path}: không đơn vị hành chính nào có hình học (đã đọc {vn(len(gdf))})",
            f"no administrative unit has a geometry ({en(len(gdf))} read)",
        )
    geoms = crs_mod.transform_geometries(geoms[present], layer.crs, analysis_crs)
    kinds = kinds_of(geoms)
    if (kinds != POLYGON).any():
        raise InputError.say(
            f"{layer.path}: đơn vị hành chính phải là các vùng (polygon)", "administrative units must be polygons"
        )
    geoms, repaired = repair(geoms, kinds)
    # A Real field gives 8130103.0: the unit code is 8130103, as the land-use codes are read.
    codes = np.array([as_text(v) for v in gdf[code_col]], dtype=object)[present]
    names = (
        gdf[name_col].fillna("").astype(str).to_numpy(dtype=object)[present]
        if name_col
        else np.full(len(geoms), "", dtype=object)
    )

    order = np.argsort(codes, kind="stable")
    geoms, codes, names = geoms[order], codes[order], names[order]
    before = shapely.area(geoms)
    tree = shapely.STRtree(geoms)
    resolved = geoms.copy()
    left, right = tree.query(geoms, predicate="intersects")
    earlier = right < left
    for i in np.unique(left[earlier]):
        prior = geoms[right[earlier & (left == i)]]
        resolved[i] = shapely.difference(resolved[i], shapely.union_all(prior))
    resolved = keep_kind(resolved, np.full(len(resolved), POLYGON, dtype=np.int8))
    resolved = np.array([g if g is not None else shapely.Polygon() for g in resolved], dtype=object)
    overlap = float(before.sum() - shapely.area(resolved).sum())
    warnings = list(layer.warnings)
    if overlap > 0.01:
        warnings.append(
            say(
                f"{layer.path}: các đơn vị hành chính chồng lấn tổng cộng {vn(overlap)} m²; mỗi phần chồng lấn được"
                " tính cho một đơn vị",
                f"units overlap by {en(overlap)} m² in all; each overlap was given to one unit",
            )
        )
    # Not prepared: units are shared by the threads of a batch, and GEOS builds a prepared
    # geometry's indexes lazily, unsafely under concurrency; they are only ever the second operand.
    info = {
        "path": layer.path,
        "layer": layer.layer,
        "crs": crs_mod.crs_label(layer.crs),
        "crs_source": layer.crs_source,
        "encoding": layer.encoding,
        "code_field": code_col,
        "name_field": name_col,
        "features_read": int(len(gdf)),
        "geometries_repaired": repaired,
        "overlap_area_m2": round(overlap, 3),
    }
    return AdminUnits(
        geoms=resolved,
        codes=codes,
        names=names,
        tree=shapely.STRtree(resolved),
        bounds=shapely.bounds(resolved),
        info=info,
        warnings=warnings,
    )


def split_by_units(geoms: np.ndarray, kinds: np.ndarray, units: AdminUnits, jobs: int = 1) -> Pieces:
    """Cut pieces at unit borders: result.left indexes `geoms`, result.right the unit (-1: outside all)."""
    li, ri = units.tree.query(geoms)
    # Only big features prepared: most meet one or two units (1M x 100k: 0.64 CPU s against 0.94 s
    # with every feature prepared, the same pieces).
    prepared = prepare_big(geoms, np.unique(li))
    inside = intersect_pairs(geoms, kinds, units.geoms, li, ri, jobs, right_bounds=units.bounds)
    shapely.destroy_prepared(prepared)
    # A plan zone that covers a whole unit gets the unit's own geometry object back; the overlay
    # then prepares its pieces, so sharing that object with a plan on another thread (batch runs)
    # would prepare and free one GEOS index from two threads at once.  Each plan gets its copy.
    shared = np.fromiter((g is units.geoms[r] for g, r in zip(inside.geoms, inside.right)), bool, len(inside.geoms))
    if shared.any():
        inside.geoms[shared] = shapely.from_wkb(shapely.to_wkb(inside.geoms[shared]))
    # A point on a shared border belongs to the first unit only.
    order = np.lexsort((inside.right, inside.left))
    inside = inside.take(order)
    first = np.r_[True, inside.left[1:] != inside.left[:-1]] if len(inside.left) else np.zeros(0, bool)
    inside = inside.take(first | (kinds[inside.left] != POINT))
    # A road along a commune border: its metres go to one unit (the first by code), like areas.
    inside = lines_once(inside, kinds, shapely.length(geoms), np.zeros(len(inside.left), dtype=np.int64))
    # What no unit holds is kept, with no unit, so nothing is lost.
    got = np.zeros(len(geoms))
    np.add.at(got, inside.left, measure(inside.geoms, kinds[inside.left]))
    full = measure(geoms, kinds)
    short = np.nonzero(got < full * (1 - 1e-9) - 1e-9)[0]
    outside = []
    for i in short:
        near = ri[li == i]
        rest = shapely.difference(geoms[i], shapely.union_all(units.geoms[near])) if len(near) else geoms[i]
        rest = keep_kind(np.array([rest], dtype=object), kinds[i : i + 1])[0]
        if rest is not None and not shapely.is_empty(rest) and measure(np.array([rest]), kinds[i : i + 1])[0] > 1e-6:
            outside.append((i, rest))
    extra = Pieces(
        np.array([i for i, _ in outside], dtype=np.int64),
        np.full(len(outside), -1, dtype=np.int64),
        np.array([g for _, g in outside], dtype=object),
    )
    result = Pieces.concat([inside, extra])
    order = np.lexsort((result.right, result.left))
    return result.take(order)
