"""The overlay core: which pieces of a plan fall on master-plan zones its rules forbid.

The speed comes from doing less exact geometry (see ARCHITECTURE.md): one STRtree bulk query,
the rule matrix drops compatible pairs before any geometry work, bounding-box containment picks
the pairs where one side covers the other (no intersection needed), and only pairs that straddle
a boundary are intersected.  Chunks of pairs run on threads: shapely releases the GIL.

The core reads no files and knows no HTTP: it takes PreparedLayers and returns arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from .parallel import aligned_slices, release_memory, run_chunked
from .prepare import KIND_NAMES, LINE, POINT, POLYGON, PreparedLayer, kinds_of
from .rules import UNREVIEWED, RulesTable

NOISE = 1e-6  # m² or m: pieces smaller than this are numerical debris, not findings
CLIP_VERTICES = 500  # features with more vertices are cut to their partner's box before intersecting
CLIP_MARGIN = 1.37  # m around that box: off any round coordinate a border may run along


def measure(geoms: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Area for polygons, length for lines, 1 for points: the size a share is a fraction of."""
    out = np.ones(len(geoms), dtype=float)
    poly = kinds == POLYGON
    line = kinds == LINE
    out[poly] = shapely.area(geoms[poly])
    out[line] = shapely.length(geoms[line])
    return out


