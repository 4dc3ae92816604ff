"""Map styling, popups, simplification and the offline guarantee.

Hand values: tests/geoms.py works out every piece; 1 ha = 10 000 m²; Vietnamese numbers write
thousands with '.' and decimals with ','.  Colours are read from layers/taxonomy.csv by hand.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from kgspatial import assets, maps
from kgspatial.admin import prepare_admin
from kgspatial.check import AdminInput, CheckOptions, PlanInput, run_check
from kgspatial.cli import main
from kgspatial.crs import recognise
from kgspatial.io import read_layer
from kgspatial.taxonomy import Taxonomy
from tests import geoms

REPO = Path(__file__).resolve().parents[1]

# The test rules plus a point rule, so the scene has every kind and every severity.
SCENE_RULES = geoms.RULES_CSV.replace(
    "R05,DNL,*,compatible,,,", "R05,DNL,RPH,conflict,medium,Luật Lâm nghiệp 2017,Trạm biến áp trong rừng phòng hộ"
)


def _legacy_shapefile(frame: gpd.GeoDataFrame, path, text_columns, encoding="tcvn3"):
    """A shapefile whose DBF holds TCVN3 bytes and no .cpg, as old planning tools wrote them."""
    frame = frame.copy()
    for col in text_columns:
        frame[col] = [v.encode(encoding).decode("latin-1") for v in frame[col]]
    pyogrio.write_dataframe(frame, path, encoding="ISO-8859-1")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    return path


def build_scene(folder):
    """The geoms.py scene, the master plan's names in TCVN3 bytes; returns (CheckResult, AdminUnits)."""
    master = _legacy_shapefile(geoms.master_frame(), folder / "qh_tinh.shp", ["TEN"])
    plan = folder / "qh_xa.gpkg"
    geoms.plan_frame().to_file(plan)
    units = folder / "xa.gpkg"
    geoms.units_frame().to_file(units)
    rules = folder / "rules.csv"
    rules.write_text(SCENE_RULES, encoding="utf-8")
    opts = CheckOptions(
        master=str(master),
        plans=[PlanInput(str(plan), plan_id="qh-xa", label_field="ten", id_field="so_hieu")],
        master_label_field="TEN",
        rules=str(rules),
        admin=AdminInput(str(units)),
    )
    result = run_check(opts)
    admin = prepare_admin(read_layer(str(units)), recognise(geoms.CRS))
    return result, admin


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return build_scene(tmp_path_factory.mktemp("scene"))


@pytest.fixture(scope="module")
def taxonomy():
    return Taxonomy.load()


def _features(page: str) -> list[dict]:
    """Every GeoJSON feature embedded in the page (all layers, the search index included)."""
    decoder, out = json.JSONDecoder(), []
    for match in re.finditer(r"L\.geoJSON\((?=\{\"type\":\"FeatureCollection\")", page):
        data, _ = decoder.raw_decode(page, match.end())  # "<\\/" is a valid JSON escape of "</"
        out += data["features"]
    return out


