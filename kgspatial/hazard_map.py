"""The hazards' map layers (CONTRACT §8): each hazard's depth bands as a toggled, semi-transparent
image inlined in map.html (a PNG data URL: works offline), its legend, and the exposed pieces
with popups.  A layer builder beside maps.build_map, which calls `add_layers`; it presents the
screening's results and never recomputes them (the image is a picture of the raster, the pieces
and figures come from hazards.gpkg's rows).
"""

from __future__ import annotations

import html
import math

import numpy as np
import shapely

from . import crs as crs_mod

# Light to dark blue: deeper water reads darker on any basemap (ColorBrewer "Blues", 5 classes).
BAND_COLORS = ["#bdd7e7", "#6baed6", "#3182bd", "#08519c", "#08306b"]
NODATA_COLOR = (150, 150, 150)
MAX_PIXELS = 900  # the longer side of a hazard image: ~100 m a pixel over a province


def thresholds(config, hazard_id: str) -> list[float]:
    """The distinct min_depth values of a hazard's reporting rules, ascending: its bands."""
    return sorted({r.min_depth for r in config.rules if r.hazard_id == hazard_id and r.verdict != "compatible"})


def band_label(lower: float, upper: float | None) -> str:
    return f"> {lower:g} m" if upper is None else f"{lower:g} – {upper:g} m"


def _rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))


def band_image(raster, levels: list[float], view_3857, max_pixels: int = MAX_PIXELS):
    """RGBA pixels of the depth bands over `view_3857` (EPSG:3857 bounds, clipped to the raster),
    and their lat/lon bounds; None when the raster misses the view.  The raster is read once at
    a decimated size (GDAL's overviews or nearest neighbour), never whole at full resolution."""
    from rasterio.windows import Window

    from .hazards import read_values

    ds = raster.dataset
    to_3857 = crs_mod.transformer(raster.crs, "EPSG:3857")
    outline = shapely.segmentize(
        shapely.box(*ds.bounds), max(ds.bounds[2] - ds.bounds[0], ds.bounds[3] - ds.bounds[1]) / 32
    )
    ring = np.asarray(outline.exterior.coords)
    mx, my = to_3857.transform(ring[:, 0], ring[:, 1])
    x0, y0 = max(view_3857[0], min(mx)), max(view_3857[1], min(my))
    x1, y1 = min(view_3857[2], max(mx)), min(view_3857[3], max(my))
    if x1 <= x0 or y1 <= y0:
        return None
    scale = max(x1 - x0, y1 - y0) / max_pixels
    w, h = max(1, int(math.ceil((x1 - x0) / scale))), max(1, int(math.ceil((y1 - y0) / scale)))
    px = x0 + (np.arange(w) + 0.5) * (x1 - x0) / w
    py = y1 - (np.arange(h) + 0.5) * (y1 - y0) / h
    gx, gy = np.meshgrid(px, py)
    rx, ry = crs_mod.transformer("EPSG:3857", raster.crs).transform(gx.ravel(), gy.ravel())
    t = ds.transform
    cols, rows = (np.asarray(rx) - t.c) / t.a, (np.asarray(ry) - t.f) / t.e
    inside = (cols >= 0) & (cols < ds.width) & (rows >= 0) & (rows < ds.height)
    if not inside.any():
        return None
    c0, c1 = int(np.floor(cols[inside].min())), int(np.ceil(cols[inside].max())) + 1
    r0, r1 = int(np.floor(rows[inside].min())), int(np.ceil(rows[inside].max())) + 1
    c1, r1 = min(c1, ds.width), min(r1, ds.height)
    window = Window(c0, r0, c1 - c0, r1 - r0)
    step = max(1.0, max(window.width / (2 * w), window.height / (2 * h)))
    shape = (max(1, int(window.height / step)), max(1, int(window.width / step)))
    data = read_values(raster, window, out_shape=shape)  # the screening's reader: mask, scale and offset
    sc, sr = shape[1] / window.width, shape[0] / window.height
    ci = np.clip(((cols - c0) * sc).astype(int), 0, shape[1] - 1)
    ri = np.clip(((rows - r0) * sr).astype(int), 0, shape[0] - 1)
    values = data[ri, ci]
    missing = ~np.isfinite(values)
    depth = raster.layer.level - values if raster.layer.measure == "elevation" else values
    band = np.searchsorted(np.asarray(levels), np.nan_to_num(depth, nan=-1e9), side="left") - 1
    rgba = np.zeros((len(values), 4), dtype=np.uint8)
    for b in range(len(levels)):
        sel = inside & ~missing & (band == b)
        rgba[sel, :3] = _rgb(BAND_COLORS[min(b, len(BAND_COLORS) - 1)])
        rgba[sel, 3] = 255
    gap = inside & missing
    rgba[gap, :3], rgba[gap, 3] = NODATA_COLOR, 200
    to_ll = crs_mod.transformer("EPSG:3857", "EPSG:4326")
    lon0, lat0 = to_ll.transform(x0, y0)
    lon1, lat1 = to_ll.transform(x1, y1)
    return rgba.reshape(h, w, 4), [[lat0, lon0], [lat1, lon1]]


