"""Route by route: checks, their results and the figures of tests/geoms.py (worked out by hand)."""

from __future__ import annotations

import pytest
import shapely
from shapely.geometry import shape

from kgspatial import crs as crs_mod
from tests import geoms


def _run(api, scene, who="planner", **body) -> dict:
    r = api.post("/api/v1/checks", who, json={"plan_id": scene["plan"], **body})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "accepted"
    assert r.headers["location"].endswith(r.json()["id"])
    done = api.wait(r.json()["id"], who)
    assert done["status"] == "successful", done
    return done


def test_health_needs_no_key(api):
    r = api.client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert api.client.get("/openapi.json").status_code == 200
    docs = api.client.get("/docs")
    assert docs.status_code == 200 and "/static/docs/swagger-ui-bundle.js" in docs.text  # no CDN
    assert api.client.get("/static/docs/swagger-ui-bundle.js").status_code == 200


def test_check_figures_by_hand(api, scene):
    done = _run(api, scene)
    totals = done["summary"]["totals"]
    # P0: 2500 m² on LUC (R01) + 2500 m² on RPH (R02); P5: 800 m² on RPH (R02)  -> 5800 m²
    assert totals["conflict_area_m2"] == pytest.approx(5800.0)
    assert totals["conflict_length_m"] == pytest.approx(90.0)  # P1: 90 m in RPH
    assert totals["conditional_area_m2"] == pytest.approx(3600.0)  # P4: 60 × 60 m TMD on ODT
    assert totals["conditional_length_m"] == pytest.approx(90.0)  # P1: 90 m on LUC (R03)
    r = api.get(f"/api/v1/checks/{done['id']}/conflicts", "planner")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and fc["numberMatched"] == 6 and fc["numberReturned"] == 6
    got = {
        (
            f["properties"]["plan_feature"],
            f["properties"]["master_code"],
            f["properties"]["rule_id"],
            round(f["properties"]["area_m2"], 6),
            round(f["properties"]["length_m"], 6),
        )
        for f in fc["features"]
    }
    assert got == {
        ("KDC-01", "LUC", "R01", 2500.0, 0.0),
        ("KDC-01", "RPH", "R02", 2500.0, 0.0),
        ("DT963", "LUC", "R03", 0.0, 90.0),
        ("DT963", "RPH", "R02", 0.0, 90.0),
        ("CHO-1", "ODT", "R04", 3600.0, 0.0),
        ("CCN-1", "RPH", "R02", 800.0, 0.0),
    }
    for f in fc["features"]:
        assert f["properties"]["plan_id"] == scene["plan"]  # the registry id (CONTRACT §2)
    # Geometry in EPSG:4326: projected back to EPSG:9207 it is the hand-drawn 50 × 50 m square.
    piece = next(f for f in fc["features"] if f["properties"]["rule_id"] == "R01")
    lon, lat = shape(piece["geometry"]).centroid.coords[0]
    assert 104 < lon < 106 and 9 < lat < 11
    import geopandas as gpd

    back = crs_mod.to_crs(gpd.GeoDataFrame(geometry=[shape(piece["geometry"])], crs="EPSG:4326"), geoms.CRS)
    assert back.geometry.iloc[0].area == pytest.approx(2500.0, rel=1e-6)
    assert shapely.equals_exact(back.geometry.iloc[0].normalize(), geoms.box(50, 25, 100, 75).normalize(), 1e-3)


def test_conflict_filters_and_paging(api, scene):
    done = _run(api, scene)
    url = f"/api/v1/checks/{done['id']}/conflicts"
    r = api.get(url, params={"severity": "low"})
    assert [f["properties"]["rule_id"] for f in r.json()["features"]] == ["R04"]
    r = api.get(url, params={"rule_id": "R02"})
    assert r.json()["numberMatched"] == 3
    assert sum(f["properties"]["area_m2"] for f in r.json()["features"]) == pytest.approx(3300.0)  # 2500 + 800
    r = api.get(url, params={"verdict": "conditional"})
    assert r.json()["numberMatched"] == 2
    r = api.get(url, params=[("rule_id", "R01"), ("rule_id", "R04")])
    assert r.json()["numberMatched"] == 2
    r = api.get(url, params={"limit": 2, "offset": 1})
    body = r.json()
    assert body["numberMatched"] == 6 and body["numberReturned"] == 2
    assert any(link["rel"] == "next" for link in body["links"])
    assert api.get(url, params={"limit": 10001}).status_code == 422
    assert api.get(url, params={"limit": 0}).status_code == 422
    assert api.get(url, params={"bbox": "1,2,3"}).status_code == 422
    # bbox [1,60]×[1,99] m: meets the R01 square (x from 50) and the R03 line (x 10..100), nothing east of 100.
    import geopandas as gpd

    corners = crs_mod.to_crs(gpd.GeoDataFrame(geometry=[geoms.box(1, 1, 60, 99)], crs=geoms.CRS), "EPSG:4326")
    bbox = ",".join(f"{v:.9f}" for v in corners.total_bounds)
    r = api.get(url, params={"bbox": bbox})
    assert {f["properties"]["rule_id"] for f in r.json()["features"]} == {"R01", "R03"}


