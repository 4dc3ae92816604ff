"""Masking what defence and security land looks like on drawings (CONTRACT §5 masks its rows)."""

from __future__ import annotations

import numpy as np
import shapely

from .engine import keep_kind
from .prepare import kinds_of

WITHHELD_CELL = 500.0  # m: the grid defence and security land is widened to on a masked map
WITHHELD_TEXT = (
    "Vùng có đất quốc phòng, an ninh: không hiển thị (ô 500 m) / "
    "area holding defence or security land: withheld (500 m cells)"
)


def withheld_area(geoms: np.ndarray, cell: float = WITHHELD_CELL):
    """Defence and security land widened to the whole cells of a `cell`-metre grid it touches:
    what a masked map blanks out.  Leaving only that land out would leave its exact outline as a
    hole in the zones, plan features and pieces around it."""
    geoms = np.asarray(geoms, dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))] if len(geoms) else geoms
    if len(geoms) == 0:
        return None
    keys = []  # (column, row) of every cell under each feature's box
    for x0, y0, x1, y1 in np.floor(shapely.bounds(geoms) / cell):
        gx, gy = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1))
        keys.append(np.column_stack([gx.ravel(), gy.ravel()]))
    keys = np.unique(np.concatenate(keys), axis=0)
    cells = shapely.box(keys[:, 0] * cell, keys[:, 1] * cell, (keys[:, 0] + 1) * cell, (keys[:, 1] + 1) * cell)
    touched = np.unique(shapely.STRtree(cells).query(geoms, predicate="intersects")[1])
    return shapely.coverage_union_all(cells[touched])


def blank_out(geoms: np.ndarray, area) -> np.ndarray:
    """`geoms` with `area` taken out (None where nothing is left)."""
    out = np.asarray(geoms, dtype=object).copy()
    if area is None or len(out) == 0:
        return out
    present = ~(shapely.is_missing(out) | shapely.is_empty(out))
    hit = np.zeros(len(out), dtype=bool)
    hit[present] = shapely.intersects(out[present], area)
    if hit.any():
        # each result keeps its feature's dimension (a zone cut along a cell edge is no line)
        cut = keep_kind(shapely.difference(out[hit], area), kinds_of(out[hit]))
        cut[shapely.is_empty(cut)] = None  # wholly inside: nothing left to draw
        out[hit] = cut
    return out
