"""Defects of the layers themselves: a plan overlapping itself or reaching outside the master
plan, and a master plan whose zones leave gaps or overlap (it should be a clean coverage)."""

from __future__ import annotations

import numpy as np
import shapely

from .engine import intersect_pairs, keep_kind, measure
from .prepare import LINE, POINT, POLYGON, PreparedLayer

# Above this many zones a single check skips the master's coverage validation (≈ 1.7 s per
# 100,000 zones on this 2-core machine) unless asked for; the plan checks always run.  Batch runs,
# where one master serves many plans, always validate it.
MASTER_CHECK_LIMIT = 50_000


def overlap_suspects(plan: PreparedLayer) -> np.ndarray:
    """Plan polygons (indexes among the polygons) the coverage validator flags: at least one of
    every overlapping pair, found in one pass.  The slow half of plan_self_overlaps, and free of
    the GIL, so a check runs it beside the overlay."""
    geoms = plan.geoms[plan.kinds == POLYGON]
    if len(geoms) < 2:
        return np.zeros(0, dtype=np.int64)
    return np.nonzero(~shapely.is_empty(shapely.coverage_invalid_edges(geoms)))[0]


def plan_self_overlaps(plan: PreparedLayer, jobs: int = 1, flagged: np.ndarray | None = None) -> dict:
    """Pairs of plan polygons whose interiors overlap, and the overlapping area; `flagged` is
    overlap_suspects(plan) when already computed."""
    poly = np.nonzero(plan.kinds == POLYGON)[0]
    geoms = plan.geoms[poly]
    if len(geoms) < 2:
        return {"pairs": 0, "area_m2": 0.0, "examples": []}
    # Only the flagged polygons are paired up ('overlaps'/'contains'/'within' skip neighbours
    # sharing an edge).
    flagged = overlap_suspects(plan) if flagged is None else flagged
    if len(flagged) == 0:
        return {"pairs": 0, "area_m2": 0.0, "examples": []}
    tree = shapely.STRtree(geoms)
    pairs = [tree.query(geoms[flagged], predicate=p) for p in ("overlaps", "contains", "within")]
    a = np.concatenate([flagged[q[0]] for q in pairs])
    b = np.concatenate([q[1] for q in pairs])
    a, b = np.minimum(a, b), np.maximum(a, b)
    keep = a < b
    a, b = np.unique(np.stack([a[keep], b[keep]]), axis=1)
    kinds = np.full(len(geoms), POLYGON, dtype=np.int8)
    pieces = intersect_pairs(geoms, kinds, geoms, a, b, jobs)
    area = shapely.area(pieces.geoms)
    real = area > 1e-6
    examples = [
        [str(plan.feature_ids[poly[i]]), str(plan.feature_ids[poly[j]]), round(float(x), 2)]
        for i, j, x in zip(pieces.left[real][:10], pieces.right[real][:10], area[real][:10])
    ]
    return {"pairs": int(real.sum()), "area_m2": float(area[real].sum()), "examples": examples}


def master_extent(master: PreparedLayer, invalid_edges: np.ndarray) -> shapely.Geometry:
    """The master plan's outline; coverage union is fast when the zones form a clean coverage."""
    polys = master.geoms[master.kinds == POLYGON]
    if shapely.is_empty(invalid_edges).all():
        return shapely.coverage_union_all(polys)
    return shapely.union_all(polys)


OUTSIDE_MIN = 0.01  # m² or m


def plan_outside(plan: PreparedLayer, extent: shapely.Geometry) -> dict:
    """How much of the plan lies outside the master plan's extent."""
    # The extent is shared by a batch's threads: left unprepared (see admin.py).
    inside = shapely.covered_by(plan.geoms, extent)
    out = np.nonzero(~inside)[0]
    rest = keep_kind(shapely.difference(plan.geoms[out], extent), plan.kinds[out])
    rest_kinds = plan.kinds[out]
    has = np.array([g is not None and not shapely.is_empty(g) for g in rest], dtype=bool)
    sizes = np.zeros(len(out))
    if has.any():
        sizes[has] = measure(rest[has], rest_kinds[has])
    # Below a square decimetre (or a centimetre of line) is a reprojection's rounding along the
    # province border, not land left unchecked.
    real = has & ((rest_kinds == POINT) | (sizes >= OUTSIDE_MIN))
    return {
        "features": int(real.sum()),
        "area_m2": float(sizes[real & (rest_kinds == POLYGON)].sum()),
        "length_m": float(sizes[real & (rest_kinds == LINE)].sum()),
        "points": int((real & (rest_kinds == POINT)).sum()),
        "feature_ids": [str(x) for x in plan.feature_ids[out[real]][:50]],
    }


def plan_outside_coarse(plan: PreparedLayer, master_tree: shapely.STRtree, touched: np.ndarray) -> dict:
    """Cheap version for huge masters: only features touching no master zone at all.

    `touched` marks features the overlay already found on some zone; only the others are tested.
    """
    untested = np.nonzero(~touched)[0]
    pi, _ = master_tree.query(plan.geoms[untested], predicate="intersects")
    alone = np.setdiff1d(untested, untested[pi])
    sizes = measure(plan.geoms[alone], plan.kinds[alone])
    kinds = plan.kinds[alone]
    return {
        "features": int(len(alone)),
        "area_m2": float(sizes[kinds == POLYGON].sum()),
        "length_m": float(sizes[kinds == LINE].sum()),
        "points": int((kinds == POINT).sum()),
        "feature_ids": [str(x) for x in plan.feature_ids[alone][:50]],
        "note": "only features entirely outside were measured (master too large for the exact check)",
    }


def master_coverage(master: PreparedLayer) -> tuple[dict, shapely.Geometry]:
    """Gaps (holes inside the outline) and overlaps between zones, by shapely's coverage tools;
    also returns the outline, which the plans' outside-extent check needs."""
    polys = master.geoms[master.kinds == POLYGON]
    invalid_edges = shapely.coverage_invalid_edges(polys)
    extent = master_extent(master, invalid_edges)
    bad = ~shapely.is_empty(invalid_edges)
    overlap_area = 0.0
    if bad.any():
        overlap_area = float(shapely.area(polys).sum() - shapely.area(extent))
    holes = [shapely.Polygon(r) for g in shapely.get_parts(extent) for r in g.interiors]
    return {
        "valid_coverage": not bool(bad.any()),
        "zones_with_invalid_edges": int(bad.sum()),
        "invalid_edge_length_m": round(float(shapely.length(invalid_edges[bad]).sum()), 2),
        "overlap_area_m2": round(max(overlap_area, 0.0), 2),  # cm²: below that is floating-point noise
        "gaps": len(holes),
        "gap_area_m2": round(float(sum(h.area for h in holes)), 2),
    }, extent