def test_check_with_admin_units_splits_pieces(api, scene, scene_files):
    r = api.upload(
        "admin-units", scene_files / "xa.gpkg", name="Xã phường 2025", code_field="ma_xa", name_field="ten_xa"
    )
    assert r.status_code == 201, r.text
    done = _run(api, scene)  # the newest units are the default
    assert done["admin_id"] == r.json()["id"]
    by_admin = {row["admin_code"]: row for row in done["summary"]["by_admin"]}
    # P0 [50,150]×[25,75] on LUC/RPH: unit A takes x < 80 (overlap [70,80] goes to A) -> 30×50 = 1500 m²
    # of R01; unit B the rest: 20×50 = 1000 m² (R01) + 2500 m² (R02); P4 3600 m² and P5 800 m² in B.
    assert by_admin["A"]["area_m2"] == pytest.approx(1500.0)
    assert by_admin["B"]["area_m2"] == pytest.approx(1000.0 + 2500.0 + 3600.0 + 800.0)
    url = f"/api/v1/checks/{done['id']}/conflicts"
    rows = api.get(url, params={"admin_code": "A"}).json()["features"]
    assert {f["properties"]["admin_name"] for f in rows} == {"Phường Vĩnh Thanh"}
    # The summary names inputs by registry id, never by a path on the server.
    inputs = done["summary"]["inputs"]
    assert inputs["plans"][0]["path"] == f"plan {scene['plan']}"
    assert inputs["admin"]["path"] == f"admin-units {done['admin_id']}"
    assert inputs["master"]["path"].startswith("master ")
    assert "/tmp/" not in str(done["summary"]["inputs"]) + str(done["summary"]["warnings"])  # tmp_path data dirs


def test_check_request_errors(api, scene):
    assert api.post("/api/v1/checks", "planner", json={"plan_id": "nope"}).status_code == 404
    assert (
        api.post("/api/v1/checks", "planner", json={"plan_id": scene["plan"], "master_id": "nope"}).status_code == 404
    )
    assert api.post("/api/v1/checks", "planner", json={"plan_id": scene["plan"], "min_area": -1}).status_code == 422
    assert api.post("/api/v1/checks", "planner", json={}).status_code == 422
    assert api.get("/api/v1/checks/nope").status_code == 404
    # NaN and Infinity (which Python's json writes) are a 422 in JSON, never a 500, and leave no job
    # behind that would break the listing.
    for text in (
        '{"plan_id": "%s", "min_area": Infinity}' % scene["plan"],
        '{"plan_id": "%s", "min_area": NaN}' % scene["plan"],
        '{"plan_id": NaN}',
    ):
        r = api.client.post(
            "/api/v1/checks", content=text, headers={**api.h("planner"), "Content-Type": "application/json"}
        )
        assert r.status_code == 422 and r.json()["detail"], text
    listed = api.get("/api/v1/checks", "planner")
    assert listed.status_code == 200 and listed.json()["items"] == []


def test_conflict_filters_outside_their_lists_are_422(api, scene):
    done = _run(api, scene)
    url = f"/api/v1/checks/{done['id']}/conflicts"
    # R01 and R02 are high: one R01 piece, three R02 (P0, P1, P5 on RPH); the case does not matter
    assert api.get(url, params={"severity": "HIGH"}).json()["numberMatched"] == 4
    for params in (
        {"severity": "critical"},
        {"verdict": "bogus"},
        {"bbox": "nan,0,1,1"},
        {"bbox": "-inf,0,1,1"},
        {"bbox": "100,95,110,96"},
    ):
        r = api.get(url, params=params)
        assert r.status_code == 422 and "invalid" in r.json()["detail"], params