def _popup(row: dict, hazard: dict, plan_names) -> str:
    from .maps import _row, format_area, format_length

    lower = row.get("min_depth")
    band = "—" if lower is None or (isinstance(lower, float) and math.isnan(lower)) else f"> {lower:g} m"

    def depth(v):
        return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f} m"

    verdict = {
        "conflict": "Xung đột / Conflict",
        "conditional": "Có điều kiện / Conditional",
        "unknown": "Không có dữ liệu / No data (unknown)",
    }.get(row.get("verdict"), row.get("verdict"))
    size = (
        format_area(row["area_m2"])
        if row.get("kind") == "polygon"
        else format_length(row["length_m"])
        if row.get("kind") == "line"
        else "1 điểm / point"
    )
    rows = [
        _row("Quy hoạch / Plan", str(plan_names.get(row.get("plan_id"), row.get("plan_id")))),
        _row(
            "Đối tượng / Feature", f"{row.get('plan_feature')} · {row.get('plan_code')} {row.get('plan_label') or ''}"
        ),
        _row("Mức ngập / Depth band", band),
        _row("Đánh giá / Verdict", f"{verdict}" + (f" ({row['severity']})" if row.get("severity") else "")),
        _row("Quy tắc / Rule", f"{row.get('rule_id') or '—'} {row.get('reference') or ''}"),
        _row("Sâu nhất / Max depth", depth(row.get("max_depth"))),
        _row("Sâu trung bình / Mean depth", depth(row.get("mean_depth"))),
        _row("Phần ngập / Exposed", size),
        _row("Kịch bản / Scenario", hazard.get("scenario") or ""),
    ]
    if row.get("admin_name"):
        rows.append(_row("Xã, phường / Commune", str(row["admin_name"])))
    title = html.escape(f"{hazard.get('name_vi')} / {hazard.get('name_en')}")
    return f'<div class="kg-popup"><h4>{title}</h4><table>{"".join(rows)}</table></div>'


