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


def test_big_feature_whose_edge_runs_along_the_zone_box():
    """A plan zone of 700 vertices whose top edge wobbles by one float step about the master
    zone's top (a plan reprojected back and forth): clip_by_rect alone turns it inside out and
    the whole 0.28 km² piece was lost (found by a reviewer on a real reprojection)."""
    top_y = 1_140_000.0
    xs = np.linspace(542_000.0, 546_000.0, 700)
    wobble = np.choose(np.arange(700) % 3, [np.nextafter(top_y, 2e6), np.nextafter(top_y, 0), top_y])
    plan = shapely.Polygon([(542_000.0, 1_137_700.0), (546_000.0, 1_137_700.0), *zip(xs[::-1], wobble[::-1])])
    zone = shapely.Polygon(
        [(543_955.71, 1_139_574.0), (544_687.11, 1_139_600.0), (544_600.0, top_y), (543_956.0, top_y)]
    )
    assert shapely.clip_by_rect(plan, *zone.bounds).area < 1  # the trap this guards against
    pieces = intersect_pairs(
        np.array([plan]), np.array([POLYGON], dtype=np.int8), np.array([zone]), np.array([0]), np.array([0]), 1
    )
    # the zone lies inside the plan: its own area, by the shoelace formula
    x, y = np.array(zone.exterior.coords).T
    by_hand = 0.5 * abs(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))
    assert len(pieces.geoms) == 1 and shapely.area(pieces.geoms[0]) == pytest.approx(by_hand, rel=1e-9)
