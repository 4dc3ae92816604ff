"""Keys and roles (401 / 403 / 404 exactly as CONTRACT §5) and the masking of defence land."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest

from tests import geoms

RULES_WITH_DEFENCE = geoms.RULES_CSV + "R06,CQP,LUC,conflict,high,Luật Quốc phòng 2018,Đất quốc phòng trên đất lúa\n"


def test_no_key_invalid_key_401(api, scene):
    for url in ("/api/v1/plans", f"/api/v1/plans/{scene['plan']}", "/api/v1/masters", "/ogc/", "/ogc/collections"):
        r = api.client.get(url)
        assert r.status_code == 401, url
        assert "detail" in r.json()
        assert api.client.get(url, headers={"Authorization": "Bearer kgs_wrong"}).status_code == 401
    assert api.client.post("/api/v1/checks", json={"plan_id": scene["plan"]}).status_code == 401


def test_roles_403(api, scene, scene_files):
    assert api.upload("masters", scene_files / "master.gpkg", "planner", name="m").status_code == 403
    assert api.upload("masters", scene_files / "master.gpkg", "viewer", name="m").status_code == 403
    assert api.upload("admin-units", scene_files / "xa.gpkg", "planner", name="x").status_code == 403
    assert api.upload("rules", scene_files / "rules.csv", "planner").status_code == 403
    assert api.upload("plans", scene_files / "plan.gpkg", "viewer", name="p", plan_type="rural").status_code == 403
    assert api.post("/api/v1/checks", "viewer", json={"plan_id": scene["plan"]}).status_code == 403


def test_other_planners_plans_and_checks_are_404(api, scene):
    plan = scene["plan"]
    assert api.get(f"/api/v1/plans/{plan}", "planner").status_code == 200
    assert api.get(f"/api/v1/plans/{plan}", "planner2").status_code == 404
    assert api.get(f"/api/v1/plans/{plan}", "viewer").status_code == 200
    assert api.get("/api/v1/plans", "planner2").json() == {"items": [], "total": 0}
    assert api.get("/api/v1/plans", "viewer").json()["total"] == 1
    assert api.post("/api/v1/checks", "planner2", json={"plan_id": plan}).status_code == 404
    check = api.post("/api/v1/checks", "planner", json={"plan_id": plan}).json()
    assert api.wait(check["id"], "planner")["status"] == "successful"
    for url in (
        f"/api/v1/checks/{check['id']}",
        f"/api/v1/checks/{check['id']}/conflicts",
        f"/ogc/collections/conflicts-{check['id']}/items",
    ):
        assert api.get(url, "planner2").status_code == 404, url
        assert api.get(url, "viewer").status_code == 200, url
        assert api.get(url, "admin").status_code == 200, url
    assert api.get("/api/v1/checks", "planner2").json()["total"] == 0
    assert api.get("/api/v1/checks", "viewer").json()["total"] == 1
    # shared layers: every role reads masters, units and rules
    assert api.get("/api/v1/masters", "planner2").json()["total"] == 1
    assert api.get(f"/api/v1/rules/{scene['rules']}", "planner2").json()["rule_count"] == 5


def test_keys_are_stored_hashed(api):
    import sqlalchemy as sa

    store = api.client.app.state.store
    with store.engine.connect() as conn:
        stored = [r[0] for r in conn.execute(sa.text("SELECT key_hash FROM api_keys"))]
    assert stored and not any(key in stored for key in api.keys.values())
    assert all(len(h) == 64 for h in stored)


@pytest.fixture()
def defence(api, tmp_path, scene):
    """The scene plus a defence (CQP) feature [10,30]×[5,20] on LUC: 20 × 15 = 300 m², rule R06."""
    plan = geoms.plan_frame()
    extra = gpd.GeoDataFrame(
        {"ma": ["CQP"], "ten": ["Trận địa pháo"], "so_hieu": ["QP-7"]},
        geometry=[geoms.box(10, 5, 30, 20)],
        crs=geoms.CRS,
    )
    path = tmp_path / "plan_qp.gpkg"
    gpd.GeoDataFrame(pd.concat([plan, extra], ignore_index=True), crs=geoms.CRS).to_file(path)
    rules = tmp_path / "rules_qp.csv"
    rules.write_text(RULES_WITH_DEFENCE, encoding="utf-8")
    rules_id = api.upload("rules", rules).json()["id"]
    r = api.upload("plans", path, "planner", name="QH có đất quốc phòng", plan_type="urban_zoning", id_field="so_hieu")
    assert r.status_code == 201, r.text
    check = api.post("/api/v1/checks", "planner", json={"plan_id": r.json()["id"], "rules_id": rules_id}).json()
    done = api.wait(check["id"], "planner")
    assert done["status"] == "successful", done
    return {"plan": r.json()["id"], "check": check["id"]}


def _row(features, rule_id):
    return next(f for f in features if f["properties"]["rule_id"] == rule_id)


def test_defence_rows_masked_for_everyone_but_admin(api, defence):
    url = f"/api/v1/checks/{defence['check']}/conflicts"
    for who in ("planner", "viewer"):
        fc = api.get(url, who).json()
        assert fc["numberMatched"] == 7
        row = _row(fc["features"], "R06")
        assert row["geometry"] is None
        assert row["properties"]["master_label"] is None and row["properties"]["master_feature"] is None
        assert row["properties"]["masked"] is True
        # code, rule, verdict and area stay: 20 × 15 m = 300 m²
        assert row["properties"]["plan_code"] == "CQP" and row["properties"]["verdict"] == "conflict"
        assert row["properties"]["area_m2"] == pytest.approx(300.0)
        # the R01 piece lies in the 500 m cell the defence land touches: its geometry goes as on maps
        r01 = _row(fc["features"], "R01")
        assert r01["geometry"] is None and r01["properties"]["withheld"] is True
        assert r01["properties"]["masked"] is False and r01["properties"]["master_label"] == "Lúa chuyên canh"
    row = _row(api.get(url, "admin").json()["features"], "R06")
    assert row["geometry"]["type"] == "Polygon" and row["properties"]["master_label"] == "Lúa chuyên canh"
    assert row["properties"]["master_feature"] == "0" and row["properties"]["masked"] is False


def test_masked_rows_left_out_of_bbox_queries(api, defence):
    from kgspatial import crs as crs_mod

    whole = crs_mod.to_crs(gpd.GeoDataFrame(geometry=[geoms.box(-10, -10, 210, 210)], crs=geoms.CRS), "EPSG:4326")
    bbox = ",".join(f"{v:.9f}" for v in whole.total_bounds)
    url = f"/api/v1/checks/{defence['check']}/conflicts"
    # the whole 200 m scene lies in the 500 m cell the defence land touches: a non-admin's box matches
    # only what is visible outside such cells (tests/api/test_masking_hides.py), here nothing
    assert api.get(url, "planner", params={"bbox": bbox}).json()["numberMatched"] == 0
    assert api.get(url, "planner").json()["numberMatched"] == 7
    assert api.get(url, "admin", params={"bbox": bbox}).json()["numberMatched"] == 7
    items = f"/ogc/collections/plan-{defence['plan']}/items"
    assert api.get(items, "planner", params={"bbox": bbox}).json()["numberMatched"] == 0
    assert api.get(items, "admin", params={"bbox": bbox}).json()["numberMatched"] == 7


def test_ogc_items_masked(api, defence):
    items = api.get(f"/ogc/collections/plan-{defence['plan']}/items", "planner").json()["features"]
    qp = next(f for f in items if f["properties"]["ma"] == "CQP")
    assert qp["geometry"] is None and qp["properties"]["ten"] is None and qp["properties"]["so_hieu"] is None
    one = api.get(f"/ogc/collections/plan-{defence['plan']}/items/{qp['id']}", "viewer").json()
    assert one["geometry"] is None
    full = api.get(f"/ogc/collections/plan-{defence['plan']}/items/{qp['id']}", "admin").json()
    assert full["geometry"]["type"] == "Polygon" and full["properties"]["ten"] == "Trận địa pháo"
    conflict = api.get(f"/ogc/collections/conflicts-{defence['check']}/items", "viewer", params={"limit": 100}).json()[
        "features"
    ]
    assert _row(conflict, "R06")["geometry"] is None
