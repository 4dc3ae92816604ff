"""Interactive conflict maps (Folium/Leaflet) that work with no internet.

A presenter: it draws what the check found and never recomputes it.  Master-plan zones are filled
in the taxonomy's map colours, plan features outlined, conflict pieces coloured by severity; every
popup is Vietnamese with English alongside.  Leaflet and its plugins are inlined from node_modules
(kgspatial.assets), so the file opens from a USB stick on an office intranet.  Large layers are
simplified for display (coverage-preserving for the master plan) and drawn on a canvas.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.map import Layer
from folium.template import Template

from . import assets, numfmt
from . import crs as crs_mod
from .engine import code_labels
from .masking import WITHHELD_TEXT
from .output import usual_mode
from .prepare import PreparedLayer
from .taxonomy import Taxonomy

# Conflicts in dark colours that no land use has (the taxonomy's are light: CQP red #FF5046, DGT
# orange, LUC/LUK yellow), hatched and heavily outlined, so a red defence zone cannot read as a
# conflict nor a low-severity piece vanish yellow on rice land. Every one is at least CIE76
# ΔE 35 from every colour of layers/taxonomy.csv (tests/test_maps.py measures it).
SEVERITY_COLORS = {"high": "#6a0033", "medium": "#8c2d04", "low": "#3f007d"}
# Hatch line spacing (px) by severity: denser reads as more urgent, in print and for colour-blind readers.
HATCH_SPACING = {"high": 5, "medium": 8, "low": 12}
SEVERITY_VI = {"high": "cao", "medium": "trung bình", "low": "thấp"}
VERDICT_VI = {"conflict": "Xung đột", "conditional": "Có điều kiện"}
UNKNOWN_COLOR = "#bdbdbd"
PLAN_COLOR = "#1f3a93"
COMMUNE_COLOR = "#555555"

# Above this many features (or vertices) in all layers the map draws on one <canvas> instead of
# SVG paths: measured (README "Maps: limits measured"), at 10 000 zones a zoom redraws in half the
# time on canvas, and a few huge SVG paths (dissolved layers) take tens of seconds.
CANVAS_THRESHOLD = 3000
# The legend opens only on screens at least this wide and tall (px); smaller, it starts folded.
LEGEND_OPEN_FROM = (1600, 1000)
CANVAS_VERTEX_THRESHOLD = 200_000
# Master zones (and plan features) drawn one by one up to this count; above it they are
# dissolved by code, which keeps the picture (colours are per code) and bounds the file size
# (measured: 50 000 zones drawn one by one = 13 MB, first paint 5 s).
DEFAULT_MAX_FEATURES = 60_000
# Vertices drawn on one map, every layer and the search index together.  Beyond it a layer is
# simplified further, and what simplification cannot bring down (100 000 tiny parts keep 5 points
# each) is drawn as the grid cells it touches; the map says so.  Figures never come from the
# drawing.  Measured (bench/render_budget.py): 850 000 vertices took 87 s to first paint.
MAX_VERTICES = 400_000
# A feature of more parts than this is drawn as grid cells whatever the budget: Leaflet redraws a
# feature's rings together, and one conflict piece of 50 000 squares (250 000 vertices) took 8–10 s
# to first paint and each zoom 7–17 s on a loaded machine, against under 1 s as cells.
MAX_PARTS = 5_000
# Coordinates rounded to 1e-6 degree (about 0.1 m): invisible on screen, a third of the bytes.
COORD_DECIMALS = 6
VW_FACTOR = 3.0


# --- formatting (Vietnamese conventions: 1.234,56) -----------------------------------------


def vn_number(value: float, decimals: int = 0) -> str:
    """1234.5 -> '1.234,5' (Vietnamese thousands '.' and decimal ',')."""
    return numfmt.vn(value, decimals)


def format_area(m2: float) -> str:
    """Hectares (what planners read) with square metres alongside."""
    return f"{numfmt.hectares(m2)} ({vn_number(m2, 0)} m²)"


def format_length(m: float) -> str:
    return f"{vn_number(m, 1)} m"


def zone_text(taxonomy: Taxonomy | None, code: str | None) -> str:
    """'LUA – Đất trồng lúa'; the raw code alone when the taxonomy does not know it."""
    if not code:
        return "(không mã / no code)"
    if taxonomy is not None and code in taxonomy:
        return f"{code} – {taxonomy.name(code)}"
    return f"{code} (mã ngoài danh mục / unknown code)"


def zone_color(taxonomy: Taxonomy | None, code: str | None) -> str:
    if taxonomy is None or not code:
        return UNKNOWN_COLOR
    return taxonomy.color(code, default=UNKNOWN_COLOR)


def conflict_style(verdict: str, severity: str, kind: str) -> dict:
    """Severity gives the colour (none a land use has) and, for areas, the hatching (an SVG
    pattern set by the class, see _HATCH); conditional findings are dashed; kind the shape.
    The canvas renderer of large maps has no patterns: areas there keep the heavy outline and a
    light fill of the same colour."""
    sev = severity if severity in SEVERITY_COLORS else "high"
    color = SEVERITY_COLORS.get(severity, "#000000")
    conditional = verdict != "conflict"
    classes = f"kg-conflict kg-{sev}" + (" kg-conditional" if conditional else "")
    style = {"color": color, "fillColor": color}
    if kind == "line":
        style.update(weight=6 if not conditional else 5, opacity=0.95, dashArray="10 6" if conditional else None)
    elif kind == "point":
        style.update(weight=2.5, opacity=1.0, fillOpacity=0.9 if not conditional else 0.5)
    else:
        classes += " kg-area"
        style.update(
            weight=3.5,
            opacity=1.0,
            fillOpacity=0.3 if not conditional else 0.2,
            dashArray="7 4" if conditional else None,
        )
    style["className"] = classes
    return {k: v for k, v in style.items() if v is not None}


def _hatch_svg() -> str:
    """<svg> patterns for conflict areas, and the CSS that fills them: diagonal lines of the
    severity's colour over transparency, so the land-use colour shows between them."""
    patterns, rules = [], []
    for sev, color in SEVERITY_COLORS.items():
        gap = HATCH_SPACING[sev]
        patterns.append(
            f'<pattern id="kg-hatch-{sev}" patternUnits="userSpaceOnUse" width="{gap}" height="{gap}" '
            f'patternTransform="rotate(45)"><rect width="{gap}" height="{gap}" fill="#ffffff" fill-opacity="0.25"/>'
            f'<line x1="0" y1="0" x2="0" y2="{gap}" stroke="{color}" stroke-width="2.2"/></pattern>'
        )
        rules.append(f"path.kg-conflict.kg-area.kg-{sev} {{ fill: url(#kg-hatch-{sev}); fill-opacity: 1; }}")
    rules.append("path.kg-conflict.kg-area.kg-conditional { fill-opacity: 0.6; }")
    return (
        '<svg aria-hidden="true" width="0" height="0" style="position:absolute"><defs>'
        + "".join(patterns)
        + "</defs></svg>\n<style>\n"
        + "\n".join(rules)
        + "\n</style>"
    )


