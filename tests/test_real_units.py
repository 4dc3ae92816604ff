"""The real communes of ../shared/data as admin layers (post-2025 and pre-2025 units).

A planted conflict rectangle near Rạch Giá is split at real commune borders: the pieces add up to
the rectangle's area (w × h, by hand), and each commune's share equals what geopandas.overlay
(another tool) finds for that commune.
"""

from __future__ import annotations

import geopandas as gpd
import pyproj
import pytest
import shapely
from pyproj.transformer import TransformerGroup

from kgspatial.check import AdminInput, CheckOptions, PlanInput, run_check

RULES = "rule_id,plan_code,master_code,verdict,severity,reference\nR1,ODT,LUC,conflict,high,Luật Đất đai 2024\n"
W, H = 6000.0, 4000.0  # the planted rectangle, metres


@pytest.fixture(scope="module")
def scene(tmp_path_factory, shared_data):
    tmp = tmp_path_factory.mktemp("real")
    # Rạch Giá, approx. 105.09 E, 10.01 N (OpenStreetMap); into EPSG:9207 for a square scene.
    x, y = pyproj.Transformer.from_crs(4326, 9207, always_xy=True).transform(105.12, 10.0)
    master = gpd.GeoDataFrame(
        {"MA_QH": ["LUC"]}, geometry=[shapely.box(x - 20000, y - 20000, x + 20000, y + 20000)], crs=9207
    )
    plan = gpd.GeoDataFrame(
        {"ma": ["ODT"]}, geometry=[shapely.box(x - W / 2, y - H / 2, x + W / 2, y + H / 2)], crs=9207
    )
    master.to_file(tmp / "master.gpkg")
    plan.to_file(tmp / "plan.gpkg")
    (tmp / "rules.csv").write_text(RULES, encoding="utf-8")
    return tmp


def run(scene, admin, previous=None):
    return run_check(
        CheckOptions(
            master=str(scene / "master.gpkg"),
            plans=[PlanInput(str(scene / "plan.gpkg"))],
            rules=str(scene / "rules.csv"),
            admin=admin,
            admin_previous=previous,
        )
    )


def test_post_and_pre_2025_units(scene, shared_data):
    new = AdminInput(f"{shared_data / 'an_giang_2025_wards_sapnhap.gpkg'}::wards", "code", "name")
    old = AdminInput(f"{shared_data / 'kg_pre2025_admin_censusVN2009.gpkg'}::communes", "commune_id", "commune_vn")
    result = run(scene, new, old)
    c = result.conflicts
    assert c["area_m2"].sum() == pytest.approx(W * H, rel=1e-9)  # every m² once
    assert c["admin_code"].nunique() >= 2 and c["admin_prev_code"].nunique() >= 2
    assert set(c.columns) >= {"admin_code", "admin_name", "admin_prev_code", "admin_prev_name"}

    # Independent: geopandas.overlay of the rectangle with the post-2025 wards.
    # Projected with 'VN-2000 to WGS 84 (2)' chosen here by pyproj directly: PROJ's default
    # ('(1)' here) shifts the borders 0.8 m, i.e. about 3,300 m² inside this rectangle.
    wards = gpd.read_file(shared_data / "an_giang_2025_wards_sapnhap.gpkg", layer="wards")
    official = next(
        t for t in TransformerGroup(4326, 9207, always_xy=True).transformers if "VN-2000 to WGS 84 (2)" in t.description
    )
    wards = wards.set_geometry(
        shapely.transform(wards.geometry.values, lambda x, y: official.transform(x, y), interleaved=False), crs=9207
    )
    rect = gpd.read_file(scene / "plan.gpkg")
    expected = gpd.overlay(rect, wards[["code", "geometry"]], how="intersection")
    expected = expected.assign(a=expected.area).groupby("code")["a"].sum()
    got = c[c.admin_code != ""].groupby("admin_code")["area_m2"].sum()
    overlap = result.summary["inputs"]["admin"]["overlap_area_m2"]
    for code, area in expected.items():
        # shared borders may overlap a little; the overlap goes to one unit only
        assert got.get(str(code), 0.0) == pytest.approx(area, abs=max(1.0, overlap))
    names = set(c["admin_name"])
    assert any("Rạch Giá" in n or "Vĩnh" in n for n in names), names


def test_messy_simplified_units(scene, shared_data):
    """The simplified layer has two invalid geometries and small overlaps: repaired, counted once."""
    units = AdminInput(str(shared_data / "an_giang_2025_wards_simplified_pop_vn3dmap.geojson"), "id", "name")
    result = run(scene, units)
    info = result.summary["inputs"]["admin"]
    assert info["geometries_repaired"] >= 2
    assert result.conflicts["area_m2"].sum() == pytest.approx(W * H, rel=1e-9)