def _unescaped(page: str) -> str:
    """The page with JSON \\uXXXX escapes (as folium's tojson writes text) turned back into characters."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page)


# --- formatting and styling --------------------------------------------------------------


def test_numbers_in_vietnamese_convention():
    assert maps.vn_number(1234567.891, 2) == "1.234.567,89"
    assert maps.format_area(2500) == "0,2500 ha (2.500 m²)"
    assert maps.format_area(1_234_567.8) == "123,46 ha (1.234.568 m²)"  # two decimals from 1 ha up
    assert maps.format_length(90) == "90,0 m"
    assert maps.format_length(1234.56) == "1.234,6 m"


def test_zone_colours_from_taxonomy(taxonomy):
    # layers/taxonomy.csv: LUA #FFFF78, RPH #BEFF1E, ODT #FFA0FF, CQP #FF5046
    assert maps.zone_color(taxonomy, "LUA").upper() == "#FFFF78"
    assert maps.zone_color(taxonomy, "RPH").upper() == "#BEFF1E"
    assert maps.zone_color(taxonomy, "ODT").upper() == "#FFA0FF"
    assert maps.zone_color(taxonomy, "CQP").upper() == "#FF5046"
    assert maps.zone_color(taxonomy, "XYZ") == maps.UNKNOWN_COLOR
    assert maps.zone_text(taxonomy, "LUA") == "LUA – Đất trồng lúa"


def test_conflict_style_by_severity_verdict_and_kind():
    high = maps.conflict_style("conflict", "high", "polygon")
    assert high["color"] == high["fillColor"] == "#6a0033" and "dashArray" not in high
    assert high["className"] == "kg-conflict kg-high kg-area" and high["weight"] >= 3
    assert maps.conflict_style("conflict", "medium", "point")["fillColor"] == "#8c2d04"
    low = maps.conflict_style("conditional", "low", "polygon")
    assert low["color"] == "#3f007d" and low["dashArray"] and low["fillOpacity"] < high["fillOpacity"]
    assert "kg-conditional" in low["className"]
    line = maps.conflict_style("conflict", "high", "line")
    assert line["weight"] >= 5 and "fillOpacity" not in line and "kg-area" not in line["className"]


def _lab(hex_color: str) -> tuple[float, float, float]:
    """sRGB -> CIE L*a*b* (D65), written out here rather than taken from the code under test."""
    rgb = [int(hex_color.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [((c + 0.055) / 1.055) ** 2.4 if c > 0.04045 else c / 12.92 for c in rgb]
    x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883

    def f(t):
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def test_no_land_use_colour_can_be_taken_for_a_conflict(taxonomy):
    """Issue 16: the old high-severity red (#d7191c) was ΔE 15 from defence land's #FF5046."""
    import csv

    rows = list(csv.DictReader((REPO / "layers" / "taxonomy.csv").open(encoding="utf-8")))
    colours = {r["code"]: r["color"] for r in rows if r["color"]}
    assert len(colours) >= 40
    for sev, colour in maps.SEVERITY_COLORS.items():
        nearest = min(colours, key=lambda c: math.dist(_lab(colour), _lab(colours[c])))
        assert math.dist(_lab(colour), _lab(colours[nearest])) >= 35, (sev, colour, nearest)
    assert math.dist(_lab("#d7191c"), _lab(colours["CQP"])) < 20  # the measure tells the old red apart


def test_popup_in_vietnamese_with_hand_figures(taxonomy):
    row = {
        "conflict_id": "abc",
        "plan_id": "qhc",
        "plan_feature": "KDC-01",
        "plan_label": "Khu dân cư mới",
        "plan_code": "ODT",
        "master_code": "LUA",
        "master_label": "Cánh đồng mẫu",
        "rule_id": "R01",
        "verdict": "conflict",
        "severity": "high",
        "reference": "Luật Đất đai 2024",
        "kind": "polygon",
        "area_m2": 2500.0,
        "length_m": 0.0,
        "admin_code": "31150",
        "admin_name": "Phường Vĩnh Thanh",
        "admin_prev_code": "",
        "admin_prev_name": "",
    }
    popup = maps.conflict_popup(row, taxonomy, {"qhc": "Quy hoạch chung Rạch Giá <2019>"})
    assert unicodedata.is_normalized("NFC", popup)
    for text in (
        "Đất trồng lúa",
        "ODT – Đất ở tại đô thị",
        "R01 — Luật Đất đai 2024",
        "Xung đột (conflict)",
        "cao (high)",
        "0,2500 ha (2.500 m²)",
        "Phường Vĩnh Thanh (31150)",
        "KDC-01 · Khu dân cư mới",
        "Quy hoạch chung Rạch Giá &lt;2019&gt; (qhc)",
        "ngoài mọi đơn vị",
    ):
        assert text in popup, text
    line = dict(row, kind="line", area_m2=0.0, length_m=90.0, verdict="conditional", severity="medium")
    popup = maps.conflict_popup(line, taxonomy, {})
    assert "90,0 m" in popup and "Có điều kiện (conditional)" in popup and " ha " not in popup
    assert maps.conflict_tooltip(line) == "R01 · ODT / LUA · 90,0 m"


# --- simplification ----------------------------------------------------------------------


def _dense_coverage(n=60, seed=3):
    """A Voronoi coverage of a 10 km square whose edges wiggle every 5 m, as digitised layers do.

    The edges are densified once, as shared linework, then polygonised, so neighbours share
    exactly the same vertices (a valid coverage)."""
    rng = np.random.default_rng(seed)
    pts = shapely.multipoints(rng.uniform(0, 10_000, (n, 2)))
    square = shapely.box(0, 0, 10_000, 10_000)
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=square)), square)
    lines = shapely.segmentize(shapely.union_all(shapely.boundary(cells)), 5.0)

    def wiggle(coords):  # the same point always moves the same way; the square's edge stays put
        inside = (coords > 0.01).all(axis=1) & (coords < 9_999.99).all(axis=1)
        shift = np.sin(coords[:, ::-1] * 12.9898) * 0.8
        return np.where(inside[:, None], coords + shift, coords)

    return np.asarray(shapely.get_parts(shapely.polygonize([shapely.transform(lines, wiggle)])), dtype=object)


