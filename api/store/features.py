"""Rows to GeoJSON features, with the masking of defence and security land (CONTRACT §5).

Both stores hand their rows to these functions, so a masked row looks the same whichever
store served it: geometry null, labels and source feature ids withheld, codes and areas kept.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping, shape

from kgspatial.masking import blank_out

# What a masked conflict row withholds besides its geometry (CONTRACT §5).
CONFLICT_WITHHELD = ("master_label", "master_feature")


def plain(value: Any) -> Any:
    """A JSON-ready Python value from whatever pandas/numpy/GDAL gave (NaN and NaT become null)."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "isoformat"):
        try:
            return value.isoformat()
        except ValueError:  # NaT
            return None
    if isinstance(value, bytes):
        return value.hex()
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def geometry_json(geom) -> dict | None:
    """GeoJSON geometry; outer rings counterclockwise and holes clockwise, as RFC 7946 §3.1.6 asks."""
    if geom is None or shapely.is_missing(geom) or geom.is_empty:
        return None
    return mapping(shapely.orient_polygons(geom, exterior_cw=False))


def conflict_feature(props: dict, geom, sensitive: bool, unmasked: bool) -> dict:
    props = {k: plain(v) for k, v in props.items()}
    masked = bool(sensitive) and not unmasked
    if masked:
        for key in CONFLICT_WITHHELD:
            if key in props:
                props[key] = None
    props["masked"] = masked
    return {
        "type": "Feature",
        "id": props.get("conflict_id"),
        "geometry": None if masked else geometry_json(geom),
        "properties": props,
    }


def layer_feature(fid: int, props: dict, geom, sensitive: bool, unmasked: bool, code_field: str | None) -> dict:
    """A layer feature; masked ones keep only their land-use code."""
    props = {k: plain(v) for k, v in props.items()}
    masked = bool(sensitive) and not unmasked
    if masked:
        props = {k: (v if k == code_field else None) for k, v in props.items()}
    props["masked"] = masked
    return {"type": "Feature", "id": int(fid), "geometry": None if masked else geometry_json(geom), "properties": props}


def withhold(features: list[dict], area) -> list[dict]:
    """Features with `area` (the withheld cells, EPSG:4326: api.render.served_withheld) cut out of
    their geometry, as the maps cut it, and `withheld` saying whether any geometry was kept back (a
    masked feature's all of it).  Nulling only the masked features would leave their exact outline in
    the neighbours' edges."""
    for feature in features:
        geom = feature["geometry"] and shape(feature["geometry"])
        cut = area is not None and geom is not None and area.intersects(geom) and not area.touches(geom)
        if cut:
            feature["geometry"] = geometry_json(blank_out(np.array([geom], dtype=object), area)[0])
        feature["properties"]["withheld"] = bool(cut or feature["properties"].get("masked"))
    return features


def query_region(bbox, area):
    """What a bbox query matches for a non-admin: the box without the withheld cells; matching the
    whole geometry would let small boxes probe, box by box, where edges run inside them."""
    if bbox is None or area is None:
        return bbox
    return shapely.box(*bbox).difference(area)


def json_safe(value: Any) -> Any:
    """Nested dicts/lists made strict-JSON (NaN and infinities become null), e.g. a summary."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return plain(value)