def keep_kind(geoms: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Keep only the parts of each result that have its feature's dimension (an intersection of
    two polygons that touch along an edge yields a line, which is no piece of land)."""
    out = geoms.copy()
    got = kinds_of(geoms)
    types = shapely.get_type_id(geoms)
    for i in np.nonzero((got != kinds) | (types == 7))[0]:
        parts = shapely.get_parts(geoms[i])
        parts = parts[kinds_of(parts) == kinds[i]] if len(parts) else parts
        parts = parts[~shapely.is_empty(parts)] if len(parts) else parts
        if len(parts) == 0:
            out[i] = None
        elif len(parts) == 1:
            out[i] = parts[0]
        else:
            out[i] = shapely.union_all(parts) if kinds[i] != POINT else shapely.multipoints(parts)
    return out


@dataclass
class Pieces:
    """Results of intersecting plan features with master zones (or admin units): parallel arrays."""

    left: np.ndarray  # index into the left layer (plan features, or earlier pieces)
    right: np.ndarray  # index into the right layer (master zones or units; -1 none)
    geoms: np.ndarray

    def take(self, mask) -> "Pieces":
        return Pieces(self.left[mask], self.right[mask], self.geoms[mask])

    @staticmethod
    def concat(items: list["Pieces"]) -> "Pieces":
        if not items:
            return Pieces(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, object))
        return Pieces(
            np.concatenate([p.left for p in items]),
            np.concatenate([p.right for p in items]),
            np.concatenate([p.geoms for p in items]),
        )


def _bbox_within(inner: np.ndarray, outer: np.ndarray) -> np.ndarray:
    return (
        (inner[:, 0] >= outer[:, 0])
        & (inner[:, 1] >= outer[:, 1])
        & (inner[:, 2] <= outer[:, 2])
        & (inner[:, 3] <= outer[:, 3])
    )


def intersect_pairs(
    left_geoms: np.ndarray,
    left_kinds: np.ndarray,
    right_geoms: np.ndarray,
    li: np.ndarray,
    ri: np.ndarray,
    jobs: int,
    left_bounds: np.ndarray | None = None,
    right_bounds: np.ndarray | None = None,
    on_progress=None,
) -> Pieces:
    """Exact pieces of candidate pairs (li[k], ri[k]); right geometries are polygons.

    Left inside right -> the left feature itself; right inside left -> the right polygon
    (clipped to nothing else); otherwise a real intersection.  Left geometries may be prepared:
    pairs are grouped by left feature so that no two threads share one (see parallel.py).
    """
    order = np.argsort(li, kind="stable")
    li, ri = li[order], ri[order]
    if left_bounds is None:
        left_bounds = shapely.bounds(left_geoms)
    if right_bounds is None:
        right_bounds = shapely.bounds(right_geoms)

    def work(s: slice) -> Pieces:
        a_idx, b_idx = li[s], ri[s]
        a, b = left_geoms[a_idx], right_geoms[b_idx]
        kinds = left_kinds[a_idx]
        result = np.empty(len(a), dtype=object)
        done = np.zeros(len(a), dtype=bool)

        a_in = _bbox_within(left_bounds[a_idx], right_bounds[b_idx])
        if a_in.any():
            inside = np.zeros(len(a), dtype=bool)
            inside[a_in] = shapely.covered_by(a[a_in], b[a_in])
            result[inside] = a[inside]
            done |= inside
        b_in = ~done & (kinds == POLYGON) & _bbox_within(right_bounds[b_idx], left_bounds[a_idx])
        if b_in.any():
            covers = np.zeros(len(a), dtype=bool)
            covers[b_in] = shapely.covers(a[b_in], b[b_in])  # `a` is prepared
            result[covers] = b[covers]
            done |= covers
        rest = np.nonzero(~done)[0]
        if len(rest):
            touching = shapely.intersects(a[rest], b[rest])  # prepared: cheap rejection
            rest = rest[touching]
            if len(rest):
                try:
                    cut = shapely.intersection(_clipped_to(a[rest], right_bounds[b_idx[rest]]), b[rest])
                except shapely.errors.GEOSException:  # a clip artefact upset the overlay: do it whole
                    cut = shapely.intersection(a[rest], b[rest])
                result[rest] = keep_kind(cut, kinds[rest])
                done[rest] = True
        keep = done & ~shapely.is_missing(result)
        keep[keep] = ~shapely.is_empty(result[keep])
        # Floating-point debris where borders meet (a 1e-10 m line at a commune corner) is no piece.
        keep[keep] = (kinds[keep] == POINT) | (measure(result[keep], kinds[keep]) > NOISE)
        return Pieces(a_idx[keep], b_idx[keep], result[keep])

    return Pieces.concat(run_chunked(work, len(li), jobs, on_progress, slices=aligned_slices(li)))


def _clipped_to(geoms: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Big features (a commune-wide zone of 40,000 vertices) cut to the other side's bounding box
    first: an intersection costs in proportion to both operands' vertices, a rectangle clip is a
    single cheap pass, and the result is the same (the other side lies inside its box).

    The box is widened by CLIP_MARGIN: clip_by_rect turns a polygon whose edge runs within 1e-9 m
    of the box's edge inside out (a whole zone lost, found on a plan reprojected back and forth).
    A clip that still comes out invalid is not used."""
    big = np.nonzero(shapely.get_num_coordinates(geoms) > CLIP_VERTICES)[0]
    if len(big) == 0:
        return geoms
    out = geoms.copy()
    for i in big:
        x0, y0, x1, y1 = boxes[i]
        clipped = shapely.clip_by_rect(geoms[i], x0 - CLIP_MARGIN, y0 - CLIP_MARGIN, x1 + CLIP_MARGIN, y1 + CLIP_MARGIN)
        if shapely.is_valid(clipped):
            out[i] = clipped
    return out


@dataclass
class Overlay:
    """A plan against the master: reportable pieces and the unreviewed pairs' totals."""

    pieces: Pieces  # plan feature index, master index, piece geometry (rule reports it)
    rule_index: np.ndarray  # rule per piece
    touched: np.ndarray  # per plan feature: found on some zone (reportable or unreviewed pair)
    unreviewed: list[dict] = field(default_factory=list)