def test_coverage_simplify_drops_vertices_and_keeps_the_coverage():
    cells = _dense_coverage()
    assert shapely.coverage_is_valid(cells)
    tolerance = maps.display_tolerance(shapely.total_bounds(cells), len(cells))
    assert tolerance == pytest.approx(1.0)  # 10 km / 10 000
    assert maps.display_tolerance((0, 0, 60_000, 1), 40_000) == pytest.approx(12.0)  # 6 m × √4
    simple = maps.simplify_coverage(cells, 5.0)
    assert len(simple) == len(cells)
    before, after = shapely.get_num_coordinates(cells).sum(), shapely.get_num_coordinates(simple).sum()
    assert after < before / 5
    assert shapely.coverage_is_valid(simple)  # no overlaps, edges still shared
    assert shapely.is_valid(simple).all()
    union = shapely.union_all(simple)
    # No gaps: one polygon without holes whose area is the sum of the pieces (and the square's).
    assert union.geom_type == "Polygon" and len(union.interiors) == 0
    assert shapely.area(simple).sum() == pytest.approx(union.area, rel=1e-9)
    assert union.area == pytest.approx(100_000_000, rel=1e-6)


def test_non_coverage_is_simplified_feature_by_feature():
    overlapping = np.array(
        [shapely.segmentize(shapely.box(0, 0, 100, 100), 1), shapely.segmentize(shapely.box(50, 50, 150, 150), 1)],
        dtype=object,
    )
    assert not shapely.coverage_is_valid(overlapping)
    out = maps.simplify_coverage(overlapping, 2.0)
    assert (shapely.get_num_coordinates(out) == 5).all()  # each back to its 4 corners
    assert shapely.area(out).tolist() == [10_000, 10_000]


