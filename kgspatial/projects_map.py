"""The projects' layer of the province map (CONTRACT §9): each project drawn by its siting, with
its status, schedule and reservation in a tooltip and popup. A layer builder, so maps.build_map
does not grow with each capability (ARCHITECTURE.md)."""

from __future__ import annotations

import html

import numpy as np

from .maps import GeoJsonLayer, _geom_kind, _to_wgs84, feature_collection
from .reports.projects import NAMES

COLORS = {
    "conflict": "#c62828",
    "conditional": "#ef6c00",
    "unreviewed": "#6a1b9a",
    "consistent": "#2e7d32",
    "outside_master": "#455a64",
}


def projects_layers(result, crs=None) -> list[GeoJsonLayer]:
    """[] when there are no projects; else one toggled overlay of every project."""
    if result is None or len(result.frame) == 0:
        return []
    frame = result.frame
    wgs = _to_wgs84(np.asarray(frame.geometry.values, dtype=object), crs or frame.crs)
    vi = NAMES["vi"]
    styles, props = {}, []
    for g, r in zip(wgs, result.rows):
        kind = _geom_kind(g)
        key = f"{r['siting']}|{kind}"
        color = COLORS[r["siting"]]
        styles.setdefault(
            key,
            {
                "color": color,
                "weight": 4 if kind == "l" else 2,
                "opacity": 0.95,
                "fillColor": color,
                "fillOpacity": 0.35 if kind == "a" else 0.9,
            },
        )
        reserved = ", ".join(r["reserved_in"]) or "chưa bố trí / not reserved"
        tip = (
            f"{r['name']} [{r['id']}] · {vi['siting'][r['siting']]} · {vi['status'][r['status']]} · "
            f"{vi['schedule'][r['schedule']]}"
        )
        rows = [
            ("Mã / id", r["id"]),
            ("Lĩnh vực / sector", r["sector"]),
            ("Giai đoạn / phase", r["phase"]),
            ("Tình trạng / status", vi["status"][r["status"]]),
            ("Vốn (tỷ đồng) / capital", "" if r["capital"] is None else f"{r['capital']:,.1f}"),
            ("Vị trí / siting", vi["siting"][r["siting"]]),
            ("Bố trí trong / reserved in", reserved),
            ("Tiến độ / schedule", vi["schedule"][r["schedule"]]),
        ]
        if r["hazard"] is not None:
            from .projects import hazard_text

            rows.append(("Rủi ro thiên tai / hazard", hazard_text(r["hazard"])))
        popup = (
            f"<b>{html.escape(r['name'])}</b><table>"
            + "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
            + "</table>"
        )
        props.append({"s": key, "t": tip, "p": popup})
    return [
        GeoJsonLayer(
            feature_collection(wgs, props),
            styles,
            f"Dự án trọng điểm / Priority projects ({len(props)})",
            radius=8,
            count=len(props),
        )
    ]