def overlay(
    plan: PreparedLayer,
    master: PreparedLayer,
    master_tree: shapely.STRtree,
    master_code_index: np.ndarray,
    rules: RulesTable,
    jobs: int = 1,
    on_progress=None,
    exact_unreviewed: bool = False,
    feature_of: np.ndarray | None = None,
    feature_size: np.ndarray | None = None,
) -> Overlay:
    """Reportable pieces of a plan on the master; `on_progress(done, total)` counts candidate pairs.

    Unreviewed pairs (no rule) make no row: by default they are only tested for whether the
    interiors meet (prepared predicates, a tenth of an intersection's cost), and the summary
    gives the plan features concerned; `exact_unreviewed` intersects them for the exact areas.
    `feature_of` maps plan parts to source features, `feature_size` measures those features.
    """
    plan_code_index = rules.code_indices(plan.codes)
    pi, mi = master_tree.query(plan.geoms)  # bounding boxes only
    verdict = rules.matrix[plan_code_index[pi], master_code_index[mi]]

    # Points: each lies in one zone (the first that holds it), whatever the rules say of it,
    # so a point on a shared edge is not counted twice.
    is_point = plan.kinds[pi] == POINT
    p_pi, p_mi = pi[is_point], mi[is_point]
    if len(p_pi):
        hit = shapely.intersects(plan.geoms[p_pi], master.geoms[p_mi])
        p_pi, p_mi = p_pi[hit], p_mi[hit]
        order = np.lexsort((p_mi, p_pi))
        p_pi, p_mi = p_pi[order], p_mi[order]
        first = np.r_[True, p_pi[1:] != p_pi[:-1]] if len(p_pi) else np.zeros(0, bool)
        p_pi, p_mi = p_pi[first], p_mi[first]
    point_verdict = rules.matrix[plan_code_index[p_pi], master_code_index[p_mi]]

    # Lines and polygons: drop compatible pairs before any exact geometry.
    reporting = rules.reporting_mask()
    keep = ~is_point & reporting[plan_code_index[pi], master_code_index[mi]]
    pi, mi, verdict = pi[keep], mi[keep], verdict[keep]
    order = np.lexsort((mi, pi))
    pi, mi, verdict = pi[order], mi[order], verdict[order]
    loose = np.zeros(len(pi), dtype=bool) if exact_unreviewed else verdict == UNREVIEWED
    u_pi, u_mi = pi[loose], mi[loose]
    pi, mi, verdict = pi[~loose], mi[~loose], verdict[~loose]

    plan_bounds, master_bounds = shapely.bounds(plan.geoms), shapely.bounds(master.geoms)
    prepared = prepare_big(plan.geoms, np.unique(np.concatenate([pi, u_pi])))
    pieces = intersect_pairs(
        plan.geoms, plan.kinds, master.geoms, pi, mi, jobs, plan_bounds, master_bounds, on_progress=on_progress
    )
    contacts = interiors_meet(
        plan.geoms, master.geoms, u_pi, u_mi, _factorized(code_labels(master))[u_mi], jobs, plan_bounds, master_bounds
    )
    shapely.destroy_prepared(prepared)
    release_memory()
    u_pi, u_mi = u_pi[contacts], u_mi[contacts]
    verdict = rules.matrix[plan_code_index[pieces.left], master_code_index[pieces.right]]
    # On a zone border, the zone whose rule weighs most: a road on the edge of a protection
    # forest is reported as the conflict it is.
    rule_weight = np.array([_weight(r) for r in rules.rules] + [9, 9], dtype=np.int64)  # -2, -1 index the 9s
    weight = rule_weight[verdict]
    pieces = lines_once(pieces, plan.kinds, shapely.length(plan.geoms), weight)
    verdict = rules.matrix[plan_code_index[pieces.left], master_code_index[pieces.right]]

    point_pieces = Pieces(p_pi, p_mi, plan.geoms[p_pi])
    keep_points = reporting[plan_code_index[p_pi], master_code_index[p_mi]]
    pieces = Pieces.concat([pieces, point_pieces.take(keep_points)])
    verdict = np.concatenate([verdict, point_verdict[keep_points]])

    touched = np.zeros(len(plan), dtype=bool)
    touched[pieces.left] = True
    touched[u_pi] = True
    unrev = verdict == UNREVIEWED
    if feature_of is None:
        feature_of, feature_size = np.arange(len(plan)), measure(plan.geoms, plan.kinds)
    unreviewed = _unreviewed_totals(
        plan, master, pieces.take(unrev), u_pi, u_mi, feature_of, feature_size, exact_unreviewed
    )
    reportable = ~unrev
    return Overlay(
        pieces=pieces.take(reportable), rule_index=verdict[reportable], touched=touched, unreviewed=unreviewed
    )


