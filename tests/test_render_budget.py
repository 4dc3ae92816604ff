"""Bounded rendering: a plan of one MultiPolygon with 100 000 parts is drawn within the vertex budget.

Hand values (scene below): 100 000 squares of 30 m at a 100 m pitch, 250 columns × 400 rows, on a
master plan cut at x = 12 515 m: LUC on the left, ODT on the right.  Under the test rules ODT on
LUC is a conflict (R01) and ODT on ODT is the same code.  On LUC lie columns 0–124 whole
(125 × 400 × 900 m² = 45 000 000 m²) and the left 15 m of column 125 (400 × 15 × 30 = 180 000 m²):
45 180 000 m² = 4 518 ha in one piece.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from kgspatial import maps
from kgspatial.cli import main
from tests import geoms

CONFLICT_M2 = 125 * 400 * 900 + 400 * 15 * 30  # 45 180 000


def many_parts_plan(path: Path, cols: int = 250, rows: int = 400) -> Path:
    """The plan: one ODT feature, a MultiPolygon of cols × rows squares (the issue's 100 000 parts)."""
    i = np.arange(cols * rows)
    x, y = geoms.X0 + (i % cols) * 100.0, geoms.Y0 + (i // cols) * 100.0
    parts = shapely.box(x, y, x + 30.0, y + 30.0)
    gpd.GeoDataFrame(
        {"ma": ["ODT"], "ten": ["Khu dân cư phân tán"]}, geometry=[shapely.MultiPolygon(list(parts))], crs=geoms.CRS
    ).to_file(path)
    return path


def split_master(path: Path) -> Path:
    gpd.GeoDataFrame(
        {"MA_QH": ["LUC", "ODT"]},
        geometry=[geoms.box(-100, -100, 12_515, 40_100), geoms.box(12_515, -100, 25_100, 40_100)],
        crs=geoms.CRS,
    ).to_file(path)
    return path


def drawn(page: str) -> tuple[int, list[dict]]:
    """Vertices of every GeoJSON collection embedded in the page (all layers, search index,
    minimap), counted by shapely from the page's own text; and the features."""
    decoder, total, features = json.JSONDecoder(), 0, []
    for m in re.finditer(r'\{"type":"FeatureCollection"', page):
        collection, _ = decoder.raw_decode(page, m.start())
        for f in collection["features"]:
            if f["geometry"]:
                total += int(shapely.get_num_coordinates(shapely.from_geojson(json.dumps(f["geometry"]))))
            features.append(f)
    return total, features


def assert_bounded(page: str) -> None:
    """Within the budget, the note on the map, and the exact area in the conflict's popup."""
    vertices, features = drawn(page)
    assert vertices <= maps.MAX_VERTICES
    # No feature keeps so many parts that Leaflet takes seconds to redraw it (the piece has 50 400).
    parts = [
        shapely.get_num_geometries(shapely.from_geojson(json.dumps(f["geometry"]))) for f in features if f["geometry"]
    ]
    assert max(parts) <= maps.MAX_PARTS
    assert "simplified for display" in page and "areas and lengths from the exact geometry" in page
    popups = [f["properties"]["p"] for f in features if "p" in f["properties"]]
    assert len(popups) == 1 and maps.format_area(CONFLICT_M2) in popups[0]
    assert maps.format_area(CONFLICT_M2) == "4.518,00 ha (45.180.000 m²)"


def test_cli_check_map_of_100k_parts_is_bounded(tmp_path):
    plan = many_parts_plan(tmp_path / "phan_tan.gpkg")
    master = split_master(tmp_path / "master.gpkg")
    (tmp_path / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    out = tmp_path / "out"
    argv = [
        "check",
        "--master",
        str(master),
        "--plan",
        str(plan),
        "--rules",
        str(tmp_path / "rules.csv"),
        "--map",
        "--out",
        str(out),
        "-q",
    ]
    assert main(argv) == 1
    assert_bounded((out / "map.html").read_text(encoding="utf-8"))
    # The figures written are the exact ones, not the drawing's.
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert abs(summary["totals"]["conflict_area_m2"] - CONFLICT_M2) < 1e-3
    rows = pyogrio.read_dataframe(out / "conflicts.gpkg", layer="conflicts")
    assert len(rows) == 1 and abs(rows["area_m2"].iloc[0] - CONFLICT_M2) < 1e-3


def test_fair_share_by_hand():
    # needs 10, 30, 200 of 100: the two small layers get theirs, the large one the 60 left.
    assert maps.fair_share(100, 10, [200, 30]) == 10
    assert maps.fair_share(100, 200, [10, 30]) == 60
    assert maps.fair_share(90, 200, [200, 200]) == 30
    assert maps.fair_share(1000, 200, [10]) == 200


def test_within_budget_simplifies_then_aggregates():
    # A circle of 4 000 vertices fits 200 by simplification alone.
    circle = shapely.Point(0, 0).buffer(1000.0, quad_segs=1000)
    out, how = maps.within_budget(np.array([circle], dtype=object), 200, 0.5)
    assert maps.vertex_count(out) <= 200 and "simplified at" in how
    assert abs(out[0].area - circle.area) / circle.area < 0.01
    # 10 000 squares of 1 m keep 5 vertices each whatever the tolerance: drawn as cells that
    # still cover every square, within the budget.
    i = np.arange(10_000)
    squares = shapely.MultiPolygon(
        list(shapely.box(i % 100 * 10.0, i // 100 * 10.0, i % 100 * 10.0 + 1, i // 100 * 10.0 + 1))
    )
    out, how = maps.within_budget(np.array([squares, shapely.Point(-500, -500)], dtype=object), 2000, 0.5)
    assert maps.vertex_count(out) <= 2000 and "as cells of" in how
    assert shapely.covers(out[0], squares) and shapely.covers(out[1], shapely.Point(-500, -500))
    # Under the budget nothing changes.
    same, how = maps.within_budget(np.array([circle], dtype=object), 10_000, 0.5)
    assert same[0] is circle and how == ""


def test_report_figures_of_100k_parts_are_bounded(tmp_path, monkeypatch):
    from kgspatial.check import CheckOptions, PlanInput, run_check
    from kgspatial.reports import figures, write_check_reports

    (tmp_path / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    result = run_check(
        CheckOptions(
            master=str(split_master(tmp_path / "master.gpkg")),
            plans=[PlanInput(str(many_parts_plan(tmp_path / "phan_tan.gpkg")))],
            rules=str(tmp_path / "rules.csv"),
        )
    )
    drawn_vertices, notes = [], []
    for name, arg in (("_fill_zones", 1), ("_draw_outline", 1), ("_draw_pieces", 2)):

        def spy(*args, _f=getattr(figures, name), _i=arg, **kw):
            drawn_vertices.append(maps.vertex_count(args[_i]))
            return _f(*args, **kw)

        monkeypatch.setattr(figures, name, spy)
    real_bounded = figures._bounded
    monkeypatch.setattr(
        figures, "_bounded", lambda g, b, bounds, n: (real_bounded(g, b, bounds, n), notes.extend(n))[0]
    )
    write_check_reports(result, tmp_path, ["html"])
    assert 0 < sum(drawn_vertices) <= figures.MAX_VERTICES  # the plan alone has 500 000
    assert any("as cells of" in n for n in notes)
    # The report's figures are the exact ones: 4 518 ha (two decimals from 1 ha up).
    assert "4.518,00" in (tmp_path / "report.html").read_text(encoding="utf-8")
