"""The service's messages as a planner reads them (issue 16): Vietnamese first, form fields named
as the form names them, and the four misleading answers fixed (empty plan_id, plan_type,
assume_crs=VN2000, the admin units' code_field)."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests import geoms
from tests.test_messages import vietnamese_first

pytestmark = pytest.mark.parametrize("store_kind", ["embedded"])  # wording, not storage


def _shapefile_zip(tmp_path, drop=(".prj",)) -> bytes:
    folder = tmp_path / "shp"
    folder.mkdir()
    geoms.plan_frame().iloc[[0, 3]].to_file(folder / "qh.shp")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for part in sorted(folder.iterdir()):
            if part.suffix not in drop:
                zf.write(part, part.name)
    return buf.getvalue()


@pytest.mark.parametrize("plan_id", ["", "   "])
def test_an_empty_plan_id_is_a_422_not_plan_not_found(api, scene, plan_id):
    r = api.post("/api/v1/checks", "planner", json={"plan_id": plan_id})
    assert r.status_code == 422, r.text
    message = r.json()["detail"][0]["msg"]
    assert "plan_id không được để trống" in message and "plan_id must not be empty" in message
    assert "not found" not in r.text
    assert api.get("/api/v1/checks", "planner").json()["items"] == []


def test_a_bad_plan_type_lists_the_types_with_their_vietnamese_names(api, scene_files):
    with open(scene_files / "plan.gpkg", "rb") as f:
        r = api.post(
            "/api/v1/plans", "planner", files={"file": ("p.gpkg", f)}, data={"name": "x", "plan_type": "castle"}
        )
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail.startswith(
        "plan_type: 'castle' không phải là loại quy hoạch; các loại: urban_general (Quy hoạch"
        " chung đô thị), urban_zoning (Quy hoạch phân khu đô thị), rural (Quy hoạch chung xã"
    )
    assert "sectoral_<ngành> (Quy hoạch ngành: transport = giao thông" in detail
    assert "'castle' is not a plan type; use urban_general (Urban general plan)" in detail


def test_assume_crs_vn2000_on_metres_suggests_epsg_9207(api, tmp_path):
    payload = _shapefile_zip(tmp_path)
    r = api.post(
        "/api/v1/plans",
        "planner",
        files={"file": ("qh.zip", payload)},
        data={"name": "thử", "plan_type": "rural", "assume_crs": "VN2000"},
    )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith("qh.zip: tọa độ như x = 560.150, y = 1.100.025 không phải là độ"), detail
    assert "ví dụ EPSG:9207 (VN-2000 / TM-3 104-30, Kiên Giang)" in detail and "e.g. EPSG:9207" in detail
    assert str(api.settings.data_dir) not in detail
    r = api.post(
        "/api/v1/plans",
        "planner",
        files={"file": ("qh.zip", payload)},
        data={"name": "thử", "plan_type": "rural", "assume_crs": "EPSG:9207"},
    )
    assert r.status_code == 201, r.text  # what it suggests works


def test_no_crs_names_the_form_field_in_both_languages(api, tmp_path):
    r = api.post(
        "/api/v1/plans",
        "planner",
        files={"file": ("qh.zip", _shapefile_zip(tmp_path))},
        data={"name": "thử", "plan_type": "rural"},
    )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert vietnamese_first(detail), detail
    assert "hãy khai báo bằng trường assume_crs, ví dụ assume_crs=EPSG:9207" in detail
    assert "give one in the form field assume_crs, e.g. assume_crs=EPSG:9207" in detail
    assert "--" not in detail and "tùy chọn" not in detail  # no command-line wording in a form's answer


def test_admin_units_code_field_is_the_unit_code(api, scene_files):
    form = api.client.get("/openapi.json").json()["paths"]["/api/v1/admin-units"]["post"]["requestBody"]
    described = form["content"]["multipart/form-data"]["schema"]["properties"]["code_field"]["description"]
    assert "land-use" not in described and "commune" in described
    with open(scene_files / "xa.gpkg", "rb") as f:
        r = api.post(
            "/api/v1/admin-units",
            "admin",
            files={"file": ("xa.gpkg", f)},
            data={"name": "Xã", "code_field": "khong_co"},
        )
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert detail.startswith("xa.gpkg: không có trường 'khong_co' cho mã đơn vị hành chính; các trường: ma_xa, ten_xa")
    assert "no field 'khong_co' for the unit code" in detail and "land-use" not in detail


def test_a_zip_with_too_many_members_says_it_in_vietnamese_first(make_settings, tmp_path):
    from fastapi.testclient import TestClient

    from api import create_app

    app = create_app(make_settings(max_members=1200))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(1201):
            zf.writestr(f"f{i}.txt", "")
    with TestClient(app) as client:
        key = app.state.store.create_key("p", "planner")[1]
        r = client.post(
            "/api/v1/plans",
            headers={"Authorization": f"Bearer {key}"},
            files={"file": ("nhieu.zip", buf.getvalue())},
            data={"name": "x", "plan_type": "rural"},
        )
    assert r.status_code == 413
    assert r.json()["detail"] == (
        "nhieu.zip: tệp zip có 1.201 tệp; chỉ nhận tối đa 1.200 / 1,201 zip members; at most 1,200 are accepted"
    )