PREPARE_VERTICES = 64  # plan features with more vertices are prepared before their pairs are tested


def prepare_big(geoms: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Prepare the big features among `used` and return them (for destroy_prepared).  A zone of
    the size of the master's meets ten or so zones, too few tests to pay for its indexes (1M x
    100k: 9.4 CPU s unprepared, 10.1 s prepared, the same pieces, and the indexes took 300 MB);
    a commune-wide zone of 40,000 vertices meets thousands."""
    big = geoms[used[shapely.get_num_coordinates(geoms[used]) > PREPARE_VERTICES]]
    shapely.prepare(big)
    return big


def _factorized(values: np.ndarray) -> np.ndarray:
    return pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)[0]


def interiors_meet(
    left_geoms: np.ndarray,
    right_geoms: np.ndarray,
    li: np.ndarray,
    ri: np.ndarray,
    right_group: np.ndarray,
    jobs: int = 1,
    left_bounds: np.ndarray | None = None,
    right_bounds: np.ndarray | None = None,
) -> np.ndarray:
    """For pairs (li[k], ri[k]) sorted by li: whether their interiors meet (intersect, not only
    touch), asked only until one zone of each (left feature, right group) answers yes.

    A plan feature lies over many zones of one code: the pair whose boxes overlap most is tried
    first, the others only when it says no (at 100k zones, 120k pairs need 50k tests). Left
    geometries may be prepared: chunks never split a feature's run (see parallel.py)."""
    n = len(li)
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    group = li.astype(np.int64) * (int(right_group.max()) + 1) + right_group
    overlap = np.empty(n, dtype=np.float32)  # a ranking only; in slices, so no 4-column copies of 2M pairs
    for start in range(0, n, 1 << 18):
        s = slice(start, start + (1 << 18))
        lb = shapely.bounds(left_geoms[li[s]]) if left_bounds is None else left_bounds[li[s]]
        rb = shapely.bounds(right_geoms[ri[s]]) if right_bounds is None else right_bounds[ri[s]]
        overlap[s] = (np.minimum(lb[:, 2], rb[:, 2]) - np.maximum(lb[:, 0], rb[:, 0])) * (
            np.minimum(lb[:, 3], rb[:, 3]) - np.maximum(lb[:, 1], rb[:, 1])
        )
    order = np.lexsort((-overlap, group))  # group-major, so li stays sorted
    first = np.r_[True, group[order][1:] != group[order][:-1]]

    def test(idx: np.ndarray) -> np.ndarray:
        if len(idx) == 0:
            return np.zeros(0, dtype=bool)

        def work(s: slice) -> np.ndarray:
            a, b = left_geoms[li[idx[s]]], right_geoms[ri[idx[s]]]
            hit = shapely.intersects(a, b)
            hit[hit] = ~shapely.touches(a[hit], b[hit])
            return hit

        return np.concatenate(run_chunked(work, len(idx), jobs, slices=aligned_slices(li[idx])))

    tried = order[first]
    out[tried] = test(tried)
    yes = np.unique(group[tried[out[tried]]])
    rest = order[~first]
    rest = rest[~np.isin(group[rest], yes)]
    if len(rest):
        out[rest] = test(rest)
    return out


def lines_once(pieces: Pieces, kinds: np.ndarray, full_length: np.ndarray, priority: np.ndarray) -> Pieces:
    """A road drawn along a border lies in both zones (or units): keep each metre once, in the
    piece of lowest `priority`.  `kinds` and `full_length` are per left feature."""
    lines = np.nonzero(kinds[pieces.left] == LINE)[0]
    if len(lines) < 2:
        return pieces
    total = np.zeros(len(kinds))
    np.add.at(total, pieces.left[lines], shapely.length(pieces.geoms[lines]))
    doubled = np.nonzero(total > full_length * (1 + 1e-9) + NOISE)[0]
    if len(doubled) == 0:
        return pieces
    geoms = pieces.geoms.copy()
    keep = np.ones(len(geoms), dtype=bool)
    for feature in doubled:
        mine = lines[pieces.left[lines] == feature]
        taken = None
        for k in mine[np.lexsort((pieces.right[mine], priority[mine]))]:
            rest = geoms[k] if taken is None else shapely.difference(geoms[k], taken)
            rest = keep_kind(np.array([rest], dtype=object), np.array([LINE], dtype=np.int8))[0]
            if rest is None or shapely.length(rest) <= NOISE:
                keep[k] = False
                continue
            geoms[k] = rest
            taken = rest if taken is None else shapely.union(taken, rest)
    return Pieces(pieces.left[keep], pieces.right[keep], geoms[keep])