def test_geojson_rings_follow_rfc_7946(api, scene):
    """Outer rings counterclockwise (RFC 7946 §3.1.6): some clients fill clockwise rings inside out."""
    done = _run(api, scene)
    for f in api.get(f"/api/v1/checks/{done['id']}/conflicts").json()["features"]:
        geom = shape(f["geometry"])
        for polygon in getattr(geom, "geoms", [geom]):
            if polygon.geom_type == "Polygon":
                assert polygon.exterior.is_ccw


def test_no_master_yet_is_409(api, scene_files):
    r = api.upload("plans", scene_files / "plan.gpkg", "planner", name="x", plan_type="rural")
    r = api.post("/api/v1/checks", "planner", json={"plan_id": r.json()["id"]})
    assert r.status_code == 409 and "master" in r.json()["detail"]


def test_results_of_unfinished_check_are_409_and_dismiss(make_settings, scene_files):
    from fastapi.testclient import TestClient

    from api import create_app

    app = create_app(make_settings(workers=0))  # accepts jobs, runs none: the job stays queued
    with TestClient(app) as client:
        admin = app.state.store.create_key("a", "admin")[1]
        planner = app.state.store.create_key("p", "planner")[1]
        other = app.state.store.create_key("q", "planner")[1]
        viewer = app.state.store.create_key("v", "viewer")[1]
        h = lambda k: {"Authorization": f"Bearer {k}"}  # noqa: E731
        with open(scene_files / "master.gpkg", "rb") as f:
            assert (
                client.post(
                    "/api/v1/masters", headers=h(admin), files={"file": ("m.gpkg", f)}, data={"name": "m"}
                ).status_code
                == 201
            )
        with open(scene_files / "plan.gpkg", "rb") as f:
            plan = client.post(
                "/api/v1/plans",
                headers=h(planner),
                files={"file": ("p.gpkg", f)},
                data={"name": "p", "plan_type": "urban_zoning"},
            ).json()
        check = client.post("/api/v1/checks", headers=h(planner), json={"plan_id": plan["id"]}).json()
        url = f"/api/v1/checks/{check['id']}"
        assert client.get(url + "/conflicts", headers=h(planner)).status_code == 409
        # A plan with a queued check cannot be deleted.
        assert client.delete(f"/api/v1/plans/{plan['id']}", headers=h(planner)).status_code == 409
        assert client.delete(url, headers=h(viewer)).status_code == 403
        assert client.delete(url, headers=h(other)).status_code == 404
        r = client.delete(url, headers=h(planner))
        assert r.status_code == 200 and r.json()["status"] == "dismissed"
        assert client.get(url, headers=h(planner)).json()["status"] == "dismissed"
        # Now the plan (and its checks) go.
        assert client.delete(f"/api/v1/plans/{plan['id']}", headers=h(planner)).status_code == 204
        assert client.get(url, headers=h(admin)).status_code == 404
        assert client.get(f"/api/v1/plans/{plan['id']}", headers=h(admin)).status_code == 404


def test_dismissing_a_finished_check_is_409_and_deleting_plan_deletes_checks(api, scene):
    done = _run(api, scene)
    assert api.delete(f"/api/v1/checks/{done['id']}", "planner").status_code == 409
    assert api.delete(f"/api/v1/plans/{scene['plan']}", "planner2").status_code == 404
    assert api.delete(f"/api/v1/plans/{scene['plan']}", "viewer").status_code == 403
    assert api.delete(f"/api/v1/plans/{scene['plan']}", "admin").status_code == 204
    assert api.get(f"/api/v1/checks/{done['id']}").status_code == 404
    assert api.get("/api/v1/checks").json() == {"items": [], "total": 0}


def test_failed_check_gives_its_reason(api, scene, scene_files):
    # A plan whose code field names nothing in the rules/taxonomy still checks; a master whose code
    # field vanished cannot: upload one with an explicit field, then point a check at it.
    r = api.upload("masters", scene_files / "plan.gpkg", name="not a master", code_field="so_hieu")
    assert r.status_code == 201, r.text
    r = api.post("/api/v1/checks", "planner", json={"plan_id": scene["plan"], "master_id": r.json()["id"]})
    done = api.wait(r.json()["id"], "planner")
    # every master code is unknown: the check still runs (nothing to report) or fails with a reason
    assert done["status"] in ("successful", "failed")
    if done["status"] == "failed":
        assert done["reason"]