def _swatch(sev: str, conditional: bool = False) -> str:
    """A legend swatch drawn as the map draws the area: hatched, heavy outline."""
    color, gap = SEVERITY_COLORS[sev], HATCH_SPACING[sev]
    border = "dashed" if conditional else "solid"
    return (
        f"<i style='background:repeating-linear-gradient(45deg,{color} 0 2px,transparent 2px {gap}px);"
        f"border:2px {border} {color}'></i>"
    )


def _row(label: str, value: str) -> str:
    return f"<tr><th>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>"


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def conflict_popup(row: Mapping[str, Any], taxonomy: Taxonomy | None, plan_names: Mapping[str, str]) -> str:
    """The popup of one conflict piece (HTML, every value escaped)."""
    verdict, severity, kind = _text(row.get("verdict")), _text(row.get("severity")), _text(row.get("kind"))
    plan_id = _text(row.get("plan_id"))
    plan = plan_names.get(plan_id) or plan_id
    plan_feature = _text(row.get("plan_feature"))
    if _text(row.get("plan_label")):
        plan_feature = f"{plan_feature} · {_text(row.get('plan_label'))}"
    master = zone_text(taxonomy, _text(row.get("master_code")))
    if _text(row.get("master_label")):
        master = f"{master} ({_text(row.get('master_label'))})"
    rule = _text(row.get("rule_id"))
    if _text(row.get("reference")):
        rule = f"{rule} — {_text(row.get('reference'))}"
    against = _text(row.get("against")) or "master"
    if against == "master":
        where = "Quy hoạch tỉnh / Master zone"
    else:  # CONTRACT §7: a row found against the plan's parent plan
        parent = plan_names.get(against) or against
        where = f"Quy hoạch cấp trên / Parent plan zone ({parent if parent == against else f'{parent} ({against})'})"
    rows = [
        _row("Quy hoạch / Plan", plan if plan == plan_id else f"{plan} ({plan_id})"),
        _row("Đối tượng / Plan feature", plan_feature),
        _row("Loại đất quy hoạch / Plan zone", zone_text(taxonomy, _text(row.get("plan_code")))),
        _row(where, master),
        _row("Quy tắc / Rule", rule),
        _row("Kết luận / Verdict", f"{VERDICT_VI.get(verdict, verdict)} ({verdict})"),
        _row("Mức độ / Severity", f"{SEVERITY_VI.get(severity, severity)} ({severity})"),
    ]
    if kind == "polygon":
        rows.append(_row("Diện tích / Area", format_area(float(row.get("area_m2") or 0.0))))
    elif kind == "line":
        rows.append(_row("Chiều dài / Length", format_length(float(row.get("length_m") or 0.0))))
    else:
        rows.append(_row("Vị trí / Location", "điểm / point"))
    if "admin_code" in row or "admin_name" in row:
        rows.append(_row("Xã, phường / Commune", _unit(row, "admin")))
    if "admin_prev_code" in row or "admin_prev_name" in row:
        rows.append(_row("Đơn vị trước 7/2025 / Unit before 7/2025", _unit(row, "admin_prev")))
    if _text(row.get("review")) == "excepted":  # CONTRACT §10
        rows.append(_row("Đã chấp thuận / Accepted by", _text(row.get("review_decision"))))
    rows.append(_row("Mã xung đột / Conflict id", _text(row.get("conflict_id"))))
    title = f"{VERDICT_VI.get(verdict, verdict)} – mức {SEVERITY_VI.get(severity, severity)}"
    return (
        f'<div class="kg-popup"><h4 style="color:{SEVERITY_COLORS.get(severity, "#333")}">{html.escape(title)}</h4>'
        f"<table>{''.join(rows)}</table></div>"
    )


def _unit(row: Mapping[str, Any], prefix: str) -> str:
    name, code = _text(row.get(f"{prefix}_name")), _text(row.get(f"{prefix}_code"))
    if not name and not code:
        return "(ngoài mọi đơn vị / outside every unit)"
    return f"{name} ({code})" if name and code else name or code


def conflict_tooltip(row: Mapping[str, Any]) -> str:
    kind = _text(row.get("kind"))
    size = (
        format_area(float(row.get("area_m2") or 0.0)).split(" (")[0]
        if kind == "polygon"
        else format_length(float(row.get("length_m") or 0.0))
        if kind == "line"
        else "điểm / point"
    )
    return f"{_text(row.get('rule_id'))} · {_text(row.get('plan_code'))} / {_text(row.get('master_code'))} · {size}"


# --- simplification ----------------------------------------------------------------------


def display_tolerance(bounds: Iterable[float], n_features: int = 0) -> float:
    """Simplification tolerance (m) for drawing a layer: its extent / 10 000 (6 m for a 60 km
    province, about a pixel three zoom levels in from the whole view, and within the drawing
    accuracy of a 1:50 000 planning map), more for very large layers, at least 0.5 m.  Figures
    never come from simplified shapes: popups carry the check's own areas and lengths."""
    x1, y1, x2, y2 = bounds
    extent = max(x2 - x1, y2 - y1, 0.0)
    tolerance = extent / 10_000
    if n_features > 10_000:
        tolerance *= (n_features / 10_000) ** 0.5
    return max(tolerance, 0.5)