def _weight(rule) -> int:
    """Conflict before conditional before unreviewed, then high before medium before low."""
    return {"conflict": 0, "conditional": 3}.get(rule.verdict, 6) + {"high": 0, "medium": 1, "low": 2}.get(
        rule.severity, 2
    )


def code_labels(layer: PreparedLayer) -> np.ndarray:
    """Canonical code per feature, or the normalised source value when the taxonomy does not know it."""
    known = np.not_equal(layer.codes, None)
    return np.where(known, layer.codes, layer.raw_codes)


def _unreviewed_totals(
    plan: PreparedLayer,
    master: PreparedLayer,
    pieces: Pieces,
    u_pi: np.ndarray,
    u_mi: np.ndarray,
    feature_of: np.ndarray,
    feature_size: np.ndarray,
    exact: bool,
) -> list[dict]:
    """Each code pair no rule covers (listed, never made rows): the plan features concerned (count,
    their whole area and length), the points (always exact) and, when `exact`, the overlap's own
    area, length and pieces.  `pieces` are the unreviewed pieces measured (points only, unless
    exact); (u_pi, u_mi) the other pairs whose interiors meet."""
    left = np.concatenate([pieces.left, u_pi]).astype(np.int64)
    if len(left) == 0:
        return []
    kinds = plan.kinds[left]
    sizes = np.zeros(len(left))
    sizes[: len(pieces.left)] = measure(pieces.geoms, kinds[: len(pieces.left)])
    feature = feature_of[left]
    whole = feature_size[feature]
    frame = pd.DataFrame(
        {
            "plan_code": code_labels(plan)[left],
            "master_code": code_labels(master)[np.concatenate([pieces.right, u_mi])],
            "feature": feature,
            "area_m2": np.where(kinds == POLYGON, sizes, 0.0),
            "length_m": np.where(kinds == LINE, sizes, 0.0),
            "points": (kinds == POINT).astype(int),
            "pieces": 1,
            "feature_area_m2": np.where(kinds == POLYGON, whole, 0.0),
            "feature_length_m": np.where(kinds == LINE, whole, 0.0),
        }
    )
    keys = ["plan_code", "master_code"]
    totals = frame.groupby(keys).agg(
        area_m2=("area_m2", "sum"), length_m=("length_m", "sum"), points=("points", "sum"), pieces=("pieces", "sum")
    )
    features = (
        frame.drop_duplicates(keys + ["feature"])
        .groupby(keys)
        .agg(
            features=("feature", "size"),
            feature_area_m2=("feature_area_m2", "sum"),
            feature_length_m=("feature_length_m", "sum"),
        )
    )
    totals = totals.join(features).reset_index()
    first = ["area_m2", "length_m"] if exact else ["feature_area_m2", "feature_length_m"]
    totals = totals.sort_values(
        first + ["points", "plan_code", "master_code"], ascending=[False, False, False, True, True]
    )
    out = []
    for r in totals.itertuples(index=False):
        row = {
            "plan_code": str(r.plan_code),
            "master_code": str(r.master_code),
            "exact": exact,
            "features": int(r.features),
            "feature_area_m2": float(r.feature_area_m2),
            "feature_length_m": float(r.feature_length_m),
            "points": int(r.points),
        }
        if exact:
            row.update(area_m2=float(r.area_m2), length_m=float(r.length_m), pieces=int(r.pieces))
        out.append(row)
    return out


__all__ = ["KIND_NAMES", "Overlay", "Pieces", "intersect_pairs", "measure", "overlay"]
