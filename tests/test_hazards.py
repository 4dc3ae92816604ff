"""Hazard screening (CONTRACT §8): known answers worked out by hand on rasters built here.

The scene: 10 m cells in EPSG:9207 whose top-left corner is (X0, Y0); depth is constant by column
band: columns 0-1 (x 0-20 m) 0.2 m, columns 2-3 (20-40 m) 0.8 m, columns 4-5 (40-60 m) 1.6 m.
Rules: R1 above 0 m conditional, R2 above 0.5 m conflict, R3 above 1.0 m conflict (high).
Feature edges fall inside cells, so a method counting whole cells (by centre) is visibly off.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyogrio
import pyproj
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from kgspatial.check import AdminInput, CheckOptions, PlanInput, run_check
from kgspatial.cli import main
from kgspatial.hazards import HazardOptions, run_hazards

X0, Y0 = 560_000.0, 1_110_000.0
DEPTHS = [0.2, 0.2, 0.8, 0.8, 1.6, 1.6]
RULES = """rule_id,plan_code,hazard_id,min_depth,verdict,severity,reference,note
R1,*,slr,0,conditional,low,QĐ 1289/QĐ-TTg (illustrative),ngập nông
R2,*,slr,0.5,conflict,medium,QĐ 1289/QĐ-TTg (illustrative),ngập sâu
R3,*,slr,1.0,conflict,high,QĐ 1289/QĐ-TTg (illustrative),ngập rất sâu
"""


def write_raster(path, values, crs="EPSG:9207", transform=None, nodata=-9999.0, count=1):
    values = np.asarray(values, dtype="float32")
    transform = transform or from_origin(X0, Y0, 10, 10)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=values.shape[0],
        width=values.shape[1],
        count=count,
        dtype="float32",
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as ds:
        for b in range(1, count + 1):
            ds.write(values, b)
    return path


def write_hazards(folder, raster="depth.tif", rules=RULES, **layer):
    lines = [
        "layers:",
        "  - id: slr",
        "    name_vi: Ngập do nước biển dâng",
        "    name_en: Sea-level rise flooding",
        f"    path: {raster}",
        "    scenario: Kịch bản thử nghiệm",
    ]
    lines += [f"    {k}: {v}" for k, v in layer.items()]
    lines.append("rules: hazard_rules.csv")
    (folder / "hazard_rules.csv").write_text(rules, encoding="utf-8")
    path = folder / "HAZARDS.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_plan(path, geoms, codes=None, crs="EPSG:9207"):
    codes = codes or ["ODT"] * len(geoms)
    gpd.GeoDataFrame(
        {"code": codes, "ten": [f"f{i}" for i in range(len(geoms))]}, geometry=list(geoms), crs=crs
    ).to_file(path)
    return path


@pytest.fixture()
def columns(tmp_path):
    write_raster(tmp_path / "depth.tif", [DEPTHS] * 4)
    write_hazards(tmp_path)
    return tmp_path


def _run(folder, plan, **kw):
    return run_hazards(
        HazardOptions(
            plans=[PlanInput(str(plan), code_field="code", label_field="ten")],
            hazards=str(folder / "HAZARDS.yaml"),
            **kw,
        )
    )


def _by_rule(frame, column="area_m2"):
    return {r: float(v) for r, v in frame.groupby("rule_id")[column].sum().items()}


def test_polygon_bands_exact_with_edges_inside_cells(columns):
    # x 5..47 m, y 7..33 m below the top: 26 m high.  R1: x 5-20 -> 15 x 26 = 390 m²;
    # R2: x 20-40 -> 20 x 26 = 520 m²; R3: x 40-47 -> 7 x 26 = 182 m².  Cell centres would give
    # 400 / 600 / 200 m² (cells 1, 2, 3, 4 in x; 3 rows of centres at 15, 25 (and 5 out)): 3-15 % off.
    plan = write_plan(columns / "plan.gpkg", [shapely.box(X0 + 5, Y0 - 33, X0 + 47, Y0 - 7)])
    run = _run(columns, plan)
    rows = run.result.findings
    got = _by_rule(rows)
    for rule, want in {"R1": 390.0, "R2": 520.0, "R3": 182.0}.items():
        assert got[rule] == pytest.approx(want, rel=1e-4)  # contract: 0.01 %
    by = rows.set_index("rule_id")
    assert by.loc["R1", "mean_depth"] == pytest.approx(0.2) and by.loc["R3", "max_depth"] == pytest.approx(1.6)
    assert by.loc["R2", "verdict"] == "conflict" and by.loc["R1", "verdict"] == "conditional"
    assert by["share"].sum() == pytest.approx(1.0)
    assert (by["unknown_m2"] == 0).all()
    # the pieces are the cut geometry: their union is the feature
    assert shapely.union_all(rows.geometry.values).area == pytest.approx(1092.0)
    assert run.result.exit_code == 1
    summary = run.summary["hazards"]
    bands = {b["rule_id"]: b for b in summary["layers"][0]["bands"]}
    assert bands["R2"]["area_m2"] == pytest.approx(520.0, rel=1e-4)
    assert bands["R2"]["by_plan_code"] == [
        {"plan_code": "ODT", "pieces": 1, "area_m2": 520.0, "length_m": 0.0, "points": 0}
    ]


def test_mean_depth_is_area_weighted(tmp_path):
    # One band (above 0.5 m) over cells of 0.6 and 1.0 m: the feature (x -5..15, 10 m high)
    # covers 10 m of the first column and 5 m of the second: mean = (100 x 0.6 + 50 x 1.0) / 150.
    write_raster(tmp_path / "depth.tif", [[0.6, 1.0]] * 2)
    write_hazards(
        tmp_path, rules="rule_id,plan_code,hazard_id,min_depth,verdict,severity\nR2,*,slr,0.5,conflict,high\n"
    )
    plan = write_plan(tmp_path / "plan.gpkg", [shapely.box(X0 - 5, Y0 - 15, X0 + 15, Y0 - 5)])
    rows = _run(tmp_path, plan).result.findings
    band = rows[rows["verdict"] == "conflict"].iloc[0]
    assert band["area_m2"] == pytest.approx(150.0) and band["mean_depth"] == pytest.approx(110 / 150)
    assert band["max_depth"] == pytest.approx(1.0)
    # 5 m of the feature lie west of the raster: unknown, never safe
    unknown = rows[rows["verdict"] == "unknown"].iloc[0]
    assert unknown["area_m2"] == pytest.approx(50.0) and band["unknown_m2"] == pytest.approx(50.0)


def test_admin_split_and_previous_units(columns):
    plan = write_plan(columns / "plan.gpkg", [shapely.box(X0 + 5, Y0 - 33, X0 + 47, Y0 - 7)])
    units = gpd.GeoDataFrame(
        {"ma_xa": ["A", "B"], "ten_xa": ["Xã Á", "Phường Bê"]},
        geometry=[
            shapely.box(X0 - 100, Y0 - 100, X0 + 30, Y0 + 100),
            shapely.box(X0 + 30, Y0 - 100, X0 + 200, Y0 + 100),
        ],
        crs=9207,
    )
    units.to_file(columns / "xa.gpkg")
    old = units.assign(ma_xa=["OLD"] * 2).dissolve("ma_xa").reset_index()
    old.to_file(columns / "xa_2024.gpkg")
    run = _run(
        columns,
        plan,
        admin=AdminInput(str(columns / "xa.gpkg"), "ma_xa", "ten_xa"),
        admin_previous=AdminInput(str(columns / "xa_2024.gpkg"), "ma_xa", "ten_xa"),
    )
    rows = run.result.findings
    r2 = rows[rows["rule_id"] == "R2"].set_index("admin_code")
    assert r2.loc["A", "area_m2"] == pytest.approx(260.0) and r2.loc["B", "area_m2"] == pytest.approx(260.0)
    assert r2.loc["A", "admin_name"] == "Xã Á"
    assert set(rows["admin_prev_code"]) == {"OLD"}
    band = next(b for b in run.summary["hazards"]["layers"][0]["bands"] if b["rule_id"] == "R2")
    assert {(u["admin_code"], u["area_m2"]) for u in band["by_admin"]} == {("A", 260.0), ("B", 260.0)}
    assert band["by_admin_previous"][0]["area_m2"] == pytest.approx(520.0)
    # ids are stable: same inputs, same ids
    again = _run(
        columns,
        plan,
        admin=AdminInput(str(columns / "xa.gpkg"), "ma_xa", "ten_xa"),
        admin_previous=AdminInput(str(columns / "xa_2024.gpkg"), "ma_xa", "ten_xa"),
    )
    assert list(again.result.findings["finding_id"]) == list(rows["finding_id"])
    assert rows["finding_id"].is_unique


def test_line_length_per_band(columns):
    # From (5, -5) to (45, -35): 50 m long, 40 m across.  By x: R1 5-20 (15/40 of it) 18.75 m,
    # R2 20-40: 25 m, R3 40-45: 6.25 m.
    line = shapely.LineString([(X0 + 5, Y0 - 5), (X0 + 45, Y0 - 35)])
    plan = write_plan(columns / "plan.gpkg", [line], codes=["DGT"])
    rows = _run(columns, plan).result.findings
    got = _by_rule(rows, "length_m")
    assert got == pytest.approx({"R1": 18.75, "R2": 25.0, "R3": 6.25}, rel=1e-6)
    assert (rows["area_m2"] == 0).all() and (rows["kind"] == "line").all()
    assert rows.set_index("rule_id").loc["R2", "share"] == pytest.approx(0.5)


def test_points_take_their_cell_and_the_deepest_on_an_edge(columns):
    pts = [
        shapely.Point(X0 + 45, Y0 - 15),  # inside column 4: 1.6 m -> R3
        shapely.Point(X0 + 20, Y0 - 15),  # on the edge of columns 1 (0.2) and 2 (0.8): deepest, R2
        shapely.Point(X0 + 40, Y0 - 20),  # on a corner of columns 3 (0.8) and 4 (1.6): R3
        shapely.Point(X0 + 5, Y0 - 5),
    ]  # column 0: 0.2 m -> R1
    plan = write_plan(columns / "plan.gpkg", pts, codes=["DNL"] * 4)
    rows = _run(columns, plan).result.findings.sort_values("plan_feature")
    assert list(rows["rule_id"]) == ["R3", "R2", "R3", "R1"]
    assert list(rows["max_depth"].round(3)) == [1.6, 0.8, 1.6, 0.2]
    assert (rows["kind"] == "point").all() and (rows["share"] == 1).all()


def test_elevation_raster_with_a_level(tmp_path):
    # Elevation 0.4 / 0.9 / 1.5 m by column pairs, water at 1.0 m: depths 0.6 / 0.1 / -0.5.
    # Polygon x 5..55, 20 m high: R1 (0-0.5 m: depth 0.1) x 20-40 = 400 m²; R2 (0.5-1.0: 0.6)
    # x 5-20 = 300 m²; nothing where the land stands above the water.
    write_raster(tmp_path / "dem.tif", [[0.4, 0.4, 0.9, 0.9, 1.5, 1.5]] * 3)
    write_hazards(tmp_path, raster="dem.tif", measure="elevation", level=1.0)
    plan = write_plan(tmp_path / "plan.gpkg", [shapely.box(X0 + 5, Y0 - 25, X0 + 55, Y0 - 5)])
    rows = _run(tmp_path, plan).result.findings
    assert _by_rule(rows) == pytest.approx({"R1": 400.0, "R2": 300.0}, rel=1e-6)
    assert rows.set_index("rule_id").loc["R2", "mean_depth"] == pytest.approx(0.6)


def test_no_data_corners_are_unknown_not_safe(tmp_path):
    # 4 x 4 cells of 0.8 m with the top-left 2 x 2 cells (20 x 20 m) no data.  The polygon
    # x 10..40, y 10..40 below the top covers 10 x 10 = 100 m² of no data and 800 m² in R2.
    values = np.full((4, 4), 0.8)
    values[:2, :2] = -9999
    write_raster(tmp_path / "depth.tif", values)
    write_hazards(tmp_path)
    plan = write_plan(tmp_path / "plan.gpkg", [shapely.box(X0 + 10, Y0 - 40, X0 + 40, Y0 - 10)])
    run = _run(tmp_path, plan)
    rows = run.result.findings.set_index("verdict")
    assert rows.loc["conflict", "area_m2"] == pytest.approx(800.0)
    assert rows.loc["unknown", "area_m2"] == pytest.approx(100.0)
    assert rows.loc["conflict", "unknown_m2"] == pytest.approx(100.0)
    assert run.summary["hazards"]["layers"][0]["unknown_m2"] == pytest.approx(100.0)
    assert any("unknown, not safe" in w for w in run.summary["warnings"])


def test_a_point_on_no_data_is_unknown(tmp_path):
    values = np.full((2, 2), 0.8)
    values[0, 0] = -9999
    write_raster(tmp_path / "depth.tif", values)
    write_hazards(tmp_path)
    plan = write_plan(tmp_path / "plan.gpkg", [shapely.Point(X0 + 5, Y0 - 5)], codes=["DNL"])
    rows = _run(tmp_path, plan).result.findings
    assert list(rows["verdict"]) == ["unknown"]


def _official_vn2000(src, dst):
    """The official 'VN-2000 to WGS 84 (2)' chosen here by name, independently of crs.py."""
    group = pyproj.transformer.TransformerGroup(src, dst, always_xy=True)
    return next(t for t in group.transformers if any("VN-2000 to WGS 84 (2)" in op.name for op in t.operations))


def test_raster_in_epsg4326_through_the_official_parameters(tmp_path):
    # 0.001° cells over lon 105.000-105.010, lat 10.000-10.010: 0.3 m west of 105.005°, 1.2 m east.
    values = np.where(np.arange(10)[None, :] < 5, 0.3, 1.2).repeat(10, axis=0)
    write_raster(tmp_path / "depth.tif", values, crs="EPSG:4326", transform=from_origin(105.0, 10.01, 0.001, 0.001))
    write_hazards(tmp_path)
    to_tm3 = _official_vn2000("EPSG:4326", "EPSG:9207")
    cx, cy = to_tm3.transform(105.005, 10.005)
    box = shapely.box(cx - 200, cy - 150, cx + 300, cy + 150)  # 500 x 300 m, well inside the raster
    # By hand: the meridian 105.005° is straight to a few mm over 300 m; where it crosses the
    # box's bottom and top edges (found with the official transformation) splits the box in two
    # trapezoids: east area = 300 x (x1 - mean crossing x).
    lon_x = []
    for y in (cy - 150, cy + 150):
        to_ll = _official_vn2000("EPSG:9207", "EPSG:4326")
        lo, hi = cx - 50, cx + 50  # bisect the x on this y where lon = 105.005
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if to_ll.transform(mid, y)[0] < 105.005 else (lo, mid)
        lon_x.append((lo + hi) / 2)
    east = 300 * (cx + 300 - sum(lon_x) / 2)
    west = 500 * 300 - east
    plan = write_plan(tmp_path / "plan.gpkg", [box])
    run = _run(tmp_path, plan)
    got = _by_rule(run.result.findings)
    assert got["R3"] == pytest.approx(east, rel=1e-3)  # contract: 0.1 %
    assert got["R1"] == pytest.approx(west, rel=1e-3)
    assert "VN-2000 to WGS 84 (2)" in run.summary["hazards"]["layers"][0]["transformation"]


def test_utm_raster(tmp_path):
    # A depth raster in UTM 48N (WGS 84): 50 m cells of 0.8 m everywhere; a 200 x 100 m plan box
    # lies wholly in R2: its exact area.
    to_utm = _official_vn2000("EPSG:9207", "EPSG:32648")
    ux, uy = to_utm.transform(X0, Y0)
    write_raster(
        tmp_path / "depth.tif",
        np.full((20, 20), 0.8),
        crs="EPSG:32648",
        transform=from_origin(ux - 500, uy + 500, 50, 50),
    )
    write_hazards(tmp_path)
    plan = write_plan(tmp_path / "plan.gpkg", [shapely.box(X0, Y0, X0 + 200, Y0 + 100)])
    rows = _run(tmp_path, plan).result.findings
    assert _by_rule(rows) == pytest.approx({"R2": 20_000.0}, rel=1e-3)


def test_most_specific_plan_code_decides_the_bands(columns):
    rules = RULES + "H1,ODT,slr,1.0,conflict,high,,nhà ở\nH0,ODT,slr,0.1,conditional,low,,nhà ở\n"
    write_hazards(columns, rules=rules)
    plan = write_plan(columns / "plan.gpkg", [shapely.box(X0 + 5, Y0 - 33, X0 + 47, Y0 - 7)] * 2, codes=["ODT", "SKC"])
    rows = _run(columns, plan).result.findings
    odt = _by_rule(rows[rows["plan_code"] == "ODT"])
    # ODT has its own rows: above 0.1 m (H0) up to 1.0 m, then H1: x 5-40 -> 910 m²; x 40-47 -> 182
    assert odt == pytest.approx({"H0": 910.0, "H1": 182.0}, rel=1e-6)
    assert set(rows.loc[rows["plan_code"] == "SKC", "rule_id"]) == {"R1", "R2", "R3"}


def test_cli_writes_gpkg_and_summary(columns):
    plan = write_plan(columns / "plan.gpkg", [shapely.box(X0 + 5, Y0 - 33, X0 + 47, Y0 - 7)])
    out = columns / "out"
    assert (
        _code(
            [
                "hazards",
                "--plan",
                str(plan),
                "--plan-field",
                "code",
                "--hazards",
                str(columns / "HAZARDS.yaml"),
                "--out",
                str(out),
                "-q",
            ]
        )
        == 1
    )
    layer = pyogrio.read_dataframe(out / "hazards.gpkg", layer="hazards")
    assert layer.crs.to_epsg() == 9207
    assert _by_rule(layer) == pytest.approx({"R1": 390.0, "R2": 520.0, "R3": 182.0}, rel=1e-4)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["hazards"]["totals"]["conflict_area_m2"] == pytest.approx(702.0, rel=1e-4)


def _code(args):
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code


def _exit(args, capsys):
    return _code(args), capsys.readouterr().err


def test_raster_missing_the_plan_is_exit_2(columns, capsys):
    plan = write_plan(columns / "plan.gpkg", [shapely.box(X0 + 5000, Y0, X0 + 5100, Y0 + 100)])
    code, err = _exit(
        [
            "hazards",
            "--plan",
            str(plan),
            "--hazards",
            str(columns / "HAZARDS.yaml"),
            "--out",
            str(columns / "out"),
            "-q",
        ],
        capsys,
    )
    assert code == 2 and "depth.tif" in err and "does not overlap" in err
    assert not (columns / "out").exists()


def test_missing_raster_and_unknown_band_are_exit_2_naming_them(columns, capsys):
    plan = write_plan(columns / "plan.gpkg", [shapely.box(X0 + 5, Y0 - 33, X0 + 47, Y0 - 7)])
    args = [
        "hazards",
        "--plan",
        str(plan),
        "--hazards",
        str(columns / "HAZARDS.yaml"),
        "--out",
        str(columns / "o"),
        "-q",
    ]
    write_hazards(columns, raster="rasters/khong_co.tif")
    code, err = _exit(args, capsys)
    assert code == 2 and "rasters/khong_co.tif" in err and "not found" in err
    write_hazards(columns, band=3)
    code, err = _exit(args, capsys)
    assert code == 2 and "depth.tif" in err and "no band 3" in err
    (columns / "fake.tif").write_text('<VRTDataset rasterXSize="1" rasterYSize="1"></VRTDataset>')
    write_hazards(columns, raster="fake.tif")
    code, err = _exit(args, capsys)
    assert code == 2 and "fake.tif" in err and "not a GeoTIFF" in err
    write_hazards(columns, rules=RULES + "R9,XYZ,flood,abc,bad,\n")
    code, err = _exit(args, capsys)
    assert code == 2 and "XYZ" in err and "'flood'" in err and "'abc'" in err and "'bad'" in err
    assert not (columns / "o").exists()


def test_check_with_hazards_writes_hazards_gpkg(columns):
    master = columns / "master.gpkg"
    gpd.GeoDataFrame(
        {"MA_QH": ["ODT"]}, geometry=[shapely.box(X0 - 100, Y0 - 100, X0 + 100, Y0 + 100)], crs=9207
    ).to_file(master)
    plan = write_plan(columns / "plan.gpkg", [shapely.box(X0 + 5, Y0 - 33, X0 + 47, Y0 - 7)])
    result = run_check(
        CheckOptions(
            master=str(master), plans=[PlanInput(str(plan), code_field="code")], hazards=str(columns / "HAZARDS.yaml")
        )
    )
    assert len(result.conflicts) == 0 and result.exit_code == 1  # no plan conflict, but a conflict band
    assert result.summary["hazards"]["totals"]["conflict_area_m2"] == pytest.approx(702.0, rel=1e-4)
    out = columns / "out"
    assert (
        _code(
            [
                "check",
                "--master",
                str(master),
                "--plan",
                str(plan),
                "--plan-field",
                "code",
                "--hazards",
                str(columns / "HAZARDS.yaml"),
                "--out",
                str(out),
                "-q",
            ]
        )
        == 1
    )
    assert len(pyogrio.read_dataframe(out / "hazards.gpkg", layer="hazards")) == 3


@pytest.mark.needs_system
def test_hazard_map_in_chromium_offline(columns, tmp_path):
    """The depth bands are an inlined image (drawn with no network), toggled in the layer control,
    and a click on an exposed piece opens its popup: band, depths, rule, scenario."""
    import io

    from PIL import Image

    from tests.conftest import require_system
    from tests.test_browser import ARGS, CHROMIUM, Session

    if not CHROMIUM.exists():
        require_system("Chromium", "apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    plan = write_plan(columns / "plan.gpkg", [shapely.box(X0 + 5, Y0 - 33, X0 + 47, Y0 - 7)])
    out = columns / "out"
    assert (
        _code(
            [
                "hazards",
                "--plan",
                str(plan),
                "--plan-field",
                "code",
                "--hazards",
                str(columns / "HAZARDS.yaml"),
                "--out",
                str(out),
                "--map",
                "-q",
            ]
        )
        == 1
    )
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        s = Session(browser, out / "map.html")
        state = s.page.evaluate("""() => { const l = kgspatial.layers['hazard:slr'];
            return {on: kgspatial.map.hasLayer(l), loaded: l._image.complete && l._image.naturalWidth > 0,
                    src: l._image.src.slice(0, 22), opacity: l.options.opacity,
                    exposed: kgspatial.counts['exposed:slr']}; }""")
        assert state == {"on": True, "loaded": True, "src": "data:image/png;base64,", "opacity": 0.55, "exposed": 3}
        assert "Ngập do nước biển dâng" in s.page.inner_text(".leaflet-control-layers")
        assert "> 1 m" in s.page.inner_text(".kg-hazard-legend") and "0.5 – 1 m" in s.page.inner_text(
            ".kg-hazard-legend"
        )
        # Column 5 (1.6 m, the darkest band) outside the plan: the image shows blue there.
        s.page.evaluate("kgspatial.map.setView(kgspatial.map.getCenter(), 19, {animate: false})")
        s.page.wait_for_timeout(300)
        lon, lat = crs_mod_transform(X0 + 55, Y0 - 37)
        px = s.page.evaluate(
            """([lat, lon]) => { const p = kgspatial.map.latLngToContainerPoint([lat, lon]);
                                 const r = kgspatial.map.getContainer().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; }""",
            [lat, lon],
        )
        pixel = Image.open(io.BytesIO(s.page.screenshot())).convert("RGB").getpixel((int(px[0]), int(px[1])))
        assert pixel[2] > pixel[0] + 40, pixel
        text = s.click_at(X0 + 30, Y0 - 20)  # inside the piece of R2 (x 20-40 m)
        for expected in ("> 0.5 m", "R2", "0.80 m", "Kịch bản thử nghiệm", "Xung đột / Conflict", "520 m²"):
            assert expected in text, (expected, text)
        s.page.evaluate("kgspatial.map.removeLayer(kgspatial.layers['hazard:slr'])")
        assert s.page.evaluate("kgspatial.map.hasLayer(kgspatial.layers['hazard:slr'])") is False
        assert s.errors == [] and s.external == []
        s.page.close()
        browser.close()


def crs_mod_transform(x, y):
    from kgspatial import crs as crs_mod

    return crs_mod.transformer("EPSG:9207", "EPSG:4326").transform(x, y)


def test_reports_have_a_section_per_hazard(columns):
    """HTML (Vietnamese and English), XLSX and PDF: the bands' hand-worked areas (R2: 520 m² =
    0.052 ha), the scenario, the findings, the commune split."""
    import openpyxl
    from pypdf import PdfReader

    plan = write_plan(columns / "plan.gpkg", [shapely.box(X0 + 5, Y0 - 33, X0 + 47, Y0 - 7)])
    gpd.GeoDataFrame(
        {"ma_xa": ["A"], "ten_xa": ["Xã Á"]}, geometry=[shapely.box(X0 - 100, Y0 - 100, X0 + 200, Y0 + 100)], crs=9207
    ).to_file(columns / "xa.gpkg")
    args = [
        "hazards",
        "--plan",
        str(plan),
        "--plan-field",
        "code",
        "--hazards",
        str(columns / "HAZARDS.yaml"),
        "--admin",
        str(columns / "xa.gpkg"),
        "--admin-field",
        "ma_xa",
        "--admin-name-field",
        "ten_xa",
        "-q",
    ]
    assert _code(args + ["--out", str(columns / "vi"), "--report", "html,xlsx,pdf"]) == 1
    assert _code(args + ["--out", str(columns / "en"), "--report", "html", "--english"]) == 1
    page = (columns / "vi" / "report.html").read_text(encoding="utf-8")
    assert "Sàng lọc ngập: Ngập do nước biển dâng" in page and "Kịch bản thử nghiệm" in page
    assert "0,0520" in page and "0,0390" in page and "0,0182" in page  # ha, Vietnamese decimals
    assert "Theo xã, phường" in page and "Xã Á" in page and "Theo loại đất quy hoạch" in page
    english = (columns / "en" / "report.html").read_text(encoding="utf-8")
    assert "Hazard screening: Sea-level rise flooding" in english and "0.0520" in english
    wb = openpyxl.load_workbook(columns / "vi" / "report.xlsx")
    rows = list(wb["Ngập - tổng hợp"].iter_rows(values_only=True))
    header = rows[0]
    got = {r[header.index("Quy tắc")]: r[header.index("Diện tích (ha)")] for r in rows[1:]}
    assert got == pytest.approx({"R1": 0.039, "R2": 0.052, "R3": 0.0182}, rel=1e-4)
    findings = list(wb["Ngập - chi tiết"].iter_rows(values_only=True))
    assert len(findings) == 4 and "Sâu TB (m)" in findings[0]
    text = "".join(p.extract_text() for p in PdfReader(columns / "vi" / "report.pdf").pages)
    assert "Sàng lọc ngập" in text and "Kịch bản thử nghiệm" in text


def test_batch_with_hazards_in_the_registry(columns):
    """`hazards:` in a registry: each plan's folder has hazards.gpkg, the province summary adds up
    the plans (520 m² of R2 in each of two identical plans = 1,040 m²); a missing file is exit 2."""
    import yaml

    from kgspatial.batch import BatchOptions, run_batch
    from kgspatial.errors import RegistryError

    gpd.GeoDataFrame(
        {"MA_QH": ["ODT"]}, geometry=[shapely.box(X0 - 100, Y0 - 100, X0 + 100, Y0 + 100)], crs=9207
    ).to_file(columns / "master.gpkg")
    for name in ("a", "b"):
        write_plan(columns / f"{name}.gpkg", [shapely.box(X0 + 5, Y0 - 33, X0 + 47, Y0 - 7)])
    registry = {
        "province": "kien-giang",
        "master": {"path": "master.gpkg", "code_field": "MA_QH", "label_field": None},
        "hazards": "HAZARDS.yaml",
        "plans": [
            {
                "id": n,
                "name": f"Quy hoạch {n}",
                "type": "urban_zoning",
                "path": f"{n}.gpkg",
                "code_field": "code",
                "label_field": "ten",
            }
            for n in ("a", "b")
        ],
    }
    (columns / "registry.yaml").write_text(yaml.safe_dump(registry, allow_unicode=True), encoding="utf-8")
    result = run_batch(
        BatchOptions(registry=columns / "registry.yaml", out=columns / "out", formats=("html",), plan_maps=False)
    )
    assert result.exit_code == 1
    for n in ("a", "b"):
        rows = pyogrio.read_dataframe(columns / "out" / n / "hazards.gpkg", layer="hazards")
        assert _by_rule(rows) == pytest.approx({"R1": 390.0, "R2": 520.0, "R3": 182.0}, rel=1e-4)
    summary = json.loads((columns / "out" / "summary.json").read_text(encoding="utf-8"))
    r2 = next(b for b in summary["hazards"]["layers"][0]["bands"] if b["rule_id"] == "R2")
    assert r2["area_m2"] == pytest.approx(1040.0, rel=1e-4)
    assert {p["plan_id"]: p["area_m2"] for p in r2["by_plan"]} == pytest.approx({"a": 520.0, "b": 520.0}, rel=1e-4)
    assert "Sàng lọc ngập" in (columns / "out" / "report.html").read_text(encoding="utf-8")
    registry["hazards"] = "khong_co/HAZARDS.yaml"
    (columns / "registry.yaml").write_text(yaml.safe_dump(registry, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RegistryError, match="hazards: file not found"):
        run_batch(BatchOptions(registry=columns / "registry.yaml", out=columns / "out2", formats=()))
    assert not (columns / "out2").exists()


# ----------------------------------------------------------------------------------- review fixes


def test_straight_lines_north_south_and_east_west_are_screened(columns):
    # exactextract finds no cell for a line whose box has no width or height.  N-S at x = 25 m,
    # y -5..-35: 30 m all in column 2 (0.8 m) -> R2 30 m.  E-W at y = -15, x 5..45: R1 x 5-20
    # 15 m, R2 x 20-40 20 m, R3 x 40-45 5 m.
    # A multi-line of two N-S pieces at x = 35 m (y -5..-15 and -25..-35): R2 20 m.
    lines = [
        shapely.LineString([(X0 + 25, Y0 - 5), (X0 + 25, Y0 - 35)]),
        shapely.LineString([(X0 + 5, Y0 - 15), (X0 + 45, Y0 - 15)]),
        shapely.MultiLineString([[(X0 + 35, Y0 - 5), (X0 + 35, Y0 - 15)], [(X0 + 35, Y0 - 25), (X0 + 35, Y0 - 35)]]),
    ]
    rows = _run(columns, write_plan(columns / "plan.gpkg", lines, codes=["DGT"] * 3)).result.findings
    ids = sorted(rows["plan_feature"].unique())
    ns, ew, multi = (rows[rows["plan_feature"] == k] for k in ids)
    assert _by_rule(multi, "length_m") == pytest.approx({"R2": 20.0}, rel=1e-6)
    assert multi.iloc[0]["mean_depth"] == pytest.approx(0.8)
    assert _by_rule(ns, "length_m") == pytest.approx({"R2": 30.0}, rel=1e-6)
    assert ns.iloc[0]["mean_depth"] == pytest.approx(0.8) and ns.iloc[0]["share"] == pytest.approx(1.0)
    assert _by_rule(ew, "length_m") == pytest.approx({"R1": 15.0, "R2": 20.0, "R3": 5.0}, rel=1e-6)
    assert ew.set_index("rule_id").loc["R3", "max_depth"] == pytest.approx(1.6)
    assert (rows["verdict"] != "unknown").all()


def test_lines_along_a_band_edge_are_counted_once_in_the_deeper_band(columns):
    # x = 20 m is the edge of columns 1 (0.2 m) and 2 (0.8 m): the N-S line y -5..-35 there is
    # 30 m of R2 (the deeper side, as for points), not 30 m of each.  The bent line (5,-15) ->
    # (20,-15) -> (20,-35) -> (35,-35): 15 m in R1, 20 m on the edge (R2), 15 m inside row 3 of
    # columns 2-3 (R2): R1 15 m, R2 35 m, 50 m in all.
    lines = [
        shapely.LineString([(X0 + 20, Y0 - 5), (X0 + 20, Y0 - 35)]),
        shapely.LineString([(X0 + 5, Y0 - 15), (X0 + 20, Y0 - 15), (X0 + 20, Y0 - 35), (X0 + 35, Y0 - 35)]),
    ]
    rows = _run(columns, write_plan(columns / "plan.gpkg", lines, codes=["DGT", "DGT"])).result.findings
    first = rows["plan_feature"] == rows["plan_feature"].min()
    assert _by_rule(rows[first], "length_m") == pytest.approx({"R2": 30.0}, rel=1e-6)
    assert _by_rule(rows[~first], "length_m") == pytest.approx({"R1": 15.0, "R2": 35.0}, rel=1e-6)
    assert rows.loc[~first, "share"].sum() == pytest.approx(1.0)


def test_an_east_west_line_half_on_no_data(tmp_path):
    # Columns 0-1 no data, 2-3 0.8 m; the line y = -15, x 5..35: 15 m unknown, 15 m in R2.
    values = np.full((4, 4), 0.8)
    values[:, :2] = -9999
    write_raster(tmp_path / "depth.tif", values)
    write_hazards(tmp_path)
    line = shapely.LineString([(X0 + 5, Y0 - 15), (X0 + 35, Y0 - 15)])
    rows = _run(tmp_path, write_plan(tmp_path / "plan.gpkg", [line], codes=["DGT"])).result.findings.set_index(
        "verdict"
    )
    assert rows.loc["conflict", "length_m"] == pytest.approx(15.0) and rows.loc["unknown", "length_m"] == pytest.approx(
        15.0
    )
    assert rows.loc["conflict", "unknown_m"] == pytest.approx(15.0) and rows.loc[
        "conflict", "mean_depth"
    ] == pytest.approx(0.8)


def _int16_centimetres(path):
    # Int16 centimetres, scale 0.01: columns 0-1 20 (0.2 m), 2-3 80 (0.8 m); cell (row 3, col 0)
    # no data (-32768).
    values = np.array([[20, 20, 80, 80]] * 4, dtype="int16")
    values[3, 0] = -32768
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=4,
        width=4,
        count=1,
        dtype="int16",
        crs="EPSG:9207",
        transform=from_origin(X0, Y0, 10, 10),
        nodata=-32768,
    ) as ds:
        ds.write(values, 1)
        ds.scales, ds.offsets = (0.01,), (0.0,)
    return path


def test_scaled_integer_raster_gives_metres_everywhere(tmp_path):
    # Box x 5..35, y -5..-35 (900 m²): R1 x 5-20 x 30 m = 450 m² less the no-data cell's part
    # (x 5-10, y -30..-35: 25 m²) = 425 m²; R2 x 20-35: 450 m²; unknown 25 m².  Unscaled, 20 and
    # 80 "m" are both R3 and -32768 * 0.01 = -327.68 m would pass for dry land.
    _int16_centimetres(tmp_path / "depth.tif")
    write_hazards(tmp_path)
    plan = write_plan(tmp_path / "plan.gpkg", [shapely.box(X0 + 5, Y0 - 35, X0 + 35, Y0 - 5)])
    rows = _run(tmp_path, plan).result.findings
    assert _by_rule(rows[rows["verdict"] != "unknown"]) == pytest.approx({"R1": 425.0, "R2": 450.0}, rel=1e-6)
    assert rows.loc[rows["verdict"] == "unknown", "area_m2"].sum() == pytest.approx(25.0)
    by = rows[rows["verdict"] != "unknown"].set_index("rule_id")
    assert by.loc["R1", "mean_depth"] == pytest.approx(0.2) and by.loc["R2", "max_depth"] == pytest.approx(0.8)
    pts = [shapely.Point(X0 + 5, Y0 - 5), shapely.Point(X0 + 25, Y0 - 5), shapely.Point(X0 + 5, Y0 - 35)]
    rows = _run(tmp_path, write_plan(tmp_path / "pts.gpkg", pts, codes=["DNL"] * 3)).result.findings.sort_values(
        "plan_feature"
    )
    assert list(rows["verdict"]) == ["conditional", "conflict", "unknown"]
    assert list(rows["max_depth"].round(3)[:2]) == [0.2, 0.8]


def test_scaled_raster_on_the_map_image(tmp_path):
    # The band image colours 0.2 m as band 0 (> 0 m) and 0.8 m as band 1 (> 0.5 m), not 20 / 80.
    from kgspatial import crs as crs_mod
    from kgspatial.hazard_map import BAND_COLORS, NODATA_COLOR, _rgb, band_image
    from kgspatial.hazards import load_hazards, open_raster
    from kgspatial.profile import load_profile

    _int16_centimetres(tmp_path / "depth.tif")
    config = load_hazards(write_hazards(tmp_path), load_profile("kien-giang").load_taxonomy())
    raster = open_raster(config.layers[0])
    box = crs_mod.transform_geometries(
        np.array([shapely.box(X0, Y0 - 40, X0 + 40, Y0)], dtype=object), "EPSG:9207", "EPSG:3857"
    )[0]
    image, _ = band_image(raster, [0.0, 0.5, 1.0], shapely.bounds(box), max_pixels=40)
    raster.close()
    h, w = image.shape[:2]
    assert tuple(image[h // 4, w // 8, :3]) == _rgb(BAND_COLORS[0])  # column 0, row 0: 0.2 m
    assert tuple(image[h // 4, 5 * w // 8, :3]) == _rgb(BAND_COLORS[1])  # column 2: 0.8 m
    assert tuple(image[7 * h // 8, w // 8, :3]) == NODATA_COLOR  # the no-data cell


def test_an_internal_mask_band_is_no_data_everywhere(tmp_path):
    # 4 x 4 cells of 0.2 m whose internal mask hides columns 0-1.  The raster's box (1600 m²):
    # 800 m² R1, 800 m² unknown; a point on a hidden cell is unknown.
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(
            tmp_path / "depth.tif",
            "w",
            driver="GTiff",
            height=4,
            width=4,
            count=1,
            dtype="float32",
            crs="EPSG:9207",
            transform=from_origin(X0, Y0, 10, 10),
        ) as ds:
            ds.write(np.full((4, 4), 0.2, dtype="float32"), 1)
            mask = np.full((4, 4), 255, dtype="uint8")
            mask[:, :2] = 0
            ds.write_mask(mask)
    write_hazards(tmp_path)
    plan = write_plan(
        tmp_path / "plan.gpkg",
        [shapely.box(X0, Y0 - 40, X0 + 40, Y0), shapely.Point(X0 + 5, Y0 - 5)],
        codes=["ODT", "DNL"],
    )
    rows = _run(tmp_path, plan).result.findings
    polys = rows[rows["kind"] == "polygon"].set_index("verdict")
    assert polys.loc["conditional", "area_m2"] == pytest.approx(800.0)
    assert polys.loc["unknown", "area_m2"] == pytest.approx(800.0)
    assert list(rows.loc[rows["kind"] == "point", "verdict"]) == ["unknown"]


def test_a_few_no_data_cells_in_a_large_zone_are_unknown(tmp_path):
    # 1000 x 1000 cells of 10 m (100 km²) of 0.2 m with a 3 x 3 block of no data: 900 m²
    # unknown, 99,999,100 m² R1.  9 cells are 9e-6 of the zone: a relative tolerance of 1e-5
    # called it complete.
    values = np.full((1000, 1000), 0.2, dtype="float32")
    values[500:503, 500:503] = -9999
    write_raster(tmp_path / "depth.tif", values)
    write_hazards(tmp_path)
    plan = write_plan(tmp_path / "plan.gpkg", [shapely.box(X0, Y0 - 10_000, X0 + 10_000, Y0)])
    run = _run(tmp_path, plan)
    rows = run.result.findings.set_index("verdict")
    assert rows.loc["unknown", "area_m2"] == pytest.approx(900.0, rel=1e-6)
    assert rows.loc["conditional", "area_m2"] == pytest.approx(1e8 - 900, rel=1e-9)
    assert any("unknown, not safe" in w for w in run.summary["warnings"])


def test_large_parts_are_screened_tile_by_tile_with_the_same_figures(columns, monkeypatch):
    # Tiles of 2 x 2 cells (20 m): every part below spans several.  The figures and rows are those
    # of the untiled screening: polygon R1 390, R2 520, R3 182 m² (one row each, union 1092 m²);
    # the line y = -20 along a tile edge (and a row edge) x 5..45: R1 15, R2 20, R3 5 m, counted
    # once.
    import kgspatial.hazards as hz

    monkeypatch.setattr(hz, "TILE", 2)
    monkeypatch.setattr(hz, "TILE_CELLS", 4)
    plan = write_plan(
        columns / "plan.gpkg",
        [shapely.box(X0 + 5, Y0 - 33, X0 + 47, Y0 - 7), shapely.LineString([(X0 + 5, Y0 - 20), (X0 + 45, Y0 - 20)])],
        codes=["ODT", "DGT"],
    )
    rows = _run(columns, plan).result.findings
    poly, line = rows[rows["kind"] == "polygon"], rows[rows["kind"] == "line"]
    assert _by_rule(poly) == pytest.approx({"R1": 390.0, "R2": 520.0, "R3": 182.0}, rel=1e-6) and len(poly) == 3
    assert shapely.union_all(poly.geometry.values).area == pytest.approx(1092.0)
    assert poly["share"].sum() == pytest.approx(1.0) and poly.set_index("rule_id").loc[
        "R2", "mean_depth"
    ] == pytest.approx(0.8)
    assert _by_rule(line, "length_m") == pytest.approx({"R1": 15.0, "R2": 20.0, "R3": 5.0}, rel=1e-6) and len(line) == 3


def test_tiles_keep_no_data_unknown(tmp_path, monkeypatch):
    # The no-data corner scene (800 m² R2, 100 m² unknown) cut in 20 m tiles: one row each.
    import kgspatial.hazards as hz

    monkeypatch.setattr(hz, "TILE", 2)
    monkeypatch.setattr(hz, "TILE_CELLS", 4)
    values = np.full((4, 4), 0.8)
    values[:2, :2] = -9999
    write_raster(tmp_path / "depth.tif", values)
    write_hazards(tmp_path)
    plan = write_plan(tmp_path / "plan.gpkg", [shapely.box(X0 + 10, Y0 - 40, X0 + 40, Y0 - 10)])
    rows = _run(tmp_path, plan).result.findings.set_index("verdict")
    assert len(rows) == 2 and rows.loc["conflict", "area_m2"] == pytest.approx(800.0)
    assert rows.loc["unknown", "area_m2"] == pytest.approx(100.0) and rows.loc[
        "conflict", "unknown_m2"
    ] == pytest.approx(100.0)


def test_hazard_names_are_text_in_the_map_and_ids_must_be_text(columns, capsys):
    # A name with markup reaches the layer control, the legend and the popups as text, never as
    # a tag; an id written as a list ([1, 2]) is refused (exit 2), not turned into "[1, 2]".
    yaml_path = columns / "HAZARDS.yaml"
    text = yaml_path.read_text(encoding="utf-8").replace("Sea-level rise flooding", "<img src=x onerror=alert(1)>")
    yaml_path.write_text(text, encoding="utf-8")
    plan = write_plan(columns / "plan.gpkg", [shapely.box(X0 + 5, Y0 - 33, X0 + 47, Y0 - 7)])
    out = columns / "out"
    assert (
        _code(
            [
                "hazards",
                "--plan",
                str(plan),
                "--plan-field",
                "code",
                "--hazards",
                str(yaml_path),
                "--out",
                str(out),
                "--map",
                "-q",
            ]
        )
        == 1
    )
    page = (out / "map.html").read_text(encoding="utf-8")
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    yaml_path.write_text(text.replace("id: slr", "id: [1, 2]"), encoding="utf-8")
    code, err = _exit(
        ["hazards", "--plan", str(plan), "--hazards", str(yaml_path), "--out", str(columns / "o2"), "-q"], capsys
    )
    assert code == 2 and "[1, 2]" in err and "không phải chuỗi ký tự / is not a text id" in err
    assert "missing" not in err.split("layers[0]")[1].split(";")[0]


def test_hazard_popups_escape_each_text_once():
    # maps._row escapes its value: escaping before it too showed "&amp;lt;b&amp;gt;" for "<b>".
    from kgspatial.hazard_map import _popup

    row = {
        "plan_id": "p",
        "plan_feature": 1,
        "plan_code": "ODT",
        "plan_label": "Khu <b>A</b> & B",
        "min_depth": 0.5,
        "verdict": "conflict",
        "severity": "high",
        "rule_id": "R2",
        "reference": "QĐ <i>1</i>",
        "max_depth": 0.8,
        "mean_depth": 0.8,
        "kind": "polygon",
        "area_m2": 520.0,
        "length_m": 0.0,
    }
    page = _popup(row, {"name_vi": "<script>x</script>", "name_en": "e", "scenario": "RCP <8.5>"}, {})
    assert (
        "Khu &lt;b&gt;A&lt;/b&gt; &amp; B" in page and "QĐ &lt;i&gt;1&lt;/i&gt;" in page and "RCP &lt;8.5&gt;" in page
    )
    assert "&amp;lt;" not in page and "<script>" not in page and "<b>" not in page


@pytest.mark.parametrize("scene", ["epsg4326", "utm"])
def test_tiles_of_a_raster_in_another_crs(tmp_path, monkeypatch, scene):
    # The tiles' edges are reprojected with the cells': the EPSG:4326 and UTM figures hold (0.1 %).
    import kgspatial.hazards as hz

    monkeypatch.setattr(hz, "TILE", 2)
    monkeypatch.setattr(hz, "TILE_CELLS", 4)
    (test_raster_in_epsg4326_through_the_official_parameters if scene == "epsg4326" else test_utm_raster)(tmp_path)


def test_a_tie_between_plan_codes_names_the_table_once(columns, capsys):
    """LUA (rice land) and NNP (agricultural land) are both groups holding LUC: score 1 each for
    it, a tie (§3, §8). The message names the table once (it said "hazard_rules.csv:
    hazard_rules.csv: hazard slr: …"), Vietnamese first."""
    write_hazards(
        columns,
        rules="rule_id,plan_code,hazard_id,min_depth,verdict,severity\n"
        "A0,LUA,slr,0,conflict,high\nA1,NNP,slr,0,conditional,low\n",
    )
    plan = write_plan(columns / "plan.gpkg", [shapely.box(X0 + 5, Y0 - 33, X0 + 47, Y0 - 7)])
    code, err = _exit(
        ["hazards", "--plan", str(plan), "--hazards", str(columns / "HAZARDS.yaml"), "--out", str(columns / "o"), "-q"],
        capsys,
    )
    assert code == 2, err
    assert err.count("hazard_rules.csv") == 1, err
    assert (
        "hiểm họa slr: các mã quy hoạch LUA và NNP ngang nhau cho mã quy hoạch LUC / hazard slr: plan codes"
        " LUA and NNP tie for plan code LUC"
    ) in err
