"""The overlay core on a large, jagged feature: the case that crashed two threads sharing one
prepared geometry, and that the bounding-box clip makes five times faster."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from kgspatial.engine import intersect_pairs
from kgspatial.parallel import aligned_slices
from kgspatial.prepare import POLYGON


@pytest.fixture(scope="module")
def jagged_and_cells():
    rng = np.random.default_rng(7)
    seeds = shapely.multipoints(rng.uniform(0, 10_000, (8_000, 2)))
    frame = shapely.box(0, 0, 10_000, 10_000)
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame)), frame)
    angle = np.linspace(0, 2 * np.pi, 20_000, endpoint=False)
    radius = 4_000 + 300 * np.sin(angle * 200)
    jagged = shapely.Polygon(np.c_[5_000 + radius * np.cos(angle), 5_000 + radius * np.sin(angle)])
    assert jagged.is_valid
    return jagged, cells


@pytest.mark.parametrize("jobs", [1, 2])
def test_one_big_feature_on_many_zones(jagged_and_cells, jobs, monkeypatch):
    # Small chunks, so that with two threads the feature's pairs would be shared between them
    # if chunks were cut blindly (GEOS then crashed building the prepared index twice at once).
    monkeypatch.setattr("kgspatial.parallel.CHUNK", 500)
    jagged, cells = jagged_and_cells
    left = np.array([jagged])
    shapely.prepare(left)
    li, ri = shapely.STRtree(cells).query(left)
    pieces = intersect_pairs(left, np.array([POLYGON], dtype=np.int8), cells, li, ri, jobs)
    # The pieces tile the feature: their areas add up to its own area (shapely's, by the shoelace formula).
    assert shapely.area(pieces.geoms).sum() == pytest.approx(jagged.area, rel=1e-9)
    # Each clipped piece equals the plain intersection with its zone.
    sample = np.arange(0, len(pieces.geoms), 97)
    plain = shapely.intersection(jagged, cells[pieces.right[sample]])
    assert shapely.area(pieces.geoms[sample]) == pytest.approx(shapely.area(plain), rel=1e-9, abs=1e-6)


def test_chunks_never_split_a_feature():
    keys = np.repeat(np.arange(5), [3, 10, 1, 7, 2])
    slices = aligned_slices(keys, chunk=4)
    assert slices[0].start == 0 and slices[-1].stop == len(keys)
    for s in slices:
        if s.stop < len(keys):
            assert keys[s.stop - 1] != keys[s.stop]
    assert sum(s.stop - s.start for s in slices) == len(keys)
