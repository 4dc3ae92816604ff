"""The service at the batch's level: pre-2025 units (uploaded with period=previous) split the
pieces as `kgspatial check --admin-previous` does, the service's maps draw the communes and name
the old unit, its XLSX has the sheets the batch's has.

Units before 7/2025 (by hand, tests/geoms.py frame): C [0,200]×[0,100] and D [0,200]×[100,200].
Pieces in C: KDC-01 on LUC 2500 m² and on RPH 2500, CCN-1 on RPH 800 (its [80,100] band), DT963
90 + 90 m -> 5800 m², 180 m. In D: CHO-1 on ODT 3600 m².
"""

from __future__ import annotations

import io
import re

import geopandas as gpd
import openpyxl
import pytest

from kgspatial.check import AdminInput, CheckOptions, PlanInput, run_check
from kgspatial.reports import write_check_reports
from tests import geoms
from tests.api.test_pages import csrf, rows, signin


def _old_units(path):
    gpd.GeoDataFrame(
        {"ma_xa": ["C", "D"], "ten_xa": ["Xã Vĩnh Thanh Vân (cũ)", "Xã Phi Thông (cũ)"]},
        geometry=[geoms.box(0, 0, 200, 100), geoms.box(0, 100, 200, 200)],
        crs=geoms.CRS,
    ).to_file(path)
    return path


@pytest.fixture()
def with_units(api, scene, scene_files, tmp_path):
    signin(api, "admin")
    token = csrf(api.client.get("/admin").text)
    for name, path, period in (
        ("Xã 2025", scene_files / "xa.gpkg", ""),
        ("Xã trước 2025", _old_units(tmp_path / "xa_cu.gpkg"), "previous"),
    ):
        with open(path, "rb") as f:
            r = api.client.post(
                "/admin/admin-units",
                data={"csrf": token, "name": name, "period": period},
                files={"file": (path.name, f)},
                follow_redirects=False,
            )
        assert r.status_code == 303, r.text
    units = {u["name"]: u for u in api.get("/api/v1/admin-units").json()["items"]}
    assert units["Xã 2025"]["kind"] == "admin" and units["Xã trước 2025"]["kind"] == "admin_prev"
    check = api.post("/api/v1/checks", "planner", json={"plan_id": scene["plan"]}).json()
    assert check["admin_id"] == units["Xã 2025"]["id"] and check["admin_prev_id"] == units["Xã trước 2025"]["id"]
    assert api.wait(check["id"], "planner")["status"] == "successful"
    return {**scene, "check": check["id"], "old": tmp_path / "xa_cu.gpkg"}


def test_pre_2025_units_split_the_pieces(api, with_units):
    check = with_units["check"]
    feats = api.get(f"/api/v1/checks/{check}/conflicts", "viewer").json()["features"]
    by_old: dict[str, list[float]] = {}
    for f in feats:
        p = f["properties"]
        acc = by_old.setdefault(p["admin_prev_code"], [0.0, 0.0])
        acc[0] += p["area_m2"]
        acc[1] += p["length_m"]
    assert by_old == {"C": [pytest.approx(5800), pytest.approx(180)], "D": [pytest.approx(3600), pytest.approx(0)]}
    summary = api.get(f"/api/v1/checks/{check}", "viewer").json()["summary"]
    old = {g["admin_prev_code"]: g["area_m2"] for g in summary["by_admin_previous"]}
    assert old == {"C": pytest.approx(5800), "D": pytest.approx(3600)}
    signin(api, "viewer")
    page = api.client.get(f"/checks/{check}", params={"sort": "area_m2"}).text
    assert "<th>Xã cũ (trước 2025)</th>" in page
    assert rows(page)[0][2][-1] == "Xã Phi Thông (cũ)"  # CHO-1, 3600 m², in D
    map_html = api.client.get(f"/api/v1/checks/{check}/map").text
    assert '"communes": 2' in map_html  # both communes drawn (the service passed none before)
    assert "Phường Vĩnh Thanh (A)" in map_html
    assert "Đơn vị trước 7/2025" in map_html and "Xã Phi Thông (cũ)" in map_html  # popups name the old unit


def test_service_xlsx_has_the_sheets_of_the_cli(api, with_units, scene_files, tmp_path):
    """The same inputs through `kgspatial check --admin --admin-previous` (run_check) and the
    service: the XLSX reports have the same sheets."""
    rules = tmp_path / "rules.csv"
    rules.write_text(geoms.RULES_CSV, encoding="utf-8")
    result = run_check(
        CheckOptions(
            master=str(scene_files / "master.gpkg"),
            plans=[PlanInput(str(scene_files / "plan.gpkg"), id_field="so_hieu")],
            admin=AdminInput(str(scene_files / "xa.gpkg")),
            admin_previous=AdminInput(str(with_units["old"])),
            rules=str(rules),
        )
    )
    write_check_reports(result, tmp_path, ["xlsx"])
    cli_sheets = openpyxl.load_workbook(tmp_path / "report.xlsx").sheetnames
    served = api.get(f"/api/v1/checks/{with_units['check']}/report", "viewer", params={"format": "xlsx"})
    sheets = openpyxl.load_workbook(io.BytesIO(served.content)).sheetnames
    assert "Theo xã cũ" in cli_sheets
    assert sheets == cli_sheets


def test_period_must_be_current_or_previous(api, scene_files):
    r = api.upload("admin-units", scene_files / "xa.gpkg", name="x", period="2024")
    assert r.status_code == 422 and "period '2024'" in r.json()["detail"]
    assert api.get("/api/v1/admin-units").json()["total"] == 0
    assert re.search("previous", r.json()["detail"])