def simplify_coverage(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    """Simplify a coverage without opening gaps or overlaps between neighbours (shared edges are
    simplified once); a layer that is not a valid coverage is simplified feature by feature."""
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0 or tolerance <= 0:
        return geoms
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    if polygonal.all() and shapely.coverage_is_valid(geoms):
        # coverage_simplify is Visvalingam–Whyatt: its tolerance is the side of a square of the
        # triangle area removed, not a distance.  3× the distance tolerance removes digitising
        # jitter of that size about as Douglas–Peucker would (bench/map_limits.py).
        return np.asarray(shapely.coverage_simplify(geoms, VW_FACTOR * tolerance, simplify_boundary=True), dtype=object)
    return simplify_features(geoms, tolerance)


def simplify_features(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    """Feature-by-feature simplification that never drops a feature (the original is kept instead)."""
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0 or tolerance <= 0:
        return geoms
    out = shapely.simplify(geoms, tolerance, preserve_topology=True)
    lost = shapely.is_empty(out) | shapely.is_missing(out)
    out[lost] = geoms[lost]
    return np.asarray(out, dtype=object)


def vertex_count(geoms) -> int:
    geoms = np.asarray(geoms, dtype=object)
    return int(shapely.get_num_coordinates(geoms).sum()) if len(geoms) else 0


def fair_share(budget: int, this: int, later: Iterable[int]) -> int:
    """This layer's part of `budget` when later layers need `later` vertices: each gets what it
    needs or an equal part of what is left, whichever is less (a small layer is never squeezed)."""
    needs = sorted([*later, this])
    left, n = budget, len(needs)
    for i, need in enumerate(needs):
        level = left // (n - i)
        if need > level:
            return min(this, level)
        left -= need
    return this


def within_budget(geoms: np.ndarray, budget: int, tolerance: float, simplify=None) -> tuple[np.ndarray, str]:
    """`geoms` drawn with at most `budget` vertices, and how (empty when unchanged): simplified at
    up to 64× the display tolerance, else each geometry as the grid cells it touches."""
    geoms = np.asarray(geoms, dtype=object)
    before = vertex_count(geoms)
    if before <= budget or not len(geoms):
        return geoms, ""
    simplify = simplify or simplify_features
    count, step = before, max(tolerance, 0.5)
    # Each ring keeps 4 vertices and its closing one whatever the tolerance (and simplifying 100 000
    # parts smaller than the tolerance takes minutes): go to cells when rings alone exceed the budget.
    parts = shapely.get_parts(geoms)
    polygons = parts[shapely.get_type_id(parts) == 3]
    rings = len(polygons) + int(shapely.get_num_interior_rings(polygons).sum())
    for _ in range(3 if 5 * rings <= budget else 0):
        step *= 4
        out = simplify(geoms, step)
        now = vertex_count(out)
        if now <= budget:
            return out, f"{before:,} → {now:,} vertices (simplified at {step:,.0f} m)"
        if now > 0.9 * count:  # tiny parts: simplifying cannot remove them
            break
        count = now
    out, size = to_cells(geoms, budget)
    return out, f"{before:,} → {vertex_count(out):,} vertices (as cells of {size:,.0f} m)"


def to_cells(geoms: np.ndarray, budget: int) -> tuple[np.ndarray, float]:
    """Each geometry as the union of the square grid cells it touches, the cells as small as the
    budget allows (a cell is 5 vertices at most): where the features are, not their shapes."""
    geoms = np.asarray(geoms, dtype=object)
    parts, owner = shapely.get_parts(geoms, return_index=True)
    x1, y1, x2, y2 = shapely.total_bounds(geoms)
    extent = max(x2 - x1, y2 - y1, 1.0)
    k = max(int((budget / 5) ** 0.5), 1)
    while True:
        size = extent / k
        nx, ny = int((x2 - x1) // size) + 1, int((y2 - y1) // size) + 1
        ix, iy = np.meshgrid(np.arange(nx), np.arange(ny))
        cells = shapely.box(
            x1 + ix.ravel() * size, y1 + iy.ravel() * size, x1 + (ix.ravel() + 1) * size, y1 + (iy.ravel() + 1) * size
        )
        hit_part, hit_cell = shapely.STRtree(cells).query(parts, predicate="intersects")
        pairs = np.unique(owner[hit_part].astype(np.int64) * len(cells) + hit_cell)
        if 5 * len(pairs) <= budget or k == 1:
            break
        k = max(min(k - 1, int(k * (budget / (5 * len(pairs))) ** 0.5)), 1)
    who, cell = np.divmod(pairs, len(cells))
    out = geoms.copy()
    starts = np.flatnonzero(np.r_[True, np.diff(who) != 0])
    for a, b in zip(starts, np.r_[starts[1:], len(who)]):
        out[who[a]] = shapely.coverage_union_all(cells[cell[a:b]])
    return out, size


def dissolve_by(geoms: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One geometry per key (coverage union when the pieces form a coverage); with feature counts."""
    keys = np.asarray([k if k is not None else "" for k in keys], dtype=object)
    out_geoms, out_keys, counts = [], [], []
    for key in sorted(set(keys.tolist())):
        part = geoms[keys == key]
        try:  # fast; on an imperfect coverage the result may be slightly invalid, harmless on screen
            merged = shapely.coverage_union_all(part)
        except shapely.errors.GEOSException:
            merged = shapely.union_all(part)
        out_geoms.append(merged)
        out_keys.append(key)
        counts.append(len(part))
    return np.asarray(out_geoms, dtype=object), np.asarray(out_keys, dtype=object), np.asarray(counts)


# --- GeoJSON for Leaflet -----------------------------------------------------------------


def _to_wgs84(geoms: np.ndarray, crs) -> np.ndarray:
    """Every reprojection goes through kgspatial.crs (pinned VN-2000 -> WGS 84 parameters)."""
    if len(geoms) == 0:
        return np.asarray(geoms, dtype=object)
    frame = gpd.GeoDataFrame(geometry=gpd.GeoSeries(list(geoms), crs=crs))
    out = crs_mod.to_crs(frame, "EPSG:4326")
    rounded = shapely.transform(np.asarray(out.geometry.values, dtype=object), lambda c: np.round(c, COORD_DECIMALS))
    return np.asarray(rounded, dtype=object)


def feature_collection(geoms: np.ndarray, properties: list[dict]) -> str:
    """A GeoJSON FeatureCollection as text, safe to embed in a <script> element."""
    texts = shapely.to_geojson(np.asarray(geoms, dtype=object)) if len(geoms) else []
    parts = [
        '{"type":"Feature","geometry":' + g + ',"properties":' + json.dumps(p, ensure_ascii=False) + "}"
        for g, p in zip(texts, properties)
    ]
    return ('{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}").replace("</", "<\\/")


class GeoJsonLayer(Layer):
    """A GeoJSON overlay whose styles and tooltips come from small lookup tables keyed by a
    property, so 50 000 zones do not repeat the same style 50 000 times (folium's style_function
    does).  Points become circle markers (no marker images needed offline)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }}_styles = {{ this.styles|tojson }};
        var {{ this.get_name() }}_tips = {{ this.tips|tojson }};
        var {{ this.get_name() }} = L.geoJSON({{ this.data|safe }}, {
            style: function (f) { return {{ this.get_name() }}_styles[f.properties.s] || {}; },
            pointToLayer: function (f, latlng) {
                return L.circleMarker(latlng, Object.assign({radius: {{ this.radius }}},
                                      {{ this.get_name() }}_styles[f.properties.s] || {}));
            },
            onEachFeature: function (f, layer) {
                var tip = f.properties.t || {{ this.get_name() }}_tips[f.properties.s];
                // Labels come from uploaded files: shown as text, never parsed as HTML.
                if (tip) { layer.bindTooltip(document.createTextNode(tip), {sticky: true}); }
                if (f.properties.p) { layer.bindPopup(f.properties.p, {maxWidth: 460}); }
            },
            interactive: {{ this.interactive|tojson }}
        });
        {% endmacro %}
    """)

    def __init__(
        self,
        data: str,
        styles: dict,
        name: str,
        *,
        tips: dict | None = None,
        radius: int = 7,
        interactive: bool = True,
        show: bool = True,
        count: int = 0,
    ):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "GeoJsonLayer"
        self.data, self.styles, self.tips = data, styles, tips or {}
        self.radius, self.interactive, self.count = radius, interactive, count


class _Control(MacroElement):
    """A Leaflet control holding static HTML (legend, title)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
        {{ this.get_name() }}.onAdd = function () {
            var div = L.DomUtil.create('div', {{ this.css_class|tojson }});
            div.innerHTML = {{ this.html|tojson }};
            {% if this.collapse_below %}
            // Folded on small screens (at 1400 x 900 the open legend hid a quarter of the plan).
            if (window.innerWidth < {{ this.collapse_below[0] }} || window.innerHeight < {{ this.collapse_below[1] }}) {
                div.querySelectorAll('details').forEach(function (d) { d.open = false; });
            }
            {% endif %}
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, html_text: str, position: str, css_class: str, collapse_below: tuple[int, int] | None = None):
        super().__init__()
        self.html, self.position, self.css_class = html_text, position, css_class
        self.collapse_below = collapse_below


class _Scale(MacroElement):
    """Metric scale bar only (folium's control_scale adds miles and feet too)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        L.control.scale({metric: true, imperial: false, maxWidth: 150}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)


class _Search(MacroElement):
    """leaflet-search over an index of communes, plans and named plan features; matching ignores
    Vietnamese tone marks ('vinh thanh' finds 'Vĩnh Thanh')."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        // leaflet-search adds its layer to the map: the index is drawn invisible and never catches clicks.
        var {{ this.get_name() }}_index = L.geoJSON({{ this.data|safe }}, {
            style: {opacity: 0, fillOpacity: 0, interactive: false}, interactive: false});
        var {{ this.get_name() }}_fold = function (s) {
            return s.normalize('NFD').replace(/[\\u0300-\\u036f]/g, '').replace(/[đĐ]/g, 'd').toLowerCase();
        };
        var {{ this.get_name() }} = new L.Control.Search({
            layer: {{ this.get_name() }}_index, propertyName: 'search', marker: false, initial: false,
            position: 'topleft', textPlaceholder: 'Tìm xã, quy hoạch… / Search', textErr: 'Không thấy / Not found',
            textCancel: 'Hủy / Cancel',
            buildTip: function (text) { var li = L.DomUtil.create('li', ''); li.textContent = text; return li; },
            filterData: function (text, records) {
                var q = {{ this.get_name() }}_fold(text), out = {};
                for (var key in records) { if ({{ this.get_name() }}_fold(key).indexOf(q) !== -1) { out[key] = records[key]; } }
                return out;
            },
            moveToLocation: function (latlng, title, map) {
                var b = latlng.layer && latlng.layer.getBounds ? latlng.layer.getBounds() : L.latLngBounds([latlng, latlng]);
                map.fitBounds(b.pad(0.15), {maxZoom: 18});
            }
        });
        {{ this.get_name() }}.on('search:locationfound', function (e) {
            var map = {{ this._parent.get_name() }};
            if (!e.layer || !e.layer.getBounds) { return; }
            var box = L.rectangle(e.layer.getBounds(), {color: '#00acc1', weight: 3, fill: false,
                                                        dashArray: '6 4', interactive: false}).addTo(map);
            setTimeout(function () { map.removeLayer(box); }, 4000);
        });
        {{ this._parent.get_name() }}.addControl({{ this.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, data: str):
        super().__init__()
        self.data = data


class _MiniMap(MacroElement):
    """Overview map: the office tile layer when one is set, else the master plan's outline."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        {% if this.tiles %}
        var {{ this.get_name() }}_layer = L.tileLayer({{ this.tiles|tojson }}, {attribution: {{ this.attribution|tojson }}});
        {% else %}
        var {{ this.get_name() }}_layer = L.geoJSON({{ this.outline|safe }}, {
            style: {color: '#666', weight: 1, fillColor: '#ccc', fillOpacity: 0.6}, interactive: false});
        {% endif %}
        var {{ this.get_name() }} = new L.Control.MiniMap({{ this.get_name() }}_layer, {
            position: 'bottomright', toggleDisplay: true, zoomLevelOffset: -4, width: 160, height: 160,
            strings: {hideText: 'Ẩn bản đồ nhỏ / Hide minimap', showText: 'Hiện bản đồ nhỏ / Show minimap'}});
        {{ this._parent.get_name() }}.addControl({{ this.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, outline: str, tiles: str | None, attribution: str):
        super().__init__()
        self.outline, self.tiles, self.attribution = outline, tiles, attribution


class _Registry(MacroElement):
    """window.kgspatial: the map and its layers by role, for tests and for users' own scripts."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        window.kgspatial = {
            map: {{ this._parent.get_name() }},
            layers: { {% for role, layer in this.layers.items() %}{{ role|tojson }}: {{ layer.get_name() }},{% endfor %} },
            counts: {{ this.counts|tojson }}
        };
        {% endmacro %}
    """)

    def __init__(self, layers: dict[str, Layer], counts: dict[str, int]):
        super().__init__()
        self.layers, self.counts = layers, counts


_CSS = """
<style>
.leaflet-container { background: #f3f1ea; font-family: "DejaVu Sans", Arial, sans-serif; }
.kg-legend, .kg-title { background: rgba(255,255,255,0.94); padding: 8px 10px; border-radius: 6px;
  box-shadow: 0 1px 4px rgba(0,0,0,0.35); font-size: 12px; line-height: 1.35; max-height: 55vh; overflow-y: auto;
  max-width: 330px; }
.kg-title { font-size: 14px; font-weight: bold; max-width: 46vw; }
.kg-title small { font-weight: normal; color: #555; }
.kg-legend summary { cursor: pointer; }
.kg-legend h4 { margin: 6px 0 3px; font-size: 12px; }
.kg-legend i { display: inline-block; width: 16px; height: 11px; margin-right: 6px; vertical-align: middle;
  border: 1px solid rgba(0,0,0,0.35); }
.kg-legend .en { color: #666; }
.kg-popup h4 { margin: 0 0 4px; font-size: 13px; }
.kg-popup table { border-collapse: collapse; font-size: 12px; }
.kg-popup th { text-align: left; padding: 1px 8px 1px 0; color: #444; font-weight: normal; white-space: nowrap; }
.kg-popup td { padding: 1px 0; font-weight: bold; }
</style>
"""


# --- building the map --------------------------------------------------------------------


def _tiles_setting(tiles: str | None, attribution: str | None) -> tuple[str | None, str]:
    tiles = tiles if tiles is not None else os.environ.get("KGSPATIAL_TILES") or None
    attribution = attribution or os.environ.get("KGSPATIAL_TILES_ATTRIBUTION") or "Bản đồ nền / Basemap"
    return (tiles.strip() or None) if tiles else None, attribution


def _sensitive(taxonomy: Taxonomy | None, codes: Iterable[Any]) -> np.ndarray:
    if taxonomy is None:
        return np.zeros(len(list(codes)), dtype=bool)
    sensitive = taxonomy.sensitive_codes
    return np.array([c in sensitive for c in codes], dtype=bool)


def _legend_html(
    title: str,
    master_codes: list[tuple[str, int]],
    taxonomy: Taxonomy | None,
    severities: list[str],
    has_conditional: bool,
    has_plans: bool,
    has_communes: bool,
    masked: int,
    notes: list[str],
    withheld: bool = False,
) -> str:
    # Open unless long: a long legend would hide the map (it opens with one click). On a small
    # screen it starts folded whatever its length (_Control.collapse_below).
    opened = " open" if len(master_codes) <= 8 else ""
    parts = [
        f"<details{opened}><summary><b>{html.escape(title)}</b> <span class='en'>(chú giải / legend)</span></summary>"
    ]
    if severities:
        parts.append("<h4>Xung đột theo mức độ <span class='en'>/ conflicts by severity</span></h4>")
        for sev in ("high", "medium", "low"):
            if sev in severities:
                parts.append(f"<div>{_swatch(sev)}Mức {SEVERITY_VI[sev]} <span class='en'>/ {sev}</span></div>")
        if has_conditional:
            parts.append(
                f"<div>{_swatch('medium', conditional=True)}Có điều kiện (nét đứt) "
                "<span class='en'>/ conditional (dashed)</span></div>"
            )
    if has_plans:
        parts.append(
            f"<div><i style='background:none;border:2px solid {PLAN_COLOR}'></i>Ranh đối tượng quy hoạch "
            "<span class='en'>/ plan features</span></div>"
        )
    if has_communes:
        parts.append(
            f"<div><i style='background:none;border:1px dashed {COMMUNE_COLOR}'></i>Ranh xã, phường "
            "<span class='en'>/ communes</span></div>"
        )
    if master_codes:
        parts.append("<h4>Quy hoạch tỉnh <span class='en'>/ master plan</span></h4>")
        for code, _count in master_codes:
            parts.append(
                f"<div><i style='background:{zone_color(taxonomy, code)}'></i>{html.escape(zone_text(taxonomy, code))}</div>"
            )
    if masked:
        parts.append(
            f"<div class='en'>{masked} mảnh không hiển thị (đất quốc phòng, an ninh) / "
            f"{masked} piece(s) not drawn (defence or security land)</div>"
        )
    if withheld:
        parts.append(f"<div><i style='background:#9e9e9e'></i>{WITHHELD_TEXT}</div>")
    # Notes stay visible with the legend folded: a reader must know what the drawing leaves out.
    notes_html = "".join(f"<div class='en kg-note'>{html.escape(note)}</div>" for note in notes)
    return "".join(parts) + "</details>" + notes_html


def build_map(
    master: PreparedLayer | None,
    taxonomy: Taxonomy | None,
    conflicts: gpd.GeoDataFrame,
    *,
    plans: Iterable[PreparedLayer] = (),
    plan_names: Mapping[str, str] | None = None,
    admin: Any = None,
    crs: Any = None,
    title: str | None = None,
    tiles: str | None = None,
    attribution: str | None = None,
    max_features: int = DEFAULT_MAX_FEATURES,
    clip_master: bool = True,
    mask_sensitive: bool = False,
    withheld: Any = None,
    max_vertices: int = MAX_VERTICES,
    extra_layers: Iterable[Layer] = (),
    hazards: Any = None,
) -> folium.Map:
    """The folium Map (with every asset inlined) for one check or a whole province.

    `conflicts` has the CONTRACT §2 columns in `crs` (default: its own CRS); `master`/`plans` are
    PreparedLayers in the same CRS; `admin` anything with geoms/codes/names arrays (AdminUnits).
    `clip_master` draws only the master zones around the plans and conflicts (per-plan maps).
    `withheld` (withheld_area, same CRS) is drawn as one grey area: what a masked map leaves out.
    `extra_layers`: overlays other capabilities build (the projects of a batch run), drawn last.
    At most `max_vertices` are drawn in all (see MAX_VERTICES).
    `hazards` (hazards.HazardResult): each hazard's depth bands and exposed pieces (hazard_map).
    """
    assets.check_assets()
    crs = crs or conflicts.crs
    if crs is None:
        raise ValueError("conflicts have no CRS: cannot place them on the map")
    plans = list(plans)
    plan_names = dict(plan_names or {})
    for plan in plans:
        plan_names.setdefault(plan.name, plan.name)

    frame = conflicts.copy()
    shown = ~(frame.geometry.isna() | frame.geometry.is_empty).to_numpy() if len(frame) else np.zeros(0, dtype=bool)
    if mask_sensitive and len(frame):
        shown &= ~(_sensitive(taxonomy, frame["plan_code"]) | _sensitive(taxonomy, frame["master_code"]))
    masked = int((~shown).sum())
    hidden = frame.loc[~shown, "verdict"].value_counts().to_dict() if masked else {}
    frame = frame.loc[shown]

    # The view: plans and conflicts (per-plan map) or the whole master plan (province map).
    extent_geoms = [np.asarray(frame.geometry.values, dtype=object)] + [p.geoms for p in plans]
    extent_geoms = (
        np.concatenate([g for g in extent_geoms if len(g)])
        if any(len(g) for g in extent_geoms)
        else np.zeros(0, dtype=object)
    )
    if master is not None and len(master) and (not clip_master or len(extent_geoms) == 0):
        view = shapely.total_bounds(master.geoms)
    elif len(extent_geoms):
        view = shapely.total_bounds(extent_geoms)
    else:
        view = None
    notes: list[str] = []
    layers: dict[str, Layer] = {}
    counts: dict[str, int] = {}
    drawn_total = drawn_vertices = 0
    # The vertex budget, shared fairly in drawing order; a tenth is kept for the search index, the
    # minimap and the withheld area.
    master_idx = (
        _around(master.geoms, view, clip_master) if master is not None and len(master) and view is not None else []
    )
    admin_idx = _around(admin.geoms, view, clip_master) if admin is not None and len(admin.geoms) else []
    needs = {
        "master": vertex_count(master.geoms[master_idx]) if len(master_idx) else 0,
        "communes": vertex_count(np.asarray(admin.geoms, dtype=object)[admin_idx]) if len(admin_idx) else 0,
        **{f"plan {i}": vertex_count(p.geoms) for i, p in enumerate(plans)},
        "conflicts": vertex_count(frame.geometry.values),
    }
    budget_left = max_vertices - max_vertices // 10

    def fit(role: str, geoms: np.ndarray, tolerance: float, what: str, simplify=None) -> np.ndarray:
        """The layer within its share of the budget, with a note on the map when it was reduced."""
        nonlocal budget_left, drawn_vertices
        needs.pop(role, None)
        hows = []
        many = shapely.get_num_geometries(geoms) > MAX_PARTS
        if many.any():
            geoms = geoms.copy()
            geoms[many], size = to_cells(geoms[many], 5 * MAX_PARTS * int(many.sum()))
            hows.append(f"{int(many.sum())} feature(s) of over {MAX_PARTS:,} parts as cells of {size:,.0f} m")
        share = fair_share(budget_left, vertex_count(geoms), needs.values())
        out, how = within_budget(geoms, share, tolerance, simplify)
        budget_left -= vertex_count(out)
        drawn_vertices += vertex_count(out)
        if how or hows:
            notes.append(
                f"{what}: giản lược để hiển thị / simplified for display, {'; '.join(hows + [how] if how else hows)}; "
                "diện tích, chiều dài từ hình học gốc / areas and lengths from the exact geometry"
            )
        return out

    # Master plan zones.
    master_layer = outline_geoms = None
    master_codes: list[tuple[str, int]] = []
    if master is not None and len(master) and view is not None:
        geoms, codes, labels, ids = master.geoms, code_labels(master), master.labels, master.feature_ids
        idx = master_idx
        geoms, codes, labels, ids = geoms[idx], codes[idx], labels[idx], ids[idx]
        if mask_sensitive:
            keep = ~_sensitive(taxonomy, codes)
            geoms, codes, labels, ids = geoms[keep], codes[keep], labels[keep], ids[keep]
        tolerance = display_tolerance(shapely.total_bounds(geoms) if len(geoms) else view, len(geoms))
        simplified = simplify_coverage(geoms, tolerance)
        dissolved = len(geoms) > max_features
        if dissolved:
            simplified, codes, feature_counts = dissolve_by(simplified, codes)
            notes.append(
                f"Quy hoạch tỉnh: {vn_number(len(geoms))} vùng gộp theo mã để hiển thị / "
                f"{numfmt.en(len(geoms))} master zones dissolved by code for display"
            )
            props = [
                {"s": c, "t": f"{zone_text(taxonomy, c)} · {vn_number(n)} vùng / zones"}
                for c, n in zip(codes, feature_counts)
            ]
        else:
            props = [
                {"s": c, **({"t": f"{zone_text(taxonomy, c)} · {lab}"} if lab else {})} for c, lab in zip(codes, labels)
            ]
        simplified = fit(
            "master",
            simplified,
            tolerance,
            "Quy hoạch tỉnh / Master plan",
            simplify_features if dissolved else simplify_coverage,
        )
        distinct = sorted({str(c) for c in codes})
        styles = {
            c: {
                "color": "#6b6b6b",
                "weight": 0.5,
                "opacity": 0.8,
                "fillColor": zone_color(taxonomy, c),
                "fillOpacity": 0.7,
            }
            for c in distinct
        }
        tips = {c: zone_text(taxonomy, c) for c in distinct}
        wgs = _to_wgs84(simplified, crs)
        master_layer = GeoJsonLayer(
            feature_collection(wgs, props), styles, "Quy hoạch tỉnh / Master plan", tips=tips, count=len(wgs)
        )
        layers["master"] = master_layer
        counts["master"] = len(wgs)
        drawn_total += len(wgs)
        code_counts = pd.Series(codes).value_counts()
        master_codes = sorted(((str(c), int(n)) for c, n in code_counts.items()), key=lambda cn: cn[0])
        outline_geoms = _outline(simplified, crs)

    # Communes.
    commune_layer = None
    search_geoms: list = []
    search_props: list[dict] = []
    if admin is not None and len(admin.geoms):
        geoms = np.asarray(admin.geoms, dtype=object)
        idx = admin_idx
        tolerance = display_tolerance(shapely.total_bounds(geoms[idx]) if len(idx) else (0, 0, 0, 0), len(idx))
        geoms = fit(
            "communes", simplify_coverage(geoms[idx], tolerance), tolerance, "Xã, phường / Communes", simplify_coverage
        )
        names = [f"{_text(admin.names[i]) or _text(admin.codes[i])}" for i in idx]
        wgs = _to_wgs84(geoms, crs)
        props = [{"s": "c", "t": f"{n} ({_text(admin.codes[i])})"} for n, i in zip(names, idx)]
        commune_layer = GeoJsonLayer(
            feature_collection(wgs, props),
            {"c": {"color": COMMUNE_COLOR, "weight": 1.2, "dashArray": "4 3", "fill": False, "opacity": 0.9}},
            "Xã, phường / Communes",
            interactive=False,
            count=len(wgs),
        )
        layers["communes"] = commune_layer
        counts["communes"] = len(wgs)
        drawn_total += len(wgs)
        search_geoms += list(wgs)
        search_props += [{"search": f"Xã/phường: {n}"} for n in names]

    # Plan features, outlined.
    plan_layer = None
    if plans:
        all_geoms, all_props = [], []
        for i, plan in enumerate(plans):
            codes = code_labels(plan)
            keep = ~_sensitive(taxonomy, codes) if mask_sensitive else np.ones(len(plan), dtype=bool)
            geoms = plan.geoms[keep]
            codes, labels, ids = codes[keep], plan.labels[keep], plan.feature_ids[keep]
            name = plan_names.get(plan.name, plan.name)
            if len(geoms) > max_features:
                geoms = simplify_features(geoms, display_tolerance(shapely.total_bounds(geoms), len(geoms)))
                geoms, codes, n = dissolve_by(geoms, codes)
                labels = np.array([f"{vn_number(k)} đối tượng / features" for k in n], dtype=object)
                ids = np.full(len(geoms), "", dtype=object)
            elif len(geoms):
                geoms = simplify_features(geoms, display_tolerance(shapely.total_bounds(geoms), len(geoms)) / 2)
            if len(geoms):
                geoms = fit(f"plan {i}", geoms, display_tolerance(shapely.total_bounds(geoms)) / 2, name)
            wgs = _to_wgs84(geoms, crs)
            for g, c, lab, fid in zip(wgs, codes, labels, ids):
                tip = f"{name} · {zone_text(taxonomy, c)}" + (f" · {lab}" if lab else "") + (f" [{fid}]" if fid else "")
                all_geoms.append(g)
                all_props.append({"s": _geom_kind(g), "t": tip})
            if len(wgs):
                # The index holds boxes, not shapes: the search only needs where to zoom.
                search_geoms.append(shapely.box(*shapely.total_bounds(wgs)))
                search_props.append({"search": f"Quy hoạch: {name}"})
                named = [(g, lab, fid) for g, lab, fid in zip(wgs, labels, ids) if lab][: min(5000, max_vertices // 80)]
                for g, lab, fid in named:
                    # Padded bounds, not a buffer: buffering a 100 000-part feature unions every part.
                    x1, y1, x2, y2 = shapely.bounds(g)
                    search_geoms.append(shapely.box(x1 - 0.0003, y1 - 0.0003, x2 + 0.0003, y2 + 0.0003))
                    search_props.append({"search": f"{lab} [{fid}] – {name}" if fid else f"{lab} – {name}"})
        styles = {
            "a": {"color": PLAN_COLOR, "weight": 1.8, "opacity": 0.9, "fill": True, "fillOpacity": 0.0},
            "l": {"color": PLAN_COLOR, "weight": 2, "opacity": 0.8},
            "p": {"color": PLAN_COLOR, "weight": 2, "fillColor": "#ffffff", "fillOpacity": 0.8},
        }
        plan_layer = GeoJsonLayer(
            feature_collection(np.asarray(all_geoms, dtype=object), all_props),
            styles,
            "Đối tượng quy hoạch / Plan features",
            radius=5,
            count=len(all_geoms),
        )
        layers["plans"] = plan_layer
        counts["plans"] = len(all_geoms)
        drawn_total += len(all_geoms)

    # Conflict pieces: one layer for conflicts, one for conditional findings.
    conflict_layers = []
    records = frame.drop(columns=frame.geometry.name).to_dict("records") if len(frame) else []
    pieces = np.asarray(frame.geometry.values, dtype=object)
    if len(frame):
        pieces = fit(
            "conflicts", pieces, display_tolerance(shapely.total_bounds(pieces)) / 2, "Mảnh xung đột / Conflict pieces"
        )
    wgs = _to_wgs84(pieces, crs) if len(frame) else np.zeros(0, dtype=object)
    for verdict, layer_name, role in (
        ("conditional", "Có điều kiện / Conditional", "conditional"),
        ("conflict", "Xung đột / Conflicts", "conflicts"),
    ):
        chosen = [i for i, r in enumerate(records) if r.get("verdict") == verdict]
        if verdict == "conflict":
            chosen += [i for i, r in enumerate(records) if r.get("verdict") not in ("conflict", "conditional")]
        styles, props = {}, []
        for i in chosen:
            r = records[i]
            key = f"{r.get('severity')}|{r.get('kind')}"
            styles.setdefault(key, conflict_style(str(r.get("verdict")), str(r.get("severity")), str(r.get("kind"))))
            props.append({"s": key, "t": conflict_tooltip(r), "p": conflict_popup(r, taxonomy, plan_names)})
        not_drawn = sum(n for v, n in hidden.items() if v == verdict or (verdict == "conflict" and v != "conditional"))
        label = f"{layer_name} ({len(chosen)}" + (f" + {not_drawn} không hiển thị / not drawn)" if not_drawn else ")")
        layer = GeoJsonLayer(feature_collection(wgs[chosen], props), styles, label, radius=7, count=len(chosen))
        conflict_layers.append(layer)
        layers[role] = layer
        counts[role] = len(chosen)
        drawn_total += len(chosen)
    for col in ("admin_name", "admin_prev_name"):
        if col in frame.columns and len(frame):
            for unit, sub in frame.groupby(col):
                if unit:
                    bounds = shapely.total_bounds(wgs[np.flatnonzero((frame[col] == unit).to_numpy())])
                    label = "Xã/phường" if col == "admin_name" else "Đơn vị trước 7/2025"
                    search_geoms.append(shapely.box(*bounds))
                    search_props.append({"search": f"{label}: {unit} – {len(sub)} mảnh xung đột / pieces"})

    withheld_layer = None
    if withheld is not None and not shapely.is_empty(withheld):
        drawn_vertices += vertex_count(search_geoms) + vertex_count(outline_geoms if outline_geoms is not None else [])
        withheld, how = within_budget(np.array([withheld], dtype=object), max(max_vertices - drawn_vertices, 5), 0.5)
        drawn_vertices += vertex_count(withheld)
        if how:
            notes.append(f"Không hiển thị / Withheld: {how}")
        wgs = _to_wgs84(withheld, crs)
        withheld_layer = GeoJsonLayer(
            feature_collection(wgs, [{"s": "w", "t": WITHHELD_TEXT}]),
            {"w": {"color": "#555555", "weight": 0.5, "fillColor": "#9e9e9e", "fillOpacity": 0.85}},
            "Không hiển thị / Withheld",
            count=1,
        )
        layers["withheld"] = withheld_layer
        counts["withheld"] = 1

    # The map itself.
    tiles, attribution = _tiles_setting(tiles, attribution)
    fmap = folium.Map(
        location=[10.0, 105.1],
        zoom_start=9,
        tiles=None,
        control_scale=False,
        prefer_canvas=drawn_total > CANVAS_THRESHOLD or drawn_vertices > CANVAS_VERTEX_THRESHOLD,
        max_zoom=20,
    )
    fmap.default_js, fmap.default_css = [], []  # Leaflet comes inlined from node_modules instead
    root = fmap.get_root()
    root.header.add_child(Element(assets.inline_head()), name="kgspatial_assets")
    root.header.add_child(Element(_CSS), name="kgspatial_css")
    root.html.add_child(Element(_hatch_svg()), name="kgspatial_hatch")
    title = title or "Bản đồ xung đột quy hoạch / Planning conflict map"
    root.title = html.escape(title)  # folium writes it into <title> as it is
    if tiles:
        folium.TileLayer(
            tiles, attr=html.escape(attribution), name="Bản đồ nền / Basemap", overlay=False, control=False, max_zoom=20
        ).add_to(fmap)
    for layer in (master_layer, withheld_layer, commune_layer, plan_layer, *conflict_layers, *extra_layers):
        if layer is not None:
            layer.add_to(fmap)
    if view is not None:
        corners = _to_wgs84(np.array([shapely.box(*view)], dtype=object), crs)[0]
        x1, y1, x2, y2 = shapely.bounds(corners)
        fmap.fit_bounds([[y1, x1], [y2, x2]])
    if hazards is not None:
        from .hazard_map import add_layers

        notes += add_layers(fmap, hazards, crs, view, layers, counts, plan_names)

    folium.LayerControl(position="topright", collapsed=False).add_to(fmap)
    fullscreen = folium.plugins.Fullscreen(
        position="topleft", title="Toàn màn hình / Full screen", title_cancel="Thoát toàn màn hình / Exit full screen"
    )
    measure = folium.plugins.MeasureControl(
        position="topleft",
        primary_length_unit="meters",
        secondary_length_unit="kilometers",
        primary_area_unit="hectares",
        secondary_area_unit="sqmeters",
    )
    for control in (fullscreen, measure):
        control.default_js, control.default_css = [], []
        control.add_to(fmap)
    if search_geoms:
        _Search(feature_collection(np.asarray(search_geoms, dtype=object), search_props)).add_to(fmap)
    if outline_geoms is None:
        outline_geoms = _to_wgs84(np.array([shapely.box(*view)] if view is not None else [], dtype=object), crs)
    _MiniMap(feature_collection(outline_geoms, [{}] * len(outline_geoms)), tiles, attribution).add_to(fmap)
    severities = sorted({str(s) for s in frame["severity"]}) if len(frame) else []
    has_conditional = bool(len(frame)) and bool((frame["verdict"] == "conditional").any())
    _Control(
        _legend_html(
            title,
            master_codes,
            taxonomy,
            severities,
            has_conditional,
            bool(plans),
            commune_layer is not None,
            masked,
            notes,
            withheld_layer is not None,
        ),
        "bottomleft",
        "kg-legend",
        collapse_below=LEGEND_OPEN_FROM,
    ).add_to(fmap)
    _Scale().add_to(fmap)
    _Registry(layers, counts).add_to(fmap)
    return fmap


def _around(geoms: np.ndarray, view, clip: bool) -> np.ndarray:
    """Indices of the features near the view (a quarter of its size around it), or all."""
    if view is None or not clip:
        return np.arange(len(geoms))
    pad = max(0.25 * max(view[2] - view[0], view[3] - view[1]), 500.0)
    return np.sort(
        shapely.STRtree(geoms).query(shapely.box(view[0] - pad, view[1] - pad, view[2] + pad, view[3] + pad))
    )


def _geom_kind(geom) -> str:
    type_id = int(shapely.get_type_id(geom))
    return "p" if type_id in (0, 4) else "l" if type_id in (1, 2, 5) else "a"


def _outline(polygons: np.ndarray, crs) -> np.ndarray:
    """The master plan's rough outline (WGS 84) for the minimap when no tiles are set.  The
    coverage union is fast (no overlay); on an imperfect coverage it is only approximate, which
    is all a 160-pixel overview needs."""
    polygons = np.asarray(polygons, dtype=object)
    if len(polygons) == 0:
        return polygons
    x1, y1, x2, y2 = shapely.total_bounds(polygons)
    tolerance = max(x2 - x1, y2 - y1) / 300
    try:
        merged = shapely.coverage_union_all(polygons)
    except shapely.errors.GEOSException:
        merged = shapely.box(x1, y1, x2, y2)
    merged = shapely.simplify(merged, tolerance)
    if merged.is_empty:
        merged = shapely.box(x1, y1, x2, y2)
    return _to_wgs84(np.array([merged], dtype=object), crs)


def render_html(fmap: folium.Map) -> str:
    """The complete, self-contained page; refuses anything that would fetch from the network."""
    page = fmap.get_root().render()
    assets.assert_offline(page)
    return page


def _write(page: str, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".map-", suffix=".html", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        usual_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def map_for_result(
    result,
    *,
    tiles: str | None = None,
    attribution: str | None = None,
    max_features: int = DEFAULT_MAX_FEATURES,
    admin: Any = None,
    plan_names: Mapping[str, str] | None = None,
    mask_sensitive: bool = False,
    title: str | None = None,
) -> folium.Map:
    """The folium Map of one CheckResult (the notebook shows it inline)."""
    admin = admin if admin is not None else getattr(result, "admin", None)
    names = dict(plan_names or {})
    if title is None:
        ids = [p.name for p in result.plans] or sorted({str(v) for v in result.conflicts.get("plan_id", [])})
        shown = ", ".join(names.get(i, i) for i in ids[:3]) + ("…" if len(ids) > 3 else "")
        title = f"Xung đột quy hoạch / Planning conflicts: {shown}"
    return build_map(
        result.master,
        result.taxonomy,
        result.conflicts,
        plans=result.plans,
        plan_names=names,
        admin=admin,
        title=title,
        tiles=tiles,
        attribution=attribution,
        max_features=max_features,
        clip_master=True,
        mask_sensitive=mask_sensitive,
        withheld=getattr(result, "withheld", None),
        hazards=getattr(result, "hazards", None),
    )


def write_map(
    result,
    path: str | Path,
    *,
    tiles: str | None = None,
    attribution: str | None = None,
    max_features: int = DEFAULT_MAX_FEATURES,
    admin: Any = None,
    plan_names: Mapping[str, str] | None = None,
    mask_sensitive: bool = False,
    title: str | None = None,
) -> Path:
    """map.html for one check (`kgspatial check --map`): master zones around the plan, the plan's
    features and every conflict piece, all assets inlined.  tiles: a {z}/{x}/{y} URL template
    (default $KGSPATIAL_TILES, else no basemap)."""
    fmap = map_for_result(
        result,
        tiles=tiles,
        attribution=attribution,
        max_features=max_features,
        admin=admin,
        plan_names=plan_names,
        mask_sensitive=mask_sensitive,
        title=title,
    )
    return _write(render_html(fmap), path)


def write_province_map(
    master: PreparedLayer,
    taxonomy: Taxonomy,
    conflicts: gpd.GeoDataFrame,
    path: str | Path,
    *,
    plan_names: Mapping[str, str] | None = None,
    plans: Iterable[PreparedLayer] = (),
    admin: Any = None,
    crs: Any = None,
    tiles: str | None = None,
    attribution: str | None = None,
    max_features: int = DEFAULT_MAX_FEATURES,
    mask_sensitive: bool = False,
    title: str | None = None,
    extra_layers: Iterable[Layer] = (),
    hazards: Any = None,
) -> Path:
    """The batch's province overview: the whole master plan and the conflicts of every plan
    (`conflicts` holds all plans' rows, told apart by plan_id; plan_names maps id -> name)."""
    title = title or "Xung đột quy hoạch toàn tỉnh / Province planning conflicts"
    fmap = build_map(
        master,
        taxonomy,
        conflicts,
        plans=plans,
        plan_names=plan_names,
        admin=admin,
        crs=crs,
        title=title,
        tiles=tiles,
        attribution=attribution,
        max_features=max_features,
        clip_master=False,
        mask_sensitive=mask_sensitive,
        extra_layers=extra_layers,
        hazards=hazards,
    )
    return _write(render_html(fmap), path)


def write_hazard_map(run, path: str | Path, *, tiles: str | None = None, attribution: str | None = None) -> Path:
    """map.html of `kgspatial hazards --map`: the plans, communes and every hazard's layers."""
    from .check import ADMIN_COLUMNS, CONFLICT_COLUMNS

    crs = run.result.findings.crs
    none = gpd.GeoDataFrame(
        {c: pd.Series([], dtype=object) for c in CONFLICT_COLUMNS + ADMIN_COLUMNS}, geometry=gpd.GeoSeries([], crs=crs)
    )
    ids = [p.name for p in run.plans]
    title = "Sàng lọc ngập / Hazard screening: " + ", ".join(ids[:3]) + ("…" if len(ids) > 3 else "")
    fmap = build_map(
        None,
        run.taxonomy,
        none,
        plans=run.plans,
        admin=run.admin,
        crs=crs,
        title=title,
        tiles=tiles,
        attribution=attribution,
        clip_master=True,
        hazards=run.result,
    )
    return _write(render_html(fmap), path)