def add_layers(fmap, hazards, crs, view, layers: dict, counts: dict, plan_names=None) -> list[str]:
    """Add every hazard's band image, legend and exposed pieces to `fmap`; returns notes."""
    import folium

    from .hazards import open_raster
    from .maps import GeoJsonLayer, _Control, _to_wgs84, feature_collection

    plan_names = plan_names or {}
    config = hazards.config
    notes: list[str] = []
    legend = ["<details open><summary><b>Ngập / Flooding</b></summary>"]
    frame = hazards.findings
    if view is None:
        return notes
    corners = crs_mod.transform_geometries(
        np.array(
            [shapely.segmentize(shapely.box(*view), max(view[2] - view[0], view[3] - view[1], 1) / 16)], dtype=object
        ),
        crs,
        "EPSG:3857",
    )[0]
    x0, y0, x1, y1 = shapely.bounds(corners)
    pad = 0.5 * max(x1 - x0, y1 - y0, 4000)  # context around the plans when the user zooms out
    view_3857 = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    for n, info in enumerate(hazards.layers):
        hid = info["id"]
        levels = thresholds(config, hid)
        # HTML from here on: Leaflet's layer control shows layer names as HTML, and HAZARDS.yaml is
        # the user's text (a name "<img onerror=...>" ran in the map).
        name = html.escape(f"{info['name_vi']} / {info['name_en']}")
        try:
            raster = open_raster(config.layer(hid))
        except Exception as exc:  # noqa: BLE001  (the map is a view: the raster moved since the run)
            notes.append(f"{hid}: raster not drawn / không vẽ được raster: {' '.join(str(exc).split())}")
            raster = None
        if raster is not None and levels:
            try:
                drawn = band_image(raster, levels, view_3857)
            finally:
                raster.close()
            if drawn is not None:
                image, bounds = drawn
                overlay = folium.raster_layers.ImageOverlay(
                    image=image,
                    bounds=bounds,
                    opacity=0.55,
                    name=f"{name} – mức ngập / depth bands",
                    overlay=True,
                    show=n == 0,
                    interactive=False,
                    zindex=250,
                )
                overlay.add_to(fmap)
                layers[f"hazard:{hid}"] = overlay
                counts[f"hazard:{hid}"] = int(image.shape[0] * image.shape[1])
        sub = frame[frame["hazard_id"] == hid]
        sub = sub[~(sub.geometry.isna() | sub.geometry.is_empty)]
        if len(sub):
            records = sub.drop(columns=sub.geometry.name).to_dict("records")
            styles, props = {}, []
            for r in records:
                key = f"{r['verdict']}|{r.get('min_depth')}"
                if key not in styles:
                    if r["verdict"] == "unknown":
                        styles[key] = {
                            "color": "#616161",
                            "weight": 1.5,
                            "dashArray": "3 3",
                            "fillColor": "#9e9e9e",
                            "fillOpacity": 0.6,
                        }
                    else:
                        b = levels.index(r["min_depth"]) if r["min_depth"] in levels else 0
                        styles[key] = {
                            "color": "#d7191c" if r["verdict"] == "conflict" else "#fd8d3c",
                            "weight": 2,
                            "fillColor": BAND_COLORS[min(b, len(BAND_COLORS) - 1)],
                            "fillOpacity": 0.75,
                        }
                props.append(
                    {
                        "s": key,
                        "t": f"{hid} · {r['rule_id'] or 'unknown'} · {r['plan_feature']}",
                        "p": _popup(r, info, plan_names),
                    }
                )
            wgs = _to_wgs84(np.asarray(sub.geometry.values, dtype=object), crs)
            layer = GeoJsonLayer(
                feature_collection(wgs, props),
                styles,
                f"{name} – phần bị ngập / exposed ({len(sub)})",
                radius=6,
                show=n == 0,
                count=len(sub),
            )
            layer.add_to(fmap)
            layers[f"exposed:{hid}"] = layer
            counts[f"exposed:{hid}"] = len(sub)
        legend.append(f"<h4>{name}</h4>")
        for b, lower in enumerate(levels):
            upper = levels[b + 1] if b + 1 < len(levels) else None
            legend.append(
                f'<i style="background:{BAND_COLORS[min(b, len(BAND_COLORS) - 1)]}"></i>{band_label(lower, upper)}<br>'
            )
        legend.append(
            f'<i style="background:rgb{NODATA_COLOR}"></i>Không có dữ liệu <span class="en">/ no data (unknown)</span><br>'
        )
        if info.get("scenario"):
            said = "minh họa" in info["scenario"].lower() or "illustrative" in info["scenario"].lower()
            legend.append(
                f'<span class="en">{html.escape(info["scenario"])}'
                f"{' (minh họa / illustrative)' if info.get('illustrative') and not said else ''}</span><br>"
            )
    legend.append("</details>")
    _Control("".join(legend), "bottomright", "kg-legend kg-hazard-legend").add_to(fmap)
    return notes
