"""Static overview maps (PNG) for the reports: master zones in the official land-use colours and the
conflict pieces coloured by severity.

Drawn in the analysis CRS as given (projected metres, fine for a static map): nothing is reprojected.
Rendered with matplotlib's Agg canvas directly, so no GUI backend or pyplot state is touched.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import shapely
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.path import Path

from .labels import Labels
from .model import code_name

SEVERITY_COLORS = {"high": "#c0161d", "medium": "#f07c00", "low": "#e6c700"}
UNKNOWN_COLOR = "#d9d9d9"
MAX_LEGEND_ZONES = 18
HATCH_LIMIT = 3000  # conditional pieces hatched up to this many (hatching is slow to draw)
EDGE_LIMIT = 5000  # above this many zones, white zone edges only blur the map (and cost time)
MAP_SHARE = 0.66  # fraction of the figure width given to the map
# Vertices drawn in one figure (zones, plan outlines, pieces: a half, a quarter, a quarter); beyond
# them a layer is simplified or drawn as grid cells (maps.within_budget) and the figure says so.
# Tables and totals never come from the drawing.
MAX_VERTICES = 400_000


def overview_png(data, plan_id: str | None = None, width_in: float = 10.0, dpi: int = 120) -> bytes | None:
    """PNG bytes of the overview map (whole run, or one plan's conflicts when `plan_id`); None if empty."""
    L: Labels = data.labels
    rows, pieces = data.rows, data.pieces
    if plan_id is not None and len(rows):
        mask = (rows["plan_id"] == plan_id).to_numpy()
        rows, pieces = rows[mask], pieces[mask]
    geoms = np.asarray(pieces.values if hasattr(pieces, "values") else pieces, dtype=object)
    present = np.array([g is not None and not shapely.is_empty(g) for g in geoms], dtype=bool)
    outlines = [layer for layer in data.plan_layers if plan_id is None or layer.name == plan_id]

    bounds = _view_bounds(data.master if data.scope != "plan" and plan_id is None else None, geoms[present], outlines)
    if bounds is None:
        return None
    x0, y0, x1, y1 = bounds
    aspect = (y1 - y0) / (x1 - x0)
    map_in = width_in * MAP_SHARE  # the map on the left, the legend beside it (never over the map)
    height_in = min(max(map_in * aspect, 4.0), 9.0)
    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.005, 0.01, MAP_SHARE, 0.98))
    notes: list[str] = []
    handles = _draw_master(ax, data, bounds, notes)
    for layer in outlines:
        _draw_outline(ax, _bounded(layer.geoms, MAX_VERTICES // (4 * len(outlines)), bounds, notes))
    if outlines:
        handles.append(Line2D([], [], color="#1f3b73", lw=1.2, label=L("legend_plan")))
    handles += _draw_pieces(ax, rows[present], _bounded(geoms[present], MAX_VERTICES // 4, bounds, notes), bounds, L)
    if notes:
        ax.text(
            0.01,
            0.01,
            "Giản lược để vẽ / simplified for drawing: "
            + "; ".join(notes)
            + " (số liệu từ hình học gốc / figures from the exact geometry)",
            transform=ax.transAxes,
            fontsize=6,
            va="bottom",
            ha="left",
            zorder=8,
            wrap=True,
            bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 1.5},
        )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")  # geopandas labels the axes "x"/"y": no use on a map without ticks
    ax.set_ylabel("")
    _scale_bar(ax, bounds)
    if handles:
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            fontsize=7,
            frameon=False,
            borderaxespad=0.0,
            handlelength=1.4,
            ncol=1 if len(handles) <= 30 else 2,
        )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _view_bounds(master, pieces: np.ndarray, outlines: list):
    boxes = []
    if master is not None and len(master.geoms):
        boxes.append(shapely.total_bounds(master.geoms))
    if len(pieces):
        boxes.append(shapely.total_bounds(pieces))
    for layer in outlines:
        if len(layer.geoms):
            boxes.append(shapely.total_bounds(layer.geoms))
    boxes = [b for b in boxes if np.all(np.isfinite(b))]
    if not boxes:
        return None
    b = np.array(boxes)
    x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    size = max(x1 - x0, y1 - y0, 200.0)  # at least 200 m across: a single point still gets a map
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = max(x1 - x0, size * 0.35) * 1.08, max(y1 - y0, size * 0.35) * 1.08
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _bounded(geoms: np.ndarray, budget: int, bounds, notes: list[str]) -> np.ndarray:
    """`geoms` within `budget` vertices for drawing; what was done is added to `notes`."""
    from ..maps import within_budget

    out, how = within_budget(geoms, budget, max(bounds[2] - bounds[0], bounds[3] - bounds[1]) / 2500.0)
    if how:
        notes.append(how)
    return out


def _draw_master(ax, data, bounds, notes: list[str]) -> list:
    master = data.master
    if master is None or not len(master.geoms):
        return []
    gb = shapely.bounds(master.geoms)
    x0, y0, x1, y1 = bounds
    inside = (gb[:, 2] >= x0) & (gb[:, 0] <= x1) & (gb[:, 3] >= y0) & (gb[:, 1] <= y1)
    geoms = master.geoms[inside]
    codes = np.asarray(master.codes, dtype=object)[inside]
    if not len(geoms):
        return []
    tolerance = max(x1 - x0, y1 - y0) / 2500.0  # below a pixel at this size
    geoms = _bounded(shapely.simplify(geoms, tolerance, preserve_topology=True), MAX_VERTICES // 2, bounds, notes)
    palette = {c: _color(data.taxonomy, c) for c in set(codes)}
    _fill_zones(ax, geoms, np.array([palette[c] for c in codes], dtype=object), edges=len(geoms) <= EDGE_LIMIT)
    areas = {}
    for code, area in zip(codes, shapely.area(geoms)):
        areas[code] = areas.get(code, 0.0) + area
    handles = [Patch(facecolor="none", edgecolor="none", label=data.labels("legend_zones"))]
    for code in sorted(areas, key=lambda c: -areas[c])[:MAX_LEGEND_ZONES]:
        name = code_name(data.taxonomy, code, data.labels.lang)
        label = f"{code or '?'}" + (f" – {name}" if name else "")
        handles.append(
            Patch(
                facecolor=_color(data.taxonomy, code),
                edgecolor="#999999",
                lw=0.3,
                label=label if len(label) <= 48 else label[:47] + "…",
            )
        )
    return handles


def _fill_zones(ax, geoms: np.ndarray, colors: np.ndarray, edges: bool) -> None:
    """Zones as one PolyCollection of outer rings, largest first: in a coverage every hole is
    another zone, drawn later on top, so holes need no paths of their own. About 10x faster than
    GeoSeries.plot (100k zones: ~2 s instead of ~18 s), which matters at province scale."""
    parts, index = shapely.get_parts(geoms, return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)  # polygons (repaired upstream)
    parts, index = parts[keep], index[keep]
    if not len(parts):
        return
    order = np.argsort(-shapely.area(parts), kind="stable")
    parts, index = parts[order], index[order]
    coords, ring = shapely.get_coordinates(shapely.get_exterior_ring(parts), return_index=True)
    verts = np.split(coords, np.flatnonzero(np.diff(ring)) + 1)
    ax.add_collection(
        PolyCollection(
            verts,
            facecolors=list(colors[index]),
            zorder=1,
            edgecolors="#ffffff" if edges else "none",
            linewidths=0.15 if edges else 0.0,
            antialiased=edges,
        )
    )


def _polygon_paths(geoms: np.ndarray) -> list[Path]:
    """One matplotlib Path per polygon part, holes included (a piece may surround another zone)."""
    paths = []
    for poly in shapely.get_parts(geoms):
        if shapely.get_type_id(poly) != 3 or poly.is_empty:
            continue
        verts, codes = [], []
        for ring in (poly.exterior, *poly.interiors):
            xy = np.asarray(ring.coords)[:, :2]
            if len(xy) < 4:
                continue
            verts.append(xy)
            codes.append(np.r_[Path.MOVETO, np.full(len(xy) - 2, Path.LINETO), Path.CLOSEPOLY])
        if verts:
            paths.append(Path(np.concatenate(verts), np.concatenate(codes).astype(np.uint8)))
    return paths


def _draw_outline(ax, geoms: np.ndarray) -> None:
    """The plan checked: polygon outlines, lines and points in one dark blue."""
    ax.add_collection(
        PathCollection(_polygon_paths(geoms), facecolors="none", edgecolors="#1f3b73", linewidths=0.9, zorder=3)
    )
    ax.add_collection(LineCollection(_line_segments(geoms), colors="#1f3b73", linewidths=0.9, zorder=3))
    pts = shapely.get_parts(geoms)
    pts = pts[shapely.get_type_id(pts) == 0]
    if len(pts):
        ax.scatter(shapely.get_x(pts), shapely.get_y(pts), s=6, c="#1f3b73", zorder=3)


def _line_segments(geoms: np.ndarray) -> list[np.ndarray]:
    parts = shapely.get_parts(geoms)
    parts = parts[shapely.get_type_id(parts) == 1]  # LineStrings
    if not len(parts):
        return []
    coords, index = shapely.get_coordinates(parts, return_index=True)
    return np.split(coords, np.flatnonzero(np.diff(index)) + 1)


def _draw_pieces(ax, rows, geoms: np.ndarray, bounds, L: Labels) -> list:
    if not len(geoms):
        return []
    size = max(bounds[2] - bounds[0], bounds[3] - bounds[1])
    kinds = rows["kind"].to_numpy()
    severities = rows["severity"].to_numpy()
    conditional = (rows["verdict"] == "conditional").to_numpy()
    handles = [Patch(facecolor="none", edgecolor="none", label=L("legend_conflicts"))]
    for severity, color in SEVERITY_COLORS.items():
        sel = severities == severity
        if not sel.any():
            continue
        for cond in (False, True):
            part = sel & (conditional == cond)
            if not part.any():
                continue
            g = geoms[part]
            k = kinds[part]
            hatch = "////" if cond else None
            poly = k == "polygon"
            if poly.any():
                paths = _polygon_paths(g[poly])
                ax.add_collection(
                    PathCollection(
                        paths,
                        facecolors=color,
                        edgecolors="#3a0000",
                        linewidths=0.6,
                        alpha=0.85,
                        zorder=4,
                        hatch=hatch if len(paths) <= HATCH_LIMIT else None,
                    )
                )
                # At province scale a piece may be smaller than a pixel: mark where it is.
                small = shapely.area(g[poly]) < (size / 300.0) ** 2
                if small.any():
                    pts = shapely.point_on_surface(g[poly][small])
                    ax.scatter(
                        shapely.get_x(pts),
                        shapely.get_y(pts),
                        s=9,
                        c=color,
                        edgecolors="#3a0000",
                        linewidths=0.4,
                        zorder=5,
                        marker="o",
                    )
            line = k == "line"
            if line.any():
                ax.add_collection(
                    LineCollection(
                        _line_segments(g[line]),
                        colors=color,
                        linewidths=2.4,
                        linestyles="--" if cond else "-",
                        zorder=5,
                    )
                )
            point = k == "point"
            if point.any():
                pts = shapely.get_parts(g[point])
                ax.scatter(
                    shapely.get_x(pts),
                    shapely.get_y(pts),
                    s=28,
                    c=color,
                    edgecolors="#000000",
                    linewidths=0.6,
                    marker="D",
                    zorder=6,
                )
            label = f"{L(severity)} – {L('conditional' if cond else 'conflict')}"
            handles.append(Patch(facecolor=color, edgecolor="#3a0000", hatch=hatch, label=label))
    return handles


def _scale_bar(ax, bounds) -> None:
    x0, y0, x1, y1 = bounds
    target = (x1 - x0) / 5
    step = 10 ** math.floor(math.log10(target))
    length = max(m * step for m in (1, 2, 5) if m * step <= target)
    bx, by = x1 - (x1 - x0) * 0.04 - length, y0 + (y1 - y0) * 0.04
    ax.plot([bx, bx + length], [by, by], color="#000000", lw=2.5, solid_capstyle="butt", zorder=7)
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(bx + length / 2, by + (y1 - y0) * 0.012, text, ha="center", va="bottom", fontsize=7, zorder=7)


def _color(taxonomy, code) -> str:
    if taxonomy is None or not code:
        return UNKNOWN_COLOR
    return taxonomy.color(code, default=UNKNOWN_COLOR)