def test_dissolve_by_code_keeps_areas():
    cells = _dense_coverage()
    codes = np.array(["LUA", "RPH", "ODT"] * (len(cells) // 3) + ["LUA"] * (len(cells) % 3), dtype=object)
    merged, keys, counts = maps.dissolve_by(cells, codes)
    assert keys.tolist() == ["LUA", "ODT", "RPH"]
    assert counts.sum() == len(cells)
    for key, geom in zip(keys, merged):
        assert geom.area == pytest.approx(shapely.area(cells[codes == key]).sum(), rel=1e-9)


# --- the rendered page -------------------------------------------------------------------


def test_map_is_offline_complete_and_in_vietnamese(scene, tmp_path):
    result, admin = scene
    path = maps.write_map(result, tmp_path / "map.html", admin=admin)
    page = path.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"?(https?:)?//", page)
    assert "L.tileLayer(" not in page.split("leaflet-minimap")[-1]  # no basemap by default
    assert '"preferCanvas": false' in page or "preferCanvas" not in page
    features = _features(page)
    popups = [f["properties"]["p"] for f in features if "p" in f["properties"]]
    assert len(popups) == len(result.conflicts) == 9
    joined = "\n".join(popups)
    # TCVN3 labels came back as Unicode, and the taxonomy names are there.
    assert "Lúa chuyên canh" in joined and "Cụm công nghiệp" in joined and "Đất chuyên trồng lúa" in joined
    assert "0,1500 ha (1.500 m²)" in joined  # KDC-01 on LUC in unit A: 30 × 50 m
    assert "90,0 m" in joined and "70,0 m" in joined  # ĐT.963 on RPH, and on LUC in unit A
    assert "Xã Phi Thông (B)" in joined
    assert all(unicodedata.is_normalized("NFC", p) for p in popups)


def test_every_coordinate_goes_through_the_pinned_transformation(scene, tmp_path):
    result, _ = scene
    page = maps.write_map(result, tmp_path / "m.html").read_text(encoding="utf-8")
    feature = next(f for f in _features(page) if "CCN-1" in f["properties"].get("p", ""))
    from kgspatial.crs import to_crs

    piece = result.conflicts[result.conflicts.plan_feature == "CCN-1"]
    expected = to_crs(piece, "EPSG:4326").geometry.iloc[0]
    drawn = shapely.geometry.shape(feature["geometry"])
    assert shapely.hausdorff_distance(drawn, expected) < 2e-6  # rounding to 1e-6 degree only


def test_tiles_are_a_setting(scene, tmp_path, monkeypatch):
    result, _ = scene
    url = "http://tiles.stnmt.local/{z}/{x}/{y}.png"
    page = maps.write_map(result, tmp_path / "a.html", tiles=url, attribution="Sở NN&MT").read_text(encoding="utf-8")
    assert url in page and '"attribution": "Sở NN&amp;MT"' in _unescaped(page)
    monkeypatch.setenv("KGSPATIAL_TILES", "http://gis.local/t/{z}/{x}/{y}.png")
    page = maps.write_map(result, tmp_path / "b.html").read_text(encoding="utf-8")
    assert "http://gis.local/t/{z}/{x}/{y}.png" in page


def test_large_layers_dissolved_and_on_canvas(tmp_path, taxonomy, monkeypatch):
    cells = _dense_coverage(n=400)
    codes = np.array(["LUA", "RPH", "ODT", "CLN"] * 100, dtype=object)
    x0, y0 = geoms.X0, geoms.Y0
    cells = shapely.transform(cells, lambda c: c + [x0, y0])
    from kgspatial.prepare import PreparedLayer

    master = PreparedLayer(
        "m",
        cells,
        codes,
        codes,
        np.full(400, "", dtype=object),
        np.arange(400).astype(str).astype(object),
        np.zeros(400, dtype=np.int8),
    )
    empty = gpd.GeoDataFrame(
        {c: [] for c in ["plan_id", "verdict", "severity", "kind"]}, geometry=gpd.GeoSeries([], crs=geoms.CRS)
    )
    path = maps.write_province_map(master, taxonomy, empty, tmp_path / "p.html", max_features=100)
    page = path.read_text(encoding="utf-8")
    assert len(_features(page)) >= 4 and "400 master zones dissolved by code" in page
    monkeypatch.setattr(maps, "CANVAS_THRESHOLD", 100)
    page = maps.write_province_map(master, taxonomy, empty, tmp_path / "q.html").read_text(encoding="utf-8")
    assert '"preferCanvas": true' in page


def test_sensitive_rows_masked_on_request(scene, tmp_path, taxonomy):
    result, _ = scene
    frame = result.conflicts.copy()
    frame.loc[frame.plan_feature == "CCN-1", "master_code"] = "CQP"
    fmap = maps.build_map(result.master, taxonomy, frame, plans=result.plans, mask_sensitive=True)
    page = maps.render_html(fmap)
    assert "CCN-1" not in "".join(f["properties"].get("p", "") for f in _features(page))
    assert "1 mảnh không hiển thị (đất quốc phòng, an ninh)" in _unescaped(page)


def test_province_map_of_several_plans(scene, tmp_path, taxonomy):
    result, admin = scene
    two = gpd.GeoDataFrame(
        gpd.pd.concat([result.conflicts, result.conflicts.assign(plan_id="qh-2")], ignore_index=True),
        crs=result.conflicts.crs,
    )
    path = maps.write_province_map(
        result.master,
        taxonomy,
        two,
        tmp_path / "tinh.html",
        plan_names={"qh-xa": "Quy hoạch xã Phi Thông", "qh-2": "QH phân khu số 2"},
        admin=admin,
    )
    page = path.read_text(encoding="utf-8")
    popups = [f["properties"]["p"] for f in _features(page) if "p" in f["properties"]]
    assert len(popups) == 18
    assert any("QH phân khu số 2 (qh-2)" in p for p in popups)
    assert "Xã/phường: Phường Vĩnh Thanh" in page


def test_missing_assets_named_with_the_fix(scene, tmp_path, monkeypatch):
    result, _ = scene
    monkeypatch.setenv("KGSPATIAL_ASSETS_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(assets.AssetsMissing, match="npm ci"):
        maps.write_map(result, tmp_path / "map.html")
    assert not (tmp_path / "map.html").exists()


def test_cli_check_map(tmp_path, monkeypatch, capsys):
    for name, frame in (("master.gpkg", geoms.master_frame()), ("plan.gpkg", geoms.plan_frame())):
        frame.to_file(tmp_path / name)
    (tmp_path / "rules.csv").write_text(SCENE_RULES, encoding="utf-8")
    argv = [
        "check",
        "--master",
        str(tmp_path / "master.gpkg"),
        "--plan",
        str(tmp_path / "plan.gpkg"),
        "--rules",
        str(tmp_path / "rules.csv"),
        "--map",
        "-q",
    ]
    assert main(argv + ["--out", str(tmp_path / "out")]) == 1
    page = (tmp_path / "out" / "map.html").read_text(encoding="utf-8")
    assert "window.kgspatial" in page and len([f for f in _features(page) if "p" in f["properties"]]) == 7
    # With --admin the communes are drawn and searchable (CheckResult carries the units).
    geoms.units_frame().to_file(tmp_path / "xa.gpkg")
    assert main(argv + ["--admin", str(tmp_path / "xa.gpkg"), "--out", str(tmp_path / "out_xa")]) == 1
    page = _unescaped((tmp_path / "out_xa" / "map.html").read_text(encoding="utf-8"))
    assert "Xã, phường / Communes" in page and "Xã/phường: Xã Phi Thông" in page
    assert len([f for f in _features(page) if "p" in f["properties"]]) == 9
    # Assets missing: exit 2 naming `npm ci`, and --out left as it was (not created).
    monkeypatch.setenv("KGSPATIAL_ASSETS_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(SystemExit) as exc:
        main(argv + ["--out", str(tmp_path / "out2")])
    assert exc.value.code == 2 and "npm ci" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists()


def test_withheld_cells_blank_what_lies_around_defence_land():
    """A defence zone [700,1300]×[600,900] touches two 500 m cells, [500,1500]×[500,1000]: 500,000 m².
    The rice zone around it, 2 × 2 km with the defence zone as its hole (3,820,000 m²), keeps
    3,820,000 − (500,000 − 180,000) = 3,500,000 m²; a road along y = 750 keeps 2,000 − 1,000 m."""
    from kgspatial.masking import blank_out, withheld_area

    defence = geoms.box(700, 600, 1300, 900)
    rice = shapely.difference(geoms.box(0, 0, 2000, 2000), defence)
    road = geoms.line((0, 750), (2000, 750))
    cells = withheld_area(np.array([defence]))
    assert cells.area == pytest.approx(500_000.0)
    out = blank_out(np.array([rice, road, geoms.point(1000, 750), geoms.point(100, 100), None], dtype=object), cells)
    assert shapely.area(out[0]) == pytest.approx(3_500_000.0)
    assert shapely.length(out[1]) == pytest.approx(1_000.0) and shapely.get_type_id(out[1]) in (1, 5)
    assert out[2] is None and out[3] == geoms.point(100, 100) and out[4] is None
    # no edge of what is drawn runs through the cells: the defence zone's outline cannot be read off
    assert not any(shapely.intersects(g, cells.buffer(-0.01)) for g in out if g is not None)
