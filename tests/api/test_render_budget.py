"""The service's map of a 100 000-part plan stays within the vertex budget; layers beyond the
feature and vertex limits are refused with 413 (both stores)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api import create_app
from tests import geoms
from tests.test_render_budget import CONFLICT_M2, assert_bounded, many_parts_plan, split_master


def test_map_of_100k_parts_is_bounded(api, tmp_path):
    (tmp_path / "rules.csv").write_text(geoms.RULES_CSV, encoding="utf-8")
    r = api.upload("masters", split_master(tmp_path / "master.gpkg"), name="QH tỉnh")
    assert r.status_code == 201, r.text
    rules = api.upload("rules", tmp_path / "rules.csv", name="thử").json()["id"]
    r = api.upload("plans", many_parts_plan(tmp_path / "phan_tan.gpkg"), "planner", name="Phân tán", plan_type="rural")
    assert r.status_code == 201, r.text
    check = api.post("/api/v1/checks", "planner", json={"plan_id": r.json()["id"], "rules_id": rules}).json()["id"]
    body = api.wait(check, "planner", timeout=120)
    assert body["status"] == "successful", body
    assert abs(body["summary"]["totals"]["conflict_area_m2"] - CONFLICT_M2) < 1e-3
    r = api.get(f"/api/v1/checks/{check}/map", "planner")
    assert r.status_code == 200
    assert_bounded(r.text)


def test_layer_over_the_feature_or_vertex_limit_is_413(make_settings, tmp_path):
    """The scene's plan has 6 features and 5+2+1+5+5+5 = 23 vertices (boxes close on their first point)."""
    path = tmp_path / "kế-hoạch.gpkg"
    geoms.plan_frame().to_file(path)
    for limits, detail in (
        ({"max_features": 5}, "kế-hoạch.gpkg: lớp có 6 đối tượng, quá 5 đối tượng cho phép"),
        ({"max_vertices": 22}, "kế-hoạch.gpkg: lớp có 23 đỉnh, quá 22 đỉnh cho phép"),
    ):
        app = create_app(make_settings(**limits))
        with TestClient(app) as client:
            key = app.state.store.create_key("p", "planner")[1]
            h = {"Authorization": f"Bearer {key}"}
            with open(path, "rb") as f:
                r = client.post(
                    "/api/v1/plans", headers=h, files={"file": (path.name, f)}, data={"name": "x", "plan_type": "rural"}
                )
            assert r.status_code == 413 and r.json()["detail"].startswith(detail), r.text
            assert " / 6 features, more than the 5" in r.text or " / 23 vertices, more than the 22" in r.text
            assert "KGSPATIAL_MAX_" in r.json()["detail"] and str(tmp_path) not in r.text
            assert client.get("/api/v1/plans", headers=h).json()["items"] == []
    # At the limits the layer is taken.
    app = create_app(make_settings(max_features=6, max_vertices=23))
    with TestClient(app) as client:
        key = app.state.store.create_key("p", "planner")[1]
        with open(path, "rb") as f:
            r = client.post(
                "/api/v1/plans",
                headers={"Authorization": f"Bearer {key}"},
                files={"file": (path.name, f)},
                data={"name": "x", "plan_type": "rural"},
            )
        assert r.status_code == 201, r.text
